/*
 * winograd.c: 3x3 stride-1 convolutions by F(2x2, 3x3) (winograd.h). With the padded input Xp
 * (x with a zero border of 1), tile (ty, tx) reads Xp rows 2ty .. 2ty+3 and columns 2tx ..
 * 2tx+3 and writes output rows 2ty, 2ty+1 and columns 2tx, 2tx+1. The matrices (Lavin and
 * Gray's):
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   (input tile, 4x4 -> 4x4, both sides)
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] (kernel, 3x3 -> 4x4)
 *   A^T = [1 1 1 0; 0 1 -1 -1]                      (product, 4x4 -> 2x2)
 *
 * Transformed tiles are stored by element: V (16, C, cols), xi = 4 i + j for row i and
 * column j of the 4x4 tile; column n*T + ty*TW + tx for image n of the chunk (T = TH*TW
 * tiles per image), so each transform runs over all of a plane's tiles in one loop with unit
 * stride: the plane is first split by padded-row parity and column offset (below), after
 * which every tile's 16 inputs are 8 arrays read at f and f + TW.
 */
#include "winograd.h"

#include <string.h>

#include "clones.h"
#include "winograd_impl.h"

int wino_applies(int C, int H, int W, int K, int stride, int pad) { return wino_fits(2, C, H, W, K, stride, pad); }

int wino_chunk(int C, int O, int H, int W, int B) { return wino_images((size_t)16 * (C + O) * (H / 2) * (W / 2), B); }

static size_t split_floats(int H, int W);

/* Floats of the per-plane buffers: 8 split arrays and 8 T of carries (dx_plane; in_plane,
 * out_plane and dy_plane need less), then the edge masks. */
static size_t buf_floats(int H, int W) {
    size_t T = (size_t)(H / 2) * (W / 2);
    return 8 * split_floats(H, W) + 8 * T + 2 * wino_up16(T) + 16;
}

size_t wino_scratch(int C, int O, int H, int W, int B) {
    WinoDims d = wino_dims(2, C, O, H, W, wino_chunk(C, O, H, W, B));
    return wino_parts_floats(&d) + buf_floats(H, W);
}

/* ---- kernels ---- */

/* u (16, O*C) <- G g G^T of each kernel g of w (O*C, 3, 3). */
static void kernels_in(const float *w, size_t oc, float *u) {
    for (size_t k = 0; k < oc; k++) {
        const float *g = w + 9 * k;
        float q[4][3];
        for (int j = 0; j < 3; j++) {
            float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
            q[0][j] = g0, q[1][j] = 0.5f * (g0 + g1 + g2), q[2][j] = 0.5f * (g0 - g1 + g2), q[3][j] = g2;
        }
        for (int i = 0; i < 4; i++) {
            float a = q[i][0], b = q[i][1], c = q[i][2];
            u[(4 * i + 0) * oc + k] = a, u[(4 * i + 1) * oc + k] = 0.5f * (a + b + c);
            u[(4 * i + 2) * oc + k] = 0.5f * (a - b + c), u[(4 * i + 3) * oc + k] = c;
        }
    }
}

/* dw (O*C, 3, 3) += G^T X G of each X of du (16, O*C): the adjoint of kernels_in. */
static void kernels_out(const float *du, size_t oc, float *dw) {
    for (size_t k = 0; k < oc; k++) {
        float r[3][4];
        for (int j = 0; j < 4; j++) {
            float x0 = du[j * oc + k], x1 = du[(4 + j) * oc + k], x2 = du[(8 + j) * oc + k], x3 = du[(12 + j) * oc + k];
            r[0][j] = x0 + 0.5f * (x1 + x2), r[1][j] = 0.5f * (x1 - x2), r[2][j] = 0.5f * (x1 + x2) + x3;
        }
        float *g = dw + 9 * k;
        for (int i = 0; i < 3; i++) {
            float a = r[i][0], b = r[i][1], c = r[i][2], d = r[i][3];
            g[3 * i] += a + 0.5f * (b + c), g[3 * i + 1] += 0.5f * (b - c), g[3 * i + 2] += 0.5f * (b + c) + d;
        }
    }
}

