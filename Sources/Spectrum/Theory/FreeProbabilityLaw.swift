import ComplexModule
import RealModule
import Foundation
import IsometrySupport

/// The large-width law of the eigenvalues of J Jᵀ for random weights, by free probability
/// (Pennington, Schoenholz, Ganguli 2017, 2018; docs/theory.md §2).
///
/// With inputs at the mean-field fixed point and p = P(φ' ≠ 0) (ReLU, hard-tanh),
/// S_{JJᵀ} = (S_{WWᵀ} S_{D²})^L. Writing M(z) = z G(z) − 1, this becomes a polynomial equation
/// in M, solved at z = λ + iε by Newton's method, continued from large Im z where
/// M ≈ m1/z so the physical branch is kept; then ρ(λ) = −Im G(λ + i0)/π with G = (1 + M)/z.
public struct FreeProbabilityLaw: Sendable {
    public enum Weights: String, Sendable, Codable {
        case gaussian, orthogonal
    }

    public var weights: Weights
    /// σ_w².
    public var sigmaW2: Double
    /// The active fraction p.
    public var p: Double
    public var layers: Int

    public init(weights: Weights, sigmaW2: Double, p: Double, layers: Int) {
        self.weights = weights
        self.sigmaW2 = sigmaW2
        self.p = p
        self.layers = layers
    }

    var scale: Double { pow(sigmaW2, Double(layers)) }  // σ_w^{2L}

    /// m1 = (σ_w² p)^L.
    public var mean: Double { pow(sigmaW2 * p, Double(layers)) }

    /// Gaussian m1² L/p; orthogonal m1² L(1 − p)/p.
    public var variance: Double {
        let l = Double(layers)
        return switch weights {
        case .gaussian: mean * mean * l / p
        case .orthogonal: mean * mean * l * (1 - p) / p
        }
    }

    /// Mass 1 − p at 0; for orthogonal weights with L(1 − p) ≤ 1 also 1 − L(1 − p) at σ_w^{2L}.
    public var atoms: [SpectralLaw.Atom] {
        var result: [SpectralLaw.Atom] = []
        if p < 1 { result.append(.init(location: 0, mass: 1 - p)) }
        if weights == .orthogonal, Double(layers) * (1 - p) <= 1 {
            let mass = 1 - Double(layers) * (1 - p)
            if mass > 0 { result.append(.init(location: scale, mass: mass)) }
        }
        return result
    }

    /// The top edge of the support.
    public var lambdaMax: Double {
        let l = Double(layers)
        switch weights {
        case .gaussian:
            // m* is the positive root of L m² + (L − 1) m − p = 0.
            let m = (-(l - 1) + ((l - 1) * (l - 1) + 4 * l * p).squareRoot()) / (2 * l)
            return scale * (1 + m) * pow(m + p, l) / m
        case .orthogonal:
            if l * (1 - p) <= 1 {
                // The continuous part then lies below the atom at σ_w^{2L}, or is empty.
                return scale
            }
            return mean * ((1 - p) / p) * pow(l, l) / pow(l - 1, l - 1)
        }
    }

    /// F(M) and F'(M) of the defining equation at z.
    func equation(_ m: Complex<Double>, _ z: Complex<Double>) -> (Complex<Double>, Complex<Double>) {
        let l = layers
        let s = Complex(scale)
        let mp = m + Complex(p)
        let mpL1 = power(mp, l - 1)
        let mpL = mpL1 * mp
        switch weights {
        case .gaussian:
            // z M − σ^{2L} (1 + M)(M + p)^L
            let f = z * m - s * (1 + m) * mpL
            let df = z - s * (mpL + Complex(Double(l)) * (1 + m) * mpL1)
            return (f, df)
        case .orthogonal:
            // z M (M + 1)^{L−1} − σ^{2L} (M + p)^L
            let m1 = m + 1
            let m1L2 = l >= 2 ? power(m1, l - 2) : Complex(1)
            let m1L1 = l >= 1 ? (l >= 2 ? m1L2 * m1 : Complex(1)) : Complex(1)
            let f = z * m * m1L1 - s * mpL
            let df = z * m1L1 + (l >= 2 ? z * m * Complex(Double(l - 1)) * m1L2 : Complex(0))
                - s * Complex(Double(l)) * mpL1
            return (f, df)
        }
    }

    /// G(λ + iε) by continuation from Im z = large down to ε.
    public func greensFunction(at lambda: Double, epsilon: Double? = nil) -> Complex<Double> {
        continuedGreensFunction(at: lambda, epsilon: epsilon, top: max(lambdaMax, mean, 1e-300), mean: mean, equation: equation)
    }

    /// ρ(λ) = −Im G(λ + i0)/π for λ > 0 (the continuous part only).
    public func density(at lambda: Double) -> Double {
        max(0, -greensFunction(at: lambda).imaginary / Double.pi)
    }

