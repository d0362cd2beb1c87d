import TensorAlgebra
import Foundation
import Networks

/// A grid of σ × q0 for identity-initialised networks: at each point, the fraction of
/// non-vanishing eigenvalues and log10 of the mean eigenvalue, measured and theoretical.
///
/// Points are numbered σ-major; shard k of n takes the points whose number is k − 1 modulo n,
/// so shards have equal work and every point's seed (`seed + index`) is the same however the
/// grid is split. `merge` joins the shards' rows back into one grid.
public struct SpectrumSweep: Sendable, Codable, Equatable {
    public var sigmas: [Double]
    public var q0s: [Double]
    public var activation: Activation = .hardTanh
    public var layers = 20
    public var width = 794
    public var samples = 10
    public var seed: UInt64 = 0
    public var precision: Precision = .double

    /// σ evenly spaced, q0 evenly spaced on a log scale.
    public init(sigma: ClosedRange<Double>, sigmaSteps: Int, q0: ClosedRange<Double>, q0Steps: Int) {
        sigmas = (0 ..< sigmaSteps).map { sigmaSteps == 1 ? sigma.lowerBound
            : sigma.lowerBound + (sigma.upperBound - sigma.lowerBound) * Double($0) / Double(sigmaSteps - 1) }
        q0s = (0 ..< q0Steps).map { q0Steps == 1 ? q0.lowerBound
            : exp(log(q0.lowerBound) + (log(q0.upperBound) - log(q0.lowerBound)) * Double($0) / Double(q0Steps - 1)) }
    }

    public var pointCount: Int { sigmas.count * q0s.count }

    public struct Point: Sendable, Codable, Equatable {
        public var index: Int
        public var sigma: Double
        public var q0: Double
        public var measuredFraction: Double
        public var theoryFraction: Double
        public var measuredLog10Mean: Double
        public var theoryLog10Mean: Double
    }

    /// The point numbers of shard `k` (1-based) of `n`.
    public func indices(shard k: Int, of n: Int) -> [Int] {
        Array(stride(from: k - 1, to: pointCount, by: n))
    }

    /// Measures one grid point.
    public func evaluate(_ index: Int) throws -> Point {
        let sigma = sigmas[index / q0s.count], q0 = q0s[index % q0s.count]
        var c = SpectrumConfiguration()
        c.activation = activation
        c.initialization = .identity
        c.layers = layers
        c.width = width
        c.samples = samples
        c.seed = seed &+ UInt64(index)
        c.sigma = sigma
        c.q0 = q0
        c.precision = precision
        let report = try SpectrumExperiment.run(c)
        let values = report.eigenvalues.flatMap { $0 }
        let law = report.law!
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

    /// A CSV whose first line records the grid (as JSON), so shards can be checked to belong together.
    public func csv(_ points: [Point]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let header = String(decoding: try! encoder.encode(self), as: UTF8.self)
        var lines = ["# isometry spectrum sweep \(header)", SpectrumSweep.columns]
        for p in points.sorted(by: { $0.index < $1.index }) {
            lines.append([String(p.index), "\(p.sigma)", "\(p.q0)", "\(p.measuredFraction)", "\(p.theoryFraction)",
                          "\(p.measuredLog10Mean)", "\(p.theoryLog10Mean)"].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Why a sweep file was refused.
    public struct FileError: Error, CustomStringConvertible {
        public let path: String
        public let problem: String
        public var description: String { "\(path): \(problem)" }
    }

    /// Parses a CSV written by `csv(_:)`.
    public static func read(_ text: String, path: String) throws -> (SpectrumSweep, [Point]) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        let prefix = "# isometry spectrum sweep "
        guard let first = lines.first, first.hasPrefix(prefix) else {
            throw FileError(path: path, problem: "not a sweep file (line 1 should start with '\(prefix)')")
        }
        guard let sweep = try? JSONDecoder().decode(SpectrumSweep.self, from: Data(first.dropFirst(prefix.count).utf8)) else {
            throw FileError(path: path, problem: "line 1: the grid description is not valid")
        }
        guard lines.count >= 2, lines[1] == columns else {
            throw FileError(path: path, problem: "line 2: expected the header '\(columns)'")
        }
        var points: [Point] = []
        for (offset, line) in lines.dropFirst(2).enumerated() {
            let fields = line.split(separator: ",").map(String.init)
            guard fields.count == 7, let index = Int(fields[0]), (0 ..< sweep.pointCount).contains(index),
                  let values = Optional(fields.dropFirst().compactMap(Double.init)), values.count == 6
            else { throw FileError(path: path, problem: "line \(offset + 3): expected 7 numeric fields with an index below \(sweep.pointCount)") }
            points.append(Point(index: index, sigma: values[0], q0: values[1], measuredFraction: values[2],
                                theoryFraction: values[3], measuredLog10Mean: values[4], theoryLog10Mean: values[5]))
        }
        return (sweep, points)
    }

    /// Joins shards: they must describe the same grid, overlap nowhere and cover it all.
    public static func merge(_ parts: [(path: String, text: String)]) throws -> (SpectrumSweep, [Point]) {
        guard let firstPart = parts.first else { throw FileError(path: "merge", problem: "no files given") }
        let (sweep, _) = try read(firstPart.text, path: firstPart.path)
        var seen: [Int: String] = [:]
        var points: [Point] = []
        for part in parts {
            let (other, rows) = try read(part.text, path: part.path)
            if other != sweep {
                throw FileError(path: part.path, problem: "describes a different grid than \(firstPart.path)")
            }
            for row in rows {
                if let earlier = seen[row.index] {
                    throw FileError(path: part.path, problem: "point \(row.index) is also in \(earlier)")
                }
                seen[row.index] = part.path
                points.append(row)
            }
        }
        let missing = (0 ..< sweep.pointCount).filter { seen[$0] == nil }
        if !missing.isEmpty {
            throw FileError(path: "merge", problem: "\(missing.count) of \(sweep.pointCount) grid points are missing (first: \(missing[0])); is a shard absent?")
        }
        return (sweep, points.sorted { $0.index < $1.index })
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
