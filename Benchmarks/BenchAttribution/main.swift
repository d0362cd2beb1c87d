// bench-attribution: the methods × metrics table of `interpret --evaluate` (AttributionComparison)
// for N Fashion-MNIST test images, against the same methods and metrics through Captum and
// Quantus 0.6 (Benchmarks/Peers/quantus_table.py) on the same network, images, targets and
// threads. Each contender in its own process (Isometry here, the peer a child process), rounds
// alternating, medians; the methods and metrics are the catalogue's names on both sides.

import ArgumentParser
import BenchmarkSupport
import Datasets
import Foundation
import Interpretation
import Networks
import TensorAlgebra

@main
struct BenchAttribution: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-attribution",
        abstract: "The attribution methods × metrics table vs Captum + Quantus on the same network and images.")

    @Option(help: "A checkpoint from `train` (the identity MLP).") var checkpoint = "out/train/checkpoint.safetensors"
    @Option(help: "An architecture string (docs/layers.md) for --model, on [1, 28, 28] images.") var architecture: String?
    @Option(help: "A PyTorch nn.Sequential state dict (safetensors) of --architecture.") var model: String?
    @Option(help: "MNIST-format folder.") var data = ImageDataset.fashionMNISTFolder
    @Option(help: "Test images (the first N).") var images = 1000
    @Option(help: "Methods, comma-separated, or 'default' (every method of the catalogue that applies to the network, as `interpret --evaluate`).") var methods = "default"
    @Option(help: "Metrics, comma-separated, 'default' (the catalogue's defaults but the noisy-background scores, which have no peer) or 'all' (with pixel-flipping and max-sensitivity).") var metrics = "default"
    @Option(help: "Images per batch, both sides.") var batch = 250
    @Option(help: "Alternating rounds of Isometry and the peer.") var rounds = 3
    @Option(help: "Threads of the peer (torch.set_num_threads); Isometry's are OpenBLAS's (OPENBLAS_NUM_THREADS).") var threads = 2
    @Option(help: "Python with torch, captum and quantus.") var python = NSHomeDirectory() + "/.venv-peers/bin/python"
    @Option(help: "The peer script.") var script = "Benchmarks/Peers/quantus_table.py"
    @Flag(help: "Time Isometry alone, no peer (for profiling; no ratios).") var isometryOnly = false
    @Option(help: "Append each round's times and means (one JSON line per contender and round) to this file.") var log: String?

    func validate() throws {
        guard (1 ... 10_000).contains(images) else { throw ValidationError("--images must be between 1 and 10000, got \(images)") }
        guard rounds >= 1, threads >= 1, batch >= 1 else { throw ValidationError("--rounds, --threads and --batch must be at least 1") }
        guard (architecture == nil) == (model == nil) else { throw ValidationError("--architecture and --model go together") }
    }

    func run() throws {
        let test = try ImageDataset(folder: data).test
        let stack: LayerStack<Float>, describe: String, peerArguments: [String]
        if let architecture, let model {
            stack = try LayerStack<Float>(pytorchStateDict: URL(fileURLWithPath: model), architecture: architecture, inputShape: [1, 28, 28])
            describe = "\(architecture) (\(stack.parameterCount) parameters) from \(model)"
            peerArguments = ["--architecture", architecture, "--model", model]
        } else {
            let classifier = try IdentityClassifier<Float>(contentsOf: URL(fileURLWithPath: checkpoint))
            stack = classifier.stack
            describe = "\(classifier.layers)-layer \(classifier.activation.rawValue) identity MLP of width \(classifier.width) from \(checkpoint)"
            peerArguments = ["--checkpoint", checkpoint]
        }
        let methodNames = methods == "default" ? AttributionCatalogue.defaultMethodNames(for: stack) : methods.split(separator: ",").map(String.init)
        let metricNames = switch metrics {
        // The noisy-background scores have no Quantus or Captum counterpart for the peer to run:
        // 'default' and 'all' leave them out (named, they fail in quantus_table.py with that reason).
        case "default": AttributionCatalogue.defaultMetricNames.filter { !$0.hasPrefix("noisy-background") }
        case "all": AttributionCatalogue.metricNames.filter { !$0.hasPrefix("noisy-background") }
        default: metrics.split(separator: ",").map(String.init)
        }
        let chosenMethods: [any AttributionMethod<Float>] = try AttributionCatalogue.methods(methodNames)
        let chosenMetrics: [any AttributionMetric<Float>] = try AttributionCatalogue.metrics(metricNames)
        func table(_ count: Int) throws -> AttributionComparison {
            try AttributionComparison(stack, data: test, images: Array(0 ..< count), methods: chosenMethods, metrics: chosenMetrics,
                                      examples: 0, batchSize: batch)
        }
        _ = try table(min(8, images))  // warm-up, as the peer's
        var ours: [Double] = [], peers: [Double] = []
        // CPU time of each contender's table: with more runnable threads than cores (a shared
        // machine) wall clock measures the neighbours as much as the work.
        var ourCPU: [Double] = [], peerCPU: [Double] = []
        var comparison: AttributionComparison?
        var peerMeans: [String: Double] = [:]
        var versions = ""
        // Per round: seconds of each method's attributions ("method") and of each cell ("method/metric").
        var ourParts: [[String: Double]] = [], peerParts: [[String: Double]] = []
        for round in 1 ... rounds {
            FileHandle.standardError.write(Data("round \(round)/\(rounds)\n".utf8))
            let start = Date(), cpuStart = processCPUSeconds()
            comparison = try table(images)
            ours.append(Date().timeIntervalSince(start))
            ourCPU.append(processCPUSeconds() - cpuStart)
            var parts: [String: Double] = [:]
            for (m, name) in methodNames.enumerated() { parts[name] = comparison!.attributionSeconds[m] }
            for cell in comparison!.cells { parts["\(cell.method)/\(cell.metric)"] = cell.seconds }
            ourParts.append(parts)
            try appendLog(["contender": "isometry", "round": round, "seconds": ours.last!, "cpu_seconds": ourCPU.last!, "parts": parts,
                           "means": Dictionary(uniqueKeysWithValues: comparison!.cells.map { ("\($0.method)/\($0.metric)", $0.mean) })])
            if isometryOnly {
                print(String(format: "round %d: Isometry %.3f s (attributions %@ s)", round, ours.last!,
                             comparison!.attributionSeconds.map { String(format: "%.3f", $0) }.joined(separator: ", ")))
                continue
            }
            let output = try runPeer(python, [script] + peerArguments + ["--data", data, "--images", "\(images)", "--threads", "\(threads)",
                                                                      "--methods", methodNames.joined(separator: ","), "--metrics", metricNames.joined(separator: ","),
                                                                      "--batch", "\(batch)"])
            guard let peer = (try? JSONSerialization.jsonObject(with: output)) as? [String: Any], let seconds = peer["seconds"] as? Double else {
                throw PeerFailure(command: "\(python) \(script)", reason: "printed no JSON line with seconds: " + String(decoding: output.prefix(300), as: UTF8.self))
            }
            peers.append(seconds)
            peerCPU.append(peer["cpu_seconds"] as? Double ?? .nan)
            peerMeans = peer["means"] as? [String: Double] ?? [:]
            var theirs = peer["method_seconds"] as? [String: Double] ?? [:]
            theirs.merge(peer["metric_seconds"] as? [String: Double] ?? [:]) { first, _ in first }
            peerParts.append(theirs)
            try appendLog(["contender": "peer", "round": round, "seconds": seconds, "cpu_seconds": peerCPU.last!, "parts": theirs, "means": peerMeans])
            versions = ["torch", "captum", "quantus"].map { "\($0) \(peer[$0] as? String ?? "?")" }.joined(separator: ", ")
        }
        guard let comparison else { return }
        let blasThreads = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "OpenBLAS default (\(ProcessInfo.processInfo.activeProcessorCount) cores)"
        print("bench-attribution: \(images) Fashion-MNIST test images, \(describe), float32, batches of \(batch); threads: Isometry \(blasThreads), peer \(threads)")
        print("methods: \(methodNames.joined(separator: ", ")); metrics: \(metricNames.joined(separator: ", ")); targets: the predicted class")
        if isometryOnly { return }
        let ratios = zip(peers, ours).map { $0 / $1 }
        print("| contender | time (median) | rounds | peer / Isometry |")
        print("|---|---:|---|---:|")
        print(String(format: "| Isometry AttributionComparison | %.3f s | %@ | 1× |", median(ours), ours.map { String(format: "%.3f", $0) }.joined(separator: ", ")))
        print(String(format: "| Captum + Quantus (%@) | %.3f s | %@ | %.1f× |", versions, median(peers), peers.map { String(format: "%.3f", $0) }.joined(separator: ", "),
                     median(ratios)))
        print("(peer / Isometry: the median of the rounds' ratios; each round runs Isometry, then the peer, a few seconds apart)")
        print(String(format: "CPU time (one thread each): Isometry %@ s, peer %@ s; peer / Isometry (median of rounds) %.1f×",
                     ourCPU.map { String(format: "%.2f", $0) }.joined(separator: ", "), peerCPU.map { String(format: "%.2f", $0) }.joined(separator: ", "),
                     median(zip(peerCPU, ourCPU).map { $0 / $1 })))
        // Where the time goes, both sides: each method's attributions, then each metric summed
        // over the methods; medians over the rounds.
        func part(_ rounds: [[String: Double]], _ keys: [String]) -> Double { median(rounds.map { r in keys.reduce(0) { $0 + (r[$1] ?? 0) } }) }
        print("| part (median over rounds) | Isometry | peer | peer / Isometry |")
        print("|---|---:|---:|---:|")
        func row(_ label: String, _ keys: [String]) {
            let (a, b) = (part(ourParts, keys), part(peerParts, keys))
            print(String(format: "| %@ | %.3f s | %.3f s | %.1f× |", label, a, b, b / max(a, 1e-9)))
        }
        for name in methodNames { row("attributions: \(name)", [name]) }
        for metric in metricNames { row("metric: \(metric) (all methods)", methodNames.map { "\($0)/\(metric)" }) }
        print("| cell | Isometry mean | peer mean | relative difference |")
        print("|---|---:|---:|---:|")
        for cell in comparison.cells {
            let key = "\(cell.method)/\(cell.metric)"
            guard let theirs = peerMeans[key] else { continue }
            print(String(format: "| %@ | %.6g | %.6g | %.1e |", key, cell.mean, theirs, abs(cell.mean - theirs) / max(abs(theirs), 1e-30)))
        }
    }

    /// The process's CPU time (user + system, every thread), seconds.
    func processCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    func appendLog(_ record: [String: Any]) throws {
        guard let log else { return }
        var line = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        line.append(0x0A)
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    }
}
