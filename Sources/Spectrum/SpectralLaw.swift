/// A theoretical law of the eigenvalues of J Jᵀ: point masses (atoms) plus a continuous part
/// given by its cumulative mass on an increasing grid.
///
/// Laws come from `IdentityLaw` (exact, identity weights) and `FreeProbabilityLaw`
/// (Gaussian or orthogonal weights, large width). Comparisons with a measured spectrum only
/// need `cdf`, `tail` and the moments.
public struct SpectralLaw: Sendable, Codable {
    public init(
        name: String, atoms: [Atom], grid: [Double] = [], cumulative: [Double] = [],
        interpolation: Interpolation = .linear, mean: Double, variance: Double, lambdaMax: Double
    ) {
        self.name = name
        self.atoms = atoms
        self.grid = grid
        self.cumulative = cumulative
        self.interpolation = interpolation
        self.mean = mean
        self.variance = variance
        self.lambdaMax = lambdaMax
    }

    public struct Atom: Sendable, Codable, Equatable {
        public var location: Double
        public var mass: Double
    }

    /// What the law describes, for reports ("identity σ = 1, q0 = 0.5, exact").
    public var name: String
    public var atoms: [Atom]
    /// How the cumulative mass behaves between grid points.
    public enum Interpolation: String, Sendable, Codable {
        /// A density tabulated on the grid: the mass grows linearly between points, and from
        /// 0 to the first point.
        case linear
        /// Weighted quadrature nodes: each point carries its own mass (a step function).
        case step
    }

    /// Increasing λ values, and the non-atomic mass at or below each (ending at that part's
    /// total mass). Empty when the law is purely atomic.
    public var grid: [Double]
    public var cumulative: [Double]
    public var interpolation: Interpolation = .linear
    public var mean: Double
    public var variance: Double
    /// The top of the support.
    public var lambdaMax: Double

    public var continuousMass: Double { cumulative.last ?? 0 }

    /// P(λ ≤ x).
    public func cdf(_ x: Double) -> Double {
        var total = atoms.filter { $0.location <= x }.reduce(0) { $0 + $1.mass }
        if let first = grid.first, let last = grid.last, x >= first {
            if x >= last {
                total += continuousMass
            } else {
                // Binary search for grid[lo] ≤ x < grid[hi].
                var (lo, hi) = (0, grid.count - 1)
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2
                    if grid[mid] <= x { lo = mid } else { hi = mid }
                }
                switch interpolation {
                case .step:
                    total += cumulative[lo]
                case .linear:
                    let t = (x - grid[lo]) / (grid[hi] - grid[lo])
                    total += cumulative[lo] + t * (cumulative[hi] - cumulative[lo])
                }
            }
        } else if interpolation == .linear, let first = grid.first, x > 0, cumulative[0] > 0 {
            // Mass below the grid's first point: spread evenly on [0, first].
            total += cumulative[0] * x / first
        }
        return Swift.min(1, total)
    }

    /// P(λ > x).
    public func tail(_ x: Double) -> Double { Swift.max(0, 1 - cdf(x)) }

    /// The atom whose location is within `relativeTolerance` of `x` (relative to λ_max).
    public func atom(near x: Double, relativeTolerance: Double) -> Atom? {
        atoms.first { abs($0.location - x) <= relativeTolerance * Swift.max(lambdaMax, abs($0.location)) }
    }
}

/// E[f(z)] for z ~ N(0, 1), by the midpoint rule on [−12, 12]: exponentially accurate for
/// smooth f, and first-order accurate (error ≈ jump × node spacing) at a discontinuity.
func gaussianExpectation(nodes: Int = 4001, _ f: (Double) -> Double) -> Double {
    let width = 24.0 / Double(nodes)
    var total = 0.0
    var weights = 0.0
    for k in 0 ..< nodes {
        let z = -12 + (Double(k) + 0.5) * width
        let w = exp(-z * z / 2)
        total += w * f(z)
        weights += w
    }
    return total / weights
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
