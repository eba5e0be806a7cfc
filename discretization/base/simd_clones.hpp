// CTFLOW_SIMD_CLONES: a function compiled for AVX-512, AVX2/FMA and the baseline, chosen at run time (glibc ifunc), so
// that its loops vectorise on the CPU that runs them while the build stays portable.
// CTFLOW_HAVE_SIMD_CLONES is 1 where it does so; there, C++ function versions (one static function defined several
// times with __attribute__((target("arch=x86-64-v4"))), ..., target("default")) are dispatched the same way, for a
// kernel whose AVX-512 body differs from the others'.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define CTFLOW_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define CTFLOW_HAVE_SIMD_CLONES 1
#else
#define CTFLOW_SIMD_CLONES
#define CTFLOW_HAVE_SIMD_CLONES 0
#endif
