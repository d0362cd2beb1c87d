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

    func run() throws {
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
