import TensorAlgebra
import IsometrySupport

/// A network as a sequence of layers applied one after another (PyTorch's `nn.Sequential`,
/// MLX's `nn.Sequential`): the one model the trainer, the spectrum analyzer and the
/// interpreter are to take.
///
/// Why it is shaped this way:
/// * Layers are values (`any Layer<Scalar>`), so the stack is a value too: copying it copies
///   the weights lazily (copy-on-write), and it is `Sendable`.
/// * Shapes are per sample and checked once, here: ``shapes`` holds the input shape and every
///   layer's output shape, so a convolution's `[C, H, W]` flows through a stack the same way
///   a dense layer's `[N]` does, and the tools size their buffers from it.
/// * All the work goes through a ``LayerStackWorkspace`` allocated once per batch size: the
///   forward pass, the backward pass (input and parameter gradients) and the forward-mode
///   J·v write into its buffers, so a training step or an analyzer iteration allocates no
///   tensor storage.
/// * Parameters are named as in PyTorch's `state_dict` (`<layer index>.weight`), so a stack
///   reads a PyTorch `nn.Sequential`'s file and writes one PyTorch reads back.
///
/// ```swift
/// var generator = SeededGenerator(seed: 1)
/// let stack = LayerStack<Float> {
///     Dense(inputs: 20, outputs: 30, using: &generator)
///     ActivationLayer(.relu)
///     Dense(inputs: 30, outputs: 5, using: &generator)
/// }
/// let logits = stack(Tensor<Float>.zeros([8, 20]))   // [8, 5]
/// ```
public struct LayerStack<Scalar: BLASScalar>: Sendable {
    public private(set) var layers: [any Layer<Scalar>]
    /// `shapes[0]` is the per-sample input shape, `shapes[l + 1]` the output shape of layer l.
    public let shapes: [[Int]]

    /// Where the network carries class dimensions (an identity classifier), nil otherwise.
    /// Checked against the shapes: every layer's output of a stack with class dimensions that is
    /// read per layer is `features + classes` wide.
    public var classDimensions: ClassDimensions?

    public var inputShape: [Int] { shapes[0] }
    public var outputShape: [Int] { shapes[shapes.count - 1] }
    public var layerCount: Int { layers.count }

    /// Stops with a message naming the layer and the shapes when the layers do not chain
    /// (programmer misuse; the file readers throw ``LayerStackError`` instead). Without
    /// `inputShape`, the first layer's required input shape is taken.
    public init(inputShape: [Int]? = nil, layers: [any Layer<Scalar>], classDimensions: ClassDimensions? = nil) {
        require(!layers.isEmpty, "LayerStack: a stack needs at least one layer")
        guard let input = inputShape ?? layers[0].requiredInputShape else {
            fatalError("LayerStack: layer 0 (\(layers[0].layerDescription)) takes any shape; pass inputShape")
        }
        switch Self.chain(inputShape: input, layers: layers) {
        case .success(let shapes): self.shapes = shapes
        case .failure(let problem): fatalError("LayerStack: \(problem.message)")
        }
        self.layers = layers
        if let classDimensions {
            require(shapes.first == [classDimensions.width] && shapes.last == [classDimensions.width],
                    "LayerStack: class dimensions \(classDimensions.features) + \(classDimensions.classes) need input and output [\(classDimensions.width)], the stack takes \(shapes.first!) and gives \(shapes.last!)")
        }
        self.classDimensions = classDimensions
    }

    /// A shape that one layer cannot take, in words.
    struct ChainProblem: Error {
        let layer: Int
        let takes: String
        let receives: [Int]
        var message: String { "layer \(layer) takes \(takes) but receives \(receives)" }
    }

    /// The per-sample shapes through `layers`, or the first layer that cannot take its input.
    static func chain(inputShape: [Int], layers: [any Layer<Scalar>]) -> Result<[[Int]], ChainProblem> {
        var shapes = [inputShape]
        for (l, layer) in layers.enumerated() {
            do { shapes.append(try layer.outputShape(forInput: shapes[l])) } catch {
                return .failure(ChainProblem(layer: l, takes: error.expected, receives: shapes[l]))
            }
        }
        return .success(shapes)
    }

