// bench-interpret: exact linearisation of the logits of 1,000 test images on a trained
// checkpoint, against torch.func.jacrev and Captum's IntegratedGradients (50 steps) run by
// Benchmarks/Peers/interpret_peer.py on the same checkpoint and images, side by side.

import ArgumentParser
import Datasets
import Foundation
import Interpretation
import TensorAlgebra
import Training

@main
struct BenchInterpret: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-interpret",
        abstract: "Exact per-instance linearisation vs torch.func.jacrev and Captum IntegratedGradients.")

    @Option(help: "A checkpoint from `train`.") var checkpoint = "out/train/checkpoint.safetensors"
    @Option(help: "MNIST-format folder.") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Test images.") var images = 1000
    @Option(help: "Timed repetitions (median).") var repeats = 5
    @Option(help: "Python with torch and captum.") var python = NSHomeDirectory() + "/.venv-peers/bin/python"
    @Option(help: "The peer script.") var script = "Benchmarks/Peers/interpret_peer.py"

    func run() throws {
        let file = try SafetensorsFile(contentsOf: URL(fileURLWithPath: checkpoint))
        let classifier: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, source: checkpoint)
        let test = try ImageDataset(folder: data).test
        var inputs = Tensor<Float>.zeros([images, classifier.width])
        test.gather((0 ..< images).map { $0 }[...], into: &inputs)
        _ = InstanceLinearisation(classifier, inputs: inputs.rows(0 ..< 16))
        var times: [Double] = []
        var error = 0.0
        for _ in 0 ..< repeats {
            let start = Date()
            let linear = InstanceLinearisation(classifier, inputs: inputs)
            times.append(Date().timeIntervalSince(start))
            error = linear.completenessError
        }
        let ours = times.sorted()[times.count / 2]

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "--checkpoint", checkpoint, "--data", data, "--images", "\(images)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let peer = (try? JSONSerialization.jsonObject(with: output)) as? [String: Any]
        let jacrev = peer?["jacrev_seconds"] as? Double
        let ig = peer?["ig_seconds"] as? Double
        let igError = peer?["ig_completeness"] as? Double

        func seconds(_ x: Double?) -> String { x.map { String(format: "%.3f s", $0) } ?? "–" }
        print("bench-interpret: \(images) Fashion-MNIST test images, \(classifier.layers)-layer \(classifier.activation.rawValue) network of width \(classifier.width), float32")
        print("| method | time | vs Isometry | completeness error (relative) | what it gives |")
        print("|---|---:|---:|---:|---|")
        print("| Isometry exact linearisation | \(seconds(ours)) | 1× | \(String(format: "%.1e", error)) | W(x) for all 10 classes and b(x) |")
        print("| torch.func.jacrev (vmap) | \(seconds(jacrev)) | \(jacrev.map { String(format: "%.2f×", $0 / ours) } ?? "–") | – (no bias share) | J(x) for all 10 classes |")
        print("| Captum IntegratedGradients, 50 steps | \(seconds(ig)) | \(ig.map { String(format: "%.1f×", $0 / ours) } ?? "–") | \(igError.map { String(format: "%.1e", $0) } ?? "–") | attributions for the predicted class |")
        print("(Isometry: median of \(repeats); peers: one run each after a warm-up.)")
    }
}
