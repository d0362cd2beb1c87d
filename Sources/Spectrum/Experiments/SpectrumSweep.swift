import Foundation
import GridShards
import TensorAlgebra
import Networks
import IsometrySupport

/// A grid of σ × q0 for identity-initialised networks: at each point, the fraction of
/// non-vanishing eigenvalues and log10 of the mean eigenvalue, measured and theoretical.
///
/// Points are numbered σ-major; shard k of n takes the points whose number is k − 1 modulo n
/// (GridShards' `Shard`), so shards have equal work and every point's seed (`seed + index`) is
/// the same however the grid is split. `merge` joins the shards' rows back into one grid.
public struct SpectrumSweep: Sendable, Codable, Equatable {
    public var sigmas: [Double]
    public var q0s: [Double]
    public var activation: Activation = .hardTanh
    public var layers = 20
    public var width = 794
    public var samples = 10
    public var seed: UInt64 = 0
    public var precision: Precision = .double

    /// The grid's σ and q0 values as given (each at least one, all finite and above 0).
    public init(
        sigmas: [Double], q0s: [Double], activation: Activation = .hardTanh, layers: Int = 20, width: Int = 794,
        samples: Int = 10, seed: UInt64 = 0, precision: Precision = .double
    ) {
        require(!sigmas.isEmpty && !q0s.isEmpty, "SpectrumSweep: needs at least one σ and one q0, got \(sigmas.count) and \(q0s.count)")
        require((sigmas + q0s).allSatisfy { $0.isFinite && $0 > 0 }, "SpectrumSweep: σ and q0 must be finite and above 0, got σ \(sigmas), q0 \(q0s)")
        self.sigmas = sigmas
        self.q0s = q0s
        self.activation = activation
        self.layers = layers
        self.width = width
        self.samples = samples
        self.seed = seed
        self.precision = precision
    }

    /// σ evenly spaced, q0 evenly spaced on a log scale.
    public init(
        sigma: ClosedRange<Double>, sigmaSteps: Int, q0: ClosedRange<Double>, q0Steps: Int,
        activation: Activation = .hardTanh, layers: Int = 20, width: Int = 794,
        samples: Int = 10, seed: UInt64 = 0, precision: Precision = .double
    ) {
        require(sigmaSteps >= 1 && q0Steps >= 1, "SpectrumSweep: needs at least one step in σ and q0, got \(sigmaSteps) and \(q0Steps)")
        let sigmas = (0 ..< sigmaSteps).map { sigmaSteps == 1 ? sigma.lowerBound
            : sigma.lowerBound + (sigma.upperBound - sigma.lowerBound) * Double($0) / Double(sigmaSteps - 1) }
        let q0s = (0 ..< q0Steps).map { q0Steps == 1 ? q0.lowerBound
            : exp(log(q0.lowerBound) + (log(q0.upperBound) - log(q0.lowerBound)) * Double($0) / Double(q0Steps - 1)) }
        self.init(sigmas: sigmas, q0s: q0s, activation: activation, layers: layers, width: width,
                  samples: samples, seed: seed, precision: precision)
    }

    public var pointCount: Int { sigmas.count * q0s.count }

    // MARK: Bounds

    /// The most σ values, and the most q0 values, of a grid.
    public static let maximumSteps = 1000
    /// The deepest network of a sweep.
    public static let maximumLayers = 100_000
    /// The deepest network of a tanh or erf sweep: their theory has no closed form, and the
    /// heat map's critical curve (201 q0 × up to 401 σ, a 4001-node quadrature of an L-layer
    /// product each, and a bisection) costs time in proportion to L: about 5 s per layer in a
    /// release build on 2 cores (62 s in a debug build). 100 layers keep the longest accepted
    /// sweep under ten minutes of curve; deeper smooth networks are the study's, not the sweep's.
    public static let maximumSmoothLayers = 100
    public static let maximumWidth = 1_000_000
    public static let maximumSamples = 1_000_000

    /// The most layers a sweep of `activation` may have.
    public static func maximumLayers(_ activation: Activation) -> Int {
        activation == .tanh || activation == .erf ? maximumSmoothLayers : maximumLayers
    }

