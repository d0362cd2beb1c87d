import Figures
import Foundation
import Reports
import Spectrum
import Study
import Testing
import Training

/// Issue 23 #8–#10: the training and spectrum figures are drawn at a stated printed width, one or
/// both columns of a paper, with every text at 7–9 pt there; in one column their panels stack.
@Suite struct PrintFigureTests {
    func record(_ epoch: Int) -> EpochRecord {
        let json = """
            {"epoch": \(epoch), "trainLoss": \(0.7 / Double(epoch)), "trainAccuracy": 0.8, "testLoss": 0.5, "testAccuracy": 0.85,
             "learningRate": 0.01, "samplesPerSecond": 1, "seconds": 1, "distanceFromIdentity": []}
            """
        return try! JSONDecoder().decode(EpochRecord.self, from: Data(json.utf8))
    }

    func identityReport() throws -> SpectrumReport {
        let law = IdentityLaw.law(activation: .hardTanh, sigma: 1, q0: 0.5, layers: 20)
        // 16 % at 0, 74 % at 1, the rest spread below 1.
        func value(_ k: Int, _ sample: Int) -> Double {
            if k < 16 { return 0 }
            if k < 90 { return 1 }
            return 0.2 + 0.01 * Double(k + sample)
        }
        let eigenvalues: [[Double]] = (0 ..< 2).map { sample in (0 ..< 100).map { value($0, sample) } }
        return try SpectrumReport(eigenvalues: eigenvalues, law: law, subject: "a hand-made spectrum")
    }

    func sweep() throws -> (SpectrumSweep, [SpectrumSweep.Point]) {
        let sweep = SpectrumSweep(sigmas: [0.8, 1.0, 1.2], q0s: [0.1, 0.5, 2], layers: 5, width: 20, samples: 2)
        return (sweep, try (0 ..< sweep.pointCount).map { index throws(SpectrumError) in try sweep.evaluate(index) })
    }

    /// A study of the default grid's shape (six depths × four arms) over three seeds, with the
    /// spectrum columns filled and He's mean eigenvalue spanning 13 decades, as the default
    /// study's does, so that panel (c)'s tick labels are powers of ten.
    func study() -> (StudyGrid, [StudyResult]) {
        var grid = StudyGrid(seeds: [0, 1, 2])
        // StudyData is made from a dataset; its Codable form gives the default study's sizes.
        let data = #"{"trainImages": 10000, "testImages": 10000, "features": 784, "classes": 10, "q0": 0.205}"#
        grid.data = try! JSONDecoder().decode(StudyData.self, from: Data(data.utf8))
        var results: [StudyResult] = []
        for (d, depth) in grid.depths.enumerated() {
            for (a, arm) in grid.arms.enumerated() {
                for seed in grid.seeds {
                    let chaotic = arm.initialization == .he
                    let accuracy = chaotic && depth >= 50 ? 0.1 : 0.65 + 0.02 * Double(d) + 0.01 * Double(seed) - 0.01 * Double(a)
                    let theory = chaotic ? pow(1.34, Double(depth)) : pow(0.996, Double(depth))
                    results.append(StudyResult(index: results.count, depth: depth, initialization: arm.initialization, sigma: arm.sigma, seed: seed,
                                               testAccuracy: accuracy, theoryUnitFraction: arm.initialization == .identity ? 0.973 : nil,
                                               theoryMean: theory, chi: chaotic ? 1.34 : 1, measuredFraction: 1 - 0.009 * Double(depth),
                                               measuredMean: theory * 0.85))
                }
            }
        }
        return (grid, results)
    }

    func figures(_ width: FigureWidth) throws -> [(String, String)] {
        let (grid, points) = try sweep()
        return [
            ("curves", trainingCurvesFigure(history: [record(1), record(2)], stepLosses: [(1, 1), (5, 0.6), (20, 0.4)], stepsPerEpoch: 10,
                                            title: "10-layer hard-tanh MLP, identity σ = 1.0, sgd lr 0.01, batch 128", width: width).render()),
            ("distances", distanceTrajectoryFigure(trace: [(0, [0, 0, 0]), (20, [0.01, 0.02, 0.03])], stepsPerEpoch: 10,
                                                   title: "Distance from σI during training, every layer", width: width).render()),
            ("layers", layerFigure(accuracies: [0.7, 0.8, 0.85], title: "Readout accuracy", width: width).render()),
            ("spectrum", try identityReport().histogramFigure(width: width).render()),
            ("widths", SpectrumReport.widthComparisonFigure([try identityReport()], width: width).render()),
            ("sweep", grid.heatMap(points, width: width).render()),
            ("study", { let (grid, results) = study(); return grid.figure(results, width: width).render() }()),
        ]
    }

