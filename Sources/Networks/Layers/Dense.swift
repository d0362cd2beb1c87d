import TensorAlgebra
import IsometrySupport

/// A fully connected layer y = W·x + b on per-sample vectors `[inputs]` → `[outputs]`, with
/// PyTorch's `nn.Linear` layout: `weight` is `[outputs, inputs]`, `bias` `[outputs]`.
///
/// A batch of rows goes through as one GEMM, Y = X·Wᵀ + b, straight into the caller's output;
/// the Jacobian is W whatever the input, so the layer keeps no pattern. Inputs of higher rank
/// (a convolution's `[C, L]`) go through a ``Flatten`` first, as in PyTorch.
public struct Dense<Scalar: BLASScalar>: Layer {
    public private(set) var weight: Tensor<Scalar>
    /// `[outputs]`, or `[0]` when the layer has no bias (so that both parameters are stored
    /// tensors an optimizer can update in place).
    private var storedBias: Tensor<Scalar>
    public let hasBias: Bool

    /// The bias, or nil.
    public var bias: Tensor<Scalar>? { hasBias ? storedBias : nil }
    public var inputs: Int { weight.shape[1] }
    public var outputs: Int { weight.shape[0] }

    /// Stops with a message naming the shapes when `weight` is not a matrix or `bias` not
    /// `[outputs]` (programmer misuse; files are checked by the loaders, which throw).
    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil) {
        require(weight.rank == 2, "Dense: weight has shape \(weight.shape), expected a matrix [outputs, inputs]")
        if let bias {
            require(bias.shape == [weight.shape[0]], "Dense: bias has shape \(bias.shape), expected [\(weight.shape[0])] for weight \(weight.shape)")
        }
        self.weight = weight
        self.storedBias = bias ?? Tensor.zeros([0])
        self.hasBias = bias != nil
    }

    /// PyTorch's default initialisation of `nn.Linear`: weight and bias uniform in ±1/√inputs.
    public init(inputs: Int, outputs: Int, bias: Bool = true, using generator: inout SeededGenerator) {
        require(inputs >= 1 && outputs >= 1, "Dense: needs at least one input and one output, got \(inputs) → \(outputs)")
        let bound = 1 / Scalar(inputs).squareRoot()
        let weight = Tensor<Scalar>.randomUniform([outputs, inputs], in: -bound ..< bound, using: &generator)
        let b = bias ? Tensor<Scalar>.randomUniform([outputs], in: -bound ..< bound, using: &generator) : nil
        self.init(weight: weight, bias: b)
    }

    public var layerDescription: LayerDescription {
        LayerDescription(kind: "dense", attributes: ["inputs": .int(inputs), "outputs": .int(outputs), "bias": .bool(hasBias)])
    }

    public var requiredInputShape: [Int]? { [inputs] }

    public func outputShape(forInput shape: [Int]) throws(LayerShapeMismatch) -> [Int] {
        guard shape == [inputs] else { throw LayerShapeMismatch(expected: "[\(inputs)]") }
        return [outputs]
    }

    public var parameterNames: [String] { hasBias ? ["weight", "bias"] : ["weight"] }
    public var parameters: [Tensor<Scalar>] { hasBias ? [weight, storedBias] : [weight] }

    public mutating func updateParameters(_ body: (_ index: Int, _ parameter: inout Tensor<Scalar>) -> Void) {
        let (weightShape, biasShape) = (weight.shape, storedBias.shape)
        body(0, &weight)
        if hasBias { body(1, &storedBias) }
        require(weight.shape == weightShape && storedBias.shape == biasShape,
                "Dense.updateParameters: a parameter changed shape (weight \(weightShape) → \(weight.shape), bias \(biasShape) → \(storedBias.shape))")
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>) {
        if hasBias {
            let (rows, width) = (output.shape[0], outputs)
            output.withUnsafeMutableBufferPointer { out in
                storedBias.withUnsafeBufferPointer { b in
                    for r in 0 ..< rows { (out.baseAddress! + r * width).update(from: b.baseAddress!, count: width) }
                }
            }
            matmul(input, weight, transposeB: true, beta: 1, into: &output)
        } else {
            matmul(input, weight, transposeB: true, into: &output)
        }
    }

    public func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        matmul(tangent, weight, transposeB: true, into: &output)
    }

    public func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>) {
        matmul(cotangent, weight, into: &inputCotangent)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func parameterGradients(
        input: Tensor<Scalar>, cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into gradients: inout [Tensor<Scalar>]
    ) {
        // ∂/∂W = Gᵀ·X ([outputs, B]·[B, inputs]), ∂/∂b = the column sums of G.
        matmul(cotangent, input, transposeA: true, into: &gradients[0])
        guard hasBias else { return }
        let (rows, width) = (cotangent.shape[0], outputs)
        gradients[1].withUnsafeMutableBufferPointer { db in
            cotangent.withUnsafeBufferPointer { g in
                for j in 0 ..< width { db[j] = 0 }
                for r in 0 ..< rows {
                    for j in 0 ..< width { db[j] += g[r * width + j] }
                }
            }
        }
    }
}
