// bench-train: training samples/s and peak memory of an L-layer hard-tanh identity MLP (width
// 794, batch 128, SGD lr 0.01, float32, Fashion-MNIST), side by side with
// Benchmarks/Peers/torch_train.py, rounds alternating. Every contender runs in its own process
// (this binary re-run with --child), so each run's peak RSS is its own.

import ArgumentParser
import BenchmarkSupport
import Datasets
import Foundation
import Networks
import TensorAlgebra
import Training

#if canImport(Glibc)
import Glibc
#endif


func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// VmRSS and VmHWM of this process, in MB, from /proc/self/status.
func residentMegabytes() -> (current: Double, peak: Double) {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func value(_ key: String) -> Double {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
        return Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") .map { $0 / 1024 } ?? 0
    }
    return (value("VmRSS:"), value("VmHWM:"))
}

/// One contender's run: samples/s of the training steps, test accuracy, peak RSS.
struct Run: Codable {
    var samplesPerSecond: Double
    var testAccuracy: Double
    var peakMegabytes: Double
}

/// Pulls `key value` numbers out of a child's output.
func number(after key: String, in output: String) -> Double? {
    guard let range = output.range(of: key) else { return nil }
    return Double(output[range.upperBound...].split(whereSeparator: { $0 == " " || $0 == "\n" }).first ?? "")
}

