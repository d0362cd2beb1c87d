import Dispatch
import Foundation
import Networks
@_spi(RawBLAS) import TensorAlgebra
import IsometrySupport

/// The buffers of one mini-batch and the passes over them: GEMMs into memory allocated once.
///
///     forward   h^l = x^{l−1}·W^lᵀ + b^l,  x^l = φ(h^l)          (rows are samples)
///     loss      logits = h^L[:, D..<N],  ℓ = mean(−log softmax(logits)[label])
///     backward  δ^L = (softmax − onehot)/B in the class columns, 0 elsewhere
///               ∂W^l = δ^lᵀ·x^{l−1},  ∂b^l = Σ_rows δ^l
///               δ^{l−1} = (δ^l·W^l) ⊙ φ'(h^{l−1})   (not for l = 1: the input needs no gradient)
///
/// Two exact savings: the loss reads only the class columns of the last layer, so the last
/// forward GEMM computes those C columns alone (C·N instead of N² per row), and δ^L lives in
/// those C columns, so ∂W^L has C non-zero rows and δ^{L−1} = δ^L_C·W^L[C, :] is rank C.
/// With plain SGD the update is folded into the weight-gradient GEMM,
/// W ← (1 − ηλ)W − η·δᵀx (α = −η, β = 1 − ηλ), after W has served δ^{l−1}.
///
/// One batch of activations per layer, not two: for hard-tanh, ReLU and linear layers the
/// derivative is read from x^l = φ(h^l) itself (|h| ≥ 1 ⇔ |φ(h)| ≥ 1, h ≤ 0 ⇔ max(h, 0) ≤ 0),
/// so the forward GEMM writes into x^l and φ is applied in place; only tanh and erf, whose
/// derivative needs h, keep the hidden layers' pre-activations (allocated on first use). The
/// last layer's pre-activation (the logits) is always kept.
public final class BatchWorkspace<Scalar: BLASScalar> {
    public let batchSize: Int
    public let width: Int
    public let layers: Int
    /// Columns [classStart, width) are the class dimensions.
    public let classStart: Int
    /// The labels of the current batch, filled by the caller with the input.
    public var labels: [Int]
    /// The predicted class of each row after `loss`.
    public private(set) var predictions: [Int]

    // x^0 … x^L, h^L and two δ buffers (current and next layer's) from the start; h^1 … h^{L−1}
    // only for activations whose derivative needs them, and the gradient buffers only once
    // `backward` needs them (the fused SGD step never does).
    private(set) var x: [UnsafeMutablePointer<Scalar>] = []
    private(set) lazy var logits: UnsafeMutablePointer<Scalar> = allocate(batchSize * width)
    private(set) lazy var hidden: [UnsafeMutablePointer<Scalar>] = (1 ..< layers).map { _ in allocate(batchSize * width) }
    private(set) var deltas: [UnsafeMutablePointer<Scalar>] = []
    /// The activation of the last `forward`, which says where the pre-activations are.
    private var forwardActivation: Activation?
    private(set) lazy var weightGradients: [UnsafeMutablePointer<Scalar>] = (0 ..< layers).map { _ in allocate(width * width) }
    private(set) lazy var biasGradients: [UnsafeMutablePointer<Scalar>] = (0 ..< layers).map { _ in allocate(width) }
    private var probabilities: [Scalar]
    private var allocations: [UnsafeMutablePointer<Scalar>] = []

    public init(batchSize: Int, width: Int, layers: Int, classStart: Int) {
        require(batchSize >= 1 && layers >= 1 && (0 ..< width).contains(classStart),
                "BatchWorkspace: batch \(batchSize), \(layers) layers, class columns from \(classStart) of \(width)")
        self.batchSize = batchSize
        self.width = width
        self.layers = layers
        self.classStart = classStart
        labels = [Int](repeating: 0, count: batchSize)
        predictions = [Int](repeating: 0, count: batchSize)
        probabilities = [Scalar](repeating: 0, count: width - classStart)
        let activationSize = batchSize * width
        x = (0 ... layers).map { _ in allocate(activationSize) }
        deltas = (0 ..< 2).map { _ in allocate(activationSize) }
        _ = logits
    }

    /// Whether the derivative of `activation` needs h (otherwise it is read from x = φ(h)).
    static func keepsPreActivations(_ activation: Activation) -> Bool {
        switch activation {
        case .hardTanh, .relu, .linear: false
        case .tanh, .erf: true
        }
    }

    /// Where the forward pass writes h^{l+1}, for 0-based layer index l: the logits buffer for
    /// the last layer, a pre-activation buffer when the activation needs one, else x^{l+1}
    /// itself (φ is then applied in place).
    private func preActivationBuffer(_ l: Int, _ activation: Activation) -> UnsafeMutablePointer<Scalar> {
        if l == layers - 1 { return logits }
        return Self.keepsPreActivations(activation) ? hidden[l] : x[l + 1]
    }

    /// Bytes of the buffers allocated so far.
    var allocatedBytes: Int { allocatedElements * MemoryLayout<Scalar>.stride }
    private var allocatedElements = 0

