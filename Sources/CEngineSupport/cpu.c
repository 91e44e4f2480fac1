#include "engine_support.h"
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

void repro_cpu_read(repro_cpu_t *o) {
    memset(o, 0, sizeof *o);
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned maxLeaf = a;
    char vendor[13];
    memcpy(vendor, &b, 4); memcpy(vendor + 4, &d, 4); memcpy(vendor + 8, &c, 4); vendor[12] = 0;
    o->vendor = !strcmp(vendor, "GenuineIntel") ? 1 : (!strcmp(vendor, "AuthenticAMD") ? 2 : 0);
    __get_cpuid(1, &a, &b, &c, &d);
    int family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
    if (family == 0xf) family += (a >> 20) & 0xff;
    if (family == 0x6 || family >= 0xf) model += ((a >> 16) & 0xf) << 4;
    o->family = family; o->model = model;
    o->fma = (c >> 12) & 1;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    o->os_ymm = (xcr0 & 0x6) == 0x6;
    o->os_zmm = (xcr0 & 0xe6) == 0xe6;
    o->avx = avx;
    if (maxLeaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        o->avx2 = (b >> 5) & 1;
        o->avx512f = (b >> 16) & 1;
        o->avx512dq = (b >> 17) & 1;
        o->avx512bw = (b >> 30) & 1;
        o->avx512vl = (b >> 31) & 1;
    }
    __get_cpuid(0x80000000, &a, &b, &c, &d);
    if (a >= 0x80000004) {
        unsigned *w = (unsigned *)o->brand;
        for (unsigned leaf = 0; leaf < 3; leaf++) __get_cpuid(0x80000002 + leaf, &w[4 * leaf], &w[4 * leaf + 1], &w[4 * leaf + 2], &w[4 * leaf + 3]);
        o->brand[48] = 0;
    }
}
#else
void repro_cpu_read(repro_cpu_t *o) { memset(o, 0, sizeof *o); }
#endif

int repro_build_simd_bits(void) {
#if defined(__AVX512F__)
    return 512;
#elif defined(__AVX__)
    return 256;
#else
    return 128;
#endif
}
