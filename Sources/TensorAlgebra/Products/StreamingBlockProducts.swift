import CBlockProducts

/// Products of one float32 weight matrix W with a block of up to 16 vectors, reading W once
/// from memory and never packing it (the C kernels in CBlockProducts, AVX-512F or AVX2 + FMA
/// chosen at run time).
///
/// Why beside BLAS: a block of 16 vectors makes a GEMM with 16 rows, and OpenBLAS repacks the
/// whole weight matrix on each such call — more time than the arithmetic (docs/benchmarks.md,
/// "The 5× bar"). A Lanczos run multiplies the same weights by a new block hundreds of times.
///
/// Blocks are feature-major: feature i of the block is the 16 scalars at `16·i ..< 16·i + 16`,
/// one per vector (lane); lanes a caller does not use must hold zeros in inputs and are
/// written, not read, in outputs. Sums run in another order than BLAS's, so results agree
/// with `matmul` to float32 rounding, not bit for bit.
///
/// `ISOMETRY_BLOCK_PRODUCTS=avx2` in the environment makes an AVX-512 CPU run the AVX2 body (read
/// on every call; the tests use it to check both bodies on one machine).
@_spi(RawBLAS)
public enum StreamingBlockProducts {
    /// Vectors per block.
    public static let lanes = 16

    /// The instruction set the kernels use on this CPU ("avx512f", "avx2+fma"), nil where there
    /// is none (not x86-64, or no AVX2): callers then use BLAS.
    public static let instructionSet: String? = isometry_block16_kernel().map { String(cString: $0) }

    /// Whether the kernels are the faster route in this build: where the CPU has them and the
    /// package is built optimised. SwiftPM compiles C targets without optimisation in debug
    /// builds (`swift run`, `swift test`), and there the kernels run at about 10 GFLOP/s, a
    /// quarter of OpenBLAS's 16-row GEMM (measured on the AMD EPYC of docs/benchmarks.md: 9 and
    /// 95 GFLOP/s unoptimised and optimised, against sgemm's 20–45), so debug builds keep BLAS
    /// unless a caller asks for the kernels.
    public static let isPreferred: Bool = {
        #if DEBUG
        return false
        #else
        return instructionSet != nil
        #endif
    }()

    /// y[j] = Σ_k W[j, k]·x[k] for the rows j in `rows`: W is row-major with `columns` columns,
    /// x holds `columns` features, y at least `rows.upperBound`. Rows outside the range are not
    /// touched, so disjoint ranges can run on several threads at once.
    public static func rows(_ rows: Range<Int>, of w: UnsafePointer<Float>, columns: Int,
                            times x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        precondition(instructionSet != nil, "StreamingBlockProducts: no kernel on this CPU")
        isometry_block16_rows(w, columns, x, y, rows.lowerBound, rows.upperBound)
    }

    /// z[k] = Σ_j W[j, k]·u[j] for the columns k in `columns`: W is row-major `rowCount` ×
    /// `columnCount`, u holds `rowCount` features, z at least `columns.upperBound`.
    public static func columns(_ columns: Range<Int>, of w: UnsafePointer<Float>, rowCount: Int, columnCount: Int,
                               times u: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>) {
        precondition(instructionSet != nil, "StreamingBlockProducts: no kernel on this CPU")
        isometry_block16_columns(w, rowCount, columnCount, u, z, columns.lowerBound, columns.upperBound)
    }
}
