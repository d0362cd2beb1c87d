import TensorAlgebra
import IsometrySupport

/// What Conv1d and Conv2d share: the weight `[out, in] + kernel`, the bias `[out]`, the window
/// settings, and the passes through TensorAlgebra's im2col + GEMM convolution.
struct ConvolutionCore<Scalar: BLASScalar>: Sendable {
    var weight: Tensor<Scalar>
    /// `[out]`, or `[0]` without bias (as ``Dense``: both stay stored tensors an optimizer updates).
    var storedBias: Tensor<Scalar>
    let hasBias: Bool
    let stride: [Int], padding: [Int], dilation: [Int]

    var outChannels: Int { weight.shape[0] }
    var inChannels: Int { weight.shape[1] }
    var kernel: [Int] { Array(weight.shape.dropFirst(2)) }
    var rank: Int { weight.rank - 2 }
    var kind: String { "conv\(rank)d" }

    init(weight: Tensor<Scalar>, bias: Tensor<Scalar>?, stride: [Int]?, padding: [Int]?, dilation: [Int]?, rank: Int, name: String) {
        require(weight.rank == rank + 2 && weight.shape.allSatisfy { $0 >= 1 },
                "\(name): weight has shape \(weight.shape), expected [out, in] + a \(rank)-D kernel, every extent ≥ 1")
        if let bias { require(bias.shape == [weight.shape[0]], "\(name): bias has shape \(bias.shape), expected [\(weight.shape[0])]") }
        let stride = stride ?? Array(repeating: 1, count: rank), padding = padding ?? Array(repeating: 0, count: rank)
        let dilation = dilation ?? Array(repeating: 1, count: rank)
        require(stride.count == rank && padding.count == rank && dilation.count == rank
                    && stride.allSatisfy { $0 >= 1 } && dilation.allSatisfy { $0 >= 1 } && padding.allSatisfy { $0 >= 0 },
                "\(name): stride \(stride), padding \(padding), dilation \(dilation) need \(rank) entries each, strides and dilations ≥ 1, paddings ≥ 0")
        self.weight = weight
        self.storedBias = bias ?? Tensor.zeros([0])
        self.hasBias = bias != nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
    }

    /// PyTorch's default initialisation of `nn.Conv1d/2d` (kaiming_uniform with a = √5):
    /// weight and bias uniform in ±1/√fan_in, fan_in = in·kernel taps.
    static func pytorchDefault(
        inChannels: Int, outChannels: Int, kernel: [Int], bias: Bool, using generator: inout SeededGenerator
    ) -> (Tensor<Scalar>, Tensor<Scalar>?) {
        let bound = 1 / Scalar(inChannels * kernel.reduce(1, *)).squareRoot()
        let weight = Tensor<Scalar>.randomUniform([outChannels, inChannels] + kernel, in: -bound ..< bound, using: &generator)
        return (weight, bias ? Tensor<Scalar>.randomUniform([outChannels], in: -bound ..< bound, using: &generator) : nil)
    }

    var layerDescription: LayerDescription {
        LayerDescription(kind: kind, attributes: [
            "in_channels": .int(inChannels), "out_channels": .int(outChannels), "kernel": .ints(kernel),
            "stride": .ints(stride), "padding": .ints(padding), "dilation": .ints(dilation), "bias": .bool(hasBias),
        ])
    }

    /// The window over a per-sample shape `[in] + size`, or what the layer takes, in words.
    func geometry(_ shape: [Int]) throws(LayerShapeMismatch) -> WindowGeometry {
        let sizes = rank == 2 ? "H, W" : "L"
        guard shape.count == rank + 1, shape[0] == inChannels else { throw LayerShapeMismatch(expected: "[\(inChannels), \(sizes)]") }
        do { return try WindowGeometry(inputSize: Array(shape.dropFirst()), kernel: kernel, stride: stride, padding: padding, dilation: dilation) } catch {
            throw LayerShapeMismatch(expected: "[\(inChannels), \(sizes)] with room for its window (\(error))")
        }
    }

    /// The geometry of a batch already checked by the stack (per-sample shape = its tail).
    /// Rebuilt per call from the tensor's shape: a few small arrays, nothing beside the GEMMs.
    func batchGeometry(_ batch: Tensor<Scalar>) -> WindowGeometry {
        do { return try geometry(Array(batch.shape.dropFirst())) } catch {
            fatalError("\(kind): batch of shape \(batch.shape) does not fit: takes \(error.expected)")
        }
    }

    func outputShape(forInput shape: [Int]) throws(LayerShapeMismatch) -> [Int] { [outChannels] + (try geometry(shape)).outputSize }

