// bench-spectrum --machine-rates: what this machine can do for the two routes of a wide spectrum
// (docs/benchmarks.md, "The 5× bar"): the memory bandwidth a Lanczos step's weight reads are
// bound by, the sgemm rates at the Lanczos shape (16 rows against an N × N weight) and at the
// dense route's (square), and the LAPACK rates of the dense route's decompositions.

import Dispatch
import Foundation
import TensorAlgebra

/// Medians of `rounds` timings of `body`: wall seconds, and CPU seconds of the process (all
/// threads). On a machine shared with other jobs the wall clock measures the share this process
/// got; a single-threaded body's CPU seconds measure what one core does while it runs.
func medianSeconds(rounds: Int, _ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
    var (walls, cpus): ([Double], [Double]) = ([], [])
    for _ in 0 ..< rounds {
        let (start, cpu) = (DispatchTime.now().uptimeNanoseconds, processCPUSeconds())
        try body()
        walls.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        cpus.append(processCPUSeconds() - cpu)
    }
    return (walls.sorted()[walls.count / 2], cpus.sorted()[cpus.count / 2])
}

/// "12.3 per wall second (45.6 per CPU second)" for `amount` per `t`.
func rates(_ amount: Double, _ t: (wall: Double, cpu: Double)) -> String {
    String(format: "%.1f (%.1f per CPU second)", amount / t.wall, amount / t.cpu)
}

/// Pointers into buffers the caller keeps alive for a `concurrentPerform`; slices touch disjoint ranges.
private struct StreamBuffers: @unchecked Sendable {
    let a: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>
    let count: Int
    let slices: Int
    var partial: UnsafeMutablePointer<Float>

    func range(_ slice: Int) -> Range<Int> { count * slice / slices ..< count * (slice + 1) / slices }

    /// Reads a's slice with 16-wide vector sums (independent lanes, so the adds do not serialise).
    func read(_ slice: Int) {
        let r = range(slice)
        var sum = SIMD16<Float>()
        var i = r.lowerBound
        let raw = UnsafeRawPointer(a)
        while i + 16 <= r.upperBound {
            sum += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        partial[slice] = sum.sum()
    }

    func copy(_ slice: Int) {
        let r = range(slice)
        (c + r.lowerBound).update(from: a + r.lowerBound, count: r.count)
    }
}

func runMachineRates(width: Int) throws {
    print("bench-spectrum --machine-rates: OpenBLAS \(OpenBLAS.coreName), \(OpenBLAS.threads) threads by default; medians")
    // Memory: 256 MB arrays, far beyond the 32 MB L3.
    let count = 64 << 20
    let a = UnsafeMutablePointer<Float>.allocate(capacity: count), c = UnsafeMutablePointer<Float>.allocate(capacity: count)
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: 2)
    defer { a.deallocate(); c.deallocate(); partial.deallocate() }
    a.initialize(repeating: 1, count: count)
    c.initialize(repeating: 0, count: count)
    for slices in [1, 2] {
        let buffers = StreamBuffers(a: a, c: c, count: count, slices: slices, partial: partial)
        let read = medianSeconds(rounds: 7) { DispatchQueue.concurrentPerform(iterations: slices) { buffers.read($0) } }
        let copy = medianSeconds(rounds: 7) { DispatchQueue.concurrentPerform(iterations: slices) { buffers.copy($0) } }
        print("memory, \(slices) thread\(slices == 1 ? "" : "s"): read GB/s \(rates(Double(count) * 4 / 1e9, read)), "
            + "copy GB/s \(rates(Double(count) * 8 / 1e9, copy)) (read + write counted; 256 MB arrays, median of 7)")
    }

    // sgemm at the Lanczos shape: a block of 16 rows against an N × N weight, both products of a step.
    var generator = SeededGenerator(seed: 0)
    let w = Tensor<Float>.randomNormal([width, width], using: &generator)
    let x = Tensor<Float>.randomNormal([16, width], using: &generator)
    var y = Tensor<Float>.zeros([16, width])
    for threads in [1, OpenBLAS.threads] {
        OpenBLAS.withThreads(threads) {
            let forward = medianSeconds(rounds: 7) { matmul(x, w, transposeB: true, into: &y) }
            let backward = medianSeconds(rounds: 7) { matmul(x, w, transposeB: false, into: &y) }
            let gigaflops = 2.0 * 16 * Double(width) * Double(width) / 1e9
            let gigabytes = 4.0 * Double(width) * Double(width) / 1e9
            print("sgemm 16 × \(width) × \(width), \(threads) thread\(threads == 1 ? "" : "s"): X·Wᵀ GFLOP/s \(rates(gigaflops, forward)), "
                + "W read at GB/s \(rates(gigabytes, forward)); X·W GFLOP/s \(rates(gigaflops, backward))")
        }
    }
    // Square sgemm, the dense route's formation of J.
    let m = 4000
    let p = Tensor<Float>.randomNormal([m, m], using: &generator)
    var q = Tensor<Float>.zeros([m, m])
    for threads in [1, OpenBLAS.threads] {
        OpenBLAS.withThreads(threads) {
            let t = medianSeconds(rounds: 3) { matmul(p, p, into: &q) }
            print("sgemm \(m) × \(m) × \(m), \(threads) thread\(threads == 1 ? "" : "s"): GFLOP/s \(rates(2 * pow(Double(m), 3) / 1e9, t))")
        }
    }
    // The decompositions, values only, float32, default threads: the dense route's sgesdd on a
    // short wide block, the Gram route's ssyevd, and the QR that draws a Haar-orthogonal weight.
    let (rows, columns) = (2500, 5000)
    let block = Tensor<Float>.randomNormal([rows, columns], using: &generator)
    let gesdd = try medianSeconds(rounds: 1) { _ = try singularValues(block) }
    // Golub–Kahan bidiagonalisation of an r × c block (r ≤ c), values only: 4r²c − 4r³/3 flops.
    let gesddFlops = 4 * Double(rows * rows) * Double(columns) - 4 * pow(Double(rows), 3) / 3
    print("sgesdd values of \(rows) × \(columns): \(String(format: "%.2f s (cpu %.2f)", gesdd.wall, gesdd.cpu)), GFLOP/s by 4r²c − 4r³/3: \(rates(gesddFlops / 1e9, gesdd))")
    let gram = matmul(block, block, transposeB: true)
    let syevd = try medianSeconds(rounds: 1) { _ = try eigvalsh(gram) }
    print("ssyevd values of \(rows) × \(rows): \(String(format: "%.2f s (cpu %.2f)", syevd.wall, syevd.cpu)), GFLOP/s by 4n³/3: \(rates(4 * pow(Double(rows), 3) / 3 / 1e9, syevd))")
    let square = Tensor<Float>.randomNormal([m, m], using: &generator)
    let qrSeconds = try medianSeconds(rounds: 1) { _ = try qr(square) }
    print("sgeqrf + sorgqr of \(m) × \(m): \(String(format: "%.2f s (cpu %.2f)", qrSeconds.wall, qrSeconds.cpu)), GFLOP/s by 8n³/3: \(rates(8 * pow(Double(m), 3) / 3 / 1e9, qrSeconds))")
}
