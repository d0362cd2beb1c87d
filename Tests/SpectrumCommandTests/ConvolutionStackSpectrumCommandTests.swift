import CommandTestSupport
import FileFormats
import Foundation
import Testing
import TensorAlgebra

/// `spectrum --checkpoint` on convolutional stack files: architectures that claim more than
/// the file holds, weights made for other inputs, outputs beyond the memory budget and test
/// images of another shape than the stack's input, each one line naming the layer and the
/// shapes, exit 2.
@Suite(.serialized) struct ConvolutionStackSpectrumCommandTests {
    /// conv2d 1 → 2 (3×3, `inChannels` in its tensor), relu, flatten, dense 8 → 3, on [1, 4, 4].
    func writeCNN(_ url: URL, convolution: String = #""out_channels":2,"kernel":[3,3]"#, inChannels: Int = 1) throws {
        var file = SafetensorsFile()
        var generator = SeededGenerator(seed: 5)
        file.set("0.weight", Tensor<Float>.randomNormal([2, inChannels, 3, 3], using: &generator))
        file.set("0.bias", Tensor<Float>.zeros([2]))
        file.set("3.weight", Tensor<Float>.randomNormal([3, 8], using: &generator))
        file.set("3.bias", Tensor<Float>.zeros([3]))
        file.metadata["isometry.architecture"] = #"{"format":"isometry-layer-stack/1","input_shape":[1,4,4],"layers":["#
            + #"{"kind":"conv2d","in_channels":1,\#(convolution)},{"kind":"relu"},{"kind":"flatten"},{"kind":"dense","inputs":8,"outputs":3}]}"#
        try file.write(to: url)
    }

    /// A folder of 10 gzipped IDX test (and train) images of `height`×`width`.
    func writeImages(_ folder: URL, height: Int, width: Int) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["train", "t10k"] {
            try IDXFile(shape: [10, height, width], bytes: (0 ..< 10 * height * width).map { UInt8($0 % 251) })
                .writeGzipped(to: folder.appendingPathComponent("\(name)-images-idx3-ubyte.gz"))
            try IDXFile(shape: [10], bytes: (0 ..< 10).map { UInt8($0 % 3) }).writeGzipped(to: folder.appendingPathComponent("\(name)-labels-idx1-ubyte.gz"))
        }
    }

    func refusal(_ arguments: [String]) throws -> String {
        let (status, _, error) = try runSpectrum(arguments)
        #expect(status == 2, "\(arguments): \(error)")
        #expect(error.split(separator: "\n").count == 1, "\(arguments): \(error)")
        return error
    }

    @Test func filesThatDoNotFitTheirLayersAreRefused() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("cnn.safetensors")
        try writeCNN(url, convolution: #""out_channels":1000000000000,"kernel":[3,3]"#)
        #expect(try refusal(["--checkpoint", url.path])
                == "spectrum: error: --checkpoint: '\(url.path)': '0.weight' of layer 0 (conv2d 1 → 1000000000000 kernel 3×3) has shape [2, 1, 3, 3], expected [1000000000000, 1, 3, 3]\n")
        try writeCNN(url, inChannels: 3)
        #expect(try refusal(["--checkpoint", url.path])
                == "spectrum: error: --checkpoint: '\(url.path)': '0.weight' of layer 0 (conv2d 1 → 2 kernel 3×3) has shape [2, 3, 3, 3], so the layer takes [3, H, W], but it receives [1, 4, 4] from the input\n")
        try writeCNN(url, convolution: #""out_channels":2,"kernel":[3,3],"padding":[99999,99999]"#)
        #expect(try refusal(["--checkpoint", url.path])
                .hasPrefix("spectrum: error: --checkpoint: '\(url.path)': layer 0 (conv2d 1 → 2 kernel 3×3 padding 99999×99999) outputs [2, 200000, 200000] per sample, which needs "))
        try writeCNN(url, convolution: #""out_channels":2,"kernel":[3,3]},{"kind":"conv3d""#)
        #expect(try refusal(["--checkpoint", url.path]).contains("layer 1 has unknown kind 'conv3d' (known: dense, flatten, conv1d, conv2d, maxpool1d, maxpool2d, avgpool1d, avgpool2d, global-avgpool, relu, leaky-relu, hard-tanh, tanh, erf, identity)"))
    }

    @Test func testImagesOfAnotherShapeThanTheInputAreRefused() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("cnn.safetensors")
        try writeCNN(url)
        let square = folder.appendingPathComponent("square"), wide = folder.appendingPathComponent("wide")
        try writeImages(square, height: 4, width: 4)
        try writeImages(wide, height: 2, width: 8)
        let (status, output, error) = try runSpectrum(["--checkpoint", url.path, "--inputs", "test", "--data", square.path, "--samples", "2"])
        #expect(status == 0, "\(error)")
        #expect(output.contains("layer stack"), "\(output)")
        // 2×8 images have the 16 pixels of the [1, 4, 4] input, not its shape.
        #expect(try refusal(["--checkpoint", url.path, "--inputs", "test", "--data", wide.path, "--samples", "2"])
                == "spectrum: error: --data: '\(wide.path)': samples of shape [2, 8] (16 values), but layer 0 (conv2d 1 → 2 kernel 3×3) takes [1, 4, 4]; only a stack whose input is a vector flattens its samples\n")
    }
}
