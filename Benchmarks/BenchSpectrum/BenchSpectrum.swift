// bench-spectrum: time per sample of the Jacobian spectrum (J = D^L W^L ⋯ D^1 W^1, then the
// singular values of J), against Benchmarks/Peers/spectrum_ref.py (numpy and JAX) on the same
// N, L, initialisation and activation, run side by side in the same session.

import ArgumentParser
import BenchmarkSupport
import Foundation
import Networks
import Spectrum
import TensorAlgebra

struct Case: Codable {
    let name: String
    let initialization: String
    let activation: String
    let peerActivation: String
    let sigma: Double
    let width: Int
    let layers: Int
    let q0: Double
    let bar: Double
}

let cases = [
    Case(name: "Gaussian ReLU", initialization: "gaussian", activation: "relu", peerActivation: "relu",
         sigma: 2.0.squareRoot(), width: 1000, layers: 32, q0: 0.5, bar: 3),
    // σ_w² = 1.186661: the χ = 1 point with q* = 1/2 (docs/theory.md); no bias, as in the peer.
    Case(name: "orthogonal hard-tanh", initialization: "orthogonal", activation: "hard-tanh", peerActivation: "hardtanh",
         sigma: 1.186661.squareRoot(), width: 1000, layers: 32, q0: 0.5, bar: 1.3),
    Case(name: "identity hard-tanh (default)", initialization: "identity", activation: "hard-tanh", peerActivation: "hardtanh",
         sigma: 1, width: 794, layers: 20, q0: 0.5, bar: 0),
]

struct Result: Codable {
    let name: String
    var isometryMilliseconds: Double
    var isometryDenseMilliseconds: Double?
    var numpyMilliseconds: Double?
    var jaxMilliseconds: Double?
    var speedupOverNumpy: Double?
    var speedupOverJax: Double?
    let bar: Double
    var meetsBar: Bool?
}


/// Median milliseconds per sample over `samples` inputs after one warm-up.
func timeIsometry(_ c: Case, samples: Int, skipInactive: Bool) throws -> Double {
    var generator = SeededGenerator(seed: 0)
    let activation = Activation(rawValue: c.activation)!
    let network: MultilayerPerceptron<Double> = switch c.initialization {
    case "gaussian": .gaussian(width: c.width, layers: c.layers, sigmaW: c.sigma, activation: activation, using: &generator)
    case "orthogonal": .orthogonal(width: c.width, layers: c.layers, sigmaW: c.sigma, activation: activation, using: &generator)
    default: .identity(width: c.width, layers: c.layers, sigma: c.sigma, activation: activation)
    }
    // The peers' threading: OpenBLAS's own setting at every width.
    let analyzer = JacobianSpectrumAnalyzer(
        network: network, knownDiagonal: c.initialization == "identity" ? true : nil, threads: OpenBLAS.threads)
    analyzer.skipsInactiveUnits = skipInactive
    let inputs = (0 ... samples).map { _ in Tensor<Double>.randomNormal([c.width], standardDeviation: c.q0.squareRoot(), using: &generator) }
    _ = try analyzer.eigenvalues(at: inputs[0])
    var times: [Double] = []
    for input in inputs.dropFirst() {
        let start = Date()
        _ = try analyzer.eigenvalues(at: input)
        times.append(Date().timeIntervalSince(start) * 1000)
    }
    return median(times)
}

