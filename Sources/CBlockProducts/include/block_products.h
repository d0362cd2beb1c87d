// Products of one float32 weight matrix with a block of 16 vectors, streaming the weights once
// and never packing them. Why not BLAS: for a 16-row block OpenBLAS repacks the whole weight
// matrix on every call, which costs more than the arithmetic (docs/benchmarks.md, "The 5×
// bar"); a Lanczos run makes hundreds of such calls on the same weights.
//
// Blocks are feature-major: 16 lanes (one per vector) per feature, contiguous, so one feature
// of the block is one 64-byte vector register. Lanes a caller does not use hold zeros.
#ifndef ISOMETRY_BLOCK_PRODUCTS_H
#define ISOMETRY_BLOCK_PRODUCTS_H

#ifdef __cplusplus
extern "C" {
#endif

/// The instruction set the kernels run with on this CPU: "avx512f" or "avx2+fma"; NULL when
/// neither is there (or the CPU is not x86-64), and callers use BLAS instead.
const char *isometry_block16_kernel(void);

/// y[j][0..15] = Σ_k w[j·cols + k] · x[k][0..15] for rows j in [row0, row1): y = W·x per lane.
/// w is row-major with `cols` columns; x has `cols` features, y at least row1.
void isometry_block16_rows(const float *w, long cols, const float *x, float *y, long row0, long row1);

/// z[k][0..15] = Σ_j w[j·cols + k] · u[j][0..15] for columns k in [col0, col1): z = Wᵀ·u per
/// lane. w is row-major `rows` × `cols`; u has `rows` features, z at least col1.
void isometry_block16_columns(const float *w, long rows, long cols, const float *u, float *z, long col0, long col1);

#ifdef __cplusplus
}
#endif
#endif
