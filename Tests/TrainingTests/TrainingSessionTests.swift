import Datasets
import FileFormats
import Foundation
import Networks
import Testing
import TestSupport
import TensorAlgebra
@testable import Training

/// A run with its folder: files written, resumed where it stopped, settings and sizes refused
/// before anything is built.
@Suite struct TrainingSessionTests {
    @Test func aSessionWritesItsFilesAndResumesWhereItStopped() throws {
        let data = ImageDataset(train: syntheticImages(count: 96, features: 6, classes: 3, seed: 21),
                                test: syntheticImages(count: 30, features: 6, classes: 3, seed: 22))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("session-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let training = TrainingConfiguration(batchSize: 16, epochs: 2, learningRate: 0.05, threads: 1)
        let session = try TrainingSession<Double>(model: ClassifierConfiguration(layers: 3), training: training, data: data, folder: folder)
        var seen = 0
        let evaluation = try session.run(shouldStop: { seen += 1; return seen > 8 })
        #expect(evaluation == nil)  // stopped after 8 of the 12 steps
        for name in ["checkpoint.safetensors", "metrics.json", "metrics.csv"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path), "\(name)")
        }
        let resumed = try TrainingSession<Double>(resuming: session.checkpointURL!, layers: 3, data: data, folder: folder)
        #expect(resumed.trainer.epoch == 1 && resumed.trainer.stepInEpoch == 2)
        let final = try #require(try resumed.run())
        let straight = try TrainingSession<Double>(model: ClassifierConfiguration(layers: 3), training: training, data: data)
        let reference = try #require(try straight.run())
        #expect(resumed.trainer.classifier.network.weights == straight.trainer.classifier.network.weights)
        #expect(final.accuracy == reference.accuracy)
        // The science floor draws nothing: figures are the report floor's (ReportsTests).
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("layers.svg").path))
        // A checkpoint of another depth is refused, naming both.
        #expect(throws: TrainingError.checkpoint(.architectureMismatch(path: session.checkpointURL!.path, found: "3 layers of width 9",
                                                                        expected: "4 layers of width 9"))) {
            try TrainingSession<Double>(resuming: session.checkpointURL!, layers: 4, data: data)
        }
    }

    @Test func aBatchSizeOfZeroIsAnErrorNotACrash() {
        let data = ImageDataset(train: syntheticImages(count: 20, features: 6, classes: 3, seed: 1),
                                test: syntheticImages(count: 5, features: 6, classes: 3, seed: 2))
        #expect(throws: TrainingError.batchSizeOutOfRange(batchSize: 0, images: 20)) {
            try TrainingSession<Float>(model: ClassifierConfiguration(layers: 2), training: TrainingConfiguration(batchSize: 0), data: data)
        }
    }

    @Test func aNetworkThatCannotFitIsRefusedBeforeAllocation() {
        // Two 3000×3000 images: width 9,000,010, so one weight matrix alone is 324 TB.
        let huge = LabeledImages(pixels: [UInt8](repeating: 0, count: 2 * 9_000_000), labels: [0, 1], imageShape: [3000, 3000], classes: 10)
        let data = ImageDataset(train: huge, test: huge)
        #expect(throws: TrainingError.self) {
            try TrainingSession<Float>(model: ClassifierConfiguration(layers: 10), training: TrainingConfiguration(batchSize: 1), data: data)
        }
        do {
            _ = try TrainingSession<Float>(model: ClassifierConfiguration(layers: 10), training: TrainingConfiguration(batchSize: 1), data: data)
        } catch {
            guard case .tooLarge(let bytes, _) = error else { Issue.record("\(error)"); return }
            #expect(bytes > 3e15)
        }
    }
}
