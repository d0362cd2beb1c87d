// bench-train --model mlp: the layer-stack trainer on a non-square MLP against PyTorch, same
// architecture, optimizer, batch, epochs and data order (Benchmarks/Peers/torch_mlp_train.py
// draws Isometry's permutations), each run in its own process, rounds alternating, medians.

import ArgumentParser
import BenchmarkSupport
import Datasets
import Foundation
import Networks
import TensorAlgebra
import Training

extension BenchTrain {
    static let mlpWidths = [784, 1000, 300, 10]

    /// One Isometry run of the MLP in this process; prints its `Run` as JSON.
    func runMLPChild() throws {
        let dataset = try ImageDataset(folder: data)
        let train = limit.map { dataset.train.tensorDataset.prefix($0) } ?? dataset.train.tensorDataset
        var generator = SeededGenerator(seed: 0)
        let stack = LayerStack<Float>.multilayerPerceptron(widths: Self.mlpWidths, activation: .relu, using: &generator)
        let trainer = try StackTrainer(stack: stack, optimizer: SGD(learningRate: 0.05, momentum: 0.9), batchSize: 128, epochs: epochs, seed: 0)
        try trainer.train(train, test: dataset.test.tensorDataset)
        // Samples/s over every step of the run (evaluation excluded), as the peer counts it.
        let seconds = trainer.history.map(\.seconds).reduce(0, +)
        let run = Run(samplesPerSecond: Double(trainer.globalStep * 128) / seconds,
                      testAccuracy: trainer.history.last!.testAccuracy!, peakMegabytes: peakResidentMegabytes())
        print(String(decoding: try JSONEncoder().encode(run), as: UTF8.self))
    }

    func runMLP() throws {
        let peer = script == "Benchmarks/Peers/torch_train.py" ? "Benchmarks/Peers/torch_mlp_train.py" : script
        let threadSettings = torchThreads.split(separator: ",").compactMap { Int($0) }
        var isometry: [Run] = [], torch: [Int: [Run]] = [:]
        func say(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
        var base = ["--epochs", "\(epochs)", "--data", data]
        if let limit { base += ["--limit", "\(limit)"] }
        for round in 1 ... rounds {
            let order = round % 2 == 1 ? [-1] + threadSettings : threadSettings + [-1]
            for contender in order {
                if contender < 0 {
                    guard let (status, output, _) = try? runCapturingOutput("/proc/self/exe", ["--child", "--model", "mlp"] + base), status == 0,
                          let run = try? JSONDecoder().decode(Run.self, from: output)
                    else { throw ValidationError("the Isometry child run failed") }
                    isometry.append(run)
                    say(String(format: "round %d/%d: isometry %.0f samples/s, test accuracy %.4f", round, rounds, run.samplesPerSecond, run.testAccuracy))
                } else {
                    let wrapper = peerWrapper(script: peer, arguments: base + ["--threads", "\(contender)"])
                    guard let (status, bytes, _) = try? runCapturingOutput(python, ["-c", wrapper]), status == 0 else {
                        say("round \(round)/\(rounds): torch, \(contender) threads failed (is \(python) a Python with torch?)")
                        continue
                    }
                    let output = String(decoding: bytes, as: UTF8.self)
                    guard let rate = number(after: "train samples/s ", in: output), let accuracy = number(after: "test accuracy ", in: output),
                          let rss = number(after: "peak_rss_kb ", in: output) else { continue }
                    torch[contender, default: []].append(Run(samplesPerSecond: rate, testAccuracy: accuracy, peakMegabytes: rss / 1024))
                    say(String(format: "round %d/%d: torch, %d threads %.0f samples/s, test accuracy %.4f", round, rounds, contender, rate, accuracy))
                }
            }
        }
        let list = { (runs: [Run], value: (Run) -> Double, format: String) in runs.map { String(format: format, value($0)) }.joined(separator: ", ") }
        print("bench-train --model mlp: \(Self.mlpWidths.map(String.init).joined(separator: " → ")) ReLU, SGD momentum 0.9 lr 0.05, batch 128, float32, "
              + "Fashion-MNIST, \(epochs) epoch\(epochs == 1 ? "" : "s"), same data order, \(rounds) rounds")
        print("| | samples/s (median) | rounds | test accuracy (median) | rounds |")
        print("|---|---:|---|---:|---|")
        print(String(format: "| Isometry | %.0f | %@ | %.2f %% | %@ |", median(isometry.map(\.samplesPerSecond)), list(isometry, \.samplesPerSecond, "%.0f"),
                     100 * median(isometry.map(\.testAccuracy)), list(isometry, { 100 * $0.testAccuracy }, "%.2f")))
        for (threads, runs) in torch.sorted(by: { $0.key > $1.key }) {
            print(String(format: "| PyTorch, %d thread%@ | %.0f | %@ | %.2f %% | %@ |", threads, threads == 1 ? "" : "s",
                         median(runs.map(\.samplesPerSecond)), list(runs, \.samplesPerSecond, "%.0f"),
                         100 * median(runs.map(\.testAccuracy)), list(runs, { 100 * $0.testAccuracy }, "%.2f")))
        }
        if let best = torch.max(by: { median($0.value.map(\.samplesPerSecond)) < median($1.value.map(\.samplesPerSecond)) }) {
            let ratio = best.value.count == isometry.count
                ? median(zip(isometry, best.value).map { $0.samplesPerSecond / $1.samplesPerSecond })
                : median(isometry.map(\.samplesPerSecond)) / median(best.value.map(\.samplesPerSecond))
            print(String(format: "\nIsometry / PyTorch at its better setting (%d threads), median of the rounds' ratios: %.2f×", best.key, ratio))
        }
    }
}
