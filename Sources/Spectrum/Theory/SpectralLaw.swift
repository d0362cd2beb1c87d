import IsometrySupport

/// A theoretical law of the eigenvalues of J Jᵀ: point masses (atoms) plus a continuous part
/// given by its cumulative mass on an increasing grid.
///
/// Laws come from `IdentityLaw` (exact, identity weights) and `FreeProbabilityLaw`
/// (Gaussian or orthogonal weights, large width). Comparisons with a measured spectrum only
/// need `cdf`, `tail` and the moments.
public struct SpectralLaw: Sendable, Codable, Equatable {
    /// A law from its parts: atoms, and the continuous part as cumulative masses on an
    /// increasing grid (see `grid`, `cumulative`). Moments and λ_max left nil are computed from
    /// the atoms and the table (`computedMoments`); pass them when closed forms are known.
    ///
    /// Nothing is checked here (the laws of `IdentityLaw` and `FreeProbabilityLaw` are built
    /// this way in hot loops); `validate()` checks a law built from data, and
    /// `init(name:atoms:grid:density:)` builds one from a tabulated density and checks it.
    public init(
        name: String = "custom law", atoms: [Atom] = [], grid: [Double] = [], cumulative: [Double] = [],
        interpolation: Interpolation = .linear, mean: Double? = nil, variance: Double? = nil, lambdaMax: Double? = nil
    ) {
        self.name = name
        self.atoms = atoms
        self.grid = grid
        self.cumulative = cumulative
        self.interpolation = interpolation
        self.mean = 0
        self.variance = 0
        self.lambdaMax = 0
        if mean == nil || variance == nil || lambdaMax == nil {
            require(grid.count == cumulative.count,
                    "SpectralLaw: the grid has \(grid.count) points but cumulative \(cumulative.count) values")
            let computed = computedMoments
            self.mean = mean ?? computed.mean
            self.variance = variance ?? computed.variance
            self.lambdaMax = lambdaMax ?? computed.lambdaMax
        } else {
            self.mean = mean!
            self.variance = variance!
            self.lambdaMax = lambdaMax!
        }
    }

    /// A law from atoms and a density ρ(λ) tabulated on an increasing grid, e.g. a theory
    /// computed elsewhere. The density is integrated by the trapezoid rule from the first grid
    /// point; the atoms and the integral must add up to one within 1e-3 (the table is not
    /// renormalised). Moments and λ_max are computed from the table.
    ///
    /// Throws `SpectrumError` for tables of different lengths, a grid that is not increasing,
    /// negative or non-finite densities or masses, and a total mass other than one.
    public init(name: String = "custom law", atoms: [Atom] = [], grid: [Double], density: [Double]) throws(SpectrumError) {
        guard grid.count == density.count else { throw .lawTableLengths(grid: grid.count, values: density.count) }
        for (index, value) in density.enumerated() where !(value.isFinite && value >= 0) {
            throw .lawInvalidMass(what: "density", index: index, value: value)
        }
        try SpectralLaw.checkGrid(grid)
        var cumulative = [Double](repeating: 0, count: grid.count)
        for k in grid.indices.dropFirst() {
            cumulative[k] = cumulative[k - 1] + (grid[k] - grid[k - 1]) * (density[k] + density[k - 1]) / 2
        }
        self.init(name: name, atoms: atoms, grid: grid, cumulative: cumulative, interpolation: .linear)
        try validate()
    }

    public struct Atom: Sendable, Codable, Equatable {
        public var location: Double
        public var mass: Double

        /// A point mass `mass` at λ = `location`.
        public init(location: Double, mass: Double) {
            self.location = location
            self.mass = mass
        }
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

    package var continuousMass: Double { cumulative.last ?? 0 }

    /// Mean, variance and top of the support from the atoms and the table: between grid points
    /// the mass is spread evenly (`.linear`, and on [0, first point]) or sits on the points (`.step`).
    package var computedMoments: (mean: Double, variance: Double, lambdaMax: Double) {
        var first = 0.0, second = 0.0, top = 0.0
        for atom in atoms where atom.mass > 0 {
            first += atom.mass * atom.location
            second += atom.mass * atom.location * atom.location
            top = Swift.max(top, atom.location)
        }
        var previous = 0.0
        for (index, x) in grid.enumerated() {
            let mass = cumulative[index] - previous
            previous = cumulative[index]
            guard mass > 0 else { continue }
            top = Swift.max(top, x)
            if interpolation == .step {
                first += mass * x
                second += mass * x * x
            } else {
                let a = index == 0 ? 0 : grid[index - 1]
                first += mass * (a + x) / 2
                second += mass * (a * a + a * x + x * x) / 3
            }
        }
        return (first, Swift.max(0, second - first * first), top)
    }

    /// Checks a law built from data: grid and cumulative of equal length, the grid increasing,
    /// non-negative and finite, the cumulative masses and atom masses finite, non-negative and
    /// non-decreasing, atoms at finite λ ≥ 0, and a total mass of one within 1e-3.
    public func validate() throws(SpectrumError) {
        guard grid.count == cumulative.count else { throw .lawTableLengths(grid: grid.count, values: cumulative.count) }
        try SpectralLaw.checkGrid(grid)
        var previous = 0.0
        for (index, value) in cumulative.enumerated() {
            // Rounding in a tabulated CDF may step back by a hair.
            if !(value.isFinite && value >= previous - 1e-12) { throw .lawInvalidMass(what: "cumulative mass", index: index, value: value) }
            previous = Swift.max(previous, value)
        }
        for (index, atom) in atoms.enumerated() {
            if !(atom.mass.isFinite && atom.mass >= 0) { throw .lawInvalidMass(what: "atom mass", index: index, value: atom.mass) }
            if !(atom.location.isFinite && atom.location >= 0) { throw .lawGridNotIncreasing(index: index, value: atom.location) }
        }
        let total = atoms.reduce(0) { $0 + $1.mass } + continuousMass
        if !(abs(total - 1) <= 1e-3) { throw .lawTotalMass(total: total) }
    }

    private static func checkGrid(_ grid: [Double]) throws(SpectrumError) {
        for (index, x) in grid.enumerated() {
            if !(x.isFinite && x >= 0) || (index > 0 && !(x > grid[index - 1])) {
                throw .lawGridNotIncreasing(index: index, value: x)
            }
        }
    }

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
import IsometrySupport
#endif
