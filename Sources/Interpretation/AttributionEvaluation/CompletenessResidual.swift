import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The completeness residual |Σ_i a_i − (F_t(x) − F_t(x̄))| of each sample (Sundararajan et
/// al. 2017's axiom, reported as a number rather than passed or failed): how far the
/// attributions are from adding up to the target's change from the baseline x̄ to x. Exact
/// linearisation's W(x) ⊙ x adds up to F_t(x) − b_t(x), so against the zero baseline its
/// residual is |b_t(x) − F_t(0)|; Integrated Gradients' shrinks with its steps.
///
/// x̄ is the metric's ``baseline`` if set, else the method's ``AttributionMethod/baseline``
/// (so IG with a baseline is scored against the baseline it integrated from), else zero; one
/// of the per-sample shape shared by every sample, or a batch of the inputs' shape, as
/// ``IntegratedGradients`` accepts them.
public struct CompletenessResidual<Scalar: BLASScalar>: AttributionMetric {
    public var name: String { "completeness-residual" }
    public var higherIsBetter: Bool { false }
    /// The baseline x̄ (per-sample shape or a batch of the inputs' shape), or nil for the
    /// method's baseline.
    public var baseline: Tensor<Scalar>?

    public init(baseline: Tensor<Scalar>? = nil) { self.baseline = baseline }

    public func scores(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>
    ) throws(InterpretationError) -> AttributionScores {
        let batch = try stack.checkedInputs(inputs)
        let count = batch.shape[0], width = stack.inputShape.reduce(1, *)
        require(attributions.count == batch.count,
                "CompletenessResidual: attributions of shape \(attributions.shape) for inputs of shape \(inputs.shape)")
        require(targets.count == count, "CompletenessResidual: \(targets.count) targets for \(count) inputs")
        let base = try stack.checkedBaseline(baseline ?? method.baseline, count: count, method: name)
        let outputs = stack.boundedOutputs(batch)
        let baseOutputs = stack.boundedOutputs(base.values.reshaped([base.perSample ? count : 1] + stack.inputShape))
        let units = stack.scoreUnits, o = stack.outputShape.reduce(1, *)
        var values = [Double](repeating: 0, count: count)
        attributions.withUnsafeBufferPointer { a in
            outputs.withUnsafeBufferPointer { f in
                baseOutputs.withUnsafeBufferPointer { f0 in
                    for i in 0 ..< count {
                        var sum = 0.0
                        for j in 0 ..< width { sum += Double(a[i * width + j]) }
                        let unit = units.lowerBound + targets[i]
                        let start = Double(f0[(base.perSample ? i * o : 0) + unit])
                        values[i] = abs(sum - (Double(f[i * o + unit]) - start))
                    }
                }
            }
        }
        return AttributionScores(values: values)
    }
}
