import Foundation
import Networks
import IsometrySupport

/// One line of the measured-versus-theory table.
public struct ComparisonRow: Sendable, Codable {
    public var quantity: String
    public var measured: Double
    public var theory: Double?
    /// The 95 % band the measurement should fall in (i.i.d. case) or the bootstrap interval
    /// of the measurement that the theory should fall in (random weights).
    public var bandLow: Double?
    public var bandHigh: Double?
    /// Whether theory and measurement agree within the band; nil when there is no band.
    public var agrees: Bool?
    public var band: String
    /// For the rows that count eigenvalues at an atom: the atom's location, and the half-width
    /// of the window within which a value counts as at it (measured and theory alike). Figures
    /// use them to draw exactly what the row counts.
    public var atomLocation: Double?
    public var atomWindow: Double?
    /// For a stochastic Lanczos quadrature measurement: where the same statistic of the exact
    /// spectra of the measured networks lies, by the quadrature's error (``QuadratureUncertainty``,
    /// 95 %); the band above is widened by how far this reaches beyond `measured`. nil for
    /// dense measurements.
    public var quadratureLow: Double?
    public var quadratureHigh: Double?

    public init(
        quantity: String, measured: Double, theory: Double? = nil, bandLow: Double? = nil, bandHigh: Double? = nil,
        agrees: Bool? = nil, band: String, atomLocation: Double? = nil, atomWindow: Double? = nil
    ) {
        self.quantity = quantity
        self.measured = measured
        self.theory = theory
        self.bandLow = bandLow
        self.bandHigh = bandHigh
        self.agrees = agrees
        self.band = band
        self.atomLocation = atomLocation
        self.atomWindow = atomWindow
    }
}

/// How the sampling error of a measured spectrum is estimated.
public enum SamplingModel: String, Sendable, Codable {
    /// Eigenvalues are independent draws from the law (identity weights: J is diagonal and
    /// the input coordinates are i.i.d.): binomial and normal bands from the theory itself.
    case independentEigenvalues = "binomial/normal band (i.i.d. eigenvalues)"
    /// Eigenvalues within a sample are dependent; resample whole samples (bootstrap).
    case bootstrapOverSamples = "bootstrap over samples"
}

/// Compares measured eigenvalues (one array per sample) with a theoretical law: the atoms'
/// masses, mean, variance, λ_max, P(λ > x) at x = 0.01, 0.1, 1, 10 times the mean, and the KS
/// distance, each with a 95 % band.
public struct SpectrumComparison: Sendable, Codable {
    public var rows: [ComparisonRow]
    public var model: SamplingModel
    public var eigenvalueCount: Int
    /// Tail thresholds x of the P(λ > x) rows.
    package var thresholds: [Double]
    /// Relative distance within which a measured value counts as at an atom.
    public var atomTolerance: Double
    /// How the bands were widened for a stochastic Lanczos quadrature measurement; nil for a
    /// dense one.
    public var quadratureNote: String?

    /// The fields as they are.
    public init(rows: [ComparisonRow], model: SamplingModel, eigenvalueCount: Int, thresholds: [Double], atomTolerance: Double) {
        self.rows = rows
        self.model = model
        self.eigenvalueCount = eigenvalueCount
        self.thresholds = thresholds
        self.atomTolerance = atomTolerance
    }

