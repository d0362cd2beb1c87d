// bench-gemm: GEMM throughput of the tensor API against raw OpenBLAS, side by side.
//
// Every row times three ways of computing the same product on the same operands:
// raw `cblas_?gemm` on plain buffers, `matmul(_:_:into:)` into a preallocated tensor, and
// the allocating `matmul(_:_:)`. Calls alternate between the three so machine noise hits
// them alike; GFLOP/s are medians over calls and ratios are medians over adjacent pairs.

import ArgumentParser
import BenchmarkSupport
import CBLAS
import Foundation
@_spi(RawBLAS) import TensorAlgebra

struct Shape: Sendable {
    let label: String
    let m: Int, n: Int, k: Int
    let transposeA: Bool, transposeB: Bool
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    var transposes: String { (transposeA ? "T" : "N") + (transposeB ? "T" : "N") }
}

struct Row: Encodable {
    let precision: String
    let label: String
    let m: Int, n: Int, k: Int
    let transposes: String
    let rawGflops: Double
    let inPlaceGflops: Double
    let allocatingGflops: Double
    /// Median over adjacent call pairs of raw time / tensor time (above 1: the tensor is faster).
    let inPlaceRatio: Double
    let allocatingRatio: Double
    let samples: Int
    var percentOfPeak: Double = 0

    enum CodingKeys: String, CodingKey {
        case precision, label, m, n, k, transposes, rawGflops, inPlaceGflops, allocatingGflops
        case inPlaceRatio, allocatingRatio, samples, percentOfPeak
    }
}

func shapes(maxSize: Int) -> [Shape] {
    var result = [64, 128, 256, 512, 1024, 2048].filter { $0 <= maxSize }.map {
        Shape(label: "square \($0)", m: $0, n: $0, k: $0, transposeA: false, transposeB: false)
    }
    // The trainer's shapes: a batch of 128 through a 794-wide layer (784 pixels + 10 classes).
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        result.append(Shape(label: "batch 128×794·794×794", m: 128, n: 794, k: 794, transposeA: ta, transposeB: tb))
    }
    // The weight gradient: δᵀ·x sums over the batch (k = 128).
    result.append(Shape(label: "weight grad 794×128·128×794", m: 794, n: 794, k: 128, transposeA: true, transposeB: false))
    return result
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}


/// Times the three methods on one shape: GFLOP/s medians and the medians of paired ratios.
func measure<S: BLASScalar>(
    _ shape: Shape, _: S.Type, secondsPerRow: Double, minSamples: Int, maxSamples: Int
) -> Measurement {
    var generator = SeededGenerator(seed: 1)
    let aShape = shape.transposeA ? [shape.k, shape.m] : [shape.m, shape.k]
    let bShape = shape.transposeB ? [shape.n, shape.k] : [shape.k, shape.n]
    let a = Tensor<S>.randomNormal(aShape, using: &generator)
    let b = Tensor<S>.randomNormal(bShape, using: &generator)
    var c = Tensor<S>.zeros([shape.m, shape.n])
    let methods: [() -> Void] = [
        rawGEMM(shape, a: a.scalars, b: b.scalars),
        { matmul(a, b, transposeA: shape.transposeA, transposeB: shape.transposeB, into: &c) },
        { blackHole(matmul(a, b, transposeA: shape.transposeA, transposeB: shape.transposeB)) },
    ]
    // Warm up (threads spun up, pages touched), then size the run from one call's time.
    for method in methods { method() }
    let t0 = now()
    methods[0]()
    let single = max(now() - t0, 1e-7)
    let samples = min(maxSamples, max(minSamples, Int(secondsPerRow / (3 * single))))

    // Calls alternate between the methods, in a rotating order, so a noisy neighbour slows
    // all three alike; each ratio is taken between adjacent calls, then the median is kept.
    var seconds = [[Double]](repeating: [], count: methods.count)
    for sample in 0 ..< samples {
        for offset in 0 ..< methods.count {
            let index = (sample + offset) % methods.count
            let start = now()
            methods[index]()
            seconds[index].append(now() - start)
        }
    }
    let gflops = seconds.map { shape.flops / median($0) / 1e9 }
    let inPlaceRatio = median(zip(seconds[0], seconds[1]).map { $0 / $1 })
    let allocatingRatio = median(zip(seconds[0], seconds[2]).map { $0 / $1 })
    return Measurement(raw: gflops[0], inPlace: gflops[1], allocating: gflops[2],
                       inPlaceRatio: inPlaceRatio, allocatingRatio: allocatingRatio, samples: samples)
}

