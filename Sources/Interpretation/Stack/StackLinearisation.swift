import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The exact linearisation F(x) = W(x)·x + b(x) of any piecewise-linear ``LayerStack`` —
/// dense, convolution (1-D, 2-D), max pool (winners fixed), average and global average pool,
/// flatten, and ReLU, leaky ReLU, hard-tanh or identity activations — instance by instance and
/// batched (docs/theory.md §4).
///
/// On the region of x every activation is φ(h) = P ⊙ h + s with P the slopes the forward pass
/// keeps as its *pattern* (1 passing, 0 off or saturated, the slope of a negative leaky ReLU)
/// and s = φ(h) − P ⊙ h the constant a saturated hard-tanh unit outputs (±1; 0 for every other
/// unit), and every max pool is the selection of the winners it kept. Backward rows, from
/// R = the chosen output units and β = 0, through each layer's vjp at its pattern:
/// dense: β += R·b, R ← R·W; convolution: β += Σ_positions R·b, R ← convᵀ(R);
/// activation: β += R·s, R ← R·diag(P); max pool: R routed onto the winners; average pools:
/// R ← poolᵀ(R); flatten: nothing. No convolution is unrolled into a matrix. The rows of all
/// instances are stacked, so a dense layer is one GEMM of [B·O, out]·[out, in] for the batch
/// (O chosen outputs); batches are cut into chunks whose buffers fit ``workingBytes``.
///
/// ```swift
/// let stack = try LayerStack<Float>(pytorchStateDict: url, architecture: "conv32k3,relu,maxpool2,flatten,dense10", inputShape: [1, 28, 28])
/// let linear = try StackLinearisation(stack, inputs: images)   // [B, 1, 28, 28] or [B, 784]
/// print(linear.completenessError, linear.weights.shape)          // […, [B, 10, 784]]
/// ```
public struct StackLinearisation<Scalar: BLASScalar>: Sendable {
    /// The output units linearised: the class units of a stack with class dimensions, all
    /// outputs (the logits) otherwise, unless chosen.
    public var units: Range<Int>
    /// [count, units, inputs]: W(x), the rows of the Jacobian of the chosen outputs, over the
    /// flattened input.
    public var weights: Tensor<Scalar>
    /// [count, units]: b(x), the share of each output that no input owns (biases, and the
    /// constant ±1 of saturated hard-tanh units, carried to the output).
    public var biases: Tensor<Scalar>
    /// [layers, count, units]: layer l's share of b(x) — its bias (a convolution's at every
    /// position of its channel) or its activation's constants, carried to the output; zero for
    /// pools, flatten and layers without a bias. Their sum over l is ``biases``.
    public var layerBiasShares: Tensor<Scalar>
    /// [count, units]: F(x), the forward pass's outputs.
    public var outputs: Tensor<Scalar>
    /// max |W(x)x + b(x) − F(x)| / max(1, |F(x)|) over the batch and the units.
    public var completenessError: Double
    /// Which units are active at each instance, per unit layer (Szymanski et al.'s count).
    public var activity: UnitActivity

    /// Linearises the chosen outputs at every sample of `inputs`, `[count] + inputShape` or
    /// `[count, inputs]` (flattened).
    ///
    /// Throws when the stack has no exact linearisation (a smooth activation, a layer the
    /// interpreter does not know, non-finite parameters: ``LayerStack/checkInterpretable()``),
    /// the inputs do not fit it (shape, NaN or infinity), or W(x) would not fit in memory.
    /// Units outside the outputs are a programming error.
    public init(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, units: Range<Int>? = nil) throws(InterpretationError) {
        try stack.checkInterpretable()
        let batch = try stack.checkedInputs(inputs)
        let outputs = stack.outputShape.reduce(1, *)
        let chosen = units ?? stack.classDimensions?.classRange ?? 0 ..< outputs
        require(chosen.lowerBound >= 0 && chosen.upperBound <= outputs && !chosen.isEmpty,
                "StackLinearisation: units \(chosen) are not within the \(outputs) outputs")
        let count = batch.shape[0], width = stack.inputShape.reduce(1, *)
        let perUnit = Double(width + 2 + stack.layerCount) * Double(MemoryLayout<Scalar>.stride)
        let bytes = Double(count) * Double(chosen.count) * perUnit
        if !MemoryBudget.allows(bytes) {
            throw .tooLargeForMemory(what: "W(x) of \(count) inputs × \(chosen.count) outputs × \(width) features",
                                     estimatedBytes: bytes, limitBytes: Double(MemoryBudget.defaultLimit))
        }
        self.init(checked: stack, inputs: batch, units: chosen)
    }

    /// The working memory of one chunk (forward buffers and backward rows): a quarter of the
    /// memory budget, and at most 32 MB. Larger chunks gain nothing (every product is per row or
    /// already a GEMM of hundreds of rows) but cache misses and the page faults of fresh buffers.
    public static var workingBytes: Double { min(Double(MemoryBudget.defaultLimit) / 4, 32e6) }

