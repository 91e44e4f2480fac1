#ifndef REPRO_DNNL_CONV_H
#define REPRO_DNNL_CONV_H
// Convolutions through oneDNN (the library PyTorch runs its CPU convolutions on), behind a plain C interface for
// the engine. Tensors stay in the engine's layout (N, C, spatial..., weights O, I, kernel...); a plan reorders them
// to the blocked layouts oneDNN's kernels want and back, inside each call.
#ifdef __cplusplus
extern "C" {
#endif

typedef struct repro_conv_plan repro_conv_plan;

// A plan for one geometry and thread count, created once and cached (thread-safe). oneDNN fixes a kernel's thread
// partition when it creates it, and a kernel run with fewer threads than it was made for waits forever at its
// barriers, so a plan runs with exactly `threads` threads. `rank` spatial dims (1–3); arrays have `rank` entries;
// padding is symmetric; dilation 1 = none. Returns NULL when oneDNN has no kernel for it.
repro_conv_plan *repro_conv_plan_get(int rank, int batch, int cin, int cout, const int *image, const int *kernel,
                                     const int *stride, const int *padding, const int *dilation, int has_bias,
                                     int threads);
// The implementation oneDNN chose for the forward pass (direction 0), the input gradient (1) or the weight gradient
// (2), e.g. "jit:avx512_core", "x64:gemm:jit" or "ref:any"; "none" when oneDNN has none. Asking for a backward
// direction builds its primitive.
const char *repro_conv_plan_impl(repro_conv_plan *plan, int direction);
// 1 when oneDNN runs `direction` on one of its direct kernels (names beginning "jit" or "brg"), 0 for its GEMM-based
// or reference ones, which are slower than the engine's own. Asked on every call, so it compares the cached name
// in C instead of handing a string to Swift.
int repro_conv_plan_fast(repro_conv_plan *plan, int direction);

// y = conv(x, w) + b (b may be NULL when the plan has no bias).
int repro_conv_forward(repro_conv_plan *plan, const float *x, const float *w, const float *b, float *y);
// dx = the input gradient for output gradient dy.
int repro_conv_backward_data(repro_conv_plan *plan, const float *dy, const float *w, float *dx);
// dw = the weight gradient (overwritten).
int repro_conv_backward_weights(repro_conv_plan *plan, const float *x, const float *dy, float *dw);

// "major.minor.patch" of the loaded oneDNN.
const char *repro_dnnl_version(void);

#ifdef __cplusplus
}
#endif
#endif
