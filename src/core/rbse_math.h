/*
 * rbse_math: float exp(x) for x <= 0 and log(q) for q in (1/2, 2), inline and branch-free so
 * that rbse_prepare's loop vectorises (issue 20).
 */
#ifndef SYNSWEEP_RBSE_MATH_H
#define SYNSWEEP_RBSE_MATH_H

#include <stdint.h>
#include <string.h>

/*
 * exp(x) for x <= 0 and log(q) for q in (0.5, 2), in float with no table and no branch, so
 * that rbse_prepare's loop vectorises (glibc's expf and logf are calls: 0.35 s of a 1.8 s
 * CD-1 epoch). Cephes' reductions and polynomials (S. Moshier, expf.c and logf.c); every
 * clone runs the same IEEE operations in the same order. test_rbse_prepare checks both
 * against double precision over their ranges (0.95 and 0.83 ulp at most; bound 2).
 */
static inline float f_of_u(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t u_of_f(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* x = n ln2 + r (n rounded to nearest by the 1.5 * 2^23 shift, ln2 split so n * hi is
 * exact), exp(r) = 1 + r + r^2 P(r). Below -87, exp(-87) (2^-126 < it): callers need only
 * 1 + e and e / (1 + e), for which the difference is below float resolution. */
static inline float exp_nonpos(float x) {
    x = x < -87.0f ? -87.0f : x;
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    int32_t ni = (int32_t)(u_of_f(t) - 0x4b400000u);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float z = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * z + r + 1.0f;
    return y * f_of_u((uint32_t)(ni + 127) << 23);
}

/* q = 2^e m with m in [sqrt(1/2), sqrt(2)), log q = e ln2 + log1p(x), x = m - 1 exact. */
static inline float log_half2(float q) {
    uint32_t iq = u_of_f(q);
    int32_t e = (int32_t)(iq >> 23) - 126;
    float m = f_of_u((iq & 0x007fffffu) | 0x3f000000u); /* [1/2, 1) */
    int lo = m < 0.707106781186547524f;
    e = lo ? e - 1 : e;
    float x = lo ? m + m - 1.0f : m - 1.0f, fe = (float)e, z = x * x;
    float y = 7.0376836292e-2f;
    y = y * x - 1.1514610310e-1f;
    y = y * x + 1.1676998740e-1f;
    y = y * x - 1.2420140846e-1f;
    y = y * x + 1.4249322787e-1f;
    y = y * x - 1.6668057665e-1f;
    y = y * x + 2.0000714765e-1f;
    y = y * x - 2.4999993993e-1f;
    y = y * x + 3.3333331174e-1f;
    y = y * x * z;
    y = y + fe * -2.12194440e-4f;
    y = y - 0.5f * z;
    x = x + y;
    return x + fe * 0.693359375f;
}

#endif
