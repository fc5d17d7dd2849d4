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

#endif