struct Measurement {
    let raw: Double, inPlace: Double, allocating: Double
    let inPlaceRatio: Double, allocatingRatio: Double
    let samples: Int
}

@inline(never) func blackHole<T>(_ value: T) { _ = value }

/// The raw call: `cblas_?gemm` on plain buffers allocated here, with nothing in between.
func rawGEMM<S: BLASScalar>(_ shape: Shape, a: [S], b: [S]) -> () -> Void {
    let ta = shape.transposeA ? CblasTrans : CblasNoTrans
    let tb = shape.transposeB ? CblasTrans : CblasNoTrans
    let (m, n, k) = (Int32(shape.m), Int32(shape.n), Int32(shape.k))
    let lda = shape.transposeA ? m : k
    let ldb = shape.transposeB ? k : n
    func buffer<T>(_ values: [S], _: T.Type) -> UnsafeMutablePointer<T> {
        // 64-byte aligned like tensor storage: malloc's 16-byte alignment alone costs
        // OpenBLAS up to 10 % on small products, which would flatter the tensor API.
        let count = max(values.count, shape.m * shape.n)
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<T>.stride, alignment: 64)
            .bindMemory(to: T.self, capacity: count)
        values.withUnsafeBytes { UnsafeMutableRawPointer(pointer).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return pointer  // lives for the whole benchmark process
    }
    if S.self == Float.self {
        let (pa, pb, pc) = (buffer(a, Float.self), buffer(b, Float.self), buffer([], Float.self))
        return { cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1, pa, lda, pb, ldb, 0, pc, n) }
    }
    let (pa, pb, pc) = (buffer(a, Double.self), buffer(b, Double.self), buffer([], Double.self))
    return { cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1, pa, lda, pb, ldb, 0, pc, n) }
}

enum Precision: String, ExpressibleByArgument, CaseIterable {
    case float, double, both
}

