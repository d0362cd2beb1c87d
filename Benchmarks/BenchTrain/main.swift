// bench-train: training samples/s and peak memory of the default configuration (10-layer
// hard-tanh identity MLP, batch 128, SGD, float32, Fashion-MNIST), side by side with
// Benchmarks/Peers/torch_train.py at its better thread setting, rounds alternating.

import ArgumentParser
import CommandSupport
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

/// Runs the PyTorch peer for one epoch; returns (samples/s, test accuracy, peak RSS in MB).
func runTorch(python: String, script: String, threads: Int, epochs: Int) -> (Double, Double, Double)? {
    // The wrapper reports the peer's own peak resident memory, as getrusage sees it.
    let wrapper = """
    import resource, runpy, sys
    sys.argv = [\(String(reflecting: script)), "--epochs", "\(epochs)", "--threads", "\(threads)"]
    runpy.run_path(sys.argv[0], run_name="__main__")
    print("peak_rss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
    guard let (status, data) = try? runCapturingOutput(python, ["-c", wrapper]) else { return nil }
    let output = String(decoding: data, as: UTF8.self)
    func number(after key: String) -> Double? {
        guard let range = output.range(of: key) else { return nil }
        return Double(output[range.upperBound...].split(whereSeparator: { $0 == " " || $0 == "\n" }).first ?? "")
    }
    guard status == 0, let rate = number(after: "train samples/s "),
          let accuracy = number(after: "test accuracy "), let rss = number(after: "peak_rss_kb ") else { return nil }
    return (rate, accuracy, rss / 1024)
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
    var isometrySamplesPerSecond: [Double] = []
    var torchSamplesPerSecond: [Int: [Double]] = [:]
    var torchBestThreads = 0
    var isometryPeakMegabytes = 0.0
    var torchPeakMegabytes = 0.0
    var isometryTestAccuracy = 0.0
    var torchTestAccuracy = 0.0
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
        abstract: "Training samples/s and peak memory against PyTorch (float32, default configuration).")

    @Option(help: "Rounds (one epoch each for every contender), medians reported.") var rounds = 3
    @Option(help: "MNIST-format folder.") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Python with torch.") var python = NSHomeDirectory() + "/.venv-peers/bin/python"
    @Option(help: "The PyTorch peer.") var script = "Benchmarks/Peers/torch_train.py"
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let dataset = try ImageDataset(folder: data)
        var report = Report()
        let configuration = TrainingConfiguration()  // defaults: batch 128, SGD lr 0.01 (and 10 identity layers)
        var lastAccuracy = 0.0
        for round in 1 ... rounds {
            FileHandle.standardError.write(Data("round \(round)/\(rounds): isometry\n".utf8))
            var generator = SeededGenerator(seed: 0)
            let classifier = IdentityClassifier<Float>(inputFeatures: 784, classes: 10, configuration: ClassifierConfiguration(), using: &generator)
            var one = configuration
            one.epochs = 1
            let trainer = Trainer(classifier: classifier, configuration: one)
            try trainer.train(dataset.train, test: dataset.test)
            report.isometrySamplesPerSecond.append(trainer.history[0].samplesPerSecond)
            lastAccuracy = trainer.history[0].testAccuracy
            for threads in [2, 1] {
                FileHandle.standardError.write(Data("round \(round)/\(rounds): torch, \(threads) threads\n".utf8))
                if let (rate, accuracy, rss) = runTorch(python: python, script: script, threads: threads, epochs: 1) {
                    report.torchSamplesPerSecond[threads, default: []].append(rate)
                    report.torchPeakMegabytes = max(report.torchPeakMegabytes, rss)
                    report.torchTestAccuracy = accuracy
                }
            }
        }
        report.isometryPeakMegabytes = peakResidentMegabytes()
        report.isometryTestAccuracy = lastAccuracy
        let best = report.torchSamplesPerSecond.max { median($0.value) < median($1.value) }
        report.torchBestThreads = best?.key ?? 0
        let ours = median(report.isometrySamplesPerSecond)
        // Rounds alternate, so each round's ratio compares two runs minutes apart; the median
        // of those ratios is steadier on this shared machine than a ratio of medians.
        let peer = best?.value ?? []
        report.speedup = peer.count == report.isometrySamplesPerSecond.count
            ? median(zip(report.isometrySamplesPerSecond, peer).map { $0 / $1 }) : ours / median(peer)
        // GEMM work per sample: 26 full 794² products and 3 with C = 10 columns (see Backpropagation.swift).
        let (n, c) = (794.0, 10.0)
        let flopsPerSample = 2 * (26 * n * n + 3 * c * n)
        report.isometryGflops = ours * flopsPerSample / 1e9
        // What the bar asks: 1.3× the peer's samples/s, i.e. a step of at most
        // 128 / (1.3·peer) seconds; even with nothing but the 26 products in it, they would
        // have to run at flopsPerStep / that time.
        if let best = best?.value, !best.isEmpty {
            report.barStepMilliseconds = 1000 * Double(configuration.batchSize) / (1.3 * median(best))
            report.barGflops = 1.3 * median(best) * flopsPerSample / 1e9
        }
        report.gemmPeakGflops = measuredPeak()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print("bench-train: 10-layer hard-tanh identity MLP, width 794, batch 128, SGD lr 0.01, float32, Fashion-MNIST, 1 epoch per round")
        print("| | samples/s (median of \(rounds)) | rounds | peak RSS | test accuracy after 1 epoch |")
        print("|---|---:|---|---:|---:|")
        print(String(format: "| Isometry | %.0f | %@ | %.0f MB | %.2f %% |", ours,
                     report.isometrySamplesPerSecond.map { String(format: "%.0f", $0) }.joined(separator: ", "), report.isometryPeakMegabytes, lastAccuracy * 100))
        for (threads, values) in report.torchSamplesPerSecond.sorted(by: { $0.key > $1.key }) {
            print(String(format: "| PyTorch, %d thread%@ | %.0f | %@ | %.0f MB | %.2f %% |", threads, threads == 1 ? "" : "s", median(values),
                         values.map { String(format: "%.0f", $0) }.joined(separator: ", "), report.torchPeakMegabytes, report.torchTestAccuracy * 100))
        }
        print(String(format: "\nspeed-up over PyTorch at its better setting (%d threads), median of the rounds' ratios: %.2f×", report.torchBestThreads, report.speedup))
        print(String(format: "Isometry GEMM throughput %.0f GFLOP/s = %.0f %% of this session's GEMM peak (%.0f GFLOP/s, float 2048²)",
                     report.isometryGflops, 100 * report.isometryGflops / report.gemmPeakGflops, report.gemmPeakGflops))
        print(String(format: "1.3× PyTorch needs a step of at most %.1f ms: its 26 products at %.0f GFLOP/s or more with nothing else running (bench-gemm --step-products measures the products alone)",
                     report.barStepMilliseconds, report.barGflops))
    }
}
