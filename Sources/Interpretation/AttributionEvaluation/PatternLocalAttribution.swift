import Foundation
import Networks
import TensorAlgebra

/// An ``AttributionMethod`` whose attributions at y follow from the target's row of W(y) and y
/// alone. Where an ``ActivationPatternCertificate`` of x covers y, W(y) = W(x), so the metrics
/// that explain perturbed inputs again (``MaxSensitivity``) answer them with no pass at all.
public protocol PatternLocalAttribution<Scalar>: AttributionMethod {
    /// The attributions at y given w = ∂F_target/∂x at y (both flattened), into `out`.
    func attributions(gradient w: UnsafeBufferPointer<Scalar>, at y: UnsafeBufferPointer<Scalar>, into out: UnsafeMutableBufferPointer<Scalar>)
}

extension Gradient: PatternLocalAttribution {
    public func attributions(gradient w: UnsafeBufferPointer<Scalar>, at y: UnsafeBufferPointer<Scalar>, into out: UnsafeMutableBufferPointer<Scalar>) {
        for j in out.indices { out[j] = w[j] }
    }
}

extension GradientTimesInput: PatternLocalAttribution {
    public func attributions(gradient w: UnsafeBufferPointer<Scalar>, at y: UnsafeBufferPointer<Scalar>, into out: UnsafeMutableBufferPointer<Scalar>) {
        for j in out.indices { out[j] = w[j] * y[j] }
    }
}
