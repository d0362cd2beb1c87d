import Figures
import Foundation
import IsometrySupport
import Interpretation

extension NoisyBackgroundTable {
    /// The accuracies (clean, then each protocol) as bars with ±1 standard error, above the
    /// example images under every protocol. Each bar carries `data-row` and `data-accuracy`,
    /// each example pixel grid `data-example` and `data-protocol`, so a test can read back what
    /// was drawn.
    public func figure(examples shown: Int = 2) -> SVGCanvas {
        let examples = Array(self.examples.prefix(shown))
        let columns = Double(rows.count)
        let cell = 140.0
        let width = max(520, 80 + columns * cell)
        let chartHeight = 316.0
        let imageSide = 96.0
        let height = chartHeight + Double(examples.count) * (imageSide + 34) + 40
        var canvas = SVGCanvas(width: width, height: height)
        canvas.text("Accuracy with a noisy background", x: width / 2, y: 22, size: 14, anchor: .middle, weight: "bold")
        canvas.text(String(format: "σ = %g, outline %d px (Chebyshev), object: pixels > %g, %@", settings.sigma, settings.outlineWidth,
                           settings.threshold, settings.clip ? "clipped to [0, 1]" : "not clipped"),
                    x: width / 2, y: 40, size: 11, anchor: .middle, fill: "#555")
        let x0 = 70.0
        let y = Scale(domain: 0 ... 1, pixels: (250, 60))
        // The bars are categories: y ticks and grid only, no x ticks.
        for tick in y.ticks(count: 5) {
            canvas.line(x0, y(tick), x0 + columns * cell, y(tick), stroke: "#eee")
            canvas.text(percent(tick), x: x0 - 6, y: y(tick) + 4, size: 10, anchor: .end)
        }
        canvas.frame(x: Scale(domain: 0 ... columns, pixels: (x0, x0 + columns * cell)), y: y)
        let colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
        for (i, row) in rows.enumerated() {
            let center = x0 + (Double(i) + 0.5) * cell
            canvas.rect(x: center - 30, y: y(row.accuracy), width: 60, height: y(0) - y(row.accuracy), fill: colors[i % colors.count],
                        data: ["row": row.name, "accuracy": "\(row.accuracy)"])
            canvas.line(center, y(min(1, row.accuracy + row.standardError)), center, y(max(0, row.accuracy - row.standardError)), width: 1.5)
            canvas.text(percent(row.accuracy), x: center, y: y(row.accuracy) - 6, size: 11, anchor: .middle, halo: true)
            canvas.text(row.name, x: center, y: 270, size: 12, anchor: .middle)
            canvas.text(String(format: "%.0f clean px", row.meanCleanPixels), x: center, y: 286, size: 10, anchor: .middle, fill: "#555")
            if let share = row.objectShareOfContribution {
                canvas.text("object: " + percent(share) + " of |W⊙x|", x: center, y: 300, size: 10, anchor: .middle, fill: "#555",
                            data: ["share": "\(share)"])
            }
            if let share = row.objectShareOfInsens {
                canvas.text("object: " + percent(share) + " of |Ω|", x: center, y: 313, size: 10, anchor: .middle, fill: "#555",
                            data: ["insens-share": "\(share)"])
            }
        }
        for (e, example) in examples.enumerated() {
            let top = chartHeight + 20 + Double(e) * (imageSide + 34)
            canvas.text("test image \(example.index), label \(example.label)", x: 10, y: top - 4, size: 11, fill: "#555")
            for (p, image) in example.images.enumerated() {
                let left = x0 + (Double(p) + 0.5) * cell - imageSide / 2
                let pixel = imageSide / Double(max(example.height, example.width))
                // crispEdges: no anti-aliased seams between neighbouring pixels.
                canvas.group("data-example=\"\(example.index)\" data-protocol=\"\(rows[p].name)\" shape-rendering=\"crispEdges\"") { g in
                    g.rect(x: left, y: top, width: imageSide, height: imageSide, fill: "#000")
                    for r in 0 ..< example.height {
                        for c in 0 ..< example.width {
                            let v = min(1, max(0, image[r * example.width + c]))
                            guard v > 0 else { continue }
                            let level = Int((v * 255).rounded())
                            g.rect(x: left + Double(c) * pixel, y: top + Double(r) * pixel, width: pixel + 0.02, height: pixel + 0.02,
                                   fill: String(format: "#%02x%02x%02x", level, level, level))
                        }
                    }
                }
                if p < example.predictions.count {
                    let right = example.predictions[p] == example.label
                    canvas.text("predicted \(example.predictions[p])", x: left + imageSide / 2, y: top + imageSide + 14, size: 10,
                                anchor: .middle, fill: right ? "#2a7a2a" : "#b22222")
                }
            }
        }
        return canvas
    }

    /// A short markdown summary: the settings, the table, the files.
    public var markdown: String {
        var lines = ["# Noisy background", "", "Model: `\(source)`, \(clean.count) test images.", "",
                     "Rules: \(settings.summary).", "",
                     "Mean object size: \(String(format: "%.1f", meanObjectPixels)) pixels.", "",
                     "| protocol | kept clean | accuracy | ± s.e. | correct | object's share of \\|W⊙x\\| | of \\|W\\| | of \\|Ω\\| (Insens) |",
                     "|---|---|---|---|---|---|---|---|"]
        for row in rows {
            let shares = [row.objectShareOfContribution, row.objectShareOfWeight, row.objectShareOfInsens].map { $0.map(percent) ?? "–" }
            lines.append("| \(row.name) | \(row.summary) (\(String(format: "%.1f", row.meanCleanPixels)) px) | \(percent(row.accuracy)) | \(percent(row.standardError)) | \(row.correct)/\(row.count) | \(shares[0]) | \(shares[1]) | \(shares[2]) |")
        }
        lines += ["", "W = W_ŷ(x), the predicted class's row of the exact linearisation F(x) = W(x)·x + b(x) (∂F_ŷ/∂x); the object is the clean image's; Ω(x) is the Insens map of the image under the protocol (docs/theory.md §3), over the first images only (their count in table.json, `insensImages`)."]
        lines += ["", "![accuracy per protocol](figure.svg)", ""]
        return lines.joined(separator: "\n")
    }
}
