import CBLAS
import CLAPACKE
import RealModule

/// A floating-point type the tensor layer can compute with: Float or Double.
///
/// Each requirement forwards to the single- or double-precision routine of OpenBLAS
/// (`s`/`d` prefix), so generic code written once against `Tensor<Scalar>` runs at BLAS speed
/// in both precisions. Dimensions are `Int`; the conformances narrow them to LAPACK's 32-bit
/// integers and stop with a message when a dimension does not fit.
public protocol BLASScalar: Real, BinaryFloatingPoint, Sendable
where RawSignificand: FixedWidthInteger {
    /// The numpy dtype string of this type, for `.npy` files ("<f4" or "<f8").
    static var numpyDescriptor: String { get }
    /// The BLAS prefix letter, used in error messages ("s" or "d").
    static var blasPrefix: String { get }

    /// C ← α·op(A)·op(B) + β·C, all row-major.
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)

    /// y ← α·op(A)·x + β·y, A row-major m×n.
    static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        x: UnsafePointer<Self>, beta: Self, y: UnsafeMutablePointer<Self>)

    /// LAPACK `?gesdd` on a row-major m×n matrix (destroyed). `jobz` is "N", "S" or "A".
    static func gesdd(
        jobz: UInt8, m: Int, n: Int, a: UnsafeMutablePointer<Self>, lda: Int,
        s: UnsafeMutablePointer<Self>, u: UnsafeMutablePointer<Self>?, ldu: Int,
        vt: UnsafeMutablePointer<Self>?, ldvt: Int) -> Int

    /// LAPACK `?syevd` on a row-major symmetric n×n matrix; eigenvectors overwrite `a`.
    static func syevd(
        computeVectors: Bool, n: Int, a: UnsafeMutablePointer<Self>, lda: Int,
        w: UnsafeMutablePointer<Self>) -> Int

    /// LAPACK `?geqrf` on a row-major m×n matrix.
    static func geqrf(
        m: Int, n: Int, a: UnsafeMutablePointer<Self>, lda: Int,
        tau: UnsafeMutablePointer<Self>) -> Int

    /// LAPACK `?orgqr`: forms the first n columns of Q from `geqrf`'s reflectors.
    static func orgqr(
        m: Int, n: Int, k: Int, a: UnsafeMutablePointer<Self>, lda: Int,
        tau: UnsafePointer<Self>) -> Int
}

@usableFromInline
func blasInt(_ value: Int, _ what: StaticString = "dimension") -> Int32 {
    guard let narrow = Int32(exactly: value) else {
        fatalError("\(what) \(value) does not fit in BLAS's 32-bit integers")
    }
    return narrow
}

@inlinable @inline(__always)
func cblasTranspose(_ transpose: Bool) -> CBLAS_TRANSPOSE {
    transpose ? CblasTrans : CblasNoTrans
}

extension Float: BLASScalar {
    public static var numpyDescriptor: String { "<f4" }
    public static var blasPrefix: String { "s" }

    @inlinable
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, cblasTranspose(transposeA), cblasTranspose(transposeB),
            blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb),
            beta, c, blasInt(ldc))
    }

    @inlinable
    public static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(
            CblasRowMajor, cblasTranspose(transposeA), blasInt(m), blasInt(n), alpha, a,
            blasInt(lda), x, 1, beta, y, 1)
    }

    public static func gesdd(
        jobz: UInt8, m: Int, n: Int, a: UnsafeMutablePointer<Float>, lda: Int,
        s: UnsafeMutablePointer<Float>, u: UnsafeMutablePointer<Float>?, ldu: Int,
        vt: UnsafeMutablePointer<Float>?, ldvt: Int
    ) -> Int {
        Int(LAPACKE_sgesdd(
            LAPACK_ROW_MAJOR, CChar(bitPattern: jobz), blasInt(m), blasInt(n), a, blasInt(lda),
            s, u, blasInt(ldu), vt, blasInt(ldvt)))
    }

    public static func syevd(
        computeVectors: Bool, n: Int, a: UnsafeMutablePointer<Float>, lda: Int,
        w: UnsafeMutablePointer<Float>
    ) -> Int {
        Int(LAPACKE_ssyevd(
            LAPACK_ROW_MAJOR, CChar(UInt8(ascii: computeVectors ? "V" : "N")),
            CChar(UInt8(ascii: "U")), blasInt(n), a, blasInt(lda), w))
    }

    public static func geqrf(
        m: Int, n: Int, a: UnsafeMutablePointer<Float>, lda: Int,
        tau: UnsafeMutablePointer<Float>
    ) -> Int {
        Int(LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), a, blasInt(lda), tau))
    }

    public static func orgqr(
        m: Int, n: Int, k: Int, a: UnsafeMutablePointer<Float>, lda: Int,
        tau: UnsafePointer<Float>
    ) -> Int {
        Int(LAPACKE_sorgqr(
            LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(k), a, blasInt(lda), tau))
    }
}

