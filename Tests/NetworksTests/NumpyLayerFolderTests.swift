import FileFormats
import Foundation
import Networks
import Testing
import TensorAlgebra

/// Networks read from a folder of W1.npy, b1.npy, …: the naming rule and the values checked.
@Suite struct NumpyLayerFolderTests {
    /// Issue: W1.npy and W3.npy without W2.npy loaded as one layer, and W0.npy was ignored.
    /// The folder rule (docs/spectrum.md) is checked as a whole, naming the file that breaks it.
    @Test func numpyFoldersFollowTheLayerNamingRule() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("npy-rule-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        func folder(_ names: [String]) throws -> URL {
            let url = root.appendingPathComponent(UUID().uuidString)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            for name in names {
                let tensor: Tensor<Double> = name.hasPrefix("W") ? .identity(3) : .zeros([3])
                try tensor.writeNumpyFile(to: url.appendingPathComponent(name))
            }
            return url
        }
        for (names, problem) in [
            (["W1.npy", "W3.npy"], "W3.npy found but W2.npy missing"),
            (["W1.npy", "W2.npy", "W4.npy", "W5.npy"], "W4.npy found but W3.npy missing"),
            (["W2.npy"], "W2.npy found but W1.npy missing"),
            (["W0.npy", "W1.npy"], "W0.npy: layers are numbered from 1"),
            (["b0.npy", "W1.npy"], "b0.npy: layers are numbered from 1"),
            (["W1.npy", "W02.npy"], "W02.npy: a layer number is written without leading zeros, from 1 to the layer count"),
            (["W1.npy", "b1.npy", "b2.npy"], "b2.npy found but W2.npy missing"),
        ] {
            let url = try folder(names)
            let expected = ModelFileError.layerFiles(path: url.path, problem: problem)
            #expect(throws: expected, "\(names)") { _ = try MultilayerPerceptron<Double>(numpyFolder: url, activation: .relu) }
            #expect(expected.description == "\(url.path): \(problem)")
        }
        // Consecutive weights, biases for some layers, and other files beside them: loaded.
        let valid = try folder(["W1.npy", "W2.npy", "W3.npy", "b2.npy"])
        for other in ["notes.txt", "W1.npy.bak", "Wx.npy", "W.npy", "w4.npy", "B4.npy"] {
            try Data("x".utf8).write(to: valid.appendingPathComponent(other))
        }
        let network = try MultilayerPerceptron<Double>(numpyFolder: valid, activation: .relu)
        #expect(network.layerCount == 3 && network.biases.map { $0 != nil } == [false, true, false])
    }

    @Test func nanWeightsInNumpyLayersAreRefusedAtLoad() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("npy-nan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Tensor<Double>.identity(3).writeNumpyFile(to: folder.appendingPathComponent("W1.npy"))
        try Tensor<Double>(shape: [3, 3], scalars: [1, 0, 0, 0, .nan, 0, 0, 0, .infinity]).writeNumpyFile(to: folder.appendingPathComponent("W2.npy"))
        #expect(throws: ModelFileError.nonFiniteValues(path: folder.appendingPathComponent("W2.npy").path, tensor: "W2", count: 2)) {
            _ = try MultilayerPerceptron<Double>(numpyFolder: folder, activation: .relu)
        }
    }
}
