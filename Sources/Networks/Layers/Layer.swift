import TensorAlgebra

/// One layer of a ``LayerStack``: what the trainer, the spectrum analyzer and the interpreter
/// need to know about a layer, and nothing about which layer it is.
///
/// Why it is shaped this way. The three research tools each look at a network through one
/// question: the trainer needs outputs and gradients (`forward`, `vjp`,
/// `parameterGradients`), the spectrum analyzer needs matrix-free products J·v and Jᵀ·u at one
/// input (`jvp`, `vjp`), the interpreter needs the piece of the piecewise-linear map the input
/// falls in (`jvp` at the stored `pattern`, from which W(x) and b(x) follow). None of them
/// switches on the layer's type, so convolutions over `[C, L]` or `[C, H, W]`, pooling (max
/// keeps its winners in the pattern, average and global average keep none) and any layer a
/// user writes slot in by conforming to this protocol.
///
/// Conventions, for every method:
/// * Tensors are batched and row-major: a batch of `B` samples of per-sample shape `s` is a
///   tensor of shape `[B] + s` (a `[C, H, W]` image batch is `[B, C, H, W]`). Shapes are
///   per-sample everywhere else (``outputShape(forInput:)``).
/// * Every result goes **into** a preallocated tensor of the right shape, owned by the caller
///   (a ``LayerStackWorkspace``): a layer never allocates tensor storage per step.
/// * The *pattern* is what the layer needs to remember from its forward pass to differentiate
///   itself afterwards: the slopes φ′(h) of an activation, the winners of a max pool, nothing
///   for an affine layer (``patternShape(forInput:)`` returns nil). Derivatives are taken at
///   the pattern, not recomputed from the input, so J·v and Jᵀ·u are exactly the products of
///   one fixed linear map (the "fixed activation pattern" of the analyzer and interpreter).
/// * Tangents and cotangents may have another row count than the forward batch: the pattern
///   has either as many rows as they do (one point per row, training) or one row (one point
///   for every row, the analyzer's many directions at one input).
///
/// An existential `any Layer<Scalar>` (not a closed enum) so that a user's module can add a
/// layer; the cost, one dynamic call per layer and batch, is nothing beside a GEMM.
public protocol Layer<Scalar>: Sendable {
    associatedtype Scalar: BLASScalar

    /// The layer's kind and configuration (no weights): what a checkpoint's architecture
    /// metadata stores to rebuild it.
    var layerDescription: LayerDescription { get }

    /// The per-sample input shape this layer requires, when it fixes one (a dense layer:
    /// `[inputs]`); nil when it takes any shape (activations, flatten). A stack built without
    /// an input shape takes its first layer's.
    var requiredInputShape: [Int]? { get }

    /// The per-sample output shape for a per-sample input shape; throws, saying what the
    /// layer takes, when it cannot take this input.
    func outputShape(forInput shape: [Int]) throws(LayerShapeMismatch) -> [Int]

    /// The per-sample shape of the pattern the forward pass keeps, or nil when the layer is
    /// affine (its Jacobian is the same at every input).
    func patternShape(forInput shape: [Int]) -> [Int]?

    /// Local parameter names, in order: "weight", "bias" (a stack prefixes the layer's index,
    /// as PyTorch's `state_dict` does: `0.weight`).
    var parameterNames: [String] { get }
    /// The parameters, in the order of ``parameterNames``.
    var parameters: [Tensor<Scalar>] { get }
    /// Lets `body` change parameter `index` in place (an optimizer step, a load): its shape
    /// must not change.
    mutating func updateParameters(_ body: (_ index: Int, _ parameter: inout Tensor<Scalar>) -> Void)