    // The statistics, as functions of a pooled set of eigenvalues.
    private struct Quantity {
        let name: String
        let theory: Double?
        let value: ([Double]) -> Double
        let kind: Kind
        var atom: (location: Double, window: Double)? = nil
        var threshold: Double? = nil
        enum Kind { case fraction(Double?), mean, variance, maximum }
    }
    /// Compares `eigenvalues` (one array per sample: per input, or per network) with `law`
    /// (nil: measured values only).
    ///
    /// `model` says how the bands are estimated: `.independentEigenvalues` (binomial and normal
    /// bands from the law itself, right when every eigenvalue is an independent draw, as for
    /// identity weights) or `.bootstrapOverSamples` (the default: resample whole samples; needs
    /// at least two). `atomTolerance`: measured values within this relative distance of an
    /// atom count as at the atom (rounding in the product of L factors; about 1e-9 in Double,
    /// 1e-4 in Float).
    ///
    /// `quadratures`: for eigenvalues that are SLQ estimates' quantile eigenvalues
    /// (``LanczosSpectrum/quantileEigenvalues``), the estimates, one per sample. Each row then
    /// records where the exact spectra's statistic lies (``ComparisonRow/quadratureLow``) and
    /// its band is widened by how far that reaches beyond the measured value, the KS critical
    /// value by the CDF's largest such distance (docs/theory.md §7).
    ///
    /// Throws `SpectrumError` when there is no eigenvalue at all, when one is NaN or infinite,
    /// and when the law fails `SpectralLaw.validate()`.
    public init(
        eigenvalues samples: [[Double]], law: SpectralLaw?, model: SamplingModel = .bootstrapOverSamples,
        atomTolerance: Double = 1e-9, bootstrapResamples: Int = 400, seed: UInt64 = 1,
        quadratures: [LanczosSpectrum]? = nil
    ) throws(SpectrumError) {
        let pooled = samples.flatMap { $0 }
        let n = pooled.count
        if n == 0 { throw .noEigenvalues }
        let nonFinite = pooled.filter { !$0.isFinite }.count
        if nonFinite > 0 { throw .nonFiniteEigenvalues(count: nonFinite) }
        try law?.validate()
        require(atomTolerance >= 0 && atomTolerance.isFinite, "SpectrumComparison: atomTolerance must be finite and non-negative, got \(atomTolerance)")
        require(bootstrapResamples >= 1, "SpectrumComparison: bootstrapResamples must be at least 1, got \(bootstrapResamples)")
        if let quadratures {
            require(quadratures.count == samples.count,
                    "SpectrumComparison: \(quadratures.count) quadratures for \(samples.count) samples; one per sample")
        }
        let uncertainties = quadratures?.map { QuadratureUncertainty($0, roundoff: atomTolerance) }
        self.model = model
        self.atomTolerance = atomTolerance
        quadratureNote = quadratures.map { q in
            "widened by the quadrature's error (\(q.first?.steps ?? 0) steps × \(q.first?.probes ?? 0) probes: 1.96 probe standard errors"
                + " and the Gauss-quadrature bound, docs/theory.md §7)"
        }
        eigenvalueCount = n
        let scale = max(law?.lambdaMax ?? 0, pooled.max() ?? 0)

        // Snap values at an atom onto it, so ties with the theory's jumps are exact.
        func snapped(_ values: [Double]) -> [Double] {
            guard let law else { return values }
            return values.map { v in
                law.atoms.first { abs($0.location - v) <= atomTolerance * max(scale, abs($0.location)) }?.location ?? v
            }
        }
        let snappedSamples = samples.map(snapped)
        let reference = law?.mean ?? Statistics(snapped(pooled)).mean
        thresholds = [0.01, 0.1, 1, 10].map { $0 * reference }.filter { $0 > 0 }
        let thresholds = self.thresholds

        var quantities: [Quantity] = []
        for atom in law?.atoms ?? [] {
            let location = atom.location
            // Measured values within the snapping window count as at the atom, so the theory
            // gets the same window: the atom plus any continuous mass inside it.
            let window = atomTolerance * max(scale, abs(location))
            let mass = law.map { $0.cdf(location + window) - (location - window > 0 ? $0.cdf(location - window) : 0) } ?? atom.mass
            // When the window holds continuous mass that shows in the printed per cent (a
            // density diverging at 0, as for random weights), the row is not the atom's mass:
            // it is named for what it counts.
            let name = abs(mass - atom.mass) < 5e-5 ? "atom at λ = \(compactNumber(location))"
                : location == 0 ? "P(λ ≤ ε), ε = \(epsilonText(window))"
                : "P(|λ − \(compactNumber(location))| ≤ ε), ε = \(epsilonText(window))"
            quantities.append(Quantity(
                name: name, theory: mass,
                value: { values in Double(values.filter { $0 == location }.count) / Double(max(values.count, 1)) },
                kind: .fraction(mass), atom: (location, window)))
        }
        quantities.append(Quantity(name: "mean", theory: law?.mean, value: { Statistics($0).mean }, kind: .mean))
        quantities.append(Quantity(name: "variance", theory: law?.variance, value: { Statistics($0).variance }, kind: .variance))
        quantities.append(Quantity(name: "λ_max", theory: law?.lambdaMax, value: { $0.max() ?? 0 }, kind: .maximum))
        for x in thresholds {
            let theory = law?.tail(x)
            quantities.append(Quantity(
                name: "P(λ > \(compactNumber(x)))", theory: theory,
                value: { values in Double(values.filter { $0 > x }.count) / Double(max(values.count, 1)) },
                kind: .fraction(theory), threshold: x))
        }

        let allValues = snappedSamples.flatMap { $0 }
        var rows: [ComparisonRow] = []
        var generator = SplitMix(seed)
        for quantity in quantities {
            let measured = quantity.value(allValues)
            var row = ComparisonRow(quantity: quantity.name, measured: measured, theory: quantity.theory, band: "",
                                    atomLocation: quantity.atom?.location, atomWindow: quantity.atom?.window)
            // How far the exact statistic may lie below and above the measured one.
            var widening = (below: 0.0, above: 0.0)
            if let uncertainties {
                let exact = Self.exactInterval(quantity.kind, atom: quantity.atom, threshold: quantity.threshold, uncertainties)
                row.quadratureLow = exact.lowerBound
                row.quadratureHigh = exact.upperBound
                widening = (max(0, measured - exact.lowerBound), max(0, exact.upperBound - measured))
            }
            guard let law, let theory = quantity.theory else {
                row.band = "no theory"
                rows.append(row)
                continue
            }
            switch model {
            case .independentEigenvalues:
                let count = Double(n)
                var (low, high): (Double, Double)
                switch quantity.kind {
                case .fraction(let p):
                    let p = p ?? theory
                    let half = 1.96 * (p * (1 - p) / count).squareRoot() + 0.5 / count
                    (low, high) = (p - half, p + half)
                case .mean:
                    let half = 1.96 * (law.variance / count).squareRoot()
                    (low, high) = (theory - half, theory + half)
                case .variance:
                    let fourth = law.centralMoment4
                    let half = 1.96 * (max(0, fourth - law.variance * law.variance) / count).squareRoot()
                    (low, high) = (theory - half, theory + half)
                case .maximum:
                    // P(max ≤ x) = F(x)^n: the 2.5 % quantile of the maximum of n draws.
                    low = law.quantile(pow(0.025, 1 / count))
                    high = theory
                }
                // Fractions lie in [0, 1], means and variances of eigenvalues of J Jᵀ at or
                // above 0: a band never reaches outside what the quantity can take.
                switch quantity.kind {
                case .fraction: (low, high) = (max(0, low), min(1, high))
                case .mean, .variance: low = max(0, low)
                case .maximum: break
                }
                (low, high) = (low - widening.below, high + widening.above)
                // Values equal up to rounding agree even when the band has zero width.
                let slack = atomTolerance * max(abs(theory), scale * 1e-12)
                row.bandLow = low
                row.bandHigh = high
                row.agrees = measured >= low - slack && measured <= high + slack
                row.band = "95 % band of the measurement"
            case .bootstrapOverSamples:
                guard samples.count >= 2 else {
                    row.band = "one sample: no band"
                    rows.append(row)
                    continue
                }
                var replicates: [Double] = []
                for _ in 0 ..< bootstrapResamples {
                    var pooledResample: [Double] = []
                    for _ in 0 ..< snappedSamples.count {
                        pooledResample += snappedSamples[Int(generator.next() % UInt64(snappedSamples.count))]
                    }
                    replicates.append(quantity.value(pooledResample))
                }
                replicates.sort()
                let low = replicates[Int(0.025 * Double(replicates.count - 1))] - widening.below
                let high = replicates[Int((0.975 * Double(replicates.count - 1)).rounded(.up))] + widening.above
                let slack = atomTolerance * max(abs(theory), scale * 1e-12)
                row.bandLow = low
                row.bandHigh = high
                row.agrees = theory >= low - slack && theory <= high + slack
                row.band = "95 % bootstrap interval over \(samples.count) samples"
            }
            rows.append(row)
        }

        if let law {
            let distance = SpectrumComparison.kolmogorovSmirnov(allValues, law, atomWindow: { atomTolerance * max(scale, abs($0)) })
            var critical = 1.36 / Double(max(n, 1)).squareRoot()
            if let uncertainties {
                // The pooled CDF is the samples' mean, so its distance from the exact one is at
                // most the samples' mean distance.
                let perSample = zip(uncertainties, snappedSamples).map { uncertainty, values in
                    let sorted = values.sorted()
                    return uncertainty.supremumDistance(toCDF: { x in
                        Double(Self.countAtMost(x, in: sorted)) / Double(max(sorted.count, 1))
                    })
                }
                critical += perSample.reduce(0, +) / Double(max(perSample.count, 1))
            }
            rows.append(ComparisonRow(
                quantity: "KS distance", measured: distance, theory: 0, bandLow: 0, bandHigh: critical,
                agrees: distance <= critical,
                band: model == .independentEigenvalues ? "95 % KS critical value 1.36/√n"
                    : "1.36/√n as if i.i.d. (eigenvalues of one sample fluctuate less)"))
        }
        self.rows = rows
    }

