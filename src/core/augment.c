/*
 * augment.c: random crop of the zero-padded image and horizontal flip (augment.h), applied
 * row by row while train_epoch gathers a batch: no copy of the training split per epoch.
 */
#include "augment.h"

#include <string.h>

#include "rng.h"

AugmentDraw augment_draw(uint64_t seed, int epoch, int index) {
    Rng r;
    rng_seed_counter(&r, seed, RNG_STREAM_AUGMENT, (uint64_t)(uint32_t)epoch << 32 | (uint32_t)index);
    AugmentDraw d;
    d.dy = (int)rng_below(&r, 2 * AUGMENT_PAD + 1); /* torchvision draws the top, then the left */
    d.dx = (int)rng_below(&r, 2 * AUGMENT_PAD + 1);
    d.flip = (int)(rng_u64(&r) >> 63);
    return d;
}

/* out[y][x] = padded[y + dy][x' + dx] = src[y + dy - pad][x' + dx - pad], x' = W-1-x if
 * flipped, else x; zero outside src. Per row: the crop's columns inside src are
 * [lo, hi) (x' = x - ox), copied forward or mirrored, the rest zeroed. */
void augment_apply(float *dst, const float *src, int C, int H, int W, AugmentDraw d) {
    int oy = d.dy - AUGMENT_PAD, ox = d.dx - AUGMENT_PAD;
    int lo = ox < 0 ? -ox : 0, hi = ox > 0 ? W - ox : W; /* x' with 0 <= x' + ox < W */
    if (hi < lo) hi = lo;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++) {
            float *q = dst + ((size_t)c * H + y) * W;
            int sy = y + oy;
            memset(q, 0, (size_t)W * sizeof(float));
            if (sy < 0 || sy >= H) continue;
            const float *p = src + ((size_t)c * H + sy) * W;
            if (!d.flip) memcpy(q + lo, p + lo + ox, (size_t)(hi - lo) * sizeof(float));
            else
                for (int x = lo; x < hi; x++) q[W - 1 - x] = p[x + ox];
        }
}

void augment_row(const Augment *a, int index, float *dst, const float *src) {
    augment_apply(dst, src, a->c, a->h, a->w, augment_draw(a->seed, a->epoch, index));
}
