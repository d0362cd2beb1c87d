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
    /// settings do not fit them (a baseline of another shape), the stack has no exact
    /// linearisation where the method needs one, or a target is outside the class units
    /// (``InterpretationError/labelOutOfRange(label:classes:)``: targets usually come from
    /// labels). `targets` of another count than the batch are a programming error.
    func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar>

    /// The reference input x̄ the method explains the change from (Integrated Gradients' and
    /// Occlusion's baseline), in any shape the method accepts; nil for the zero input or a
    /// method without one. ``CompletenessResidual`` measures against it.
    var baseline: Tensor<Scalar>? { get }

    /// The name with the settings that tell two configurations apart in one table
    /// ("integrated-gradients (16 steps, riemann_middle, zero baseline)"); ``name`` stays the
    /// registry name.
    var summary: String { get }
}

extension AttributionMethod {
    /// No baseline: the methods without one need not declare it.
    public var baseline: Tensor<Scalar>? { nil }
    /// The name alone, for methods without settings.
    public var summary: String { name }
}

/// How a baseline reads in a summary: zero, one shared tensor, or one per sample.
func baselineSummary<Scalar>(_ baseline: Tensor<Scalar>?, value: Double = 0) -> String {
    guard let baseline else { return value == 0 ? "zero baseline" : "baseline \(value)" }
    return "baseline of shape \(baseline.shape)"
}

extension LayerStack {
    // The targets of an ``AttributionMethod`` count among ``scoreUnits`` (StackAnalysis.swift):
    // the last C outputs with class dimensions, every output otherwise.

    /// Checks that every target is one of the ``scoreUnits``: targets usually come from data
    /// labels, so one out of range is an error, not a crash.
    func checkTargets(_ targets: [Int], count: Int) throws(InterpretationError) {
        require(targets.count == count, "attributions: \(targets.count) targets for \(count) inputs")
        let units = scoreUnits.count
        if let bad = targets.first(where: { $0 < 0 || $0 >= units }) { throw .labelOutOfRange(label: bad, classes: units) }
    }
}
