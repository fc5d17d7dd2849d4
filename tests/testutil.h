/*
 * testutil: the tiny harness every test executable shares. CHECK records a failure and
 * goes on; test_report prints "N passed, N failed" and is the exit status.
 */
#ifndef SYNSWEEP_TESTUTIL_H
#define SYNSWEEP_TESTUTIL_H

#include <stdio.h>

static int tu_pass, tu_fail;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (cond) tu_pass++;                                                  \
        else {                                                                \
            tu_fail++;                                                        \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

static inline int test_report(const char *name) {
    printf("%s: %d passed, %d failed\n", name, tu_pass, tu_fail);
    return tu_fail ? 1 : 0;
}

#endif