    func scratchShape(forInput shape: [Int]) -> [Int]? {
        (try? geometry(shape)).map { convolutionColumnsShape(inputChannels: inChannels, geometry: $0) }
    }

    /// A scratch buffer for the scratch-free (allocating) forms.
    func freshScratch(_ batch: Tensor<Scalar>) -> Tensor<Scalar> {
        Tensor.zeros(convolutionColumnsShape(inputChannels: inChannels, geometry: batchGeometry(batch)))
    }

    func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, scratch: inout Tensor<Scalar>) {
        convolution(input, weight: weight, bias: hasBias ? storedBias : nil, geometry: batchGeometry(input), columns: &scratch, into: &output)
    }

    /// J·v: the convolution without bias (the layer is affine).
    func jvp(_ tangent: Tensor<Scalar>, scratch: inout Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        convolution(tangent, weight: weight, bias: nil, geometry: batchGeometry(tangent), columns: &scratch, into: &output)
    }

    func vjp(_ cotangent: Tensor<Scalar>, scratch: inout Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>) {
        convolutionInputGradient(cotangent, weight: weight, geometry: batchGeometry(inputCotangent), columns: &scratch, into: &inputCotangent)
    }

    func parameterGradients(input: Tensor<Scalar>, cotangent: Tensor<Scalar>, scratch: inout Tensor<Scalar>, into gradients: inout [Tensor<Scalar>]) {
        convolutionWeightGradient(input: input, outputGradient: cotangent, geometry: batchGeometry(input), columns: &scratch, into: &gradients[0])
        if hasBias { convolutionBiasGradient(cotangent, into: &gradients[1]) }
    }

    mutating func updateParameters(_ body: (_ index: Int, _ parameter: inout Tensor<Scalar>) -> Void) {
        let (weightShape, biasShape) = (weight.shape, storedBias.shape)
        body(0, &weight)
        if hasBias { body(1, &storedBias) }
        require(weight.shape == weightShape && storedBias.shape == biasShape,
                "\(kind).updateParameters: a parameter changed shape (weight \(weightShape) → \(weight.shape), bias \(biasShape) → \(storedBias.shape))")
    }
}

/// What ``Conv1d`` and ``Conv2d`` are beyond their inits: a ``ConvolutionCore`` every
/// requirement of ``Layer`` forwards to, written once here for both.
///
/// Internal, so the two public types keep exactly their own API; the members below are public
/// because they are the public types' witnesses of ``Layer``, and documented as the types'
/// own (`@_documentation(visibility: public)`: the symbol graph leaves out the members of an
/// internal protocol's extension otherwise, and the pages would show ``Layer``'s defaults).
protocol ConvolutionLayer: Layer {
    var core: ConvolutionCore<Scalar> { get set }
}

extension ConvolutionLayer {
    /// `[out, in] + kernel`.
    @_documentation(visibility: public)
    public var weight: Tensor<Scalar> { core.weight }
    /// `[out]`, or nil for a layer without bias.
    @_documentation(visibility: public)
    public var bias: Tensor<Scalar>? { core.hasBias ? core.storedBias : nil }

    @_documentation(visibility: public)
    public var layerDescription: LayerDescription { core.layerDescription }
    @_documentation(visibility: public)
    public func outputShape(forInput shape: [Int]) throws(LayerShapeMismatch) -> [Int] { try core.outputShape(forInput: shape) }
    @_documentation(visibility: public)
    public func scratchShape(forInput shape: [Int]) -> [Int]? { core.scratchShape(forInput: shape) }
    @_documentation(visibility: public)
    public var parameterNames: [String] { core.hasBias ? ["weight", "bias"] : ["weight"] }
    @_documentation(visibility: public)
    public var parameters: [Tensor<Scalar>] { core.hasBias ? [core.weight, core.storedBias] : [core.weight] }
    @_documentation(visibility: public)
    public mutating func updateParameters(_ body: (_ index: Int, _ parameter: inout Tensor<Scalar>) -> Void) { core.updateParameters(body) }

