import Foundation
import Networks
import TensorAlgebra
import IsometrySupport

/// The logits of a piecewise-linear network as an exact linear map of its input, instance by
/// instance (Li et al.; docs/theory.md §4): F(x) = W(x)·x + b(x).
///
/// With φ(h) = D h + s on the region of x (hard-tanh: D = 1 inside (−1, 1), s = ±1 when
/// saturated; ReLU: D = [h > 0], s = 0; linear: D = 1, s = 0), the backward rows R_L = W^L[class rows], β = b^L,
/// and for l = L−1 … 1: β += R (D_l b^l + s_l), R ← (R D_l) W^l give W(x) = R and b(x) = β.
/// A batch stacks the C rows of every instance, so each layer is one GEMM of
/// [B·C, N]·[N, N]: C·N² per instance and layer instead of N³. For a whole dataset in
/// batches, see ``DatasetLinearisation``.
public struct InstanceLinearisation<Scalar: BLASScalar>: Sendable {
    /// [count, C, N]: W(x) row by row (the last C input coordinates are the zero class dimensions).
    public var weights: Tensor<Scalar>
    /// [count, C]: b(x), the share of each logit that no feature owns.
    public var biases: Tensor<Scalar>
    /// [count, C]: the logits of the forward pass.
    public var logits: Tensor<Scalar>
    /// max |W(x)x + b(x) − F(x)| / max(1, |F(x)|) over the batch.
    public var completenessError: Double

    /// Linearises the logits at every row of `inputs`: `[count, D]` features, or rows already
    /// padded to the width `[count, D + C]` (class columns zero).
    ///
    /// Throws when the classifier has no exact linearisation (an activation other than
    /// hard-tanh, ReLU or linear, or non-finite weights) or when the inputs do not fit it
    /// (another width, not a matrix, NaN or infinity in a row).
    public init(_ classifier: IdentityClassifier<Scalar>, inputs: Tensor<Scalar>) throws(InterpretationError) {
        try classifier.checkInterpretable()
        try classifier.checkInputs(inputs)
        self.init(checked: classifier, inputs: classifier.padded(inputs))
    }

    /// The linearisation of inputs already checked (`checkInterpretable`, `checkInputs`) and
    /// padded to the width: the dataset linearisation checks the classifier once, not per batch.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    init(checked classifier: IdentityClassifier<Scalar>, inputs: Tensor<Scalar>) {
        let activation = classifier.activation
        let (count, n, c, d, layers) = (inputs.shape[0], classifier.width, classifier.classes, classifier.inputFeatures, classifier.layers)
        let network = classifier.network
        // Forward pass, keeping every pre-activation (one GEMM per layer for the batch).
        let hs = network.preActivations(inputs)
        // R: [count·C, N], starting as the class rows of W^L for every instance.
        var rows = Tensor<Scalar>.zeros([count * c, n])
        var beta = Tensor<Scalar>.zeros([count, c])
        let last = network.weights[layers - 1]
        rows.withUnsafeMutableBufferPointer { r in
            last.withUnsafeBufferPointer { w in
                for i in 0 ..< count { (r.baseAddress! + i * c * n).update(from: w.baseAddress! + d * n, count: c * n) }
            }
        }
        if let b = network.biases[layers - 1] {
            beta.withUnsafeMutableBufferPointer { e in
                for i in 0 ..< count { for k in 0 ..< c { e[i * c + k] = b[d + k] } }
            }
        }
        var next = Tensor<Scalar>.zeros([count * c, n])
        for l in stride(from: layers - 2, through: 0, by: -1) {
            let bias = network.biases[l]?.scalars
            let h = hs[l]
            // β += R (D b + s), then R ← R D (column scaling per instance), then R ← R·W^l.
            h.withUnsafeBufferPointer { he in
                beta.withUnsafeMutableBufferPointer { be in
                    rows.withUnsafeMutableBufferPointer { r in
                        let hardTanh = activation == .hardTanh, relu = activation == .relu
                        for i in 0 ..< count {
                            for j in 0 ..< n {
                                let v = he[i * n + j]
                                let active = hardTanh ? abs(v) < 1 : (relu ? v > 0 : true)
                                let shift: Scalar = active ? (bias?[j] ?? 0) : (hardTanh ? (v > 0 ? 1 : -1) : 0)
                                if active && shift == 0 { continue }
                                for k in 0 ..< c {
                                    let index = (i * c + k) * n + j
                                    be[i * c + k] += r[index] * shift
                                    if !active { r[index] = 0 }
                                }
                            }
                        }
                    }
                }
            }
            matmul(rows, network.weights[l], into: &next)
            swap(&rows, &next)
        }
        weights = rows.reshaped(count, c, n)
        biases = beta
        // Logits, and the completeness check W(x)x + b(x) = F(x).
        var logits = Tensor<Scalar>.zeros([count, c])
        var worst = 0.0
        let lastH = hs[layers - 1]
        lastH.withUnsafeBufferPointer { he in
            logits.withUnsafeMutableBufferPointer { le in
                rows.withUnsafeBufferPointer { r in
                    inputs.withUnsafeBufferPointer { xe in
                        beta.withUnsafeBufferPointer { be in
                            for i in 0 ..< count {
                                for k in 0 ..< c {
                                    let f = he[i * n + d + k]
                                    le[i * c + k] = f
                                    var total = Double(be[i * c + k])
                                    for j in 0 ..< n { total += Double(r[(i * c + k) * n + j]) * Double(xe[i * n + j]) }
                                    worst = max(worst, abs(total - Double(f)) / max(1, abs(Double(f))))
                                }
                            }
                        }
                    }
                }
            }
        }
        self.logits = logits
        completenessError = worst
    }

    /// W(x)_c ⊙ x over the features of instance `i`: each pixel's exact share of logit c.
    /// `input` is the instance's row (its first D features; any prefix of the width works).
    public func attribution(instance i: Int, class k: Int, input: [Scalar]) -> [Double] {
        let (count, c, n) = (weights.shape[0], weights.shape[1], weights.shape[2])
        require(i >= 0 && i < count, "attribution: instance \(i) is out of range for \(count) instances")
        require(k >= 0 && k < c, "attribution: class \(k) is out of range for \(c) classes")
        require(input.count <= n, "attribution: \(input.count) input values for rows of width \(n)")
        return weights.withUnsafeBufferPointer { e in
            input.indices.map { j in Double(e[(i * c + k) * n + j]) * Double(input[j]) }
        }
    }
}

extension IdentityClassifier {
    /// Throws unless `inputs` is a matrix of finite rows of D features (or D + C, padded).
    func checkInputs(_ inputs: Tensor<Scalar>) throws(InterpretationError) {
        guard inputs.rank == 2 else { throw .inputNotAMatrix(shape: inputs.shape) }
        let columns = inputs.shape[1]
        guard columns == inputFeatures || columns == width else {
            throw .inputWidthMismatch(found: columns, expected: inputFeatures)
        }
        let bad: Int? = inputs.withUnsafeBufferPointer { e in
            e.firstIndex { !$0.isFinite }
        }
        if let bad { throw .nonFiniteInput(sample: bad / columns) }
    }
}
