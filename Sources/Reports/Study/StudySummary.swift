import Foundation
import Study

extension StudyGrid {
    /// The printed summary of a study: test accuracy (%) per depth (rows) and arm (columns),
    /// mean over seeds; "—" for a point not computed, "diverged" when every seed diverged, and
    /// "(+NaN)" after a mean some of whose seeds diverged.
    public func summary(_ results: [StudyResult]) -> String {
        let arms = arms
        var lines = ["test accuracy (%), mean over \(seeds.count) seed\(seeds.count == 1 ? "" : "s")"]
        let width = max(14, (arms.map { label($0).count }.max() ?? 0) + 2)
        lines.append("    L" + arms.map { leftPadded(label($0), to: width) }.joined())
        for depth in depths {
            var line = leftPadded(String(depth), to: 5)
            for arm in arms {
                let rows = results.filter { $0.depth == depth && $0.arm == arm }
                let accuracies = rows.compactMap(\.testAccuracy)
                let cell: String
                if rows.isEmpty { cell = "—" } else if accuracies.isEmpty { cell = "diverged" } else {
                    cell = String(format: "%.2f", accuracies.reduce(0, +) / Double(accuracies.count) * 100)
                        + (rows.contains(where: \.diverged) ? " (+NaN)" : "")
                }
                line += leftPadded(cell, to: width)
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

/// A duration for progress lines: "12.3 s", "4m05s", "2h07m"; "?" when not finite.
public func durationText(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s < 60 { return String(format: "%.1f s", seconds) }
    if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m"
}

private func leftPadded(_ text: String, to width: Int) -> String {
    text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
}
