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

    /// Panel (a)'s scales, inverted: x is log(L) from L = 2 at 80 px to L = 100 at 400 px, y is
    /// the accuracy in per cent from 0 at 420 px to 100 at 90 px.
    func depth(_ x: Double) -> Double { 2 * pow(50, (x - 80) / 320) }
    func percent(_ y: Double) -> Double { (420 - y) / 3.3 }

    func points(_ text: Substring) -> [(depth: Double, percent: Double)] {
        text.split(separator: " ").map { pair in
            let xy = pair.split(separator: ",").map { Double($0)! }
            return (depth(xy[0]), percent(xy[1]))
        }
    }

    @Test func theBandIsTheMinAndMaxOfTheSeedsAndTheLineTheirMean() throws {
        let svg = grid.figure(results).render()
        for (a, arm) in grid.arms.enumerated() {
            let label = grid.label(arm)
            let polygon = try #require(svg.firstMatch(of: try Regex("<polygon points=\"([^\"]+)\"[^>]*data-quantity=\"accuracy-band\" data-arm=\"\(NSRegularExpression.escapedPattern(for: label))\"")))
            let band = points(polygon.output[1].substring!)
            let line = try #require(svg.firstMatch(of: try Regex("<polyline points=\"([^\"]+)\"[^>]*data-arm=\"\(NSRegularExpression.escapedPattern(for: label))\" data-quantity=\"accuracy-mean\"")))
            let mean = points(line.output[1].substring!)
            // The band runs along the maxima from the shallowest depth, then back along the minima.
            #expect(band.count == 2 * grid.depths.count && mean.count == grid.depths.count)
            for (d, depth) in grid.depths.enumerated() {
                let values = accuracies[d][a].compactMap { $0 }.map { $0 * 100 }   // a diverged seed has no accuracy
                let upper = band[d], lower = band[band.count - 1 - d]
                // Pixels are written to 1/100 px (%.2f for the line) or in full (the band):
                // 0.01 px is 0.003 accuracy points and a relative 2e-5 of the depth.
                #expect(abs(upper.depth / Double(depth) - 1) < 1e-4 && abs(lower.depth / Double(depth) - 1) < 1e-4)
                #expect(abs(upper.percent - values.max()!) < 0.005, "\(label) L = \(depth): band top \(upper.percent) against \(values.max()!)")
                #expect(abs(lower.percent - values.min()!) < 0.005, "\(label) L = \(depth): band bottom \(lower.percent) against \(values.min()!)")
                let expectedMean = values.reduce(0, +) / Double(values.count)
                #expect(abs(mean[d].percent - expectedMean) < 0.005, "\(label) L = \(depth): line \(mean[d].percent) against \(expectedMean)")
            }
        }
        #expect(svg.contains("mean over 3 seeds, band and bars: their min–max"))
    }

    @Test func oneSeedDrawsNoBandAndSaysSo() {
        var single = grid
        single.seeds = [0]
        let rows = results.filter { $0.seed == 0 }.enumerated().map { offset, row in
            var row = row
            row.index = offset
            return row
        }
        let svg = single.figure(rows).render()
        #expect(!svg.contains("<polygon"))
        #expect(!svg.contains("min–max"))
        #expect(svg.contains("one seed, 0: no band"))
    }
}
