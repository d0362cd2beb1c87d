import Foundation
import Networks
import TensorAlgebra

/// The attribution methods and metrics a comparison can build by name, with their settings: the
/// names `interpret --evaluate --methods … --metrics …` and `bench-attribution` accept. Adding a
/// method or a metric to the comparison is one line in ``methodBuilders`` or ``metricBuilders``.
public enum AttributionCatalogue {
    /// Every method by name, in the report's default order.
    static func methodBuilders<Scalar: BLASScalar>(_ settings: AttributionSettings<Scalar>) -> [(String, () throws(InterpretationError) -> any AttributionMethod<Scalar>)] {
        var builders: [(String, () throws(InterpretationError) -> any AttributionMethod<Scalar>)] = []
        for kind in AttributionMethodKind.allCases {
            builders.append((kind.rawValue, { () throws(InterpretationError) -> any AttributionMethod<Scalar> in try kind.method(settings) }))
        }
        return builders
    }

    /// Every metric by name, in the report's default order.
    static func metricBuilders<Scalar: BLASScalar>(_ settings: AttributionSettings<Scalar>) -> [(String, () -> any AttributionMetric<Scalar>)] {
        [
            ("completeness-residual", { CompletenessResidual<Scalar>(baseline: settings.baseline) }),
            ("deletion-auc", { DeletionAndInsertion<Scalar>(.deletion, fraction: settings.perturbationFraction) }),
            ("insertion-auc", { DeletionAndInsertion<Scalar>(.insertion, fraction: settings.perturbationFraction) }),
            ("faithfulness-correlation", { FaithfulnessCorrelation<Scalar>(subsetSize: settings.subsetSize) }),
            ("infidelity", { Infidelity<Scalar>() }),
            ("pixel-flipping", { PixelFlipping<Scalar>(featuresInStep: settings.featuresInStep) }),
            ("max-sensitivity", { MaxSensitivity<Scalar>(samples: settings.sensitivitySamples, radius: settings.sensitivityRadius) }),
        ] + NoisyBackgroundProtocol.allCases.map { noisy in
            // Szymanski et al.'s protocols, each a robustness score: (a), (b), (c).
            let metric = NoisyBackgroundRobustness<Scalar>(noisy, settings: settings.noisyBackground)
            return (metric.name, { metric })
        }
    }

    /// The metrics a comparison runs when none are named: all but pixel flipping (one forward
    /// pass per feature and method) and max-sensitivity (it explains 200 noisy copies of every
    /// image again), which cost orders of magnitude more than the rest; name them to run them.
    public static var defaultMetricNames: [String] { metricNames.filter { $0 != "pixel-flipping" && $0 != "max-sensitivity" } }

    /// The metrics a comparison runs on `stack` when none are named: ``defaultMetricNames``,
    /// less the noisy-background scores when its inputs are not an image (their protocols need
    /// rows and columns: ``NoisyBackgroundRobustness/defaultImageShape(on:)``).
    public static func defaultMetricNames<Scalar: BLASScalar>(for stack: LayerStack<Scalar>) -> [String] {
        let images = NoisyBackgroundRobustness<Scalar>.defaultImageShape(on: stack) != nil
        return defaultMetricNames.filter { images || !$0.hasPrefix("noisy-background") }
    }

    /// The methods a comparison runs on `stack` when none are named: every one that applies to
    /// it (the Kubota per-layer maps need class dimensions).
    public static func defaultMethodNames<Scalar: BLASScalar>(for stack: LayerStack<Scalar>) -> [String] {
        AttributionMethodKind.allCases.filter { !$0.needsClassDimensions || stack.classDimensions != nil }.map(\.rawValue)
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
            do { methods.append(try build()) } catch { throw .setting(error) }
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
    /// A method refused its settings (Integrated Gradients' steps below its rule's minimum, a negative noise).
    case setting(InterpretationError)

    public var description: String {
        switch self {
        case .unknownMethod(let name, let known): "unknown attribution method '\(name)'; known: \(known.joined(separator: ", "))"
        case .unknownMetric(let name, let known): "unknown attribution metric '\(name)'; known: \(known.joined(separator: ", "))"
        case .setting(let error): error.description
        }
    }
}
