import Foundation

/// A quadrature rule for Integrated Gradients' path integral ∫₀¹ ∂F/∂x(x̄ + α(x − x̄)) dα, with
/// the nodes α_k and weights w_k of Captum 0.9 (`captum/attr/_utils/approximation_methods.py`),
/// so that the same rule and steps give Captum's attributions.
///
/// Captum's conventions, kept: the Riemann nodes come from a float32 `torch.linspace`, and the
/// weights of every rule are rounded to float32 (`torch.tensor(step_sizes).float()`) before
/// they multiply the gradients, so the weights of the rules meant to add up to 1 (all but the
/// trapezoid, whose add up to 1 − 1/n) do so only to float32 precision (≈ 1e-7). Torch's
/// vectorised `linspace` may place some nodes one float32 ulp from the scalar formula used here
/// (6e-8 at most); on the cross-check's fixtures they agree, and the maps match Captum's to 1e-12.
public enum IntegrationRule: String, CaseIterable, Sendable, Codable {
    /// Gauss–Legendre on [0, 1] (Captum's default). With exact weights it integrates
    /// polynomials of degree 2n − 1 exactly; Captum's float32-rounded weights make that exact
    /// only to ≈ 1e-7 relative.
    case gaussLegendre = "gausslegendre"
    /// Trapezoid: nodes 0, 1/(n−1), …, 1; weights 1/n, halved at both ends (Captum's, which do
    /// not add up to 1 — they add up to 1 − 1/n).
    case riemannTrapezoid = "riemann_trapezoid"
    /// Left sums: nodes 0 … 1 − 1/n, weights 1/n.
    case riemannLeft = "riemann_left"
    /// Right sums: nodes 1/n … 1, weights 1/n.
    case riemannRight = "riemann_right"
    /// Midpoints: nodes 1/(2n) … 1 − 1/(2n), weights 1/n.
    case riemannMiddle = "riemann_middle"

    /// The least step count the rule takes: Captum's Riemann rules assert n > 1.
    public var minimumSteps: Int { self == .gaussLegendre ? 1 : 2 }

    /// The nodes α_k in [0, 1], increasing, and the weights w_k (float32-rounded, as Captum
    /// applies them) of `steps` ≥ ``minimumSteps`` points.
    public func nodes(steps n: Int) -> (alphas: [Double], weights: [Double]) {
        precondition(n >= minimumSteps, "IntegrationRule.nodes: \(n) steps for \(rawValue), which needs at least \(minimumSteps)")
        let alphas: [Double], sizes: [Double]
        switch self {
        case .gaussLegendre:
            let (x, w) = Self.gaussLegendre(n)
            alphas = x.map { 0.5 * (1 + $0) }
            sizes = w.map { 0.5 * $0 }
        case .riemannTrapezoid:
            alphas = Self.linspace(0, 1, n)
            var d = [Double](repeating: 1 / Double(n), count: n)
            d[0] /= 2
            d[n - 1] /= 2
            sizes = d
        case .riemannLeft:
            alphas = Self.linspace(0, 1 - 1 / Double(n), n)
            sizes = [Double](repeating: 1 / Double(n), count: n)
        case .riemannRight:
            alphas = Self.linspace(1 / Double(n), 1, n)
            sizes = [Double](repeating: 1 / Double(n), count: n)
        case .riemannMiddle:
            alphas = Self.linspace(1 / (2 * Double(n)), 1 - 1 / (2 * Double(n)), n)
            sizes = [Double](repeating: 1 / Double(n), count: n)
        }
        return (alphas, sizes.map { Double(Float($0)) })
    }

    /// torch.linspace(a, b, n) in float32, by its scalar kernel: the first half counted up from
    /// a, the second down from b, with the step rounded to float32.
    static func linspace(_ a: Double, _ b: Double, _ n: Int) -> [Double] {
        let start = Float(a), end = Float(b)
        let step = (end - start) / Float(n - 1)
        return (0 ..< n).map { i in Double(i < n / 2 ? start + step * Float(i) : end - step * Float(n - 1 - i)) }
    }

    /// Gauss–Legendre nodes on [−1, 1] (increasing) and weights, by Newton's method on P_n from
    /// Chebyshev-like starting points, to full double precision (numpy's `leggauss` refines
    /// eigenvalues by one Newton step; both agree to a few ulps).
    static func gaussLegendre(_ n: Int) -> (nodes: [Double], weights: [Double]) {
        var nodes = [Double](repeating: 0, count: n), weights = [Double](repeating: 0, count: n)
        // P_n(x) and P_n'(x) by the three-term recurrence.
        func legendre(_ x: Double) -> (Double, Double) {
            var (p0, p1) = (1.0, x)
            if n == 0 { return (1, 0) }
            for k in 1 ..< n {
                let k = Double(k)
                (p0, p1) = (p1, ((2 * k + 1) * x * p1 - k * p0) / (k + 1))
            }
            return (p1, Double(n) * (x * p1 - p0) / (x * x - 1))
        }
        for i in 0 ..< (n + 1) / 2 {
            var x = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
            for _ in 0 ..< 100 {
                let (p, dp) = legendre(x)
                let dx = p / dp
                x -= dx
                if abs(dx) <= 1e-16 { break }
            }
            let (_, dp) = legendre(x)
            let w = 2 / ((1 - x * x) * dp * dp)
            // Symmetric pairs, as numpy symmetrises its nodes and weights.
            nodes[n - 1 - i] = x
            nodes[i] = -x
            weights[i] = w
            weights[n - 1 - i] = w
        }
        if n % 2 == 1 { nodes[n / 2] = 0 }
        return (nodes, weights)
    }
}
