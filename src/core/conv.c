#include "conv.h"

#include <float.h>
#include <math.h>
#include <string.h>


int conv_out_size(int n, int k, int pad) { return n + 2 * pad - k + 1; }

void im2col(float *col, const float *x, int C, int H, int W, int K, int pad) {
    im2col_ld(col, (size_t)conv_out_size(H, K, pad) * conv_out_size(W, K, pad), x, C, H, W, K, pad);
}

void im2col_ld(float *col, size_t ld, const float *x, int C, int H, int W, int K, int pad) {
    int OH = conv_out_size(H, K, pad), OW = conv_out_size(W, K, pad);
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                float *dst = col + (size_t)((c * K + ky) * K + kx) * ld;
                /* output columns [lo, hi) read inside the row; the rest are padding */
                int lo = pad - kx > 0 ? pad - kx : 0, hi = W + pad - kx < OW ? W + pad - kx : OW;
                if (hi < lo) hi = lo;
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy + ky - pad;
                    float *d = dst + (size_t)oy * OW;
                    if (iy < 0 || iy >= H) {
                        memset(d, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *srow = x + ((size_t)c * H + iy) * W + kx - pad;
                    for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
                    /* a loop, not memcpy: rows are short (24 floats for MNIST's 5x5 kernels) */
                    for (int ox = lo; ox < hi; ox++) d[ox] = srow[ox];
                    for (int ox = hi; ox < OW; ox++) d[ox] = 0.0f;
                }
            }
}

void col2im(float *dx, const float *dcol, int C, int H, int W, int K, int pad) {
    int OH = conv_out_size(H, K, pad), OW = conv_out_size(W, K, pad);
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                const float *src = dcol + ((size_t)(c * K + ky) * K + kx) * OH * OW;
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy + ky - pad;
                    if (iy < 0 || iy >= H) continue;
                    for (int ox = 0; ox < OW; ox++) {
                        int ix = ox + kx - pad;
                        if (ix >= 0 && ix < W) dx[((size_t)c * H + iy) * W + ix] += src[oy * OW + ox];
                    }
                }
            }
}

void conv2d_forward_naive(float *out, const float *x, const float *Wt, const float *b, int C, int H,
                          int W, int N, int K, int pad) {
    int OH = conv_out_size(H, K, pad), OW = conv_out_size(W, K, pad);
    for (int n = 0; n < N; n++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double s = b[n];
                for (int c = 0; c < C; c++)
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++) {
                            int iy = oy + ky - pad, ix = ox + kx - pad;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            s += (double)Wt[((size_t)n * C + c) * K * K + ky * K + kx] *
                                 x[((size_t)c * H + iy) * W + ix];
                        }
                out[((size_t)n * OH + oy) * OW + ox] = (float)s;
            }
}

void maxpool2_forward(float *out, int *arg, const float *x, int C, int H, int W) {
    int PH = H / 2, PW = W / 2;
    if (!arg) { /* values only: branch-free, vectorisable; same maxima as below */
        for (int c = 0; c < C; c++)
            for (int py = 0; py < PH; py++) {
                const float *r0 = x + ((size_t)c * H + 2 * py) * W, *r1 = r0 + W;
                float *o = out + ((size_t)c * PH + py) * PW;
                for (int px = 0; px < PW; px++) {
                    float a = r0[2 * px] > r0[2 * px + 1] ? r0[2 * px] : r0[2 * px + 1];
                    float b = r1[2 * px] > r1[2 * px + 1] ? r1[2 * px] : r1[2 * px + 1];
                    o[px] = a > b ? a : b;
                }
            }
        return;
    }
    for (int c = 0; c < C; c++)
        for (int py = 0; py < PH; py++)
            for (int px = 0; px < PW; px++) {
                /* the first maximum in reading order; a window of NaN or -inf only routes its
                   gradient to its first pixel (as maxpool2_relu_forward and the batch-last pool) */
                float best = -FLT_MAX;
                int bi = (c * H + 2 * py) * W + 2 * px;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int i = (c * H + 2 * py + dy) * W + 2 * px + dx;
                        if (isgreater(x[i], best)) best = x[i], bi = i;
                    }
                out[(c * PH + py) * PW + px] = best;
                arg[(c * PH + py) * PW + px] = bi;
            }
}

void maxpool2_backward(float *dx, const float *dout, const int *arg, int C, int H, int W) {
    int n = C * (H / 2) * (W / 2);
    for (int i = 0; i < n; i++) dx[arg[i]] += dout[i];
}

