/* cli_util.c: what the commands share in parsing their arguments. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "synsweep: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(synsweep --help for usage)\n");
    return 2;
}

int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return (errno || end == s || *end || !isfinite(*out) || *out < 0) ? -1 : 0;
}

unsigned long long gigabytes(double x) {
    double b = x * 1e9;
    return b < 1.0 ? 1 : b >= 1.8e19 ? ULLONG_MAX : (unsigned long long)b; /* no overflowing cast */
}
