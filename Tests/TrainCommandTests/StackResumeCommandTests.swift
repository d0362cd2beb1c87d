import CommandTestSupport
import FileFormats
import Foundation
import Networks
import Testing

/// `train --resume` of a layer-stack run (`--widths`): the architecture from the stack file, the
/// run's settings from the training state, a contradicting flag refused in one line, Ctrl-C
/// mid-epoch resumed to the weights of an uninterrupted run; and `--activation leaky-relu:SLOPE`.
@Suite(.serialized) struct StackResumeCommandTests {
    /// 120 training images in batches of 8: 15 steps an epoch.
    func dataset() throws -> URL { try makeDataset(train: 120, test: 30) }

    func tensors(_ url: URL) throws -> [String: [UInt8]] {
        try SafetensorsFile(contentsOf: url).entries.mapValues(\.bytes)
    }

    /// metrics.json's epoch records without their timing (samples/s, seconds).
    func untimedEpochs(_ folder: URL) throws -> [String] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("metrics.json"))) as! [String: Any]
        return (json["epochs"] as! [[String: Any]]).map { record in
            record.filter { !["samplesPerSecond", "seconds"].contains($0.key) }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                .joined(separator: " ")
        }
    }

    /// The same weights and optimizer moments bit for bit, and the same epoch records but for timing.
    func expectSameRun(_ a: URL, _ b: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (modelA, modelB) = (try tensors(a.appendingPathComponent("model.safetensors")), try tensors(b.appendingPathComponent("model.safetensors")))
        #expect(!modelA.isEmpty && modelA == modelB, "model.safetensors", sourceLocation: sourceLocation)
        let (stateA, stateB) = (try tensors(a.appendingPathComponent("training-state.safetensors")),
                                try tensors(b.appendingPathComponent("training-state.safetensors")))
        #expect(!stateA.isEmpty && stateA == stateB, "training-state.safetensors", sourceLocation: sourceLocation)
        #expect(try untimedEpochs(a) == untimedEpochs(b), sourceLocation: sourceLocation)
    }

    @Test func twoEpochsEqualOneEpochResumedWithEpochsTwo() throws {
        let data = try dataset()
        defer { try? FileManager.default.removeItem(at: data) }
        let run = ["--data", data.path, "--widths", "12,7", "--init", "he", "--batch", "8", "--optimizer", "adam", "--lr", "0.01", "--threads", "1"]
        let straight = data.appendingPathComponent("straight"), split = data.appendingPathComponent("split")
        let a = try runTrain(run + ["--epochs", "2", "--output", straight.path])
        #expect(a.status == 0, "\(a.error)")
        let b = try runTrain(run + ["--epochs", "1", "--output", split.path])
        #expect(b.status == 0, "\(b.error)")
        // Only the checkpoint and the new epoch count: the data, the architecture, Adam and its
        // settings, the folder are the run's.
        let resumed = try runTrain(["--resume", split.appendingPathComponent("model.safetensors").path, "--epochs", "2"])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.output.contains("at epoch 2, step 0") && resumed.output.contains("changed: epochs 1 → 2"), "\(resumed.output)")
        #expect(resumed.output.contains("16 → 12 → 7 → 10 (relu, He init") && resumed.output.contains("adam lr 0.01")
            && resumed.output.contains("epoch 2/2") && !resumed.output.contains("epoch 1/2"), "\(resumed.output)")
        #expect(try tensors(straight.appendingPathComponent("training-state.safetensors")).keys.contains("optimizer.v.4.weight"))
        try expectSameRun(straight, split)
    }

    /// Ctrl-C (SIGINT, raised by the run itself after a chosen step so the test is
    /// deterministic) in the first and in the second epoch: the folder holds the mid-epoch
    /// state, and `--resume FOLDER` alone ends where the uninterrupted run does.
    @Test(arguments: [7, 20]) func ctrlCMidEpochThenResumeEqualsTheUninterruptedRun(_ step: Int) throws {
        let data = try dataset()
        defer { try? FileManager.default.removeItem(at: data) }
        let run = ["--data", data.path, "--widths", "10", "--activation", "leaky-relu:0.1", "--batch", "8", "--optimizer", "sgd",
                   "--momentum", "0.9", "--weight-decay", "0.001", "--lr", "0.05", "--schedule", "cosine", "--epochs", "2", "--threads", "1"]
        let straight = data.appendingPathComponent("straight"), split = data.appendingPathComponent("split")
        let a = try runTrain(run + ["--output", straight.path])
        #expect(a.status == 0, "\(a.error)")
        let stopped = try runExecutable("train", run + ["--output", split.path], environment: ["ISOMETRY_TEST_INTERRUPT_AFTER_STEP": "\(step)"])
        #expect(stopped.status == 130, "\(stopped.error)")
        let (epoch, inEpoch) = (step / 15, step % 15)
        #expect(stopped.error.split(separator: "\n").count == 1, "\(stopped.error)")
        #expect(stopped.error.contains("interrupted at epoch \(epoch + 1), step \(inEpoch); checkpoint saved: resume with --resume"), "\(stopped.error)")
        let state = try SafetensorsFile(contentsOf: split.appendingPathComponent("training-state.safetensors")).metadata
        #expect(state["epoch"] == "\(epoch)" && state["step_in_epoch"] == "\(inEpoch)" && state["global_step"] == "\(step)")
        #expect(state["run.schedule"] == "cosine" && state["run.learning_rate"] == "0.05" && state["run.train_limit"] == "none")
        let resumed = try runTrain(["--resume", split.path])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.output.contains("at epoch \(epoch + 1), step \(inEpoch) with its settings\n"), "\(resumed.output)")
        try expectSameRun(straight, split)
    }

    @Test func aFlagThatContradictsTheStoredRunIsRefusedInOneLine() throws {
        let data = try dataset()
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("o")
        let first = try runTrain(["--data", data.path, "--widths", "12,7", "--activation", "leaky-relu:0.1", "--batch", "8", "--epochs", "1",
                                  "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05", "--limit", "96", "--threads", "1", "--output", output.path])
        #expect(first.status == 0, "\(first.error)")
        let files = ["model.safetensors", "training-state.safetensors", "metrics.json", "metrics.csv"].map { output.appendingPathComponent($0) }
        let before = try files.map { try Data(contentsOf: $0) }
        let resume = ["--resume", output.appendingPathComponent("training-state.safetensors").path, "--epochs", "2"]
        func differs(_ flag: String, _ stored: String, _ given: String) -> String {
            "train: error: --resume: \(flag) \(given) differs from the checkpoint's \(stored); leave \(flag) out to continue the run as it was\n"
        }
        for (flags, message) in [
            (["--lr", "0.01"], differs("--lr", "0.05", "0.01")),
            (["--batch", "4"], differs("--batch", "8", "4")),
            (["--seed", "3"], differs("--seed", "0", "3")),
            (["--optimizer", "adam"], differs("--optimizer", "sgd", "adam")),
            (["--momentum", "0.5"], differs("--momentum", "0.9", "0.5")),
            (["--weight-decay", "0.1"], differs("--weight-decay", "0.0", "0.1")),
            (["--schedule", "cosine"], differs("--schedule", "constant", "cosine")),
            (["--limit", "120"], differs("--limit", "96", "120")),
            (["--widths", "12,8"], differs("--widths", "12,7", "12,8")),
            (["--activation", "relu"], differs("--activation", "leaky-relu:0.1", "relu")),
            (["--activation", "leaky-relu"], differs("--activation", "leaky-relu:0.1", "leaky-relu:0.01")),
            (["--init", "he"], differs("--init", "pytorch", "he")),
            (["--precision=double"], differs("--precision", "float", "double")),
            (["--layers", "3"], "train: error: --layers does not apply to a layer-stack checkpoint (--resume \(output.path)/training-state.safetensors)\n"),
        ] {
            let result = try runTrain(resume + flags)
            #expect(result.status == 2, "\(flags): \(result.status) \(result.error)")
            #expect(result.error == message, "\(flags)")
        }
        #expect(try files.map { try Data(contentsOf: $0) } == before, "a refused resume wrote nothing")
        // The stack's file alone (analysable, not resumable), and an identity classifier's checkpoint with --widths.
        let alone = data.appendingPathComponent("alone.safetensors")
        try FileManager.default.copyItem(at: files[0], to: alone)
        let noState = try runTrain(["--resume", alone.path])
        #expect(noState.status == 2 && noState.error == "train: error: --resume: \(alone.path) is a layer stack with no training-state.safetensors beside it (the optimizer state, position and settings of its run): it can be analysed, not resumed\n", "\(noState.error)")
        let identity = data.appendingPathComponent("identity")
        #expect(try runTrain(["--data", data.path, "--layers", "2", "--batch", "8", "--epochs", "1", "--output", identity.path]).status == 0)
        let checkpoint = identity.appendingPathComponent("checkpoint.safetensors").path
        let wrongKind = try runTrain(["--data", data.path, "--widths", "12,7", "--resume", checkpoint, "--output", identity.path])
        #expect(wrongKind.status == 2 && wrongKind.error == "train: error: --resume: \(checkpoint) is an identity classifier's checkpoint, which --widths does not continue; leave --widths out\n", "\(wrongKind.error)")
        let leaky = try runTrain(["--data", data.path, "--activation", "leaky-relu:0.1", "--resume", checkpoint, "--output", identity.path])
        #expect(leaky.status == 2 && leaky.error == "train: error: --activation leaky-relu:0.1 needs a layer stack; --resume \(checkpoint) is an identity classifier's checkpoint\n", "\(leaky.error)")
        // The stored values given again are no contradiction; --threads may change, and says so.
        let same = try runTrain(resume + ["--lr", "0.05", "--batch", "8", "--optimizer", "sgd", "--momentum", "0.9", "--widths", "12,7",
                                          "--activation", "leaky-relu:0.1", "--limit", "96", "--precision", "float", "--threads", "2"])
        #expect(same.status == 0, "\(same.error)")
        #expect(same.output.contains("changed: epochs 1 → 2, threads 1 → 2") && same.output.contains("96 images"), "\(same.output)")
    }

    /// A training state written before the run settings were stored (no `run.*` metadata)
    /// needs --lr; the rest are the flags' or the defaults', and the first line says so.
    @Test func aStateWithoutRunSettingsNeedsTheLearningRate() throws {
        let data = try dataset()
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("o")
        let first = try runTrain(["--data", data.path, "--widths", "6", "--batch", "8", "--epochs", "1", "--lr", "0.05", "--output", output.path])
        #expect(first.status == 0, "\(first.error)")
        let stateURL = output.appendingPathComponent("training-state.safetensors")
        var state = try SafetensorsFile(contentsOf: stateURL)
        state.metadata = state.metadata.filter { !$0.key.hasPrefix("run.") }
        try state.write(to: stateURL)
        let refused = try runTrain(["--data", data.path, "--resume", output.path, "--epochs", "2"])
        #expect(refused.status == 2)
        #expect(refused.error == "train: error: --resume: \(stateURL.path) does not store the run's learning rate (written before train stored it); give the run's --lr, and its --schedule and --limit unless they were the defaults\n")
        let resumed = try runTrain(["--data", data.path, "--resume", output.path, "--epochs", "2", "--lr", "0.05"])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.output.contains("no stored run settings: --lr 0.05, --schedule constant, --limit none taken as given"), "\(resumed.output)")
    }

    @Test func leakyReLUTrainsAndItsModelFileRecordsTheSlope() throws {
        let data = try makeDataset(train: 300, test: 90)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("leaky")
        let result = try runTrain(["--data", data.path, "--widths", "12,7", "--activation", "leaky-relu:0.1", "--init", "he", "--momentum", "0.9",
                                   "--lr", "0.05", "--batch", "10", "--epochs", "3", "--threads", "1", "--output", output.path])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("16 → 12 → 7 → 10 (leaky-relu:0.1, He init"), "\(result.output)")
        let model = output.appendingPathComponent("model.safetensors")
        // The architecture in the file's metadata, as Python reads it: the slope is an attribute of the layer.
        let metadata = try SafetensorsFile(contentsOf: model).metadata[LayerStackArchitecture.metadataKey]!
        let architecture = try JSONSerialization.jsonObject(with: Data(metadata.utf8)) as! [String: Any]
        let layers = architecture["layers"] as! [[String: Any]]
        #expect(layers.map { $0["kind"] as! String } == ["dense", "leaky-relu", "dense", "leaky-relu", "dense"])
        #expect(layers.filter { $0["kind"] as? String == "leaky-relu" }.allSatisfy { $0["slope"] as? Double == 0.1 }, "\(metadata)")
        // Read back with no flags: the same function.
        let stack = try LayerStack<Float>(contentsOf: model)
        #expect(stack.layers.compactMap { ($0 as? ActivationLayer<Float>)?.function } == [.leakyReLU(slope: 0.1), .leakyReLU(slope: 0.1)])
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("metrics.json"))) as! [String: Any]
        #expect(metrics["activation"] as? String == "leaky-relu:0.1")
        #expect(((metrics["epochs"] as! [[String: Any]]).last!["testAccuracy"] as! Double) > 0.8, "a separable toy problem")
    }

    @Test func badActivationsAreOneLineRefusals() throws {
        let data = try makeDataset(train: 40, test: 10)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("refused")
        for (flags, message) in [
            (["--widths", "10", "--activation", "leaky-relu:x"], "--activation leaky-relu:x: the slope must be a number, as in leaky-relu:0.1 (leaky-relu alone has PyTorch's 0.01)"),
            (["--widths", "10", "--activation", "leaky-relu:1.5"], "--activation leaky-relu:1.5: the slope must be in [0, 1), got 1.5"),
            (["--widths", "10", "--activation", "leaky-relu:-0.1"], "--activation leaky-relu:-0.1: the slope must be in [0, 1), got -0.1"),
            (["--activation", "leaky-relu:0.1"], "--activation leaky-relu:0.1 needs --widths (the identity classifier trains with hard-tanh, relu or tanh)"),
            (["--widths", "10", "--activation", "softmax"], "--activation must be hard-tanh, relu, tanh or (with --widths) leaky-relu[:SLOPE], got 'softmax'"),
            (["--widths", "10", "--activation", "erf"], "--activation must be hard-tanh, relu, tanh or (with --widths) leaky-relu[:SLOPE], got 'erf'"),
        ] {
            let result = try runTrain(["--data", data.path, "--output", output.path] + flags)
            #expect(result.status == 2, "\(flags): \(result.error)")
            #expect(result.error == "train: error: \(message)\n", "\(flags)")
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }
}
