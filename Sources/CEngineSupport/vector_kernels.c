// Elementwise kernels built once per vector width and picked at load time by the CPU (GCC/Clang target_clones:
// the dynamic loader resolves each through an ifunc). The Swift modules are built for baseline x86-64, where their
// SIMD16 code runs on four SSE registers; these run on one AVX-512 or two AVX2 registers where the CPU has them.
//
// Every element goes through the same IEEE operations in the same order on every variant, and the package builds
// this file with -ffp-contract=off (no fused multiply-adds), so the three variants give the same bits, and the
// same bits as the Swift SIMD16 code they replaced. Accuracy over 2^20 points: exp within 8e-8 relative on
// [-87.3, 0] (libm 6e-8); x·Phi(x) within 4e-7 absolute on [-10, 10] (0.5·x·(1 + erff(x/sqrt 2)) 4.5e-7, and 7%
// relative in the negative tail, where 1 + erf cancels and erfc does not). 3-5x faster than libm's erff and expf.
#include "engine_support.h"
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

static inline float bits_to_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t float_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

// e^x for x <= 0 (0 below -87.33654, where it would leave the normal range): 2^n·e^r with n = round(x·log2 e) and
// r = x - n·ln 2 in two parts (Cody-Waite), e^r by Cephes' expf polynomial, 2^n built in the exponent bits.
static inline float exp_non_positive(float x) {
    const float low = -87.33654f;
    float xc = x < low ? low : x;
    const float magic = 12582912.0f;   // 1.5·2^23: adding it rounds to an integer kept in the low mantissa bits
    float v = xc * 1.44269504088896341f + magic;
    float n = v - magic;
    float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float er = p * r * r + r + 1;
    uint32_t e = (float_to_bits(v) - 0x4B400000u + 127u) << 23;
    float y = er * bits_to_float(e);
    return x < low ? 0 : y;
}

// Phi(x) = erfc(-x/sqrt 2)/2, with erfc(z) = t·exp(-z² + P(t)), t = 1/(1 + z/2), for z >= 0 (Numerical Recipes'
// erfcc, relative error below 1.2e-7) and Phi(x) = 1 - Phi(-x).
static inline float normal_cdf(float x) {
    int positive = x >= 0;
    float z = (positive ? x : -x) * 0.7071067811865476f;
    float t = 1 / (1 + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float tail = 0.5f * t * exp_non_positive(p - z * z);
    return positive ? 1 - tail : tail;
}

CLONES void repro_exp_shifted(const float *restrict x, float shift, float *restrict y, long n) {
    for (long i = 0; i < n; i++) y[i] = exp_non_positive(x[i] - shift);
}

CLONES void repro_gelu_forward(const float *restrict x, float *restrict y, float *restrict cdf, long n) {
    if (cdf) {
        for (long i = 0; i < n; i++) { float c = normal_cdf(x[i]); y[i] = x[i] * c; cdf[i] = c; }
    } else {
        for (long i = 0; i < n; i++) y[i] = x[i] * normal_cdf(x[i]);
    }
}

CLONES void repro_gelu_backward(const float *restrict g, const float *restrict x, const float *restrict cdf,
                                float *restrict dx, long n) {
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float d = cdf[i] + v * 0.3989422804014327f * exp_non_positive(-0.5f * v * v);
        dx[i] = g[i] * d;
    }
}

CLONES void repro_rectify_forward(const float *restrict x, float *restrict y, float slope, long n) {
    if (slope == 0) {
        for (long i = 0; i < n; i++) y[i] = x[i] <= 0 ? 0 : x[i];
    } else {
        for (long i = 0; i < n; i++) y[i] = x[i] <= 0 ? slope * x[i] : x[i];
    }
}

CLONES void repro_rectify_backward(const float *restrict g, const float *restrict x, float *restrict dx, float slope,
                                   long n) {
    if (slope == 0) {
        for (long i = 0; i < n; i++) dx[i] = x[i] <= 0 ? 0 : g[i];
    } else {
        for (long i = 0; i < n; i++) dx[i] = x[i] <= 0 ? slope * g[i] : g[i];
    }
}

int repro_vector_kernel_bits(void) {
#if defined(__x86_64__) && defined(__linux__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 512;
    if (__builtin_cpu_supports("avx2")) return 256;
#endif
    return 128;
}
