import CommandTestSupport
import Foundation
import Testing
import TensorAlgebra
import FileFormats

/// `train --resume` keeps the run's stored settings, and a diverging run never passes NaN
/// weights off as a result or a checkpoint.
@Suite(.serialized) struct ResumeAndDivergenceCommandTests {
    func dataset(train: Int, test: Int) throws -> URL {
        var generator = SeededGenerator(seed: 4)
        return try writeRowClassDataset(prefix: "isometry-resume", train: train, test: test, noise: 100, signal: 150, using: &generator)
    }

    func tensors(_ url: URL) throws -> [String: [UInt8]] {
        try SafetensorsFile(contentsOf: url).entries.mapValues(\.bytes)
    }

    func epochs(_ folder: URL) throws -> [[String: Any]] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("metrics.json"))) as! [String: Any]
        return json["epochs"] as! [[String: Any]]
    }

    @Test func resumingAnAdamRunWithoutItsFlagsContinuesItExactly() throws {
        let data = try dataset(train: 80, test: 20)
        defer { try? FileManager.default.removeItem(at: data) }
        let run = ["--data", data.path, "--layers", "3", "--batch", "8", "--optimizer", "adam", "--lr", "0.001", "--threads", "1"]
        let straight = data.appendingPathComponent("straight"), split = data.appendingPathComponent("split")
        let a = try runExecutable("train", run + ["--epochs", "2", "--output", straight.path])
        #expect(a.status == 0, "\(a.error)")
        let b = try runExecutable("train", run + ["--epochs", "1", "--output", split.path])
        #expect(b.status == 0, "\(b.error)")
        // Only the data, the new epoch count and the checkpoint: everything else is the run's.
        let resumed = try runExecutable("train", ["--data", data.path, "--epochs", "2", "--output", split.path,
                                                  "--resume", split.appendingPathComponent("checkpoint.safetensors").path])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.output.contains("adam lr 0.001") && resumed.output.contains("epochs 1 → 2"), "\(resumed.output)")
        // Weights and Adam's moments bit for bit, and the same figures for both epochs.
        let expected = try tensors(straight.appendingPathComponent("checkpoint.safetensors"))
        let got = try tensors(split.appendingPathComponent("checkpoint.safetensors"))
        #expect(expected.keys.contains("optimizer.second.2"))
        #expect(got == expected)
        let keys = ["trainLoss", "trainAccuracy", "testLoss", "testAccuracy", "learningRate", "distanceFromIdentity"]
        let (e, g) = (try epochs(straight), try epochs(split))
        #expect(g.count == 2 && e.count == 2)
        for (x, y) in zip(e, g) {
            for key in keys { #expect("\(x[key]!)" == "\(y[key]!)", "\(key)") }
        }
    }

    @Test func aFlagThatContradictsTheCheckpointIsRefused() throws {
        let data = try dataset(train: 40, test: 10)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("o")
        let first = try runExecutable("train", ["--data", data.path, "--layers", "2", "--batch", "8", "--epochs", "1", "--optimizer", "adam",
                                                "--lr", "0.001", "--output", output.path])
        #expect(first.status == 0, "\(first.error)")
        let checkpoint = output.appendingPathComponent("checkpoint.safetensors")
        let before = try Data(contentsOf: checkpoint)
        let resume = ["--data", data.path, "--epochs", "2", "--output", output.path, "--resume", checkpoint.path]
        for (flags, mentions) in [(["--lr", "0.01"], ["--lr 0.01", "0.001"]), (["--optimizer", "sgd"], ["--optimizer sgd", "adam"]),
                                  (["--batch", "4"], ["--batch 4", "8"]), (["--seed", "3"], ["--seed 3", "0"]),
                                  (["--layers", "3"], ["2 layers", "expected 3 layers"]), (["--sigma", "2"], ["--sigma 2", "1.0"]),
                                  (["--beta1", "0.5"], ["--beta1 0.5", "0.9"])] {
            let result = try runExecutable("train", resume + flags)
            #expect(result.status == 2, "\(flags): \(result.status) \(result.error)")
            #expect(result.error.split(separator: "\n").count == 1, "\(result.error)")
            for mention in mentions { #expect(result.error.contains(mention), "\(flags): \(result.error)") }
        }
        #expect(try Data(contentsOf: checkpoint) == before)
        // The stored value given again is no contradiction.
        let same = try runExecutable("train", resume + ["--lr", "0.001", "--optimizer", "adam", "--layers", "2", "--threads", "1"])
        #expect(same.status == 0, "\(same.error)")
    }

    @Test func aRunWhoseWeightsTurnNonFiniteFailsAndWritesNoCheckpoint() throws {
        // One step per epoch: float(1e300) = inf turns the weights inf/NaN at the last step of
        // the epoch, before the epoch's checkpoint and evaluation.
        let data = try dataset(train: 16, test: 16)
        defer { try? FileManager.default.removeItem(at: data) }
        for epochs in ["1", "3"] {
            let output = data.appendingPathComponent("o\(epochs)")
            let result = try runExecutable("train", ["--data", data.path, "--layers", "3", "--batch", "16", "--epochs", epochs, "--lr", "1e300",
                                                     "--output", output.path])
            #expect(result.status == 1, "\(result.status) \(result.output) \(result.error)")
            #expect(result.error.split(separator: "\n").count == 1, "\(result.error)")
            #expect(result.error.contains("weights") && result.error.contains("epoch 1, step 1") && result.error.contains("no checkpoint"),
                    "\(result.error)")
            #expect(!result.output.contains("test accuracy"))
            #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent("checkpoint.safetensors").path))
        }
    }

    @Test func aSigmaTheFloatCannotHoldIsRefusedNamingTheLargest() throws {
        let data = try dataset(train: 16, test: 16)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("o")
        let result = try runExecutable("train", ["--data", data.path, "--layers", "2", "--batch", "8", "--sigma", "1e308", "--output", output.path])
        #expect(result.status == 2, "\(result.status) \(result.error)")
        #expect(result.error.split(separator: "\n").count == 1, "\(result.error)")
        for mention in ["--sigma", "1e+308", "float", "3.4028235e+38"] { #expect(result.error.contains(mention), "\(result.error)") }
        // Double holds it (the run may then diverge, which is another message).
        let double = try runExecutable("train", ["--data", data.path, "--layers", "2", "--batch", "8", "--sigma", "1e308", "--precision", "double",
                                                 "--epochs", "1", "--output", output.path])
        #expect(!double.error.contains("--sigma"), "\(double.error)")
    }
}
