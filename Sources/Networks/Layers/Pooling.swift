import TensorAlgebra
import IsometrySupport

/// The window of a pooling layer: kernel, stride (PyTorch's default: the kernel) and zero
/// padding, at most half the kernel (PyTorch refuses more: a window could then lie wholly in
/// the padding and have nothing to pool).
struct PoolWindow: Hashable, Sendable {
    let kernel: [Int], stride: [Int], padding: [Int]

    init(kernel: [Int], stride: [Int]?, padding: [Int]?, name: String) {
        let rank = kernel.count
        require(rank == 1 || rank == 2, "\(name): kernel \(kernel) must have 1 or 2 entries")
        let stride = stride ?? kernel, padding = padding ?? Array(repeating: 0, count: rank)
        require(stride.count == rank && padding.count == rank && kernel.allSatisfy { $0 >= 1 } && stride.allSatisfy { $0 >= 1 }
                    && (0 ..< rank).allSatisfy { padding[$0] >= 0 && 2 * padding[$0] <= kernel[$0] },
                "\(name): kernel \(kernel), stride \(stride), padding \(padding): need equal lengths, extents ≥ 1 and 0 ≤ padding ≤ kernel / 2")
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    var attributes: [String: LayerDescription.Attribute] { ["kernel": .ints(kernel), "stride": .ints(stride), "padding": .ints(padding)] }

    func geometry(_ shape: [Int]) throws(LayerShapeMismatch) -> WindowGeometry {
        let sizes = kernel.count == 2 ? "[C, H, W]" : "[C, L]"
        guard shape.count == kernel.count + 1 else { throw LayerShapeMismatch(expected: sizes) }
        do { return try WindowGeometry(inputSize: Array(shape.dropFirst()), kernel: kernel, stride: stride, padding: padding) } catch {
            throw LayerShapeMismatch(expected: "\(sizes) with room for its window (\(error))")
        }
    }

    func batchGeometry<Scalar>(_ batch: Tensor<Scalar>, _ kind: String) -> WindowGeometry {
        do { return try geometry(Array(batch.shape.dropFirst())) } catch {
            fatalError("\(kind): batch of shape \(batch.shape) does not fit: takes \(error.expected)")
        }
    }

    func outputShape(_ shape: [Int]) throws(LayerShapeMismatch) -> [Int] { [shape[0]] + (try geometry(shape)).outputSize }
}

/// What ``MaxPool`` and ``AvgPool`` share beyond their passes: the window, its settings, the
/// description and the output shape, written once here for both (internal, so the two public
/// types keep exactly their own API; the members are public as their witnesses of ``Layer``,
/// and documented as the types' own, as ``ConvolutionLayer``'s).
protocol PoolingLayer: Layer {
    var window: PoolWindow { get }
    /// "maxpool" or "avgpool": the kind is this and the rank, "maxpool2d".
    static var kindPrefix: String { get }
    init(kernel: [Int], stride: [Int]?, padding: [Int]?)
}

extension PoolingLayer {
    /// The window's extents, one per spatial dimension.
    @_documentation(visibility: public)
    public var kernel: [Int] { window.kernel }
    /// How far the window moves (PyTorch's default: the kernel).
    @_documentation(visibility: public)
    public var stride: [Int] { window.stride }
    /// Padding on each side of every spatial dimension.
    @_documentation(visibility: public)
    public var padding: [Int] { window.padding }
    var kind: String { "\(Self.kindPrefix)\(window.kernel.count)d" }

    @_documentation(visibility: public)
    public var layerDescription: LayerDescription { LayerDescription(kind: kind, attributes: window.attributes) }
    @_documentation(visibility: public)
    public func outputShape(forInput shape: [Int]) throws(LayerShapeMismatch) -> [Int] { try window.outputShape(shape) }

