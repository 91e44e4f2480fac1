#ifndef ENGINE_SUPPORT_H
#define ENGINE_SUPPORT_H
// What the engine asks of the machine and of the BLAS library it is linked with, in C because Swift has neither
// cpuid nor a way to call a library function that may be absent.

typedef struct {
    int vendor;            // 1 Intel, 2 AMD, 0 other
    int family, model;     // display family and model (extended fields folded in, as /proc/cpuinfo shows them)
    int avx, fma, avx2;
    int avx512f, avx512bw, avx512dq, avx512vl;
    int os_ymm, os_zmm;    // the OS saves the AVX (ymm) and AVX-512 (zmm, opmask) registers: XCR0
    char brand[49];
} repro_cpu_t;

void repro_cpu_read(repro_cpu_t *out);

// OpenBLAS, looked up at run time so that another BLAS (or an OpenBLAS without DYNAMIC_ARCH) still links and runs.
const char *repro_blas_corename(void);   // openblas_get_corename(), or NULL
const char *repro_blas_config(void);     // openblas_get_config(), or NULL
const char *repro_blas_library(void);    // the file cblas_sgemm was loaded from, or NULL
int repro_blas_can_reselect(void);       // 1 when the library exports gotoblas_dynamic_quit/_init (DYNAMIC_ARCH)
// Runs OpenBLAS's own start-up kernel selection again as if OPENBLAS_CORETYPE had been `core` at load time, then
// restores the environment. Must run before the first BLAS call. Returns 0 when the library cannot.
int repro_blas_reselect(const char *core);

// The widest x86 vector extension this C target was compiled for: 512, 256 or 128 bits.
int repro_build_simd_bits(void);

// Elementwise kernels with a variant per vector width, chosen at load time by the CPU (vector_kernels.c); every
// variant gives the same bits. The vector width they run at here: 512, 256 or 128.
int repro_vector_kernel_bits(void);
// y = e^(x − shift) for x ≤ shift (softmax rows, shift = the row's maximum): 8e-8 relative, libm's expf 6e-8.
void repro_exp_shifted(const float *x, float shift, float *y, long n);
// y = x·Φ(x); Φ(x) into cdf when cdf is not NULL.
void repro_gelu_forward(const float *x, float *y, float *cdf, long n);
// dx = g·(Φ(x) + x·φ(x)) from the forward's Φ(x).
void repro_gelu_backward(const float *g, const float *x, const float *cdf, float *dx, long n);
// y = x for x > 0, else slope·x (0 for slope 0).
void repro_rectify_forward(const float *x, float *y, float slope, long n);
// dx = g for x > 0, else slope·g (0 for slope 0).
void repro_rectify_backward(const float *g, const float *x, float *dx, float slope, long n);

// The engine's worker threads (pool.c): runs fn(ctx, i) for every i in 0..<n on the calling thread and up to
// threads − 1 workers, each thread taking the next item not yet taken; returns when all have run. A call made from
// inside an item runs its items inline, in order.
typedef void (*repro_task_fn)(void *ctx, long index);
void repro_pool_run(int threads, long n, repro_task_fn fn, void *ctx);

#endif
