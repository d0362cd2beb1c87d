import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// An evaluation metric of attributions: how faithful, robust or complete an
/// ``AttributionMethod``'s explanations of a ``LayerStack`` are, sample by sample
/// (docs/interpretation.md, "Evaluating attributions", states each metric's conventions).
///
/// The metric gets both the attributions already computed (most metrics read only them and
/// the network: deletion curves, faithfulness correlation) and the method that made them
/// (metrics that explain perturbed inputs again, such as max-sensitivity, call it), so a
/// methods × metrics table computes each method's attributions once.
///
/// ```swift
/// let maps = try GradientTimesInput<Double>().attributions(stack, inputs: x, targets: t)
/// let residual = try CompletenessResidual<Double>().scores(stack, method: GradientTimesInput(), inputs: x, targets: t, attributions: maps)
/// print(residual.mean)
/// ```
public protocol AttributionMetric<Scalar>: Sendable {
    associatedtype Scalar: BLASScalar

    /// A short lowercase name for tables and files ("completeness-residual", "deletion-auc").
    var name: String { get }
    /// Whether a larger score means a better explanation (the report ranks methods by it).
    var higherIsBetter: Bool { get }

    /// The metric of each sample's attributions: `attributions` has `inputs`' shape and
    /// explains output `targets[i]` (counted among ``LayerStack/scoreUnits``) at `inputs[i]`;
    /// `method` made them.
    func scores(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>
    ) throws(InterpretationError) -> AttributionScores
}