/// Median over `runs` runs of the peer's reported ms/sample, or nil if it cannot run.
func timePeer(_ c: Case, engine: String, python: String, script: String, samples: Int, runs: Int) -> Double? {
    var values: [Double] = []
    for _ in 0 ..< runs {
        guard let (status, data, _) = try? runCapturingOutput(python, [
            script, "--engine", engine, "--init", c.initialization, "--act", c.peerActivation, "--sigma", "\(c.sigma)",
            "--n", "\(c.width)", "--layers", "\(c.layers)", "--q0", "\(c.q0)", "--samples", "\(samples)"]) else { return nil }
        let output = String(decoding: data, as: UTF8.self)
        guard status == 0,
              let range = output.range(of: #"([0-9.]+) ms/sample"#, options: .regularExpression),
              let value = Double(output[range].split(separator: " ")[0]) else { return nil }
        values.append(value)
    }
    return values.isEmpty ? nil : median(values)
}

/// Median ms per sample on 1 and 2 OpenBLAS threads, timed alternately sample by sample so
/// that load from other processes hits all alike: `one` with the process set to 1 thread,
/// `oneByAnalyzer` with the process at 2 and the analyzer switching to 1 around each call
/// (what the command's automatic choice does below the limit), `two` on 2.
func timeThreads(
    initialization: String, activation: Activation, sigmaW: Double, width: Int, layers: Int, samples: Int
) throws -> (one: Double, oneByAnalyzer: Double, two: Double) {
    var generator = SeededGenerator(seed: 0)
    let network: MultilayerPerceptron<Double> = initialization == "gaussian"
        ? .gaussian(width: width, layers: layers, sigmaW: sigmaW, activation: activation, using: &generator)
        : .orthogonal(width: width, layers: layers, sigmaW: sigmaW, activation: activation, using: &generator)
    let analyzer = JacobianSpectrumAnalyzer(network: network)
    let inputs = try MeanField.fixedPointInputs(
        activation: activation, sigmaW: sigmaW, width: width, count: samples + 1, start: 0.5, as: Double.self, using: &generator)
    // (process threads, analyzer threads)
    let settings = [(1, 1), (2, 1), (2, 2)]
    var times = [[Double]](repeating: [], count: settings.count)
    let original = OpenBLAS.threads
    defer { OpenBLAS.threads = original }
    for (index, input) in inputs.enumerated() {
        for (k, (process, own)) in settings.enumerated() {
            OpenBLAS.threads = process
            analyzer.threads = own
            let start = Date()
            _ = try analyzer.eigenvalues(at: input)
            if index > 0 { times[k].append(Date().timeIntervalSince(start) * 1000) }  // input 0 warms up
        }
    }
    return (median(times[0]), median(times[1]), median(times[2]))
}

/// `--stack`: the layer-stack analyzer's eigenvalue route, gesdd on J, against forming the
/// smaller Gram matrix (J Jᵀ for m ≤ n, else Jᵀ J) and its eigvalsh, both after the same J;
/// and the general path against the MLP analyzer's active subnetwork on the same network.
/// Median ms per sample, the process's OpenBLAS setting.
func runStackComparison(samples: Int, pytorchModel: String) throws {
    func median(of body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for index in 0 ... samples {
            let start = Date()
            try body()
            if index > 0 { times.append(Date().timeIntervalSince(start) * 1000) }   // the first warms up
        }
        return times.sorted()[times.count / 2]
    }
    func gram(_ analyzer: LayerStackSpectrumAnalyzer<Double>, _ x: Tensor<Double>) throws -> [Double] {
        let j = try analyzer.jacobian(at: x)
        let g = j.shape[0] <= j.shape[1] ? matmul(j, j, transposeB: true) : matmul(j, j, transposeA: true)
        return try eigvalsh(g).scalars.reversed()
    }
    var generator = SeededGenerator(seed: 0)
    print("bench-spectrum --stack: float64, OpenBLAS \(OpenBLAS.coreName), \(OpenBLAS.threads) threads; ms per sample (median of \(samples))")
    print("| network | J only | gesdd on J (used) | Gram + eigvalsh | MLP analyzer |")
    print("|---|---:|---:|---:|---:|")
    var rows: [(String, LayerStack<Double>, MultilayerPerceptron<Double>?, Tensor<Double>)] = []
    if FileManager.default.fileExists(atPath: pytorchModel) {
        let stack = try LayerStack<Double>(pytorchStateDict: URL(fileURLWithPath: pytorchModel), activation: .relu)
        rows.append(("PyTorch MLP 784-1000-300-10 (J 10 × 784)", stack, nil, .randomUniform([784], in: 0 ..< 1, using: &generator)))
    }
    let network = MultilayerPerceptron<Double>.gaussian(width: 794, layers: 20, sigmaW: 2.0.squareRoot(), activation: .relu, using: &generator)
    rows.append(("Gaussian ReLU 794 × 20 (J 794 × 794)", LayerStack(network), network, .randomNormal([794], standardDeviation: 0.5.squareRoot(), using: &generator)))
    for (name, stack, network, x) in rows {
        let analyzer = LayerStackSpectrumAnalyzer(stack: stack)
        let jacobian = try median { _ = try analyzer.jacobian(at: x) }
        let svd = try median { _ = try analyzer.eigenvalues(at: x) }
        let eigh = try median { _ = try gram(analyzer, x) }
        let mlp = try network.map { n in let a = JacobianSpectrumAnalyzer(network: n); return try median { _ = try a.eigenvalues(at: x) } }
        let difference = zip(try analyzer.eigenvalues(at: x), try gram(analyzer, x)).map { abs($0 - $1) }.max() ?? 0
        func ms(_ x: Double?) -> String { x.map { String(format: "%.2f", $0) } ?? "–" }
        print("| \(name) | \(ms(jacobian)) | \(ms(svd)) | \(ms(eigh)) | \(ms(mlp)) |")
        FileHandle.standardError.write(Data("  \(name): largest |gesdd − Gram| eigenvalue difference \(difference)\n".utf8))
    }
}

/// `--thread-scan`: the table behind `JacobianSpectrumAnalyzer.singleThreadWidthLimit`.
func runThreadScan(samples: Int, layers: Int, widths: [Int]) throws {
    print("bench-spectrum --thread-scan: float64, OpenBLAS \(OpenBLAS.coreName), L = \(layers), ms per sample (median of \(samples)), inputs at the fixed point")
    print("| N | Gaussian ReLU: 1 thread | 1 (analyzer switches) | 2 threads | orthogonal hard-tanh: 1 thread | 1 (analyzer switches) | 2 threads |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for width in widths {
        FileHandle.standardError.write(Data("  N = \(width)\n".utf8))
        let relu = try timeThreads(initialization: "gaussian", activation: .relu, sigmaW: 2.0.squareRoot(), width: width, layers: layers, samples: samples)
        let hard = try timeThreads(initialization: "orthogonal", activation: .hardTanh, sigmaW: 1.186661.squareRoot(), width: width, layers: layers, samples: samples)
        func ms(_ x: Double) -> String { String(format: x < 10 ? "%.2f" : "%.1f", x) }
        print("| \(width) | \(ms(relu.one)) | \(ms(relu.oneByAnalyzer)) | \(ms(relu.two)) | \(ms(hard.one)) | \(ms(hard.oneByAnalyzer)) | \(ms(hard.two)) |")
    }
}

@main
struct BenchSpectrum: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-spectrum",
        abstract: "Jacobian-spectrum time per sample (float64) against numpy and JAX, side by side.")

    @Option(help: "Samples timed per case (median).") var samples = 7
    @Option(help: "Peer runs per case (median of their ms/sample).") var peerRuns = 3
    @Option(help: "Samples per peer run.") var peerSamples = 3
    @Option(help: "Python with numpy, scipy (and jax).") var python = FileManager.default.fileExists(atPath: NSHomeDirectory() + "/.venv-peers/bin/python")
        ? NSHomeDirectory() + "/.venv-peers/bin/python" : "/usr/bin/env"
    @Option(help: "The peer script.") var script = "Benchmarks/Peers/spectrum_ref.py"
    @Flag(help: "Skip the JAX peer.") var noJax = false
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "OpenBLAS threads.") var threads: Int?
    @Flag(help: "Instead of the peer comparison: time per sample at N = 50 … 800 with 1 and 2 OpenBLAS threads.") var threadScan = false
    @Option(help: "Layers for --thread-scan.") var scanLayers = 12
    @Option(parsing: .upToNextOption, help: "Widths for --thread-scan.") var scanWidths = [50, 100, 200, 400, 800]
    @Flag(help: "Instead of the peer comparison: the layer-stack analyzer's gesdd on J against Gram + eigvalsh, and against the MLP analyzer.") var stack = false
    @Option(help: "The PyTorch state dict for --stack.") var pytorchModel = "Tests/Fixtures/PyTorchMLP/model.safetensors"
    @Flag(help: "Instead of the peer comparison: the Lanczos (SLQ) spectrum against Isometry's and numpy's dense routes, float32, each in its own process.") var lanczos = false
    @Option(parsing: .upToNextOption, help: "Widths for --lanczos.") var lanczosWidths = [10_000]
    @Option(parsing: .upToNextOption, help: "Depths for --lanczos.") var lanczosLayers = [10]
    @Option(help: "Rounds for --lanczos (median).") var rounds = 3
    @Option(help: "Lanczos steps.") var steps = 40
    @Option(help: "Lanczos probes.") var probes = 16
    @Flag(help: "--lanczos without Isometry's dense route.") var noDense = false
    @Flag(help: "--lanczos without numpy.") var noNumpy = false
    @Flag(help: "--lanczos: also the SLQ with every product cut into two slices on the two cores (single-threaded BLAS each), as its own contender.") var sliced = false
    @Flag(help: "--lanczos: also the SLQ with its products through BLAS (sgemm) instead of the streaming kernels, as its own contender.") var blasProducts = false
    @Flag(help: "Instead of the peer comparison: the machine's memory bandwidth, sgemm rates at the Lanczos and dense shapes, and LAPACK rates (docs/benchmarks.md, \"The 5× bar\").") var machineRates = false
    @Option(help: "The weight width for --machine-rates' Lanczos-shape sgemm.") var ratesWidth = 5000
    @Option(help: "Internal: run one --lanczos contender (lanczos or dense) in this process.") var lanczosWorker: String?
    @Option(help: "Internal: the worker's width.") var lanczosWidth = 10_000
    @Option(help: "Internal: the worker's depth.") var lanczosLayersWorker = 10
    @Option(help: "Internal: the worker's report file.") var workerOutput = "/dev/null"

    func run() throws {
        if let lanczosWorker {
            return try runLanczosWorker(method: lanczosWorker, width: lanczosWidth, layers: lanczosLayersWorker,
                                        steps: steps, probes: probes, output: workerOutput)
        }
        if machineRates { return try runMachineRates(width: ratesWidth) }
        if lanczos {
            printLanczosHeader(steps: steps, probes: probes, rounds: rounds)
            for width in lanczosWidths {
                for layers in lanczosLayers {
                    try runLanczosComparison(width: width, layers: layers, steps: steps, probes: probes, rounds: rounds,
                                             dense: !noDense, numpy: !noNumpy, sliced: sliced, blas: blasProducts, python: python, script: script)
                }
            }
            return
        }
        if threadScan { return try runThreadScan(samples: samples, layers: scanLayers, widths: scanWidths) }
        if stack { return try runStackComparison(samples: samples, pytorchModel: pytorchModel) }
        if let threads { OpenBLAS.threads = threads }
        let peerAvailable = FileManager.default.fileExists(atPath: script)
        var results: [Result] = []
        for c in cases {
            FileHandle.standardError.write(Data("  \(c.name): isometry\n".utf8))
            let ours = try timeIsometry(c, samples: samples, skipInactive: true)
            let dense = c.initialization == "identity" ? nil : try timeIsometry(c, samples: max(3, samples / 2), skipInactive: false)
            var result = Result(name: c.name, isometryMilliseconds: ours, isometryDenseMilliseconds: dense, bar: c.bar)
            if peerAvailable {
                FileHandle.standardError.write(Data("  \(c.name): numpy\n".utf8))
                result.numpyMilliseconds = timePeer(c, engine: "numpy", python: python, script: script, samples: peerSamples, runs: peerRuns)
                if !noJax {
                    FileHandle.standardError.write(Data("  \(c.name): jax\n".utf8))
                    result.jaxMilliseconds = timePeer(c, engine: "jax", python: python, script: script, samples: peerSamples, runs: peerRuns)
                }
            }
            result.speedupOverNumpy = result.numpyMilliseconds.map { $0 / ours }
            result.speedupOverJax = result.jaxMilliseconds.map { $0 / ours }
            if c.bar > 0 { result.meetsBar = result.speedupOverNumpy.map { $0 >= c.bar } }
            results.append(result)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
            return
        }
        func ms(_ x: Double?) -> String { x.map { String(format: "%.1f", $0) } ?? "–" }
        func times(_ x: Double?) -> String { x.map { String(format: "%.2f×", $0) } ?? "–" }
        print("bench-spectrum: float64, OpenBLAS \(OpenBLAS.coreName), \(OpenBLAS.threads) threads; ms per sample, medians")
        print("| case | Isometry | Isometry dense | numpy | JAX | vs numpy | vs JAX | bar |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for r in results {
            let bar = r.bar > 0 ? "≥ \(r.bar)× numpy: \(r.meetsBar.map { $0 ? "met" : "NOT met" } ?? "no peer")" : "–"
            print("| \(r.name) | \(ms(r.isometryMilliseconds)) | \(ms(r.isometryDenseMilliseconds)) | \(ms(r.numpyMilliseconds)) | \(ms(r.jaxMilliseconds)) | \(times(r.speedupOverNumpy)) | \(times(r.speedupOverJax)) | \(bar) |")
        }
    }
}

