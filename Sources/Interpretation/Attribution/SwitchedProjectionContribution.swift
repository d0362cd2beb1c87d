import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The contributions of the target's switched linear projection (Szymanski et al.; docs/theory.md
/// §3): with every unit's state frozen at x, the target output is the affine function
/// ŵ_t·x + b̂_t, and input j contributes ŵ_{t,j}·x_j. This is what is implemented — the
/// projection of the target unit itself, not of hidden units.
///
/// At the output layer ŵ_t is the target's row of W(x) and b̂_t its bias share b_t(x), so the
/// map equals ``Linearisation``'s; it is computed here the way Szymanski et al. define it, unit
/// by unit at one input (``SwitchedLinearProjections/projections(layer:units:)``, one backward
/// row per sample), and ``intercepts(_:inputs:targets:)`` gives b̂_t. The two routes agreeing is
/// a check of both; for speed on a batch prefer ``Linearisation``.
public struct SwitchedProjectionContribution<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { "switched-projection" }
    public init() {}

    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        try projections(stack, inputs: inputs, targets: targets).maps.reshaped(inputs.shape)
    }

    /// b̂_t of each sample: the part of the target no input owns under its frozen pattern.
    public func intercepts(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> [Double] {
        try projections(stack, inputs: inputs, targets: targets).intercepts
    }

    func projections(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> (maps: Tensor<Scalar>, intercepts: [Double]) {
        let batch = try stack.checkedInputs(inputs)
        let count = batch.shape[0], width = stack.inputShape.reduce(1, *)
        try stack.checkTargets(targets, count: count)
        let units = stack.scoreUnits
        var maps = Tensor<Scalar>.zeros([count, width])
        var intercepts = [Double](repeating: 0, count: count)
        for i in 0 ..< count {
            let x = batch.row(i)
            let unit = try SwitchedLinearProjections(stack, at: x).projections(layer: stack.layerCount - 1, units: [units.lowerBound + targets[i]])
            intercepts[i] = Double(unit.biases[0])
            maps.withUnsafeMutableBufferPointer { m in
                unit.weights.withUnsafeBufferPointer { w in
                    x.withUnsafeBufferPointer { x in for j in 0 ..< width { m[i * width + j] = w[j] * x[j] } }
                }
            }
        }
        return (maps, intercepts)
    }
}
