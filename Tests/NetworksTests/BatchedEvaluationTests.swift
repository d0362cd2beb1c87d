import Datasets
import Networks
import Testing
import TestSupport
import TensorAlgebra

/// The batched forward pass and evaluation against row-by-row references.
@Suite struct BatchedEvaluationTests {
    @Test func batchedForwardEqualsRowByRow() {
        var generator = SeededGenerator(seed: 5)
        let network = MultilayerPerceptron<Double>.gaussian(width: 4, layers: 3, sigmaW: 1.5, sigmaB: 0.1, activation: .tanh, using: &generator)
        let batch = Tensor<Double>.randomNormal([3, 4], using: &generator)
        let outputs = network(batch)
        #expect(outputs.shape == [3, 4])
        for r in 0 ..< 3 {
            let single = network(batch.row(r))
            for j in 0 ..< 4 { #expect(abs(outputs[r, j] - single[j]) <= 1e-14 * max(1, abs(single[j]))) }
        }
        // The classifier's logits: the class dimensions of the last pre-activation, from D features.
        let classifier = IdentityClassifier(network: network, inputFeatures: 2, classes: 2, sigma: 1.5)
        let logits = classifier.logits(batch.map { $0 }.rows(0 ..< 3))
        let padded = classifier.padded(Tensor(shape: [1, 2], scalars: [batch[0, 0], batch[0, 1]]))
        #expect(padded.scalars == [batch[0, 0], batch[0, 1], 0, 0])
        let h = network.preActivations(batch.row(0)).last!
        #expect(abs(logits[0, 0] - h[2]) <= 1e-14 && abs(logits[0, 1] - h[3]) <= 1e-14)
    }

    @Test func evaluationRefusesDataThatDoesNotFit() {
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Float>(inputFeatures: 6, classes: 3, layers: 2, using: &generator)
        #expect(throws: EvaluationError.featureMismatch(dataFeatures: 5, networkFeatures: 6)) {
            try classifier.evaluate(syntheticImages(count: 10, features: 5, classes: 3, seed: 1))
        }
        #expect(throws: EvaluationError.empty) {
            try classifier.evaluate(LabeledImages(pixels: [], labels: [], imageShape: [6], classes: 3))
        }
        #expect(throws: EvaluationError.labelOutOfRange(label: 3, classes: 3)) {
            try classifier.evaluate(syntheticImages(count: 10, features: 6, classes: 4, seed: 1))
        }
    }
}