    /// Where the exact spectra's statistic lies, pooled over the samples' estimates.
    private static func exactInterval(
        _ kind: Quantity.Kind, atom: (location: Double, window: Double)?, threshold: Double?, _ uncertainties: [QuadratureUncertainty]
    ) -> ClosedRange<Double> {
        func cdf(_ x: Double) -> ClosedRange<Double> {
            QuadratureUncertainty.Estimate.pooled(uncertainties.map { $0.cumulativeFraction(atMost: x) }).interval()
        }
        switch kind {
        case .fraction:
            if let atom {
                let upper = cdf(atom.location + atom.window)
                guard atom.location - atom.window > 0 else { return upper }
                let lower = cdf((atom.location - atom.window).nextDown)
                return max(0, upper.lowerBound - lower.upperBound) ... max(0, upper.upperBound - lower.lowerBound)
            }
            let below = cdf(threshold ?? 0)
            return 1 - below.upperBound ... 1 - below.lowerBound
        case .mean:
            return QuadratureUncertainty.Estimate.pooled(uncertainties.map { $0.moment(1) }).interval()
        case .variance:
            // var = E[λ²] − E[λ]², E[λ] ≥ 0: interval arithmetic on the two moments' intervals.
            let second = QuadratureUncertainty.Estimate.pooled(uncertainties.map { $0.moment(2) }).interval()
            let first = QuadratureUncertainty.Estimate.pooled(uncertainties.map { $0.moment(1) }).interval()
            let low = max(0, second.lowerBound - first.upperBound * first.upperBound)
            return low ... max(low, second.upperBound - first.lowerBound * first.lowerBound)
        case .maximum:
            let ranges = uncertainties.map(\.largestEigenvalue)
            return (ranges.map(\.lowerBound).max() ?? 0) ... (ranges.map(\.upperBound).max() ?? 0)
        }
    }