    /// Dense layers of the given widths with `activation` after every one but the last (whose
    /// outputs are the logits), initialised as PyTorch initialises `nn.Linear`.
    public static func multilayerPerceptron(
        widths: [Int], activation: Nonlinearity, bias: Bool = true, using generator: inout SeededGenerator
    ) -> LayerStack {
        require(widths.count >= 2, "LayerStack.multilayerPerceptron: needs an input width and at least one layer, got \(widths)")
        var layers: [any Layer<Scalar>] = []
        for l in 0 ..< widths.count - 1 {
            if l > 0 { layers.append(ActivationLayer<Scalar>(activation)) }
            layers.append(Dense<Scalar>(inputs: widths[l], outputs: widths[l + 1], bias: bias, using: &generator))
        }
        return LayerStack(layers: layers)
    }

    /// The architecture without weights: what a checkpoint's metadata stores.
    public var architecture: LayerStackArchitecture {
        LayerStackArchitecture(inputShape: inputShape, layers: layers.map(\.layerDescription), classDimensions: classDimensions)
    }

    // MARK: Parameters

    /// Every parameter's `state_dict` name, `<layer index>.<name>`, in layer order.
    public var parameterNames: [String] {
        layers.enumerated().flatMap { l, layer in layer.parameterNames.map { "\(l).\($0)" } }
    }

