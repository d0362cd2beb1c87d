// bench-gemm --convolution: the convolution and max-pool passes of the Fashion-MNIST CNN
// (conv32k3 on [1, 28, 28], conv64k3 on [32, 13, 13], 2×2 max pools, batch 128, float32) in
// GFLOP/s = 2·multiply-adds / time, beside this session's SGEMM rate at the shapes the passes
// reduce to, and PyTorch's (oneDNN's) passes at the same shapes in its own process
// (Benchmarks/Peers/torch_cnn_layers.py), rounds alternating. Isometry runs at several
// samples per GEMM (1: one product per sample), so the batched lowering is measured against
// the per-sample one.

import ArgumentParser
import BenchmarkSupport
import CBLAS
import Dispatch
import Foundation
@_spi(RawBLAS) import TensorAlgebra

struct ConvolutionCase {
    let name: String
    let inputChannels: Int, outputChannels: Int, size: Int
    var geometry: WindowGeometry { try! WindowGeometry(inputSize: [size, size], kernel: [3, 3]) }
    /// Multiply-adds of one pass over one sample (forward, input and weight gradient alike).
    var multiplyAdds: Double { Double(outputChannels * inputChannels * 9 * geometry.outputPlane) }
}

struct PoolCase {
    let name: String
    let channels: Int, size: Int
    var geometry: WindowGeometry { try! WindowGeometry(inputSize: [size, size], kernel: [2, 2], stride: [2, 2]) }
}

let cnnConvolutions = [ConvolutionCase(name: "conv1", inputChannels: 1, outputChannels: 32, size: 28),
                       ConvolutionCase(name: "conv2", inputChannels: 32, outputChannels: 64, size: 13)]
let cnnPools = [PoolCase(name: "pool1", channels: 32, size: 26), PoolCase(name: "pool2", channels: 64, size: 11)]

/// Whether `medianSeconds` reads this thread's CPU clock instead of the wall clock: with one
/// thread on a loaded machine, the time the pass itself ran.
nonisolated(unsafe) var timingByThreadCPUClock = false