/// Python that runs a peer script as `python script arguments…` would (its folder first on
/// sys.path, where its sibling modules are), then prints the process's own peak resident
/// memory as getrusage sees it.
func peerWrapper(script: String, arguments: [String]) -> String {
    """
    import os, resource, runpy, sys
    sys.argv = [\(([script] + arguments).map { String(reflecting: $0) }.joined(separator: ", "))]
    sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
    runpy.run_path(sys.argv[0], run_name="__main__")
    print("peak_rss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
}

/// Runs the PyTorch peer; returns its run or nil when it failed.
func runTorch(python: String, script: String, threads: Int, layers: Int, limit: Int?, epochs: Int, data: String) -> Run? {
    // The wrapper reports the peer's own peak resident memory, as getrusage sees it.
    var arguments = ["--epochs", "\(epochs)", "--threads", "\(threads)", "--layers", "\(layers)", "--data", data]
    if let limit { arguments += ["--limit", "\(limit)"] }
    let wrapper = peerWrapper(script: script, arguments: arguments)
    guard let (status, data, _) = try? runCapturingOutput(python, ["-c", wrapper]) else { return nil }
    let output = String(decoding: data, as: UTF8.self)
    guard status == 0, let rate = number(after: "train samples/s ", in: output),
          let accuracy = number(after: "test accuracy ", in: output), let rss = number(after: "peak_rss_kb ", in: output) else { return nil }
    return Run(samplesPerSecond: rate, testAccuracy: accuracy, peakMegabytes: rss / 1024)
}

/// Runs Isometry in a child process of this binary; returns its run or nil when it failed.
func runIsometry(layers: Int, limit: Int?, epochs: Int, data: String) -> Run? {
    var arguments = ["--child", "--layers", "\(layers)", "--epochs", "\(epochs)", "--data", data]
    if let limit { arguments += ["--limit", "\(limit)"] }
    guard let (status, output, _) = try? runCapturingOutput("/proc/self/exe", arguments), status == 0 else { return nil }
    return try? JSONDecoder().decode(Run.self, from: output)
}

/// The GEMM peak of this session: float 2048² products, OpenBLAS's own threads.
func measuredPeak() -> Double {
    var generator = SeededGenerator(seed: 1)
    let a = Tensor<Float>.randomNormal([2048, 2048], using: &generator)
    var c = Tensor<Float>.zeros([2048, 2048])
    matmul(a, a, into: &c)
    var times: [Double] = []
    for _ in 0 ..< 7 {
        let start = Date()
        matmul(a, a, into: &c)
        times.append(Date().timeIntervalSince(start))
    }
    return 2 * pow(2048, 3) / median(times) / 1e9
}

struct Report: Encodable {
    var layers = 0
    var trainImages = 0
    var epochs = 0
    var isometry: [Run] = []
    var torch: [Int: [Run]] = [:]
    var torchBestThreads = 0
    var isometrySamplesPerSecond = 0.0
    var torchSamplesPerSecond = 0.0
    var isometryPeakMegabytes = 0.0
    var torchPeakMegabytes = 0.0
    /// What the run must hold (issue 13): the weights, the optimizer state (none for plain
    /// SGD), one batch of activations per layer, the dataset as stored (bytes).
    var mustHoldMegabytes = 0.0
    var gemmPeakGflops = 0.0
    var isometryGflops = 0.0
    var speedup = 0.0
    /// The step time, and the GEMM rate with nothing else in the step, that 1.3× PyTorch needs.
    var barStepMilliseconds = 0.0
    var barGflops = 0.0
}

@main
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-train",
        abstract: "Training samples/s and peak memory against PyTorch (float32, identity σ = 1, hard-tanh, SGD, batch 128).")

    @Option(help: "Rounds (each contender runs once a round, alternating), medians reported.") var rounds = 3
    @Option(help: "Layers L of the identity MLP.") var layers = 10
    @Option(help: "Train on the first LIMIT training images (default: all 60,000).") var limit: Int?
    @Option(help: "Epochs per run.") var epochs = 1
    @Option(help: "PyTorch thread settings to run, comma-separated; the better one is compared.") var torchThreads = "2,1"
    @Option(help: "MNIST-format folder.") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Python with torch.") var python = NSHomeDirectory() + "/.venv-peers/bin/python"
    @Option(help: "The PyTorch peer.") var script = "Benchmarks/Peers/torch_train.py"
    @Flag(help: "Skip the GEMM peak measurement.") var noPeak = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: .hidden) var child = false
    @Flag(help: .hidden) var trace = false
    /// For profilers: only this many training steps (no evaluation), then the step time.
    @Option(help: .hidden) var profileSteps: Int?
    /// Keeps a copy of the initial classifier alive during training, as the benchmark did
    /// before it ran in child processes: the first step's copy-on-write then doubles the weights.
    @Flag(help: .hidden) var holdCopy = false
    /// With --profile-steps: writes every weight after the steps as raw bytes (bit-identity checks).
    @Option(help: .hidden) var dumpWeights: String?
    /// Runs a TrainingSession writing into this folder (checkpoints, metrics) instead of a bare Trainer.
    @Option(help: .hidden) var session: String?
    @Option(help: "identity (the default: the L-layer identity MLP, plain SGD), mlp (784 → 1000 → 300 → 10 ReLU layer stack, SGD momentum 0.9, lr 0.05, against Benchmarks/Peers/torch_mlp_train.py) or cnn (conv32k3,relu,maxpool2,conv64k3,relu,maxpool2,flatten,dense128,relu,dense10, SGD momentum 0.9, lr 0.05, against Benchmarks/Peers/torch_cnn_train.py).")
    var model = "identity"
    @Option(help: "With --model cnn: threads of each contender (OpenBLAS's, torch.set_num_threads).") var threads = 2
    @Option(help: "With --model cnn: sgd (the unpadded CNN, SGD momentum 0.9 lr 0.05, batch 128) or adam (docs/training.md's 91 % recipe: 'same' padding, Adam 1e-3 with a per-step cosine over the run, batch 64).")
    var recipe = "sgd"
    /// With --model cnn --profile-steps: the batch whole, BLAS threaded, instead of in shards.
    @Flag(help: .hidden) var wholeBatch = false

    func validate() throws {
        if !["identity", "mlp", "cnn"].contains(model) { throw ValidationError("--model must be identity, mlp or cnn, got \(model)") }
        if rounds < 1 { throw ValidationError("--rounds must be at least 1, got \(rounds)") }
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if !["sgd", "adam"].contains(recipe) { throw ValidationError("--recipe must be sgd or adam, got \(recipe)") }
        if recipe != "sgd" && model != "cnn" { throw ValidationError("--recipe applies to --model cnn only") }
    }

    /// One Isometry training in this process; prints its `Run` as JSON.
    func runChild() throws {
        if model == "mlp" { return try runMLPChild() }
        if model == "cnn" { return try runCNNChild() }
        func mark(_ what: String) {
            if trace {
                let (now, peak) = residentMegabytes()
                FileHandle.standardError.write(Data((what.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: " RSS %7.1f MB  peak %7.1f MB\n", now, peak)).utf8))
            }
        }
        mark("start")
        let dataset = try ImageDataset(folder: data)
        mark("dataset")
        if let session {
            let run = try TrainingSession<Float>(
                model: ClassifierConfiguration(layers: layers), training: TrainingConfiguration(epochs: epochs, trainLimit: limit),
                data: dataset, folder: URL(fileURLWithPath: session))
            mark("session")
            run.onStep = { if $0.stepInEpoch <= 2 || $0.stepInEpoch == $0.stepsPerEpoch { mark("step \($0.globalStep)") } }
            run.onEpoch = { mark("epoch \($0.epoch) (evaluated, checkpoint written)") }
            try run.run()
            mark("end")
            return
        }
        var generator = SeededGenerator(seed: 0)
        var held: IdentityClassifier<Float>? = IdentityClassifier<Float>(
            inputFeatures: 784, classes: 10, configuration: ClassifierConfiguration(layers: layers), using: &generator)
        let trainer = Trainer(classifier: held!, configuration: TrainingConfiguration(epochs: epochs, trainLimit: limit))
        if !holdCopy { held = nil }
        defer { withExtendedLifetime(held) {} }
        mark("trainer")
        if let profileSteps {
            let images = trainer.trainingImages(dataset.train)
            let batch = trainer.configuration.batchSize
            var times: [Double] = []
            for step in 0 ..< profileSteps {
                let first = (step * batch) % (images.count - batch + 1)
                let start = Date()
                try trainer.step(images, Array(first ..< first + batch)[...], learningRate: 0.01)
                times.append(Date().timeIntervalSince(start))
                if step == 0 { mark("step 1") }
            }
            mark("end")
            if let dumpWeights {
                var bytes: [UInt8] = []
                for w in trainer.classifier.network.weights { w.withUnsafeBufferPointer { bytes += UnsafeRawBufferPointer($0) } }
                try Data(bytes).write(to: URL(fileURLWithPath: dumpWeights))
            }
            print(String(format: "median step %.2f ms, %.3f ms per layer", 1000 * median(times), 1000 * median(times) / Double(layers)))
            return
        }
        if trace {
            trainer.onStep = { if $0.stepInEpoch == 1 || $0.stepInEpoch == $0.stepsPerEpoch { mark("step \($0.globalStep)") } }
            trainer.onEpoch = { record, _ in mark("epoch \(record.epoch) (evaluated)") }
        }
        try trainer.train(dataset.train, test: dataset.test)
        mark("end")
        let run = Run(samplesPerSecond: median(trainer.history.map(\.samplesPerSecond)),
                      testAccuracy: trainer.history.last!.testAccuracy, peakMegabytes: peakResidentMegabytes())
        print(String(decoding: try JSONEncoder().encode(run), as: UTF8.self))
    }

    func run() throws {
        if child { return try runChild() }
        if model == "mlp" { return try runMLP() }
        if model == "cnn" { return try runCNN() }
        let dataset = try ImageDataset(folder: data)
        let trainImages = min(limit ?? dataset.train.count, dataset.train.count)
        let threadSettings = torchThreads.split(separator: ",").compactMap { Int($0) }
        var report = Report(layers: layers, trainImages: trainImages, epochs: epochs)
        func say(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
        for round in 1 ... rounds {
            // Alternate who goes first, so neither side always runs on the warmer machine.
            let order = round % 2 == 1 ? [-1] + threadSettings : threadSettings + [-1]
            for contender in order {
                if contender < 0 {
                    guard let run = runIsometry(layers: layers, limit: limit, epochs: epochs, data: data) else {
                        throw ValidationError("the Isometry child run failed")
                    }
                    report.isometry.append(run)
                    say(String(format: "round %d/%d: isometry %.0f samples/s, %.0f MB", round, rounds, run.samplesPerSecond, run.peakMegabytes))
                } else if let run = runTorch(python: python, script: script, threads: contender, layers: layers, limit: limit,
                                             epochs: epochs, data: data) {
                    report.torch[contender, default: []].append(run)
                    say(String(format: "round %d/%d: torch, %d threads %.0f samples/s, %.0f MB", round, rounds, contender,
                               run.samplesPerSecond, run.peakMegabytes))
                } else {
                    say("round \(round)/\(rounds): torch, \(contender) threads failed (is \(python) a Python with torch?)")
                }
            }
        }
        report.isometrySamplesPerSecond = median(report.isometry.map(\.samplesPerSecond))
        report.isometryPeakMegabytes = median(report.isometry.map(\.peakMegabytes))
        let best = report.torch.max { median($0.value.map(\.samplesPerSecond)) < median($1.value.map(\.samplesPerSecond)) }
        report.torchBestThreads = best?.key ?? 0
        let peer = best?.value ?? []
        report.torchSamplesPerSecond = peer.isEmpty ? 0 : median(peer.map(\.samplesPerSecond))
        report.torchPeakMegabytes = peer.isEmpty ? 0 : median(peer.map(\.peakMegabytes))
        // Rounds alternate, so each round's ratio compares two runs a minute apart; the median
        // of those ratios is steadier on a shared machine than a ratio of medians.
        report.speedup = peer.isEmpty ? 0 : peer.count == report.isometry.count
            ? median(zip(report.isometry, peer).map { $0.samplesPerSecond / $1.samplesPerSecond })
            : report.isometrySamplesPerSecond / max(report.torchSamplesPerSecond, 1e-9)
        let (n, c, batch) = (794.0, 10.0, 128.0), l = Double(layers), scalar = 4.0
        let datasetBytes = Double(dataset.train.pixels.count + dataset.test.pixels.count)
            + Double((dataset.train.count + dataset.test.count) * MemoryLayout<Int>.stride)
        report.mustHoldMegabytes = (scalar * (l * n * n + batch * n * l) + datasetBytes) / 1_048_576
        // GEMM work per sample (Backpropagation.swift): 3L − 4 full N² products, and three with C
        // columns (the last layer's forward, its δ propagation and its weight gradient).
        let flopsPerSample = 2 * ((3 * l - 4) * n * n + 3 * c * n)
        report.isometryGflops = report.isometrySamplesPerSecond * flopsPerSample / 1e9
        // What the issue's bar asks: 1.3× the peer's samples/s, i.e. a step of at most
        // 128 / (1.3·peer) seconds; even with nothing but the products in it, they would have
        // to run at flopsPerStep / that time.
        if report.torchSamplesPerSecond > 0 {
            report.barStepMilliseconds = 1000 * batch / (1.3 * report.torchSamplesPerSecond)
            report.barGflops = 1.3 * report.torchSamplesPerSecond * flopsPerSample / 1e9
        }
        if !noPeak { report.gemmPeakGflops = measuredPeak() }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        let list = { (runs: [Run], value: (Run) -> Double) in runs.map { String(format: "%.0f", value($0)) }.joined(separator: ", ") }
        print("bench-train: \(layers)-layer hard-tanh identity MLP, width 794, batch 128, SGD lr 0.01, float32, Fashion-MNIST, "
              + "\(epochs) epoch\(epochs == 1 ? "" : "s") on \(trainImages) images per run, \(rounds) rounds")
        print("| | samples/s (median) | rounds | peak RSS (median) | rounds | test accuracy |")
        print("|---|---:|---|---:|---|---:|")
        print(String(format: "| Isometry | %.0f | %@ | %.0f MB | %@ | %.2f %% |", report.isometrySamplesPerSecond,
                     list(report.isometry, \.samplesPerSecond), report.isometryPeakMegabytes, list(report.isometry, \.peakMegabytes),
                     100 * (report.isometry.last?.testAccuracy ?? 0)))
        for (threads, runs) in report.torch.sorted(by: { $0.key > $1.key }) {
            print(String(format: "| PyTorch, %d thread%@ | %.0f | %@ | %.0f MB | %@ | %.2f %% |", threads, threads == 1 ? "" : "s",
                         median(runs.map(\.samplesPerSecond)), list(runs, \.samplesPerSecond), median(runs.map(\.peakMegabytes)),
                         list(runs, \.peakMegabytes), 100 * (runs.last?.testAccuracy ?? 0)))
        }
        if report.torchSamplesPerSecond > 0 {
            print(String(format: "\nspeed-up over PyTorch at its better setting (%d threads), median of the rounds' ratios: %.2f×",
                         report.torchBestThreads, report.speedup))
        } else {
            print("\nno PyTorch run succeeded: no speed-up")
        }
        print(String(format: "Isometry peak RSS %.0f MB = %.2f× the %.0f MB the run must hold (weights %.0f MB, one batch of activations a layer %.0f MB, dataset %.0f MB; MB = 2^20 bytes)",
                     report.isometryPeakMegabytes, report.isometryPeakMegabytes / report.mustHoldMegabytes, report.mustHoldMegabytes,
                     scalar * l * n * n / 1_048_576, scalar * batch * n * l / 1_048_576, datasetBytes / 1_048_576))
        if report.gemmPeakGflops > 0 {
            print(String(format: "Isometry GEMM throughput %.0f GFLOP/s = %.0f %% of this session's GEMM peak (%.0f GFLOP/s, float 2048²)",
                         report.isometryGflops, 100 * report.isometryGflops / report.gemmPeakGflops, report.gemmPeakGflops))
        }
        if report.barGflops > 0 {
            print(String(format: "1.3× PyTorch needs a step of at most %.1f ms: its %d products at %.0f GFLOP/s or more with nothing else running",
                         report.barStepMilliseconds, 3 * layers - 1, report.barGflops))
        }
    }
}
