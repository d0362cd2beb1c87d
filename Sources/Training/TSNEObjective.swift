import Datasets
import Foundation
import TensorAlgebra
import IsometrySupport

/// Parametric t-SNE's objective (van der Maaten 2009, docs/theory.md §8): for a batch of B
/// points with input affinities P (``InputAffinities``) and outputs y_i, the Student-t
/// affinities with α degrees of freedom
///
///     w_ij = (1 + ‖y_i − y_j‖²/α)^(−(α+1)/2),  q_ij = w_ij / Σ_{k≠l} w_kl,
///
/// the loss KL(P‖Q) = Σ_{i≠j} p_ij log(p_ij/q_ij) and its exact gradient (§8.2)
///
///     ∂KL/∂y_i = ((2α+2)/α) Σ_j (p_ij − q_ij)(1 + ‖y_i − y_j‖²/α)^(−1) (y_i − y_j).
///
/// Why it is shaped this way. P depends on the whole batch's inputs, which a ``Loss`` does not
/// see: the objective holds the dataset and looks the batch up by ``LossTargets/samples``, so
/// train with ``BatchComposition/fixed`` and P is computed once per batch and kept (up to
/// ``maximumCachedBatches``; past that, a batch's P is computed into a scratch matrix on every
/// visit). The distances of the outputs are one GEMM (Y·Yᵀ), the gradient another
/// (M·Y with M = (P − Q)∘U); every buffer is made for the batch size and reused, so a
/// training step allocates nothing once P is cached.
///
/// The loss is only valid on the batches of the dataset the objective was made with: it is
/// batch-scoped (``Loss/isBatchScoped``), so the trainer's `evaluate` refuses it; measure
/// another split with an objective of its own (``meanDivergence(of:)``).
public final class TSNEObjective<Scalar: BLASScalar>: @unchecked Sendable {
    public let data: TensorDataset
    public let perplexity: Double
    /// α of the Student-t kernel (1: the Cauchy kernel of t-SNE).
    public let degreesOfFreedom: Double
    public let batchSize: Int
    public let maximumCachedBatches: Int
    /// P of up to 1,024 batches is kept (1 MB each for batches of 500 in float32).
    public static var defaultMaximumCachedBatches: Int { 1024 }

    let affinities: InputAffinities<Scalar>
    var cache: [[Int]: Tensor<Scalar>] = [:]
    var scratchAffinities: Tensor<Scalar>
    /// Y·Yᵀ, then the Student-t factors u_ij = (1 + d_ij²/α)^(−1).
    var outputGram: Tensor<Scalar>
    /// w_ij, then M_ij = (p_ij − q_ij)·u_ij.
    var kernel: Tensor<Scalar>
    /// M·Y.
    var weightedOutputs: Tensor<Scalar>
    var outputWidth = 0

    /// An objective on `data` for batches of `batchSize`: refuses a batch of fewer than two, a
    /// perplexity not in (0, batchSize − 1) and α ≤ 0.
    public init(data: TensorDataset, perplexity: Double = 30, degreesOfFreedom: Double = 1, batchSize: Int,
                maximumCachedBatches: Int = defaultMaximumCachedBatches) throws(TrainingError) {
        if !(degreesOfFreedom > 0 && degreesOfFreedom.isFinite) {
            throw .invalidSetting(name: "degreesOfFreedom", value: "\(degreesOfFreedom)", expected: "a finite number above 0")
        }
        affinities = try InputAffinities(rows: batchSize, features: data.featureCount, perplexity: perplexity)
        self.data = data
        self.perplexity = perplexity
        self.degreesOfFreedom = degreesOfFreedom
        self.batchSize = batchSize
        self.maximumCachedBatches = maximumCachedBatches
        scratchAffinities = .zeros([batchSize, batchSize])
        outputGram = .zeros([batchSize, batchSize])
        kernel = .zeros([batchSize, batchSize])
        weightedOutputs = .zeros([batchSize, 0])
    }

