import Foundation
import Reports
import Spectrum
import Testing

/// Issue 23 #4: sweep cells where every sampled eigenvalue was 0 although the theory's mean is
/// positive come from a non-zero mass too small to be sampled; the heat map hatches them as
/// "not measurable at this sample size", with the expected count, and says so in its caption.
@Suite struct SweepUnmeasurableTests {
    @Test func cellsTooRareToSampleAreHatchedWithTheirExpectedCount() throws {
        // Identity hard-tanh, L = 10, N = 30, 2 samples: a unit survives all layers iff
        // |u| < σ^{−L} (σ > 1), so α = erf(σ^{−L}/√(2 q0)), written out here; at σ = 1.6,
        // q0 = 4, α ≈ 3.6e-3 and 60 eigenvalues expect 0.22 non-zero ones.
        let sweep = SpectrumSweep(sigmas: [1.0, 1.6], q0s: [0.1, 4], layers: 10, width: 30, samples: 2)
        let points = try (0 ..< sweep.pointCount).map { index throws(SpectrumError) in try sweep.evaluate(index) }
        let svg = sweep.heatMap(points).render()
        let hatched = svg.matches(of: /data-expected-count="([^"]+)" data-quantity="not-measurable"/).map { Double($0.output.1)! }
        let flagged = points.filter(sweep.isUnmeasurable)
        #expect(!flagged.isEmpty, "the grid must hold a cell too rare to sample")
        #expect(hatched.count == flagged.count)
        for (point, shown) in zip(flagged, hatched) {
            #expect(point.measuredLog10Mean == -.infinity && point.theoryLog10Mean.isFinite)
            let alpha = erf(pow(point.sigma, -10) / (2 * point.q0).squareRoot())
            let expected = alpha * 2 * 30
            #expect(abs(shown / expected - 1) < 1e-9, "σ \(point.sigma) q0 \(point.q0): shown \(shown), α·S·N = \(expected)")
            #expect(expected < 3)
        }
        let text = SVGReading.text(svg)
        #expect(text.contains("not measurable at this sample size"))
        let largest = try #require(hatched.max())
        #expect(text.contains("expects at most " + String(format: "%.2g", largest) + " non-zero ones"))
    }

    @Test func allZerosWhereManyWereExpectedStayADisagreement() {
        let sweep = SpectrumSweep(sigmas: [1.2], q0s: [0.5], layers: 10, width: 100, samples: 10)
        // 1000 eigenvalues at α = 0.005 expect 5 non-zero ones (none with probability e^−5 ≈ 0.7 %).
        let rare = SpectrumSweep.Point(index: 0, sigma: 1.2, q0: 0.5, measuredFraction: 0, theoryFraction: 0.005,
                                       measuredLog10Mean: -.infinity, theoryLog10Mean: 1.2)
        #expect(sweep.expectedNonZeroCount(rare) == 5)
        #expect(!sweep.isUnmeasurable(rare))
        let svg = sweep.heatMap([rare]).render()
        #expect(!svg.contains("not-measurable") && SVGReading.text(svg).contains("Grey: every measured eigenvalue is 0"))
        var tooRare = rare
        tooRare.theoryFraction = 0.002  // 2 expected
        #expect(sweep.isUnmeasurable(tooRare))
    }
}
