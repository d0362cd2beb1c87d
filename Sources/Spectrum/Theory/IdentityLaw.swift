import Networks

#if canImport(Glibc)
import Glibc
#endif

/// The exact law of the eigenvalues of J Jᵀ for identity weights W^l = σI, no bias, inputs
/// u_i ~ N(0, q0) (Kubota et al. 2021; docs/theory.md §1).
///
/// J is diagonal with J_ii = g(u_i), g(u) = ∏_l σ φ'(h^l(u)), h^1 = σu, h^l = σφ(h^{l−1}),
/// so the eigenvalues follow the law of g(u)², u ~ N(0, q0): a one-dimensional integral.
public enum IdentityLaw {
    /// The chance that a hard-tanh unit stays unsaturated through all L layers:
    /// erf(σ^{−l}/√(2q0)) with l = L when σ > 1 (the last layer saturates first) and l = 1
    /// when σ ≤ 1 (only the first can).
    public static func hardTanhActiveFraction(sigma: Double, q0: Double, layers: Int) -> Double {
        let l = sigma > 1 ? Double(layers) : 1
        return erf(pow(sigma, -l) / (2 * q0).squareRoot())
    }

    /// g(u) = ∏_l σ φ'(h^l(u)).
    public static func gain(_ u: Double, activation: Activation, sigma: Double, layers: Int) -> Double {
        var x = u
        var g = 1.0
        for _ in 0 ..< layers {
            let h = sigma * x
            g *= sigma * activation.derivative(h)
            x = activation(h)
        }
        return g
    }

    /// The law, in closed form for hard-tanh, ReLU and linear (two atoms: α at σ^{2L},
    /// 1 − α at 0) and by quadrature on u for tanh and erf.
    public static func law(activation: Activation, sigma: Double, q0: Double, layers: Int) -> SpectralLaw {
        let top = pow(sigma, 2 * Double(layers))
        let name = "identity σ = \(compactNumber(sigma)), q0 = \(compactNumber(q0)), \(activation.rawValue), L = \(layers)"
        let alpha: Double? = switch activation {
        case .hardTanh: hardTanhActiveFraction(sigma: sigma, q0: q0, layers: layers)
        case .relu: 0.5
        case .linear: 1
        case .tanh, .erf: nil
        }
        if let alpha {
            return atomic(alpha: alpha, top: top, name: name + ", exact")
        }
        return quadrature(activation: activation, sigma: sigma, q0: q0, layers: layers, name: name + ", quadrature")
    }

    static func atomic(alpha: Double, top: Double, name: String) -> SpectralLaw {
        var atoms: [SpectralLaw.Atom] = []
        if alpha < 1 { atoms.append(.init(location: 0, mass: 1 - alpha)) }
        if alpha > 0 { atoms.append(.init(location: top, mass: alpha)) }
        return SpectralLaw(
            name: name, atoms: atoms, grid: [], cumulative: [], mean: alpha * top,
            variance: alpha * (1 - alpha) * top * top, lambdaMax: alpha > 0 ? top : 0)
    }

    /// The law of g(u)² by the midpoint rule on u = √q0·z, z ∈ [−12, 12]: each node is a
    /// weighted value, sorted into a cumulative distribution. Nodes where g = 0 exactly form
    /// an atom at 0.
    public static func quadrature(
        activation: Activation, sigma: Double, q0: Double, layers: Int, nodes: Int = 200_001, name: String? = nil
    ) -> SpectralLaw {
        let width = 24.0 / Double(nodes)
        var values: [(Double, Double)] = []
        values.reserveCapacity(nodes)
        var totalWeight = 0.0
        for k in 0 ..< nodes {
            let z = -12 + (Double(k) + 0.5) * width
            let weight = exp(-z * z / 2)
            let g = gain(q0.squareRoot() * z, activation: activation, sigma: sigma, layers: layers)
            values.append((g * g, weight))
            totalWeight += weight
        }
        values.sort { $0.0 < $1.0 }
        var zeroMass = 0.0
        var grid: [Double] = []
        var cumulative: [Double] = []
        var running = 0.0
        var mean = 0.0
        var second = 0.0
        for (lambda, weight) in values {
            let mass = weight / totalWeight
            mean += mass * lambda
            second += mass * lambda * lambda
            if lambda == 0 {
                zeroMass += mass
                continue
            }
            running += mass
            if let last = grid.last, last == lambda {
                cumulative[cumulative.count - 1] = running
            } else {
                grid.append(lambda)
                cumulative.append(running)
            }
        }
        let atoms = zeroMass > 0 ? [SpectralLaw.Atom(location: 0, mass: zeroMass)] : []
        return SpectralLaw(
            name: name ?? "identity σ = \(compactNumber(sigma)), q0 = \(compactNumber(q0)), \(activation.rawValue), quadrature",
            atoms: atoms, grid: grid, cumulative: cumulative, interpolation: .step, mean: mean,
            variance: max(0, second - mean * mean), lambdaMax: grid.last ?? 0)
    }

    /// E[g(u)²]: α σ^{2L} in closed form for the piecewise-linear activations, otherwise a
    /// Gaussian quadrature of the smooth integrand.
    public static func mean(activation: Activation, sigma: Double, q0: Double, layers: Int) -> Double {
        switch activation {
        case .hardTanh, .relu, .linear:
            return law(activation: activation, sigma: sigma, q0: q0, layers: layers).mean
        case .tanh, .erf:
            return gaussianExpectation { z in
                let g = gain(q0.squareRoot() * z, activation: activation, sigma: sigma, layers: layers)
                return g * g
            }
        }
    }

    /// The q0 on the critical curve α σ^{2L} = 1 (mean eigenvalue one) at this σ, by bisection
    /// on log q0 in [lower, upper], or nil when the curve does not cross that range.
    public static func criticalQ0(
        activation: Activation, sigma: Double, layers: Int, in range: ClosedRange<Double>
    ) -> Double? {
        func logMean(_ q0: Double) -> Double {
            log(mean(activation: activation, sigma: sigma, q0: q0, layers: layers))
        }
        var (lo, hi) = (log(range.lowerBound), log(range.upperBound))
        let (fLo, fHi) = (logMean(exp(lo)), logMean(exp(hi)))
        guard fLo.isFinite || fHi.isFinite, (fLo > 0) != (fHi > 0) else { return nil }
        for _ in 0 ..< 60 {
            let mid = (lo + hi) / 2
            if (logMean(exp(mid)) > 0) == (fLo > 0) { lo = mid } else { hi = mid }
        }
        return exp((lo + hi) / 2)
    }
}

import Foundation
import IsometrySupport
