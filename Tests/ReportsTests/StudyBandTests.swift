import Figures
import Foundation
import Reports
import Study
import Testing
import Training

/// Issue 23 #3: with several seeds, panel (a) of the study figure draws the mean over seeds as
/// its line and their min–max as a band, and its subtitle promises only what is drawn.
@Suite struct StudyBandTests {
    /// Two arms at L = 2, 10, 100 and three seeds; the accuracies are chosen by hand so that
    /// min, max and mean differ at every point, and one seed of He at L = 100 diverges.
    let grid = StudyGrid(depths: [2, 10, 100], sigmas: [1], initializations: [.identity, .he], seeds: [0, 1, 2],
                         activation: .hardTanh, training: TrainingConfiguration(batchSize: 20, epochs: 1, trainLimit: 200))
    let accuracies: [[[Double?]]] = [   // [depth][arm][seed]; nil: diverged
        [[0.61, 0.65, 0.70], [0.72, 0.70, 0.77]],
        [[0.66, 0.60, 0.64], [0.75, 0.80, 0.71]],
        [[0.63, 0.69, 0.62], [0.10, nil, 0.30]],
    ]

    var results: [StudyResult] {
        var rows: [StudyResult] = []
        for (d, depth) in grid.depths.enumerated() {
            for (a, arm) in grid.arms.enumerated() {
                for (s, seed) in grid.seeds.enumerated() {
                    let accuracy = accuracies[d][a][s]
                    rows.append(StudyResult(index: rows.count, depth: depth, initialization: arm.initialization, sigma: arm.sigma, seed: seed,
                                            diverged: accuracy == nil, testAccuracy: accuracy))
                }
            }
        }
        return rows
    }

    /// Panel (a)'s scales, inverted: the frame `axes` marks `data-panel="accuracy"` carries its
    /// pixel box and domains (x: log L over the grid's depths, y: accuracy in per cent, 0 … 100).
    func inverse(_ frame: SVGReading.Frame) -> (depth: (Double) -> Double, percent: (Double) -> Double) {
        let (lo, hi) = (log10(frame.xDomain.0), log10(frame.xDomain.1))
        return ({ pow(10, lo + (hi - lo) * ($0 - frame.left) / frame.width) },
                { frame.yDomain.0 + (frame.yDomain.1 - frame.yDomain.0) * (frame.bottom - $0) / frame.height })
    }

    func points(_ text: Substring, _ frame: SVGReading.Frame) -> [(depth: Double, percent: Double)] {
        let (depth, percent) = inverse(frame)
        return text.split(separator: " ").map { pair in
            let xy = pair.split(separator: ",").map { Double($0)! }
            return (depth(xy[0]), percent(xy[1]))
        }
    }

    @Test(arguments: FigureWidth.allCases) func theBandIsTheMinAndMaxOfTheSeedsAndTheLineTheirMean(width: FigureWidth) throws {
        let svg = grid.figure(results, width: width).render()
        let frame = try SVGReading.frame(svg, panel: "accuracy")
        #expect(frame.xLog && !frame.yLog && frame.xDomain == (2, 100) && frame.yDomain == (0, 100))
        for (a, arm) in grid.arms.enumerated() {
            let label = grid.label(arm)
            let polygon = try #require(svg.firstMatch(of: try Regex("<polygon points=\"([^\"]+)\"[^>]*data-quantity=\"accuracy-band\" data-arm=\"\(NSRegularExpression.escapedPattern(for: label))\"")))
            let band = points(polygon.output[1].substring!, frame)
            let line = try #require(svg.firstMatch(of: try Regex("<polyline points=\"([^\"]+)\"[^>]*data-arm=\"\(NSRegularExpression.escapedPattern(for: label))\" data-quantity=\"accuracy-mean\"")))
            let mean = points(line.output[1].substring!, frame)
            // The band runs along the maxima from the shallowest depth, then back along the minima.
            #expect(band.count == 2 * grid.depths.count && mean.count == grid.depths.count)
            for (d, depth) in grid.depths.enumerated() {
                let values = accuracies[d][a].compactMap { $0 }.map { $0 * 100 }   // a diverged seed has no accuracy
                let upper = band[d], lower = band[band.count - 1 - d]
                // Pixels are written to 1/100 px (%.2f for the line and the frame, in full for the
                // band): a point and the frame that maps it agree to SVGReading.pixelTolerance, which
                // is that many pixels of the panel's height in accuracy and, on the log-depth axis,
                // a relative ln 10 · log10(50) · tolerance / width of the depth.
                let percentTolerance = SVGReading.pixelTolerance * 100 / frame.height
                let depthTolerance = log(10) * log10(50) * SVGReading.pixelTolerance / frame.width
                #expect(abs(upper.depth / Double(depth) - 1) < depthTolerance && abs(lower.depth / Double(depth) - 1) < depthTolerance)
                #expect(abs(upper.percent - values.max()!) < percentTolerance, "\(label) L = \(depth): band top \(upper.percent) against \(values.max()!)")
                #expect(abs(lower.percent - values.min()!) < percentTolerance, "\(label) L = \(depth): band bottom \(lower.percent) against \(values.min()!)")
                let expectedMean = values.reduce(0, +) / Double(values.count)
                #expect(abs(mean[d].percent - expectedMean) < percentTolerance, "\(label) L = \(depth): line \(mean[d].percent) against \(expectedMean)")
            }
        }
        // The caption wraps; read back as text, its lines join again.
        #expect(SVGReading.text(svg).contains("mean over 3 seeds, band and bars: their min–max"))
    }

    @Test func oneSeedDrawsNoBandAndSaysSo() {
        var single = grid
        single.seeds = [0]
        let rows = results.filter { $0.seed == 0 }.enumerated().map { offset, row in
            var row = row
            row.index = offset
            return row
        }
        for width in FigureWidth.allCases {
            let svg = single.figure(rows, width: width).render()
            #expect(!svg.contains("<polygon"))
            #expect(!svg.contains("min–max"))
            #expect(SVGReading.text(svg).contains("one seed, 0: no band"))
        }
    }
}
