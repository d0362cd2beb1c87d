import CommandTestSupport
import Foundation
import Networks
import Testing

/// `train --data` on a folder of .npy arrays: MNIST-1D's sequences [40] as one channel [1, 40]
/// for a 1-D CNN, as [40] for an MLP (Tests/Fixtures/MNIST1D, 60 + 30 sequences).
@Suite(.serialized) struct SequenceDataTrainCommandTests {
    static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/MNIST1D").standardizedFileURL.path

    func output(_ label: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("isometry-sequences-\(label)-\(UUID().uuidString)")
    }

    @Test func aConvolutionTakesSequencesAsOneChannel() throws {
        let out = output("cnn")
        defer { try? FileManager.default.removeItem(at: out) }
        let (status, text, error) = try runTrain(["--data", Self.data, "--architecture", "conv4k5s2p1,relu,maxpool2,flatten,dense10",
                                                  "--optimizer", "adam", "--lr", "0.01", "--batch", "20", "--epochs", "2",
                                                  "--output", out.path, "--threads", "1"])
        #expect(status == 0, "\(error)")
        #expect(text.contains("on [1, 40]") && text.contains("60 samples") && text.contains("epoch 2/2"), "\(text)")
        let stack = try LayerStack<Float>(contentsOf: out.appendingPathComponent("model.safetensors"))
        // 40 → (40 + 2 − 5)/2 + 1 = 19 → pooled to 9.
        #expect(stack.shapes == [[1, 40], [4, 19], [4, 19], [4, 9], [36], [10]])
    }

    @Test func anMLPTakesSequencesFlat() throws {
        let out = output("mlp")
        defer { try? FileManager.default.removeItem(at: out) }
        let (status, text, error) = try runTrain(["--data", Self.data, "--widths", "16", "--batch", "20", "--epochs", "1",
                                                  "--output", out.path, "--threads", "1"])
        #expect(status == 0, "\(error)")
        #expect(text.contains("40 → 16 → 10"), "\(text)")
    }

    @Test func theIdentityClassifierRefusesSequencesInOneLine() throws {
        let out = output("identity")
        defer { try? FileManager.default.removeItem(at: out) }
        let (status, _, error) = try runTrain(["--data", Self.data, "--epochs", "1", "--output", out.path])
        #expect(status == 2 && error.split(separator: "\n").count == 1, "\(error)")
        #expect(error.contains("holds .npy arrays (x_train.npy, …), not MNIST's IDX files"), "\(error)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
