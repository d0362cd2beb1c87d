import Foundation
import Reports
import Spectrum
import Study
import Testing
import TestSupport
import Training

/// Issue 23 #2: panel (c) of the study figure compares the measured mean eigenvalue with the
/// finite-depth ∏ χ_l, and shows their ratio on a scale where a factor of 2 is visible.
@Suite struct StudyMeanRatioTests {
    let grid = StudyGrid(depths: [2, 100], sigmas: [1], initializations: [.identity, .gaussian], seeds: [0, 1], activation: .hardTanh,
                         training: TrainingConfiguration(batchSize: 20, epochs: 1, learningRate: 0.01, trainLimit: 200),
                         precision: .float, spectrumInputs: 1)

    @Test func theStudysTheoryMeanIsTheProductOfGainsFromTheDatasQ0() throws {
        let data = tinyData()
        let study = try Study(grid: grid, data: data)
        let q0 = StudyData.q0(data.train)
        for index in 0 ..< grid.pointCount {
            let point = grid.point(index)
            guard point.arm.initialization == .gaussian else { continue }
            let theory = study.theory(point)
            // Hard-tanh at the critical σ_w = 1, σ_b = 0: q¹ = q0, q^{l+1} = E[hardtanh(√q^l z)²],
            // χ_l = erf(1/√(2 q^l)); the product from the closed forms, written out here.
            var q = q0, product = 1.0
            for _ in 0 ..< point.depth {
                product *= erf(1 / (2 * q).squareRoot())
                let e = erf(1 / (2 * q).squareRoot())
                q = q * e - (2 * q / Double.pi).squareRoot() * exp(-1 / (2 * q)) + 1 - e
            }
            #expect(abs(theory.mean / product - 1) < 1e-12, "L = \(point.depth): \(theory.mean) vs \(product)")
            #expect(abs((theory.chi ?? 0) - 1) < 1e-5)  // the limiting gain stays 1, the finite-depth mean does not
            #expect(point.depth < 100 || theory.mean < 0.9)
        }
    }

    @Test func theRatioPanelShowsMeasuredOverTheoryOfTheSeedMeans() throws {
        // Gaussian: measured 0.85 and 0.51 against the figures; two seeds each.
        let gaussian = grid.arms[1]
        func result(_ index: Int, _ depth: Int, _ seed: UInt64, measured: Double, theory: Double) -> StudyResult {
            StudyResult(index: index, depth: depth, initialization: gaussian.initialization, sigma: gaussian.sigma, seed: seed,
                        testAccuracy: 0.5, theoryMean: theory, chi: 1, measuredFraction: 0.9, measuredMean: measured)
        }
        let results = [result(0, 2, 0, measured: 0.84, theory: 0.95), result(1, 2, 1, measured: 0.86, theory: 0.95),
                       result(2, 100, 0, measured: 0.50, theory: 0.65), result(3, 100, 1, measured: 0.52, theory: 0.65),
                       result(4, 100, 0, measured: 30, theory: 0.5)]  // a third row at L = 100 pushes the seed-mean up
        let svg = grid.figure(results).render()
        let markers = svg.matches(of: /<circle cx="[0-9.]+" cy="([0-9.]+)"[^>]*data-arm="([^"]+)" data-depth="([0-9]+)" data-quantity="mean-ratio" data-value="([^"]+)"/)
        let byDepth = Dictionary(uniqueKeysWithValues: markers.map { (Int($0.output.3)!, (y: Double($0.output.1)!, ratio: Double($0.output.4)!)) })
        #expect(abs(byDepth[2]!.ratio - 0.85 / 0.95) < 1e-12)
        let deep = (0.50 + 0.52 + 30) / 3 / ((0.65 + 0.65 + 0.5) / 3)
        #expect(abs(byDepth[100]!.ratio - deep) < 1e-12)
        // The strip maps 1/4 … 4 logarithmically onto its frame's height: a ratio inside sits at
        // bottom − height · log(r/¼)/log 16; one outside (here 17.2) sits on the top edge. Both are
        // read against the frame as written, to SVGReading.pixelTolerance.
        let strip = try SVGReading.frame(svg, panel: "mean-ratio")
        #expect(strip.yLog && strip.yDomain == (0.25, 4))
        let expected = strip.bottom - strip.height * log(0.85 / 0.95 / 0.25) / log(16)
        #expect(abs(byDepth[2]!.y - expected) < SVGReading.pixelTolerance)
        #expect(abs(byDepth[100]!.y - strip.top) < SVGReading.pixelTolerance)
        // A factor of 2 is a quarter of the strip (log 2 / log 16): at least 20 px.
        #expect(strip.height / 4 >= 20)
        let text = SVGReading.text(svg)
        #expect(text.contains("measured / theory") && text.contains("∏ χl"))
    }
}
