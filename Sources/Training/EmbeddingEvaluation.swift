import Datasets
import Foundation
import Networks
import TensorAlgebra
import IsometrySupport

/// An embedding network judged on a split the field's way (docs/theory.md §8.3): the split's
/// embedding, its trustworthiness, its k-NN accuracies (leave-one-out within the split) and
/// KL(P‖Q) over the split's consecutive batches.
public struct EmbeddingEvaluation: Sendable, Codable, Equatable {
    public var samples: Int
    /// The trustworthiness's k (12 unless chosen).
    public var trustworthinessNeighbours: Int
    public var trustworthiness: Double
    /// Leave-one-out 1-NN and 10-NN accuracy in the embedding (each point's neighbours are
    /// the split's other points).
    public var oneNeighbourAccuracy: Double
    public var tenNeighbourAccuracy: Double
    /// Mean KL(P‖Q) over the split's consecutive full batches of `divergenceBatchSize` samples,
    /// P at the objective's perplexity.
    public var divergence: Double
    public var divergenceBatchSize: Int
    public var perplexity: Double
    public var degreesOfFreedom: Double

    /// Embeds `data` with `stack` and measures it; `data` needs labels for the k-NN accuracies.
    public init<Scalar: BLASScalar>(_ stack: LayerStack<Scalar>, data: TensorDataset, perplexity: Double, degreesOfFreedom: Double = 1,
                                    batchSize: Int, trustworthinessNeighbours: Int = 12) throws(TrainingError) {
        guard let labels = data.labels else { throw .dataMismatch("\(quotedValue(data.source)): no labels, which the k-NN accuracies need") }
        let inputs = Self.features(data, as: Scalar.self)
        let embedding = Self.embed(stack, inputs: inputs)
        self = try Self(inputs: inputs, embedding: embedding, data: data, labels: labels, perplexity: perplexity, degreesOfFreedom: degreesOfFreedom,
                        batchSize: batchSize, trustworthinessNeighbours: trustworthinessNeighbours)
    }

    /// The measures of a given `embedding` (`[n, k]`) of `inputs` (`[n, d]`, the features of `data`).
    /// `labels` must hold one label per point, and n must exceed twice `trustworthinessNeighbours`
    /// (and 10, for the 10-NN accuracy); otherwise it throws rather than measure nothing.
    /// ``minimumSamples(trustworthinessNeighbours:)`` is that smallest n.
    public init<Scalar: BLASScalar>(inputs: Tensor<Scalar>, embedding: Tensor<Scalar>, data: TensorDataset, labels: [Int], perplexity: Double,
                                    degreesOfFreedom: Double = 1, batchSize: Int, trustworthinessNeighbours: Int = 12) throws(TrainingError) {
        let objective = try TSNEObjective<Scalar>(data: data, perplexity: perplexity, degreesOfFreedom: degreesOfFreedom, batchSize: batchSize)
        samples = data.count
        self.trustworthinessNeighbours = trustworthinessNeighbours
        trustworthiness = try EmbeddingQuality.trustworthiness(inputs: inputs, embedding: embedding, neighbours: trustworthinessNeighbours)
        oneNeighbourAccuracy = try EmbeddingQuality.neighbourAccuracy(embedding, labels: labels, k: 1)
        tenNeighbourAccuracy = try EmbeddingQuality.neighbourAccuracy(embedding, labels: labels, k: 10)
        divergence = objective.meanDivergence(of: embedding)
        divergenceBatchSize = batchSize
        self.perplexity = perplexity
        self.degreesOfFreedom = degreesOfFreedom
    }

    /// The fewest points the measures are defined on: trustworthiness needs k < n/2
    /// (scikit-learn's bound, in real numbers), the leave-one-out 10-NN accuracy 10 other points.
    public static func minimumSamples(trustworthinessNeighbours k: Int = 12) -> Int { max(2 * k + 1, 11) }

    /// Every sample's features as `[n, d]`.
    public static func features<Scalar: BLASScalar>(_ data: TensorDataset, as _: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
        var inputs = Tensor<Scalar>.zeros([data.count, data.featureCount])
        inputs.withUnsafeMutableBufferPointer { data.gatherFeatures(Array(0 ..< data.count)[...], into: $0.baseAddress!) }
        return inputs
    }

    /// The stack's outputs for every row of `inputs` (`[n, d]`), 1,000 rows at a time, as `[n, k]`.
    public static func embed<Scalar: BLASScalar>(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, chunk: Int = 1000) -> Tensor<Scalar> {
        let n = inputs.shape[0], d = inputs.count / max(n, 1), k = stack.outputShape.reduce(1, *)
        var result = Tensor<Scalar>.zeros([n, k])
        var start = 0
        var workspace: LayerStackWorkspace<Scalar>? = nil
        while start < n {
            let rows = min(chunk, n - start)
            if workspace?.batchSize != rows { workspace = stack.makeWorkspace(batchSize: rows) }
            let w = workspace!
            w.withInputBuffer { input in
                input.withUnsafeMutableBufferPointer { i in
                    inputs.withUnsafeBufferPointer { i.baseAddress!.update(from: $0.baseAddress! + start * d, count: rows * d) }
                }
            }
            stack.forwardInputBuffer(in: w)
            result.withUnsafeMutableBufferPointer { r in
                w.output.withUnsafeBufferPointer { (r.baseAddress! + start * k).update(from: $0.baseAddress!, count: rows * k) }
            }
            start += rows
        }
        return result
    }
}
