import Foundation
import TensorAlgebra
import IsometrySupport

/// t-SNE's input affinities P of one batch (docs/theory.md §8.1): Gaussian kernels on the
/// squared Euclidean distances, each point's precision found by binary search so that its
/// conditional distribution has the entropy log(perplexity), then symmetrised,
/// p_ij = (p_j|i + p_i|j) / Σ_kl p_l|k (= 2B), floored at Double's machine epsilon, p_ii = 0.
///
/// Why it is shaped this way. The search and the normalisation follow scikit-learn's
/// `_binary_search_perplexity` and `_joint_probabilities` step for step (start at precision 1,
/// double or halve until bracketed, then bisect; stop within 1e-5 nats or after 100 steps), in
/// Double whatever the features' precision, so that on the same points the calculation is
/// scikit-learn's to rounding. The points are not the peers', though: here P is calibrated
/// among a batch's members (each image's batch-mates, 500 by default), whereas scikit-learn and
/// openTSNE calibrate over the whole data set with about 3·perplexity nearest neighbours. The
/// batch-level P is a different target, and a likely part of the quality gap to the peers
/// (docs/benchmarks.md, the t-SNE section). The distances are one GEMM, ‖x_i‖² + ‖x_j‖² −
/// 2 x_i·x_j; every buffer is made at init for `rows` points and reused.
public final class InputAffinities<Scalar: BLASScalar> {
    public let rows: Int
    public let features: Int
    public let perplexity: Double

    /// The batch's features, `[rows, features]`: fill it, then call ``compute(into:)``.
    public var inputs: Tensor<Scalar>
    var gram: Tensor<Scalar>
    var squaredDistances: [Double]
    /// p_j|i, row-major: row i is point i's conditional distribution.
    public private(set) var conditional: [Double]
    /// The precision β_i = 1/(2σ_i²) each point's search ended at.
    public private(set) var precisions: [Double]

    /// Affinities of batches of `rows` points of `features` values each; the perplexity must lie
    /// in (0, rows − 1) (a point has rows − 1 neighbours; a perplexity k means about k of them).
    public init(rows: Int, features: Int, perplexity: Double) throws(TrainingError) {
        if rows < 2 { throw .invalidSetting(name: "batchSize", value: "\(rows)", expected: "at least 2 (t-SNE compares points of a batch)") }
        if !(perplexity > 0 && perplexity < Double(rows - 1)) {
            throw .invalidSetting(name: "perplexity", value: "\(perplexity)", expected: "in (0, \(rows - 1)): below the batch size \(rows) minus one")
        }
        self.rows = rows
        self.features = features
        self.perplexity = perplexity
        inputs = .zeros([rows, features])
        gram = .zeros([rows, rows])
        squaredDistances = Array(repeating: 0, count: rows * rows)
        conditional = Array(repeating: 0, count: rows * rows)
        precisions = Array(repeating: 1, count: rows)
    }

    /// The joint affinities of ``inputs`` into `p` (`[rows, rows]`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func compute(into p: inout Tensor<Scalar>) {
        require(p.shape == [rows, rows], "InputAffinities.compute: P has shape \(p.shape), expected [\(rows), \(rows)]")
        pairwiseSquaredDistances()
        calibrate()
        symmetrise(into: &p)
    }

    /// ‖x_i − x_j‖² from one GEMM, clipped at 0 (rounding may make a tiny one negative).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func pairwiseSquaredDistances() {
        matmul(inputs, inputs, transposeB: true, into: &gram)
        let n = rows
        gram.withUnsafeBufferPointer { g in
            squaredDistances.withUnsafeMutableBufferPointer { d in
                for i in 0 ..< n {
                    for j in 0 ..< n {
                        d[i * n + j] = i == j ? 0 : Swift.max(0, Double(g[i * n + i]) + Double(g[j * n + j]) - 2 * Double(g[i * n + j]))
                    }
                }
            }
        }
    }

    /// scikit-learn's `_binary_search_perplexity` on the full distance matrix (no neighbour lists).
    func calibrate() {
        let n = rows
        let desiredEntropy = Foundation.log(perplexity)
        squaredDistances.withUnsafeBufferPointer { d in
            conditional.withUnsafeMutableBufferPointer { p in
                for i in 0 ..< n {
                    var low = -Double.infinity, high = Double.infinity, beta = 1.0
                    let row = i * n
                    for _ in 0 ..< 100 {
                        var sum = 0.0
                        for j in 0 ..< n where j != i {
                            p[row + j] = Foundation.exp(-d[row + j] * beta)
                            sum += p[row + j]
                        }
                        p[row + i] = 0
                        if sum == 0 { sum = 1e-8 }
                        var weighted = 0.0
                        for j in 0 ..< n {
                            p[row + j] /= sum
                            weighted += d[row + j] * p[row + j]
                        }
                        let difference = Foundation.log(sum) + beta * weighted - desiredEntropy
                        if Swift.abs(difference) <= 1e-5 { break }
                        if difference > 0 {
                            low = beta
                            beta = high == .infinity ? beta * 2 : (beta + high) / 2
                        } else {
                            high = beta
                            beta = low == -.infinity ? beta / 2 : (beta + low) / 2
                        }
                    }
                    precisions[i] = beta
                }
            }
        }
    }

    /// p_ij = max((p_j|i + p_i|j) / Σ, ε), p_ii = 0 (scikit-learn's `_joint_probabilities`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func symmetrise(into p: inout Tensor<Scalar>) {
        let n = rows
        var total = 0.0
        for v in conditional { total += v }
        total = Swift.max(2 * total, Double.ulpOfOne) / 2
        p.withUnsafeMutableBufferPointer { out in
            conditional.withUnsafeBufferPointer { c in
                for i in 0 ..< n {
                    for j in 0 ..< n {
                        out[i * n + j] = i == j ? 0 : Scalar(Swift.max((c[i * n + j] + c[j * n + i]) / (2 * total), Double.ulpOfOne))
                    }
                }
            }
        }
    }
}
