import ComplexModule
import RealModule
import Foundation
import IsometrySupport
import Networks

/// The large-width law of the eigenvalues of J Jᵀ when every layer has its own active fraction
/// p_l: free probability along the mean-field trajectory of the inputs rather than at its fixed
/// point (docs/theory.md §6).
///
/// ``FreeProbabilityLaw`` assumes every pre-activation already has the fixed-point variance q*,
/// so every D_l² has the same law. Inputs with E[x_i²] = q0 away from q* give layer l the
/// variance q^l of the q-map's trajectory from q¹ = σ_w² q0 + σ_b², and D_l² has eigenvalues 1
/// (fraction p_l = P(φ'(h) ≠ 0), h ~ N(0, q^l)) and 0. The S-transforms still multiply:
/// S_{JJᵀ} = ∏_l S_{WWᵀ} S_{D_l²}, S_{D_l²}(m) = (1 + m)/(m + p_l), so with M(z) = z G(z) − 1
///
///     orthogonal:  z M (M + 1)^{L−1} − σ_w^{2L} ∏_l (M + p_l) = 0
///     Gaussian:    z M − σ_w^{2L} (1 + M) ∏_l (M + p_l) = 0,
///
/// solved as ``FreeProbabilityLaw`` solves its equation (which is this one with every p_l = p).
/// Hard-tanh at σ_w = 1, σ_b = 0 is the case that needs it: q* = 0 there, so the fixed-point
/// law is the trivial one, while N(0, q0) inputs saturate a fraction 1 − p_l that shrinks
/// layer by layer (q^l ≈ 3/(2l) for large l).
public struct LayerwiseFreeProbabilityLaw: Sendable {
    public var weights: FreeProbabilityLaw.Weights
    /// σ_w².
    public var sigmaW2: Double
    /// p_1, …, p_L, each in (0, 1].
    public var activeFractions: [Double]

    /// The law for the given per-layer fractions; every p_l must lie in (0, 1] and σ_w² be
    /// finite and positive (a caller's bug otherwise: the fractions come from a computation).
    public init(weights: FreeProbabilityLaw.Weights, sigmaW2: Double, activeFractions: [Double]) {
        require(!activeFractions.isEmpty && activeFractions.allSatisfy { $0 > 0 && $0 <= 1 },
                "LayerwiseFreeProbabilityLaw: every active fraction must lie in (0, 1], got \(activeFractions)")
        require(sigmaW2.isFinite && sigmaW2 > 0, "LayerwiseFreeProbabilityLaw: σ_w² must be finite and positive, got \(sigmaW2)")
        self.weights = weights
        self.sigmaW2 = sigmaW2
        self.activeFractions = activeFractions
    }

    /// The law for inputs with E[x_i²] = `inputSecondMoment` (q0 for N(0, q0) inputs): p_l along
    /// the q-map trajectory from q¹ = σ_w² q0 + σ_b² (``MeanField/varianceTrajectory(firstVariance:layers:)``).
    /// Nil when the variance diverges within `layers` layers, or for an activation whose D² is
    /// not 0 or 1 (tanh, erf: free probability then needs the law of φ'(h)², not a fraction).
    public init?(weights: FreeProbabilityLaw.Weights, activation: Activation, sigmaW: Double, sigmaB: Double,
                 inputSecondMoment: Double, layers: Int) {
        guard [.relu, .hardTanh, .linear].contains(activation), layers >= 1 else { return nil }
        let field = MeanField(activation: activation, sigmaW: sigmaW, sigmaB: sigmaB)
        let trajectory = field.varianceTrajectory(firstVariance: sigmaW * sigmaW * inputSecondMoment + sigmaB * sigmaB, layers: layers)
        guard trajectory.count == layers else { return nil }
        let fractions = trajectory.map { MeanField.activeFraction(activation, q: $0) }
        // q^l = 0 (a zero input, no bias) saturates nothing: erf(∞) = 1.
        guard fractions.allSatisfy({ $0 > 0 && $0 <= 1 }), sigmaW.isFinite && sigmaW > 0 else { return nil }
        self.init(weights: weights, sigmaW2: sigmaW * sigmaW, activeFractions: fractions)
    }

    public var layers: Int { activeFractions.count }

    var scale: Double { pow(sigmaW2, Double(layers)) }  // σ_w^{2L}

    /// m1 = σ_w^{2L} ∏ p_l.
    public var mean: Double { activeFractions.reduce(scale) { $0 * $1 } }

    /// m1² Σ_l r_l, r_l the relative variance of one layer: (1 − p_l)/p_l for orthogonal
    /// weights (WWᵀ contributes none), 1/p_l for Gaussian (1 from WWᵀ).
    public var variance: Double {
        let relative = activeFractions.reduce(0.0) { sum, p in
            sum + (weights == .orthogonal ? (1 - p) / p : 1 / p)
        }
        return mean * mean * relative
    }

    /// Mass 1 − min_l p_l at 0 (rank J ≤ min_l of the active units); for orthogonal weights
    /// with Σ_l (1 − p_l) < 1 also 1 − Σ_l (1 − p_l) at σ_w^{2L}: the directions that pass every
    /// D_l untouched.
    public var atoms: [SpectralLaw.Atom] {
        var result: [SpectralLaw.Atom] = []
        let smallest = activeFractions.min() ?? 1
        if smallest < 1 { result.append(.init(location: 0, mass: 1 - smallest)) }
        if weights == .orthogonal {
            let mass = 1 - activeFractions.reduce(0) { $0 + (1 - $1) }
            if mass > 0 { result.append(.init(location: scale, mass: mass)) }
        }
        return result
    }

