import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The gradient ∂F_target/∂x (Simonyan et al. 2014's saliency, signed: Captum's `Saliency`
/// with `abs=False`). On a piecewise-linear stack it is the target's row of W(x)
/// (docs/theory.md §4).
public struct Gradient<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { "gradient" }
    public init() {}

    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        let batch = try stack.checkedInputs(inputs)
        try stack.checkTargets(targets, count: batch.shape[0])
        return stack.targetGradients(batch, targets: targets).reshaped(inputs.shape)
    }
}
