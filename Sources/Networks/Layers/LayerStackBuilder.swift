import TensorAlgebra

/// Builds a stack's layers from a list, inferring each layer's scalar type from the stack's:
///
/// ```swift
/// var generator = SeededGenerator(seed: 1)
/// let stack = LayerStack<Float>(inputShape: [2, 10]) {
///     Flatten()
///     Dense(inputs: 20, outputs: 8, using: &generator)
///     ActivationLayer(.relu)
///     Dense(inputs: 8, outputs: 3, using: &generator)
/// }
/// ```
///
/// Why a builder: in an array literal typed `[any Layer<Float>]`, Swift 6.3 does not infer the
/// generic argument of `Flatten()` or `ActivationLayer(.relu)` from the existential's primary
/// associated type ("generic parameter 'Scalar' could not be inferred"), so every layer
/// would have to spell `<Float>`; a builder's generic `buildExpression` with
/// `L.Scalar == Scalar` does infer it.
@resultBuilder
public enum LayerStackBuilder<Scalar: BLASScalar> {
    public static func buildExpression<L: Layer>(_ layer: L) -> [any Layer<Scalar>] where L.Scalar == Scalar { [layer] }
    public static func buildExpression(_ layers: [any Layer<Scalar>]) -> [any Layer<Scalar>] { layers }
    public static func buildBlock(_ parts: [any Layer<Scalar>]...) -> [any Layer<Scalar>] { parts.flatMap { $0 } }
    public static func buildArray(_ parts: [[any Layer<Scalar>]]) -> [any Layer<Scalar>] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [any Layer<Scalar>]?) -> [any Layer<Scalar>] { part ?? [] }
    public static func buildEither(first part: [any Layer<Scalar>]) -> [any Layer<Scalar>] { part }
    public static func buildEither(second part: [any Layer<Scalar>]) -> [any Layer<Scalar>] { part }
}

extension LayerStack {
    /// The stack of the layers `build` lists (see ``LayerStackBuilder``).
    public init(inputShape: [Int]? = nil, @LayerStackBuilder<Scalar> _ build: () -> [any Layer<Scalar>]) {
        self.init(inputShape: inputShape, layers: build())
    }
}