    /// Why this grid cannot be swept (a size or value out of bounds), in words naming the
    /// field, its value and the bound; nil when it can.
    public var problem: String? {
        if sigmas.isEmpty || sigmas.count > Self.maximumSteps { return "sigmas has \(sigmas.count) values, expected 1 to \(Self.maximumSteps)" }
        if q0s.isEmpty || q0s.count > Self.maximumSteps { return "q0s has \(q0s.count) values, expected 1 to \(Self.maximumSteps)" }
        if let bad = (sigmas + q0s).first(where: { !($0.isFinite && $0 > 0) }) { return "σ and q0 must be finite and above 0, got \(bad)" }
        let layerLimit = Self.maximumLayers(activation)
        if !(1 ... layerLimit).contains(layers) {
            return "layers is \(layers), expected 1 to \(layerLimit)\(layerLimit < Self.maximumLayers ? " for \(activation.rawValue)" : "")"
        }
        if !(1 ... Self.maximumWidth).contains(width) { return "width is \(width), expected 1 to \(Self.maximumWidth)" }
        if !(1 ... Self.maximumSamples).contains(samples) { return "samples is \(samples), expected 1 to \(Self.maximumSamples)" }
        return nil
    }

    public struct Point: Sendable, Codable, Equatable {
        public var index: Int
        public var sigma: Double
        public var q0: Double
        public var measuredFraction: Double
        public var theoryFraction: Double
        public var measuredLog10Mean: Double
        public var theoryLog10Mean: Double

        public init(
            index: Int, sigma: Double, q0: Double, measuredFraction: Double, theoryFraction: Double,
            measuredLog10Mean: Double, theoryLog10Mean: Double
        ) {
            self.index = index
            self.sigma = sigma
            self.q0 = q0
            self.measuredFraction = measuredFraction
            self.theoryFraction = theoryFraction
            self.measuredLog10Mean = measuredLog10Mean
            self.theoryLog10Mean = theoryLog10Mean
        }
    }

    /// The point numbers of shard `k` (1-based) of `n`.
    public func indices(shard k: Int, of n: Int) -> [Int] {
        Array(stride(from: k - 1, to: pointCount, by: n))
    }

    /// Measures one grid point (`index` below `pointCount`).
    public func evaluate(_ index: Int) throws(SpectrumError) -> Point {
        require((0 ..< pointCount).contains(index), "SpectrumSweep.evaluate: point \(index) is outside the grid of \(pointCount)")
        let sigma = sigmas[index / q0s.count], q0 = q0s[index % q0s.count]
        let c = SpectrumConfiguration(
            activation: activation, initialization: .identity, width: width, layers: layers, sigma: sigma, q0: q0,
            samples: samples, seed: seed &+ UInt64(index), precision: precision)
        let report = try SpectrumExperiment.run(c)
        let values = report.eigenvalues.flatMap { $0 }
        guard let law = report.law else { fatalError("SpectrumSweep: identity weights with normal inputs always have a law") }
        // "Vanishing" means at the atom at 0, within the comparison's rounding window.
        let window = (precision == .float ? 1e-4 : 1e-9) * max(law.lambdaMax, values.max() ?? 0)
        let measuredFraction = Double(values.filter { $0 > window }.count) / Double(values.count)
        let mean = values.reduce(0, +) / Double(values.count)
        return Point(
            index: index, sigma: sigma, q0: q0, measuredFraction: measuredFraction,
            theoryFraction: 1 - law.cdf(window), measuredLog10Mean: log10(mean), theoryLog10Mean: log10(law.mean))
    }

    // MARK: CSV

    static let columns = "index,sigma,q0,measured_fraction,theory_fraction,measured_log10_mean,theory_log10_mean"

    /// The sweep's files (`sweep.csv`, `sweep-part-k-of-n.csv`): line 1 records the grid as JSON,
    /// so shards can be checked to belong together; shard files also record their shard and
    /// command. The format, sharding, merge and resume are GridShards', shared with `study`.
    public static let fileFormat = GridFileFormat<SpectrumSweep, Point>(
        kind: "spectrum sweep", columns: columns, pointCount: { $0.pointCount },
        isValid: { $0.problem == nil },
        index: { $0.index },
        encode: { p in
            [String(p.index), "\(p.sigma)", "\(p.q0)", "\(p.measuredFraction)", "\(p.theoryFraction)",
             "\(p.measuredLog10Mean)", "\(p.theoryLog10Mean)"].joined(separator: ",")
        },
        decode: { line in
            let fields = line.split(separator: ",").map(String.init)
            guard fields.count == 7, let index = Int(fields[0]) else { return nil }
            let values = fields.dropFirst().compactMap(Double.init)
            guard values.count == 6 else { return nil }
            return Point(index: index, sigma: values[0], q0: values[1], measuredFraction: values[2],
                         theoryFraction: values[3], measuredLog10Mean: values[4], theoryLog10Mean: values[5])
        },
        check: { sweep, point in sweep.contradiction(point) })