    /// A square 2-D window (`MaxPool2d(2)`, `AvgPool2d(2)` in PyTorch).
    @_documentation(visibility: public)
    public init(square kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.init(kernel: [kernel, kernel], stride: stride.map { [$0, $0] }, padding: [padding, padding])
    }
}

/// Max pooling over `[C, L]` (1-D) or `[C, H, W]` (2-D) samples, PyTorch's `nn.MaxPool1d/2d`
/// (floor mode, −∞ padding, the first maximum of a window in scan order).
///
/// Its pattern is the winners: for every output, the flat index of the input it copied
/// within its channel plane (as PyTorch's `return_indices`). J·v picks the tangent at the
/// winners and Jᵀ·u routes the cotangent back onto them, so both are products of one fixed
/// selection, and the interpreter reads from the pattern which inputs passed.
public struct MaxPool<Scalar: BLASScalar>: PoolingLayer {
    let window: PoolWindow

    /// 1-D or 2-D by the length of `kernel` (stride defaults to the kernel, as in PyTorch).
    public init(kernel: [Int], stride: [Int]? = nil, padding: [Int]? = nil) {
        window = PoolWindow(kernel: kernel, stride: stride, padding: padding, name: "MaxPool")
    }

    static var kindPrefix: String { "maxpool" }

    public func patternShape(forInput shape: [Int]) -> [Int]? { try? window.outputShape(shape) }

    public func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>) {
        maxPool(input, geometry: window.batchGeometry(input, kind), into: &output, winners: &pattern)
    }
    public func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        maxPoolTangent(tangent, winners: pattern, geometry: window.batchGeometry(tangent, kind), into: &output)
    }
    public func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>) {
        maxPoolGradient(cotangent, winners: pattern, geometry: window.batchGeometry(inputCotangent, kind), into: &inputCotangent)
    }
}

/// Average pooling over `[C, L]` or `[C, H, W]` samples, PyTorch's `nn.AvgPool1d/2d` (floor
/// mode, zero padding counted in the mean). Linear: no pattern, J·v is the pool itself.
public struct AvgPool<Scalar: BLASScalar>: PoolingLayer {
    let window: PoolWindow

    public init(kernel: [Int], stride: [Int]? = nil, padding: [Int]? = nil) {
        window = PoolWindow(kernel: kernel, stride: stride, padding: padding, name: "AvgPool")
    }

    static var kindPrefix: String { "avgpool" }

    public func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>) {
        averagePool(input, geometry: window.batchGeometry(input, kind), into: &output)
    }
    public func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        averagePool(tangent, geometry: window.batchGeometry(tangent, kind), into: &output)
    }
    public func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>) {
        averagePoolGradient(cotangent, geometry: window.batchGeometry(inputCotangent, kind), into: &inputCotangent)
    }
}

/// PyTorch's spelling: `MaxPool2d(kernel: 2)` is a 2×2 window, stride 2.
public typealias MaxPool2d = MaxPool
public typealias MaxPool1d = MaxPool
public typealias AvgPool2d = AvgPool
public typealias AvgPool1d = AvgPool

/// The mean of every channel over its positions: `[C, L]` or `[C, H, W]` → `[C]` (PyTorch's
/// `nn.AdaptiveAvgPool2d(1)` followed by `nn.Flatten()`, in one layer). Linear, no pattern.
public struct GlobalAvgPool<Scalar: BLASScalar>: Layer {
    public init() {}

    public var layerDescription: LayerDescription { LayerDescription(kind: "global-avgpool") }

    public func outputShape(forInput shape: [Int]) throws(LayerShapeMismatch) -> [Int] {
        guard shape.count >= 2 else { throw LayerShapeMismatch(expected: "[C, L] or [C, H, W]") }
        return [shape[0]]
    }

    public func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>) {
        globalAveragePool(input, into: &output)
    }
    public func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        globalAveragePool(tangent, into: &output)
    }
    public func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>) {
        globalAveragePoolGradient(cotangent, into: &inputCotangent)
    }
}
