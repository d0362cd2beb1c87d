import Networks
import TensorAlgebra
import IsometrySupport

/// The exact linearisation F(x) = W(x)·x + b(x) of any piecewise-linear ``LayerStack`` (dense,
/// flatten and ReLU, leaky ReLU, hard-tanh or identity activation layers), instance by instance
/// and batched (docs/theory.md §4).
///
/// On the region of x every activation is φ(h) = P ⊙ h + s with P the slopes the forward pass
/// keeps as its *pattern* (1 passing, 0 off or saturated, the slope of a negative leaky ReLU)
/// and s = φ(h) − P ⊙ h the constant a saturated hard-tanh unit outputs (±1; 0 for every other
/// unit). Backward rows, from R = the chosen output units and β = 0:
/// dense: β += R·b, R ← R·W; activation: β += R·s, R ← R·diag(P); flatten: nothing.
/// The rows of all instances are stacked, so a dense layer is one GEMM of
/// [B·O, out]·[out, in] for the batch (O chosen outputs), as ``InstanceLinearisation`` does
/// for the identity classifier.
///
/// ```swift
/// let stack = try LayerStack<Float>(pytorchStateDict: url, activation: .relu)
/// let linear = try StackLinearisation(stack, inputs: images)   // [B, 784]
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
    /// [count, units]: F(x), the forward pass's outputs.
    public var outputs: Tensor<Scalar>
    /// max |W(x)x + b(x) − F(x)| / max(1, |F(x)|) over the batch and the units.
    public var completenessError: Double

    /// Linearises the chosen outputs at every sample of `inputs`, `[count] + inputShape` or
    /// `[count, inputs]` (flattened).
    ///
    /// Throws when the stack has no exact linearisation (a smooth activation, a layer the
    /// interpreter does not know, non-finite parameters: ``LayerStack/checkInterpretable()``)
    /// or the inputs do not fit it (shape, NaN or infinity). Units outside the outputs are a
    /// programming error.
    public init(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, units: Range<Int>? = nil) throws(InterpretationError) {
        try stack.checkInterpretable()
        let batch = try stack.checkedInputs(inputs)
        let outputs = stack.outputShape.reduce(1, *)
        let chosen = units ?? stack.classDimensions?.classRange ?? 0 ..< outputs
        require(chosen.lowerBound >= 0 && chosen.upperBound <= outputs && !chosen.isEmpty,
                "StackLinearisation: units \(chosen) are not within the \(outputs) outputs")
        self.init(checked: stack, inputs: batch, units: chosen)
    }

    /// The linearisation of inputs already checked and shaped `[count] + inputShape`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    init(checked stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, units: Range<Int>) {
        let count = inputs.shape[0]
        let o = units.count
        let workspace = stack.makeWorkspace(batchSize: count)
        stack.forward(inputs, in: workspace)
        let outputWidth = stack.outputShape.reduce(1, *)
        // R: [count·O, width of the current layer's output], β: [count·O].
        var rows = Tensor<Scalar>.zeros([count * o, outputWidth])
        rows.withUnsafeMutableBufferPointer { r in
            for i in 0 ..< count { for k in 0 ..< o { r[(i * o + k) * outputWidth + units.lowerBound + k] = 1 } }
        }
        var beta = Tensor<Scalar>.zeros([count * o])
        for l in stack.layers.indices.reversed() {
            let layer = stack.layers[l]
            if let dense = layer as? Dense<Scalar> {
                if let b = dense.bias { matvec(rows, b, beta: 1, into: &beta) }
                rows = matmul(rows, dense.weight)
            } else if layer is ActivationLayer<Scalar> {
                Self.throughActivation(rows: &rows, beta: &beta, units: o, input: workspace.activations[l],
                                       output: workspace.activations[l + 1], pattern: workspace.patterns[l])
            }
            // Flatten: the rows already run over the flattened input, row-major as the copy.
        }
        let width = stack.inputShape.reduce(1, *)
        var values = Tensor<Scalar>.zeros([count, o])
        var worst = 0.0
        let output = workspace.output
        values.withUnsafeMutableBufferPointer { v in
            output.withUnsafeBufferPointer { f in
                rows.withUnsafeBufferPointer { r in
                    inputs.withUnsafeBufferPointer { x in
                        beta.withUnsafeBufferPointer { be in
                            for i in 0 ..< count {
                                for k in 0 ..< o {
                                    let value = f[i * outputWidth + units.lowerBound + k]
                                    v[i * o + k] = value
                                    // The sum in Double: the check measures the map, not this loop's rounding.
                                    var total = Double(be[i * o + k])
                                    let row = (i * o + k) * width
                                    for j in 0 ..< width { total += Double(r[row + j]) * Double(x[i * width + j]) }
                                    worst = max(worst, abs(total - Double(value)) / max(1, abs(Double(value))))
                                }
                            }
                        }
                    }
                }
            }
        }
        self.units = units
        weights = rows.reshaped([count, o, width])
        biases = beta.reshaped([count, o])
        self.outputs = values
        completenessError = worst
    }

    /// β += R·s and R ← R·diag(P), instance by instance (P and s are per instance, so no GEMM).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func throughActivation(rows: inout Tensor<Scalar>, beta: inout Tensor<Scalar>, units o: Int,
                                  input: Tensor<Scalar>, output: Tensor<Scalar>, pattern: Tensor<Scalar>) {
        let count = input.shape[0]
        let n = input.count / count
        rows.withUnsafeMutableBufferPointer { r in
            beta.withUnsafeMutableBufferPointer { be in
                input.withUnsafeBufferPointer { h in
                    output.withUnsafeBufferPointer { y in
                        pattern.withUnsafeBufferPointer { p in
                            for i in 0 ..< count {
                                for j in 0 ..< n {
                                    let slope = p[i * n + j]
                                    // s = φ(h) − P·h: exactly ±1 for a saturated hard-tanh unit
                                    // (P = 0), exactly 0 for every other piece (P·h is φ(h)).
                                    let shift = y[i * n + j] - slope * h[i * n + j]
                                    if slope == 1 && shift == 0 { continue }
                                    for k in 0 ..< o {
                                        let index = (i * o + k) * n + j
                                        if shift != 0 { be[i * o + k] += r[index] * shift }
                                        r[index] *= slope
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
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

extension LayerStack {
    /// Checks, before any work, that the interpreter can read this stack exactly: every layer
    /// is dense, flatten or a piecewise-linear activation (ReLU, leaky ReLU, hard-tanh,
    /// identity), and every parameter is finite. The first layer that fails is named.
    public func checkInterpretable() throws(InterpretationError) {
        for (l, layer) in layers.enumerated() {
            let kind = layer.layerDescription.description
            if let activation = layer as? ActivationLayer<Scalar> {
                guard activation.function.isPiecewiseLinear else { throw .smoothLayer(layer: l, kind: kind) }
            } else if !(layer is Dense<Scalar>) && !(layer is Flatten<Scalar>) {
                throw .unsupportedLayer(layer: l, kind: kind)
            }
            for (name, parameter) in zip(layer.parameterNames, layer.parameters) {
                let bad = parameter.nonFiniteCount
                if bad > 0 { throw .nonFiniteParameter(name: "\(l).\(name)", count: bad) }
            }
        }
    }

    /// `inputs` as `[count] + inputShape`: accepted as that or as `[count, inputs]` flattened,
    /// with finite values; the shape and the first bad sample are named otherwise.
    func checkedInputs(_ inputs: Tensor<Scalar>) throws(InterpretationError) -> Tensor<Scalar> {
        let width = inputShape.reduce(1, *)
        let fits = inputs.rank >= 1 && (Array(inputs.shape.dropFirst()) == inputShape || inputs.shape.dropFirst() == [width])
        guard fits, inputs.shape[0] >= 1 else { throw .inputShapeMismatch(found: inputs.shape, expected: inputShape) }
        let bad: Int? = inputs.withUnsafeBufferPointer { e in e.firstIndex { !$0.isFinite } }
        if let bad { throw .nonFiniteInput(sample: bad / width) }
        return inputs.reshaped([inputs.shape[0]] + inputShape)
    }
}