    /// Zeroed, 64-byte aligned, freed with the workspace.
    private func allocate(_ count: Int) -> UnsafeMutablePointer<Scalar> {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Scalar>.stride, alignment: 64)
            .bindMemory(to: Scalar.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        allocations.append(pointer)
        allocatedElements += max(count, 1)
        return pointer
    }

    deinit {
        for pointer in allocations { UnsafeMutableRawPointer(pointer).deallocate() }
    }

    /// The input rows x^0, [batchSize, width], for the caller to fill.
    @_spi(RawBLAS) public var input: UnsafeMutablePointer<Scalar> { x[0] }

    // MARK: Inspection (copies)

    /// x^l as a tensor (l = 0 is the input). Only the class columns of x^L are computed.
    public func activation(_ l: Int) -> Tensor<Scalar> { copy(x[l], [batchSize, width]) }
    /// h^l as a tensor, l = 1 … L. Only the class columns of h^L are computed. Below the last
    /// layer, h^l is kept only for tanh and erf (hard-tanh, ReLU and linear layers are
    /// differentiated from x^l), and for a linear network, where it is x^l.
    public func preActivation(_ l: Int) -> Tensor<Scalar> {
        require((1 ... layers).contains(l), "preActivation: layer \(l) of 1…\(layers)")
        if l == layers { return copy(logits, [batchSize, width]) }
        let activation = forwardActivation ?? .linear
        require(Self.keepsPreActivations(activation) || activation == .linear,
                "preActivation(\(l)): the workspace keeps the pre-activations below the last layer only for tanh and erf; a \(activation.rawValue) layer is differentiated from its activation(\(l))")
        return copy(preActivationBuffer(l - 1, activation), [batchSize, width])
    }
    /// ∂ℓ/∂W^l after `backward`, l = 1 … L.
    public func weightGradient(_ l: Int) -> Tensor<Scalar> { copy(weightGradients[l - 1], [width, width]) }
    /// ∂ℓ/∂b^l after `backward`, l = 1 … L.
    public func biasGradient(_ l: Int) -> Tensor<Scalar> { copy(biasGradients[l - 1], [width]) }