/* ---- per-plane transforms (one image, one channel; vs: floats between elements xi) ----
 * Each runs over the plane's T tiles in one flat loop (f = ty * TW + tx), reading or writing
 * the plane split into 8 arrays of (TH + 1) * TW floats: by the parity of the padded row
 * (par 0: padded rows 2j, i.e. x rows 2j - 1, the first one zero; par 1: padded rows 2j + 1,
 * x rows 2j, the last one zero) and by the column k = 0 .. 3 of the tile (padded column
 * 2tx + k, x column 2tx + k - 1, zero outside x). Tile f's element (i, k) is then
 * S[par = i & 1][k][f + (i >> 1) * TW]. */

/* Floats of one split array with 16 floats either side (the array starts 16 in). */
static size_t split_floats(int H, int W) { return wino_up16((size_t)(H / 2 + 1) * (W / 2)) + 32; }

/* s (arrays k = 1, 2 of both parities, ss apart, starting 16 in) <- plane x (H, W) split as
 * above; columns 0 and 3 are read from k = 2 at f - 1 and k = 1 at f + 1 (in_flat). */
MULTIVERSION static void split_plane(const float *restrict x, int H, int W, float *restrict s, size_t ss) {
    int TW = W / 2, TH = H / 2;
    for (int k = 1; k < 3; k++) {
        float *a0 = s + k * ss, *a1 = s + (4 + k) * ss;
        memset(a0, 0, 16 * sizeof(float)), memset(a1, 0, 16 * sizeof(float));
        memset(a0 + 16, 0, (size_t)TW * sizeof(float));                        /* par 0: x row -1 */
        memset(a1 + 16 + (size_t)TH * TW, 0, (size_t)(TW + 16) * sizeof(float)); /* par 1: x row H */
        memset(a0 + 16 + (size_t)(TH + 1) * TW, 0, 16 * sizeof(float));
    }
    for (int r = 0; r < H; r++) {
        const float *xr = x + (size_t)r * W;
        float *s1 = s + (size_t)(4 * ((r + 1) & 1) + 1) * ss + 16 + (size_t)((r + 1) >> 1) * TW, *s2 = s1 + ss;
        for (int t = 0; t < TW; t++) s1[t] = xr[2 * t], s2[t] = xr[2 * t + 1];
    }
}

/* v (16 streams vs apart) <- B^T d B of every tile d of the split plane s (lm, rm: edge_masks). */
MULTIVERSION static void in_flat(const float *restrict s, size_t ss, int T, int TW, const float *restrict lm,
                                 const float *restrict rm, float *restrict v, size_t vs) {
    const float *e1 = s + ss + 16, *e2 = s + 2 * ss + 16, *o1 = s + 5 * ss + 16, *o2 = s + 6 * ss + 16;
IVDEP
    for (int f = 0; f < T; f++) {
        int g = f + TW; /* rows: B^T d (r_i = combinations of the tile rows 0 .. 3), per column k */
        int l = lm[f] != 0.0f, r = rm[f] != 0.0f;
        float e0f = l ? e2[f - 1] : 0.0f, e0g = l ? e2[g - 1] : 0.0f, o0f = l ? o2[f - 1] : 0.0f;
        float o0g = l ? o2[g - 1] : 0.0f, e3f = r ? e1[f + 1] : 0.0f, e3g = r ? e1[g + 1] : 0.0f;
        float o3f = r ? o1[f + 1] : 0.0f, o3g = r ? o1[g + 1] : 0.0f;
        float r00 = e0f - e0g, r01 = e1[f] - e1[g], r02 = e2[f] - e2[g], r03 = e3f - e3g;
        float r10 = o0f + e0g, r11 = o1[f] + e1[g], r12 = o2[f] + e2[g], r13 = o3f + e3g;
        float r20 = e0g - o0f, r21 = e1[g] - o1[f], r22 = e2[g] - o2[f], r23 = e3g - o3f;
        float r30 = o0f - o0g, r31 = o1[f] - o1[g], r32 = o2[f] - o2[g], r33 = o3f - o3g;
        v[f] = r00 - r02, v[vs + f] = r01 + r02, v[2 * vs + f] = r02 - r01, v[3 * vs + f] = r01 - r03;
        v[4 * vs + f] = r10 - r12, v[5 * vs + f] = r11 + r12, v[6 * vs + f] = r12 - r11, v[7 * vs + f] = r11 - r13;
        v[8 * vs + f] = r20 - r22, v[9 * vs + f] = r21 + r22, v[10 * vs + f] = r22 - r21, v[11 * vs + f] = r21 - r23;
        v[12 * vs + f] = r30 - r32, v[13 * vs + f] = r31 + r32, v[14 * vs + f] = r32 - r31;
        v[15 * vs + f] = r31 - r33;
    }
}

