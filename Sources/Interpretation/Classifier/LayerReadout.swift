import Networks
import Datasets
import TensorAlgebra

/// What every layer's class dimensions know, over a dataset split (docs/theory.md §1): no probe
/// is trained; layer l predicts argmax h^l[D..<D+C], and its class likelihood is the softmax
/// of those scores.
public struct LayerReadout: Sendable, Codable {
    /// Recognition accuracy per layer.
    public var accuracies: [Double]
    /// Mean softmax probability of the true class per layer.
    public var trueClassLikelihoods: [Double]
    /// confusion[l][true][predicted].
    public var confusion: [[[Int]]]
    /// ‖W^l − σI‖_F / ‖σI‖_F per layer.
    public var distanceFromIdentity: [Double]
    public var samples: Int

    /// Reads every layer with the trainer's batched evaluation (the same forward pass).
    public init<Scalar: BLASScalar>(_ classifier: IdentityClassifier<Scalar>, data: LabeledImages, batchSize: Int = 500) throws(EvaluationError) {
        let evaluation = try classifier.evaluate(data, batchSize: batchSize)
        accuracies = evaluation.layerAccuracies
        trueClassLikelihoods = evaluation.layerTrueClassLikelihoods
        confusion = evaluation.layerConfusion
        distanceFromIdentity = classifier.distanceFromIdentity()
        samples = data.count
    }
}
