import Foundation
import Testing
import TensorAlgebra
import FileFormats

/// `spectrum --checkpoint` on layer stacks: a PyTorch state dict with --activations, a
/// self-describing stack file with no other flag, inputs from the test images; every refusal
/// one line, exit 2, nothing written.
@Suite(.serialized) struct StackSpectrumCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("Fixtures/PyTorchMLP/model.safetensors").path

    /// A self-describing stack file: `layers` as architecture JSON, `tensors` under their
    /// state-dict names.
    func writeStack(_ url: URL, inputShape: [Int], layers: String, tensors: [String: Tensor<Float>]) throws {
        var file = SafetensorsFile()
        for (name, tensor) in tensors { file.set(name, tensor) }
        file.metadata["isometry.architecture"] = #"{"format":"isometry-layer-stack/1","input_shape":\#(inputShape),"layers":[\#(layers)]}"#
        try file.write(to: url)
    }

    /// The trained PyTorch MLP at the 8 fixture images (the first 8 test images): the CSV's
    /// eigenvalues equal numpy's eigvalsh(J @ J.T) of jacrev's float32 J to 1e-4 of λ_max (the
    /// command computes in float64 from the float32 weights, so it differs from float32 J by
    /// float32 rounding, ~1e-6 relative), and the report says there is no theory.
    @Test func pytorchStateDictAtTestImages() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("eigenvalues.csv").path
        let (status, output, error) = try runSpectrum(["--checkpoint", Self.model, "--activations", "relu", "--inputs", "test", "--samples", "8", "--csv", csv])
        #expect(status == 0, "\(error)")
        #expect(output.hasPrefix("Spectrum of J Jᵀ: layer stack 784 → 1000 → 300 → 10 (dense, relu, dense, relu, dense) from \(Self.model), at the first 8 test images of /usr/share/datasets/fashion-mnist (pixels / 255)"))
        #expect(output.contains("theory: none for this network (a trained or imported layer stack): measured statistics only"))
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
        #expect(rows.count == 80)
        let reference = try Tensor<Double>(contentsOfNumpyFile: Self.root.appendingPathComponent("SpectrumTests/Fixtures/pytorch_mlp_eigenvalues.npy"))
        for row in rows {
            let (sample, index, value) = (Int(row[0])!, Int(row[1])!, Double(row[2])!)
            let expected = reference[sample, index]
            #expect(abs(value - expected) <= 1e-4 * reference[sample, 0], "image \(sample), eigenvalue \(index): \(value) vs \(expected)")
        }
    }

    /// A stack file that carries its architecture needs no flag. A single dense layer
    /// [[3, 0, 0], [0, 2, 0]] (and a bias) has J = W everywhere, so J Jᵀ = diag(9, 4).
    @Test func selfDescribingStackWithNoOtherFlag() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("stack.safetensors")
        try writeStack(url, inputShape: [3], layers: #"{"bias":true,"inputs":3,"kind":"dense","outputs":2}"#, tensors: [
            "0.weight": Tensor(shape: [2, 3], scalars: [3, 0, 0, 0, 2, 0]), "0.bias": Tensor(shape: [2], scalars: [1, -1]),
        ])
        let (status, output, error) = try runSpectrum(["--checkpoint", url.path, "--samples", "3", "--json"])
        #expect(status == 0, "\(error)")
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
        // gesdd is backward stable: a few ulps from the exact 9 and 4.
        let eigenvalues = try #require(json["eigenvalues"] as? [[Double]])
        #expect(eigenvalues.count == 3)
        for values in eigenvalues { #expect(values.count == 2 && abs(values[0] - 9) <= 1e-14 * 9 && abs(values[1] - 4) <= 1e-14 * 9) }
        #expect((json["subject"] as? String)?.hasPrefix("layer stack 3 → 2 (dense) from \(url.path), at inputs N(0, q0 = 0.5)") == true)
    }

    /// Every refusal: exit 2, one line (exact), no output file.
    @Test func refusalsAreOneLineAndWriteNothing() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let small = folder.appendingPathComponent("small.safetensors")
        try writeStack(small, inputShape: [3], layers: #"{"bias":false,"inputs":3,"kind":"dense","outputs":2}"#,
                       tensors: ["0.weight": Tensor(shape: [2, 3], scalars: [3, 0, 0, 0, 2, 0])])
        let broken = folder.appendingPathComponent("broken.safetensors")
        try writeStack(broken, inputShape: [3], layers: #"{"bias":false,"inputs":3,"kind":"dense","outputs":4},{"kind":"relu"},{"bias":false,"inputs":5,"kind":"dense","outputs":2}"#,
                       tensors: ["0.weight": .zeros([4, 3]), "2.weight": .zeros([2, 5])])
        let csv = folder.appendingPathComponent("out.csv").path
        let model = Self.model
        let cases: [([String], String)] = [
            (["--checkpoint", model],
             "--checkpoint: '\(model)': a PyTorch state dict without its architecture: give its activations with --activations (e.g. --activations relu: one after every dense layer but the last)"),
            (["--checkpoint", model, "--activations", "relu,relu,relu"],
             "--checkpoint: '\(model)': 3 activations for 3 dense layers; expected 2 (one after every dense layer but the last, whose outputs are the logits)"),
            (["--checkpoint", model, "--activations", "softmax"],
             "--activations: unknown activation 'softmax' (expected relu, leaky-relu, leaky-relu:SLOPE, hard-tanh, tanh, erf or identity)"),
            (["--activations", "relu"],
             "--activations names the activations of a PyTorch state dict: give it with --checkpoint FILE.safetensors"),
            (["--checkpoint", model, "--activations", "relu", "--inputs", "test", "--data", folder.appendingPathComponent("none").path],
             "--data: \(folder.path)/none: no such folder; expected train-images-idx3-ubyte.gz and friends; Fashion-MNIST comes from the Debian package dataset-fashion-mnist"),
            (["--checkpoint", model, "--activations", "relu", "--inputs", "test", "--samples", "10001"],
             "--samples 10001: samples = 10001, expected at most 10000, the test images in /usr/share/datasets/fashion-mnist"),
            (["--inputs", "test", "--input", "fixed-point"],
             "--inputs test takes the test images as they are: drop --input fixed-point"),
            (["--checkpoint", small.path, "--inputs", "test"],
             "--inputs test: the images in /usr/share/datasets/fashion-mnist have 784 pixels ([28, 28]), the network in '\(small.path)' takes 3 inputs"),
            (["--checkpoint", broken.path],
             "--checkpoint: '\(broken.path)': layer 2 (dense 5 → 2 without bias) takes [5] but receives [4] from layer 1 (relu)"),
        ]
        for (arguments, message) in cases {
            let (status, output, error) = try runSpectrum(arguments + ["--csv", csv])
            #expect(status == 2, "\(arguments): \(error)")
            #expect(error == "spectrum: error: \(message)\n", "\(arguments)")
            #expect(output.isEmpty && !FileManager.default.fileExists(atPath: csv), "\(arguments): nothing written")
        }
    }
}