/* Plane y (H, W) <- A^T m A of its tiles (m[xi * ms + f]) + bias, then the affine (am, aa, ab,
 * relu) if aff; buf: 4 T floats. */
MULTIVERSION static void out_plane(const float *restrict m, size_t ms, int H, int W, float bias, int aff, float am,
                                   float aa, float ab, int relu, float *restrict y, float *restrict buf) {
    int TW = W / 2, T = TW * (H / 2);
    float *a = buf, *b = buf + T, *c = buf + 2 * T, *d = buf + 3 * T;
    const float *p = m;
IVDEP
    for (int t = 0; t < T; t++) {
        float t00 = p[t] + p[4 * ms + t] + p[8 * ms + t], t10 = p[4 * ms + t] - p[8 * ms + t] - p[12 * ms + t];
        float t01 = p[ms + t] + p[5 * ms + t] + p[9 * ms + t], t11 = p[5 * ms + t] - p[9 * ms + t] - p[13 * ms + t];
        float t02 = p[2 * ms + t] + p[6 * ms + t] + p[10 * ms + t];
        float t12 = p[6 * ms + t] - p[10 * ms + t] - p[14 * ms + t];
        float t03 = p[3 * ms + t] + p[7 * ms + t] + p[11 * ms + t];
        float t13 = p[7 * ms + t] - p[11 * ms + t] - p[15 * ms + t];
        a[t] = t00 + t01 + t02 + bias, b[t] = t01 - t02 - t03 + bias;
        c[t] = t10 + t11 + t12 + bias, d[t] = t11 - t12 - t13 + bias;
    }
    if (aff && relu) /* a, b, c, d: 4 T floats in a row */
        for (int t = 0; t < 4 * T; t++) {
            float r = (buf[t] - am) * aa + ab;
            buf[t] = r > 0.0f ? r : 0.0f;
        }
    else if (aff)
        for (int t = 0; t < 4 * T; t++) buf[t] = (buf[t] - am) * aa + ab;
    for (int ty = 0; ty < H / 2; ty++) {
        float *y0 = y + (size_t)(2 * ty) * W, *y1 = y0 + W;
        const float *at = a + ty * TW, *bt = b + ty * TW, *ct = c + ty * TW, *dt = d + ty * TW;
        for (int t = 0; t < TW; t++) y0[2 * t] = at[t], y0[2 * t + 1] = bt[t], y1[2 * t] = ct[t], y1[2 * t + 1] = dt[t];
    }
}

/* dd (16 streams ds apart) <- A g A^T of each 2x2 tile g of the output gradient plane dy
 * (H, W); buf: 4 T floats. */
MULTIVERSION static void dy_plane(const float *restrict dy, int H, int W, float *restrict dd, size_t ds,
                                  float *restrict buf) {
    int TW = W / 2, T = TW * (H / 2);
    float *a0 = buf, *a1 = buf + T, *b0 = buf + 2 * T, *b1 = buf + 3 * T;
    for (int ty = 0; ty < H / 2; ty++) {
        const float *r0 = dy + (size_t)(2 * ty) * W, *r1 = r0 + W;
        int f = ty * TW;
        for (int t = 0; t < TW; t++)
            a0[f + t] = r0[2 * t], a1[f + t] = r0[2 * t + 1], b0[f + t] = r1[2 * t], b1[f + t] = r1[2 * t + 1];
    }
IVDEP
    for (int t = 0; t < T; t++) { /* rows of A g: p_i (left column), q_i (right); then (p, p + q, p - q, -q) */
        float p0 = a0[t], p1 = a0[t] + b0[t], p2 = a0[t] - b0[t], p3 = -b0[t];
        float q0 = a1[t], q1 = a1[t] + b1[t], q2 = a1[t] - b1[t], q3 = -b1[t];
        dd[t] = p0, dd[ds + t] = p0 + q0, dd[2 * ds + t] = p0 - q0, dd[3 * ds + t] = -q0;
        dd[4 * ds + t] = p1, dd[5 * ds + t] = p1 + q1, dd[6 * ds + t] = p1 - q1, dd[7 * ds + t] = -q1;
        dd[8 * ds + t] = p2, dd[9 * ds + t] = p2 + q2, dd[10 * ds + t] = p2 - q2, dd[11 * ds + t] = -q2;
        dd[12 * ds + t] = p3, dd[13 * ds + t] = p3 + q3, dd[14 * ds + t] = p3 - q3, dd[15 * ds + t] = -q3;
    }
}