    /// Every parameter with its `state_dict` name, in layer order.
    public var parameters: [(name: String, value: Tensor<Scalar>)] {
        layers.enumerated().flatMap { l, layer in zip(layer.parameterNames, layer.parameters).map { ("\(l).\($0)", $1) } }
    }

    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }

    /// Lets `body` change every parameter in place (its shape must stay), with its layer index
    /// and its index within the layer, as ``LayerStackWorkspace/parameterGradients`` are laid out.
    public mutating func updateParameters(_ body: (_ layer: Int, _ index: Int, _ parameter: inout Tensor<Scalar>) -> Void) {
        for l in layers.indices {
            layers[l].updateParameters { index, parameter in body(l, index, &parameter) }
        }
    }

    // MARK: Passes through a workspace

    /// Buffers for batches of `batchSize` samples, and for `tangentCount` tangents or
    /// cotangents (default: `batchSize`). With `tangentCount` ≠ `batchSize`, `batchSize` must be 1:
    /// many directions at one point, as the spectrum analyzer uses them.
    public func makeWorkspace(batchSize: Int, tangentCount: Int? = nil) -> LayerStackWorkspace<Scalar> {
        LayerStackWorkspace(stack: self, batchSize: batchSize, tangentCount: tangentCount ?? batchSize)
    }

    /// Runs a batch `[batchSize] + inputShape` forward: every layer's output (and pattern) into
    /// the workspace; the result is ``LayerStackWorkspace/output``. The input is kept by
    /// reference, not copied, until the next call.
    public func forward(_ input: Tensor<Scalar>, in workspace: LayerStackWorkspace<Scalar>) {
        workspace.check(self)
        require(input.shape == [workspace.batchSize] + inputShape,
                "LayerStack.forward: input has shape \(input.shape), the workspace takes \([workspace.batchSize] + inputShape)")
        workspace.activations[0] = input
        for l in layers.indices {
            layers[l].forward(workspace.activations[l], into: &workspace.activations[l + 1], pattern: &workspace.patterns[l], scratch: &workspace.scratch[l])
        }
        workspace.forwarded = true
    }

    /// Runs forward the batch written into the workspace's own input buffer
    /// (``LayerStackWorkspace/withInputBuffer(_:)``). A trainer feeds every batch this way: a
    /// tensor passed to ``forward(_:in:)`` stays referenced by the workspace, so writing the
    /// next batch into it would copy it once per step.
    public func forwardInputBuffer(in workspace: LayerStackWorkspace<Scalar>) {
        workspace.check(self)
        require(workspace.activations[0].shape == [workspace.batchSize] + inputShape,
                "LayerStack.forwardInputBuffer: the input buffer has shape \(workspace.activations[0].shape), expected \([workspace.batchSize] + inputShape)")
        for l in layers.indices {
            layers[l].forward(workspace.activations[l], into: &workspace.activations[l + 1], pattern: &workspace.patterns[l], scratch: &workspace.scratch[l])
        }
        workspace.forwarded = true
    }

    /// ``backward(_:in:inputGradient:parameterGradients:frozenLayers:)`` from the output gradient
    /// written into ``LayerStackWorkspace/withOutputGradientBuffer(_:)`` (no copy per step, as
    /// for ``forwardInputBuffer(in:)``).
    public func backwardOutputGradientBuffer(
        in workspace: LayerStackWorkspace<Scalar>, inputGradient: Bool = true, parameterGradients: Bool = true,
        frozenLayers: Set<Int> = []
    ) {
        workspace.allocateCotangents()
        backward(workspace.cotangents[layers.count], in: workspace, inputGradient: inputGradient,
                 parameterGradients: parameterGradients, frozenLayers: frozenLayers)
    }

    /// Reverse mode from `outputGradient` (`[tangentCount] + outputShape`, e.g. ∂loss/∂logits)
    /// at the last forward pass's patterns: the input gradient into
    /// ``LayerStackWorkspace/inputGradient`` (unless `inputGradient` is false, which spares the
    /// first layer's product when training) and, when `parameterGradients`, every parameter's
    /// gradient into ``LayerStackWorkspace/parameterGradients`` (which needs one cotangent per
    /// forward sample). Layers in `frozenLayers` get no parameter gradients (their buffers keep
    /// whatever they held), and without `inputGradient` the products below the lowest layer
    /// that still wants gradients are skipped too: a frozen trunk costs its forward pass only.
    public func backward(
        _ outputGradient: Tensor<Scalar>, in workspace: LayerStackWorkspace<Scalar>,
        inputGradient: Bool = true, parameterGradients: Bool = true, frozenLayers: Set<Int> = []
    ) {
        workspace.check(self)
        require(workspace.forwarded, "LayerStack.backward: run forward first")
        require(outputGradient.shape == [workspace.tangentCount] + outputShape,
                "LayerStack.backward: output gradient has shape \(outputGradient.shape), expected \([workspace.tangentCount] + outputShape)")
        require(!parameterGradients || workspace.tangentCount == workspace.batchSize,
                "LayerStack.backward: parameter gradients need one cotangent per sample (\(workspace.batchSize)), got \(workspace.tangentCount)")
        workspace.allocateCotangents()
        if parameterGradients { workspace.allocateParameterGradients() }
        workspace.cotangents[layers.count] = outputGradient
        // The lowest layer whose parameter gradients are wanted: cotangents below it feed nothing.
        let lowestTrained = parameterGradients
            ? layers.indices.first { !frozenLayers.contains($0) && !workspace.parameterShapes[$0].isEmpty } ?? layers.count
            : layers.count
        for l in layers.indices.reversed() {
            if parameterGradients && !frozenLayers.contains(l) {
                layers[l].parameterGradients(
                    input: workspace.activations[l], cotangent: workspace.cotangents[l + 1], pattern: workspace.patterns[l],
                    scratch: &workspace.scratch[l], into: &workspace.parameterGradients[l])
            }
            if inputGradient || (!parameterGradients && l > 0) || l > lowestTrained {
                layers[l].vjp(workspace.cotangents[l + 1], pattern: workspace.patterns[l], scratch: &workspace.scratch[l], into: &workspace.cotangents[l])
            }
        }
    }

    /// Jᵀ·u for `[tangentCount] + outputShape` cotangents at the last forward pass's patterns
    /// (no parameter gradients), into ``LayerStackWorkspace/inputGradient``.
    public func vjp(_ cotangent: Tensor<Scalar>, in workspace: LayerStackWorkspace<Scalar>) {
        backward(cotangent, in: workspace, inputGradient: true, parameterGradients: false)
    }

    /// J·v for `[tangentCount] + inputShape` tangents at the last forward pass's patterns, into
    /// ``LayerStackWorkspace/tangentOutput``.
    public func jvp(_ tangent: Tensor<Scalar>, in workspace: LayerStackWorkspace<Scalar>) {
        workspace.check(self)
        require(workspace.forwarded, "LayerStack.jvp: run forward first")
        require(tangent.shape == [workspace.tangentCount] + inputShape,
                "LayerStack.jvp: tangent has shape \(tangent.shape), expected \([workspace.tangentCount] + inputShape)")
        workspace.allocateTangents()
        workspace.tangents[0] = tangent
        for l in layers.indices {
            layers[l].jvp(workspace.tangents[l], pattern: workspace.patterns[l], scratch: &workspace.scratch[l], into: &workspace.tangents[l + 1])
        }
    }

    // MARK: Conveniences (allocating)

    /// The outputs for one sample (`inputShape`) or a batch (`[B] + inputShape`), through a
    /// workspace made for the call.
    public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
        let single = input.shape == inputShape
        require(single || (input.rank == inputShape.count + 1 && Array(input.shape.dropFirst()) == inputShape),
                "LayerStack: input has shape \(input.shape), the stack takes \(inputShape) or [batch] + \(inputShape)")
        let batch = single ? input.reshaped([1] + inputShape) : input
        let workspace = makeWorkspace(batchSize: batch.shape[0])
        forward(batch, in: workspace)
        return single ? workspace.output.reshaped(outputShape) : workspace.output
    }

    /// The Jacobian ∂F/∂x at one sample `x` (shape ``inputShape``), as a matrix
    /// `[outputs, inputs]` over the flattened shapes: J applied to every basis vector.
    public func jacobian(at x: Tensor<Scalar>) -> Tensor<Scalar> {
        require(x.shape == inputShape, "LayerStack.jacobian: input has shape \(x.shape), expected \(inputShape)")
        let (inputs, outputs) = (x.count, outputShape.reduce(1, *))
        let workspace = makeWorkspace(batchSize: 1, tangentCount: inputs)
        forward(x.reshaped([1] + inputShape), in: workspace)
        jvp(Tensor.identity(inputs).reshaped([inputs] + inputShape), in: workspace)
        // Row i of the result is J·e_i, column i of J.
        return workspace.tangentOutput.reshaped([inputs, outputs]).transposed()
    }

    /// The exact linearisation at one sample x: F(x) = W(x)·x + b(x), with W(x) the Jacobian and
    /// b(x) the intercepts of the layers' own linearisations carried through the later layers
    /// (b_l = J_l·b_{l−1} + f_l(x_{l−1}) − J_l·x_{l−1}). For a stack of affine and piecewise-linear
    /// layers, W and b are constant on the region of x's activation pattern: F(x′) = W·x′ + b for
    /// every x′ with the same pattern.
    public func linearization(at x: Tensor<Scalar>) -> (weight: Tensor<Scalar>, bias: Tensor<Scalar>) {
        let weight = jacobian(at: x)
        let workspace = makeWorkspace(batchSize: 1)
        forward(x.reshaped([1] + inputShape), in: workspace)
        var intercept = Tensor<Scalar>.zeros([1] + inputShape)
        for l in layers.indices {
            // J_l·(b_{l−1} − x_{l−1}) + f_l(x_{l−1}), the one product done at once.
            let shifted = intercept - workspace.activations[l]
            var next = Tensor<Scalar>.zeros([1] + shapes[l + 1])
            layers[l].jvp(shifted, pattern: workspace.patterns[l], into: &next)
            next += workspace.activations[l + 1]
            intercept = next
        }
        return (weight, intercept.reshaped([outputShape.reduce(1, *)]))
    }
}

