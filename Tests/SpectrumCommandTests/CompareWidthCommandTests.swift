import CommandTestSupport
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Spectrum
import Testing

/// `spectrum --compare-width`: the printed distances from the law, the width figure, and the
/// refusals, at widths a debug build measures in seconds.
@Suite(.serialized) struct CompareWidthCommandTests {
    static let gaussianReLU = ["--init", "gaussian", "--activation", "relu", "--sigma-w", "1.4142135623730951", "--layers", "3"]

    /// Dense at both widths: the main width's line ("N = 120, dense, 2 samples: W1/m1 …, KS …")
    /// must carry exactly the distances `LawDistance` gives for the eigenvalues the command wrote
    /// to --csv, against the free-probability law of Gaussian ReLU at χ = 1 (σ_w² = 2, p = ½,
    /// L = 3) — the command is a shell around that API, so the printed digits must match to the
    /// printed precision (LawDistance itself is checked against closed forms in LawDistanceTests).
    @Test func denseWidthsPrintTheDistancesOfTheirEigenvalues() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-cw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("eigenvalues.csv").path
        let (status, output, error) = try runExecutable("spectrum", Self.gaussianReLU + [
            "--width", "120", "--samples", "2", "--compare-width", "60", "--csv", csv])
        #expect(status == 0, "\(error)")
        let law = FreeProbabilityLaw(weights: .gaussian, sigmaW2: 2, p: 0.5, layers: 3).law()
        #expect(output.contains("against the law (\(law.name)), by width:"), "\(output)")
        var samples: [[Double]] = [[], []]
        for line in try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").dropFirst() {
            let fields = line.split(separator: ",")
            samples[Int(fields[0])!].append(Double(fields[2])!)
        }
        #expect(samples.map(\.count) == [120, 120])
        let distance = LawDistance(eigenvalues: samples, law: law)
        let expected = "  N = 120, dense, 2 samples: W1/m1 \(String(format: "%.3g", distance.relativeWasserstein1)), KS \(String(format: "%.3g", distance.kolmogorovSmirnov))"
        let lines = output.split(separator: "\n").map(String.init)
        // Both widths, narrower first, right after the heading.
        guard let heading = lines.firstIndex(where: { $0.hasPrefix("against the law") }), heading + 2 < lines.count else {
            Issue.record("no distance lines in \(output)")
            return
        }
        #expect(lines[heading + 1].hasPrefix("  N = 60, dense, 2 samples: W1/m1 "), "\(lines[heading + 1])")
        #expect(lines[heading + 2] == expected, "\(lines[heading + 2]) against \(expected)")
        // A dense measurement has no quadrature error to report.
        #expect(!lines[heading + 1].contains("±") && !lines[heading + 2].contains("±"))
        // And the second width's own table is printed.
        #expect(output.contains("\nat width 60:\n"))
    }

    /// Lanczos at both widths with --width-plot: both SVGs (double and single column) are
    /// well-formed XML, name both widths with the distances the command printed, and draw the
    /// quadrature's shade (a Lanczos measurement's interval) — one per width.
    @Test func lanczosWidthsWriteTheFigureWithTheirBands() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-cw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let plot = folder.appendingPathComponent("widths.svg").path
        let (status, output, error) = try runExecutable("spectrum", Self.gaussianReLU + [
            "--width", "160", "--samples", "2", "--method", "lanczos", "--steps", "20", "--probes", "4",
            "--compare-width", "80", "--width-plot", plot])
        #expect(status == 0, "\(error)")
        let legends = output.split(separator: "\n").filter { $0.hasPrefix("  N = ") }.map { $0.dropFirst(2) }
        #expect(legends.count == 2, "\(output)")
        for (legend, width) in zip(legends, ["80", "160"]) {
            #expect(legend.hasPrefix("N = \(width), Lanczos 20 × 4, 2 samples: W1/m1 "), "\(legend)")
            // W1/m1 x ± u, KS y ± v: both distances carry the quadrature's uncertainty.
            #expect(legend.components(separatedBy: " ± ").count == 3, "\(legend)")
        }
        for path in [plot, folder.appendingPathComponent("widths-column.svg").path] {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(XMLParser(data: data).parse(), "\(path) is not well-formed XML")
            let svg = String(decoding: data, as: UTF8.self)
            #expect(svg.hasPrefix("<svg"))
            // The single-column figure wraps its legend between words into several text
            // elements: compare against all the figure's text, joined by spaces.
            let text = svg.matches(of: /<text[^>]*>([^<]*)<\/text>/).map { String($0.output.1) }.joined(separator: " ")
            for legend in legends { #expect(text.contains(String(legend)), "\(path) lacks \(legend)") }
            for width in ["80", "160"] {
                #expect(text.contains("N = \(width): where the exact CDF lies (95 %, quadrature error)"), "\(path): no band for N = \(width)")
            }
            #expect(text.contains("law (N → ∞)"))
        }
    }

    /// Bad --compare-width settings: one line on stderr naming the flag and the value, exit 2,
    /// nothing on stdout and no figure written.
    @Test func badCompareWidthSettingsAreRefusedInOneLine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-cw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let plot = folder.appendingPathComponent("widths.svg").path
        let cases: [([String], [String])] = [
            (Self.gaussianReLU + ["--compare-width", "0"], ["--compare-width", "0"]),
            (["--compare-width", "50"], ["--compare-width", "random network family"]),
            (Self.gaussianReLU + ["--compare-width", "50", "--json"], ["--compare-width", "--json"]),
            (Self.gaussianReLU + ["--width-plot", plot], ["--width-plot", "--compare-width"]),
            (Self.gaussianReLU + ["--compare-width", "50", "--width-plot", "/nonexistent-folder/w.svg"], ["--width-plot", "/nonexistent-folder"]),
            // The second width's network must fit as the first's does: refused with the estimate.
            (Self.gaussianReLU + ["--width", "100", "--compare-width", "200000"], ["--compare-width 200000", "GiB"]),
            // Lanczos at the second width with more steps than its dimension.
            (Self.gaussianReLU + ["--method", "lanczos", "--width", "200", "--steps", "40", "--compare-width", "30"], ["--steps 40", "30"]),
        ]
        for (arguments, mentions) in cases {
            let (status, output, error) = try runExecutable("spectrum", arguments)
            #expect(status == 2, "\(arguments): exit \(status)")
            #expect(output.isEmpty, "\(arguments) printed to stdout")
            #expect(error.split(separator: "\n").count == 1, "\(arguments): \(error)")
            for mention in mentions { #expect(error.contains(mention), "\(arguments): \(error)") }
        }
        #expect(!FileManager.default.fileExists(atPath: plot))
    }
}
