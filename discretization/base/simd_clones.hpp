// CTFLOW_SIMD_CLONES: a function compiled for AVX-512, AVX2/FMA and the baseline, chosen at run time (glibc ifunc), so
// that its loops vectorise on the CPU that runs them while the build stays portable.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define CTFLOW_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CTFLOW_SIMD_CLONES
#endif
