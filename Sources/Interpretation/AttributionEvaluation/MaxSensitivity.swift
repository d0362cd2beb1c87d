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
    public var samples: Int
    public var radius: Double
    /// Seeds the noise (`SeededGenerator`), unless ``noise`` gives it.
    public var seed: UInt64
    /// The noise, `[n, samples, D]`, to evaluate on another library's draws.
    public var noise: Tensor<Scalar>?
    /// Whether to answer perturbations within the certificate by W(x) (pattern-local methods
    /// only); nil decides by cost: on when the draws' passes (a forward and a backward each,
    /// 2 · samples) reach the certificate's D forward-mode products, so it is used only where it
    /// can pay (Quantus's 200 draws on 784 pixels: off).
    public var certify: Bool?

    public init(samples: Int = 200, radius: Double = 0.2, seed: UInt64 = 0, noise: Tensor<Scalar>? = nil, certify: Bool? = nil) {
        self.samples = samples
        self.radius = radius
        self.seed = seed
        self.noise = noise
        self.certify = certify
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
        guard samples >= 1 else { throw .noDraws(setting: "samples", value: samples) }
        guard radius > 0 && radius.isFinite else {
            throw .metricSettingOutOfRange(setting: "noise radius", value: "\(radius)", expected: "a finite number > 0")
        }
        let batch = try stack.checkedInputs(inputs)
        let n = batch.shape[0], d = stack.inputShape.reduce(1, *)
        require(targets.count == n, "MaxSensitivity: \(targets.count) targets for \(n) inputs")
        require(attributions.count == n * d, "MaxSensitivity: attributions of shape \(attributions.shape) for inputs of shape \(inputs.shape)")
        let deltas = try noiseTensor(noise, given: "noise", samples: n, draws: samples, features: d) {
            var generator = SeededGenerator(seed: seed)
            return Tensor<Scalar>.randomUniform([n, samples, d], in: Scalar(-radius) ..< Scalar(radius), using: &generator)
        }
        let (perturbed, counts) = try perturbedAttributions(stack, method: method, inputs: batch, targets: targets, deltas: deltas,
                                                            certify: certify ?? (2 * samples >= d))
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

/// Checks given noise `[n, draws, D]` (or draws it), as a metric's setting named `given`.
func noiseTensor<Scalar: BLASScalar>(_ noise: Tensor<Scalar>?, given: String, samples n: Int, draws: Int, features d: Int,
                                     draw: () -> Tensor<Scalar>) throws(InterpretationError) -> Tensor<Scalar> {
    guard let noise else { return draw() }
    guard noise.count == n * draws * d else {
        throw .metricSettingOutOfRange(setting: given, value: "of shape \(noise.shape)", expected: "[\(n), \(draws), \(d)]: samples, draws, features")
    }
    if noise.nonFiniteCount > 0 {
        throw .metricSettingOutOfRange(setting: given, value: "with \(noise.nonFiniteCount) NaN or infinite values", expected: "finite numbers")
    }
    return noise.reshaped([n, draws, d])
}

/// The method's attributions at every x_i + δ_{i,s}, `[n · draws, D]` (row i · draws + s), with
/// the targets of their samples: through the method in batches, except, for a
/// ``PatternLocalAttribution`` with `certify`, the perturbations the sample's certificate covers,
/// which take W(x)'s target row.
func perturbedAttributions<Scalar: BLASScalar>(
    _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs batch: Tensor<Scalar>, targets: [Int],
    deltas: Tensor<Scalar>, certify: Bool
) throws(InterpretationError) -> (Tensor<Scalar>, PerturbationCounts) {
    let n = batch.shape[0], d = stack.inputShape.reduce(1, *), draws = deltas.shape[1]
    let x = batch.reshaped([n, d])
    var result = Tensor<Scalar>.zeros([n * draws, d])
    var counts = PerturbationCounts()
    let local = method as? any PatternLocalAttribution<Scalar>
    var certificates: [ActivationPatternCertificate<Scalar>]?
    if certify && local != nil {
        certificates = []
        for i in 0 ..< n { certificates!.append(try ActivationPatternCertificate(stack, at: x.row(i))) }
    }
    var pending: [Int] = []
    let capacity = PerturbedForward<Scalar>.rowsPerBatch(stack)
    var buffer = Tensor<Scalar>.zeros([capacity, d])
    var row = [Scalar](repeating: 0, count: d)

    func flush() throws(InterpretationError) {
        guard !pending.isEmpty else { return }
        let inputs = (pending.count == capacity ? buffer : buffer.rows(0 ..< pending.count)).reshaped([pending.count] + stack.inputShape)
        let maps = try method.attributions(stack, inputs: inputs, targets: pending.map { targets[$0 / draws] })
        maps.withUnsafeBufferPointer { m in
            result.withUnsafeMutableBufferPointer { out in
                for (slot, r) in pending.enumerated() { (out.baseAddress! + r * d).update(from: m.baseAddress! + slot * d, count: d) }
            }
        }
        counts.forwarded += pending.count
        pending.removeAll(keepingCapacity: true)
    }

    for r in 0 ..< n * draws {
        let i = r / draws
        x.withUnsafeBufferPointer { x in
            deltas.withUnsafeBufferPointer { delta in
                for j in 0 ..< d { row[j] = x[i * d + j] + delta[r * d + j] }
            }
        }
        if let certificate = certificates?[i], let local,
           row.withUnsafeBufferPointer({ certificate.distance(from: $0) }) < certificate.radius * (1 - ActivationPatternCertificate<Scalar>.margin) {
            let unit = stack.scoreUnits.lowerBound + targets[i]
            certificate.weights.withUnsafeBufferPointer { w in
                row.withUnsafeBufferPointer { y in
                    result.withUnsafeMutableBufferPointer { out in
                        local.attributions(gradient: UnsafeBufferPointer(rebasing: w[unit * d ..< (unit + 1) * d]), at: y,
                                           into: UnsafeMutableBufferPointer(rebasing: out[r * d ..< (r + 1) * d]))
                    }
                }
            }
            counts.certified += 1
            continue
        }
        buffer.withUnsafeMutableBufferPointer { b in
            row.withUnsafeBufferPointer { y in (b.baseAddress! + pending.count * d).update(from: y.baseAddress!, count: d) }
        }
        pending.append(r)
        if pending.count == capacity { try flush() }
    }
    try flush()
    return (result, counts)
}
