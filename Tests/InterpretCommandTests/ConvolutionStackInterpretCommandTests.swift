import CommandTestSupport
import FileFormats
import Foundation
import Testing
import TensorAlgebra

/// `interpret --checkpoint` on convolutional stack files that do not fit their layers: one
/// line naming the layer and the shapes, exit 2, no report folder.
@Suite(.serialized) struct ConvolutionStackInterpretCommandTests {
    @Test func filesThatDoNotFitTheirLayersAreRefused() throws {
        var generator = SeededGenerator(seed: 3)
        let folder = try writeRowClassDataset(prefix: "isometry-interpret-conv", train: 10, test: 10, noise: 100, signal: 150, using: &generator)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("cnn.safetensors"), output = folder.appendingPathComponent("report")
        func write(outChannels: String, inChannels: Int) throws {
            var file = SafetensorsFile()
            file.set("0.weight", Tensor<Float>.zeros([2, inChannels, 3, 3]))
            file.set("0.bias", Tensor<Float>.zeros([2]))
            file.set("2.weight", Tensor<Float>.zeros([3, 8]))
            file.set("2.bias", Tensor<Float>.zeros([3]))
            file.metadata["isometry.architecture"] = #"{"format":"isometry-layer-stack/1","input_shape":[1,4,4],"layers":["#
                + #"{"kind":"conv2d","in_channels":1,"out_channels":\#(outChannels),"kernel":[3,3]},{"kind":"flatten"},{"kind":"dense","inputs":8,"outputs":3}]}"#
            try file.write(to: url)
        }
        for (outChannels, inChannels, message) in [
            ("1000000000000", 1, "'0.weight' of layer 0 (conv2d 1 → 1000000000000 kernel 3×3) has shape [2, 1, 3, 3], expected [1000000000000, 1, 3, 3]"),
            ("2", 3, "'0.weight' of layer 0 (conv2d 1 → 2 kernel 3×3) has shape [2, 3, 3, 3], so the layer takes [3, H, W], but it receives [1, 4, 4] from the input"),
        ] {
            try write(outChannels: outChannels, inChannels: inChannels)
            let (status, _, error) = try runExecutable("interpret", ["--checkpoint", url.path, "--data", folder.path, "--output", output.path])
            #expect(status == 2, "\(error)")
            #expect(error == "interpret: error: --checkpoint: '\(url.path)': \(message)\n")
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }
}