func clockSeconds() -> Double {
    guard timingByThreadCPUClock else { return now() }
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Median seconds of `call` over enough calls to fill about `seconds` (at least 15).
func medianSeconds(_ seconds: Double, _ call: () -> Void) -> Double {
    call(); call()
    let start = clockSeconds()
    call()
    let single = max(clockSeconds() - start, 1e-7)
    var times: [Double] = []
    for _ in 0 ..< max(15, min(400, Int(seconds / single))) {
        let t = clockSeconds()
        call()
        times.append(clockSeconds() - t)
    }
    return median(times)
}

/// One shard's operands and results, written by its own thread only.
final class ConvolutionShard: @unchecked Sendable {
    let x: Tensor<Float>, w: Tensor<Float>, b: Tensor<Float>, gy: Tensor<Float>
    var y: Tensor<Float>, dx: Tensor<Float>, dw: Tensor<Float>, db: Tensor<Float>, columns: Tensor<Float>
    var winners: Tensor<Float>

    init(x: Tensor<Float>, w: Tensor<Float>, b: Tensor<Float>, gy: Tensor<Float>, columnsShape: [Int]) {
        (self.x, self.w, self.b, self.gy) = (x, w, b, gy)
        (y, dx, dw, db, winners) = (gy, x, w, b, gy)
        columns = .zeros(columnsShape)
    }
}

/// How Isometry runs a pass: `shards` threads each on its own rows of the batch with
/// single-threaded BLAS (what StackTrainer does with several threads), or the whole batch with
/// BLAS's own threads (`shards` 1), `samples` samples per GEMM.
struct ConvolutionVariant: Hashable {
    let shards: Int, samples: Int
    var label: String {
        shards > 1 ? "Isometry, \(shards) shards × 1 thread, \(samples) sample\(samples == 1 ? "" : "s")/GEMM"
            : "Isometry, whole batch, \(samples) sample\(samples == 1 ? "" : "s")/GEMM"
    }
}

extension BenchGEMM {
    /// One round of Isometry's passes in one variant: seconds per operation.
    func isometryConvolutionRound(batch: Int, variant: ConvolutionVariant, threads: Int, seconds: Double) -> [String: Double] {
        var result: [String: Double] = [:]
        var generator = SeededGenerator(seed: 0)
        let rows = batch / variant.shards
        func run(_ body: @escaping @Sendable (ConvolutionShard) -> Void, on shards: [ConvolutionShard]) -> Double {
            if shards.count == 1 { return medianSeconds(seconds) { body(shards[0]) } }
            return medianSeconds(seconds) { DispatchQueue.concurrentPerform(iterations: shards.count) { body(shards[$0]) } }
        }
        OpenBLAS.threads = variant.shards > 1 ? 1 : threads
        defer { OpenBLAS.threads = threads }
        for c in cnnConvolutions {
            let g = c.geometry
            let w = Tensor<Float>.randomNormal([c.outputChannels, c.inputChannels, 3, 3], using: &generator)
            let b = Tensor<Float>.randomNormal([c.outputChannels], using: &generator)
            let shape = convolutionColumnsShape(inputChannels: c.inputChannels, outputChannels: c.outputChannels, geometry: g, samplesPerProduct: variant.samples)
            let shards = (0 ..< variant.shards).map { _ in
                ConvolutionShard(x: .randomNormal([rows, c.inputChannels, c.size, c.size], using: &generator), w: w, b: b,
                                 gy: .randomNormal([rows, c.outputChannels] + g.outputSize, using: &generator), columnsShape: shape)
            }
            result["\(c.name) forward"] = run({ shard in
                convolution(shard.x, weight: shard.w, bias: shard.b, geometry: g, columns: &shard.columns, into: &shard.y)
            }, on: shards)
            result["\(c.name) input gradient"] = run({ convolutionInputGradient($0.gy, weight: $0.w, geometry: g, columns: &$0.columns, into: &$0.dx) }, on: shards)
            result["\(c.name) weight gradient"] = run({ shard in
                convolutionWeightGradient(input: shard.x, outputGradient: shard.gy, geometry: g, columns: &shard.columns, into: &shard.dw)
                convolutionBiasGradient(shard.gy, into: &shard.db)
            }, on: shards)
        }
        for p in cnnPools {
            let g = p.geometry
            let shards = (0 ..< variant.shards).map { _ in
                ConvolutionShard(x: .randomNormal([rows, p.channels, p.size, p.size], using: &generator), w: .zeros([1]), b: .zeros([1]),
                                 gy: .randomNormal([rows, p.channels] + g.outputSize, using: &generator), columnsShape: [1])
            }
            result["\(p.name) forward"] = run({ maxPool($0.x, geometry: g, into: &$0.y, winners: &$0.winners) }, on: shards)
            result["\(p.name) backward"] = run({ maxPoolGradient($0.gy, winners: $0.winners, geometry: g, into: &$0.dx) }, on: shards)
        }
        return result
    }

    /// SGEMM GFLOP/s at the shapes the passes reduce to, and the square peak: with `threads`
    /// BLAS threads, and the per-sample products on one thread (what each shard runs).
    func convolutionGEMMRates(batch: Int, threads: Int, seconds: Double) -> [(String, Double)] {
        let conv2 = cnnConvolutions[1], plane = conv2.geometry.outputPlane, rows = conv2.inputChannels * 9
        let perSample = [("conv2 forward, one sample: [64, 288]·[288, 121]", Shape(label: "", m: 64, n: plane, k: rows, transposeA: false, transposeB: false)),
                         ("conv2 weight gradient, one sample: [64, 121]·[121, 288]", Shape(label: "", m: 64, n: rows, k: plane, transposeA: false, transposeB: true)),
                         ("conv2 input gradient, one sample: [288, 64]·[64, 121]", Shape(label: "", m: rows, n: plane, k: 64, transposeA: true, transposeB: false))]
        let wholeBatch = [
            ("conv2 forward, whole batch: [64, 288]·[288, 128·121]", Shape(label: "", m: 64, n: batch * plane, k: rows, transposeA: false, transposeB: false)),
            ("conv2 weight gradient, whole batch: [64, 128·121]·[128·121, 288]", Shape(label: "", m: 64, n: rows, k: batch * plane, transposeA: false, transposeB: true)),
            ("conv2 input gradient, whole batch: [288, 64]·[64, 128·121]", Shape(label: "", m: rows, n: batch * plane, k: 64, transposeA: true, transposeB: false)),
            ("square 2048 (the peak)", Shape(label: "", m: 2048, n: 2048, k: 2048, transposeA: false, transposeB: false)),
        ]
        let cases = perSample.map { ($0.0 + ", 1 thread", $0.1, 1) } + (perSample + wholeBatch).map { ($0.0 + ", \(threads) threads", $0.1, threads) }
            + (threads > 1 ? [("square 2048 (the peak), 1 thread", wholeBatch[3].1, 1)] : [])
        var generator = SeededGenerator(seed: 2)
        defer { OpenBLAS.threads = threads }
        return cases.map { name, shape, count in
            OpenBLAS.threads = count
            let a = Tensor<Float>.randomNormal(shape.transposeA ? [shape.k, shape.m] : [shape.m, shape.k], using: &generator)
            let b = Tensor<Float>.randomNormal(shape.transposeB ? [shape.n, shape.k] : [shape.k, shape.n], using: &generator)
            var c = Tensor<Float>.zeros([shape.m, shape.n])
            let (pa, pb, pc) = (a.unsafeReadAddress, b.unsafeReadAddress, c.makeUniqueStorage())
            let (lda, ldb) = (shape.transposeA ? shape.m : shape.k, shape.transposeB ? shape.k : shape.n)
            let time = medianSeconds(seconds) {
                Float.gemm(transposeA: shape.transposeA, transposeB: shape.transposeB, m: shape.m, n: shape.n, k: shape.k,
                           alpha: 1, a: pa, lda: lda, b: pb, ldb: ldb, beta: 0, c: pc, ldc: shape.n)
            }
            withExtendedLifetime((a, b, c)) {}
            return (name, shape.flops / time / 1e9)
        }
    }

    func compareConvolutions() throws {
        let batch = 128, threadCount = threads ?? 2
        OpenBLAS.threads = threadCount
        // One thread's CPU clock measures only with one thread, and PyTorch's side stays on the wall clock.
        timingByThreadCPUClock = threadCPUClock && threadCount == 1
        if threadCPUClock && threadCount != 1 { throw ValidationError("--thread-cpu-clock needs --threads 1") }
        if threadCPUClock { FileHandle.standardError.write(Data("Isometry's passes on this thread's CPU clock; PyTorch's on the wall clock\n".utf8)) }
        let settings = samplesPerProduct.split(separator: ",").compactMap { Int($0) }.filter { $0 >= 1 }
        // The whole batch at each setting with BLAS's threads, and (with several threads) the
        // batch in one shard per thread, one sample per GEMM, as the trainer runs it.
        let variants = settings.map { ConvolutionVariant(shards: 1, samples: $0) }
            + (threadCount > 1 ? [ConvolutionVariant(shards: threadCount, samples: 1)] : [])
        var isometry: [ConvolutionVariant: [String: [Double]]] = [:], torch: [String: [Double]] = [:]
        var torchName = "PyTorch"
        var loads: [String] = []
        for round in 1 ... rounds {
            FileHandle.standardError.write(Data("round \(round)/\(rounds)\n".utf8))
            loads.append(((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " "))
            for isometryTurn in round % 2 == 1 ? [true, false] : [false, true] {
                if isometryTurn {
                    for variant in variants {
                        for (key, value) in isometryConvolutionRound(batch: batch, variant: variant, threads: threadCount, seconds: secondsPerRow / 4) {
                            isometry[variant, default: [:]][key, default: []].append(value)
                        }
                    }
                    // Let OpenBLAS's threads stop spinning before the peer takes the cores.
                    usleep(200_000)
                } else if !noPeer {
                    let output: Data
                    do { output = try runPeer(python, [convolutionScript, "--threads", "\(threadCount)", "--batch", "\(batch)"]) } catch {
                        throw ValidationError("bench-gemm --convolution: \(error)")
                    }
                    guard let peer = (try? JSONSerialization.jsonObject(with: output)) as? [String: Any] else {
                        throw ValidationError("bench-gemm --convolution: \(convolutionScript) printed no JSON: \(String(decoding: output, as: UTF8.self))")
                    }
                    torchName = "\(peer["library"] as? String ?? "torch"), oneDNN \(peer["mkldnn"] as? Bool == true ? "on" : "off")"
                    for (key, value) in peer { if let seconds = value as? Double { torch[key, default: []].append(seconds) } }
                }
            }
        }
        let gemm = convolutionGEMMRates(batch: batch, threads: threadCount, seconds: secondsPerRow / 4)
        let version = String(cString: openblas_get_config()).split(separator: " ").prefix(2).joined(separator: " ")
        print("bench-gemm --convolution: batch \(batch), float32, \(threadCount) threads, \(version) (\(OpenBLAS.coreName) kernels) against \(torchName); "
              + "medians over \(rounds) alternating rounds; GFLOP/s = 2·multiply-adds / time")
        let columns = variants.map(\.label)
        print("| pass | MFLOP | " + columns.joined(separator: " | ") + " | \(torchName) | best Isometry / PyTorch |")
        print("|---|---:|" + variants.map { _ in "---:|" }.joined() + "---:|---:|")
        func cell(_ seconds: Double, _ flops: Double?) -> String {
            flops.map { String(format: "%.2f ms, %.1f GFLOP/s", 1000 * seconds, $0 / seconds / 1e9) } ?? String(format: "%.3f ms", 1000 * seconds)
        }
        var keys: [(String, Double?)] = []
        for c in cnnConvolutions {
            for pass in ["forward", "input gradient", "weight gradient"] { keys.append(("\(c.name) \(pass)", 2 * c.multiplyAdds * Double(batch))) }
        }
        for p in cnnPools { keys.append(("\(p.name) forward", nil)); keys.append(("\(p.name) backward", nil)) }
        for (key, flops) in keys {
            let ours = variants.map { median(isometry[$0]?[key] ?? []) }
            let theirs = median(torch[key] ?? [])
            let label = key.hasSuffix("weight gradient") ? key + " (+ bias)" : key
            print("| \(label) | \(flops.map { String(format: "%.0f", $0 / 1e6) } ?? "") | " + ours.map { cell($0, flops) }.joined(separator: " | ")
                  + " | \(cell(theirs, flops)) | " + String(format: "%.2f×", theirs / (ours.min() ?? .nan)) + " |")
        }
        print("\nSGEMM at the shapes the passes reduce to:")
        for (name, rate) in gemm { print(String(format: "  %@: %.1f GFLOP/s", name, rate)) }
        print("load averages (1, 5, 15 min) at each round's start: \(loads.joined(separator: " | "))")
    }
}
