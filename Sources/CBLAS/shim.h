// OpenBLAS's CBLAS interface. The include directory comes from pkg-config (openblas),
// so no path is written here.
#include <cblas.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

// OpenBLAS builds with DYNAMIC_ARCH pick their kernels from the CPU model at load time.
// Releases older than the CPU (Debian 12 ships 0.3.21) do not know recent Xeons and fall
// back to "Prescott", the SSE3 kernels: GEMM then runs at a seventh of the machine's peak.
// These entry points exist only in DYNAMIC_ARCH builds, hence weak references.
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

/// When OpenBLAS fell back to its generic x86-64 kernels on a CPU with AVX2 or AVX-512,
/// re-selects kernels as if OPENBLAS_CORETYPE had named the CPU's family, and returns 1.
/// Does nothing (returns 0) when the user set OPENBLAS_CORETYPE, when the detection was
/// right, when the library was not built with DYNAMIC_ARCH, or on a CPU that is not x86.
static inline int isometry_openblas_repair_core(void) {
#if defined(__x86_64__) || defined(__i386__)
    if (getenv("OPENBLAS_CORETYPE") != NULL) return 0;
    if (gotoblas_dynamic_init == NULL || gotoblas_dynamic_quit == NULL) return 0;
    const char *detected = openblas_get_corename();
    if (detected == NULL || strcmp(detected, "Prescott") != 0) return 0;
    __builtin_cpu_init();
    const char *core = NULL;
    if (__builtin_cpu_supports("avx512f")) {
        unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
        // CPUID leaf 7, sub-leaf 1, EAX bit 5: AVX512_BF16, which Cooper Lake's kernels use.
        int bf16 = __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5));
        core = bf16 ? "CooperLake" : "SkylakeX";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        core = "Haswell";
    }
    if (core == NULL) return 0;
    setenv("OPENBLAS_CORETYPE", core, 0);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    return 1;
#else
    // The Prescott fallback and CPUID are x86 matters; other CPUs keep OpenBLAS's choice.
    return 0;
#endif
}
