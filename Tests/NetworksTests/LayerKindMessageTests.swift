import FileFormats
import Foundation
import Networks
import Testing
import TensorAlgebra

/// The loader's "unknown kind" message lists exactly the kinds of the layers Networks builds:
/// every built-in layer's description kind is in it, and nothing else is.
@Suite struct LayerKindMessageTests {
    /// The kinds the message lists, read back from a file whose one layer no one knows.
    func listedKinds() throws -> [String] {
        var file = SafetensorsFile()
        file.metadata[LayerStackArchitecture.metadataKey] = #"{"format":"isometry-layer-stack/1","input_shape":[4],"layers":[{"kind":"conv9d"}]}"#
        let json = file.metadata[LayerStackArchitecture.metadataKey]!
        do {
            _ = try LayerStack<Float>(architecture: try LayerStack<Float>.decodeArchitecture(json, path: "f"), parameters: file, path: "f")
            Issue.record("conv9d was read")
            return []
        } catch {
            let text = error.description
            #expect(text.hasPrefix("'f': layer 0 has unknown kind 'conv9d' (known: "), "\(text)")
            let list = text.split(separator: "(known: ").last!.dropLast()
            return list.split(separator: ", ").map(String.init)
        }
    }

    @Test func unknownKindMessageListsEveryBuiltInLayer() throws {
        var generator = SeededGenerator(seed: 1)
        let layers: [any Layer<Float>] = [
            Dense<Float>(inputs: 2, outputs: 2, using: &generator), Flatten<Float>(),
            Conv1d<Float>(inChannels: 1, outChannels: 1, kernel: 1, using: &generator),
            Conv2d<Float>(inChannels: 1, outChannels: 1, kernel: [1, 1], using: &generator),
            MaxPool<Float>(kernel: [2]), MaxPool<Float>(kernel: [2, 2]), AvgPool<Float>(kernel: [2]), AvgPool<Float>(kernel: [2, 2]),
            GlobalAvgPool<Float>(),
        ] + [Nonlinearity.relu, .leakyReLU(slope: 0.2), .hardTanh, .tanh, .erf, .identity].map { ActivationLayer<Float>($0) }
        let kinds = layers.map(\.layerDescription.kind)
        let listed = try listedKinds()
        #expect(Set(listed) == Set(kinds), "listed \(listed), built \(kinds)")
        #expect(listed.count == kinds.count, "each kind once: \(listed)")
    }
}