    /// The loss the trainer calls: KL(P‖Q) of the batch and its gradient.
    public var loss: Loss<Scalar> {
        Loss(name: "tsne-kl", usesLabels: false, ignoresTargets: true, isBatchScoped: true) { [self] outputs, targets, gradient in
            let p = jointAffinities(of: targets.samples)
            return divergence(outputs, affinities: p, gradient: &gradient)
        }
    }

    /// The batches whose P the trainer keeps with ``BatchComposition/fixed``: one per full batch
    /// of ``data``, up to ``maximumCachedBatches``.
    public var fixedBatches: Int { Swift.min(data.count / batchSize, maximumCachedBatches) }

    /// Bytes the objective holds for batches of `batchSize` points of `features` values, outputs
    /// `outputWidth` wide, with `cachedBatches` batches' P kept: three B × B working matrices
    /// (P's scratch, the Gram matrix, the kernel) and M·Y, the affinities' buffers (the batch's
    /// features and Gram matrix, the distances and conditional probabilities in Double, the
    /// precisions) and the cache of P, B × B each. The shapes alone, before anything is made:
    /// what a command adds to the network's estimate (`LayerStack.checkTrainingMemory`'s
    /// `lossBytes`). The dictionary's keys (B indices per cached batch) are left out.
    public static func estimatedBytes(batchSize: Int, features: Int, outputWidth: Int, cachedBatches: Int) -> Double {
        let b = Double(batchSize), scalar = Double(MemoryLayout<Scalar>.stride), double = Double(MemoryLayout<Double>.stride)
        let working = (3 * b * b + b * Double(outputWidth)) * scalar
        let affinities = (b * Double(features) + b * b) * scalar + (2 * b * b + b) * double
        return working + affinities + Double(cachedBatches) * b * b * scalar
    }

    /// ``estimatedBytes(batchSize:features:outputWidth:cachedBatches:)`` of this objective when
    /// trained with ``BatchComposition/fixed`` (``fixedBatches`` batches cached).
    public func estimatedBytes(outputWidth: Int) -> Double {
        Self.estimatedBytes(batchSize: batchSize, features: data.featureCount, outputWidth: outputWidth, cachedBatches: fixedBatches)
    }

    /// Bytes of the buffers the objective holds now (what the estimate is checked against).
    public var allocatedBytes: Int {
        let scalar = MemoryLayout<Scalar>.stride, double = MemoryLayout<Double>.stride
        let tensors = [scratchAffinities, outputGram, kernel, weightedOutputs, affinities.inputs, affinities.gram] + Array(cache.values)
        return tensors.reduce(0) { $0 + $1.count * scalar }
            + (affinities.squaredDistances.count + affinities.conditional.count + affinities.precisions.count) * double
    }

