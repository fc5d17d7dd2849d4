/*
 * data_ood.c: out-of-distribution variants of a test split (docs/SCIENCE.md section 2):
 * translated, rotated, scaled images, and USPS digits in MNIST's frame.
 */
#include "data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bilinear sample of plane x (H, W) at (fy, fx), zero outside. */
static double bilinear(const uint8_t *x, int H, int W, double fy, double fx) {
    int y0 = (int)floor(fy), x0 = (int)floor(fx);
    double ty = fy - y0, tx = fx - x0, s = 0.0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int yy = y0 + dy, xx = x0 + dx;
            double w = (dy ? ty : 1 - ty) * (dx ? tx : 1 - tx);
            if (w == 0.0 || yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
            s += w * x[yy * W + xx];
        }
    return s;
}

static uint8_t round_u8(double v) {
    long q = lround(v);
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

int ood_transform(const RawSplit *in, const OodParams *p, RawSplit *out) {
    *out = *in;
    size_t d = (size_t)in->c * in->h * in->w;
    out->x = malloc((size_t)in->n * d);
    out->y = malloc((size_t)in->n);
    if (!out->x || !out->y) {
        raw_split_free(out);
        return -1;
    }
    memcpy(out->y, in->y, (size_t)in->n);
    int H = in->h, W = in->w;
    double cy = (H - 1) / 2.0, cx = (W - 1) / 2.0;
    double th = p->degrees * 3.14159265358979323846 / 180.0, co = cos(th), si = sin(th);
    for (size_t i = 0; i < (size_t)in->n * in->c; i++) {
        const uint8_t *src = in->x + i * H * W;
        uint8_t *dst = out->x + i * H * W;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double fy = y, fx = x;
                if (!strcmp(p->kind, "translate")) fy = y - p->dy, fx = x - p->dx;
                else if (!strcmp(p->kind, "rotate")) {
                    /* inverse map: rotate the output position back by -theta (y grows down) */
                    double ry = y - cy, rx = x - cx;
                    fx = cx + co * rx - si * ry;
                    fy = cy + si * rx + co * ry;
                } else if (!strcmp(p->kind, "scale")) {
                    fy = cy + (y - cy) / p->scale, fx = cx + (x - cx) / p->scale;
                }
                dst[y * W + x] = round_u8(bilinear(src, H, W, fy, fx));
            }
    }
    return 0;
}

int usps_to_mnist_frame(const RawSplit *in, RawSplit *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    if (in->h != 16 || in->w != 16 || in->c != 1) {
        snprintf(err, errlen, "usps_to_mnist_frame: expected 16x16 images, got %dx%d", in->h, in->w);
        return -1;
    }
    *out = *in;
    out->h = out->w = 28;
    out->x = calloc((size_t)in->n * 784, 1);
    out->y = malloc((size_t)in->n);
    if (!out->x || !out->y) {
        raw_split_free(out);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(out->y, in->y, (size_t)in->n);
    for (int i = 0; i < in->n; i++)
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 20; x++) {
                /* pixel centres: 20 output cells span the 16 input cells */
                double fy = (y + 0.5) * 16.0 / 20.0 - 0.5, fx = (x + 0.5) * 16.0 / 20.0 - 0.5;
                fy = fy < 0 ? 0 : fy > 15 ? 15 : fy;
                fx = fx < 0 ? 0 : fx > 15 ? 15 : fx;
                out->x[(size_t)i * 784 + (y + 4) * 28 + x + 4] =
                    round_u8(bilinear(in->x + (size_t)i * 256, 16, 16, fy, fx));
            }
    return 0;
}