    /// How many of the ascending `sorted` are at most `x`.
    private static func countAtMost(_ x: Double, in sorted: [Double]) -> Int {
        var (low, high) = (0, sorted.count)
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] <= x { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// sup_x |F_n(x) − F(x)|, taking ties and the law's atoms into account. Values snapped
    /// onto an atom stand for everything within `atomWindow(location)` of it, so there the
    /// theory's jump is taken across the same window.
    package static func kolmogorovSmirnov(
        _ values: [Double], _ law: SpectralLaw, atomWindow: (Double) -> Double = { _ in 0 }
    ) -> Double {
        let sorted = values.sorted()
        let n = Double(sorted.count)
        guard !sorted.isEmpty else { return 0 }
        var distance = 0.0
        var index = 0
        while index < sorted.count {
            let v = sorted[index]
            var end = index
            while end < sorted.count && sorted[end] == v { end += 1 }
            let after: Double, before: Double
            if law.atoms.contains(where: { $0.location == v }) {
                let window = atomWindow(v)
                after = law.cdf(v + window)
                before = v - window < 0 ? 0 : law.cdf(v - window) - (window == 0 ? law.atoms.filter { $0.location == v }.reduce(0) { $0 + $1.mass } : 0)
            } else {
                after = law.cdf(v)
                before = after
            }
            distance = max(distance, abs(Double(index) / n - before), abs(Double(end) / n - after))
            index = end
        }
        return distance
    }
}

/// ε of the "P(λ ≤ ε)" rows: three significant digits, exponent without padding (2.04e-3).
func epsilonText(_ x: Double) -> String {
    let text = String(format: "%.3g", x)
    guard let e = text.firstIndex(of: "e") else { return text }
    let mantissa = text[..<e]
    let exponent = Int(text[text.index(after: e)...]) ?? 0
    return "\(mantissa)e\(exponent)"
}

/// Mean and variance in one pass (Welford), stable for spectra spanning many decades.
struct Statistics {
    var mean = 0.0
    var variance = 0.0
    init(_ values: [Double]) {
        var m = 0.0, s = 0.0
        for (k, x) in values.enumerated() {
            let delta = x - m
            m += delta / Double(k + 1)
            s += delta * (x - m)
        }
        mean = m
        variance = values.isEmpty ? 0 : s / Double(values.count)
    }
}

/// SplitMix64: a small generator for bootstrap resampling.
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SpectralLaw {
    /// E[(λ − mean)⁴], from the atoms and the tabulated part.
    package var centralMoment4: Double {
        var total = atoms.reduce(0) { $0 + $1.mass * pow($1.location - mean, 4) }
        var previous = 0.0
        for (index, x) in grid.enumerated() {
            let mass = cumulative[index] - previous
            let location = interpolation == .step || index == 0 ? x : (x + grid[index - 1]) / 2
            total += mass * pow(location - mean, 4)
            previous = cumulative[index]
        }
        return total
    }

    /// The smallest x with P(λ ≤ x) ≥ probability, by bisection on [0, λ_max].
    public func quantile(_ probability: Double) -> Double {
        var (lo, hi) = (0.0, lambdaMax)
        if cdf(0) >= probability { return 0 }
        for _ in 0 ..< 200 {
            let mid = (lo + hi) / 2
            if cdf(mid) >= probability { hi = mid } else { lo = mid }
            if hi - lo <= 1e-15 * lambdaMax { break }
        }
        return hi
    }
}