    /// P of the batch `samples` of ``data`` (from the cache when computed before).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func jointAffinities(of samples: [Int]) -> Tensor<Scalar> {
        require(samples.count == batchSize, "TSNEObjective: a batch of \(samples.count) samples, the objective was made for \(batchSize)")
        if let p = cache[samples] { return p }
        affinities.inputs.withUnsafeMutableBufferPointer { data.gatherFeatures(samples[...], into: $0.baseAddress!) }
        if cache.count < maximumCachedBatches {
            var p = Tensor<Scalar>.zeros([batchSize, batchSize])
            affinities.compute(into: &p)
            cache[samples] = p
            return p
        }
        affinities.compute(into: &scratchAffinities)
        return scratchAffinities
    }

    /// KL(P‖Q) of `outputs` (`[B, k]`) against `p` (`[B, B]`); `gradient` (`[B, k]`) ← ∂KL/∂outputs.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func divergence(_ outputs: Tensor<Scalar>, affinities p: Tensor<Scalar>, gradient: inout Tensor<Scalar>) -> Double {
        let n = batchSize, k = outputs.count / max(outputs.shape.first ?? 1, 1)
        require(outputs.shape.count == 2 && outputs.shape.first == n && p.shape == [n, n] && gradient.shape == outputs.shape,
                "TSNEObjective.divergence: outputs \(outputs.shape), P \(p.shape), gradient \(gradient.shape) for batches of \(n)")
        if k != outputWidth {
            weightedOutputs = .zeros([n, k])
            outputWidth = k
        }
        let y = outputs
        matmul(y, y, transposeB: true, into: &outputGram)
        let alpha = Scalar(degreesOfFreedom), exponent = Scalar((degreesOfFreedom + 1) / 2)
        // 1 + d_ij²/α into the kernel first: the Gram matrix's diagonal is read by every pair.
        outputGram.withUnsafeBufferPointer { g in
            kernel.withUnsafeMutableBufferPointer { w in
                for i in 0 ..< n {
                    for j in 0 ..< n {
                        w[i * n + j] = 1 + Swift.max(0, g[i * n + i] + g[j * n + j] - 2 * g[i * n + j]) / alpha
                    }
                }
            }
        }
        // u_ij into the Gram matrix, w_ij = u_ij^((α+1)/2) into the kernel; Σ w in Double (B² terms).
        var total = 0.0
        outputGram.withUnsafeMutableBufferPointer { u in
            kernel.withUnsafeMutableBufferPointer { w in
                for i in 0 ..< n {
                    for j in 0 ..< n {
                        if i == j {
                            (u[i * n + j], w[i * n + j]) = (0, 0)
                            continue
                        }
                        let uij = 1 / w[i * n + j]
                        let wij = degreesOfFreedom == 1 ? uij : Scalar.pow(uij, exponent)
                        (u[i * n + j], w[i * n + j]) = (uij, wij)
                        total += Double(wij)
                    }
                }
            }
        }
        // KL in Double; the kernel becomes M = (P − Q)∘U.
        let inverseTotal = 1 / total
        var kl = 0.0
        p.withUnsafeBufferPointer { pp in
            outputGram.withUnsafeBufferPointer { u in
                kernel.withUnsafeMutableBufferPointer { w in
                    for i in 0 ..< n {
                        for j in 0 ..< n where j != i {
                            let q = Double(w[i * n + j]) * inverseTotal
                            let pij = Double(pp[i * n + j])
                            if pij > 0 { kl += pij * Foundation.log(pij / Swift.max(q, Double.leastNormalMagnitude)) }
                            w[i * n + j] = Scalar(pij - q) * u[i * n + j]
                        }
                    }
                }
            }
        }
        // ∂KL/∂y_i = c (Σ_j M_ij) y_i − c (M·Y)_i.
        matmul(kernel, y, into: &weightedOutputs)
        let c = Scalar((2 * degreesOfFreedom + 2) / degreesOfFreedom)
        gradient.withUnsafeMutableBufferPointer { out in
            y.withUnsafeBufferPointer { yy in
                kernel.withUnsafeBufferPointer { m in
                    weightedOutputs.withUnsafeBufferPointer { my in
                        for i in 0 ..< n {
                            var rowSum: Scalar = 0
                            for j in 0 ..< n { rowSum += m[i * n + j] }
                            for a in 0 ..< k { out[i * k + a] = c * (rowSum * yy[i * k + a] - my[i * k + a]) }
                        }
                    }
                }
            }
        }
        return kl
    }

    /// The mean of KL(P‖Q) over the consecutive full batches of ``batchSize`` rows of
    /// `embedding` (`[data.count, k]`, row i the image of sample i); the last
    /// `data.count mod batchSize` samples are left out, as the trainer leaves them out of an epoch.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func meanDivergence(of embedding: Tensor<Scalar>) -> Double {
        let n = batchSize
        require(embedding.shape.first == data.count, "TSNEObjective.meanDivergence: an embedding of \(embedding.shape) for \(data.count) samples")
        let k = embedding.count / max(data.count, 1)
        var rows = Tensor<Scalar>.zeros([n, k]), gradient = Tensor<Scalar>.zeros([n, k])
        var sum = 0.0
        let batches = data.count / n
        for b in 0 ..< batches {
            rows.withUnsafeMutableBufferPointer { r in
                embedding.withUnsafeBufferPointer { e in r.baseAddress!.update(from: e.baseAddress! + b * n * k, count: n * k) }
            }
            let samples = Array(b * n ..< (b + 1) * n)
            sum += divergence(rows, affinities: jointAffinities(of: samples), gradient: &gradient)
        }
        return sum / Double(max(batches, 1))
    }
}
