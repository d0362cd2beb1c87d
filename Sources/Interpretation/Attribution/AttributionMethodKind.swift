import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The attribution methods by name, for command lines and reports: `--methods
/// gradient,integrated-gradients` becomes a list of ``AttributionMethod`` values through
/// ``AttributionMethods/named(_:settings:)``, each made with the options of ``AttributionSettings``.
public enum AttributionMethodKind: String, CaseIterable, Sendable, Codable {
    case gradient
    case gradientTimesInput = "gradient-x-input"
    case linearisation
    case switchedProjection = "switched-projection"
    case insens
    case integratedGradients = "integrated-gradients"
    case smoothGrad = "smoothgrad"
    case occlusion
    case kubotaContribution = "kubota-contribution"

    /// Whether the method needs a stack with class dimensions (only the Kubota maps do).
    public var needsClassDimensions: Bool { self == .kubotaContribution }

    /// The method with `settings`' options (those of other methods are ignored). Settings are
    /// checked when the method runs, except the ones that need no stack, checked here.
    public func method<Scalar: BLASScalar>(_ settings: AttributionSettings<Scalar> = .init()) throws(InterpretationError) -> any AttributionMethod<Scalar> {
        let method: any AttributionMethod<Scalar> = switch self {
        case .gradient: Gradient<Scalar>()
        case .gradientTimesInput: GradientTimesInput<Scalar>()
        case .linearisation: Linearisation<Scalar>()
        case .switchedProjection: SwitchedProjectionContribution<Scalar>()
        case .insens: Insens<Scalar>()
        case .integratedGradients: IntegratedGradients<Scalar>(steps: settings.steps, baseline: settings.baseline, rule: settings.rule)
        case .smoothGrad: SmoothGrad<Scalar>(samples: settings.samples, standardDeviation: settings.standardDeviation, seed: settings.seed)
        case .occlusion: Occlusion<Scalar>(window: settings.window, strides: settings.strides, baseline: settings.baseline)
        case .kubotaContribution: KubotaContribution<Scalar>(layer: settings.layer)
        }
        if let integrated = method as? IntegratedGradients<Scalar> { try integrated.checkSettings() }
        if let smooth = method as? SmoothGrad<Scalar> { try smooth.checkSettings() }
        return method
    }
}

/// The options of the methods that have any. Integrated Gradients' and Occlusion's defaults are
/// Captum's; SmoothGrad's are not: Captum's `NoiseTunnel` defaults to `nt_samples=5` and
/// `stdevs=1.0`, here 50 copies (Smilkov et al.'s count; 5 leaves the mean visibly noisy) and
/// σ = 0.15 in input units (Smilkov et al.'s 10–20 % of the input range, for pixels in [0, 1];
/// σ = 1 would swamp such images).
public struct AttributionSettings<Scalar: BLASScalar>: Sendable {
    /// Integrated Gradients: steps (`n_steps`, 50) and rule (`method`, Gauss–Legendre).
    public var steps = 50
    public var rule = IntegrationRule.gaussLegendre
    /// Integrated Gradients' and Occlusion's baseline (per-sample shape; nil: zero).
    public var baseline: Tensor<Scalar>?
    /// SmoothGrad: noisy copies per sample (`nt_samples`; Captum's default is 5, SmoothGrad's
    /// paper uses 50), the noise's σ in input units (`stdevs`) and the seed of its generator.
    public var samples = 50
    public var standardDeviation = 0.15
    public var seed: UInt64 = 0
    /// Occlusion: window and strides over the per-sample shape (nil: ``Occlusion``'s defaults).
    public var window: [Int]?
    public var strides: [Int]?
    /// Kubota contribution: the readout layer (from 0; negative from the end).
    public var layer = -1
    /// Deletion and insertion: the fraction of the features one step perturbs, in (0, 1].
    public var perturbationFraction = 0.05
    /// Faithfulness correlation: the features set to the baseline in each run (Quantus's
    /// `subset_size`, 224 by default; a comparison on inputs of fewer than 448 features takes half of them).
    public var subsetSize = 224
    /// Pixel flipping: the features one step flips (Quantus's `features_in_step`, 1).
    public var featuresInStep = 1
    /// Max-sensitivity: noisy copies per sample and the noise's half-width (Quantus's 200 and
    /// 0.2; Captum's `sensitivity_max` uses 10 and 0.02).
    public var sensitivitySamples = 200
    public var sensitivityRadius = 0.2
    /// The noisy-background scores: σ, threshold, outline, clipping and seed of the protocols
    /// (those of the `noisy-background` command).
    public var noisyBackground = NoisyBackgroundSettings()

    public init() {}
}

/// Lists of methods by name.
public enum AttributionMethods {
    /// The methods of a comma-separated list of ``AttributionMethodKind`` names ("gradient,
    /// integrated-gradients"), in order, with `settings`. Throws
    /// ``InterpretationError/unknownAttributionMethod(name:known:)`` for a name not among them,
    /// or the first setting a method refuses.
    public static func named<Scalar: BLASScalar>(_ list: String, settings: AttributionSettings<Scalar> = .init()) throws(InterpretationError) -> [any AttributionMethod<Scalar>] {
        var methods: [any AttributionMethod<Scalar>] = []
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let kind = AttributionMethodKind(rawValue: name) else {
                throw .unknownAttributionMethod(name: name, known: AttributionMethodKind.allCases.map(\.rawValue))
            }
            methods.append(try kind.method(settings))
        }
        return methods
    }
}
