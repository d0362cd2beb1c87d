// The three GEMMs of a training step (float32, batch 128, width 794, ten weight matrices) on
// any CBLAS library or on oneDNN's dnnl_sgemm, loaded with dlopen: is there a BLAS on this
// machine that runs the trainer's products faster than the OpenBLAS it uses?
//
//   cc -O2 Benchmarks/Peers/blas_libraries.c -o /tmp/blas_libraries -ldl
//   export OPENBLAS_CORETYPE=CooperLake OPENBLAS_NUM_THREADS=2  # as Isometry repairs it
//   /tmp/blas_libraries /usr/lib/x86_64-linux-gnu/libopenblas.so.0 cblas_sgemm
//   OMP_NUM_THREADS=2 /tmp/blas_libraries /usr/lib/x86_64-linux-gnu/libblis.so.4 cblas_sgemm
//   OMP_NUM_THREADS=2 /tmp/blas_libraries /usr/lib/x86_64-linux-gnu/libdnnl.so.2 dnnl_sgemm
//
// (libblis-dev and libdnnl-dev are Debian packages; numpy's own OpenBLAS exports
// scipy_cblas_sgemm.) Prints GFLOP/s per product, medians over 25 blocks of 10 calls.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*cblas_sgemm_t)(int, int, int, int, int, int, float, const float *, int, const float *, int,
                              float, float *, int);
typedef int (*dnnl_sgemm_t)(char, char, long, long, long, float, const float *, long, const float *, long,
                            float, float *, long);
enum { RowMajor = 101, NoTrans = 111, Trans = 112, Batch = 128, Width = 794, Layers = 10, Blocks = 25 };

static cblas_sgemm_t cblas;
static dnnl_sgemm_t dnnl;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

// Row-major C = alpha·op(A)·op(B) + beta·C; dnnl_sgemm is row-major too.
static void gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc) {
    if (dnnl) dnnl(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else cblas(RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *filled(long count, float scale, float offset) {
    float *p = aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64);
    for (long i = 0; i < count; i++) p[i] = scale * (rand() / (float)RAND_MAX) + offset;
    return p;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBRARY.so cblas_sgemm|dnnl_sgemm|SYMBOL\n", argv[0]);
        return 2;
    }
    void *library = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
    if (!library) { fprintf(stderr, "blas_libraries: %s\n", dlerror()); return 2; }
    void *symbol = dlsym(library, argv[2]);
    if (!symbol) { fprintf(stderr, "blas_libraries: no symbol %s in %s\n", argv[2], argv[1]); return 2; }
    if (strcmp(argv[2], "dnnl_sgemm") == 0) dnnl = (dnnl_sgemm_t)symbol;
    else cblas = (cblas_sgemm_t)symbol;

    const int B = Batch, N = Width;
    float *x = filled((long)B * N, 1, 0), *delta = filled((long)B * N, 1, -0.5f), *out = filled((long)B * N, 0, 0);
    float *w[Layers];
    for (int l = 0; l < Layers; l++) w[l] = filled((long)N * N, 0.02f, -0.01f);
    double times[3][Blocks];
    for (int block = -1; block < Blocks; block++) {  // block -1 warms up
        for (int product = 0; product < 3; product++) {
            double start = now();
            for (int l = 0; l < Layers; l++) {
                if (product == 0) gemm(0, 1, B, N, N, 1, x, N, w[l], N, 0, out, N);            // h = x·Wᵀ
                else if (product == 1) gemm(0, 0, B, N, N, 1, delta, N, w[l], N, 0, out, N);   // δ·W
                else gemm(1, 0, N, N, B, -1e-6f, delta, N, x, N, 1, w[l], N);                  // W −= η·δᵀx
            }
            if (block >= 0) times[product][block] = now() - start;
        }
    }
    double flops = 2.0 * B * N * N * Layers;
    const char *names[3] = {"forward", "backward", "update"};
    printf("%s %s:", argv[1], argv[2]);
    for (int product = 0; product < 3; product++) {
        qsort(times[product], Blocks, sizeof(double), ascending);
        printf("  %s %.0f GFLOP/s", names[product], flops / times[product][Blocks / 2] / 1e9);
    }
    printf("\n");
    return 0;
}
