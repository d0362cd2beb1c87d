// Experiment (third session, dropped): a float32-accurate GEMM on AMX-BF16. Each float32
// operand is split into three bf16 parts, x = h + m + l, and the six cross products whose
// order is at least 2^-16 (hh, hm, mh, hl, mm, lh) are summed by tdpbf16ps into float32 tiles.
// It times the trainer's backward product δ·W (128×794·794×794, ten W prepacked) against
// OpenBLAS and checks its error against a float64 reference beside sgemm's.
//
//   cc -O2 Benchmarks/Experiments/amx_bf16x6.c -o /tmp/amx_bf16x6 -lopenblas -lpthread -lm
//   OPENBLAS_CORETYPE=CooperLake /tmp/amx_bf16x6      # 2 threads each
//   OPENBLAS_CORETYPE=CooperLake /tmp/amx_bf16x6 1    # 1 thread each
//
// Needs a CPU with AMX-BF16 and Linux ≥ 5.16 (arch_prctl grants the tile state). Measured on
// the project machine: error 2.3e-7 of Σ|a·b| (sgemm 3.1e-7); 72–118 GFLOP/s on one thread
// (OpenBLAS 80–97), 88–106 on two (OpenBLAS 132–146). The tiles alone run at 1.4 TFLOP/s bf16
// a core; this kernel waits on tile loads, and packing W (scalar here) takes 4–6 ms.
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cblas.h>
void openblas_set_num_threads(int);
#define TGT __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bf16,avx512bw,avx512vl")))
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
typedef struct { uint8_t palette, start; uint8_t res[14]; uint16_t colsb[16]; uint8_t rows[16]; } __attribute__((packed)) cfg_t;

