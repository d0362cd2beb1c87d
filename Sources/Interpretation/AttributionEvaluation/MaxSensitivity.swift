import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Max-sensitivity (Yeh et al. 2019): the largest relative change of a sample's attributions
/// under small input noise, max_s ‖a(x + δ_s) − a(x)‖₂ / ‖a(x)‖₂, with δ_s uniform in
/// [−radius, radius] on every feature (docs/interpretation.md, "Evaluating attributions").
/// Lower is better.
///
/// Quantus 0.6's `MaxSensitivity` is this with 200 samples and radius 0.2 (its `lower_bound`,
/// `uniform_noise`, `difference`, `fro_norm`, no normalisation, logits); Captum's
/// `sensitivity_max` with 10 samples and radius 0.02 (its L∞-ball default). Where ‖a(x)‖ = 0
/// the change is divided by 1, as Captum does (Quantus divides by 0).
///
/// The method explains every perturbed input again, as one batch (chunked). For a
/// ``PatternLocalAttribution`` method (the gradient, gradient × input), a perturbation within
/// the sample's ``ActivationPatternCertificate`` needs no pass at all: W(x + δ) = W(x).
public struct MaxSensitivity<Scalar: BLASScalar>: AttributionMetric {
    public var name: String { "max-sensitivity" }
    public var higherIsBetter: Bool { false }
    public var radius: Double
    /// The noise δ: how many draws a sample (200), their seed or the draws given, and whether
    /// the certificate answers them (pattern-local methods only; nil: when the draws' passes, a
    /// forward and a backward each, 2 · samples, reach D, so it is used only where it can pay —
    /// Quantus's 200 draws on 784 pixels: off).
    public var draws: NoiseDraws<Scalar>

    public init(samples: Int = 200, radius: Double = 0.2, seed: UInt64 = 0, noise: Tensor<Scalar>? = nil, certify: Bool? = nil) {
        self.radius = radius
        draws = NoiseDraws(samples: samples, seed: seed, noise: noise, certify: certify)
    }

    /// Each sample's score (`evaluate` also returns how the perturbed inputs were answered).
    public func scores(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>
    ) throws(InterpretationError) -> AttributionScores {
        try evaluate(stack, method: method, inputs: inputs, targets: targets, attributions: attributions).scores
    }

    public func evaluate(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>
    ) throws(InterpretationError) -> (scores: AttributionScores, counts: PerturbationCounts) {
        let (batch, deltas) = try draws.checked(stack, inputs: inputs, targets: targets, attributions: attributions, metric: "MaxSensitivity",
                                                  scale: radius, scaleName: "noise radius") { generator, shape in
            Tensor<Scalar>.randomUniform(shape, in: Scalar(-radius) ..< Scalar(radius), using: &generator)
        }
        let n = batch.shape[0], d = stack.inputShape.reduce(1, *), samples = draws.samples
        let (perturbed, counts) = try perturbedAttributions(stack, method: method, inputs: batch, targets: targets, deltas: deltas,
                                                            certify: draws.certifies(passesPerDraw: 2, features: d))
        let a = attributions.reshaped([n, d]).converted(to: Double.self)
        var values = [Double](repeating: 0, count: n)
        a.withUnsafeBufferPointer { a in
            perturbed.withUnsafeBufferPointer { p in
                for i in 0 ..< n {
                    var norm = 0.0
                    for j in 0 ..< d { norm += a[i * d + j] * a[i * d + j] }
                    let denominator = norm > 0 ? norm.squareRoot() : 1
                    var worst = -Double.infinity
                    for s in 0 ..< samples {
                        let row = (i * samples + s) * d
                        var change = 0.0
                        for j in 0 ..< d {
                            let diff = Double(p[row + j]) - a[i * d + j]
                            change += diff * diff
                        }
                        worst = max(worst, change.squareRoot() / denominator)
                    }
                    values[i] = worst
                }
            }
        }
        return (AttributionScores(values: values), counts)
    }
}
