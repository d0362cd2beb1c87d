import CommandTestSupport
import Foundation
import Networks
import Testing

/// `train --architecture`: a convolutional stack from one line, trained on the images as
/// [1, H, W], its self-describing file, and one-line refusals naming the token (exit 2,
/// nothing written).
@Suite(.serialized) struct ArchitectureTrainCommandTests {
    @Test func trainsACNNAndWritesAReadableStack() throws {
        let data = try makeDataset(train: 300, test: 90)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("out")
        let (status, text, error) = try runTrain(["--data", data.path, "--architecture", "conv4k3p1,relu,maxpool2,flatten,dense10",
                                                  "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05", "--batch", "10",
                                                  "--epochs", "3", "--output", output.path, "--threads", "1"])
        #expect(status == 0, "\(error)")
        #expect(text.contains("epoch 3/3"), "\(text)")
        let stack = try LayerStack<Float>(contentsOf: output.appendingPathComponent("model.safetensors"))
        #expect(stack.shapes == [[1, 4, 4], [4, 4, 4], [4, 4, 4], [4, 2, 2], [16], [10]])
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("metrics.json"))) as! [String: Any]
        #expect(metrics["layers"] as? String == "conv4k3p1,relu,maxpool2,flatten,dense10")
        let epochs = metrics["epochs"] as! [[String: Any]]
        #expect((epochs.last!["testAccuracy"] as! Double) > 0.8, "a separable toy problem")
    }

    @Test func badArchitecturesAreOneLineRefusalsWritingNothing() throws {
        let data = try makeDataset(train: 40, test: 10)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("refused")
        for (flags, message) in [
            (["--architecture", "conv4k5,relu,flatten,dense10"],
             "--architecture: architecture token 0 'conv4k5': (conv2d 1 → 4 kernel 5×5) takes [1, H, W] with room for its window (kernel 5×5 exceeds the padded input 4×4 (input 4×4, padding 0×0)) but receives [1, 4, 4]"),
            (["--architecture", "dense10"],
             "--architecture: architecture token 0 'dense10': (dense) takes a vector but receives [1, 4, 4]; put flatten or gap before it"),
            (["--architecture", "conv4k3,maxpool2,maxpool2"],
             "--architecture: architecture token 2 'maxpool2': (maxpool2d 2×2) takes [C, H, W] with room for its window (kernel 2×2 exceeds the padded input 1×1 (input 1×1, padding 0×0)) but receives [4, 1, 1]"),
            (["--architecture", "conv4k3,relu,conv"],
             "--architecture: architecture token 2 'conv': expected conv<out>k<k>[s<stride>][p<padding>][d<dilation>][nb] with out, k ≥ 1"),
            (["--architecture", "flatten,dense7"], "--architecture: the last layer gives [7], expected [10] (one logit per class)"),
            (["--architecture", "flatten,dense10", "--widths", "10"],
             "--widths and --architecture exclude each other (an MLP is dense<n> tokens: flatten,dense1000,relu,dense10)"),
        ] {
            let (status, _, error) = try runTrain(["--data", data.path, "--output", output.path, "--batch", "10"] + flags)
            #expect(status == 2, "\(flags): \(error)")
            #expect(error.split(separator: "\n").count == 1 && error.contains(message), "\(flags): \(error)")
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }
}