/* g (8 split arrays of ss) <- B dV B^T of every tile (v[xi * vs + f]), the overlaps summed:
 * rows i 0, 1 into g[f] (each written once), rows 2, 3 through carry (8 T floats) added to
 * g[f + TW] after. */
MULTIVERSION static void dx_flat(const float *restrict v, size_t vs, int T, int TW, float *restrict g, size_t ss,
                                 float *restrict carry) {
    float *e0 = g, *e1 = g + ss, *e2 = g + 2 * ss, *e3 = g + 3 * ss;
    float *o0 = g + 4 * ss, *o1 = g + 5 * ss, *o2 = g + 6 * ss, *o3 = g + 7 * ss;
IVDEP
    for (int t = 0; t < T; t++) { /* h_ik: each row i's B dV_i; then the rows' combinations */
        float h00 = v[t], h01 = v[vs + t] - v[2 * vs + t] + v[3 * vs + t];
        float h02 = v[vs + t] + v[2 * vs + t] - v[t], h03 = -v[3 * vs + t];
        float h10 = v[4 * vs + t], h11 = v[5 * vs + t] - v[6 * vs + t] + v[7 * vs + t];
        float h12 = v[5 * vs + t] + v[6 * vs + t] - v[4 * vs + t], h13 = -v[7 * vs + t];
        float h20 = v[8 * vs + t], h21 = v[9 * vs + t] - v[10 * vs + t] + v[11 * vs + t];
        float h22 = v[9 * vs + t] + v[10 * vs + t] - v[8 * vs + t], h23 = -v[11 * vs + t];
        float h30 = v[12 * vs + t], h31 = v[13 * vs + t] - v[14 * vs + t] + v[15 * vs + t];
        float h32 = v[13 * vs + t] + v[14 * vs + t] - v[12 * vs + t], h33 = -v[15 * vs + t];
        e0[t] = h00, e1[t] = h01, e2[t] = h02, e3[t] = h03; /* row 0: par 0 at f */
        o0[t] = h10 - h20 + h30, o1[t] = h11 - h21 + h31;   /* row 1: par 1 at f */
        o2[t] = h12 - h22 + h32, o3[t] = h13 - h23 + h33;
        carry[t] = h10 + h20 - h00, carry[T + t] = h11 + h21 - h01; /* row 2: par 0 at f + TW */
        carry[2 * T + t] = h12 + h22 - h02, carry[3 * T + t] = h13 + h23 - h03;
        carry[4 * T + t] = -h30, carry[5 * T + t] = -h31, carry[6 * T + t] = -h32, carry[7 * T + t] = -h33; /* row 3 */
    }
    for (int k = 0; k < 8; k++) memset(g + k * ss + T, 0, (size_t)TW * sizeof(float)); /* the last row: carries only */
    for (int k = 0; k < 4; k++) {
        float *ek = g + k * ss + TW, *ok = g + (4 + k) * ss + TW;
        const float *ce = carry + (size_t)k * T, *co = carry + (size_t)(4 + k) * T;
        for (int t = 0; t < T; t++) ek[t] += ce[t], ok[t] += co[t];
    }
}

/* Plane dx (H, W) += the split gradient g: x[r][2t] is tile column 1 at t and 3 at t - 1,
 * x[r][2t + 1] column 2 at t and 0 at t + 1. set: each row zeroed first (in cache), so dx's
 * prior contents are never read. */
MULTIVERSION static void join_plane(const float *restrict g, size_t ss, int H, int W, float *restrict dx, int set) {
    int TW = W / 2;
    for (int r = 0; r < H; r++) {
        const float *g0 = g + (size_t)(4 * ((r + 1) & 1)) * ss + (size_t)((r + 1) >> 1) * TW;
        const float *g1 = g0 + ss, *g2 = g1 + ss, *g3 = g2 + ss;
        float *xr = dx + (size_t)r * W;
        if (set) memset(xr, 0, (size_t)W * sizeof(float));
        xr[0] += g1[0], xr[W - 1] += g2[TW - 1];
        for (int t = 1; t < TW; t++) xr[2 * t] += g1[t] + g3[t - 1];
        for (int t = 0; t + 1 < TW; t++) xr[2 * t + 1] += g2[t] + g0[t + 1];
    }
}