    /// Why `point` (its number within the grid) cannot be this grid's: σ or q0 other than its
    /// point's, a fraction outside [0, 1], a NaN log10 mean, or a measured log10 mean of +inf
    /// (the measured eigenvalues are finite; only the theory's σ^{2L} may overflow). Nil when fine.
    func contradiction(_ point: Point) -> String? {
        let sigma = sigmas[point.index / q0s.count], q0 = q0s[point.index % q0s.count]
        if point.sigma != sigma { return "point \(point.index) has σ = \(sigma) in the grid, but the row says σ = \(point.sigma)" }
        if point.q0 != q0 { return "point \(point.index) has q0 = \(q0) in the grid, but the row says q0 = \(point.q0)" }
        for (name, value) in [("measured_fraction", point.measuredFraction), ("theory_fraction", point.theoryFraction)]
        where !(0 ... 1).contains(value) {
            return "\(name) is \(value), expected a fraction in [0, 1]"
        }
        if !(point.measuredLog10Mean < .infinity) {
            return "measured_log10_mean is \(point.measuredLog10Mean), expected a finite number or -inf"
        }
        if point.theoryLog10Mean.isNaN { return "theory_log10_mean is nan, expected a number" }
        return nil
    }

    /// The points of `shard` (GridShards' round-robin split).
    public func indices(_ shard: Shard) -> [Int] { shard.indices(pointCount: pointCount) }

    /// A whole-grid CSV whose first line records the grid (as JSON).
    public func csv(_ points: [Point]) -> String {
        Self.fileFormat.text(grid: self, rows: points)
    }

    /// Parses a CSV written by `csv(_:)` or a shard of `spectrum sweep --shard`.
    public static func read(_ text: String, path: String) throws(SpectrumError) -> (SpectrumSweep, [Point]) {
        do {
            let file = try fileFormat.read(text, path: path)
            return (file.grid, file.rows)
        } catch { throw .sweepFile(error) }
    }

    /// Joins shards: they must describe the same grid, overlap nowhere and cover it all; missing
    /// shards are named with the command that computes them.
    public static func merge(_ parts: [(path: String, text: String)]) throws(SpectrumError) -> (SpectrumSweep, [Point]) {
        do {
            let merged = try fileFormat.merge(parts)
            return (merged.grid, merged.rows)
        } catch { throw .sweepFile(error) }
    }

    /// The critical curve α σ^{2L} = 1 (mean eigenvalue one) inside the grid: (σ, q0) pairs.
    /// For each q0 on a fine log grid, σ where log(mean) changes sign, bracketed on a fine σ
    /// grid and then bisected (the curve can be steep in σ, as for hard-tanh near σ = 1).
    public func criticalCurve(resolution: Int = 200) -> [(Double, Double)] {
        let (qLo, qHi) = (q0s.min()!, q0s.max()!)
        let (sLo, sHi) = (sigmas.min()!, sigmas.max()!)
        var curve: [(Double, Double)] = []
        for k in 0 ... resolution {
            let q0 = exp(log(qLo) + (log(qHi) - log(qLo)) * Double(k) / Double(resolution))
            func f(_ sigma: Double) -> Double {
                log(IdentityLaw.mean(activation: activation, sigma: sigma, q0: q0, layers: layers))
            }
            let steps = 400
            var previous = sLo
            var fPrevious = f(sLo)
            for j in 1 ... steps {
                let sigma = sLo + (sHi - sLo) * Double(j) / Double(steps)
                let value = f(sigma)
                if fPrevious.isFinite, value.isFinite, (fPrevious > 0) != (value > 0) {
                    var (a, b, fa) = (previous, sigma, fPrevious)
                    for _ in 0 ..< 50 {
                        let mid = (a + b) / 2
                        let fm = f(mid)
                        if (fm > 0) == (fa > 0) { (a, fa) = (mid, fm) } else { b = mid }
                    }
                    curve.append(((a + b) / 2, q0))
                    break
                }
                (previous, fPrevious) = (sigma, value)
            }
        }
        return curve
    }
}
