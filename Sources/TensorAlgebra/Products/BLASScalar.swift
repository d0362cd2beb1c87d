import CBLAS
import CLAPACKE
import RealModule

/// A floating-point type the tensor layer can compute with: Float or Double.
///
/// Each requirement forwards to the single- or double-precision routine of OpenBLAS
/// (`s`/`d` prefix), so generic code written once against `Tensor<Scalar>` runs at BLAS speed
/// in both precisions. Dimensions are `Int`; the conformances narrow them to LAPACK's 32-bit
/// integers and stop with a message when a dimension does not fit.
///
/// The raw-pointer routines are SPI (`@_spi(RawBLAS) import TensorAlgebra`): they bypass
/// copy-on-write and bounds checks, so only the package's own hot loops and benchmarks use them;
/// everyone else calls the safe tensor functions built on them (``matmul(_:_:transposeA:transposeB:alpha:)``,
/// ``solve(_:_:)``, ``svd(_:)``, …).
public protocol BLASScalar: Real, BinaryFloatingPoint, Sendable
where RawSignificand: FixedWidthInteger {
    /// The numpy dtype string of this type, for `.npy` files ("<f4" or "<f8").
    static var numpyDescriptor: String { get }
    /// The BLAS prefix letter, used in error messages ("s" or "d").
    static var blasPrefix: String { get }

    /// C ← α·op(A)·op(B) + β·C, all row-major.
    @_spi(RawBLAS)
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)

    /// y ← α·op(A)·x + β·y, A row-major m×n.
    @_spi(RawBLAS)
    static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        x: UnsafePointer<Self>, beta: Self, y: UnsafeMutablePointer<Self>)

    /// LAPACK `?gesdd` on a row-major m×n matrix (destroyed). `jobz` is "N", "S" or "A".
    @_spi(RawBLAS)
    static func gesdd(
        jobz: UInt8, m: Int, n: Int, a: UnsafeMutablePointer<Self>, lda: Int,
        s: UnsafeMutablePointer<Self>, u: UnsafeMutablePointer<Self>?, ldu: Int,
        vt: UnsafeMutablePointer<Self>?, ldvt: Int) -> Int

    /// LAPACK `?syevd` on a row-major symmetric n×n matrix; eigenvectors overwrite `a`.
    @_spi(RawBLAS)
    static func syevd(
        computeVectors: Bool, n: Int, a: UnsafeMutablePointer<Self>, lda: Int,
        w: UnsafeMutablePointer<Self>) -> Int

    /// LAPACK `?geqrf` on a row-major m×n matrix.
    @_spi(RawBLAS)
    static func geqrf(
        m: Int, n: Int, a: UnsafeMutablePointer<Self>, lda: Int,
        tau: UnsafeMutablePointer<Self>) -> Int

    /// LAPACK `?orgqr`: forms the first n columns of Q from `geqrf`'s reflectors.
    @_spi(RawBLAS)
    static func orgqr(
        m: Int, n: Int, k: Int, a: UnsafeMutablePointer<Self>, lda: Int,
        tau: UnsafePointer<Self>) -> Int

    /// LAPACK `?gesv`: solves A·X = B for a row-major n×n `a` (overwritten by its LU factors)
    /// and n×nrhs `b` (overwritten by X).
    @_spi(RawBLAS)
    static func gesv(
        n: Int, nrhs: Int, a: UnsafeMutablePointer<Self>, lda: Int,
        ipiv: UnsafeMutablePointer<Int32>, b: UnsafeMutablePointer<Self>, ldb: Int) -> Int

    /// LAPACK `?getrf`: the LU factorisation P·L·U of a row-major m×n matrix, in place.
    @_spi(RawBLAS)
    static func getrf(
        m: Int, n: Int, a: UnsafeMutablePointer<Self>, lda: Int,
        ipiv: UnsafeMutablePointer<Int32>) -> Int

    /// LAPACK `?getri`: the inverse from `getrf`'s factors and pivots, in place.
    @_spi(RawBLAS)
    static func getri(
        n: Int, a: UnsafeMutablePointer<Self>, lda: Int, ipiv: UnsafePointer<Int32>) -> Int

    /// LAPACK `?potrf`: the Cholesky factor of a row-major symmetric positive definite n×n
    /// matrix, written over the lower (or upper) triangle; the other triangle is left as it was.
    @_spi(RawBLAS)
    static func potrf(lower: Bool, n: Int, a: UnsafeMutablePointer<Self>, lda: Int) -> Int

    /// LAPACK `?gelsd`: the minimum-norm least-squares solution of A·X ≈ B by SVD, for a
    /// row-major m×n `a` (destroyed) and max(m, n)×nrhs `b` (its first n rows become X).
    /// Singular values below `rcond`·s₀ count as zero; `rank` receives the effective rank.
    @_spi(RawBLAS)
    static func gelsd(
        m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Self>, lda: Int,
        b: UnsafeMutablePointer<Self>, ldb: Int, s: UnsafeMutablePointer<Self>, rcond: Self,
        rank: inout Int) -> Int
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
    @_spi(RawBLAS)
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
    @_spi(RawBLAS)
    public static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(
            CblasRowMajor, cblasTranspose(transposeA), blasInt(m), blasInt(n), alpha, a,
            blasInt(lda), x, 1, beta, y, 1)
    }

    @_spi(RawBLAS)
    public static func gesdd(
        jobz: UInt8, m: Int, n: Int, a: UnsafeMutablePointer<Float>, lda: Int,
        s: UnsafeMutablePointer<Float>, u: UnsafeMutablePointer<Float>?, ldu: Int,
        vt: UnsafeMutablePointer<Float>?, ldvt: Int
    ) -> Int {
        Int(LAPACKE_sgesdd(
            LAPACK_ROW_MAJOR, CChar(bitPattern: jobz), blasInt(m), blasInt(n), a, blasInt(lda),
            s, u, blasInt(ldu), vt, blasInt(ldvt)))
    }

    @_spi(RawBLAS)
    public static func syevd(
        computeVectors: Bool, n: Int, a: UnsafeMutablePointer<Float>, lda: Int,
        w: UnsafeMutablePointer<Float>
    ) -> Int {
        Int(LAPACKE_ssyevd(
            LAPACK_ROW_MAJOR, CChar(UInt8(ascii: computeVectors ? "V" : "N")),
            CChar(UInt8(ascii: "U")), blasInt(n), a, blasInt(lda), w))
    }

    @_spi(RawBLAS)
    public static func geqrf(
        m: Int, n: Int, a: UnsafeMutablePointer<Float>, lda: Int,
        tau: UnsafeMutablePointer<Float>
    ) -> Int {
        Int(LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), a, blasInt(lda), tau))
    }

    @_spi(RawBLAS)
    public static func orgqr(
        m: Int, n: Int, k: Int, a: UnsafeMutablePointer<Float>, lda: Int,
        tau: UnsafePointer<Float>
    ) -> Int {
        Int(LAPACKE_sorgqr(
            LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(k), a, blasInt(lda), tau))
    }

    @_spi(RawBLAS)
    public static func gesv(
        n: Int, nrhs: Int, a: UnsafeMutablePointer<Float>, lda: Int,
        ipiv: UnsafeMutablePointer<Int32>, b: UnsafeMutablePointer<Float>, ldb: Int
    ) -> Int {
        Int(LAPACKE_sgesv(
            LAPACK_ROW_MAJOR, blasInt(n), blasInt(nrhs), a, blasInt(lda), ipiv, b, blasInt(ldb)))
    }

    @_spi(RawBLAS)
    public static func getrf(
        m: Int, n: Int, a: UnsafeMutablePointer<Float>, lda: Int, ipiv: UnsafeMutablePointer<Int32>
    ) -> Int {
        Int(LAPACKE_sgetrf(LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), a, blasInt(lda), ipiv))
    }

    @_spi(RawBLAS)
    public static func getri(
        n: Int, a: UnsafeMutablePointer<Float>, lda: Int, ipiv: UnsafePointer<Int32>
    ) -> Int {
        Int(LAPACKE_sgetri(LAPACK_ROW_MAJOR, blasInt(n), a, blasInt(lda), ipiv))
    }

    @_spi(RawBLAS)
    public static func potrf(lower: Bool, n: Int, a: UnsafeMutablePointer<Float>, lda: Int) -> Int {
        Int(LAPACKE_spotrf(
            LAPACK_ROW_MAJOR, CChar(UInt8(ascii: lower ? "L" : "U")), blasInt(n), a, blasInt(lda)))
    }

    @_spi(RawBLAS)
    public static func gelsd(
        m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Float>, lda: Int,
        b: UnsafeMutablePointer<Float>, ldb: Int, s: UnsafeMutablePointer<Float>, rcond: Float,
        rank: inout Int
    ) -> Int {
        var effectiveRank: Int32 = 0
        let info = LAPACKE_sgelsd(
            LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(nrhs), a, blasInt(lda), b,
            blasInt(ldb), s, rcond, &effectiveRank)
        rank = Int(effectiveRank)
        return Int(info)
    }
}

