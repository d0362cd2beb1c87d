import Dispatch
@_spi(RawBLAS) import TensorAlgebra

/// Raw pointers that may cross into worker threads; the caller guarantees the regions the
/// workers write do not overlap.
struct SendablePointer<Scalar>: @unchecked Sendable {
    let address: UnsafeMutablePointer<Scalar>
    init(_ address: UnsafeMutablePointer<Scalar>) { self.address = address }
}

/// GEMM split by rows of C across `workers` threads, each calling single-threaded BLAS.
///
/// Only `bench-gemm --row-split` uses it: it moved here from TensorAlgebra once nothing in
/// Sources did. On the trainer's small-batch shapes it is level with OpenBLAS's own threading
/// product by product, but a whole training step runs 2–50 % slower with it, depending on the
/// machine's load (`bench-train --threading-only`), so the trainer lets OpenBLAS thread.
/// Set `OpenBLAS.threads = 1` while using it, or the workers' calls each start their own threads.
enum ParallelGEMM {
    static func gemm<Scalar: BLASScalar>(
        workers: Int, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Scalar, a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
        beta: Scalar, c: UnsafeMutablePointer<Scalar>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        let parts = max(1, min(workers, m / 16))
        if parts == 1 {
            Scalar.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                        a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let (aa, bb, cc) = (SendablePointer(UnsafeMutablePointer(mutating: a)), SendablePointer(UnsafeMutablePointer(mutating: b)), SendablePointer(c))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let start = m * part / parts, end = m * (part + 1) / parts
            // Rows of op(A) are rows of A, or columns of A when it is transposed.
            let aPart = transposeA ? aa.address + start : aa.address + start * lda
            Scalar.gemm(transposeA: transposeA, transposeB: transposeB, m: end - start, n: n, k: k, alpha: alpha,
                        a: aPart, lda: lda, b: bb.address, ldb: ldb, beta: beta, c: cc.address + start * ldc, ldc: ldc)
        }
    }
}
