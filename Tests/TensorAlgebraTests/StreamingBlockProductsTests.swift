import Foundation
import Testing
@_spi(RawBLAS) import TensorAlgebra

/// The streaming kernels against float64 sums written out here (no BLAS), on shapes that are
/// not multiples of the kernels' 8-row groups or 16 lanes, and on sub-ranges (what a thread of
/// a split product computes). Bound: recursive float32 summation of n products (with or without
/// FMA) is within γ_n·Σ|terms| of the exact sum, γ_n ≈ n·2⁻²⁴ (Higham, Accuracy and Stability,
/// §3.1); the test allows 2·n·2⁻²⁴·Σ|terms|. A wrong index or lane is O(Σ|terms|).
@Suite(.serialized, .enabled(if: StreamingBlockProducts.instructionSet != nil, "no streaming kernel on this CPU"))
struct StreamingBlockProductsTests {
    static let (rows, columns, lanes) = (37, 53, 16)

    static func data(usedLanes: Int) -> (w: [Float], x: [Float], u: [Float]) {
        var generator = SeededGenerator(seed: 17)
        let w = Tensor<Float>.randomNormal([rows, columns], using: &generator).scalars
        var x = Tensor<Float>.randomNormal([columns, lanes], using: &generator).scalars
        var u = Tensor<Float>.randomNormal([rows, lanes], using: &generator).scalars
        for i in x.indices where i % lanes >= usedLanes { x[i] = 0 }
        for i in u.indices where i % lanes >= usedLanes { u[i] = 0 }
        return (w, x, u)
    }

    /// The float64 sum of n products and the allowed float32 error, 2·n·2⁻²⁴·Σ|terms|.
    static func sum(_ n: Int, _ term: (Int) -> Double) -> (exact: Double, bound: Double) {
        var (exact, magnitude) = (0.0, 0.0)
        for i in 0 ..< n {
            exact += term(i)
            magnitude += abs(term(i))
        }
        return (exact, 2 * Double(n) * 0x1p-24 * magnitude)
    }

    /// Both kernels' instruction sets on this CPU: its own, and the AVX2 body forced by
    /// ISOMETRY_BLOCK_PRODUCTS=avx2 (the one CPUs without AVX-512 run). Serialised: the variable
    /// is process-wide.
    static let bodies = ["native", "avx2"]

    static func withBody(_ body: String, _ run: () -> Void) {
        guard body == "avx2" else { return run() }
        setenv("ISOMETRY_BLOCK_PRODUCTS", "avx2", 1)
        defer { unsetenv("ISOMETRY_BLOCK_PRODUCTS") }
        run()
    }

    @Test(arguments: [16, 5], bodies)
    func rowsAreWTimesEachLane(usedLanes: Int, body: String) {
        let (w, x, _) = Self.data(usedLanes: usedLanes)
        let (rows, columns, lanes) = (Self.rows, Self.columns, Self.lanes)
        var y = [Float](repeating: .nan, count: rows * lanes)
        // Two slices, as two threads would run them; the first ends on the 8-row group boundary.
        Self.withBody(body) {
            w.withUnsafeBufferPointer { wp in x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                StreamingBlockProducts.rows(0 ..< 16, of: wp.baseAddress!, columns: columns, times: xp.baseAddress!, into: yp.baseAddress!)
                StreamingBlockProducts.rows(16 ..< rows, of: wp.baseAddress!, columns: columns, times: xp.baseAddress!, into: yp.baseAddress!)
            } } }
        }
        for j in 0 ..< rows {
            for p in 0 ..< lanes {
                let (exact, bound) = Self.sum(columns) { Double(w[j * columns + $0]) * Double(x[$0 * lanes + p]) }
                #expect(abs(Double(y[j * lanes + p]) - exact) <= bound, "row \(j) lane \(p): \(y[j * lanes + p]) vs \(exact)")
            }
        }
    }

    @Test(arguments: [16, 5], bodies)
    func columnsAreWTransposedTimesEachLane(usedLanes: Int, body: String) {
        let (w, _, u) = Self.data(usedLanes: usedLanes)
        let (rows, columns, lanes) = (Self.rows, Self.columns, Self.lanes)
        let sentinel: Float = 1234.5
        var z = [Float](repeating: sentinel, count: columns * lanes)
        Self.withBody(body) {
            w.withUnsafeBufferPointer { wp in u.withUnsafeBufferPointer { up in z.withUnsafeMutableBufferPointer { zp in
                StreamingBlockProducts.columns(3 ..< 30, of: wp.baseAddress!, rowCount: rows, columnCount: columns, times: up.baseAddress!, into: zp.baseAddress!)
                StreamingBlockProducts.columns(30 ..< 50, of: wp.baseAddress!, rowCount: rows, columnCount: columns, times: up.baseAddress!, into: zp.baseAddress!)
            } } }
        }
        for k in 0 ..< columns {
            for p in 0 ..< lanes {
                guard (3 ..< 50).contains(k) else {
                    #expect(z[k * lanes + p] == sentinel, "column \(k) outside the ranges was written")
                    continue
                }
                let (exact, bound) = Self.sum(rows) { Double(w[$0 * columns + k]) * Double(u[$0 * lanes + p]) }
                #expect(abs(Double(z[k * lanes + p]) - exact) <= bound, "column \(k) lane \(p): \(z[k * lanes + p]) vs \(exact)")
            }
        }
    }
}