// x = h + m + l, each bf16 (round to nearest even).
TGT static inline void split3(float x, uint16_t *h, uint16_t *m, uint16_t *l) {
  __m128 v = _mm_set_ss(x);
  __m128bh b0 = _mm_cvtneps_pbh(v); uint16_t h0 = _mm_extract_epi16((__m128i)b0, 0);
  float f0; uint32_t u = (uint32_t)h0 << 16; memcpy(&f0, &u, 4);
  float r1 = x - f0;
  __m128bh b1 = _mm_cvtneps_pbh(_mm_set_ss(r1)); uint16_t m0 = _mm_extract_epi16((__m128i)b1, 0);
  float f1; u = (uint32_t)m0 << 16; memcpy(&f1, &u, 4);
  float r2 = r1 - f1;
  __m128bh b2 = _mm_cvtneps_pbh(_mm_set_ss(r2)); uint16_t l0 = _mm_extract_epi16((__m128i)b2, 0);
  *h = h0; *m = m0; *l = l0;
}
// A (M×K, element (i,k) at a[i*ars + k*aks]) → 3 parts, row-major Mp×Kp bf16, zero padded.
TGT static void packA(const float *a, long ars, long aks, int M, int K, int Mp, int Kp, uint16_t *p[3]) {
  for (int i = 0; i < Mp; i++) for (int k = 0; k < Kp; k++) {
    uint16_t h = 0, m = 0, l = 0;
    if (i < M && k < K) split3(a[i * ars + k * aks], &h, &m, &l);
    // [i/16][k/32][i%16][k%32]: every 16×32 tile is 1 KB contiguous
    long o = (((long)(i / 16) * (Kp / 32) + k / 32) * 16 + i % 16) * 32 + k % 32; p[0][o] = h; p[1][o] = m; p[2][o] = l;
  }
}
// B (K×N, element (k,n) at b[k*brs + n*bcs]) → 3 parts in VNNI: [Kp/2][Np][2].
TGT static void packB(const float *b, long brs, long bcs, int K, int N, int Kp, int Np, uint16_t *p[3]) {
  for (int k = 0; k < Kp; k++) for (int n = 0; n < Np; n++) {
    uint16_t h = 0, m = 0, l = 0;
    if (k < K && n < N) split3(b[k * brs + n * bcs], &h, &m, &l);
    // [n/16][k/32][(k%32)/2][n%16][k&1]
    long o = ((((long)(n / 16) * (Kp / 32) + k / 32) * 16 + (k % 32) / 2) * 16 + n % 16) * 2 + (k & 1); p[0][o] = h; p[1][o] = m; p[2][o] = l;
  }
}
static cfg_t cfg;
TGT static void tiles_on(void) {
  memset(&cfg, 0, sizeof cfg); cfg.palette = 1;
  for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
  _tile_loadconfig(&cfg);
}
// C[M×N] = alpha·A·B + beta·C for column blocks [jb0, jb1) of 32.
TGT static void kernel(int Mp, int Kp, int Np, uint16_t *A[3], uint16_t *B[3], float *C, int ldc, int M, int N,
                       float alpha, float beta, int jb0, int jb1) {
  tiles_on();
  float tmp[32 * 32] __attribute__((aligned(64)));
  for (int jb = jb0; jb < jb1; jb++) for (int i0 = 0; i0 < Mp; i0 += 32) {
    int j0 = jb * 32;
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    for (int k0 = 0; k0 < Kp; k0 += 32) {
      if (k0 + 32 < Kp) for (int q = 0; q < 3; q++) for (int line = 0; line < 16; line++) {
        _mm_prefetch((const char *)(A[q] + ((long)(i0 / 16) * (Kp / 32) + k0 / 32 + 1) * 512) + 64 * line, _MM_HINT_T0);
        _mm_prefetch((const char *)(A[q] + ((long)(i0 / 16 + 1) * (Kp / 32) + k0 / 32 + 1) * 512) + 64 * line, _MM_HINT_T0);
        _mm_prefetch((const char *)(B[q] + ((long)(j0 / 16) * (Kp / 32) + k0 / 32 + 1) * 512) + 64 * line, _MM_HINT_T0);
        _mm_prefetch((const char *)(B[q] + ((long)(j0 / 16 + 1) * (Kp / 32) + k0 / 32 + 1) * 512) + 64 * line, _MM_HINT_T0);
      }
      for (int ia = 0; ia < 3; ia++) {
        _tile_loadd(4, A[ia] + ((long)(i0 / 16) * (Kp / 32) + k0 / 32) * 512, 64);
        _tile_loadd(5, A[ia] + ((long)(i0 / 16 + 1) * (Kp / 32) + k0 / 32) * 512, 64);
        for (int ib = 0; ib < 3 - ia; ib++) {
          _tile_loadd(6, B[ib] + ((long)(j0 / 16) * (Kp / 32) + k0 / 32) * 512, 64);
          _tile_loadd(7, B[ib] + ((long)(j0 / 16 + 1) * (Kp / 32) + k0 / 32) * 512, 64);
          _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
        }
      }
    }
    _tile_stored(0, tmp, 128); _tile_stored(1, tmp + 16, 128); _tile_stored(2, tmp + 16 * 32, 128); _tile_stored(3, tmp + 16 * 32 + 16, 128);
    for (int r = 0; r < 32 && i0 + r < M; r++) for (int c = 0; c < 32 && j0 + c < N; c++) {
      float *d = C + (long)(i0 + r) * ldc + j0 + c;
      *d = alpha * tmp[r * 32 + c] + (beta == 0 ? 0 : beta * *d);
    }
  }
  _tile_release();
}
struct job { int Mp, Kp, Np; uint16_t **A, **B; float *C; int M, N; int jb0, jb1; };
static void *jobrun(void *p) { struct job *j = p; kernel(j->Mp, j->Kp, j->Np, j->A, j->B, j->C, j->N, j->M, j->N, 1, 0, j->jb0, j->jb1); return 0; }
static int cmp(const void *a, const void *b) { double x = *(double*)a, y = *(double*)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
  if (syscall(SYS_arch_prctl, 0x1023, 18)) { printf("no AMX\n"); return 1; }
  int M = 128, N = 794, K = 794, Mp = 128, Kp = 800, Np = 800, L = 10;
  float *D = malloc(4L * M * K), *C = malloc(4L * M * N), *R = malloc(4L * M * N); float *W[10];
  srand(1);
  for (int i = 0; i < M * K; i++) D[i] = (rand() / (float)RAND_MAX - .5f) * 1e-3f;
  for (int l = 0; l < L; l++) { W[l] = malloc(4L * K * N); for (int i = 0; i < K * N; i++) W[l][i] = (i % (N + 1) == 0 ? 1.0f : 0) + (rand() / (float)RAND_MAX - .5f) * 0.05f; }
  uint16_t *A[3], *B[10][3];
  for (int i = 0; i < 3; i++) A[i] = aligned_alloc(64, 2L * Mp * Kp);
  for (int l = 0; l < L; l++) for (int i = 0; i < 3; i++) B[l][i] = aligned_alloc(64, 2L * Kp * Np);
  double tp = now(); for (int l = 0; l < L; l++) packB(W[l], N, 1, K, N, Kp, Np, B[l]); tp = now() - tp;
  double ta = now(); packA(D, K, 1, M, K, Mp, Kp, A); ta = now() - ta;
  printf("pack W (scalar, 1 thread): %.2f ms each; pack δ: %.3f ms\n", tp / L * 1e3, ta * 1e3);
  // accuracy vs double
  kernel(Mp, Kp, Np, A, B[0], C, N, M, N, 1, 0, 0, Np / 32);
  openblas_set_num_threads(argc > 1 ? 1 : 2);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, D, K, W[0], N, 0, R, N);
  double e_amx = 0, e_blas = 0;
  for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) {
    double s = 0, a = 0; for (int k = 0; k < K; k++) { s += (double)D[i * K + k] * W[0][k * N + j]; a += fabs((double)D[i * K + k] * W[0][k * N + j]); }
    e_amx = fmax(e_amx, fabs(C[i * N + j] - s) / a); e_blas = fmax(e_blas, fabs(R[i * N + j] - s) / a);
  }
  printf("max |error| / Σ|a·b|: AMX bf16x6 %.2e, OpenBLAS sgemm %.2e (float32 eps %.2e)\n", e_amx, e_blas, 5.96e-8);
  // Speed: column blocks split over 2 threads (or 1 with an argument) against OpenBLAS alike.
  double t1[15], t2[15];
  for (int rep = 0; rep < 15; rep++) {
    double s = now();
    for (int l = 0; l < L; l++) {
      struct job j0 = {Mp, Kp, Np, A, B[l], C, M, N, 0, 13}, j1 = {Mp, Kp, Np, A, B[l], C, M, N, 13, 25};
      if (argc > 1) { j0.jb1 = 25; jobrun(&j0); } else { pthread_t th; pthread_create(&th, 0, jobrun, &j1); jobrun(&j0); pthread_join(th, 0); }
    }
    t1[rep] = now() - s;
    s = now();
    for (int l = 0; l < L; l++) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, D, K, W[l], N, 0, R, N);
    t2[rep] = now() - s;
  }
  qsort(t1, 15, 8, cmp); qsort(t2, 15, 8, cmp);
  double f = 2.0 * M * N * K * L;
  int threads = argc > 1 ? 1 : 2;
  printf("δ·W 128×794·794×794, %d thread(s): AMX bf16x6 (W prepacked) %.0f GFLOP/s, OpenBLAS %.0f\n", threads, f / t1[7] / 1e9, f / t2[7] / 1e9);
}
