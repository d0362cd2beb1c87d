import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Pixel flipping (Bach et al. 2015) with the conventions of Quantus 0.6's `PixelFlipping`
/// (docs/interpretation.md, "Evaluating attributions"): features are replaced by the baseline
/// in order of decreasing attribution, ``featuresInStep`` a step, and the curve is the target's
/// score after each step (⌈D / featuresInStep⌉ points; the unperturbed input is not one). The
/// score of a sample is the curve's area by the trapezoid rule with unit spacing (Quantus's
/// `return_auc_per_sample`, `np.trapz(curve, dx=1)`): lower means the explanation found the
/// features the prediction rests on.
///
/// Quantus's defaults: the baseline is the sample's minimum ("black"), the score the softmax
/// probability, attributions signed (no abs); its max-normalisation does not change the order.
public struct PixelFlipping<Scalar: BLASScalar>: AttributionMetric {
    public var name: String { "pixel-flipping" }
    public var higherIsBetter: Bool { false }
    public var featuresInStep: Int
    public var baseline: PerturbationBaseline<Scalar>
    public var score: TargetScore
    /// Per sample, the features from first to last flipped; nil ranks them by ``featureOrder(_:)``.
    /// Given to reproduce an order Quantus's unstable sort chose among tied attributions.
    public var orders: [[Int]]?
    /// Whether to answer perturbed inputs within a sample's ``ActivationPatternCertificate`` by
    /// W(x) (off by default: flipped pixels are rarely that close to x, and the certificate
    /// costs about D forward passes a sample).
    public var certify: Bool

    public init(featuresInStep: Int = 1, baseline: PerturbationBaseline<Scalar> = .minimum, score: TargetScore = .softmax,
                orders: [[Int]]? = nil, certify: Bool = false) {
        self.featuresInStep = featuresInStep
        self.baseline = baseline
        self.score = score
        self.orders = orders
        self.certify = certify
    }

    /// Each sample's score (`evaluate` also returns how the perturbed inputs were answered).
    public func scores(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>
    ) throws(InterpretationError) -> AttributionScores {
        try evaluate(stack, inputs: inputs, targets: targets, attributions: attributions).scores
    }

    /// The scores with their curves, and how the perturbed inputs were answered.
    public func evaluate(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int], attributions: Tensor<Scalar>)
        throws(InterpretationError) -> (scores: AttributionScores, counts: PerturbationCounts) {
        let d = stack.inputShape.reduce(1, *)
        guard featuresInStep >= 1 && featuresInStep <= d else {
            throw .metricSettingOutOfRange(setting: "features in step", value: "\(featuresInStep)", expected: "1 ... \(d), the features of a sample")
        }
        try baseline.check(stack)
        let batch = try stack.checkedInputs(inputs)
        let n = batch.shape[0]
        let ranks = try rankedFeatures(attributions, orders: orders, samples: n, features: d, metric: "PixelFlipping")
        require(targets.count == n, "PixelFlipping: \(targets.count) targets for \(n) inputs")
        let steps = (d + featuresInStep - 1) / featuresInStep
        let forward = try PerturbedForward(stack, inputs: batch, certify: certify)
        var curves = [[Double]](repeating: [Double](repeating: 0, count: steps), count: n)
        var base = [Scalar](repeating: 0, count: d)
        let counts = forward.inputs.withUnsafeBufferPointer { x in
            forward.run(rows: n * steps, origin: { $0 / steps }, fill: { r, y in
                let (i, s) = (r / steps, r % steps)
                let sample = UnsafeBufferPointer(rebasing: x[i * d ..< (i + 1) * d])
                base.withUnsafeMutableBufferPointer { baseline.fill(for: sample, into: $0) }
                for j in 0 ..< d { y[j] = sample[j] }
                for j in ranks[i].prefix(min((s + 1) * featuresInStep, d)) { y[j] = base[j] }
            }, consume: { r, f in
                curves[r / steps][r % steps] = forward.score(f, target: targets[r / steps], kind: score)
            })
        }
        let unit = (0 ..< steps).map(Double.init)
        return (AttributionScores(values: curves.map { trapezoid($0, at: unit) }, curves: curves), counts)
    }
}

/// The features of every sample from most to least attributed (``featureOrder(_:)``), or the
/// orders given, checked to be permutations of 0 ..< D.
func rankedFeatures<Scalar: BLASScalar>(_ attributions: Tensor<Scalar>, orders: [[Int]]?, samples n: Int, features d: Int,
                                        metric: String) throws(InterpretationError) -> [[Int]] {
    require(attributions.count == n * d, "\(metric): attributions of shape \(attributions.shape) for \(n) samples of \(d) features")
    if let orders {
        guard orders.count == n else {
            throw .metricSettingOutOfRange(setting: "feature orders", value: "for \(orders.count) samples", expected: "one per sample (\(n))")
        }
        for (i, order) in orders.enumerated() where order.count != d || Set(order) != Set(0 ..< d) {
            throw .metricSettingOutOfRange(setting: "feature order of sample \(i)", value: "of \(order.count) indices",
                                           expected: "a permutation of 0 ..< \(d)")
        }
        return orders
    }
    let a = attributions.reshaped([n, d]).converted(to: Double.self)
    return a.withUnsafeBufferPointer { a in
        (0 ..< n).map { i in featureOrder(UnsafeBufferPointer(rebasing: a[i * d ..< (i + 1) * d])) }
    }
}
