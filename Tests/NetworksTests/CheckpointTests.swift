import Datasets
import FileFormats
import Foundation
import Networks
import Testing
import TestSupport
import TensorAlgebra

/// The checkpoint format: Python's files read, shapes and metadata checked at load, and what
/// is written read back as it was.
@Suite struct CheckpointTests {
    @Test func readsAFileWrittenByPythonSafetensors() throws {
        let url = Bundle.module.url(forResource: "python", withExtension: "safetensors", subdirectory: "Fixtures")!
        let classifier = try IdentityClassifier<Double>(contentsOf: url)
        #expect(classifier.layers == 2 && classifier.inputFeatures == 2 && classifier.classes == 2 && classifier.sigma == 1.5)
        #expect(classifier.activation == .relu)
        #expect(classifier.network.weights[0][1, 2] == 6.0 / 8)  // np.arange(16).reshape(4, 4) / 8
        #expect(classifier.network.weights[1] == Tensor<Double>.identity(4, scale: 1.5))
        #expect(classifier.network.biases[0] == Tensor([0.5, -0.5, 0.25, 0]))
        // Written back and read again, identical.
        let again: IdentityClassifier<Double> = try Checkpoint.classifier(
            from: SafetensorsFile(data: Checkpoint.file(classifier).encoded()), path: "memory")
        #expect(again.network.weights == classifier.network.weights && again.network.biases == classifier.network.biases)
    }

    @Test func aCheckpointRecordsTheArchitectureItHas() throws {
        var generator = SeededGenerator(seed: 2)
        let model = ClassifierConfiguration(layers: 2, activation: .relu, initialization: .orthogonal, sigma: 1.3, bias: true)
        let classifier = IdentityClassifier<Double>(inputFeatures: 5, classes: 3, configuration: model, using: &generator)
        #expect(classifier.configuration == model)
        let again: IdentityClassifier<Double> = try Checkpoint.classifier(
            from: SafetensorsFile(data: Checkpoint.file(classifier).encoded()), path: "memory")
        #expect(again.configuration == model)
        #expect(again.network.weights == classifier.network.weights)
    }

    @Test func wrongShapesListExpectedAndFound() throws {
        var file = SafetensorsFile()
        file.set("layers.0.weight", Tensor<Float>.identity(5))
        file.set("layers.1.weight", Tensor<Float>.zeros([5, 4]))
        #expect(throws: ModelFileError.layersDoNotChain(path: "bad.safetensors", layer: 2, shape: [5, 4], previousOutputs: 5)) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "bad.safetensors")
        }
        file.set("layers.1.weight", Tensor<Float>.zeros([4, 5]))
        #expect(throws: ModelFileError.wrongShape(path: "bad.safetensors", tensor: "layers.1.weight", shape: [4, 5],
                                                  expected: "[5, 5] (a classifier's layers are square)")) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "bad.safetensors")
        }
        file.set("layers.1.weight", Tensor<Float>.identity(5))
        #expect(throws: ModelFileError.architectureMismatch(path: "x", found: "2 layers of width 5", expected: "3 layers of width 794")) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "x", expecting: (3, 794))
        }
        #expect(throws: ModelFileError.noLayers(path: "empty", found: [])) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: SafetensorsFile(), path: "empty")
        }
        file.set("layers.0.bias", Tensor<Float>.zeros([5]))
        #expect(throws: ModelFileError.inconsistentBiases(path: "b", layersWithBias: [1])) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "b")
        }
    }

    @Test func metadataValuesAreCheckedAtLoadTime() throws {
        var file = Checkpoint.file(IdentityClassifier<Float>(
            network: .identity(width: 5, layers: 2, sigma: 1, activation: .hardTanh), inputFeatures: 3, classes: 2, sigma: 1))
        for (key, value, expected) in [("sigma", "nan", "a finite number > 0"), ("sigma", "0", "a finite number > 0"),
                                       ("sigma", "inf", "a finite number > 0"), ("classes", "-1", "a whole number ≥ 1"),
                                       ("input_features", "4", "3 (the layers are 5 wide and there are 2 classes)")] {
            var bad = file
            bad.metadata[key] = value
            #expect(throws: ModelFileError.invalidMetadata(path: "m", key: key, value: value, expected: expected)) {
                let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: bad, path: "m")
            }
        }
        file.metadata["activation"] = "swish"
        #expect(throws: ModelFileError.unknownActivation(path: "m", name: "swish")) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "m")
        }
    }

    /// `write(to:)` streams the bytes `Checkpoint.file` builds in memory, and they read back.
    @Test func theStreamedCheckpointIsByteForByteTheInMemoryOne() throws {
        let classifier = randomClassifier(.hardTanh)
        let folder = try temporaryFolder("checkpoint")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("classifier.safetensors")
        try classifier.write(to: url)
        #expect(try Array(Data(contentsOf: url)) == Checkpoint.file(classifier).encoded())
        let back = try IdentityClassifier<Double>(contentsOf: url)
        #expect(back.network.weights == classifier.network.weights && back.network.biases == classifier.network.biases)
    }
}
