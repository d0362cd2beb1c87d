// bench-train --model cnn: the Fashion-MNIST CNN of issue 20 trained by the library's
// StackTrainer (what `train --architecture` runs) against Benchmarks/Peers/torch_cnn_train.py:
// the same network, PyTorch's default initialisation, SGD momentum 0.9 lr 0.05, batch 128,
// float32, the same threads and the same data order. Each run is its own process (this binary
// re-run with --child, or Python), so each peak RSS is its own; rounds alternate who goes
// first; the ratios are medians of the rounds' ratios. --recipe adam runs docs/training.md's
// 91 % recipe on both sides instead ('same' padding, Adam 1e-3, per-step cosine, batch 64).

import ArgumentParser
import BenchmarkSupport
import Datasets
import Foundation
import Networks
import TensorAlgebra
import Training

extension BenchTrain {
    static let cnnArchitecture = "conv32k3,relu,maxpool2,conv64k3,relu,maxpool2,flatten,dense128,relu,dense10"
    static let paddedCNNArchitecture = "conv32k3p1,relu,maxpool2,conv64k3p1,relu,maxpool2,flatten,dense128,relu,dense10"

    var cnnPadded: Bool { recipe == "adam" }
    var cnnBatch: Int { recipe == "adam" ? 64 : 128 }
    var cnnRecipeName: String { recipe == "adam" ? "Adam 1e-3 per-step cosine, batch 64" : "SGD momentum 0.9 lr 0.05, batch 128" }

    /// Multiply-accumulates per sample of the CNN's training step, layer by layer: the forward
    /// products, the weight gradients, and the input gradients of every layer but the first
    /// (the trainer skips the first layer's, nothing consumes it).
    /// With 'same' padding (`padded`) the planes are 28² and 14², the dense layer takes 3,136.
    static func cnnMultiplyAddsPerSample(padded: Bool = false) -> (forward: Double, training: Double) {
        let (plane1, plane2, features) = padded ? (28.0 * 28, 14.0 * 14, 3136.0) : (26.0 * 26, 11.0 * 11, 1600.0)
        let conv1 = 32.0 * 1 * 9 * plane1      // unpadded 194 688: [32, 9]·[9, 676]
        let conv2 = 64.0 * 32 * 9 * plane2     // unpadded 2 230 272: [64, 288]·[288, 121]
        let dense1 = features * 128, dense2 = 128.0 * 10
        let forward = conv1 + conv2 + dense1 + dense2
        return (forward, 2 * forward + (conv2 + dense1 + dense2))
    }

    /// The CNN the benchmark trains, as `train --architecture … --seed 0` builds it (with the
    /// adam recipe: `--optimizer adam --lr 0.001 --schedule cosine --batch 64`, the cosine over
    /// all `steps` of the run).
    func cnnTrainer(epochs: Int, threads: Int, trainingSamples: Int) throws -> StackTrainer<Float> {
        var generator = SeededGenerator(seed: 0)
        let stack = try LayerStack<Float>(architecture: cnnPadded ? Self.paddedCNNArchitecture : Self.cnnArchitecture, inputShape: [1, 28, 28],
                                          using: &generator)
        let optimizer: any Optimizer<Float> = recipe == "adam"
            ? Adam(learningRate: .cosine(1e-3, steps: trainingSamples / cnnBatch * epochs)) : SGD(learningRate: 0.05, momentum: 0.9)
        return try StackTrainer(stack: stack, optimizer: optimizer, batchSize: cnnBatch, epochs: epochs, seed: 0, threads: threads)
    }

    /// One Isometry run of the CNN in this process; prints its `Run` as JSON (or, with
    /// --profile-steps, only that many steps and their median time, for a profiler).
    func runCNNChild() throws {
        let dataset = try ImageDataset(folder: data)
        let train = limit.map { dataset.train.tensorDataset.prefix($0) } ?? dataset.train.tensorDataset
        // --whole-batch: one workspace for the batch, the threads spent by BLAS inside each
        // product instead of on shards of the batch (the trainer's one-thread path, run here
        // with OpenBLAS at --threads).
        let trainer = try cnnTrainer(epochs: epochs, threads: wholeBatch ? 1 : threads, trainingSamples: train.count)
        let batch = cnnBatch
        if let profileSteps {
            func processCPUSeconds() -> Double {
                var t = timespec()
                clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
                return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
            }
            var times: [Double] = [], cpuTimes: [Double] = []
            try OpenBLAS.withThreads(threads) {
                let steps = trainer.stepsPerEpoch(train)
                for step in 0 ..< profileSteps {
                    let first = (step % steps) * batch
                    let (start, cpuStart) = (Date(), processCPUSeconds())
                    try trainer.step(train, Array(first ..< first + batch)[...])
                    times.append(Date().timeIntervalSince(start))
                    cpuTimes.append(processCPUSeconds() - cpuStart)
                }
            }
            let ms = 1000 * median(times)
            // The process's CPU time per step: with one thread, the step's own work even on a
            // loaded machine (with more, it counts OpenBLAS's spinning threads too).
            print(String(format: "median step %.2f ms (%.0f samples/s), CPU time %.2f ms, over %d steps, OpenBLAS %@ × %d, %@", ms, Double(batch) * 1000 / ms,
                         1000 * median(cpuTimes), profileSteps, OpenBLAS.coreName, threads,
                         wholeBatch || threads == 1 ? "whole batch" : "\(threads) shards of the batch"))
            return
        }
        try trainer.train(train, test: dataset.test.tensorDataset)
        // Samples/s over every step of the run (evaluation excluded), as the peer counts it.
        let seconds = trainer.history.map(\.seconds).reduce(0, +)
        let run = Run(samplesPerSecond: Double(trainer.globalStep * batch) / seconds,
                      testAccuracy: trainer.history.last!.testAccuracy!, peakMegabytes: peakResidentMegabytes())
        print(String(decoding: try JSONEncoder().encode(run), as: UTF8.self))
    }