    private func copy(_ pointer: UnsafeMutablePointer<Scalar>, _ shape: [Int]) -> Tensor<Scalar> {
        Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: pointer, count: shape.reduce(1, *))))
    }

    // MARK: Passes

    private func gemm(
        _ transposeA: Bool, _ transposeB: Bool, m: Int, n: Int, k: Int, alpha: Scalar = 1,
        a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
        beta: Scalar = 0, c: UnsafeMutablePointer<Scalar>, ldc: Int
    ) {
        Scalar.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                    alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// Runs the batch in `input` through the network.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(_ network: MultilayerPerceptron<Scalar>) {
        require(network.layerCount == layers && network.inputWidth == width,
                "forward: workspace for \(layers) layers of \(width), network has \(network.layerCount) of \(network.inputWidth)")
        let n = width
        let activation = network.activation
        forwardActivation = activation
        for l in 0 ..< layers {
            let w = network.weights[l].unsafeReadAddress
            // The last layer only needs its class columns: rows classStart… of W.
            let (column, columns) = l == layers - 1 ? (classStart, n - classStart) : (0, n)
            let h = preActivationBuffer(l, activation)
            gemm(false, true, m: batchSize, n: columns, k: n, a: x[l], lda: n, b: w + column * n, ldb: n,
                 c: h + column, ldc: n)
            let bias = network.biases[l].map { $0.unsafeReadAddress }
            apply(activation, from: h, to: x[l + 1], bias: bias, columns: column ..< n)
        }
    }

    /// h ← h + b (if any), x = φ(h), on the given columns of every row (h and x may be the
    /// same buffer: every element is read before it is written).
    private func apply(_ activation: Activation, from h: UnsafeMutablePointer<Scalar>, to x: UnsafeMutablePointer<Scalar>,
                       bias: UnsafePointer<Scalar>?, columns: Range<Int>) {
        let n = width
        for row in 0 ..< batchSize {
            let hr = h + row * n, xr = x + row * n
            if let bias { for j in columns { hr[j] += bias[j] } }
            switch activation {
            case .hardTanh: for j in columns { xr[j] = min(max(hr[j], -1), 1) }
            case .relu: for j in columns { xr[j] = max(hr[j], 0) }
            case .linear: for j in columns { xr[j] = hr[j] }
            case .tanh, .erf: for j in columns { xr[j] = activation(hr[j]) }
            }
        }
    }

    /// Mean softmax cross-entropy of the logits against `labels` and the number of correct
    /// predictions; with `gradient`, leaves δ^L in `deltas[0]`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func loss(gradient: Bool) -> (loss: Double, correct: Int) {
        let n = width
        let classes = n - classStart
        let scale = 1 / Scalar(batchSize)
        var total = 0.0
        var correct = 0
        let last = logits
        for row in 0 ..< batchSize {
            let label = labels[row]
            let logits = last + row * n + classStart
            var best = 0
            for c in 1 ..< classes where logits[c] > logits[best] { best = c }
            predictions[row] = best
            if best == label { correct += 1 }
            // Stable log-softmax: subtract the largest logit.
            let largest = logits[best]
            var sum: Scalar = 0
            for c in 0 ..< classes {
                probabilities[c] = Scalar.exp(logits[c] - largest)
                sum += probabilities[c]
            }
            total -= Double(logits[label] - largest - Scalar.log(sum))
            if gradient {
                let d = deltas[0] + row * n
                d.update(repeating: 0, count: classStart)
                for c in 0 ..< classes { d[classStart + c] = probabilities[c] / sum * scale }
                d[classStart + label] -= scale
            }
        }
        return (total / Double(batchSize), correct)
    }

    /// δ^{l−1} = (δ^l·W^l) ⊙ φ'(h^{l−1}) into `target`, for 0-based layer index l ≥ 1.
    private func propagate(_ network: MultilayerPerceptron<Scalar>, layer l: Int, from delta: UnsafeMutablePointer<Scalar>,
                           to target: UnsafeMutablePointer<Scalar>) {
        let n = width
        let w = network.weights[l].unsafeReadAddress
        if l == layers - 1 {
            // δ^L is zero outside the class columns: a rank-C product.
            gemm(false, false, m: batchSize, n: n, k: n - classStart, a: delta + classStart, lda: n,
                 b: w + classStart * n, ldb: n, c: target, ldc: n)
        } else {
            gemm(false, false, m: batchSize, n: n, k: n, a: delta, lda: n, b: w, ldb: n, c: target, ldc: n)
        }
        let count = batchSize * n
        // φ'(h^l) for 1-based layer l = the 0-based index here: from x^l = φ(h^l) where that
        // decides it exactly, from h^l where the derivative needs it.
        let activated = x[l]
        switch network.activation {
        case .hardTanh: for i in 0 ..< count where abs(activated[i]) >= 1 { target[i] = 0 }
        case .relu: for i in 0 ..< count where activated[i] <= 0 { target[i] = 0 }
        case .linear: break
        case .tanh, .erf:
            let activation = network.activation
            let previous = preActivationBuffer(l - 1, activation)
            for i in 0 ..< count { target[i] *= activation.derivative(previous[i]) }
        }
    }

    /// ∂W^l ← α·δ^lᵀ·x^{l−1} + β·∂W^l written to `target` (a gradient buffer or W^l itself),
    /// and the bias likewise, for 0-based layer index l.
    private func accumulate(layer l: Int, delta: UnsafeMutablePointer<Scalar>, alpha: Scalar, beta: Scalar,
                            weight target: UnsafeMutablePointer<Scalar>, bias: UnsafeMutablePointer<Scalar>?) {
        let n = width
        if l == layers - 1 {
            // Only the C class rows of δ^Lᵀx are non-zero.
            if beta != 1 {
                for i in 0 ..< classStart * n { target[i] = beta == 0 ? 0 : beta * target[i] }
            }
            gemm(true, false, m: n - classStart, n: n, k: batchSize, alpha: alpha, a: delta + classStart, lda: n,
                 b: x[l], ldb: n, beta: beta, c: target + classStart * n, ldc: n)
        } else {
            gemm(true, false, m: n, n: n, k: batchSize, alpha: alpha, a: delta, lda: n, b: x[l], ldb: n,
                 beta: beta, c: target, ldc: n)
        }
        if let bias {
            for j in 0 ..< n {
                var total: Scalar = 0
                for row in 0 ..< batchSize { total += delta[row * n + j] }
                bias[j] = beta * bias[j] + alpha * total
            }
        }
    }

    /// Fills the gradient buffers from δ^L (left by `loss(gradient: true)`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backward(_ network: MultilayerPerceptron<Scalar>) {
        var current = deltas[0], spare = deltas[1]
        for l in stride(from: layers - 1, through: 0, by: -1) {
            accumulate(layer: l, delta: current, alpha: 1, beta: 0, weight: weightGradients[l],
                       bias: network.biases[l] == nil ? nil : biasGradients[l])
            if l == 0 { break }
            propagate(network, layer: l, from: current, to: spare)
            swap(&current, &spare)
        }
    }

    /// Backward pass and plain SGD step in one: each W^l, once it has served δ^{l−1}, becomes
    /// (1 − ηλ)W^l − η·δ^lᵀx^{l−1}, with no gradient buffer and no separate update pass.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func backwardWithSGD(_ network: inout MultilayerPerceptron<Scalar>, learningRate: Double, weightDecay: Double) {
        let alpha = Scalar(-learningRate)
        let beta = Scalar(1 - learningRate * weightDecay)
        var current = deltas[0], spare = deltas[1]
        for l in stride(from: layers - 1, through: 0, by: -1) {
            if l > 0 { propagate(network, layer: l, from: current, to: spare) }
            let w = network.weights[l].makeUniqueStorage()
            let b = network.biases[l] == nil ? nil : network.biases[l]!.makeUniqueStorage()
            accumulate(layer: l, delta: current, alpha: alpha, beta: beta, weight: w, bias: b)
            swap(&current, &spare)
        }
    }
}