/// The buffers of a ``LayerStack``'s passes for one batch size: every layer's output and
/// pattern, and (made on first use) the tangents, cotangents and parameter gradients.
///
/// Made once per batch size (``LayerStack/makeWorkspace(batchSize:tangentCount:)``) and reused:
/// after the first forward and backward, further passes write into the same storage. A copy of
/// one of its tensors held across the next pass shares storage with it, so that pass copies the
/// buffer once (copy-on-write) and goes on in the copy; read results, do not keep them.
public final class LayerStackWorkspace<Scalar: BLASScalar> {
    public let batchSize: Int
    public let tangentCount: Int
    let shapes: [[Int]]
    let patternShapes: [[Int]?]
    let parameterShapes: [[[Int]]]

    /// `activations[0]` is the last input, `activations[l + 1]` layer l's output, `[batchSize] + shape`.
    public internal(set) var activations: [Tensor<Scalar>]
    /// Layer l's pattern, `[batchSize] + patternShape`, or an empty tensor for an affine layer.
    public internal(set) var patterns: [Tensor<Scalar>]
    /// `tangents[l + 1]` = J_l ⋯ J_0·v, made by the first ``LayerStack/jvp(_:in:)``.
    public internal(set) var tangents: [Tensor<Scalar>] = []
    /// `cotangents[l]` = J_lᵀ ⋯ J_{L−1}ᵀ·u, made by the first ``LayerStack/backward(_:in:inputGradient:parameterGradients:frozenLayers:)``.
    public internal(set) var cotangents: [Tensor<Scalar>] = []
    /// `parameterGradients[l][i]` is the gradient of layer l's parameter i (names as
    /// ``LayerStack/parameterNames``), made by the first backward pass that asks for them.
    public internal(set) var parameterGradients: [[Tensor<Scalar>]] = []
    /// Layer l's scratch buffer (``Layer/scratchShape(forInput:)``, a convolution's im2col
    /// columns), or an empty tensor when it needs none.
    public internal(set) var scratch: [Tensor<Scalar>]
    var forwarded = false