    /// The law with its continuous part tabulated on a log grid below λ_max. The cumulative
    /// mass is integrated downward from λ_max (where it is zero), and the mass below the grid
    /// comes from the known total, so tail probabilities are exact up to quadrature error.
    public func law(pointsPerDecade: Int = 60, decades: Int = 14) -> SpectralLaw {
        let name = "free probability, \(weights.rawValue) weights, σ_w² = \(compactNumber(sigmaW2)), p = \(compactNumber(p)), L = \(layers)"
        // Orthogonal weights with L(1 − p) = 1 exactly (ReLU at L = 2) have no atom at σ_w^{2L}
        // but a density diverging there.
        let singular = weights == .orthogonal && abs(Double(layers) * (1 - p) - 1) <= 1e-12
        return tabulatedFreeLaw(name: name, atoms: atoms, mean: mean, variance: variance, top: lambdaMax,
                                pointsPerDecade: pointsPerDecade, decades: decades, singularTop: singular, density: density(at:))
    }
}

/// G(λ + iε) of a law whose M(z) = z G(z) − 1 solves `equation`(M, z) = 0 (which returns the
/// equation's value and its derivative in M): from Im z = 10(top + |λ|), where M ≈ m1/z,
/// down to ε by steps of × 0.7, Newton's method from the previous root at each step, so that
/// the physical branch is followed continuously.
func continuedGreensFunction(
    at lambda: Double, epsilon: Double?, top: Double, mean: Double,
    equation: (Complex<Double>, Complex<Double>) -> (Complex<Double>, Complex<Double>)
) -> Complex<Double> {
    let target = epsilon ?? max(1e-10 * lambda, 1e-14 * top)
    var y = 10 * (top + abs(lambda))
    var z = Complex(lambda, y)
    var m = Complex(mean) / z
    while true {
        z = Complex(lambda, y)
        for _ in 0 ..< 100 {
            let (f, df) = equation(m, z)
            guard df.isFinite, df != .zero else { break }
            let step = f / df
            m = m - step
            if step.length <= 1e-15 * max(1, m.length) { break }
        }
        if y <= target { break }
        y = max(target, y * 0.7)
    }
    return (1 + m) / z
}

/// A free-probability law with its continuous part (density ρ, total mass one minus the
/// atoms') tabulated on a log grid from top·10^−decades to `top`, denser in the last 1 % below
/// the edge and kept off positive atoms; the cumulative mass is integrated by trapezoids from
/// the top down.
///
/// `singularTop`: the density diverges like c/√(top − λ) at the top, as it does for orthogonal
/// weights with Σ_l (1 − p_l) = 1 (the atom at σ_w^{2L} has shrunk to mass 0 and left an
/// integrable spike). Trapezoids in λ through the value at the top would then count a spurious
/// mass (0.039 of it for ReLU at L = 2, whose P(λ > 1) is 1/3 in closed form), so the mass is
/// integrated in t = √(top − λ) instead, where the integrand 2tρ stays finite (its value at the
/// top taken from the point below).
func tabulatedFreeLaw(
    name: String, atoms: [SpectralLaw.Atom], mean: Double, variance: Double, top: Double,
    pointsPerDecade: Int, decades: Int, singularTop: Bool = false, density: (Double) -> Double
) -> SpectralLaw {
    let atomMass = atoms.reduce(0) { $0 + $1.mass }
    let continuousTotal = max(0, 1 - atomMass)
    if continuousTotal <= 1e-15 || top <= 0 {
        return SpectralLaw(name: name, atoms: atoms, grid: [], cumulative: [], mean: mean, variance: variance, lambdaMax: top)
    }
    // Log grid from top·10^−decades to top, densest near the square-root edge at the top.
    let count = pointsPerDecade * decades
    var grid: [Double] = (0 ... count).map { top * pow(10, -Double(decades) * Double(count - $0) / Double(count)) }
    // Extra points in the last 1 % below the edge.
    let edge = (1 ... 40).map { top * (1 - 0.01 * pow(Double($0) / 40, 2)) }
    grid = (grid + edge).sorted()
    // Keep grid points off the orthogonal atom, where the numerical density has a spike of width ε.
    let atomLocations = atoms.map(\.location).filter { $0 > 0 }
    grid = grid.filter { x in !atomLocations.contains { abs($0 - x) < 1e-6 * top } }
    var above = [Double](repeating: 0, count: grid.count)
    if singularTop && grid.count >= 2 && grid[grid.count - 1] == top {
        let t = grid.map { (top - $0).squareRoot() }
        var integrand = grid.indices.dropLast().map { 2 * t[$0] * density(grid[$0]) }
        integrand.append(integrand[integrand.count - 1])
        for i in stride(from: grid.count - 2, through: 0, by: -1) {
            above[i] = above[i + 1] + 0.5 * (integrand[i] + integrand[i + 1]) * (t[i] - t[i + 1])
        }
    } else {
        let densities = grid.map { density($0) }
        // Trapezoid in λ from the top down.
        for i in stride(from: grid.count - 2, through: 0, by: -1) {
            above[i] = above[i + 1] + 0.5 * (densities[i] + densities[i + 1]) * (grid[i + 1] - grid[i])
        }
    }
    let cumulative = above.map { max(0, continuousTotal - $0) }
    return SpectralLaw(
        name: name, atoms: atoms, grid: grid, cumulative: cumulative, mean: mean, variance: variance,
        lambdaMax: max(top, atomLocations.max() ?? 0))
}

func power(_ z: Complex<Double>, _ n: Int) -> Complex<Double> {
    var result = Complex<Double>(1)
    var base = z
    var k = n
    while k > 0 {
        if k & 1 == 1 { result = result * base }
        base = base * base
        k >>= 1
    }
    return result
}