void maxpool2_relu_backward(float *dx, const float *dout, const float *out, const int *arg, int C, int H, int W) {
    int n = C * (H / 2) * (W / 2);
    for (int i = 0; i < n; i++) dx[arg[i]] += out[i] > 0.0f ? dout[i] : 0.0f;
}

void maxpool2_relu_forward(float *out, int *arg, const float *x, size_t ldx, const float *b, int C, int H,
                           int W) {
    int PH = H / 2, PW = W / 2;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * ldx;
        float bc = b ? b[c] : 0.0f;
        for (int py = 0; py < PH; py++) {
            const float *r0 = xc + (size_t)2 * py * W, *r1 = r0 + W;
            float *o = out + ((size_t)c * PH + py) * PW;
            if (!arg) {
                /* max(a_i) + b = max(a_i + b): rounding is monotone, so adding b after the
                 * max gives the same floats as adding it to every conv output */
                for (int px = 0; px < PW; px++) {
                    float u = r0[2 * px] > r0[2 * px + 1] ? r0[2 * px] : r0[2 * px + 1];
                    float v = r1[2 * px] > r1[2 * px + 1] ? r1[2 * px] : r1[2 * px + 1];
                    float m = (u > v ? u : v) + bc;
                    o[px] = m > 0.0f ? m : 0.0f;
                }
                continue;
            }
            int *a = arg + ((size_t)c * PH + py) * PW;
            int i0 = (c * H + 2 * py) * W; /* index of r0[0] in the image */
            /* the first maximum of the four in reading order, as compare-and-select:
             * isgreater is > without the invalid-operation trap on NaN, which lets the
             * compiler turn the selects into vector blends (with > it keeps branches) */
            for (int px = 0; px < PW; px++) {
                float v00 = r0[2 * px], v01 = r0[2 * px + 1], v10 = r1[2 * px], v11 = r1[2 * px + 1];
                float best = isgreater(v00, -FLT_MAX) ? v00 : -FLT_MAX;
                int bi = 0, g;
                g = isgreater(v01, best), bi = g ? 1 : bi, best = g ? v01 : best;
                g = isgreater(v10, best), bi = g ? W : bi, best = g ? v10 : best;
                g = isgreater(v11, best), bi = g ? W + 1 : bi, best = g ? v11 : best;
                best += bc;
                o[px] = best > 0.0f ? best : 0.0f;
                a[px] = i0 + 2 * px + bi;
            }
        }
    }
}

static int cell_lo(int i, int len, int n) { return i * len / n; }
static int cell_hi(int i, int len, int n) { return ((i + 1) * len + n - 1) / n; }

void adaptive_avgpool_forward(float *out, const float *x, int C, int H, int W, int n) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int y0 = cell_lo(i, H, n), y1 = cell_hi(i, H, n), x0 = cell_lo(j, W, n), x1 = cell_hi(j, W, n);
                float s = 0.0f;
                for (int y = y0; y < y1; y++)
                    for (int xx = x0; xx < x1; xx++) s += x[((size_t)c * H + y) * W + xx];
                out[(c * n + i) * n + j] = s / (float)((y1 - y0) * (x1 - x0));
            }
}

void adaptive_maxpool_forward(float *out, int *arg, const float *x, int C, int H, int W, int n) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int y0 = cell_lo(i, H, n), y1 = cell_hi(i, H, n), x0 = cell_lo(j, W, n), x1 = cell_hi(j, W, n);
                int bi = (c * H + y0) * W + x0;
                for (int y = y0; y < y1; y++)
                    for (int xx = x0; xx < x1; xx++) {
                        int k = (c * H + y) * W + xx;
                        if (x[k] > x[bi]) bi = k; /* the first maximum, as PyTorch */
                    }
                out[(c * n + i) * n + j] = x[bi];
                if (arg) arg[(c * n + i) * n + j] = bi;
            }
}

void adaptive_maxpool_backward(float *dx, const float *dout, const int *arg, int C, int n) {
    for (int i = 0; i < C * n * n; i++) dx[arg[i]] += dout[i];
}

void adaptive_avgpool_backward(float *dx, const float *dout, int C, int H, int W, int n) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int y0 = cell_lo(i, H, n), y1 = cell_hi(i, H, n), x0 = cell_lo(j, W, n), x1 = cell_hi(j, W, n);
                float g = dout[(c * n + i) * n + j] / (float)((y1 - y0) * (x1 - x0));
                for (int y = y0; y < y1; y++)
                    for (int xx = x0; xx < x1; xx++) dx[((size_t)c * H + y) * W + xx] += g;
            }
}
