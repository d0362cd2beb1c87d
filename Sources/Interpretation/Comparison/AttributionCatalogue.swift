import Foundation
import Networks
import TensorAlgebra

/// The settings of the attribution methods and metrics a comparison builds by name: Integrated
/// Gradients' steps and baseline, SmoothGrad's samples and noise, occlusion's window, the
/// fraction of features a deletion or insertion step perturbs. Each method or metric reads the
/// ones it has; the others ignore them.
public struct AttributionSettings<Scalar: BLASScalar>: Sendable {
    /// Integrated Gradients' Riemann steps (Captum's `n_steps`).
    public var steps = 50
    /// The reference input x̄ of Integrated Gradients and of the completeness residual, of the
    /// stack's input shape; nil for zero (Captum's and Quantus's default, "black").
    public var baseline: Tensor<Scalar>?
    /// SmoothGrad's noisy samples per image and their standard deviation (in pixel units).
    public var smoothGradSamples = 50
    public var smoothGradSigma = 0.15
    /// Occlusion's square window (and stride), in pixels.
    public var occlusionWindow = 4
    /// The fraction of the features one deletion or insertion step perturbs, in (0, 1].
    public var perturbationFraction = 0.01

    public init() {}
}

/// The attribution methods and metrics a comparison can build by name, with their settings: the
/// names `interpret --evaluate --methods … --metrics …` and `bench-attribution` accept. Adding a
/// method or a metric to the comparison is one line in ``methodBuilders`` or ``metricBuilders``.
public enum AttributionCatalogue {
    /// Every method by name, in the report's default order.
    static func methodBuilders<Scalar: BLASScalar>(_ settings: AttributionSettings<Scalar>) -> [(String, () -> any AttributionMethod<Scalar>)] {
        [
            ("gradient", { Gradient<Scalar>() }),
            ("gradient-x-input", { GradientTimesInput<Scalar>() }),
        ]
    }

    /// Every metric by name, in the report's default order.
    static func metricBuilders<Scalar: BLASScalar>(_ settings: AttributionSettings<Scalar>) -> [(String, () -> any AttributionMetric<Scalar>)] {
        [
            ("completeness-residual", { CompletenessResidual<Scalar>(baseline: settings.baseline) }),
        ]
    }

    /// The names of every method the catalogue builds.
    public static var methodNames: [String] { methodBuilders(AttributionSettings<Float>()).map(\.0) }
    /// The names of every metric the catalogue builds.
    public static var metricNames: [String] { metricBuilders(AttributionSettings<Float>()).map(\.0) }

    /// The methods `names` with `settings`, in the order given; the first unknown name throws.
    public static func methods<Scalar: BLASScalar>(_ names: [String], settings: AttributionSettings<Scalar> = .init()) throws(AttributionCatalogueError) -> [any AttributionMethod<Scalar>] {
        let builders = methodBuilders(settings)
        var methods: [any AttributionMethod<Scalar>] = []
        for name in names {
            guard let build = builders.first(where: { $0.0 == name })?.1 else { throw .unknownMethod(name, known: builders.map(\.0)) }
            methods.append(build())
        }
        return methods
    }

    /// The metrics `names` with `settings`, in the order given; the first unknown name throws.
    public static func metrics<Scalar: BLASScalar>(_ names: [String], settings: AttributionSettings<Scalar> = .init()) throws(AttributionCatalogueError) -> [any AttributionMetric<Scalar>] {
        let builders = metricBuilders(settings)
        var metrics: [any AttributionMetric<Scalar>] = []
        for name in names {
            guard let build = builders.first(where: { $0.0 == name })?.1 else { throw .unknownMetric(name, known: builders.map(\.0)) }
            metrics.append(build())
        }
        return metrics
    }
}

/// A method or metric name the catalogue does not know.
public enum AttributionCatalogueError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownMethod(String, known: [String])
    case unknownMetric(String, known: [String])

    public var description: String {
        switch self {
        case .unknownMethod(let name, let known): "unknown attribution method '\(name)'; known: \(known.joined(separator: ", "))"
        case .unknownMetric(let name, let known): "unknown attribution metric '\(name)'; known: \(known.joined(separator: ", "))"
        }
    }
}
