import Datasets
import FileFormats
import Foundation
import Networks
import Testing
import TestSupport
import TensorAlgebra

/// Checkpoints no classifier could have written: refused at load with a typed, one-line error.
@Suite struct HostileCheckpointTests {
    /// Fuzzer finding: a default feature or class count below 1 (metadata `classes` ≥ the
    /// width without `input_features`, or a 1×1 weight without metadata) reached the
    /// classifier's fatalError; now a typed error at load, for interpret, spectrum and train.
    @Test func classifiersWithNoRoomForFeaturesAndClassesAreRefusedAtLoad() throws {
        var narrow = SafetensorsFile()
        for l in 0 ..< 2 { narrow.set("layers.\(l).weight", Tensor<Float>.identity(10)) }
        for classes in ["10", "12"] {
            var file = narrow
            file.metadata["classes"] = classes
            let expected = ModelFileError.invalidMetadata(
                path: "m", key: "classes", value: classes, expected: "a whole number below the layers' width 10 (they hold the input features and the classes)")
            #expect(throws: expected) { let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "m") }
            #expect(expected.description == "m: metadata classes = '\(classes)', expected a whole number below the layers' width 10 (they hold the input features and the classes)")
        }
        var single = SafetensorsFile()
        single.set("layers.0.weight", Tensor<Float>.identity(1))
        let expected = ModelFileError.wrongShape(path: "one", tensor: "layers.0.weight", shape: [1, 1],
                                                 expected: "[N, N] with N ≥ 2 (a classifier's layers hold at least one input feature and one class)")
        #expect(throws: expected) { let _: IdentityClassifier<Double> = try Checkpoint.classifier(from: single, path: "one") }
        // The fuzzer's corpus entries, read from bytes as the commands read them.
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fuzz/safetensors/corpus")
        for name in ["classifier-classes-equal-width.safetensors", "classifier-1x1-no-metadata.safetensors"] {
            let url = corpus.appendingPathComponent(name).standardizedFileURL
            #expect(throws: ModelFileError.self, "\(name)") { let _: IdentityClassifier<Float> = try IdentityClassifier(contentsOf: url) }
        }
        // Two wide is the narrowest classifier: one feature, one class.
        var two = SafetensorsFile()
        two.set("layers.0.weight", Tensor<Float>.identity(2))
        let smallest: IdentityClassifier<Float> = try Checkpoint.classifier(from: two, path: "two")
        #expect(smallest.inputFeatures == 1 && smallest.classes == 1)
    }

    @Test func nonFiniteWeightsAreRefusedAtLoad() throws {
        var generator = SeededGenerator(seed: 0)
        var file = Checkpoint.file(IdentityClassifier<Float>(inputFeatures: 6, classes: 3, layers: 2, using: &generator))
        var w = try #require(file.tensor("layers.1.weight", as: Float.self))
        w[0, 0] = .nan
        w[1, 1] = .infinity
        file.set("layers.1.weight", w)
        #expect(throws: ModelFileError.nonFiniteValues(path: "c", tensor: "layers.1.weight", count: 2)) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "c")
        }
    }

    /// Metadata values and paths are quoted through `quotedValue`: no escape sequence, newline
    /// or megabyte of metadata reaches the one-line error.
    @Test func modelFileErrorsQuoteHostileValues() throws {
        var file = Checkpoint.file(IdentityClassifier<Float>(
            network: .identity(width: 5, layers: 2, sigma: 1, activation: .hardTanh), inputFeatures: 3, classes: 2, sigma: 1))
        file.metadata["activation"] = "\u{1B}[2J\u{1B}[31mrelu"
        #expect(throws: ModelFileError.self) { let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "m") }
        let error = ModelFileError.unknownActivation(path: "dir\nname/m.safetensors", name: "\u{1B}[2J\u{1B}[31mrelu")
        #expect(error.description.hasPrefix("dir\\nname/m.safetensors: unknown activation '\\e[2J\\e[31mrelu' in metadata"))
        let long = ModelFileError.invalidMetadata(path: "m", key: "sigma", value: String(repeating: "9", count: 20_000_000), expected: "a finite number > 0")
        #expect(long.description == "m: metadata sigma = '\(String(repeating: "9", count: 200))… (20000000 bytes)', expected a finite number > 0")
    }

    @Test func truncatedAndHostileFilesAreRefused() throws {
        var file = SafetensorsFile()
        file.set("layers.0.weight", Tensor<Double>.identity(3))
        let bytes = try file.encoded()
        for length in [0, 4, 8, 20, bytes.count - 1] {
            #expect(throws: SafetensorsError.self) { try SafetensorsFile(data: Array(bytes[..<length])) }
        }
        var hostile = bytes
        hostile[0] = 0xFF; hostile[7] = 0x7F  // an absurd header length
        #expect(throws: SafetensorsError.self) { try SafetensorsFile(data: hostile) }
    }
}
