#ifndef REPRO_DNNL_GEMM_H
#define REPRO_DNNL_GEMM_H
// oneDNN's JIT sgemm on the calling thread, for the engine's matrix products.
#ifdef __cplusplus
extern "C" {
#endif

// Row-major C[m×n] = alpha·op(A)·op(B) + beta·C on the calling thread only (no OpenMP team). Returns 0 on success.
int repro_dnnl_sgemm(int trans_a, int trans_b, long m, long n, long k, float alpha, const float *a, long lda,
                     const float *b, long ldb, float beta, float *c, long ldc);

// 1 when oneDNN's sgemm runs a JIT kernel of AVX2 or wider on this CPU (its effective ISA), else 0.
int repro_dnnl_sgemm_has_jit(void);

// The effective ISA oneDNN dispatches to here, e.g. "avx512_core_amx", for reports.
const char *repro_dnnl_isa(void);

#ifdef __cplusplus
}
#endif
#endif