extension Double: BLASScalar {
    public static var numpyDescriptor: String { "<f8" }
    public static var blasPrefix: String { "d" }

    @inlinable
    @_spi(RawBLAS)
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
    @_spi(RawBLAS)
    public static func gemv(
        transposeA: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        x: UnsafePointer<Double>, beta: Double, y: UnsafeMutablePointer<Double>
    ) {
        cblas_dgemv(
            CblasRowMajor, cblasTranspose(transposeA), blasInt(m), blasInt(n), alpha, a,
            blasInt(lda), x, 1, beta, y, 1)
    }

    @_spi(RawBLAS)
    public static func gesdd(
        jobz: UInt8, m: Int, n: Int, a: UnsafeMutablePointer<Double>, lda: Int,
        s: UnsafeMutablePointer<Double>, u: UnsafeMutablePointer<Double>?, ldu: Int,
        vt: UnsafeMutablePointer<Double>?, ldvt: Int
    ) -> Int {
        Int(LAPACKE_dgesdd(
            LAPACK_ROW_MAJOR, CChar(bitPattern: jobz), blasInt(m), blasInt(n), a, blasInt(lda),
            s, u, blasInt(ldu), vt, blasInt(ldvt)))
    }

    @_spi(RawBLAS)
    public static func syevd(
        computeVectors: Bool, n: Int, a: UnsafeMutablePointer<Double>, lda: Int,
        w: UnsafeMutablePointer<Double>
    ) -> Int {
        Int(LAPACKE_dsyevd(
            LAPACK_ROW_MAJOR, CChar(UInt8(ascii: computeVectors ? "V" : "N")),
            CChar(UInt8(ascii: "U")), blasInt(n), a, blasInt(lda), w))
    }

