import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Infidelity (Yeh et al. 2019) as Captum's `captum.metrics.infidelity` computes it with
/// `normalize=False` (docs/interpretation.md, "Evaluating attributions"): the mean over
/// perturbations I of (Σ_j I_j a_j − (f_t(x) − f_t(x − I)))², f_t the target's output (the
/// logit). Captum has no default perturbation for it; Isometry's, as the cross-check's
/// `perturb_func`: I ~ N(0, σ²) on every feature, perturbed input x − I. Lower is better; for
/// gradient × input's W(x) ⊙ x it measures how far F is from linear over the noise.
///
/// Where x − I lies within the sample's ``ActivationPatternCertificate``, f_t(x) − f_t(x − I) is
/// W_t(x) · I exactly and needs no forward pass.
public struct Infidelity<Scalar: BLASScalar>: AttributionMetric {
    public var name: String { "infidelity" }
    public var higherIsBetter: Bool { false }
    public var sigma: Double
    /// The perturbations I: how many a sample (10), their seed or the draws given, and whether
    /// the certificate answers them (nil: when `samples` ≥ D, the forward passes it saves).
    public var draws: NoiseDraws<Scalar>

    public init(samples: Int = 10, sigma: Double = 0.1, seed: UInt64 = 0, noise: Tensor<Scalar>? = nil, certify: Bool? = nil) {
        self.sigma = sigma
        draws = NoiseDraws(samples: samples, seed: seed, noise: noise, certify: certify)
    }

    /// Each sample's score (`evaluate` also returns how the perturbed inputs were answered).
    public func scores(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>
    ) throws(InterpretationError) -> AttributionScores {
        try evaluate(stack, inputs: inputs, targets: targets, attributions: attributions).scores
    }

    public func evaluate(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int], attributions: Tensor<Scalar>)
        throws(InterpretationError) -> (scores: AttributionScores, counts: PerturbationCounts) {
        let (batch, perturbations) = try draws.checked(stack, inputs: inputs, targets: targets, attributions: attributions, metric: "Infidelity",
                                                       scale: sigma, scaleName: "noise σ") { generator, shape in
            Tensor<Scalar>.randomNormal(shape, standardDeviation: Scalar(sigma), using: &generator)
        }
        let n = batch.shape[0], d = stack.inputShape.reduce(1, *), samples = draws.samples
        let forward = try PerturbedForward(stack, inputs: batch, certify: draws.certifies(passesPerDraw: 1, features: d))
        var clean = [Double](repeating: 0, count: n)
        var perturbedScores = [Double](repeating: 0, count: n * samples)
        var counts = PerturbationCounts()
        forward.inputs.withUnsafeBufferPointer { x in
            perturbations.withUnsafeBufferPointer { noise in
                _ = forward.run(rows: n, origin: { $0 }, fill: { i, y in
                    for j in 0 ..< d { y[j] = x[i * d + j] }
                }, consume: { i, f in clean[i] = forward.score(f, target: targets[i], kind: .logit) })
                counts = forward.run(rows: n * samples, origin: { $0 / samples }, fill: { r, y in
                    let i = r / samples
                    for j in 0 ..< d { y[j] = x[i * d + j] - noise[r * d + j] }
                }, consume: { r, f in perturbedScores[r] = forward.score(f, target: targets[r / samples], kind: .logit) })
            }
        }
        let a = attributions.reshaped([n, d]).converted(to: Double.self)
        var values = [Double](repeating: 0, count: n)
        a.withUnsafeBufferPointer { a in
            perturbations.withUnsafeBufferPointer { noise in
                for i in 0 ..< n {
                    var sum = 0.0
                    for s in 0 ..< samples {
                        let r = i * samples + s
                        var predicted = 0.0
                        for j in 0 ..< d { predicted += Double(noise[r * d + j]) * a[i * d + j] }
                        let error = predicted - (clean[i] - perturbedScores[r])
                        sum += error * error
                    }
                    values[i] = sum / Double(samples)
                }
            }
        }
        return (AttributionScores(values: values), counts)
    }
}
