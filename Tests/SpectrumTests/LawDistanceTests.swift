import Spectrum
import Testing

/// `LawDistance` against closed forms on the uniform law on [0, 1] (F(λ) = λ, m1 = ½).
@Suite struct LawDistanceTests {
    static let uniform = SpectralLaw(name: "uniform", grid: [0, 1], cumulative: [0, 1], mean: 0.5, variance: 1.0 / 12, lambdaMax: 1)

    /// All eigenvalues at ½: ∫|F_N − F| = ∫₀^½ λ dλ + ∫_½^1 (1 − λ) dλ = ¼, so W1/m1 = ½; the
    /// largest CDF gap is ½ (just below and at λ = ½). Sums of a few linear pieces: rounding only.
    @Test func pointMassAtTheMedian() {
        let distance = LawDistance(eigenvalues: [[0.5, 0.5], [0.5]], law: Self.uniform)
        #expect(abs(distance.relativeWasserstein1 - 0.5) <= 1e-12)
        #expect(abs(distance.kolmogorovSmirnov - 0.5) <= 1e-12)
        #expect(distance.wasserstein1Uncertainty == nil && distance.kolmogorovSmirnovUncertainty == nil)
    }

    /// n eigenvalues at the midpoints (i − ½)/n: each cell of width 1/n contributes
    /// 2 · ½ · (1/(2n))² = 1/(4n²), so W1 = 1/(4n) and W1/m1 = 1/(2n); KS = 1/(2n).
    @Test func midpointQuantiles() {
        let n = 50
        let values = (0 ..< n).map { (Double($0) + 0.5) / Double(n) }
        let distance = LawDistance(eigenvalues: [values], law: Self.uniform)
        #expect(abs(distance.relativeWasserstein1 - 1 / (2 * Double(n))) <= 1e-12)
        #expect(abs(distance.kolmogorovSmirnov - 1 / (2 * Double(n))) <= 1e-12)
    }
}
