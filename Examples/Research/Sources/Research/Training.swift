import Datasets
import Foundation
import Networks
import Training

/// One epoch of the default 10-layer identity classifier on the first 5,000 training images,
/// with a per-step loss callback; returns the trained classifier.
func trainOneEpoch() throws -> IdentityClassifier<Float> {
    let data = try ImageDataset(folder: ImageDataset.fashionMNISTFolder)
    let training = TrainingConfiguration(epochs: 1, trainLimit: 5000)
    let session = try TrainingSession<Float>(model: ClassifierConfiguration(), training: training, data: data)
    var losses: [Double] = []
    session.onStep = { losses.append($0.loss) }
    let evaluation = try session.run()!
    Checks.expect(losses.count == 5000 / 128, "one loss per step: \(losses.count) steps of 128 from 5,000 images")
    Checks.expect(losses.allSatisfy(\.isFinite) && losses.suffix(5).reduce(0, +) < losses.prefix(5).reduce(0, +),
                  String(format: "the loss falls: %.3f over the first 5 steps, %.3f over the last 5",
                         losses.prefix(5).reduce(0, +) / 5, losses.suffix(5).reduce(0, +) / 5))
    Checks.expect(evaluation.accuracy > 0.6, String(format: "test accuracy %.2f %% on the 10,000 test images", evaluation.accuracy * 100))
    Checks.expect(evaluation.logits.count == data.test.count && evaluation.predictions.count == data.test.count,
                  "per-sample logits and predictions for every test image")
    return session.trainer.classifier
}
