import Datasets
import FileFormats
import Foundation
import Networks
import Testing
import TestSupport
import TensorAlgebra
@testable import Training

/// The trainer's state in a checkpoint: written in memory or streamed to a file, read back, and
/// refused at load when its progress metadata cannot be.
@Suite struct TrainerCheckpointTests {
    /// A training checkpoint of a 2-layer classifier after 1 epoch, as bytes to tamper with.
    func trainingCheckpoint() throws -> SafetensorsFile {
        let data = syntheticImages(count: 32, features: 6, classes: 3, seed: 1)
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Float>(inputFeatures: 6, classes: 3, layers: 2, using: &generator)
        let trainer = Trainer(classifier: classifier, configuration: TrainingConfiguration(batchSize: 8, epochs: 1, threads: 1))
        try trainer.train(data, test: data)
        return try SafetensorsFile(data: trainer.checkpointFile().encoded())
    }

    @Test func progressMetadataOutOfRangeIsRefusedAtLoad() throws {
        let file = try trainingCheckpoint()
        for (key, value) in [("epoch", "-1"), ("epoch", "9223372036854775807"), ("step_in_epoch", "-5"),
                             ("global_step", "x"), ("optimizer_steps", "1e3")] {
            var bad = file
            bad.metadata[key] = value
            #expect(throws: TrainingError.invalidProgress(path: "c", key: key, value: value, expected: "a whole number from 0 to 2147483646")) {
                try Trainer<Float>(resumingFrom: bad, path: "c")
            }
        }
        for value in ["nan", "inf", "0", "-1"] {
            var bad = file
            bad.metadata["sigma"] = value
            #expect(throws: TrainingError.checkpoint(.invalidMetadata(path: "c", key: "sigma", value: value, expected: "a finite number > 0"))) {
                try Trainer<Float>(resumingFrom: bad, path: "c")
            }
        }
        // A step past the end of the epoch is refused when training starts, before any step.
        var late = file
        late.metadata["step_in_epoch"] = "50"
        late.metadata["epoch"] = "0"
        let trainer = try Trainer<Float>(resumingFrom: late, path: "c")
        let data = syntheticImages(count: 32, features: 6, classes: 3, seed: 1)
        #expect(throws: TrainingError.invalidProgress(path: "trainer", key: "step_in_epoch", value: "50", expected: "at most the 4 steps of an epoch")) {
            try trainer.train(data, test: data)
        }
    }

    @Test func theStreamedTrainerCheckpointIsByteForByteTheInMemoryOne() throws {
        let data = syntheticImages(count: 48, features: 6, classes: 3, seed: 3)
        var generator = SeededGenerator(seed: 1)
        let classifier = IdentityClassifier<Double>(inputFeatures: 6, classes: 3, layers: 3, bias: true, using: &generator)
        let trainer = Trainer(classifier: classifier, configuration: TrainingConfiguration(
            batchSize: 16, epochs: 1, optimizer: .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0), threads: 1))
        try trainer.train(data, test: data)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("stream-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try trainer.writeCheckpoint(to: url)
        #expect(try Array(Data(contentsOf: url)) == trainer.checkpointFile().encoded())
        // It reads back, checksums verified.
        let resumed = try Trainer<Double>(resumingFrom: url)
        #expect(resumed.classifier.network.weights == trainer.classifier.network.weights)
    }

    @Test func aTrainingCheckpointWithNonFiniteWeightsIsRefusedAsAClassifier() throws {
        var file = try trainingCheckpoint()
        var w = try #require(file.tensor("layers.1.weight", as: Float.self))
        w[0, 0] = .nan
        w[1, 1] = .infinity
        file.set("layers.1.weight", w)
        #expect(throws: ModelFileError.nonFiniteValues(path: "c", tensor: "layers.1.weight", count: 2)) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "c")
        }
    }
}