    @_spi(RawBLAS)
    public static func geqrf(
        m: Int, n: Int, a: UnsafeMutablePointer<Double>, lda: Int,
        tau: UnsafeMutablePointer<Double>
    ) -> Int {
        Int(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), a, blasInt(lda), tau))
    }

    @_spi(RawBLAS)
    public static func orgqr(
        m: Int, n: Int, k: Int, a: UnsafeMutablePointer<Double>, lda: Int,
        tau: UnsafePointer<Double>
    ) -> Int {
        Int(LAPACKE_dorgqr(
            LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(k), a, blasInt(lda), tau))
    }

    @_spi(RawBLAS)
    public static func gesv(
        n: Int, nrhs: Int, a: UnsafeMutablePointer<Double>, lda: Int,
        ipiv: UnsafeMutablePointer<Int32>, b: UnsafeMutablePointer<Double>, ldb: Int
    ) -> Int {
        Int(LAPACKE_dgesv(
            LAPACK_ROW_MAJOR, blasInt(n), blasInt(nrhs), a, blasInt(lda), ipiv, b, blasInt(ldb)))
    }

    @_spi(RawBLAS)
    public static func getrf(
        m: Int, n: Int, a: UnsafeMutablePointer<Double>, lda: Int, ipiv: UnsafeMutablePointer<Int32>
    ) -> Int {
        Int(LAPACKE_dgetrf(LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), a, blasInt(lda), ipiv))
    }

    @_spi(RawBLAS)
    public static func getri(
        n: Int, a: UnsafeMutablePointer<Double>, lda: Int, ipiv: UnsafePointer<Int32>
    ) -> Int {
        Int(LAPACKE_dgetri(LAPACK_ROW_MAJOR, blasInt(n), a, blasInt(lda), ipiv))
    }

    @_spi(RawBLAS)
    public static func potrf(lower: Bool, n: Int, a: UnsafeMutablePointer<Double>, lda: Int) -> Int {
        Int(LAPACKE_dpotrf(
            LAPACK_ROW_MAJOR, CChar(UInt8(ascii: lower ? "L" : "U")), blasInt(n), a, blasInt(lda)))
    }

    @_spi(RawBLAS)
    public static func gelsd(
        m: Int, n: Int, nrhs: Int, a: UnsafeMutablePointer<Double>, lda: Int,
        b: UnsafeMutablePointer<Double>, ldb: Int, s: UnsafeMutablePointer<Double>, rcond: Double,
        rank: inout Int
    ) -> Int {
        var effectiveRank: Int32 = 0
        let info = LAPACKE_dgelsd(
            LAPACK_ROW_MAJOR, blasInt(m), blasInt(n), blasInt(nrhs), a, blasInt(lda), b,
            blasInt(ldb), s, rcond, &effectiveRank)
        rank = Int(effectiveRank)
        return Int(info)
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

    /// Runs `body` with `count` OpenBLAS threads (nil or the current count: unchanged), then
    /// restores the previous count. The one place a library call changes the setting, so that
    /// every caller restores it the same way.
    public static func withThreads<Result, Failure: Error>(
        _ count: Int?, _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        guard let count, count != threads else { return try body() }
        let previous = threads
        threads = count
        defer { threads = previous }
        return try body()
    }
}
