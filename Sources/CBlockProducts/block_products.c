// See include/block_products.h. One body, compiled twice (AVX-512F and AVX2 + FMA) through
// target attributes rather than compiler flags, so the package builds for baseline x86-64 and
// the faster body is chosen at run time.
#include "block_products.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))

typedef float lanes16 __attribute__((ext_vector_type(16), aligned(4)));

// Macros, not functions: a 16-float vector crossing a call without AVX-512 changes the ABI.
// The typedef's 4-byte alignment makes these unaligned loads and stores.
#define load16(p) (*(const lanes16 *)(p))
#define store16(p, v) (*(lanes16 *)(p) = (v))

// Rows of W eight at a time: eight sequential weight streams, each x feature loaded once for
// eight fused multiply-adds; eight independent accumulators cover the FMA latency.
#define ROWS_BODY                                                                              \
    long j = row0;                                                                             \
    for (; j + 8 <= row1; j += 8) {                                                            \
        const float *w0 = w + j * cols;                                                        \
        lanes16 a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;                \
        for (long k = 0; k < cols; k++) {                                                      \
            lanes16 v = load16(x + 16 * k);                                                    \
            a0 += w0[k] * v;                                                                   \
            a1 += w0[cols + k] * v;                                                            \
            a2 += w0[2 * cols + k] * v;                                                        \
            a3 += w0[3 * cols + k] * v;                                                        \
            a4 += w0[4 * cols + k] * v;                                                        \
            a5 += w0[5 * cols + k] * v;                                                        \
            a6 += w0[6 * cols + k] * v;                                                        \
            a7 += w0[7 * cols + k] * v;                                                        \
        }                                                                                      \
        store16(y + 16 * j, a0); store16(y + 16 * (j + 1), a1);                                \
        store16(y + 16 * (j + 2), a2); store16(y + 16 * (j + 3), a3);                          \
        store16(y + 16 * (j + 4), a4); store16(y + 16 * (j + 5), a5);                          \
        store16(y + 16 * (j + 6), a6); store16(y + 16 * (j + 7), a7);                          \
    }                                                                                          \
    for (; j < row1; j++) {                                                                    \
        const float *wj = w + j * cols;                                                        \
        lanes16 a = 0;                                                                         \
        for (long k = 0; k < cols; k++) a += wj[k] * load16(x + 16 * k);                       \
        store16(y + 16 * j, a);                                                                \
    }

// The same with four rows a time, for AVX2's sixteen 256-bit registers: eight 16-lane
// accumulators would take all of them and spill (measured on Zen 4 forced to this body, N = 3,000,
// one core: eight rows 18 GFLOP/s against sgemm's 40; four rows about twice sgemm's rate).
#define ROWS4_BODY                                                                             \
    long j = row0;                                                                             \
    for (; j + 4 <= row1; j += 4) {                                                            \
        const float *w0 = w + j * cols;                                                        \
        lanes16 a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                \
        for (long k = 0; k < cols; k++) {                                                      \
            lanes16 v = load16(x + 16 * k);                                                    \
            a0 += w0[k] * v;                                                                   \
            a1 += w0[cols + k] * v;                                                            \
            a2 += w0[2 * cols + k] * v;                                                        \
            a3 += w0[3 * cols + k] * v;                                                        \
        }                                                                                      \
        store16(y + 16 * j, a0); store16(y + 16 * (j + 1), a1);                                \
        store16(y + 16 * (j + 2), a2); store16(y + 16 * (j + 3), a3);                          \
    }                                                                                          \
    for (; j < row1; j++) {                                                                    \
        const float *wj = w + j * cols;                                                        \
        lanes16 a = 0;                                                                         \
        for (long k = 0; k < cols; k++) a += wj[k] * load16(x + 16 * k);                       \
        store16(y + 16 * j, a);                                                                \
    }