    /// Instances per chunk for `units` output rows each.
    static func chunkSize(_ stack: LayerStack<Scalar>, units o: Int, count: Int, workingBytes: Double) -> Int {
        let widths: Int = stack.shapes.reduce(0) { $0 + $1.reduce(1, *) }
        let forward = Double(2 * widths) * Double(MemoryLayout<Scalar>.stride)
        let perInstance = forward + BackwardRows<Scalar>.bytes(stack, rows: o, top: stack.layerCount - 1)
        return max(1, min(count, Int(workingBytes / perInstance)))
    }

    /// The linearisation of inputs already checked and shaped `[count] + inputShape`, in
    /// chunks of `chunk` instances (default: as many as ``workingBytes`` holds), spread over
    /// `threads` workers (default: OpenBLAS's thread count), each running its chunks with
    /// single-threaded BLAS into its own buffers: the rows of one instance never meet another's,
    /// so the numbers do not depend on the chunks or the threads.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    init(checked stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, units: Range<Int>, chunk: Int? = nil, threads: Int? = nil) {
        let count = inputs.shape[0]
        let o = units.count, layers = stack.layerCount
        let width = stack.inputShape.reduce(1, *)
        let chunk = chunk ?? Self.chunkSize(stack, units: o, count: count, workingBytes: Self.workingBytes)
        let chunks = stride(from: 0, to: count, by: chunk).map { $0 ..< min($0 + chunk, count) }
        let workers = max(1, min(threads ?? OpenBLAS.threads, chunks.count))
        var weights = Tensor<Scalar>.zeros([count, o, width])
        var shares = Tensor<Scalar>.zeros([layers, count, o])
        var biases = Tensor<Scalar>.zeros([count, o])
        var values = Tensor<Scalar>.zeros([count, o])
        var activity = UnitActivity(stack)
        var worst = [Double](repeating: 0, count: chunks.count)
        var active = [[[Int]]](repeating: [], count: chunks.count)
        let template = activity
        weights.withUnsafeMutableBufferPointer { w in
            shares.withUnsafeMutableBufferPointer { sh in
                biases.withUnsafeMutableBufferPointer { be in
                    values.withUnsafeMutableBufferPointer { v in
                        worst.withUnsafeMutableBufferPointer { worst in
                            active.withUnsafeMutableBufferPointer { active in
                                let pass = ChunkedLinearisation(
                                    stack: stack, inputs: inputs, units: units, chunks: chunks, workers: workers, activity: template,
                                    weights: w.baseAddress!, shares: sh.baseAddress!, biases: be.baseAddress!, values: v.baseAddress!,
                                    worst: worst.baseAddress!, active: active.baseAddress!)
                                if workers == 1 {
                                    pass.run(worker: 0)
                                } else {
                                    OpenBLAS.withThreads(1) { DispatchQueue.concurrentPerform(iterations: workers) { pass.run(worker: $0) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        for counts in active { activity.active += counts }
        self.units = units
        self.weights = weights
        self.biases = biases
        layerBiasShares = shares
        outputs = values
        completenessError = worst.max() ?? 0
        self.activity = activity
    }

    /// W(x)_k ⊙ x for instance `i` and output unit `k` (counted within ``units``): each input's
    /// exact share of that output. `input` is the instance's flattened input (or a prefix of it).
    public func attribution(instance i: Int, unit k: Int, input: [Scalar]) -> [Double] {
        let (count, o, n) = (weights.shape[0], weights.shape[1], weights.shape[2])
        require(i >= 0 && i < count, "attribution: instance \(i) is out of range for \(count) instances")
        require(k >= 0 && k < o, "attribution: unit \(k) is out of range for \(o) linearised outputs")
        require(input.count <= n, "attribution: \(input.count) input values for rows of width \(n)")
        return weights.withUnsafeBufferPointer { e in
            input.indices.map { j in Double(e[(i * o + k) * n + j]) * Double(input[j]) }
        }
    }
}

/// What the workers of ``StackLinearisation/init(checked:inputs:units:chunk:threads:)`` share:
/// the stack and inputs (read only) and the results' storage, where each chunk's instances are
/// written by the one worker that runs it. Unchecked: raw pointers into tensors the caller keeps
/// alive and unique for the whole pass, disjoint per chunk by construction.
private struct ChunkedLinearisation<Scalar: BLASScalar>: @unchecked Sendable {
    let stack: LayerStack<Scalar>
    let inputs: Tensor<Scalar>
    let units: Range<Int>
    let chunks: [Range<Int>]
    let workers: Int
    let activity: UnitActivity
    let weights: UnsafeMutablePointer<Scalar>, shares: UnsafeMutablePointer<Scalar>
    let biases: UnsafeMutablePointer<Scalar>, values: UnsafeMutablePointer<Scalar>
    let worst: UnsafeMutablePointer<Double>
    let active: UnsafeMutablePointer<[[Int]]>

    /// Chunks worker, worker + workers, …, each with this worker's buffers (made once per chunk size).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func run(worker: Int) {
        let count = inputs.shape[0], o = units.count, layers = stack.layerCount
        let width = stack.inputShape.reduce(1, *), outputWidth = stack.outputShape.reduce(1, *)
        var engine: BackwardRows<Scalar>?
        var workspace: LayerStackWorkspace<Scalar>?
        var counter: ActivityCounter<Scalar>?
        for k in stride(from: worker, to: chunks.count, by: workers) {
            let range = chunks[k]
            let (start, size) = (range.lowerBound, range.count)
            if engine?.instances != size {
                engine = BackwardRows(stack, instances: size, perInstance: o, top: layers - 1)
                workspace = stack.makeWorkspace(batchSize: size)
                counter = ActivityCounter(activity, stack, batchSize: size)
            }
            let rows = engine!, forward = workspace!
            stack.forward(inputs.rows(range), in: forward)
            active[k] = counter!.count(forward)
            let first = units.lowerBound
            rows.rows[layers].withUnsafeMutableBufferPointer { r in
                r.update(repeating: 0)
                for i in 0 ..< size { for u in 0 ..< o { r[(i * o + u) * outputWidth + first + u] = 1 } }
            }
            rows.run(forward, from: layers - 1)
            rows.rows[0].withUnsafeBufferPointer { r in (weights + start * o * width).update(from: r.baseAddress!, count: size * o * width) }
            for l in 0 ..< layers {
                rows.shares[l].withUnsafeBufferPointer { s in
                    for r in 0 ..< size * o {
                        shares[(l * count + start) * o + r] = s[r]
                        biases[start * o + r] += s[r]
                    }
                }
            }
            var largest = 0.0
            forward.output.withUnsafeBufferPointer { f in
                inputs.withUnsafeBufferPointer { x in
                    for i in range {
                        for u in 0 ..< o {
                            let value = f[(i - start) * outputWidth + first + u]
                            values[i * o + u] = value
                            // The sum in Double: the check measures the map, not this loop's rounding.
                            var total = Double(biases[i * o + u])
                            let row = (i * o + u) * width
                            for j in 0 ..< width { total += Double(weights[row + j]) * Double(x[i * width + j]) }
                            largest = max(largest, abs(total - Double(value)) / max(1, abs(Double(value))))
                        }
                    }
                }
            }
            worst[k] = largest
        }
    }
}

extension LayerStack {
    /// Checks, before any work, that the interpreter can read this stack exactly: every layer
    /// is dense, a convolution, a pool (max, average, global average), flatten or a
    /// piecewise-linear activation (ReLU, leaky ReLU, hard-tanh, identity), and every parameter
    /// is finite. The first layer that fails is named.
    public func checkInterpretable() throws(InterpretationError) {
        for (l, layer) in layers.enumerated() {
            let kind = layer.layerDescription.description
            if let activation = layer as? ActivationLayer<Scalar> {
                guard activation.function.isPiecewiseLinear else { throw .smoothLayer(layer: l, kind: kind) }
            } else if !Self.isInterpretableKind(layer) {
                throw .unsupportedLayer(layer: l, kind: kind)
            }
            for (name, parameter) in zip(layer.parameterNames, layer.parameters) {
                let bad = parameter.nonFiniteCount
                if bad > 0 { throw .nonFiniteParameter(name: "\(l).\(name)", count: bad) }
            }
        }
    }

    /// The layer kinds whose vjp and intercept the interpreter knows (activations apart).
    static func isInterpretableKind(_ layer: any Layer<Scalar>) -> Bool {
        layer is Dense<Scalar> || layer is Flatten<Scalar> || layer is Conv2d<Scalar> || layer is Conv1d<Scalar>
            || layer is MaxPool<Scalar> || layer is AvgPool<Scalar> || layer is GlobalAvgPool<Scalar>
    }

    /// `inputs` as `[count] + inputShape`: accepted as that or as `[count, inputs]` flattened,
    /// with finite values; the shape and the first bad sample are named otherwise.
    func checkedInputs(_ inputs: Tensor<Scalar>) throws(InterpretationError) -> Tensor<Scalar> {
        let width = inputShape.reduce(1, *)
        let fits = inputs.rank >= 1 && (Array(inputs.shape.dropFirst()) == inputShape || inputs.shape.dropFirst() == [width])
        guard fits, inputs.shape[0] >= 1 else { throw .inputShapeMismatch(found: inputs.shape, expected: inputShape) }
        // The specialised count first: this check runs on every batch, and the generic search,
        // unspecialised across modules, was 12 % of a metric-heavy attribution profile.
        if inputs.nonFiniteCount > 0 {
            let bad = inputs.withUnsafeBufferPointer { e in e.firstIndex { !$0.isFinite } } ?? 0
            throw .nonFiniteInput(sample: bad / width)
        }
        return inputs.reshaped([inputs.shape[0]] + inputShape)
    }
}