    /// d log z / dM of z(M), the inverse of M(z) on the real axis: zero at the edge.
    func logSlope(_ m: Double) -> Double {
        let sum = activeFractions.reduce(0.0) { $0 + 1 / (m + $1) }
        return switch weights {
        case .orthogonal: sum - 1 / m - Double(layers - 1) / (m + 1)
        case .gaussian: sum + 1 / (1 + m) - 1 / m
        }
    }

    /// log z(M) for real M > 0.
    func logZ(_ m: Double) -> Double {
        let sum = activeFractions.reduce(0.0) { $0 + Foundation.log(m + $1) }
        return switch weights {
        case .orthogonal: Double(layers) * Foundation.log(sigmaW2) + sum - Foundation.log(m) - Double(layers - 1) * Foundation.log1p(m)
        case .gaussian: Double(layers) * Foundation.log(sigmaW2) + sum + Foundation.log1p(m) - Foundation.log(m)
        }
    }

    /// The top edge of the support: the minimum of z(M) over M > 0, where z(M) (the inverse of
    /// the physical branch, decreasing from +∞ at M = 0⁺) turns. For orthogonal weights with
    /// Σ_l (1 − p_l) ≤ 1, z(M) decreases to σ_w^{2L} without turning: the continuous part lies
    /// below the atom there, and λ_max = σ_w^{2L}. Found by bisection of d log z/dM on log M.
    public var lambdaMax: Double {
        if weights == .orthogonal && activeFractions.reduce(0, { $0 + (1 - $1) }) <= 1 { return scale }
        // d log z/dM < 0 near 0⁺; bracket the sign change upward.
        var (lo, hi) = (1e-12 * (activeFractions.min() ?? 1), 1.0)
        while logSlope(hi) < 0 && hi < 1e300 { hi *= 4 }
        if logSlope(hi) < 0 { return scale }
        for _ in 0 ..< 200 {
            let mid = (lo * hi).squareRoot()
            if logSlope(mid) < 0 { lo = mid } else { hi = mid }
            if hi - lo <= 1e-15 * hi { break }
        }
        return Foundation.exp(logZ((lo * hi).squareRoot()))
    }

    /// F(M) and F'(M) of the defining equation at z.
    func equation(_ m: Complex<Double>, _ z: Complex<Double>) -> (Complex<Double>, Complex<Double>) {
        let s = Complex(scale)
        // ∏ (M + p_l) and its derivative, built up factor by factor.
        var product = Complex<Double>(1), derivative = Complex<Double>(0)
        for p in activeFractions {
            let factor = m + Complex(p)
            derivative = derivative * factor + product
            product = product * factor
        }
        let l = layers
        switch weights {
        case .gaussian:
            let f = z * m - s * (1 + m) * product
            let df = z - s * (product + (1 + m) * derivative)
            return (f, df)
        case .orthogonal:
            let m1 = m + 1
            let m1L2 = l >= 2 ? power(m1, l - 2) : Complex(1)
            let m1L1 = l >= 2 ? m1L2 * m1 : Complex(1)
            let f = z * m * m1L1 - s * product
            let df = z * m1L1 + (l >= 2 ? z * m * Complex(Double(l - 1)) * m1L2 : Complex(0)) - s * derivative
            return (f, df)
        }
    }

    /// G(λ + iε), continued from large Im z down to ε as ``FreeProbabilityLaw/greensFunction(at:epsilon:)``.
    public func greensFunction(at lambda: Double, epsilon: Double? = nil) -> Complex<Double> {
        continuedGreensFunction(at: lambda, epsilon: epsilon, top: max(lambdaMax, mean, 1e-300), mean: mean, equation: equation)
    }

    /// ρ(λ) = −Im G(λ + i0)/π for λ > 0 (the continuous part only).
    public func density(at lambda: Double) -> Double {
        max(0, -greensFunction(at: lambda).imaginary / Double.pi)
    }

    /// The law, tabulated as ``FreeProbabilityLaw/law(pointsPerDecade:decades:)`` tabulates its own.
    public func law(pointsPerDecade: Int = 60, decades: Int = 14) -> SpectralLaw {
        let top = lambdaMax
        let (low, high) = (activeFractions.min() ?? 1, activeFractions.max() ?? 1)
        let fractions = layers <= 4 ? "p_l = " + activeFractions.map { compactNumber($0) }.joined(separator: ", ")
            : "p_l from \(compactNumber(low)) to \(compactNumber(high))"
        let name = "free probability along the q-map, \(weights.rawValue) weights, σ_w² = \(compactNumber(sigmaW2)), \(fractions), L = \(layers)"
        // The density is evaluated with the edge computed once, not per point.
        let edge = max(top, mean, 1e-300)
        // Σ (1 − p_l) = 1: no atom at σ_w^{2L}, a density diverging there instead.
        let singular = weights == .orthogonal && abs(activeFractions.reduce(0) { $0 + (1 - $1) } - 1) <= 1e-12
        return tabulatedFreeLaw(name: name, atoms: atoms, mean: mean, variance: variance, top: top,
                                pointsPerDecade: pointsPerDecade, decades: decades, singularTop: singular) { lambda in
            max(0, -continuedGreensFunction(at: lambda, epsilon: nil, top: edge, mean: mean, equation: equation).imaginary / Double.pi)
        }
    }
}