// Wᵀ·u without a strided walk down W's columns: eight rows of W at a time, swept left to right
// over [col0, col1), each z feature updated once per eight rows (z's slice stays in L2).
#define COLUMNS_BODY                                                                           \
    memset(z + 16 * col0, 0, sizeof(float) * 16 * (size_t)(col1 - col0));                     \
    long j = 0;                                                                                \
    for (; j + 8 <= rows; j += 8) {                                                            \
        const float *w0 = w + j * cols;                                                        \
        lanes16 u0 = load16(u + 16 * j), u1 = load16(u + 16 * (j + 1));                        \
        lanes16 u2 = load16(u + 16 * (j + 2)), u3 = load16(u + 16 * (j + 3));                  \
        lanes16 u4 = load16(u + 16 * (j + 4)), u5 = load16(u + 16 * (j + 5));                  \
        lanes16 u6 = load16(u + 16 * (j + 6)), u7 = load16(u + 16 * (j + 7));                  \
        for (long k = col0; k < col1; k++) {                                                   \
            lanes16 s = w0[k] * u0 + w0[cols + k] * u1;                                        \
            lanes16 t = w0[2 * cols + k] * u2 + w0[3 * cols + k] * u3;                         \
            s += w0[4 * cols + k] * u4 + w0[5 * cols + k] * u5;                                \
            t += w0[6 * cols + k] * u6 + w0[7 * cols + k] * u7;                                \
            store16(z + 16 * k, load16(z + 16 * k) + (s + t));                                 \
        }                                                                                      \
    }                                                                                          \
    for (; j < rows; j++) {                                                                    \
        const float *wj = w + j * cols;                                                        \
        lanes16 uj = load16(u + 16 * j);                                                       \
        for (long k = col0; k < col1; k++) store16(z + 16 * k, load16(z + 16 * k) + wj[k] * uj); \
    }

__attribute__((target("avx512f")))
static void rows_avx512(const float *w, long cols, const float *x, float *y, long row0, long row1) { ROWS_BODY }
__attribute__((target("avx512f")))
static void columns_avx512(const float *w, long rows, long cols, const float *u, float *z, long col0, long col1) { COLUMNS_BODY }
__attribute__((target("avx2,fma")))
static void rows_avx2(const float *w, long cols, const float *x, float *y, long row0, long row1) { ROWS4_BODY }
__attribute__((target("avx2,fma")))
static void columns_avx2(const float *w, long rows, long cols, const float *u, float *z, long col0, long col1) { COLUMNS_BODY }

// ISOMETRY_BLOCK_PRODUCTS=avx2 takes the AVX2 body on an AVX-512 CPU, so that one machine's
// tests check both; read on every call (a product is millions of operations; getenv is not).
static int level(void) {
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const char *forced = getenv("ISOMETRY_BLOCK_PRODUCTS");
    if (forced != NULL && strcmp(forced, "avx2") == 0 && avx2) return 1;
    if (__builtin_cpu_supports("avx512f")) return 2;
    return avx2 ? 1 : 0;
}

const char *isometry_block16_kernel(void) {
    switch (level()) {
    case 2: return "avx512f";
    case 1: return "avx2+fma";
    default: return NULL;
    }
}

void isometry_block16_rows(const float *w, long cols, const float *x, float *y, long row0, long row1) {
    if (level() == 2) rows_avx512(w, cols, x, y, row0, row1); else rows_avx2(w, cols, x, y, row0, row1);
}

void isometry_block16_columns(const float *w, long rows, long cols, const float *u, float *z, long col0, long col1) {
    if (level() == 2) columns_avx512(w, rows, cols, u, z, col0, col1); else columns_avx2(w, rows, cols, u, z, col0, col1);
}

#else

const char *isometry_block16_kernel(void) { return NULL; }
void isometry_block16_rows(const float *w, long cols, const float *x, float *y, long row0, long row1) {
    (void)w; (void)cols; (void)x; (void)y; (void)row0; (void)row1;
}
void isometry_block16_columns(const float *w, long rows, long cols, const float *u, float *z, long col0, long col1) {
    (void)w; (void)rows; (void)cols; (void)u; (void)z; (void)col0; (void)col1;
}

#endif
