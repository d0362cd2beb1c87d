import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// Faithfulness correlation (Bhatt et al. 2020) with the conventions of Quantus 0.6's
/// `FaithfulnessCorrelation` (docs/interpretation.md, "Evaluating attributions"): in each of
/// ``runs`` runs a random subset S of ``subsetSize`` features is replaced by the baseline; the
/// score of a sample is the Pearson correlation, over the runs, of Σ_{j∈S} a_j with the drop of
/// the target's score f(x) − f(x_S). Higher is better.
///
/// Quantus's defaults: 100 runs, subsets of 224, the sample's minimum as baseline ("black"), the
/// logit (its `softmax=False`), signed attributions; its max-normalisation scales every Σ a_j of
/// a sample alike, which the correlation ignores. A sample whose sums or drops do not vary gets
/// NaN, as scipy's `pearsonr`.
public struct FaithfulnessCorrelation<Scalar: BLASScalar>: AttributionMetric {
    public var name: String { "faithfulness-correlation" }
    public var higherIsBetter: Bool { true }
    public var runs: Int
    public var subsetSize: Int
    public var baseline: PerturbationBaseline<Scalar>
    public var score: TargetScore
    /// Seeds the subsets (`SeededGenerator`), unless ``subsets`` gives them.
    public var seed: UInt64
    /// The subsets, `subsets[run][sample]`: feature indices, to evaluate on another library's
    /// draws (the cross-check feeds Quantus's).
    public var subsets: [[[Int]]]?

    public init(runs: Int = 100, subsetSize: Int = 224, baseline: PerturbationBaseline<Scalar> = .minimum, score: TargetScore = .logit,
                seed: UInt64 = 0, subsets: [[[Int]]]? = nil) {
        self.runs = runs
        self.subsetSize = subsetSize
        self.baseline = baseline
        self.score = score
        self.seed = seed
        self.subsets = subsets
    }

    /// Each sample's score.
    public func scores(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>
    ) throws(InterpretationError) -> AttributionScores {
        let d = stack.inputShape.reduce(1, *)
        guard runs >= 1 else { throw .noDraws(setting: "runs", value: runs) }
        guard subsetSize >= 1 && subsetSize <= d else {
            throw .metricSettingOutOfRange(setting: "subset size", value: "\(subsetSize)", expected: "1 ... \(d), the features of a sample")
        }
        try baseline.check(stack)
        let batch = try stack.checkedInputs(inputs)
        let n = batch.shape[0]
        require(targets.count == n, "FaithfulnessCorrelation: \(targets.count) targets for \(n) inputs")
        require(attributions.count == n * d, "FaithfulnessCorrelation: attributions of shape \(attributions.shape) for inputs of shape \(inputs.shape)")
        let drawn = subsets ?? draw(samples: n, features: d)
        guard drawn.count == runs, drawn.allSatisfy({ $0.count == n }) else {
            throw .metricSettingOutOfRange(setting: "subsets", value: "of \(drawn.count) runs", expected: "\(runs) runs of \(n) samples each")
        }
        for run in drawn { for subset in run where subset.isEmpty || subset.contains(where: { $0 < 0 || $0 >= d }) {
            throw .metricSettingOutOfRange(setting: "subset", value: "\(subset.prefix(8))", expected: "indices in 0 ..< \(d)")
        } }

        let forward = try PerturbedForward(stack, inputs: batch, certify: false)
        var clean = [Double](repeating: 0, count: n)
        // The unperturbed scores: row i of the first n rows is sample i itself.
        var drops = [[Double]](repeating: [Double](repeating: 0, count: runs), count: n)
        var base = [Scalar](repeating: 0, count: d)
        forward.inputs.withUnsafeBufferPointer { x in
            _ = forward.run(rows: n, origin: { $0 }, fill: { i, y in
                for j in 0 ..< d { y[j] = x[i * d + j] }
            }, consume: { i, f in clean[i] = forward.score(f, target: targets[i], kind: score) })
            _ = forward.run(rows: n * runs, origin: { $0 % n }, fill: { r, y in
                let (run, i) = (r / n, r % n)
                let sample = UnsafeBufferPointer(rebasing: x[i * d ..< (i + 1) * d])
                base.withUnsafeMutableBufferPointer { baseline.fill(for: sample, into: $0) }
                for j in 0 ..< d { y[j] = sample[j] }
                for j in drawn[run][i] { y[j] = base[j] }
            }, consume: { r, f in
                drops[r % n][r / n] = forward.score(f, target: targets[r % n], kind: score)
            })
        }
        let a = attributions.reshaped([n, d]).converted(to: Double.self)
        var values = [Double](repeating: 0, count: n)
        a.withUnsafeBufferPointer { a in
            for i in 0 ..< n {
                let sums = (0 ..< runs).map { run in drawn[run][i].reduce(0.0) { $0 + a[i * d + $1] } }
                values[i] = pearson(sums, drops[i].map { clean[i] - $0 })
            }
        }
        return AttributionScores(values: values)
    }

    /// Subsets of ``subsetSize`` distinct features, run by run and sample by sample (a partial
    /// Fisher–Yates shuffle from ``seed``).
    func draw(samples n: Int, features d: Int) -> [[[Int]]] {
        var generator = SeededGenerator(seed: seed)
        var pool = Array(0 ..< d)
        return (0 ..< runs).map { _ in
            (0 ..< n).map { _ in
                for k in 0 ..< subsetSize { pool.swapAt(k, k + Int(generator.nextUniform() * Double(d - k))) }
                return Array(pool[0 ..< subsetSize])
            }
        }
    }
}

/// Pearson's correlation of two equally long lists (NaN when either does not vary).
func pearson(_ a: [Double], _ b: [Double]) -> Double {
    require(a.count == b.count, "pearson: \(a.count) and \(b.count) values")
    let n = Double(a.count)
    let (ma, mb) = (a.reduce(0, +) / n, b.reduce(0, +) / n)
    var (sab, saa, sbb) = (0.0, 0.0, 0.0)
    for (x, y) in zip(a, b) {
        sab += (x - ma) * (y - mb)
        saa += (x - ma) * (x - ma)
        sbb += (y - mb) * (y - mb)
    }
    return saa > 0 && sbb > 0 ? sab / (saa * sbb).squareRoot() : .nan
}