    func runCNN() throws {
        let peer = script == "Benchmarks/Peers/torch_train.py" ? "Benchmarks/Peers/torch_cnn_train.py" : script
        var base = ["--epochs", "\(epochs)", "--data", data, "--recipe", recipe]
        if let limit { base += ["--limit", "\(limit)"] }
        var isometry: [Run] = [], torch: [Run] = []
        func say(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
        func load() -> String {
            ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
        }
        var loads: [String] = []
        for round in 1 ... rounds {
            for isometryTurn in round % 2 == 1 ? [true, false] : [false, true] {
                loads.append(load())
                if isometryTurn {
                    let output: Data
                    do { output = try runPeer("/proc/self/exe", ["--child", "--model", "cnn", "--threads", "\(threads)"] + base) } catch {
                        throw ValidationError("the Isometry child run failed: \(error.reason)")
                    }
                    guard let run = try? JSONDecoder().decode(Run.self, from: output) else {
                        throw ValidationError("the Isometry child printed no run: \(String(decoding: output, as: UTF8.self))")
                    }
                    isometry.append(run)
                    say(String(format: "round %d/%d: isometry %.0f samples/s, %.0f MB, test accuracy %.4f (load %@)", round, rounds,
                               run.samplesPerSecond, run.peakMegabytes, run.testAccuracy, loads.last!))
                } else {
                    // The wrapper reports the peer's own peak resident memory, as getrusage sees it.
                    let wrapper = peerWrapper(script: peer, arguments: base + ["--threads", "\(threads)"])
                    let bytes: Data
                    do { bytes = try runPeer(python, ["-c", wrapper]) } catch {
                        throw ValidationError("the PyTorch peer \(peer) failed: \(error.reason)")
                    }
                    let output = String(decoding: bytes, as: UTF8.self)
                    guard let rate = number(after: "train samples/s ", in: output), let accuracy = number(after: "test accuracy ", in: output),
                          let rss = number(after: "peak_rss_kb ", in: output) else {
                        throw ValidationError("the PyTorch peer \(peer) printed no samples/s, test accuracy or peak RSS: \(output)")
                    }
                    torch.append(Run(samplesPerSecond: rate, testAccuracy: accuracy, peakMegabytes: rss / 1024))
                    say(String(format: "round %d/%d: torch %.0f samples/s, %.0f MB, test accuracy %.4f (load %@)", round, rounds, rate,
                               rss / 1024, accuracy, loads.last!))
                }
            }
        }
        let list = { (runs: [Run], value: (Run) -> Double, format: String) in runs.map { String(format: format, value($0)) }.joined(separator: ", ") }
        let images = limit.map { "\($0) images" } ?? "60,000 images"
        print("bench-train --model cnn: \(cnnPadded ? Self.paddedCNNArchitecture : Self.cnnArchitecture) on [1, 28, 28], \(cnnRecipeName), float32, "
              + "\(threads) thread\(threads == 1 ? "" : "s") each, Fashion-MNIST, \(epochs) epoch\(epochs == 1 ? "" : "s") of \(images), "
              + "same data order, \(rounds) rounds (OpenBLAS \(OpenBLAS.coreName))")
        print("| | samples/s (median) | rounds | peak RSS (median) | rounds | test accuracy (median) |")
        print("|---|---:|---|---:|---|---:|")
        for (name, runs) in [("Isometry", isometry), ("PyTorch", torch)] {
            print(String(format: "| %@ | %.0f | %@ | %.0f MB | %@ | %.2f %% |", name, median(runs.map(\.samplesPerSecond)),
                         list(runs, \.samplesPerSecond, "%.0f"), median(runs.map(\.peakMegabytes)), list(runs, \.peakMegabytes, "%.0f"),
                         100 * median(runs.map(\.testAccuracy))))
        }
        // Rounds alternate, so each round's ratio compares two runs a minute apart; the median
        // of those ratios is steadier on a shared machine than a ratio of medians.
        let speed = median(zip(isometry, torch).map { $0.samplesPerSecond / $1.samplesPerSecond })
        let memory = median(zip(isometry, torch).map { $0.peakMegabytes / $1.peakMegabytes })
        print(String(format: "\nIsometry / PyTorch, medians of the rounds' ratios: samples/s %.2f× (bar ≥ 1.0), peak RSS %.2f× (bar ≤ 0.33)",
                     speed, memory))
        let work = Self.cnnMultiplyAddsPerSample(padded: cnnPadded)
        print(String(format: "work per sample: %.2f MFLOP forward, %.2f MFLOP a training step; Isometry runs them at %.1f GFLOP/s, PyTorch at %.1f",
                     2 * work.forward / 1e6, 2 * work.training / 1e6, 2 * work.training * median(isometry.map(\.samplesPerSecond)) / 1e9,
                     2 * work.training * median(torch.map(\.samplesPerSecond)) / 1e9))
        print("load averages (1, 5, 15 min) before each run: \(loads.joined(separator: " | "))")
    }
}