    @_documentation(visibility: public)
    public func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>, scratch: inout Tensor<Scalar>) {
        core.forward(input, into: &output, scratch: &scratch)
    }
    @_documentation(visibility: public)
    public func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, scratch: inout Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        core.jvp(tangent, scratch: &scratch, into: &output)
    }
    @_documentation(visibility: public)
    public func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, scratch: inout Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>) {
        core.vjp(cotangent, scratch: &scratch, into: &inputCotangent)
    }
    @_documentation(visibility: public)
    public func parameterGradients(
        input: Tensor<Scalar>, cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, scratch: inout Tensor<Scalar>, into gradients: inout [Tensor<Scalar>]
    ) {
        core.parameterGradients(input: input, cotangent: cotangent, scratch: &scratch, into: &gradients)
    }

    // The scratch-free forms allocate a column buffer per call (conveniences; stacks pass scratch).
    @_documentation(visibility: public)
    public func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>) {
        var scratch = core.freshScratch(input)
        core.forward(input, into: &output, scratch: &scratch)
    }
    @_documentation(visibility: public)
    public func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        var scratch = core.freshScratch(tangent)
        core.jvp(tangent, scratch: &scratch, into: &output)
    }
    @_documentation(visibility: public)
    public func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>) {
        var scratch = core.freshScratch(inputCotangent)
        core.vjp(cotangent, scratch: &scratch, into: &inputCotangent)
    }
    @_documentation(visibility: public)
    public func parameterGradients(input: Tensor<Scalar>, cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into gradients: inout [Tensor<Scalar>]) {
        var scratch = core.freshScratch(input)
        core.parameterGradients(input: input, cotangent: cotangent, scratch: &scratch, into: &gradients)
    }
}

/// A 2-D convolution over `[in, H, W]` samples (PyTorch's `nn.Conv2d`: cross-correlation,
/// weight `[out, in, kh, kw]`, bias `[out]`, zero padding, stride, dilation) →
/// `[out, H′, W′]`.
///
/// Affine, so it keeps no pattern; its J·v is the bias-free convolution and its Jᵀ·u the
/// transposed one. Its passes unfold each sample into the workspace's scratch buffer
/// (``Layer/scratchShape(forInput:)``: `[in·kh·kw, H′·W′]`) and run one GEMM per sample.
public struct Conv2d<Scalar: BLASScalar>: ConvolutionLayer {
    var core: ConvolutionCore<Scalar>

    /// Stops with a message naming the shapes when `weight` is not `[out, in, kh, kw]` or the
    /// bias not `[out]` (files are checked by the loaders, which throw).
    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil, stride: [Int]? = nil, padding: [Int]? = nil, dilation: [Int]? = nil) {
        core = ConvolutionCore(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, rank: 2, name: "Conv2d")
    }

    /// PyTorch's default initialisation (weight and bias uniform in ±1/√(in·kh·kw)).
    public init(
        inChannels: Int, outChannels: Int, kernel: [Int], stride: [Int]? = nil, padding: [Int]? = nil, dilation: [Int]? = nil,
        bias: Bool = true, using generator: inout SeededGenerator
    ) {
        require(inChannels >= 1 && outChannels >= 1 && kernel.count == 2 && kernel.allSatisfy { $0 >= 1 },
                "Conv2d: needs channels ≥ 1 and a 2-D kernel of extents ≥ 1, got \(inChannels) → \(outChannels), kernel \(kernel)")
        let (w, b) = ConvolutionCore<Scalar>.pytorchDefault(inChannels: inChannels, outChannels: outChannels, kernel: kernel, bias: bias, using: &generator)
        self.init(weight: w, bias: b, stride: stride, padding: padding, dilation: dilation)
    }

    public var stride: [Int] { core.stride }
    public var padding: [Int] { core.padding }
    public var dilation: [Int] { core.dilation }
}

/// A 1-D convolution over `[in, L]` samples (PyTorch's `nn.Conv1d`: weight `[out, in, k]`,
/// bias `[out]`) → `[out, L′]`; everything as ``Conv2d``, which it is with height 1.
public struct Conv1d<Scalar: BLASScalar>: ConvolutionLayer {
    var core: ConvolutionCore<Scalar>

    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil, stride: Int = 1, padding: Int = 0, dilation: Int = 1) {
        core = ConvolutionCore(weight: weight, bias: bias, stride: [stride], padding: [padding], dilation: [dilation], rank: 1, name: "Conv1d")
    }

    /// PyTorch's default initialisation (weight and bias uniform in ±1/√(in·k)).
    public init(
        inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
        bias: Bool = true, using generator: inout SeededGenerator
    ) {
        require(inChannels >= 1 && outChannels >= 1 && kernel >= 1,
                "Conv1d: needs channels ≥ 1 and a kernel ≥ 1, got \(inChannels) → \(outChannels), kernel \(kernel)")
        let (w, b) = ConvolutionCore<Scalar>.pytorchDefault(inChannels: inChannels, outChannels: outChannels, kernel: [kernel], bias: bias, using: &generator)
        self.init(weight: w, bias: b, stride: stride, padding: padding, dilation: dilation)
    }
}