extension Double: BLASScalar {
    public static var numpyDescriptor: String { "<f8" }
    public static var blasPrefix: String { "d" }

    @inlinable
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(
            CblasRowMajor, cblasTranspose(transposeA), cblasTranspose(transposeB),
            blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb),
            beta, c, blasInt(ldc))
    }

    @inlinable
    public static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        x: UnsafePointer<Double>, beta: Double, y: UnsafeMutablePointer<Double>
    ) {
        cblas_dgemv(
            CblasRowMajor, cblasTranspose(transposeA), blasInt(m), blasInt(n), alpha, a,
            blasInt(lda), x, 1, beta, y, 1)
    }

    public static func gesdd(
        jobz: UInt8, m: Int, n: Int, a: UnsafeMutablePointer<Double>, lda: Int,
        s: UnsafeMutablePointer<Double>, u: UnsafeMutablePointer<Double>?, ldu: Int,
        vt: UnsafeMutablePointer<Double>?, ldvt: Int
    ) -> Int {
        Int(LAPACKE_dgesdd(
            LAPACK_ROW_MAJOR, CChar(bitPattern: jobz), blasInt(m), blasInt(n), a, blasInt(lda),
            s, u, blasInt(ldu), vt, blasInt(ldvt)))
    }

    public static func syevd(
        computeVectors: Bool, n: Int, a: UnsafeMutablePointer<Double>, lda: Int,
        w: UnsafeMutablePointer<Double>
    ) -> Int {
        Int(LAPACKE_dsyevd(
            LAPACK_ROW_MAJOR, CChar(UInt8(ascii: computeVectors ? "V" : "N")),
            CChar(UInt8(ascii: "U")), blasInt(n), a, blasInt(lda), w))
    }

    public static func geqrf(
        m: Int, n: Int, a: UnsafeMutablePointer<Double>, lda: Int,
        tau: UnsafeMutablePointer<Double>
    ) -> Int {
        Int(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), a, blasInt(lda), tau))
    }

    public static func orgqr(
        m: Int, n: Int, k: Int, a: UnsafeMutablePointer<Double>, lda: Int,
        tau: UnsafePointer<Double>
    ) -> Int {
        Int(LAPACKE_dorgqr(
            LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(k), a, blasInt(lda), tau))
    }
}

/// The OpenBLAS library this process runs on: its kernels and its threads.
public enum OpenBLAS {
    /// Whether kernel selection was repaired (see `isometry_openblas_repair_core` in the CBLAS
    /// shim): OpenBLAS releases older than the CPU fall back to SSE3 kernels at a fraction of
    /// the peak. Evaluated once, before the first tensor is allocated.
    public static let repairedCoreSelection: Bool = isometry_openblas_repair_core() != 0

    /// The kernel family OpenBLAS uses, e.g. "Haswell", "SkylakeX", "Cooperlake".
    public static var coreName: String {
        _ = repairedCoreSelection
        return String(cString: openblas_get_corename())
    }

    /// How many threads OpenBLAS uses for every routine in this process.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set {
            _ = repairedCoreSelection
            openblas_set_num_threads(Int32(newValue))
        }
    }
}