    init(stack: LayerStack<Scalar>, batchSize: Int, tangentCount: Int) {
        require(batchSize >= 1 && tangentCount >= 1, "LayerStackWorkspace: batch size \(batchSize) and tangent count \(tangentCount) must be ≥ 1")
        require(tangentCount == batchSize || batchSize == 1,
                "LayerStackWorkspace: \(tangentCount) tangents need one point each (batch size \(tangentCount)) or one point for all (batch size 1), got batch size \(batchSize)")
        self.batchSize = batchSize
        self.tangentCount = tangentCount
        shapes = stack.shapes
        patternShapes = stack.layers.indices.map { stack.layers[$0].patternShape(forInput: stack.shapes[$0]) }
        parameterShapes = stack.layers.map { $0.parameters.map(\.shape) }
        activations = shapes.map { Tensor.zeros([batchSize] + $0) }
        patterns = patternShapes.map { $0.map { Tensor.zeros([batchSize] + $0) } ?? Tensor.zeros([0]) }
        scratch = stack.layers.indices.map { stack.layers[$0].scratchShape(forInput: stack.shapes[$0]).map { Tensor.zeros($0) } ?? Tensor.zeros([0]) }
    }

    /// The last forward pass's output, `[batchSize] + outputShape`.
    public var output: Tensor<Scalar> { activations[activations.count - 1] }
    /// The last backward pass's input gradient, `[tangentCount] + inputShape`.
    public var inputGradient: Tensor<Scalar> {
        require(!cotangents.isEmpty, "LayerStackWorkspace.inputGradient: run backward first")
        return cotangents[0]
    }
    /// The last ``LayerStack/jvp(_:in:)``'s J·v, `[tangentCount] + outputShape`.
    public var tangentOutput: Tensor<Scalar> {
        require(!tangents.isEmpty, "LayerStackWorkspace.tangentOutput: run jvp first")
        return tangents[tangents.count - 1]
    }

    /// Bytes of tensor storage the workspace holds.
    public var allocatedBytes: Int {
        let tensors = activations.dropFirst() + patterns + scratch + tangents.dropFirst() + cotangents.dropLast() + parameterGradients.joined()
        return tensors.reduce(0) { $0 + $1.count } * MemoryLayout<Scalar>.stride
    }

    /// Lets `body` write the next batch, `[batchSize] + inputShape`, into the buffer
    /// ``LayerStack/forwardInputBuffer(in:)`` reads (in place, unless a copy of it is held).
    public func withInputBuffer<R>(_ body: (inout Tensor<Scalar>) throws -> R) rethrows -> R {
        let shape = activations[0].shape
        defer { require(activations[0].shape == shape, "LayerStackWorkspace.withInputBuffer: the buffer changed shape") }
        return try body(&activations[0])
    }

    /// Lets `body` write ∂loss/∂output, `[tangentCount] + outputShape`, into the buffer
    /// ``LayerStack/backwardOutputGradientBuffer(in:inputGradient:parameterGradients:frozenLayers:)`` reads.
    public func withOutputGradientBuffer<R>(_ body: (inout Tensor<Scalar>) throws -> R) rethrows -> R {
        allocateCotangents()
        let last = cotangents.count - 1, shape = cotangents[last].shape
        defer { require(cotangents[last].shape == shape, "LayerStackWorkspace.withOutputGradientBuffer: the buffer changed shape") }
        return try body(&cotangents[last])
    }

    func check(_ stack: LayerStack<Scalar>) {
        require(stack.shapes == shapes,
                "LayerStackWorkspace: made for another stack (shapes \(shapes), this stack \(stack.shapes))")
    }

    func allocateTangents() {
        if tangents.isEmpty { tangents = shapes.map { Tensor.zeros([tangentCount] + $0) } }
    }

    func allocateCotangents() {
        if cotangents.isEmpty { cotangents = shapes.map { Tensor.zeros([tangentCount] + $0) } }
    }

    func allocateParameterGradients() {
        if parameterGradients.isEmpty { parameterGradients = parameterShapes.map { $0.map { Tensor.zeros($0) } } }
    }
}
