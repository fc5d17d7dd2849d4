/*
 * clones.h: MULTIVERSION builds a loop for AVX-512, AVX2 and baseline x86-64, picked at load
 * time. Every clone does the same IEEE operations in the same order (strict C11: no FMA
 * contraction), so results are bit-identical whichever runs.
 */
#ifndef SYNSWEEP_CLONES_H
#define SYNSWEEP_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("default", "avx2", "arch=x86-64-v4")))
#else
#define MULTIVERSION
#endif

/* IVDEP before a loop whose iterations are independent in a way the compiler cannot see
 * (winograd's loops over a plane's tiles read or write many streams of one buffer, at least
 * a plane's tiles apart). */
#if defined(__clang__)
#define IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define IVDEP _Pragma("GCC ivdep")
#else
#define IVDEP
#endif

#endif
