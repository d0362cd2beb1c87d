import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// The deletion and insertion curves of Petsiuk et al. (2018, RISE) and their areas (not in
/// Quantus; Isometry's convention, docs/interpretation.md "Evaluating attributions").
///
/// Features are taken in order of decreasing attribution, k = ⌈fraction · D⌉ a step. Deletion
/// starts from x and replaces them by the baseline (0 by default: a black pixel); insertion
/// starts from the baseline and puts x's values back. The curve is the target's score (the
/// softmax probability by default) at 0, k, 2k, … features and at all D, plotted against the
/// fraction of features min(jk, D)/D ∈ [0, 1], so it has ⌈D/k⌉ + 1 points and starts at the
/// unperturbed (deletion) or fully-baseline (insertion) input. The score is the area under it
/// by the trapezoid rule over that fraction: lower is better for deletion, higher for insertion.
public struct DeletionAndInsertion<Scalar: BLASScalar>: AttributionMetric {
    public enum Direction: String, Sendable, Codable { case deletion, insertion }

    public var name: String { "\(direction.rawValue)-auc" }
    public var higherIsBetter: Bool { direction == .insertion }
    public var direction: Direction
    /// The share of features removed or inserted a step, in (0, 1].
    public var fraction: Double
    public var baseline: PerturbationBaseline<Scalar>
    public var score: TargetScore
    /// Whether to answer perturbed inputs within a sample's ``ActivationPatternCertificate`` by W(x).
    public var certify: Bool

    public init(_ direction: Direction, fraction: Double = 0.05, baseline: PerturbationBaseline<Scalar> = .value(0),
                score: TargetScore = .softmax, certify: Bool = false) {
        self.direction = direction
        self.fraction = fraction
        self.baseline = baseline
        self.score = score
        self.certify = certify
    }

    /// Features a step for D features: ⌈fraction · D⌉. Throws for a fraction outside (0, 1].
    public func featuresPerStep(features d: Int) throws(InterpretationError) -> Int {
        guard fraction > 0 && fraction <= 1 else { throw .perturbationFractionOutOfRange(fraction) }
        return max(1, min(d, Int((fraction * Double(d)).rounded(.up))))
    }

    /// Each sample's score (`evaluate` also returns how the perturbed inputs were answered).
    public func scores(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>
    ) throws(InterpretationError) -> AttributionScores {
        try evaluate(stack, inputs: inputs, targets: targets, attributions: attributions).scores
    }

    /// The areas with their curves, the curves' x positions, and how the inputs were answered.
    public func evaluate(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int], attributions: Tensor<Scalar>)
        throws(InterpretationError) -> (scores: AttributionScores, fractions: [Double], counts: PerturbationCounts) {
        let d = stack.inputShape.reduce(1, *)
        let k = try featuresPerStep(features: d)
        try baseline.check(stack)
        let batch = try stack.checkedInputs(inputs)
        let n = batch.shape[0]
        require(targets.count == n, "DeletionAndInsertion: \(targets.count) targets for \(n) inputs")
        let ranks = try rankedFeatures(attributions, orders: nil, samples: n, features: d, metric: "DeletionAndInsertion")
        let points = (d + k - 1) / k + 1
        let fractions = (0 ..< points).map { Double(min($0 * k, d)) / Double(d) }
        let forward = try PerturbedForward(stack, inputs: batch, certify: certify)
        var curves = [[Double]](repeating: [Double](repeating: 0, count: points), count: n)
        var base = [Scalar](repeating: 0, count: d)
        let deleting = direction == .deletion
        let counts = forward.inputs.withUnsafeBufferPointer { x in
            forward.run(rows: n * points, origin: { $0 / points }, fill: { r, y in
                let (i, s) = (r / points, r % points)
                let sample = UnsafeBufferPointer(rebasing: x[i * d ..< (i + 1) * d])
                base.withUnsafeMutableBufferPointer { baseline.fill(for: sample, into: $0) }
                for j in 0 ..< d { y[j] = deleting ? sample[j] : base[j] }
                for j in ranks[i].prefix(min(s * k, d)) { y[j] = deleting ? base[j] : sample[j] }
            }, consume: { r, f in
                curves[r / points][r % points] = forward.score(f, target: targets[r / points], kind: score)
            })
        }
        return (AttributionScores(values: curves.map { trapezoid($0, at: fractions) }, curves: curves), fractions, counts)
    }
}