/* v (16 x vs) <- the transformed tiles of plane x (H, W). */
static void in_plane(const float *x, int H, int W, float *v, size_t vs, float *buf) {
    size_t ss = split_floats(H, W), T = (size_t)(H / 2) * (W / 2);
    float *lm = buf + 8 * ss + 8 * T, *rm = lm + wino_up16(T);
    split_plane(x, H, W, buf, ss);
    in_flat(buf, ss, (int)T, W / 2, lm, rm, v, vs);
}

/* Plane dx (H, W) += (set: <-) B dV B^T of its tiles (v[xi * vs + f]), the overlaps summed. */
static void dx_plane(const float *v, size_t vs, int H, int W, float *dx, int set, float *buf) {
    size_t ss = split_floats(H, W);
    dx_flat(v, vs, (H / 2) * (W / 2), W / 2, buf, ss, buf + 8 * ss);
    join_plane(buf, ss, H, W, dx, set);
}

/* ---- the layer ---- */

void wino_forward(const float *w, const float *b, int C, int O, int H, int W, const float *x, int B, float *y,
                  const WinoAffine *aff, float *scratch) {
    WinoDims dm = wino_dims(2, C, O, H, W, wino_chunk(C, O, H, W, B));
    int T = dm.T, chunk = dm.chunk;
    size_t HW = dm.HW, ni = dm.ni, no = dm.no, oc = dm.oc, sv = dm.sv, sm = dm.so;
    float *u, *unused, *v, *m, *buf = wino_parts(scratch, &dm, &u, &unused, &v, &m);
    size_t ss = split_floats(H, W);
    wino_edge_masks(T, W / 2, buf + 8 * ss + 8 * (size_t)T, buf + 8 * ss + 8 * (size_t)T + wino_up16((size_t)T));
    kernels_in(w, oc, u);
    for (int n0 = 0; n0 < B; n0 += chunk) {
        int nb = B - n0 < chunk ? B - n0 : chunk, nc = nb * T;
        for (int n = 0; n < nb; n++)
            for (int c = 0; c < C; c++)
                in_plane(x + (n0 + n) * ni + c * HW, H, W, v + (size_t)c * nc + (size_t)n * T, sv, buf);
        wino_products(16, O, C, nc, u, v, sv, m, sm);
        for (int n = 0; n < nb; n++)
            for (int o = 0; o < O; o++)
                out_plane(m + (size_t)o * nc + (size_t)n * T, sm, H, W, b ? b[o] : 0.0f, aff != NULL,
                          aff ? aff->m[o] : 0.0f, aff ? aff->a[o] : 0.0f, aff ? aff->b[o] : 0.0f, aff ? aff->relu : 0,
                          y + (n0 + n) * no + o * HW, buf);
    }
}

void wino_backward(const float *fb, int C, int O, int H, int W, const float *x, const float *dy, int B, float *dw,
                   float *dx, int set, float *scratch) {
    WinoDims dm = wino_dims(2, C, O, H, W, wino_chunk(C, O, H, W, B));
    int T = dm.T, chunk = dm.chunk;
    size_t HW = dm.HW, ni = dm.ni, no = dm.no, oc = dm.oc, sv = dm.sv, sd = dm.so;
    float *f, *du, *v, *d, *buf = wino_parts(scratch, &dm, &f, &du, &v, &d);
    size_t ss = split_floats(H, W);
    wino_edge_masks(T, W / 2, buf + 8 * ss + 8 * (size_t)T, buf + 8 * ss + 8 * (size_t)T + wino_up16((size_t)T));
    if (dx) kernels_in(fb, oc, f);
    memset(du, 0, 16 * oc * sizeof(float));
    for (int n0 = 0; n0 < B; n0 += chunk) {
        int nb = B - n0 < chunk ? B - n0 : chunk, nc = nb * T;
        for (int n = 0; n < nb; n++) {
            for (int c = 0; c < C; c++)
                in_plane(x + (n0 + n) * ni + c * HW, H, W, v + (size_t)c * nc + (size_t)n * T, sv, buf);
            for (int o = 0; o < O; o++)
                dy_plane(dy + (n0 + n) * no + o * HW, H, W, d + (size_t)o * nc + (size_t)n * T, sd, buf);
        }
        wino_grad_products(16, O, C, nc, d, sd, v, sv, du, dx ? f : NULL);
        if (!dx) continue;
        for (int n = 0; n < nb; n++)
            for (int c = 0; c < C; c++)
                dx_plane(v + (size_t)c * nc + (size_t)n * T, sv, H, W, dx + (n0 + n) * ni + c * HW, set, buf);
    }
    kernels_out(du, oc, dw);
}
