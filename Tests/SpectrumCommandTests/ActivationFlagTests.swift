import CommandTestSupport
import FileFormats
import Foundation
import Testing
import TensorAlgebra

@Suite(.serialized) struct ActivationFlagTests {
    /// Issue: `spectrum` looked for the literal argument "--activation", so
    /// `--activation=relu` with a checkpoint was silently ignored and the file's activation used.
    @Test func activationFlagIsSeenInEverySpelling() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var file = SafetensorsFile()
        file.set("layers.0.weight", Tensor<Float>.identity(6))
        file.set("layers.1.weight", Tensor<Float>.identity(6))
        file.metadata["activation"] = "hard-tanh"
        let checkpoint = folder.appendingPathComponent("c.safetensors")
        try file.write(to: checkpoint)
        for (arguments, expected) in [([String](), "hard-tanh MLP"), (["--activation", "relu"], "relu MLP"),
                                      (["--activation=relu"], "relu MLP"), (["--activation=tanh"], "tanh MLP")] {
            let run = try runSpectrum(["--checkpoint", checkpoint.path, "--samples", "2"] + arguments)
            #expect(run.status == 0, "\(arguments): \(run.error)")
            #expect(run.output.contains(expected), "\(arguments): \(run.output.prefix(200))")
        }
    }
}
