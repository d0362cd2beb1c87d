import Networks
import TensorAlgebra
import IsometrySupport

/// Switched linear projections of a piecewise-linear ``LayerStack`` at one input (Szymanski et
/// al.; docs/theory.md §3): with every unit's state fixed at x, unit i of layer l's output is
/// exactly ŵ_i·x + b̂_i.
///
/// Forward recursion from Â = I, ĉ = 0 over the flattened input: dense Â ← W·Â, ĉ ← W·ĉ + b;
/// activation (slopes P and constants s = φ(h) − P ⊙ h of the pattern) Â ← diag(P)·Â,
/// ĉ ← P ⊙ ĉ + s; flatten keeps both. Every layer's Â is kept (width × inputs scalars each),
/// which is why this is per input and the dataset linearisation uses backward rows instead.
///
/// ```swift
/// let projections = try SwitchedLinearProjections(stack, at: x)
/// let h = projections.weights[0]   // ŵ of every unit of layer 0's output, [width, inputs]
/// print(projections.reproductionError, projections.insens(of: stack).units)
/// ```
public struct SwitchedLinearProjections<Scalar: BLASScalar>: Sendable {
    /// weights[l]: [units of layer l's output, inputs], row i is ŵ_i (over the flattened input).
    public var weights: [Tensor<Scalar>]
    /// biases[l]: [units of layer l's output], entry i is b̂_i.
    public var biases: [Tensor<Scalar>]
    /// outputs[l]: layer l's output of the forward pass at x, flattened, which ŵ·x + b̂ reproduces.
    public var outputs: [Tensor<Scalar>]
    /// The flattened input x.
    public var input: Tensor<Scalar>
    /// max over layers of max_i |ŵ_i·x + b̂_i − output_i| / max(1, max_i |output_i|).
    public var reproductionError: Double

    /// The projections of every unit of every layer at `x` (shape `inputShape` or flattened).
    /// Throws as ``StackLinearisation/init(_:inputs:units:)`` does.
    public init(_ stack: LayerStack<Scalar>, at x: Tensor<Scalar>) throws(InterpretationError) {
        try stack.checkInterpretable()
        let inputs = stack.inputShape.reduce(1, *)
        let batch = try stack.checkedInputs(x.reshaped([1] + (x.count == inputs ? [inputs] : x.shape)))
        let workspace = stack.makeWorkspace(batchSize: 1)
        stack.forward(batch, in: workspace)
        var a = Tensor<Scalar>.identity(inputs)
        var c = Tensor<Scalar>.zeros([inputs])
        var weights: [Tensor<Scalar>] = [], biases: [Tensor<Scalar>] = [], outputs: [Tensor<Scalar>] = []
        let flat = batch.reshaped([inputs])
        var worst = 0.0
        for l in stack.layers.indices {
            let layer = stack.layers[l]
            if let dense = layer as? Dense<Scalar> {
                a = matmul(dense.weight, a)
                c = matvec(dense.weight, c)
                if let b = dense.bias { c += b }
            } else if layer is ActivationLayer<Scalar> {
                let p = workspace.patterns[l].scalars, h = workspace.activations[l].scalars, y = workspace.activations[l + 1].scalars
                let slopes = Tensor(shape: [p.count], scalars: p)
                a = a * slopes.reshaped([p.count, 1])                         // diag(P)·Â
                c = c * slopes + Tensor(shape: [p.count], scalars: (0 ..< p.count).map { y[$0] - p[$0] * h[$0] })
            }
            let output = workspace.activations[l + 1].reshaped([workspace.activations[l + 1].count])
            let reproduced = matvec(a, flat) + c
            let scale = max(1, output.scalars.map { abs(Double($0)) }.max() ?? 0)
            let error = zip(reproduced.scalars, output.scalars).map { abs(Double($0) - Double($1)) }.max() ?? 0
            worst = max(worst, error / scale)
            weights.append(a)
            biases.append(c)
            outputs.append(output)
        }
        self.weights = weights
        self.biases = biases
        self.outputs = outputs
        input = flat
        reproductionError = worst
    }

    /// The Insens map Ω(x) (docs/theory.md §3): the mean, over the inactive units entering
    /// every activation layer (ReLU and leaky ReLU at or below 0, hard-tanh saturated), of
    /// ω_i = ((h_i − t_i)/‖ŵ_i‖²)·ŵ_i, the displacement from unit i's switching hyperplane
    /// h = t_i to x, over `features` (default: the D features of a stack with class
    /// dimensions, else every input). `stack` is the stack these projections were made from.
    public func insens(of stack: LayerStack<Scalar>, features: Range<Int>? = nil) -> (map: [Double], units: Int) {
        require(stack.layerCount == weights.count, "insens: \(stack.layerCount) layers, but projections of \(weights.count)")
        let inputs = input.count
        let range = features ?? stack.classDimensions.map { 0 ..< $0.features } ?? 0 ..< inputs
        require(range.lowerBound >= 0 && range.upperBound <= inputs, "insens: features \(range) are not within the \(inputs) inputs")
        var map = [Double](repeating: 0, count: range.count)
        var units = 0
        for (l, layer) in stack.layers.enumerated() {
            guard let activation = layer as? ActivationLayer<Scalar> else { continue }
            // The units entering the activation: layer l − 1's output, or the input itself.
            let projected = l == 0 ? Tensor<Scalar>.identity(inputs) : weights[l - 1]
            let h = l == 0 ? input.scalars : outputs[l - 1].scalars
            projected.withUnsafeBufferPointer { e in
                for i in h.indices {
                    let target: Double
                    switch activation.function {
                    case .relu, .leakyReLU:
                        guard h[i] <= 0 else { continue }
                        target = 0
                    case .hardTanh:
                        guard abs(h[i]) >= 1 else { continue }
                        target = h[i] > 0 ? 1 : -1
                    case .identity, .tanh, .erf: continue
                    }
                    let row = e.baseAddress! + i * inputs
                    var norm = 0.0
                    for j in range { norm += Double(row[j]) * Double(row[j]) }
                    if norm == 0 { continue }
                    let factor = (Double(h[i]) - target) / norm
                    for j in range { map[j - range.lowerBound] += factor * Double(row[j]) }
                    units += 1
                }
            }
        }
        if units > 0 { map = map.map { $0 / Double(units) } }
        return (map, units)
    }
}