    @Test func everyTextPrintsAtSevenToNinePointsAtTheStatedWidth() throws {
        for width in FigureWidth.allCases {
            for (name, svg) in try figures(width) {
                let inches = String(format: "%g", width.inches)
                #expect(svg.contains("width=\"\(inches)in\"") && svg.contains("viewBox=\"0 0 \(String(format: "%.2f", width.pixels)) "),
                        "\(name) at \(width)")
                let points = try SVGReading.printedPoints(svg)
                #expect(!points.isEmpty)
                for size in points { #expect(size >= 7 - 1e-9 && size <= 9 + 1e-9, "\(name) at \(width): \(size) pt") }
            }
        }
    }

    @Test func inOneColumnThePanelsStack() throws {
        let (grid, points) = try sweep()
        for width in FigureWidth.allCases {
            let svg = grid.heatMap(points, width: width).render()
            let frames = try ["fraction-measured", "fraction-theory", "mean-measured", "mean-theory"].map { try SVGReading.frame(svg, panel: $0) }
            for frame in frames { #expect(frame.right <= width.pixels && frame.left > 0) }
            if width == .singleColumn {
                #expect(zip(frames, frames.dropFirst()).allSatisfy { $1.top > $0.bottom && $1.left == $0.left })
            } else {
                // Measured beside theory, the log10-mean row under the fraction row.
                #expect(frames[1].left > frames[0].right && frames[1].top == frames[0].top && frames[2].top > frames[0].bottom)
            }
        }
    }

    /// Issue 23 #8 for Figure 7: the study figure was drawn on a 1260 px canvas with 11 px text,
    /// about 3.5 pt at a paper's text width. At either stated width its smallest text, scripts
    /// included, is at least 7 pt, and its panels lie inside the figure: side by side across both
    /// columns, stacked in one.
    @Test(arguments: FigureWidth.allCases) func theStudyFiguresSmallestTextIsAtLeastSevenPoints(width: FigureWidth) throws {
        let (grid, results) = study()
        let svg = grid.figure(results, width: width).render()
        let points = try SVGReading.printedPoints(svg)
        let smallest = try #require(points.min())
        #expect(smallest >= Typography.minimumPoints - 1e-9, "\(width): \(smallest) pt")
        // Scripts are set: the superscripts of panel (c)'s powers of ten are among the sizes.
        #expect(svg.contains("<tspan dy="))
        let frames = try ["accuracy", "fraction", "mean", "mean-ratio"].map { try SVGReading.frame(svg, panel: $0) }
        for frame in frames { #expect(frame.left > 0 && frame.right <= width.pixels, "\(width)") }
        let (accuracy, fraction, mean, ratio) = (frames[0], frames[1], frames[2], frames[3])
        #expect(ratio.top > mean.bottom && ratio.left == mean.left && ratio.width == mean.width)
        if width == .singleColumn {
            #expect(fraction.top > accuracy.bottom && mean.top > fraction.bottom)
        } else {
            #expect(fraction.left > accuracy.right && mean.left > fraction.right && fraction.top == accuracy.top && mean.top == accuracy.top)
        }
    }

    @Test func mathsIsSetWithRealScriptsNotCodeSyntax() throws {
        // Issue 23 #10: no "σ^(2L)", "λ_max", "σ_w", no Swift ranges; superscripts and subscripts are tspans.
        for width in FigureWidth.allCases {
            for (name, svg) in try figures(width) {
                let text = SVGReading.labels(svg).map(\.content).joined(separator: " ")
                for plain in ["^(", "^{", "_{", "λ_max", "σ_w", "..<"] { #expect(!text.contains(plain), "\(name): \(plain) in \(text)") }
                #expect(!svg.contains("log10"), "\(name): log10 without a subscript")
            }
        }
        let (grid, points) = try sweep()
        let svg = grid.heatMap(points).render()
        #expect(svg.contains("α·σ<tspan dy=\"-3.80\" font-size=\"9.34\">2L</tspan>"), "the critical curve's σ^{2L}")
        #expect(svg.contains("log<tspan dy=\"2.35\" font-size=\"9.34\">10</tspan>"))
    }
}
