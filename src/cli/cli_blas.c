/* cli_blas.c: which OpenBLAS kernel synsweep runs (before MPI and any product). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "blas.h"

/* ---- the OpenBLAS kernel ----
 * Chosen before MPI and before any product. OpenBLAS reads OPENBLAS_CORETYPE once, when
 * it loads, so changing the kernel means re-executing this program (same pid and
 * arguments: mpirun and SLURM do not notice). An explicit OPENBLAS_CORETYPE is the user's:
 * kept, and a failed check then stops. Otherwise, when the library's own choice is weaker
 * than what the CPU supports (Debian's 0.3.21 takes CPUs it does not know for Prescott),
 * the best one is set; and when the kernel in use fails blas_check, the next weaker one.
 * SYNSWEEP_BLAS_AUTO marks the value as ours. Each re-execution goes from unset to set or
 * strictly down the ladder, so it cannot loop; SYNSWEEP_BLAS_EXECS bounds it anyway.
 * In the test build only, SYNSWEEP_BLAS_CHECK_FAIL makes checks fail (check_forced_to_fail). */

static void blas_reexec(char **argv, const char *kernel) {
    const char *n = getenv("SYNSWEEP_BLAS_EXECS");
    int execs = n ? atoi(n) : 0;
    if (execs >= 8) {
        fprintf(stderr, "synsweep: not re-executing again for OPENBLAS_CORETYPE=%s (%d times already)\n", kernel, execs);
        return;
    }
    char buf[16];
    snprintf(buf, sizeof buf, "%d", execs + 1);
    setenv("SYNSWEEP_BLAS_EXECS", buf, 1);
    setenv("OPENBLAS_CORETYPE", kernel, 1);
    setenv("SYNSWEEP_BLAS_AUTO", kernel, 1);
    fflush(NULL);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "synsweep: cannot re-execute with OPENBLAS_CORETYPE=%s: %s\n", kernel, strerror(errno));
}

#ifdef SYNSWEEP_FAULT_INJECTION
/* Test build only (synsweep_faulty, tests/test_kernel.sh): SYNSWEEP_BLAS_CHECK_FAIL names
 * kernels (comma-separated, or "all") whose check is made to fail. */
static int check_forced_to_fail(const char *kernel) {
    const char *v = getenv("SYNSWEEP_BLAS_CHECK_FAIL");
    if (!v || !*v) return 0;
    if (!strcasecmp(v, "all")) return 1;
    size_t n = strlen(kernel);
    for (const char *p = v; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !strncasecmp(p, kernel, n)) return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}
#else
static int check_forced_to_fail(const char *kernel) { return (void)kernel, 0; }
#endif

int blas_choose(char **argv) {
    const char *set = getenv("OPENBLAS_CORETYPE"), *ours = getenv("SYNSWEEP_BLAS_AUTO");
    int explicit = set && *set && !(ours && !strcasecmp(set, ours));
    const char *kernel = blas_kernel(), *best = blas_cpu_best(99);
    int level = blas_kernel_level(kernel);
    if ((!set || !*set) && best && level >= 0 && level < blas_kernel_level(best))
        blas_reexec(argv, best); /* returns only if that failed: go on with the library's */
    char err[512];
    if (!blas_check(check_forced_to_fail(kernel), err, sizeof err)) return 0;
    if (explicit) {
        fprintf(stderr, "synsweep: %s\nsynsweep: OPENBLAS_CORETYPE=%s is set explicitly, so it is "
                "kept: set another core type, or unset it to let synsweep choose.\n", err, set);
        return -1;
    }
    const char *next = blas_cpu_best(level < 0 ? 99 : level);
    if (next) {
        fprintf(stderr, "synsweep: %s\nsynsweep: falling back to OpenBLAS kernel %s\n", err, next);
        blas_reexec(argv, next);
    }
    fprintf(stderr, "synsweep: %s\nsynsweep: no weaker OpenBLAS kernel left to try; stopping "
            "(set OPENBLAS_CORETYPE to one that works here).\n", err);
    return -1;
}
