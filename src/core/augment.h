/*
 * augment: the training images' augmentation (`augment: crop_flip`), the transform of
 * PyTorch's RandomCrop(H, padding=4) then RandomHorizontalFlip as Pogodin et al. train with
 * it: the image, padded by AUGMENT_PAD zeros on each side, is cropped back to H x W at a
 * random offset and flipped left-right with probability 0.5. The padding is zero in the job's
 * preprocessed pixel space, i.e. after normalisation: the authors fill with the (rounded)
 * channel mean, which their Normalize maps to zero (`build_cifar10_transforms`); with
 * `preprocess: unit` zero is a black pixel, torchvision's default fill. The draws of image i
 * of the job's training split in epoch e are a pure function of (seed, e, i)
 * (rng_seed_counter), so a job's numbers do not depend on its rank, batch size or order.
 */
#ifndef SYNSWEEP_AUGMENT_H
#define SYNSWEEP_AUGMENT_H

#include <stdint.h>

#define AUGMENT_PAD 4

/* One image's draws: the crop's corner in the padded image (0 .. 2 AUGMENT_PAD each; (pad,
 * pad) is the image itself) and whether it is flipped. */
typedef struct AugmentDraw {
    int dy, dx, flip;
} AugmentDraw;

/* A job's augmentation during one data epoch (train_epoch). */
typedef struct Augment {
    uint64_t seed;  /* the job's seed */
    int epoch;      /* 0-based data epoch */
    int c, h, w;    /* image shape: rows are (c, h, w) planes */
} Augment;

/** The draws of image `index` of the training split in `epoch` of the job seeded `seed`. */
AugmentDraw augment_draw(uint64_t seed, int epoch, int index);
/** dst (C, H, W) = src cropped from its zero-padded copy at (d.dy, d.dx), flipped if d.flip.
 * dst and src do not overlap. */
void augment_apply(float *dst, const float *src, int C, int H, int W, AugmentDraw d);
/** dst = training image `index` (src) as a's epoch augments it. */
void augment_row(const Augment *a, int index, float *dst, const float *src);

#endif