    /// output ← f(input) for a batch, and the pattern (untouched when the layer has none).
    func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>)

    /// output ← J·tangent, J the layer's Jacobian at `pattern` (forward mode).
    func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into output: inout Tensor<Scalar>)

    /// inputCotangent ← Jᵀ·cotangent, J the layer's Jacobian at `pattern` (reverse mode, the
    /// vector-Jacobian product).
    func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>)

    /// gradients[i] ← ∂⟨cotangent, output⟩/∂parameter i, summed over the batch (written, not
    /// accumulated). `input` and `pattern` are those of the forward pass, with the rows of
    /// `cotangent`.
    func parameterGradients(
        input: Tensor<Scalar>, cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into gradients: inout [Tensor<Scalar>])

    // MARK: Scratch
    //
    // A convolution unfolds each sample's receptive fields into a column buffer before its
    // GEMM (im2col); allocating that buffer per call would break the workspace's rule of no
    // allocation per step, and it is not part of the pattern (it is not needed afterwards, and
    // a layer with a pattern is not affine). So a layer may ask for one scratch tensor: the
    // workspace allocates `scratchShape(forInput:)` once per layer and hands it to the
    // `scratch:` forms below, which ``LayerStack`` calls. Its contents are garbage between
    // calls, and one buffer serves forward, J·v, Jᵀ·u and parameter gradients (they run one
    // after another). Additive: every requirement below has a default, a layer without
    // scratch (dense, activations, pools) implements none of them, and a layer with scratch
    // keeps its scratch-free forms as allocating conveniences.

    /// The shape of the layer's scratch buffer for a per-sample input shape, independent of
    /// the batch size; nil (the default) when it needs none.
    func scratchShape(forInput shape: [Int]) -> [Int]?
    /// ``forward(_:into:pattern:)`` with the workspace's scratch buffer.
    func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>, scratch: inout Tensor<Scalar>)
    /// ``jvp(_:pattern:into:)`` with the workspace's scratch buffer.
    func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, scratch: inout Tensor<Scalar>, into output: inout Tensor<Scalar>)
    /// ``vjp(_:pattern:into:)`` with the workspace's scratch buffer.
    func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, scratch: inout Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>)
    /// ``parameterGradients(input:cotangent:pattern:into:)`` with the workspace's scratch buffer.
    func parameterGradients(
        input: Tensor<Scalar>, cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, scratch: inout Tensor<Scalar>,
        into gradients: inout [Tensor<Scalar>])
}

extension Layer {
    public func scratchShape(forInput shape: [Int]) -> [Int]? { nil }
    public func forward(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>, pattern: inout Tensor<Scalar>, scratch: inout Tensor<Scalar>) {
        forward(input, into: &output, pattern: &pattern)
    }
    public func jvp(_ tangent: Tensor<Scalar>, pattern: Tensor<Scalar>, scratch: inout Tensor<Scalar>, into output: inout Tensor<Scalar>) {
        jvp(tangent, pattern: pattern, into: &output)
    }
    public func vjp(_ cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, scratch: inout Tensor<Scalar>, into inputCotangent: inout Tensor<Scalar>) {
        vjp(cotangent, pattern: pattern, into: &inputCotangent)
    }
    public func parameterGradients(
        input: Tensor<Scalar>, cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, scratch: inout Tensor<Scalar>,
        into gradients: inout [Tensor<Scalar>]
    ) {
        parameterGradients(input: input, cotangent: cotangent, pattern: pattern, into: &gradients)
    }
}

extension Layer {
    public var requiredInputShape: [Int]? { nil }
    public func patternShape(forInput shape: [Int]) -> [Int]? { nil }
    public var parameterNames: [String] { [] }
    public var parameters: [Tensor<Scalar>] { [] }
    public mutating func updateParameters(_ body: (_ index: Int, _ parameter: inout Tensor<Scalar>) -> Void) {}
    public func parameterGradients(
        input: Tensor<Scalar>, cotangent: Tensor<Scalar>, pattern: Tensor<Scalar>, into gradients: inout [Tensor<Scalar>]) {}

    /// The number of scalar parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}

/// Why a layer cannot take an input shape: `expected` says what it takes ("[20]", "a
/// non-empty shape").
public struct LayerShapeMismatch: Error, Equatable, Sendable {
    public var expected: String
    public init(expected: String) { self.expected = expected }
}

/// Row `row` of a pattern that has either `rows` rows or one row shared by all.
@inlinable
func patternRow(_ row: Int, patternRows: Int) -> Int { patternRows == 1 ? 0 : row }
