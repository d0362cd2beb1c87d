import IsometrySupport
import TensorAlgebra

/// A pointwise nonlinearity φ on inputs of any shape (PyTorch's `nn.ReLU`, `nn.Hardtanh`, …
/// as modules of their own, which is why their indices in a `Sequential` hold no tensors).
///
/// Its pattern is the slope φ′(h) of every unit at the forward pass's input: 1 where a
/// ReLU or hard-tanh unit passes, 0 where it is off or saturated, the slope where a leaky ReLU
/// is negative. J·v and Jᵀ·u multiply by it, so both are the products of one fixed diagonal
/// map; the interpreter reads which units are active from it.
public struct ActivationLayer<Scalar: BLASScalar>: Layer {
    public let function: Nonlinearity

    public init(_ function: Nonlinearity) { self.function = function }
    /// The layer of an identity classifier's ``Activation``.
    public init(activation: Activation) { self.function = Nonlinearity(activation) }

    public var layerDescription: LayerDescription {
        if case .leakyReLU(let slope) = function {
            return LayerDescription(kind: function.kind, attributes: ["slope": .number(slope)])
        }
        return LayerDescription(kind: function.kind)
    }

    public func outputShape(forInput shape: [Int]) throws(LayerShapeMismatch) -> [Int] { shape }
    public func patternShape(forInput shape: [Int]) -> [Int]? { shape }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>) {
        let function = function
        output.withUnsafeMutableBufferPointer { y in
            pattern.withUnsafeMutableBufferPointer { slope in
                input.withUnsafeBufferPointer { x in
                    for i in 0 ..< x.count {
                        y[i] = function(x[i])
                        slope[i] = function.derivative(x[i])
                    }
                }
            }
        }
    }

    public func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        Self.scale(tangent, by: pattern, into: &output)
    }

    public func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>) {
        Self.scale(cotangent, by: pattern, into: &inputCotangent)
    }

    /// output ← pattern ⊙ vector, row by row; a one-row pattern serves every row.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func scale(_ vector: Tensor<Scalar>, by pattern: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        let rows = vector.shape[0]
        let width = rows == 0 ? 0 : vector.count / rows
        let patternRows = pattern.shape[0]
        output.withUnsafeMutableBufferPointer { y in
            vector.withUnsafeBufferPointer { v in
                pattern.withUnsafeBufferPointer { p in
                    for r in 0 ..< rows {
                        let pr = patternRow(r, patternRows: patternRows) * width
                        for j in 0 ..< width { y[r * width + j] = p[pr + j] * v[r * width + j] }
                    }
                }
            }
        }
    }
}

/// Flattens each sample to a vector: `[C, L]` or `[C, H, W]` → `[C·L]` or `[C·H·W]`, in
/// row-major order (PyTorch's `nn.Flatten()`), between convolutions and dense layers.
///
/// The copy into the next buffer keeps the workspace rule (every layer writes its own output);
/// it costs one pass over the batch, nothing beside the layers around it.
public struct Flatten<Scalar: BLASScalar>: Layer {
    public init() {}

    public var layerDescription: LayerDescription { LayerDescription(kind: "flatten") }

    public func outputShape(forInput shape: [Int]) throws(LayerShapeMismatch) -> [Int] {
        guard !shape.isEmpty else { throw LayerShapeMismatch(expected: "a shape of rank ≥ 1") }
        guard let count = MemoryBudget.product(shape) else { throw LayerShapeMismatch(expected: "a shape of at most \(Int.max) values") }
        return [count]
    }

    public func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>) {
        Self.copy(input, into: &output)
    }
    public func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        Self.copy(tangent, into: &output)
    }
    public func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>) {
        Self.copy(cotangent, into: &inputCotangent)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func copy(_ source: Tensor<Scalar>, into target: inout Tensor<Scalar>) {
        target.withUnsafeMutableBufferPointer { t in
            source.withUnsafeBufferPointer { s in
                if s.count > 0 { t.baseAddress!.update(from: s.baseAddress!, count: s.count) }
            }
        }
    }
}
