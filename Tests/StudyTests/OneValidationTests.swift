import Datasets
import Foundation
import Networks
import Study
import Testing
import TensorAlgebra
import TestSupport
import Training

/// Issue "one owner for every rule": `TrainingConfiguration.validate(images:)` is the one check
/// of run settings; a session, a trainer and a study refuse the same settings with the same error.
@Suite struct OneValidationTests {
    static let bad: [(TrainingConfiguration, TrainingError)] = [
        (TrainingConfiguration(epochs: 0), .invalidSetting(name: "epochs", value: "0", expected: "at least 1")),
        (TrainingConfiguration(learningRate: .nan), .invalidSetting(name: "learningRate", value: "nan", expected: "a finite number > 0")),
        (TrainingConfiguration(optimizer: .sgd(momentum: 1, weightDecay: 0)), .invalidSetting(name: "momentum", value: "1.0", expected: "in [0, 1)")),
        (TrainingConfiguration(optimizer: .sgd(momentum: 0, weightDecay: -1)), .invalidSetting(name: "weightDecay", value: "-1.0", expected: "a finite number ≥ 0")),
        (TrainingConfiguration(optimizer: .adam(beta1: 0.9, beta2: 1, epsilon: 1e-8, weightDecay: 0)), .invalidSetting(name: "beta2", value: "1.0", expected: "in [0, 1)")),
        (TrainingConfiguration(batchSize: 0), .batchSizeOutOfRange(batchSize: 0, images: 0)),
    ]

    @Test func validateNamesTheSettingAtFault() {
        for (c, error) in Self.bad { #expect(throws: error) { try c.validate() } }
        #expect(throws: TrainingError.batchSizeOutOfRange(batchSize: 300, images: 200)) {
            try TrainingConfiguration(batchSize: 300).validate(images: 200)
        }
        #expect(throws: Never.self) { try TrainingConfiguration(batchSize: 200).validate(images: 200) }
    }

    @Test func sessionTrainerAndStudyRefuseAlike() {
        let data = tinyData()
        for (c, error) in Self.bad {
            let expected = error == .batchSizeOutOfRange(batchSize: 0, images: 0) ? .batchSizeOutOfRange(batchSize: 0, images: data.train.count) : error
            #expect(throws: expected) { try TrainingSession<Float>(model: ClassifierConfiguration(layers: 2), training: c, data: data) }
            // A trainer cannot be built with no batch at all (its workspace is sized by it).
            if c.batchSize >= 1 {
                var generator = SeededGenerator(seed: 0)
                let classifier = IdentityClassifier<Float>(inputFeatures: data.train.features, classes: data.train.classes, layers: 2, using: &generator)
                #expect(throws: expected) { try Trainer(classifier: classifier, configuration: c).train(data.train, test: data.test) }
            }
            var grid = StudyGrid(depths: [2], sigmas: [1], initializations: [.identity], seeds: [0])
            grid.training = c
            #expect(throws: StudyError.training(expected)) { try Study(grid: grid, data: data) }
        }
    }
}
