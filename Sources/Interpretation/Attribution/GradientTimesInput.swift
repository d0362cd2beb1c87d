import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Gradient × input, x ⊙ ∂F_target/∂x (Shrikumar et al. 2016; Captum's `InputXGradient`). On a
/// piecewise-linear stack it equals the linearisation's W(x)_target ⊙ x exactly, whose sum is
/// F_target(x) − b_target(x) (docs/theory.md §4).
public struct GradientTimesInput<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { "gradient-x-input" }
    public init() {}

    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        let batch = try stack.checkedInputs(inputs)
        try stack.checkTargets(targets, count: batch.shape[0])
        return Self.times(batch, stack.targetGradients(batch, targets: targets)).reshaped(inputs.shape)
    }

    /// x ⊙ g in place of g.
    static func times(_ x: Tensor<Scalar>, _ gradients: consuming Tensor<Scalar>) -> Tensor<Scalar> {
        gradients.withUnsafeMutableBufferPointer { m in
            x.withUnsafeBufferPointer { x in
                for i in m.indices { m[i] *= x[i] }
            }
        }
        return gradients
    }
}
