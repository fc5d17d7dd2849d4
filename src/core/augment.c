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
 * flipped, else x; zero outside src. */
void augment_apply(float *dst, const float *src, int C, int H, int W, AugmentDraw d) {
    int oy = d.dy - AUGMENT_PAD, ox = d.dx - AUGMENT_PAD;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++) {
            float *q = dst + ((size_t)c * H + y) * W;
            int sy = y + oy;
            if (sy < 0 || sy >= H) {
                memset(q, 0, (size_t)W * sizeof(float));
                continue;
            }
            const float *p = src + ((size_t)c * H + sy) * W;
            for (int x = 0; x < W; x++) {
                int sx = (d.flip ? W - 1 - x : x) + ox;
                q[x] = sx >= 0 && sx < W ? p[sx] : 0.0f;
            }
        }
}

void augment_row(const Augment *a, int index, float *dst, const float *src) {
    augment_apply(dst, src, a->c, a->h, a->w, augment_draw(a->seed, a->epoch, index));
}
