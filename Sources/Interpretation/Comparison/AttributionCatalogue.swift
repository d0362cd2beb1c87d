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
