import Foundation

/// Where the statistics of the exact spectrum lie, given a stochastic Lanczos quadrature
/// estimate of it (docs/theory.md §7, "Errors"): the two errors of SLQ, kept apart.
///
/// * The *quadrature* (discretisation) error is a bound, per probe, from the
///   Chebyshev–Markov–Stieltjes inequalities (Golub and Meurant 2010, §7): the probe's CDF at λ
///   lies between its quadrature's CDF minus the weight of the highest node at or below λ and
///   plus the weight of the lowest node above it. Moments of degree below 2t have none.
/// * The *probe* (sampling) error is a standard error over the probes: the larger of the
///   empirical one and the Rademacher bound (Ubaru, Chen and Saad 2017; §7), since sixteen
///   probes estimate their own spread poorly (at N = 2,000 the empirical one fell short by 1.5×
///   on the mean). For a unit Rademacher probe q and symmetric B, Var(qᵀBq) ≤ 2‖B‖_F²/s²: for a
///   CDF value (B a spectral projector) 2F(1 − F)/s, taken at the F in the quadrature's bracket
///   nearest ½; for the p-th moment 2·E[λ^{2p}]/s, with E[λ^{2p}] from the quadrature itself
///   (exact while 2p < 2t).
///
/// Every value is a statistic of all `dimension` eigenvalues, the exact zero atom included:
/// a probe's measure on the s-dimensional subspace maps to G(λ) = (m − s + s·F_probe(λ))/m.
public struct QuadratureUncertainty: Sendable {
    /// One statistic: the probes' average, how far below and above it the quadrature bound lets
    /// the exact value lie, and the probes' standard error.
    public struct Estimate: Sendable, Equatable {
        public var value: Double
        public var below: Double
        public var above: Double
        public var standardError: Double
        /// What the statistic can take at all (a fraction lies in [zero atom, 1]).
        public var limits: ClosedRange<Double>

        public init(value: Double, below: Double = 0, above: Double = 0, standardError: Double,
                    limits: ClosedRange<Double> = -Double.infinity ... Double.infinity) {
            self.value = value
            self.below = below
            self.above = above
            self.standardError = standardError
            self.limits = limits
        }

        /// [value − below − z·SE, value + above + z·SE] within `limits`; z = 1.96 for 95 %.
        public func interval(z: Double = 1.96) -> ClosedRange<Double> {
            let low = min(max(value - below - z * standardError, limits.lowerBound), limits.upperBound)
            let high = max(min(value + above + z * standardError, limits.upperBound), low)
            return low ... high
        }

        /// The statistic of S samples pooled (each `dimension` eigenvalues, so the pooled value is
        /// the samples' mean): bounds average, independent standard errors add in quadrature.
        public static func pooled(_ estimates: [Estimate]) -> Estimate {
            let count = Double(max(estimates.count, 1))
            return Estimate(
                value: estimates.reduce(0) { $0 + $1.value } / count,
                below: estimates.reduce(0) { $0 + $1.below } / count,
                above: estimates.reduce(0) { $0 + $1.above } / count,
                standardError: estimates.reduce(0) { $0 + $1.standardError * $1.standardError }.squareRoot() / count,
                limits: (estimates.map(\.limits.lowerBound).min() ?? -.infinity) ... (estimates.map(\.limits.upperBound).max() ?? .infinity))
        }
    }

    public let spectrum: LanczosSpectrum
    /// Relative rounding of the products (about 1e-9 in float64, 1e-4 in float32, as
    /// `SpectrumComparison`'s atom tolerance): the Ritz values' lower bound on λ_max holds to it.
    public let roundoff: Double

    public init(_ spectrum: LanczosSpectrum, roundoff: Double = 1e-9) {
        self.spectrum = spectrum
        self.roundoff = roundoff
    }

    private var m: Double { Double(max(spectrum.dimension, 1)) }
    private var s: Double { Double(spectrum.subspaceDimension) }
    private var k: Double { Double(max(spectrum.quadratures.count, 1)) }
    private var zeroFraction: Double { Double(spectrum.zeroCount) / m }

