import CommandTestSupport
import FileFormats
import Foundation
import Testing
import TensorAlgebra

/// `train --architecture` and `train --resume` of a convolutional stack: sizes beyond the
/// memory budget, images of another shape than the stack's input and a contradicting
/// --architecture are refused in one line (exit 2) before the output folder or any buffer of
/// the size in question exists.
@Suite(.serialized) struct ConvolutionInputRefusalCommandTests {
    /// A folder of `count` gzipped IDX images of `height`×`width` (and 10 test images), 3 classes.
    func writeImages(train count: Int, height: Int, width: Int) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-conv-refusal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, n) in [("train", count), ("t10k", 10)] {
            let pixels = (0 ..< n * height * width).map { UInt8($0 % 251) }
            try IDXFile(shape: [n, height, width], bytes: pixels).writeGzipped(to: folder.appendingPathComponent("\(name)-images-idx3-ubyte.gz"))
            try IDXFile(shape: [n], bytes: (0 ..< n).map { UInt8($0 % 10) }).writeGzipped(to: folder.appendingPathComponent("\(name)-labels-idx1-ubyte.gz"))
        }
        return folder
    }

    func refused(_ arguments: [String], output: URL) throws -> String {
        let (status, _, error) = try runTrain(arguments + ["--output", output.path])
        #expect(status == 2, "\(arguments): \(error)")
        #expect(error.split(separator: "\n").count == 1, "\(arguments): \(error)")
        #expect(!FileManager.default.fileExists(atPath: output.path), "\(arguments) made the output folder")
        return error
    }

    @Test func sizesBeyondTheBudgetAreRefusedBeforeAnyBuffer() throws {
        let data = try writeImages(train: 5000, height: 4, width: 4)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("out")
        // 16 · 2·10¹⁰ + 2·10¹⁰ weights: terabytes, counted from the string before any is drawn.
        var error = try refused(["--data", data.path, "--architecture", "flatten,dense20000000000,relu,dense10"], output: output)
        #expect(error.contains("--architecture: architecture token 1 'dense20000000000': (dense 16 → 20000000000) has 340000000000 parameters; holding them with the layers before it needs 1.4 TB (1360000000000 bytes) of memory, more than the "), "\(error)")
        // Planes of 2·10⁹ + 4 a side: one sample's outputs overflow the count.
        error = try refused(["--data", data.path, "--architecture", "conv3k1p999999999,relu,gap,dense10"], output: output)
        #expect(error.contains("--architecture: architecture token 0 'conv3k1p999999999': (conv2d 1 → 3 kernel 1×1 padding 999999999×999999999) outputs [3, 2000000002, 2000000002] per sample, which holds more values than memory can address"), "\(error)")
        // 5·10⁵ channels of 2×2 through ReLU: about 44 MB per training sample, 220 GB for a batch of 5000.
        error = try refused(["--data", data.path, "--architecture", "conv500000k3,relu,gap,dense10", "--batch", "5000"], output: output)
        #expect(error.hasPrefix("train: error: --batch 5000: training on batches of 5000, evaluating 10 at a time, needs "), "\(error)")
        #expect(error.contains("; the largest buffers are layer 0's (conv2d 1 → 500000 kernel 3×3) outputs, [500000, 2, 2] per sample"), "\(error)")
    }

    @Test func resumingOnImagesOfAnotherShapeOrArchitectureIsRefused() throws {
        let square = try writeImages(train: 40, height: 4, width: 4)
        let wide = try writeImages(train: 40, height: 2, width: 8)
        defer { for folder in [square, wide] { try? FileManager.default.removeItem(at: folder) } }
        let run = square.appendingPathComponent("run")
        let (status, _, error) = try runTrain(["--data", square.path, "--architecture", "conv2k3,relu,flatten,dense10", "--batch", "10",
                                               "--epochs", "1", "--output", run.path, "--threads", "1"])
        #expect(status == 0, "\(error)")
        // 2×8 images have the 16 pixels of 4×4 ones: the count alone would let them through.
        let message = try refused(["--resume", run.path, "--data", wide.path, "--epochs", "2"], output: run.appendingPathComponent("never"))
        #expect(message == "train: error: --data: '\(URL(fileURLWithPath: wide.path).standardizedFileURL.path)': samples of shape [2, 8] (16 values), but layer 0 (conv2d 1 → 2 kernel 3×3) takes [1, 4, 4]; only a stack whose input is a vector flattens its samples\n")
        let other = try refused(["--resume", run.path, "--architecture", "conv4k3,relu,flatten,dense10", "--epochs", "2"], output: run.appendingPathComponent("never"))
        #expect(other == "train: error: --resume: --architecture conv4k3,relu,flatten,dense10 differs from the checkpoint's conv2k3,relu,flatten,dense10; leave --architecture out to continue the run as it was\n")
    }

    /// A 1-D CNN trained on MNIST-1D's [40] sequences (as [1, 40]), resumed on 8×5 images: 40
    /// values each, so only the shapes tell them apart.
    @Test func aSequenceModelRefusesImagesOfAsManyPixels() throws {
        let sequences = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/MNIST1D").standardizedFileURL.path
        let images = try writeImages(train: 40, height: 8, width: 5)
        defer { try? FileManager.default.removeItem(at: images) }
        let run = images.appendingPathComponent("run")
        let (status, _, error) = try runTrain(["--data", sequences, "--architecture", "conv4k5,relu,maxpool2,flatten,dense10", "--batch", "20",
                                               "--epochs", "1", "--output", run.path, "--threads", "1"])
        #expect(status == 0, "\(error)")
        let message = try refused(["--resume", run.path, "--data", images.path, "--epochs", "2"], output: run.appendingPathComponent("never"))
        #expect(message == "train: error: --data: '\(URL(fileURLWithPath: images.path).standardizedFileURL.path)': samples of shape [8, 5] (40 values), but layer 0 (conv1d 1 → 4 kernel 5) takes [1, 40]; only a stack whose input is a vector flattens its samples\n")
    }
}
