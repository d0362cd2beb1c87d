import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The random perturbations a noise metric (``Infidelity``, ``MaxSensitivity``) evaluates
/// attributions on: how many a sample, their seed or the draws themselves, and whether a
/// sample's ``ActivationPatternCertificate`` may answer the ones it covers. The settings the
/// metrics share, checked in one place; the distribution and its scale are each metric's own.
public struct NoiseDraws<Scalar: BLASScalar>: Sendable {
    /// Draws per sample.
    public var samples: Int
    /// Seeds the noise (`SeededGenerator`), unless ``noise`` gives it.
    public var seed: UInt64
    /// The draws, `[n, samples, D]`, to evaluate on another library's.
    public var noise: Tensor<Scalar>?
    /// Whether to answer the perturbations a sample's certificate covers without a pass; nil
    /// decides by cost: on when the draws' passes reach the certificate's D forward-mode
    /// products (``certifies(passesPerDraw:features:)``).
    public var certify: Bool?

    public init(samples: Int, seed: UInt64 = 0, noise: Tensor<Scalar>? = nil, certify: Bool? = nil) {
        self.samples = samples
        self.seed = seed
        self.noise = noise
        self.certify = certify
    }

    /// ``certify``, or where it is nil, whether `passesPerDraw` · ``samples`` passes a sample
    /// reach its certificate's cost of about D passes (docs/interpretation.md, "Evaluating
    /// attributions").
    public func certifies(passesPerDraw: Int, features d: Int) -> Bool { certify ?? (passesPerDraw * samples >= d) }

    /// A noise metric's checks before it draws, in one place, and its draws: the checked inputs
    /// `[n] + inputShape` and the noise `[n, samples, D]` (``noise`` checked, or drawn from
    /// ``seed`` by `draw`, which gets the shape). Throws for fewer than one draw, a scale (the
    /// metric's σ or radius, its setting `scaleName`) that is not a finite number > 0, inputs
    /// that do not fit the stack, or given noise of another size or with NaN or infinite
    /// values; targets or attributions of another count than the inputs are the caller's bug.
    func checked(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int], attributions: Tensor<Scalar>, metric: String,
                 scale: Double, scaleName: String, draw: (inout SeededGenerator, [Int]) -> Tensor<Scalar>)
        throws(InterpretationError) -> (inputs: Tensor<Scalar>, noise: Tensor<Scalar>) {
        guard samples >= 1 else { throw .noDraws(setting: "samples", value: samples) }
        guard scale > 0 && scale.isFinite else {
            throw .metricSettingOutOfRange(setting: scaleName, value: "\(scale)", expected: "a finite number > 0")
        }
        let batch = try stack.checkedInputs(inputs)
        let n = batch.shape[0], d = stack.inputShape.reduce(1, *)
        require(targets.count == n, "\(metric): \(targets.count) targets for \(n) inputs")
        require(attributions.count == n * d, "\(metric): attributions of shape \(attributions.shape) for inputs of shape \(inputs.shape)")
        guard let noise else {
            var generator = SeededGenerator(seed: seed)
            return (batch, draw(&generator, [n, samples, d]))
        }
        guard noise.count == n * samples * d else {
            throw .metricSettingOutOfRange(setting: "noise", value: "of shape \(noise.shape)", expected: "[\(n), \(samples), \(d)]: samples, draws, features")
        }
        if noise.nonFiniteCount > 0 {
            throw .metricSettingOutOfRange(setting: "noise", value: "with \(noise.nonFiniteCount) NaN or infinite values", expected: "finite numbers")
        }
        return (batch, noise.reshaped([n, samples, d]))
    }
}

/// A metric whose perturbations are ``NoiseDraws`` (``Infidelity``, ``MaxSensitivity``).
public protocol NoiseDrawingMetric<Scalar> {
    associatedtype Scalar: BLASScalar
    var draws: NoiseDraws<Scalar> { get set }
}

extension Infidelity: NoiseDrawingMetric {}
extension MaxSensitivity: NoiseDrawingMetric {}

// The settings lived on the metrics themselves before NoiseDraws gathered them; these keep
// research code written against the old names compiling, with a warning that names the new one.
extension NoiseDrawingMetric {
    @available(*, deprecated, renamed: "draws.samples")
    public var samples: Int { get { draws.samples } set { draws.samples = newValue } }
    @available(*, deprecated, renamed: "draws.seed")
    public var seed: UInt64 { get { draws.seed } set { draws.seed = newValue } }
    @available(*, deprecated, renamed: "draws.noise")
    public var noise: Tensor<Scalar>? { get { draws.noise } set { draws.noise = newValue } }
    @available(*, deprecated, renamed: "draws.certify")
    public var certify: Bool? { get { draws.certify } set { draws.certify = newValue } }
}