    /// The fraction of all eigenvalues at most `lambda`.
    public func cumulativeFraction(atMost lambda: Double) -> Estimate {
        let quadratures = spectrum.quadratures
        guard lambda >= 0 else { return Estimate(value: 0, standardError: 0, limits: 0 ... 0) }
        guard !quadratures.isEmpty else { return Estimate(value: 1, standardError: 0, limits: 1 ... 1) }
        var values: [Double] = [], below = 0.0, above = 0.0
        for q in quadratures {
            var cumulative = 0.0, lastWeight = 0.0, nextWeight = 0.0
            // Past the probe's λ_max bound nothing is left above: F = 1 there.
            let beyondTop = lambda >= (q.nodes.last ?? 0) * (1 + roundoff) + (q.topResidual ?? .infinity)
            for (node, weight) in zip(q.nodes, q.weights) {
                if node <= lambda {
                    cumulative += weight
                    lastWeight = weight
                } else {
                    nextWeight = weight
                    break
                }
            }
            values.append((m - s + s * min(cumulative, 1)) / m)
            below += beyondTop ? 0 : lastWeight
            above += nextWeight
        }
        let mean = values.reduce(0, +) / k
        let spread = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(k - 1, 1)
        // §7's bound on one Rademacher probe's variance of μ_q(S), at the subspace CDF in the
        // bracket nearest ½ (a bracket at F = 1 exactly would otherwise claim no sampling error).
        let f = min(max((mean * m - (m - s)) / max(s, 1), 0), 1)
        let (fBelow, fAbove) = (max(0, f - below / k), min(1, f + above / k))
        let worst = fBelow > 0.5 ? fBelow : fAbove < 0.5 ? fAbove : 0.5
        let bound = s / m * (2 * worst * (1 - worst) / (max(s, 1) * k)).squareRoot()
        return Estimate(value: mean, below: s / m * below / k, above: s / m * above / k,
                        standardError: max((spread / k).squareRoot(), bound), limits: zeroFraction ... 1)
    }

    /// The mean of λᵖ over all eigenvalues; exact per probe for p < 2t (Gauss quadrature), so
    /// only the probes' standard error.
    public func moment(_ power: Int) -> Estimate {
        let values = spectrum.quadratures.map { q in
            s / m * zip(q.nodes, q.weights).reduce(0) { $0 + $1.1 * pow($1.0, Double(power)) }
        }
        guard !values.isEmpty else { return Estimate(value: 0, standardError: 0, limits: 0 ... 0) }
        let mean = values.reduce(0, +) / k
        let spread = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(k - 1, 1)
        let exact = spectrum.quadratures.allSatisfy { power < 2 * $0.nodes.count }
        // Var(qᵀAᵖq) ≤ 2 E_s[λ^{2p}]/s for a unit Rademacher probe, E_s from the quadrature
        // (exact while 2p < 2t; otherwise the empirical spread alone).
        let doubled = spectrum.quadratures.reduce(0.0) { sum, q in
            sum + zip(q.nodes, q.weights).reduce(0) { $0 + $1.1 * pow($1.0, Double(2 * power)) }
        } / k
        let twiceExact = spectrum.quadratures.allSatisfy { 2 * power < 2 * $0.nodes.count }
        let bound = twiceExact ? s / m * (2 * doubled / (max(s, 1) * k)).squareRoot() : 0
        // Past degree 2t − 1 the quadrature is not exact: only a Ritz-value range is sure.
        let top = pow(spectrum.largestEigenvalue, Double(power))
        return Estimate(value: mean, above: exact ? 0 : top, standardError: max((spread / k).squareRoot(), bound), limits: 0 ... .infinity)
    }

    /// λ_max: at least the largest Ritz value (Ritz values of a symmetric matrix lie below its
    /// largest eigenvalue), at most that plus the largest top-Ritz residual over the probes
    /// (some eigenvalue lies that close to each top Ritz value; with the top separated from
    /// the bulk it is λ_max).
    public var largestEigenvalue: ClosedRange<Double> {
        let low = spectrum.largestEigenvalue * (1 - roundoff)
        let high = spectrum.quadratures.map { ($0.nodes.last ?? 0) * (1 + roundoff) + ($0.topResidual ?? 0) }.max() ?? low
        return low ... max(low, high)
    }

    /// sup over λ of how far the exact CDF of all eigenvalues can lie from `measured` (the CDF
    /// the comparison computes from the estimate's quantile eigenvalues), at z standard errors:
    /// what a Kolmogorov–Smirnov distance taken on the estimate may differ from the exact one.
    public func supremumDistance(toCDF measured: (Double) -> Double, z: Double = 1.96) -> Double {
        var points = Set<Double>([0])
        for q in spectrum.quadratures { for node in q.nodes { points.insert(node) } }
        var distance = 0.0
        for x in points {
            for at in [x, x.nextDown] where at >= 0 {
                let band = cumulativeFraction(atMost: at).interval(z: z)
                let f = measured(at)
                distance = max(distance, f - band.lowerBound, band.upperBound - f)
            }
        }
        return distance
    }
}
