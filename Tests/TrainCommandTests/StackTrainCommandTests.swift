import CommandTestSupport
import Datasets
import FileFormats
import Foundation
import Networks
import Testing
import TensorAlgebra

/// `train --widths`: a layer stack (10 classes, as IDX folders are read) of any widths from the command line, its self-describing
/// stack file and metrics, and one-line refusals (exit 2, nothing written).
@Suite(.serialized) struct StackTrainCommandTests {
    @Test func trainsANonSquareMLPAndWritesAReadableStack() throws {
        let data = try makeDataset(train: 300, test: 90)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("out")
        let (status, text, error) = try runTrain(["--data", data.path, "--widths", "12,7", "--activation", "relu", "--init", "he",
                                                  "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05", "--batch", "10",
                                                  "--epochs", "3", "--output", output.path, "--threads", "1"])
        #expect(status == 0, "\(error)")
        #expect(text.contains("16 → 12 → 7 → 10") && text.contains("epoch 3/3"), "\(text)")
        // The stack reads back with no flags: what interpret and spectrum take.
        let stack = try LayerStack<Float>(contentsOf: output.appendingPathComponent("model.safetensors"))
        #expect(stack.shapes == [[16], [12], [12], [7], [7], [10]])
        let state = try SafetensorsFile(contentsOf: output.appendingPathComponent("training-state.safetensors"))
        #expect(state.metadata["optimizer"] == "sgd" && state.metadata["epoch"] == "3" && state.entries["optimizer.momentum.0.weight"]?.shape == [12, 16])
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("metrics.json"))) as! [String: Any]
        let epochs = metrics["epochs"] as! [[String: Any]]
        #expect(metrics["architecture"] as? [Int] == [16, 12, 7, 10] && epochs.count == 3)
        #expect((epochs.last!["testAccuracy"] as! Double) > 0.8, "a separable toy problem")
        let csv = try String(contentsOf: output.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 4)
    }

    @Test func badStackFlagsAreOneLineRefusalsWritingNothing() throws {
        let data = try makeDataset(train: 40, test: 10)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("refused")
        for (flags, message) in [
            (["--widths", "10,x"], "--widths must be hidden layer widths separated by commas, each from 1 to 100000 (e.g. 1000,300), got '10,x'"),
            (["--widths", "10", "--layers", "3"], "--layers does not apply with --widths (the depth is the number of widths + 1)"),
            (["--widths", "10", "--init", "identity"], "--init identity does not apply with --widths: use he, or leave --init out for PyTorch's default (uniform ±1/√fan-in)"),
            (["--optimizer", "adamw"], "--optimizer adamw needs --widths or --architecture (the identity classifier trains with sgd or adam)"),
        ] {
            let (status, _, error) = try runTrain(["--data", data.path, "--output", output.path] + flags)
            #expect(status == 2, "\(flags): \(error)")
            #expect(error.split(separator: "\n").count == 1 && error.contains(message), "\(flags): \(error)")
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
        let (status, _, error) = try runTrain(["--data", data.path, "--output", output.path, "--widths", "10", "--batch", "41"])
        #expect(status == 2 && error.contains("--batch 41 is larger than the 40 training images"), "\(error)")
    }
}
