import Datasets
import FileFormats
import Foundation
import Networks
import Testing
import TestSupport
import TensorAlgebra
@testable import Training

/// What a session leaves behind when a run diverges or is interrupted.
@Suite struct DivergedAndInterruptedRunTests {
    let data = ImageDataset(train: syntheticImages(count: 96, features: 6, classes: 3, seed: 31),
                            test: syntheticImages(count: 30, features: 6, classes: 3, seed: 32))

    func folder() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("guarantee-\(UUID().uuidString)") }

    /// The figures an epoch record has apart from its timing.
    func figures(_ r: EpochRecord) -> EpochRecord {
        var copy = r
        (copy.samplesPerSecond, copy.seconds) = (0, 0)
        return copy
    }

    @Test func weightsTurnedNonFiniteAtAnEpochsLastStepKeepTheGoodCheckpoint() throws {
        let folder = folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let training = TrainingConfiguration(batchSize: 16, epochs: 3, learningRate: 0.05, threads: 1)
        let session = try TrainingSession<Double>(model: ClassifierConfiguration(layers: 3), training: training, data: data, folder: folder)
        var afterEpoch1: Data?
        session.onEpoch = { _ in if afterEpoch1 == nil { afterEpoch1 = try? Data(contentsOf: session.checkpointURL!) } }
        // A step that overflows the weights, as the last of epoch 2 (6 steps an epoch): its loss,
        // computed before the update, is finite.
        session.onStep = { event in
            if event.globalStep == 12 { session.trainer.classifier.network.weights[1][2, 2] = .infinity }
        }
        #expect(throws: TrainingError.diverged(Divergence(
            quantity: "the weights of layer 2", value: .infinity, epoch: 2, step: 6, globalStep: 12, beforeAnyUpdate: false,
            lastGood: .kept(path: session.checkpointURL!.path, epochsDone: 1, stepInEpoch: 0)))) {
            try session.run()
        }
        #expect(try Data(contentsOf: session.checkpointURL!) == afterEpoch1)
        #expect(session.trainer.history.count == 1)
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("metrics.json"))) as! [String: Any]
        #expect((metrics["epochs"] as! [Any]).count == 1)
        #expect((metrics["diverged"] as? String)?.contains("the weights of layer 2 became inf at epoch 2, step 6") == true)
        #expect(metrics["testAccuracy"] == nil)
    }

    @Test func anInterruptionWithNonFiniteWeightsWritesNoCheckpoint() throws {
        let folder = folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let training = TrainingConfiguration(batchSize: 16, epochs: 2, learningRate: 0.05, threads: 1)
        let session = try TrainingSession<Double>(model: ClassifierConfiguration(layers: 3), training: training, data: data, folder: folder)
        session.onStep = { event in if event.globalStep == 3 { session.trainer.classifier.network.weights[0][0, 0] = -.infinity } }
        var steps = 0
        #expect(throws: TrainingError.diverged(Divergence(quantity: "the weights of layer 1", value: -.infinity, epoch: 1, step: 3, globalStep: 3,
                                                          beforeAnyUpdate: false, lastGood: .none))) {
            try session.run(shouldStop: { steps += 1; return steps > 3 })
        }
        #expect(!FileManager.default.fileExists(atPath: session.checkpointURL!.path))
        #expect(throws: TrainingError.self) { try session.writeCheckpoint() }
        #expect(!FileManager.default.fileExists(atPath: session.checkpointURL!.path))
    }

    @Test func aLossOverflowingBeforeAnyUpdateBlamesTheInitialisation() throws {
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Float>(inputFeatures: 6, classes: 3, layers: 8, activation: .relu, sigma: 1e30, using: &generator)
        let session = try TrainingSession(trainer: Trainer(classifier: classifier, configuration: TrainingConfiguration(batchSize: 16, threads: 1)),
                                          data: data)
        do {
            try session.run()
            Issue.record("expected a divergence")
        } catch .diverged(let divergence) {
            #expect(divergence.quantity == "the loss" && divergence.epoch == 1 && divergence.step == 1 && divergence.beforeAnyUpdate)
            #expect(divergence.lastGood == .none)
            #expect(divergence.description.contains("no checkpoint of this run was written; the network as initialised already overflows"))
        } catch { Issue.record("\(error)") }
        // σ beyond the precision is refused before anything is built.
        #expect(throws: TrainingError.invalidSetting(name: "sigma", value: "1e+39", expected: "at most 3.4028235e+38, the largest Float")) {
            try TrainingSession<Float>(model: ClassifierConfiguration(layers: 2, sigma: 1e39), training: TrainingConfiguration(batchSize: 16), data: data)
        }
    }

    @Test func aResumedEpochRecordsTheSameFiguresAsAnUninterruptedOne() throws {
        let training = TrainingConfiguration(batchSize: 16, epochs: 2, learningRate: 0.05,
                                             optimizer: .sgd(momentum: 0.9, weightDecay: 1e-4), threads: 1)
        let model = ClassifierConfiguration(layers: 3, bias: true)
        let straight = try TrainingSession<Double>(model: model, training: training, data: data)
        try straight.run()
        for k in [1, 4, 6, 9] {  // inside epoch 1, at its end, inside epoch 2
            let folder = folder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let first = try TrainingSession<Double>(model: model, training: training, data: data, folder: folder)
            var steps = 0
            #expect(try first.run(shouldStop: { steps += 1; return steps > k }) == nil)
            let resumed = try TrainingSession<Double>(resuming: first.checkpointURL!, data: data, folder: folder)
            try resumed.run()
            #expect(resumed.trainer.history.map(figures) == straight.trainer.history.map(figures), "stopped after \(k) steps")
            #expect(resumed.trainer.classifier.network.weights == straight.trainer.classifier.network.weights)
        }
    }

    @Test func aCheckpointWithoutTheRunningSumsResumesAndSaysSo() throws {
        let training = TrainingConfiguration(batchSize: 16, epochs: 2, learningRate: 0.05, threads: 1)
        let model = ClassifierConfiguration(layers: 3)
        let folder = folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try TrainingSession<Double>(model: model, training: training, data: data, folder: folder)
        var steps = 0
        try first.run(shouldStop: { steps += 1; return steps > 8 })  // epoch 2, step 2
        // As written before the sums were stored.
        var file = try SafetensorsFile(contentsOf: first.checkpointURL!)
        for key in ["epoch_loss_sum", "epoch_correct", "epoch_seen"] { #expect(file.metadata.removeValue(forKey: key) != nil) }
        let old = try Trainer<Double>(resumingFrom: file, path: "old")
        #expect(old.trainFiguresFromStep == 3)
        // Interrupted again: the partial figures stay marked as such.
        let data = data
        try old.train(data.train, test: data.test, shouldStop: { old.stepInEpoch == 4 })
        let again = try Trainer<Double>(resumingFrom: SafetensorsFile(data: old.checkpointFile().encoded()), path: "again")
        #expect(again.trainFiguresFromStep == 3 && again.trainSeen == 32)
        try again.train(data.train, test: data.test)
        #expect(again.history.map(\.trainFiguresFromStep) == [nil, 3])
        let straight = try TrainingSession<Double>(model: model, training: training, data: data)
        try straight.run()
        #expect(again.classifier.network.weights == straight.trainer.classifier.network.weights)
        #expect(again.history[1].testLoss == straight.trainer.history[1].testLoss)
        #expect(again.history[1].trainLoss != straight.trainer.history[1].trainLoss)
        // Running sums that cannot be are refused at load.
        var bad = try SafetensorsFile(contentsOf: first.checkpointURL!)
        bad.metadata["epoch_correct"] = "999"
        #expect(throws: TrainingError.invalidProgress(path: "bad", key: "epoch_correct", value: "999", expected: "at most epoch_seen = 32")) {
            try Trainer<Double>(resumingFrom: bad, path: "bad")
        }
    }
}
