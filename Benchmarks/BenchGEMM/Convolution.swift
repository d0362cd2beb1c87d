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

extension BenchGEMM {
    /// One round of Isometry's passes at `samples` samples per GEMM: seconds per operation.
    func isometryConvolutionRound(batch: Int, samples: Int, seconds: Double) -> [String: Double] {
        var result: [String: Double] = [:]
        var generator = SeededGenerator(seed: 0)
        for c in cnnConvolutions {
            let g = c.geometry
            let x = Tensor<Float>.randomNormal([batch, c.inputChannels, c.size, c.size], using: &generator)
            let w = Tensor<Float>.randomNormal([c.outputChannels, c.inputChannels, 3, 3], using: &generator)
            let b = Tensor<Float>.randomNormal([c.outputChannels], using: &generator)
            let gy = Tensor<Float>.randomNormal([batch, c.outputChannels] + g.outputSize, using: &generator)
            var y = gy, dx = x, dw = w, db = b
            var columns = Tensor<Float>.zeros(convolutionColumnsShape(inputChannels: c.inputChannels, outputChannels: c.outputChannels,
                                                                      geometry: g, samplesPerProduct: samples))
            result["\(c.name) forward"] = medianSeconds(seconds) {
                convolution(x, weight: w, bias: b, geometry: g, columns: &columns, into: &y)
            }
            result["\(c.name) input gradient"] = medianSeconds(seconds) {
                convolutionInputGradient(gy, weight: w, geometry: g, columns: &columns, into: &dx)
            }
            result["\(c.name) weight gradient"] = medianSeconds(seconds) {
                convolutionWeightGradient(input: x, outputGradient: gy, geometry: g, columns: &columns, into: &dw)
                convolutionBiasGradient(gy, into: &db)
            }
        }
        for p in cnnPools {
            let g = p.geometry
            let x = Tensor<Float>.randomNormal([batch, p.channels, p.size, p.size], using: &generator)
            var y = Tensor<Float>.zeros([batch, p.channels] + g.outputSize), winners = y, dx = x
            let gy = Tensor<Float>.randomNormal(y.shape, using: &generator)
            result["\(p.name) forward"] = medianSeconds(seconds) { maxPool(x, geometry: g, into: &y, winners: &winners) }
            result["\(p.name) backward"] = medianSeconds(seconds) { maxPoolGradient(gy, winners: winners, geometry: g, into: &dx) }
        }
        return result
    }

    /// SGEMM GFLOP/s at the shapes the passes reduce to, and the square peak.
    func convolutionGEMMRates(batch: Int, seconds: Double) -> [(String, Double)] {
        let conv2 = cnnConvolutions[1], plane = conv2.geometry.outputPlane, rows = conv2.inputChannels * 9
        let cases: [(String, Shape)] = [
            ("conv2 forward, one product per sample: [64, 288]·[288, 121]", Shape(label: "", m: 64, n: plane, k: rows, transposeA: false, transposeB: false)),
            ("conv2 forward, whole batch: [64, 288]·[288, 128·121]", Shape(label: "", m: 64, n: batch * plane, k: rows, transposeA: false, transposeB: false)),
            ("conv2 weight gradient, whole batch: [64, 128·121]·[128·121, 288]", Shape(label: "", m: 64, n: rows, k: batch * plane, transposeA: false, transposeB: true)),
            ("conv2 input gradient, whole batch: [288, 64]·[64, 128·121]", Shape(label: "", m: rows, n: batch * plane, k: 64, transposeA: true, transposeB: false)),
            ("square 2048 (the peak)", Shape(label: "", m: 2048, n: 2048, k: 2048, transposeA: false, transposeB: false)),
        ]
        var generator = SeededGenerator(seed: 2)
        return cases.map { name, shape in
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
        var isometry: [Int: [String: [Double]]] = [:], torch: [String: [Double]] = [:]
        var torchName = "PyTorch"
        var loads: [String] = []
        for round in 1 ... rounds {
            FileHandle.standardError.write(Data("round \(round)/\(rounds)\n".utf8))
            loads.append(((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " "))
            for isometryTurn in round % 2 == 1 ? [true, false] : [false, true] {
                if isometryTurn {
                    for samples in settings {
                        for (key, value) in isometryConvolutionRound(batch: batch, samples: samples, seconds: secondsPerRow / 4) {
                            isometry[samples, default: [:]][key, default: []].append(value)
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
        let gemm = convolutionGEMMRates(batch: batch, seconds: secondsPerRow / 2)
        let version = String(cString: openblas_get_config()).split(separator: " ").prefix(2).joined(separator: " ")
        print("bench-gemm --convolution: batch \(batch), float32, \(threadCount) threads, \(version) (\(OpenBLAS.coreName) kernels) against \(torchName); "
              + "medians over \(rounds) alternating rounds; GFLOP/s = 2·multiply-adds / time")
        let columns = settings.map { "Isometry, \($0) sample\($0 == 1 ? "" : "s")/GEMM" }
        print("| pass | MFLOP | " + columns.joined(separator: " | ") + " | \(torchName) | best Isometry / PyTorch |")
        print("|---|---:|" + settings.map { _ in "---:|" }.joined() + "---:|---:|")
        func cell(_ seconds: Double, _ flops: Double?) -> String {
            flops.map { String(format: "%.2f ms, %.1f GFLOP/s", 1000 * seconds, $0 / seconds / 1e9) } ?? String(format: "%.3f ms", 1000 * seconds)
        }
        var keys: [(String, Double?)] = []
        for c in cnnConvolutions {
            for pass in ["forward", "input gradient", "weight gradient"] { keys.append(("\(c.name) \(pass)", 2 * c.multiplyAdds * Double(batch))) }
        }
        for p in cnnPools { keys.append(("\(p.name) forward", nil)); keys.append(("\(p.name) backward", nil)) }
        for (key, flops) in keys {
            let ours = settings.map { median(isometry[$0]?[key] ?? []) }
            let theirs = median(torch[key] ?? [])
            let label = key.hasSuffix("weight gradient") ? key + " (+ bias)" : key
            print("| \(label) | \(flops.map { String(format: "%.0f", $0 / 1e6) } ?? "") | " + ours.map { cell($0, flops) }.joined(separator: " | ")
                  + " | \(cell(theirs, flops)) | " + String(format: "%.2f×", theirs / (ours.min() ?? .nan)) + " |")
        }
        print("\nSGEMM (\(threadCount) threads) at the shapes the passes reduce to:")
        for (name, rate) in gemm { print(String(format: "  %@: %.1f GFLOP/s", name, rate)) }
        print("load averages (1, 5, 15 min) at each round's start: \(loads.joined(separator: " | "))")
    }
}
