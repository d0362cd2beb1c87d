import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// An attribution method: how much each input feature of a sample counts toward one output of
/// a ``LayerStack`` (docs/interpretation.md, "Attribution methods").
///
/// One shape for every method, as Captum's `attribute(inputs, target:)` has: a batch of inputs
/// and one target output per sample in, attributions of the inputs' shape out. Methods are
/// values holding their settings (the steps and baseline of Integrated Gradients, the noise of
/// SmoothGrad), so a comparison is a list of them:
///
/// ```swift
/// let methods: [any AttributionMethod<Double>] = [Gradient(), GradientTimesInput()]
/// for method in methods {
///     let maps = try method.attributions(stack, inputs: images, targets: labels)   // images.shape
///     print(method.name, maps.shape)
/// }
/// ```
///
/// Targets are output units counted among the stack's *class units*: with class dimensions
/// (an identity-initialised classifier, whose class scores are the last C of D + C outputs)
/// target c is output unit D + c; otherwise target c is output c (a logit).
public protocol AttributionMethod<Scalar>: Sendable {
    associatedtype Scalar: BLASScalar

    /// A short lowercase name for tables, files and command-line options ("gradient",
    /// "integrated-gradients").
    var name: String { get }

    /// The attributions of output `targets[i]` at input `inputs[i]`, for every sample of the
    /// batch: a tensor of `inputs`' shape (`[count] + inputShape`, or the flattened
    /// `[count, inputs]`).
    ///
    /// Throws when the inputs do not fit the stack (shape, NaN or infinity), the method's own
    /// settings do not fit them (a baseline of another shape), or the stack has no exact
    /// linearisation where the method needs one. `targets` of another count than the batch,
    /// or outside the class units, are a programming error.
    func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar>
}

extension LayerStack {
    /// The class units the ``AttributionMethod`` targets count among: the last C outputs with
    /// class dimensions, every output otherwise.
    public var targetUnits: Range<Int> {
        classDimensions?.classRange ?? 0 ..< outputShape.reduce(1, *)
    }

    /// `[count, outputs]` one-hot rows selecting output unit `targetUnits.lowerBound + targets[i]`
    /// in row i: the cotangents whose vector–Jacobian products are the targets' gradients.
    func targetCotangents(_ targets: [Int]) -> Tensor<Scalar> {
        let units = targetUnits, outputs = outputShape.reduce(1, *)
        var rows = Tensor<Scalar>.zeros([targets.count] + outputShape)
        rows.withUnsafeMutableBufferPointer { r in
            for (i, t) in targets.enumerated() {
                require(t >= 0 && t < units.count, "attributions: target \(t) of sample \(i) is not among the \(units.count) class units")
                r[i * outputs + units.lowerBound + t] = 1
            }
        }
        return rows
    }

    /// ∂F_target/∂x for every sample of checked inputs `[count] + inputShape`: one forward pass
    /// and one vector–Jacobian product for the batch, in batches of at most `batchSize` samples
    /// so that the workspace stays small. The building block of the gradient-based methods.
    func targetGradients(_ inputs: Tensor<Scalar>, targets: [Int], batchSize: Int = 256) -> Tensor<Scalar> {
        let count = inputs.shape[0], width = inputShape.reduce(1, *)
        require(targets.count == count, "attributions: \(targets.count) targets for \(count) inputs")
        var gradients = Tensor<Scalar>.zeros([count] + inputShape)
        var workspace: LayerStackWorkspace<Scalar>?
        for start in stride(from: 0, to: count, by: batchSize) {
            let rows = start ..< min(start + batchSize, count)
            if workspace?.batchSize != rows.count { workspace = makeWorkspace(batchSize: rows.count) }
            let batch = inputs.rows(rows)
            forward(batch, in: workspace!)
            vjp(targetCotangents(Array(targets[rows])), in: workspace!)
            let g = workspace!.inputGradient
            gradients.withUnsafeMutableBufferPointer { out in
                g.withUnsafeBufferPointer { g in
                    (out.baseAddress! + rows.lowerBound * width).update(from: g.baseAddress!, count: rows.count * width)
                }
            }
        }
        return gradients
    }
}

/// The gradient ∂F_target/∂x (Simonyan et al. 2014's saliency, signed: Captum's `Saliency`
/// with `abs=False`). On a piecewise-linear stack it is the target's row of W(x)
/// (docs/theory.md §4).
public struct Gradient<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { "gradient" }
    public init() {}

    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        let batch = try stack.checkedInputs(inputs)
        return stack.targetGradients(batch, targets: targets).reshaped(inputs.shape)
    }
}

/// Gradient × input, x ⊙ ∂F_target/∂x (Shrikumar et al. 2016; Captum's `InputXGradient`). On a
/// piecewise-linear stack it equals the linearisation's W(x)_target ⊙ x exactly, whose sum is
/// F_target(x) − b_target(x) (docs/theory.md §4).
public struct GradientTimesInput<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { "gradient-x-input" }
    public init() {}

    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        let batch = try stack.checkedInputs(inputs)
        var maps = stack.targetGradients(batch, targets: targets)
        maps.withUnsafeMutableBufferPointer { m in
            batch.withUnsafeBufferPointer { x in
                for i in m.indices { m[i] *= x[i] }
            }
        }
        return maps.reshaped(inputs.shape)
    }
}
