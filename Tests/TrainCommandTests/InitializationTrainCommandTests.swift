import CommandTestSupport
import FileFormats
import Foundation
import Networks
import TensorAlgebra
import Testing

/// `train --architecture … --init dirac|delta-orthogonal|he|glorot [--sigma S]`: the stack
/// starts as the library's `LayerStack(architecture:inputShape:initialization:sigma:using:)`
/// with the run's seed, the initialisation and σ are stored and survive --resume, and flags that
/// do not apply are one-line refusals (exit 2, nothing written).
@Suite(.serialized) struct InitializationTrainCommandTests {
    let architecture = "conv6k3p1,hard-tanh,conv6k3p1,hard-tanh,gap,dense10"

    /// One epoch at a learning rate of 1e-12 moves no weight by more than ~1e-12 × its
    /// gradient, so the trained stack is the initial one to 1e-9: the library's stack for the
    /// same string, input shape, initialisation, σ and seed.
    @Test(arguments: [("dirac", 1.0), ("delta-orthogonal", 1.5), ("he", nil), ("glorot", nil)] as [(String, Double?)])
    func theRunStartsFromTheLibrarysInitialisation(_ name: String, _ sigma: Double?) throws {
        let data = try makeDataset(train: 40, test: 10)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("out")
        let flags = ["--data", data.path, "--architecture", architecture, "--init", name, "--lr", "1e-12", "--batch", "10",
                     "--epochs", "1", "--seed", "7", "--output", output.path, "--threads", "1"] + (sigma.map { ["--sigma", "\($0)"] } ?? [])
        let (status, text, error) = try runTrain(flags)
        #expect(status == 0, "\(error)")
        let label = ["dirac": "Dirac σ = 1.0 init", "delta-orthogonal": "delta-orthogonal σ = 1.5 init", "he": "He init,", "glorot": "Glorot init,"][name]!
        #expect(text.contains("(hard-tanh, \(label)"), "\(text)")
        var generator = SeededGenerator(seed: 7)
        let expected = try LayerStack<Float>(architecture: architecture, inputShape: [1, 4, 4], initialization: StackInitialization(rawValue: name)!,
                                             sigma: sigma ?? 1, using: &generator)
        let trained = try LayerStack<Float>(contentsOf: output.appendingPathComponent("model.safetensors"))
        for ((key, a), (_, b)) in zip(trained.parameters, expected.parameters) {
            let gap = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
            #expect(a.shape == b.shape && gap <= 1e-9, "\(name) \(key): off by \(gap)")
        }
        let state = try SafetensorsFile(contentsOf: output.appendingPathComponent("training-state.safetensors")).metadata
        #expect(state["run.initialization"] == name && state["run.sigma"] == sigma.map { "\($0)" }, "\(state)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("metrics.json"))) as! [String: Any]
        #expect(metrics["initialization"] as? String == name && metrics["sigma"] as? Double == sigma)
    }

    @Test func theInitialisationAndSigmaSurviveResume() throws {
        let data = try makeDataset(train: 40, test: 10)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("out")
        let first = try runTrain(["--data", data.path, "--architecture", architecture, "--init", "delta-orthogonal", "--sigma", "1.5",
                                  "--batch", "10", "--epochs", "1", "--output", output.path, "--threads", "1"])
        #expect(first.status == 0, "\(first.error)")
        func differs(_ flag: String, _ stored: String, _ given: String) -> String {
            "train: error: --resume: \(flag) \(given) differs from the checkpoint's \(stored); leave \(flag) out to continue the run as it was\n"
        }
        for (flags, message) in [
            (["--sigma", "2"], differs("--sigma", "1.5", "2.0")),
            (["--init", "he"], differs("--init", "delta-orthogonal", "he")),
            (["--init", "orthogonal"], "train: error: --init orthogonal does not apply to a layer-stack checkpoint: it was initialised with delta-orthogonal\n"),
        ] {
            let refused = try runTrain(["--resume", output.path] + flags)
            #expect(refused.status == 2 && refused.error == message, "\(flags): \(refused.error)")
        }
        let resumed = try runTrain(["--resume", output.path, "--init", "delta-orthogonal", "--sigma", "1.5", "--epochs", "2"])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.output.contains("delta-orthogonal σ = 1.5 init") && resumed.output.contains("epoch 2/2"), "\(resumed.output)")
        let state = try SafetensorsFile(contentsOf: output.appendingPathComponent("training-state.safetensors")).metadata
        #expect(state["run.initialization"] == "delta-orthogonal" && state["run.sigma"] == "1.5" && state["epoch"] == "2", "\(state)")
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("metrics.json"))) as! [String: Any]
        #expect(metrics["initialization"] as? String == "delta-orthogonal" && metrics["sigma"] as? Double == 1.5)
    }

    @Test func flagsThatDoNotApplyAreOneLineRefusalsWritingNothing() throws {
        let data = try makeDataset(train: 40, test: 10)
        defer { try? FileManager.default.removeItem(at: data) }
        let output = data.appendingPathComponent("refused")
        let stack = ["--architecture", architecture]
        for (flags, message) in [
            (stack + ["--activation", "relu"],
             "--activation relu does not apply with --architecture: the activations are tokens of the string (e.g. conv16k3p1,relu,…)"),
            (stack + ["--init", "identity"],
             "--init identity does not apply with --architecture: use pytorch, he, glorot, dirac, delta-orthogonal (leaving --init out is pytorch); dirac is the convolution's identity"),
            (stack + ["--init", "he", "--sigma", "2"],
             "--sigma does not apply to --init he with --architecture: it is σ of dirac (σ·δ) and delta-orthogonal (σ·H), the others scale by fan-in"),
            (stack + ["--sigma", "2"],
             "--sigma does not apply to --init pytorch with --architecture"),
            (["--architecture", "conv6k2p1,hard-tanh,gap,dense10", "--init", "dirac"],
             "--init dirac: layer 0 (conv2d 1 → 6 kernel 2×2 padding 1×1) has kernel 2×2: dirac initialisation puts the weight on the centre tap, and an even kernel has none; use odd kernels (k3, k5, …)"),
            (["--architecture", "conv6k3p1,relu,conv6k4p1,gap,dense10", "--init", "delta-orthogonal"],
             "--init delta-orthogonal: layer 2 (conv2d 6 → 6 kernel 4×4 padding 1×1) has kernel 4×4"),
            (["--init", "dirac"], "--init dirac needs --architecture (the identity classifier takes identity, gaussian, orthogonal or he)"),
            (["--init", "bogus"], "--init must be identity, gaussian, orthogonal or he, or with --architecture one of pytorch, he, glorot, dirac, delta-orthogonal, got 'bogus'"),
            (["--widths", "10", "--init", "dirac"], "--init dirac does not apply with --widths: use he"),
        ] {
            let (status, _, error) = try runTrain(["--data", data.path, "--output", output.path, "--batch", "10"] + flags)
            #expect(status == 2, "\(flags): \(error)")
            #expect(error.split(separator: "\n").count == 1 && error.contains(message), "\(flags): \(error)")
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }
}
