import Foundation

/// How far a measured spectrum lies from a law, as distances between their CDFs over all
/// eigenvalues (zeros included): what "agrees more tightly at larger N" is measured by
/// (docs/spectrum.md, "Large N").
///
/// * Wasserstein-1, ∫ |F_N(λ) − F(λ)| dλ, divided by the law's mean m1 so that networks of any
///   scale compare: the distance the mass moves, in units of the mean eigenvalue. SLQ measures it
///   well (docs/theory.md §7: W1 error O(λ_max/t) plus the probes' term).
/// * Kolmogorov–Smirnov, sup |F_N − F| (`SpectrumComparison`'s, with the law's atoms): for an
///   SLQ measurement limited by the quadrature wherever much mass lies below the lowest Ritz
///   value (§7); `kolmogorovSmirnovUncertainty` then says by how much.
public struct LawDistance: Sendable, Codable, Equatable {
    /// W1 / m1.
    public var relativeWasserstein1: Double
    public var kolmogorovSmirnov: Double
    /// For an SLQ measurement: how far the KS distance of the exact spectra can lie from
    /// `kolmogorovSmirnov` (the quadrature's CDF error, ``QuadratureUncertainty``); nil for dense.
    public var kolmogorovSmirnovUncertainty: Double?
    /// W1's counterpart: ∫ of the quadrature's CDF interval width, / m1; nil for dense.
    public var wasserstein1Uncertainty: Double?

    /// The distances of the pooled `eigenvalues` (one array per sample) from `law`; `quadratures`
    /// (one per sample) when they are SLQ estimates' quantile eigenvalues.
    public init(eigenvalues samples: [[Double]], law: SpectralLaw, quadratures: [LanczosSpectrum]? = nil) {
        let sorted = samples.flatMap { $0 }.filter(\.isFinite).sorted()
        let n = Double(max(sorted.count, 1))
        let top = max(sorted.last ?? 0, law.lambdaMax.isFinite ? law.lambdaMax : 0)
        // Breakpoints: every measured value and the law's grid, so both CDFs are integrated where
        // they change; between two breakpoints the law's CDF is linear or constant, the measured one constant.
        var points = Array(Set(sorted + law.grid.filter { $0 >= 0 && $0 <= top } + [0, top])).sorted()
        if points.isEmpty { points = [0] }
        var w1 = 0.0
        var index = 0
        for (a, b) in zip(points, points.dropFirst()) {
            while index < sorted.count && sorted[index] <= a { index += 1 }
            let measured = Double(index) / n
            // The law's CDF on (a, b) is linear on grid cells: its mean |F_N − F| by a 2-point rule
            // is exact unless F crosses F_N inside, where it overstates by at most the cell's term.
            let (fa, fb) = (law.cdf(a), law.cdf(b.nextDown))
            let (da, db) = (measured - fa, measured - fb)
            let cell = da * db >= 0 ? (abs(da) + abs(db)) / 2 : (da * da + db * db) / (2 * (abs(da) + abs(db)))
            w1 += cell * (b - a)
        }
        let mean = law.mean > 0 ? law.mean : 1
        relativeWasserstein1 = w1 / mean
        kolmogorovSmirnov = SpectrumComparison.kolmogorovSmirnov(sorted, law)
        if let quadratures {
            let uncertainties = quadratures.map { QuadratureUncertainty($0) }
            let perSample = zip(uncertainties, samples).map { uncertainty, values in
                let ascending = values.sorted()
                return uncertainty.supremumDistance(toCDF: { x in
                    Double(ascending.partitionPoint { $0 <= x }) / Double(max(ascending.count, 1))
                })
            }
            kolmogorovSmirnovUncertainty = perSample.reduce(0, +) / Double(max(perSample.count, 1))
            // ∫ (high − low) of the pooled CDF interval over the same breakpoints and the nodes.
            var nodes = Set(points)
            for u in uncertainties { for q in u.spectrum.quadratures { for node in q.nodes where node <= top { nodes.insert(node) } } }
            let grid = nodes.sorted()
            var width = 0.0
            for (a, b) in zip(grid, grid.dropFirst()) {
                let band = QuadratureUncertainty.Estimate.pooled(uncertainties.map { $0.cumulativeFraction(atMost: a) }).interval()
                width += (band.upperBound - band.lowerBound) * (b - a)
            }
            wasserstein1Uncertainty = width / mean
        }
    }
}

extension Array {
    /// The first index whose element does not satisfy `belongs` (the array partitioned: those
    /// that do first).
    func partitionPoint(where belongs: (Element) -> Bool) -> Int {
        var (low, high) = (0, count)
        while low < high {
            let middle = (low + high) / 2
            if belongs(self[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
