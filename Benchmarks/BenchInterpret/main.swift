// bench-interpret: exact linearisation of the logits of 1,000 test images, against
// torch.func.jacrev (vmap-batched) and Captum's IntegratedGradients (50 steps) run by
// Benchmarks/Peers/interpret_peer.py on the same network and images, side by side. The network
// is a trained identity classifier (--checkpoint), or any piecewise-linear stack from PyTorch
// (--architecture STRING --model state_dict.safetensors), e.g. the Fashion-MNIST CNN.

import ArgumentParser
import BenchmarkSupport
import Datasets
import Foundation
import Interpretation
import Networks
import TensorAlgebra

@main
struct BenchInterpret: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-interpret",
        abstract: "Exact per-instance linearisation vs torch.func.jacrev and Captum IntegratedGradients.")

    @Option(help: "A checkpoint from `train`.") var checkpoint = "out/train/checkpoint.safetensors"
    @Option(help: "An architecture string (docs/layers.md) for --model, on [1, 28, 28] images.") var architecture: String?
    @Option(help: "A PyTorch nn.Sequential state dict (safetensors) of --architecture.") var model: String?
    @Option(help: "MNIST-format folder.") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Test images.") var images = 1000
    @Option(help: "Timed repetitions of Isometry in each round (median).") var repeats = 5
    @Option(help: "Alternating rounds of Isometry and the peers.") var rounds = 3
    @Option(help: "Threads of the peer (torch.set_num_threads); Isometry's are OpenBLAS's (OPENBLAS_NUM_THREADS).") var threads = 2
    @Option(help: "Python with torch and captum.") var python = NSHomeDirectory() + "/.venv-peers/bin/python"
    @Option(help: "The peer script.") var script = "Benchmarks/Peers/interpret_peer.py"
    @Flag(help: "Time Isometry alone, no peers (for profiling; no ratios).") var isometryOnly = false
    @Flag(help: "Also time Isometry's IntegratedGradients (--steps, Gauss-Legendre, zero baseline, predicted class): the counterpart of the peer's Captum IG.")
    var integratedGradients = false
    @Option(help: "Integrated Gradients' steps, both sides.") var steps = 50

    func validate() throws {
        guard (1 ... 10_000).contains(images) else { throw ValidationError("--images must be between 1 and 10000, got \(images)") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard repeats >= 1, rounds >= 1, threads >= 1 else { throw ValidationError("--repeats, --rounds and --threads must be at least 1") }
        guard (architecture == nil) == (model == nil) else { throw ValidationError("--architecture and --model go together") }
    }

    /// What is timed: one linearisation of all the images, and what the table says about it.
    struct Subject {
        let describe: String
        let linearise: () throws -> Double
        /// Integrated Gradients of the predicted class: max over images of |Σ a − (F_t(x) − F_t(0))| / max(1, |F_t(x)|).
        let integrate: () throws -> Double
        let peerArguments: [String]
    }

    /// Isometry's Integrated Gradients of `stack` at `batch` for each image's predicted class,
    /// returning the largest completeness residual relative to max(1, |F_t(x)|), as the peer reports Captum's.
    func integrate(_ stack: LayerStack<Float>, _ batch: Tensor<Float>) throws -> Double {
        let outputs = stack(batch)
        let units = stack.scoreUnits, width = stack.outputShape.reduce(1, *)
        let scores = outputs.scalars
        let targets = (0 ..< batch.shape[0]).map { i in
            let row = scores[(i * width + units.lowerBound) ..< (i * width + units.upperBound)]
            return row.indices.max { row[$0] < row[$1] }! - i * width - units.lowerBound
        }
        let method = IntegratedGradients<Float>(steps: steps)
        let maps = try method.attributions(stack, inputs: batch, targets: targets)
        let residual = try CompletenessResidual<Float>().scores(stack, method: method, inputs: batch, targets: targets, attributions: maps)
        return targets.indices.map { i in residual.values[i] / max(1, abs(Double(scores[i * width + units.lowerBound + targets[i]]))) }.max()!
    }

    func subject() throws -> Subject {
        let test = try ImageDataset(folder: data).test
        if let architecture, let model {
            let stack = try LayerStack<Float>(pytorchStateDict: URL(fileURLWithPath: model), architecture: architecture, inputShape: [1, 28, 28])
            var inputs = Tensor<Float>.zeros([images, 784])
            test.gather((0 ..< images).map { $0 }[...], into: &inputs)
            let batch = inputs.reshaped([images, 1, 28, 28])
            _ = try StackLinearisation(stack, inputs: batch.rows(0 ..< min(16, images)))
            return Subject(describe: "\(architecture) (\(stack.parameterCount) parameters) from \(model)",
                           linearise: { try StackLinearisation(stack, inputs: batch).completenessError },
                           integrate: { try integrate(stack, batch) },
                           peerArguments: ["--architecture", architecture, "--model", model])
        }
        let classifier = try IdentityClassifier<Float>(contentsOf: URL(fileURLWithPath: checkpoint))
        var inputs = Tensor<Float>.zeros([images, classifier.width])
        test.gather((0 ..< images).map { $0 }[...], into: &inputs)
        _ = try InstanceLinearisation(classifier, inputs: inputs.rows(0 ..< min(16, images)))
        return Subject(describe: "\(classifier.layers)-layer \(classifier.activation.rawValue) network of width \(classifier.width)",
                       linearise: { try InstanceLinearisation(classifier, inputs: inputs).completenessError },
                       integrate: { try integrate(classifier.stack, inputs) },
                       peerArguments: ["--checkpoint", checkpoint])
    }

    func run() throws {
        let subject = try subject()
        // Rounds alternate Isometry and the peers, so each round's ratio compares runs a few
        // seconds apart on this shared machine; the table gives medians over the rounds.
        var ours: [Double] = [], jacrevs: [Double] = [], igs: [Double] = []
        var error = 0.0, igError: Double?
        var integrations: [Double] = [], integrationError = 0.0
        for round in 1 ... rounds {
            FileHandle.standardError.write(Data("round \(round)/\(rounds)\n".utf8))
            var times: [Double] = []
            for _ in 0 ..< repeats {
                let start = Date()
                error = try subject.linearise()
                times.append(Date().timeIntervalSince(start))
            }
            ours.append(median(times))
            if integratedGradients {
                // One run a round, as the peer's IG.
                let start = Date()
                integrationError = try subject.integrate()
                integrations.append(Date().timeIntervalSince(start))
                FileHandle.standardError.write(Data(String(format: "Isometry IG %.3f s, completeness %.1e\n", integrations.last!, integrationError).utf8))
            }
            if isometryOnly {
                print(String(format: "round %d: Isometry %@ s (median %.3f s), completeness %.1e", round,
                             times.map { String(format: "%.3f", $0) }.joined(separator: ", "), median(times), error))
                continue
            }
            // A peer that fails stops the benchmark with its own message: a table of "–" would
            // hide a missing package (safetensors, captum) behind a result that looks measured.
            let output = try runPeer(python, [script] + subject.peerArguments + ["--data", data, "--images", "\(images)", "--threads", "\(threads)", "--steps", "\(steps)"])
            guard let peer = (try? JSONSerialization.jsonObject(with: output)) as? [String: Any],
                  let jacrev = peer["jacrev_seconds"] as? Double, let ig = peer["ig_seconds"] as? Double else {
                throw PeerFailure(command: "\(python) \(script)", reason: "printed no JSON line with jacrev_seconds and ig_seconds: "
                    + String(decoding: output.prefix(200), as: UTF8.self))
            }
            jacrevs.append(jacrev)
            igs.append(ig)
            igError = peer["ig_completeness"] as? Double ?? igError
        }
        if isometryOnly { return }
        func ratio(_ peer: [Double]) -> Double? {
            peer.count == ours.count ? median(zip(peer, ours).map { $0 / $1 }) : nil
        }
        let (mine, jacrev, ig) = (median(ours), jacrevs.isEmpty ? nil : median(jacrevs), igs.isEmpty ? nil : median(igs))
        let (jacrevRatio, igRatio) = (ratio(jacrevs), ratio(igs))

        func seconds(_ x: Double?) -> String { x.map { String(format: "%.3f s", $0) } ?? "–" }
        let blasThreads = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "OpenBLAS default (\(ProcessInfo.processInfo.activeProcessorCount) cores)"
        print("bench-interpret: \(images) Fashion-MNIST test images, \(subject.describe), float32; threads: Isometry \(blasThreads), peer \(threads)")
        print("| method | time | vs Isometry | completeness error (relative) | what it gives |")
        print("|---|---:|---:|---:|---|")
        print("| Isometry exact linearisation | \(seconds(mine)) | 1× | \(String(format: "%.1e", error)) | W(x) for all 10 classes and b(x) |")
        print("| torch.func.jacrev (vmap) | \(seconds(jacrev)) | \(jacrevRatio.map { String(format: "%.2f×", $0) } ?? "–") | – (no bias share) | J(x) for all 10 classes |")
        if integratedGradients {
            let ratio = igs.count == integrations.count ? median(zip(igs, integrations).map { $0 / $1 }) : nil
            print("| Isometry IntegratedGradients, \(steps) steps | \(seconds(median(integrations))) | \(String(format: "%.2f×", median(integrations) / mine)) | \(String(format: "%.1e", integrationError)) | attributions for the predicted class; Captum's IG takes \(ratio.map { String(format: "%.1f×", $0) } ?? "–") its time |")
        }
        print("| Captum IntegratedGradients, \(steps) steps | \(seconds(ig)) | \(igRatio.map { String(format: "%.1f×", $0) } ?? "–") | \(igError.map { String(format: "%.1e", $0) } ?? "–") | attributions for the predicted class |")
        print("(medians over \(rounds) alternating rounds; Isometry: median of \(repeats) runs a round; peers: one run a round after a warm-up;")
        print(" vs Isometry: median of the rounds' ratios. Rounds, Isometry: \(ours.map { String(format: "%.3f", $0) }.joined(separator: ", ")) s; jacrev: \(jacrevs.map { String(format: "%.3f", $0) }.joined(separator: ", ")) s; IG: \(igs.map { String(format: "%.2f", $0) }.joined(separator: ", ")) s\(integratedGradients ? "; Isometry IG: " + integrations.map { String(format: "%.2f", $0) }.joined(separator: ", ") + " s" : ""))")
    }
}