// MARK: - --lanczos
// bench-spectrum --lanczos: the SLQ spectrum of a wide Gaussian ReLU network (float32 weights)
// against Isometry's dense route (the MLP analyzer's active subnetwork, gesdd) and numpy's dense
// route (J formed by full products, eigvalsh of J Jᵀ), each contender in its own process,
// in alternating rounds; and the accuracy of the SLQ estimate against the dense eigenvalues of
// the same network (same seed, so the same weights and input).


/// What one worker process reports.
struct LanczosWorkerReport: Codable {
    var method: String
    var width: Int
    var layers: Int
    /// The timed part: the spectrum at one input, the network already built (wall clock).
    var seconds: Double
    /// The same part in CPU seconds of the process (all threads): on a machine shared with
    /// other jobs, the figure load inflates least.
    var cpuSeconds: Double = 0
    /// Building the network and the input (not timed against the peers).
    var setupSeconds: Double
    /// Peak resident memory of the process (VmHWM).
    var peakBytes: Int
    var eigenvalues: [Double]?
    var lanczos: LanczosSpectrum?
}

/// CPU seconds of this process so far, all threads.
func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Peak resident set size of this process, from /proc/self/status (0 where it is missing).
func peakResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kilobytes * 1024
}

/// One contender in this process: builds the seeded Gaussian ReLU network (σ_w² = 2, χ = 1) in
/// float32 and its fixed-point input, times one spectrum, writes the report as JSON to `output`.
func runLanczosWorker(method: String, width: Int, layers: Int, steps: Int, probes: Int, output: String) throws {
    let setupStart = Date()
    var generator = SeededGenerator(seed: 0)
    let sigmaW = 2.0.squareRoot()
    let network = MultilayerPerceptron<Float>.gaussian(width: width, layers: layers, sigmaW: sigmaW, activation: .relu, using: &generator)
    let input = try MeanField.fixedPointInputs(activation: .relu, sigmaW: sigmaW, width: width, count: 1, start: 0.5,
                                               as: Float.self, using: &generator)[0]
    let setup = Date().timeIntervalSince(setupStart)
    var report = LanczosWorkerReport(method: method, width: width, layers: layers, seconds: 0, setupSeconds: setup, peakBytes: 0)
    switch method {
    case "lanczos", "sliced", "blas":
        let slq = try StochasticLanczosQuadrature(stack: LayerStack(network), steps: steps, probes: probes, seed: 1)
        if method == "sliced" { slq.parallelSlices = 2; slq.streamsWeights = false }
        if method == "blas" { slq.streamsWeights = false }
        let (start, cpu) = (Date(), processCPUSeconds())
        report.lanczos = try slq.spectrum(at: input)
        report.seconds = Date().timeIntervalSince(start)
        report.cpuSeconds = processCPUSeconds() - cpu
    case "dense":
        let analyzer = JacobianSpectrumAnalyzer(network: network, threads: OpenBLAS.threads)
        let (start, cpu) = (Date(), processCPUSeconds())
        report.eigenvalues = try analyzer.eigenvalues(at: input)
        report.seconds = Date().timeIntervalSince(start)
        report.cpuSeconds = processCPUSeconds() - cpu
    default:
        throw BenchmarkError("--lanczos-worker: unknown method \(method) (expected lanczos, sliced, blas or dense)")
    }
    report.peakBytes = peakResidentBytes()
    try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: output))
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The side-by-side comparison at one (N, L): `rounds` rounds, each running every contender
/// once in its own process, the order rotated per round; medians of the timed parts.
func runLanczosComparison(
    width: Int, layers: Int, steps: Int, probes: Int, rounds: Int, dense: Bool, numpy: Bool, sliced: Bool = false, blas: Bool = false,
    python: String, script: String
) throws {
    let executable = CommandLine.arguments[0]
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-lanczos-\(ProcessInfo.processInfo.processIdentifier)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    var contenders = ["lanczos"]
    if sliced { contenders.append("sliced") }
    if blas { contenders.append("blas") }
    if dense { contenders.append("dense") }
    if numpy { contenders.append("numpy") }
    var times: [String: [Double]] = [:]
    var cpuTimes: [String: [Double]] = [:]
    var peaks: [String: Int] = [:]
    var reports: [String: LanczosWorkerReport] = [:]
    for round in 0 ..< rounds {
        let order = (0 ..< contenders.count).map { contenders[($0 + round) % contenders.count] }
        for name in order {
            FileHandle.standardError.write(Data("  round \(round + 1): \(name) N = \(width), L = \(layers)\n".utf8))
            if name == "numpy" {
                let (status, data, last) = try runCapturingOutput(python, [
                    script, "--engine", "numpy", "--method", "eigvalsh", "--init", "gaussian", "--act", "relu",
                    "--sigma", "\(2.0.squareRoot())", "--n", "\(width)", "--layers", "\(layers)", "--q0", "0.5",
                    "--samples", "1", "--warmup", "0", "--dtype", "float32"])
                let text = String(decoding: data, as: UTF8.self)
                guard status == 0, let range = text.range(of: #"([0-9.]+) ms/sample"#, options: .regularExpression),
                      let ms = Double(text[range].split(separator: " ")[0]) else {
                    throw BenchmarkError("numpy peer failed (\(status)): \(last)")
                }
                times[name, default: []].append(ms / 1000)
                if let range = text.range(of: #"cpu ([0-9.]+) s/sample"#, options: .regularExpression),
                   let cpu = Double(text[range].split(separator: " ")[1]) { cpuTimes[name, default: []].append(cpu) }
                if let range = text.range(of: #"peak ([0-9]+) bytes"#, options: .regularExpression),
                   let bytes = Int(text[range].split(separator: " ")[1]) { peaks[name] = max(peaks[name] ?? 0, bytes) }
                // Each contender's figures as it finishes: a run stopped before its last round keeps them.
                FileHandle.standardError.write(Data("    numpy: \(ms / 1000) s (cpu \(cpuTimes[name]?.last ?? .nan)), peak \(peaks[name] ?? 0) bytes\n".utf8))
                continue
            }
            let file = folder.appendingPathComponent("\(name).json").path
            let (status, _, last) = try runCapturingOutput(executable, [
                "--lanczos-worker", name, "--lanczos-width", "\(width)", "--lanczos-layers-worker", "\(layers)",
                "--steps", "\(steps)", "--probes", "\(probes)", "--worker-output", file])
            guard status == 0 else { throw BenchmarkError("\(name) worker failed (\(status)): \(last)") }
            let report = try JSONDecoder().decode(LanczosWorkerReport.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
            times[name, default: []].append(report.seconds)
            cpuTimes[name, default: []].append(report.cpuSeconds)
            FileHandle.standardError.write(Data("    \(name): \(report.seconds) s (cpu \(report.cpuSeconds)), peak \(report.peakBytes) bytes, build \(report.setupSeconds) s\n".utf8))
            peaks[name] = max(peaks[name] ?? 0, report.peakBytes)
            if reports[name] == nil { reports[name] = report }
        }
    }
    func median(_ x: [Double]) -> Double { let s = x.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
    func seconds(_ name: String) -> String {
        guard let wall = times[name] else { return "–" }
        return String(format: "%.1f", median(wall)) + (cpuTimes[name].map { String(format: " (cpu %.1f)", median($0)) } ?? "")
    }
    func ratio(_ name: String) -> String {
        guard let other = times[name], let ours = times["lanczos"] else { return "–" }
        let wall = String(format: "%.1f×", median(other) / median(ours))
        guard let otherCPU = cpuTimes[name], let oursCPU = cpuTimes["lanczos"] else { return wall }
        return wall + String(format: " (cpu %.1f×)", median(otherCPU) / median(oursCPU))
    }
    func gigabytes(_ name: String) -> String { peaks[name].map { String(format: "%.1f", Double($0) / 1e9) } ?? "–" }
    var accuracy = "–"
    if let estimate = reports["lanczos"]?.lanczos, let values = reports["dense"]?.eigenvalues {
        let rank = values.count - estimate.zeroCount
        let (w1, ks) = estimate.distances(toEigenvalues: Array(values[0 ..< rank]))
        let top = values[0]
        let denseZeros = values.filter { $0 <= 1e-9 * top }.count
        accuracy = String(format: "W1 %.1e·λ_max, KS %.4f, λ_max %+.2e rel., zeros %d (dense below 1e-9·λ_max: %d)",
                          w1 / top, ks, estimate.largestEigenvalue / top - 1, estimate.zeroCount, denseZeros)
    }
    let setup = reports["lanczos"].map { String(format: "%.0f", $0.setupSeconds) } ?? "–"
    // The Lanczos variants beside the default (streaming kernels where the CPU has them):
    // sliced BLAS products, whole BLAS products; same estimate up to the order of the sums.
    for (variant, label) in [("sliced", "2 slices × 1-thread BLAS"), ("blas", "sgemm products")] {
        guard let estimate = reports[variant]?.lanczos, let plain = reports["lanczos"]?.lanczos else { continue }
        let dense = times["dense"].map { String(format: ", dense / \(variant) %.1f×", median($0) / median(times[variant] ?? [1])) } ?? ""
        let gap = zip(estimate.nonZeroNodes, plain.nonZeroNodes).map { abs($0 - $1) / max(plain.largestEigenvalue, 1e-300) }.max() ?? 0
        FileHandle.standardError.write(Data(("  \(variant) (\(label)): \(seconds(variant)) s, \(variant) / default "
            + String(format: "%.2f×", median(times[variant] ?? [0]) / median(times["lanczos"] ?? [1])) + dense
            + String(format: "; largest node difference from the default run %.1e·λ_max\n", gap)).utf8))
        print("| \(width) | \(layers) | \(variant): \(seconds(variant)) | \(seconds("dense")) | – | "
            + (times["dense"].map { String(format: "%.1f×", median($0) / median(times[variant] ?? [1])) } ?? "–")
            + " | – | \(gigabytes(variant)) | nodes within \(String(format: "%.0e", gap))·λ_max of the default run's | – |")
    }
    print("| \(width) | \(layers) | \(seconds("lanczos")) | \(seconds("dense")) | \(seconds("numpy")) | \(ratio("dense")) | \(ratio("numpy")) | \(gigabytes("lanczos")) / \(gigabytes("dense")) / \(gigabytes("numpy")) | \(accuracy) | \(setup) |")
    fflush(nil)  // the row reaches a redirected stdout now, not at exit: a stopped run keeps it
}

func printLanczosHeader(steps: Int, probes: Int, rounds: Int) {
    print("bench-spectrum --lanczos: Gaussian ReLU σ_w² = 2 (χ = 1), float32 weights, input at the fixed point; OpenBLAS \(OpenBLAS.coreName), \(OpenBLAS.threads) threads; SLQ \(steps) steps × \(probes) probes; seconds for one spectrum (wall, and in brackets CPU seconds of the process, all threads), median of \(rounds) rounds, each contender in its own process")
    print("| N | L | Lanczos (s) | Isometry dense (s) | numpy dense (s) | dense / Lanczos | numpy / Lanczos | peak RSS GB (Lanczos / dense / numpy) | Lanczos vs dense | network build (s, untimed) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---|---:|")
}