@main
struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-gemm",
        abstract: "GEMM GFLOP/s of the tensor API against raw OpenBLAS (medians over alternating calls).")

    @Flag(help: "Instead of the table: the trainer's shapes with OpenBLAS's own 2 threads against ParallelGEMM's row split (2 workers, single-threaded BLAS).")
    var rowSplit = false

    @Flag(help: "Instead of the table: the three products of a training step (ten 794² weights, batch 128) against PyTorch (MKL) and numpy, in alternating rounds.")
    var stepProducts = false

    @Flag(name: .customLong("convolution"), help: "Instead of the table: the CNN's convolution and max-pool passes (batch 128) in GFLOP/s beside SGEMM at their shapes and PyTorch's (oneDNN) passes, in alternating rounds.")
    var convolutionPasses = false

    @Option(help: "With --convolution: samples per GEMM to measure, comma-separated (1: one product per sample).")
    var samplesPerProduct = "1,8,32,128"

    /// For development on a loaded machine: Isometry's passes timed on the thread's CPU clock.
    @Flag(help: .hidden) var threadCPUClock = false
    /// For development: Isometry's side only.
    @Flag(help: .hidden) var noPeer = false

    @Option(help: "With --convolution: the peer script.")
    var convolutionScript = "Benchmarks/Peers/torch_cnn_layers.py"

    @Option(help: "With --step-products or --convolution: alternating rounds.")
    var rounds = 3

    @Option(help: "With --step-products or --convolution: Python with torch and numpy.")
    var python = NSHomeDirectory() + "/.venv-peers/bin/python"

    @Option(help: "With --step-products: the peer script.")
    var script = "Benchmarks/Peers/step_products.py"

    @Flag(help: "Print the rows as JSON instead of a table.")
    var json = false

    @Option(help: "OpenBLAS threads (default: OpenBLAS's own choice).")
    var threads: Int?

    @Option(help: "Target seconds of timed calls per row (all three methods together).")
    var secondsPerRow = 1.5

    @Option(help: "Largest square size (64 to 2048).")
    var maxSize = 2048

    @Option(help: "float, double or both.")
    var precision: Precision = .both

    func validate() throws {
        if let threads, threads < 1 || threads > 256 {
            throw ValidationError("--threads must be between 1 and 256, got \(threads)")
        }
        if !(secondsPerRow > 0 && secondsPerRow <= 600) {
            throw ValidationError("--seconds-per-row must be in (0, 600], got \(secondsPerRow)")
        }
        if rounds < 1 || rounds > 100 { throw ValidationError("--rounds must be between 1 and 100, got \(rounds)") }
        if maxSize < 64 || maxSize > 8192 { throw ValidationError("--max-size must be between 64 and 8192, got \(maxSize)") }
    }

    func run() throws {
        if rowSplit { return compareRowSplit() }
        if stepProducts { return try compareStepProducts() }
        if convolutionPasses { return try compareConvolutions() }
        if let threads { OpenBLAS.threads = threads }
        let precisions: [String] = precision == .both ? ["float", "double"] : [precision.rawValue]
        var rows: [Row] = []
        if !json {
            print("bench-gemm: OpenBLAS \(OpenBLAS.coreName) kernels\(OpenBLAS.repairedCoreSelection ? " (repaired from Prescott)" : ""), \(OpenBLAS.threads) threads; calls alternate between the three methods")
            print(legend())
        }
        for name in precisions {
            var block: [Row] = []
            let all = shapes(maxSize: maxSize)
            for (done, shape) in all.enumerated() {
                let result = name == "float"
                    ? measure(shape, Float.self, secondsPerRow: secondsPerRow, minSamples: 15, maxSamples: 2000)
                    : measure(shape, Double.self, secondsPerRow: secondsPerRow, minSamples: 15, maxSamples: 2000)
                block.append(Row(precision: name, label: shape.label, m: shape.m, n: shape.n, k: shape.k,
                                 transposes: shape.transposes, rawGflops: result.raw, inPlaceGflops: result.inPlace,
                                 allocatingGflops: result.allocating, inPlaceRatio: result.inPlaceRatio,
                                 allocatingRatio: result.allocatingRatio, samples: result.samples))
                // Progress on one line of standard error (cleared before the table), not a line per row.
                if !json && isatty(2) != 0 {
                    FileHandle.standardError.write(Data("\r\u{1B}[Kmeasuring \(name) \(done + 1)/\(all.count): \(shape.label) \(shape.transposes)".utf8))
                }
            }
            if !json && isatty(2) != 0 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            // The peak is the best raw figure of this precision in this run.
            let peak = block.map(\.rawGflops).max() ?? 1
            for index in block.indices { block[index].percentOfPeak = 100 * block[index].inPlaceGflops / peak }
            if !json {
                print(header())
                for row in block { print(format(row)) }
                print("  peak \(name): \(String(format: "%.1f", peak)) GFLOP/s (best raw OpenBLAS figure of this run)")
            }
            rows += block
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
        }
    }

    /// Float, the three GEMMs of a training step: medians over alternating calls.
    func compareRowSplit() {
        let cases = [
            ("forward  h = x·Wᵀ   128×794·794×794ᵀ", Shape(label: "", m: 128, n: 794, k: 794, transposeA: false, transposeB: true)),
            ("gradient ∂W = δᵀ·x  794×128·128×794", Shape(label: "", m: 794, n: 794, k: 128, transposeA: true, transposeB: false)),
            ("backward δ·W        128×794·794×794", Shape(label: "", m: 128, n: 794, k: 794, transposeA: false, transposeB: false)),
        ]
        print("bench-gemm --row-split: float, OpenBLAS \(OpenBLAS.coreName); medians over calls in alternating blocks")
        print("| product | OpenBLAS, 2 threads | row split, 2 workers | split / OpenBLAS |")
        print("|---|---:|---:|---:|")
        for (name, shape) in cases {
            var generator = SeededGenerator(seed: 1)
            let a = Tensor<Float>.randomNormal(shape.transposeA ? [shape.k, shape.m] : [shape.m, shape.k], using: &generator)
            let b = Tensor<Float>.randomNormal(shape.transposeB ? [shape.n, shape.k] : [shape.k, shape.n], using: &generator)
            var c = Tensor<Float>.zeros([shape.m, shape.n])
            let (pa, pb, pc) = (a.unsafeReadAddress, b.unsafeReadAddress, c.makeUniqueStorage())
            let lda = shape.transposeA ? shape.m : shape.k, ldb = shape.transposeB ? shape.k : shape.n
            // Blocks rather than single calls alternate: OpenBLAS's idle threads keep spinning for
            // a while after a threaded call and would steal the workers' cores.
            var times: [[Double]] = [[], []]
            for round in 0 ..< 12 {
                let split = round % 2 == 1
                OpenBLAS.threads = split ? 1 : 2
                usleep(50_000)
                for call in 0 ..< 120 {
                    let start = now()
                    if split {
                        ParallelGEMM.gemm(workers: 2, transposeA: shape.transposeA, transposeB: shape.transposeB, m: shape.m, n: shape.n, k: shape.k,
                                          alpha: 1, a: pa, lda: lda, b: pb, ldb: ldb, beta: 0, c: pc, ldc: shape.n)
                    } else {
                        Float.gemm(transposeA: shape.transposeA, transposeB: shape.transposeB, m: shape.m, n: shape.n, k: shape.k,
                                   alpha: 1, a: pa, lda: lda, b: pb, ldb: ldb, beta: 0, c: pc, ldc: shape.n)
                    }
                    if call >= 20 { times[split ? 1 : 0].append(now() - start) }
                }
            }
            let (blas, split) = (shape.flops / median(times[0]) / 1e9, shape.flops / median(times[1]) / 1e9)
            print(String(format: "| %@ | %.1f GFLOP/s | %.1f GFLOP/s | %.2f× |", name, blas, split, split / blas))
        }
        OpenBLAS.threads = 2
    }

    /// GFLOP/s of the step's products on OpenBLAS with 2 threads, as the trainer calls them:
    /// ten different weight matrices in turn, so each product finds its W out of the core's cache.
    func stepProductRates(blocks: Int = 15) -> [String: Double] {
        let (batch, width, layers) = (128, 794, 10)
        var generator = SeededGenerator(seed: 0)
        let x = Tensor<Float>.randomUniform([batch, width], using: &generator)
        let delta = Tensor<Float>.randomNormal([batch, width], using: &generator)
        var weights = (0 ..< layers).map { _ in Tensor<Float>.randomNormal([width, width], using: &generator) }
        var output = Tensor<Float>.zeros([batch, width])
        let (px, pd, pc) = (x.unsafeReadAddress, delta.unsafeReadAddress, output.makeUniqueStorage())
        let pw = weights.indices.map { weights[$0].makeUniqueStorage() }
        let products: [(String, () -> Void)] = [
            ("forward", { for w in pw { Float.gemm(transposeA: false, transposeB: true, m: batch, n: width, k: width, alpha: 1, a: px, lda: width, b: w, ldb: width, beta: 0, c: pc, ldc: width) } }),
            ("backward", { for w in pw { Float.gemm(transposeA: false, transposeB: false, m: batch, n: width, k: width, alpha: 1, a: pd, lda: width, b: w, ldb: width, beta: 0, c: pc, ldc: width) } }),
            // W ← W − η·δᵀx: the trainer's SGD-fused weight update.
            ("gradient", { for w in pw { Float.gemm(transposeA: true, transposeB: false, m: width, n: width, k: batch, alpha: -1e-6, a: pd, lda: width, b: px, ldb: width, beta: 1, c: w, ldc: width) } }),
        ]
        let flops = 2 * Double(batch * width * width * layers)
        var rates: [String: Double] = [:]
        for (name, run) in products {
            run()
            var times: [Double] = []
            for _ in 0 ..< blocks {
                let start = now()
                run()
                times.append(now() - start)
            }
            rates[name] = flops / median(times) / 1e9
        }
        withExtendedLifetime((x, delta, weights, output)) {}
        return rates
    }

    /// The step's products on Isometry's OpenBLAS, PyTorch and numpy; one process each, rounds
    /// alternating, medians over rounds.
    func compareStepProducts() throws {
        OpenBLAS.threads = 2
        var rates: [String: [String: [Double]]] = [:]
        // openblas_get_config() begins "OpenBLAS 0.3.21 …": keep the name and version.
        let version = String(cString: openblas_get_config()).split(separator: " ").prefix(2).joined(separator: " ")
        var names = ["isometry": "Isometry, \(version) (\(OpenBLAS.coreName) kernels)"]
        for round in 1 ... rounds {
            FileHandle.standardError.write(Data("round \(round)/\(rounds)\n".utf8))
            for (name, rate) in stepProductRates() { rates["isometry", default: [:]][name, default: []].append(rate) }
            // Let OpenBLAS's threads stop spinning before the peer takes the cores.
            usleep(200_000)
            for library in ["torch", "numpy"] {
                let (status, output, lastErrorLine) = try runCapturingOutput(python, [script, "--library", library, "--threads", "2"])
                guard status == 0, let peer = (try? JSONSerialization.jsonObject(with: output)) as? [String: Any] else {
                    FileHandle.standardError.write(Data("bench-gemm: \(script) --library \(library) failed (exit \(status))\(lastErrorLine.isEmpty ? "" : ": " + lastErrorLine)\n".utf8))
                    continue
                }
                names[library] = peer["library"] as? String ?? library
                for name in ["forward", "backward", "gradient"] {
                    if let rate = peer[name] as? Double { rates[library, default: [:]][name, default: []].append(rate) }
                }
            }
        }
        let rows = [("forward", "forward  h = x·Wᵀ   128×794·794×794ᵀ"), ("backward", "backward δ·W        128×794·794×794"),
                    ("gradient", "update   W −= η·δᵀx 794×128·128×794")]
        let libraries = ["isometry", "torch", "numpy"].filter { rates[$0] != nil }
        print("bench-gemm --step-products: float32, 2 threads, GFLOP/s, medians over \(rounds) alternating rounds (each a median of 15 blocks of 10 products)")
        print("| product | " + libraries.map { names[$0]! }.joined(separator: " | ") + " |")
        print("|---|" + libraries.map { _ in "---:" }.joined(separator: "|") + "|")
        for (key, label) in rows {
            print("| \(label) | " + libraries.map { String(format: "%.0f", median(rates[$0]?[key] ?? [.nan])) }.joined(separator: " | ") + " |")
        }
        // A step does 9 forward, 8 backward and 9 update products (see Backpropagation.swift).
        for library in libraries {
            let r = rates[library]!
            let seconds = [("forward", 9.0), ("backward", 8.0), ("gradient", 9.0)].reduce(0.0) {
                $0 + $1.1 * 2 * 128 * 794 * 794 / (median(r[$1.0] ?? [.nan]) * 1e9)
            }
            print(String(format: "%@: the 26 products of a step at these rates take %.1f ms, %.0f samples/s if nothing else ran", names[library]!, seconds * 1000, 128 / seconds))
        }
    }

    /// What the columns are, printed once above the tables: the rates and the ratios are
    /// different statistics of the same calls, so under load they need not agree.
    func legend() -> String {
        """
          raw, in-place, alloc  GFLOP/s of cblas_?gemm on plain buffers, matmul(_:_:into:) and matmul(_:_:):
                                flops / the median time of that method's own calls
          in/raw, alloc/raw     the median over adjacent call pairs of raw time / tensor time (above 1: the
                                tensor API is faster); each pair shares the machine's load, so these are the
                                comparison, and need not equal the ratio of the rates beside them
          % peak                in-place GFLOP/s / the best raw GFLOP/s of this precision in this run (noise
                                can push it past 100 %)
        """
    }

    func header() -> String {
        [pad("precision", 9), pad("shape", 28), pad("op", 3), pad("raw GF/s", 9), pad("in-place", 9),
         pad("alloc", 9), pad("in/raw", 7), pad("alloc/raw", 9), pad("% peak", 7)].joined(separator: " ")
    }

    func format(_ row: Row) -> String {
        func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
        return [pad(row.precision, 9), pad(row.label, 28), pad(row.transposes, 3), pad(f(row.rawGflops), 9),
                pad(f(row.inPlaceGflops), 9), pad(f(row.allocatingGflops), 9), pad(f(row.inPlaceRatio, 3), 7),
                pad(f(row.allocatingRatio, 3), 9), pad(f(row.percentOfPeak), 7)].joined(separator: " ")
    }

    func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}
