import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// What a removed feature is replaced with by the perturbation metrics (pixel flipping,
/// deletion and insertion, faithfulness correlation).
public enum PerturbationBaseline<Scalar: BLASScalar>: Sendable, Equatable {
    /// The sample's smallest value: Quantus's `perturb_baseline="black"` (`arr.min()` over the
    /// sample), its default.
    case minimum
    /// One value for every feature (0 for deletion and insertion, as in Petsiuk et al.).
    case value(Double)
    /// A baseline image of the network's sample shape (or flattened).
    case image(Tensor<Scalar>)

    /// Checks an image baseline's shape against the stack's samples.
    func check(_ stack: LayerStack<Scalar>) throws(InterpretationError) {
        guard case .image(let image) = self else { return }
        guard image.count == stack.inputShape.reduce(1, *), image.shape == stack.inputShape || image.rank == 1 else {
            throw .baselineShapeMismatch(found: image.shape, expected: stack.inputShape)
        }
        if image.nonFiniteCount > 0 { throw .nonFiniteInput(sample: 0) }
    }

    /// The baseline's value for every feature of the flattened sample `x`, into `out`.
    func fill(for x: UnsafeBufferPointer<Scalar>, into out: UnsafeMutableBufferPointer<Scalar>) {
        switch self {
        case .minimum:
            let low = x.min() ?? 0
            for j in out.indices { out[j] = low }
        case .value(let v):
            for j in out.indices { out[j] = Scalar(v) }
        case .image(let image):
            image.withUnsafeBufferPointer { b in
                for j in out.indices { out[j] = b[j] }
            }
        }
    }

    var summary: String {
        switch self {
        case .minimum: "the sample's minimum (Quantus's \"black\")"
        case .value(let v): "\(v)"
        case .image(let image): "an image of shape \(image.shape)"
        }
    }
}

/// Which number of the target a perturbation metric reads: Quantus's `softmax` argument.
public enum TargetScore: String, Sendable, Codable, CaseIterable {
    /// The softmax probability of the target over the class units (`LayerStack.scoreUnits`).
    case softmax
    /// The target's output itself (a logit, or the class score of an identity classifier).
    case logit
}

/// The features of a flattened attribution map from most to least attributed: by decreasing
/// value, ties by increasing index (a stable sort). Quantus ranks with `np.argsort(-a)`, whose
/// order among ties numpy leaves open; the metrics take an explicit order to reproduce one.
public func featureOrder(_ attributions: UnsafeBufferPointer<Double>) -> [Int] {
    Array(attributions.indices).sorted { a, b in
        attributions[a] > attributions[b] || (attributions[a] == attributions[b] && a < b)
    }
}

/// The composite trapezoidal rule over the points (x_k, y_k).
func trapezoid(_ y: [Double], at x: [Double]) -> Double {
    require(x.count == y.count, "trapezoid: \(x.count) positions for \(y.count) values")
    var area = 0.0
    for k in 1 ..< max(y.count, 1) { area += (x[k] - x[k - 1]) * (y[k] + y[k - 1]) / 2 }
    return area
}
