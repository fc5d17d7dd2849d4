/*
 * split.c: a job's view of a dataset: the training subset its seed draws, the pixel scaling,
 * its float copy (a Split), and that copy's nonzeros when the images are mostly zeros.
 */
#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE (glibc hides it under plain POSIX) */
#include "data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rng.h"

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int raw_smallest_class(const RawSplit *raw, int *count) {
    int counts[256] = {0}, best = 0;
    for (int i = 0; i < raw->n; i++) counts[raw->y[i]]++;
    for (int c = 1; c < raw->n_classes && c < 256; c++)
        if (counts[c] < counts[best]) best = c;
    *count = raw->n_classes > 0 ? counts[best] : 0;
    return best;
}

int subset_choose(const RawSplit *raw, int per_class, int total, uint64_t seed, int *idx,
                  char *err, size_t errlen) {
    Rng r;
    rng_seed(&r, seed, RNG_STREAM_SUBSET);
    int n = raw->n;
    if (per_class < 0 || total < 0) {
        snprintf(err, errlen, "train_per_class and train_size must be >= 0");
        return -1;
    }
    if (per_class > 0) {
        int *pool = malloc((size_t)n * sizeof(int));
        if (!pool) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int k = 0;
        for (int c = 0; c < raw->n_classes; c++) {
            int m = 0;
            for (int i = 0; i < n; i++)
                if (raw->y[i] == c) pool[m++] = i;
            if (m < per_class) {
                snprintf(err, errlen,
                         "train_per_class = %d, but class %d has only %d training examples",
                         per_class, c, m);
                free(pool);
                return -1;
            }
            /* partial Fisher-Yates: the first per_class of a seeded shuffle */
            for (int j = 0; j < per_class; j++) {
                int t = j + (int)rng_below(&r, (uint32_t)(m - j));
                int s = pool[j];
                pool[j] = pool[t], pool[t] = s;
                idx[k++] = pool[j];
            }
        }
        free(pool);
        qsort(idx, (size_t)k, sizeof(int), cmp_int);
        return k;
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    if (total == 0 || total >= n) return n;
    for (int j = 0; j < total; j++) {
        int t = j + (int)rng_below(&r, (uint32_t)(n - j));
        int s = idx[j];
        idx[j] = idx[t], idx[t] = s;
    }
    qsort(idx, (size_t)total, sizeof(int), cmp_int);
    return total;
}

Scaling scaling_fit(const RawSplit *raw, const int *idx, int n, int standardize) {
    Scaling s;
    for (int c = 0; c < MAX_CHANNELS; c++) s.mean[c] = 0.0, s.std[c] = 1.0;
    if (!standardize || n == 0) return s;
    size_t plane = (size_t)raw->h * raw->w, d = plane * raw->c;
    for (int c = 0; c < raw->c && c < MAX_CHANNELS; c++) {
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < n; i++) {
            const uint8_t *p = raw->x + (size_t)idx[i] * d + c * plane;
            for (size_t j = 0; j < plane; j++) sum += p[j], sq += (double)p[j] * p[j];
        }
        double cnt = (double)n * plane;
        double mean = sum / cnt / 255.0;
        double var = sq / cnt / (255.0 * 255.0) - mean * mean;
        s.mean[c] = mean;
        s.std[c] = var > 1e-12 ? sqrt(var) : 1.0;
    }
    return s;
}

int split_make(Split *out, const RawSplit *raw, const int *idx, int n, Scaling s) {
    size_t plane = (size_t)raw->h * raw->w, d = plane * raw->c;
    out->n = n, out->d = (int)d, out->n_classes = raw->n_classes, out->features = 0;
    out->x = split_alloc((size_t)n * d * sizeof(float) + 1);
    out->y = malloc((size_t)n + 1);
    if (!out->x || !out->y || raw->c > MAX_CHANNELS) {
        split_free(out);
        return -1;
    }
    /* a table of the 256 possible values per channel keeps the scaling identical everywhere */
    float lut[MAX_CHANNELS][256];
    for (int c = 0; c < raw->c; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = (float)((v / 255.0 - s.mean[c]) / s.std[c]);
    for (int i = 0; i < n; i++) {
        int r = idx ? idx[i] : i;
        const uint8_t *p = raw->x + (size_t)r * d;
        float *q = out->x + (size_t)i * d;
        for (int c = 0; c < raw->c; c++)
            for (size_t j = 0; j < plane; j++) q[c * plane + j] = lut[c][p[c * plane + j]];
        out->y[i] = raw->y[r];
    }
    return 0;
}

/*
 * Large split buffers (features, scaled rows: up to 313 MB for a pixels job's test features)
 * are kept for the next job of the process instead of going back to the kernel: a fresh
 * buffer costs a page fault per page and the kernel's zeroing of it, 10% of an rbse_oneshot
 * sweep's CPU (docs/PERFORMANCE.md, "Shared stages"). A kept buffer is reused only for a
 * request of exactly its size (the next job of a stage key asks for the same rows), every kept
 * buffer is freed before a fresh one is allocated, and train.c frees those its job did not
 * take once the job's rows and features are made (split_release_kept): so a job never holds
 * more than it asked for, nor kept buffers beside its own while it trains. One training
 * thread per process uses them (as stage.h's cache).
 */
#define BIG_BYTES ((size_t)8 << 20)
#define N_KEPT 4
static struct { void *p; size_t bytes; } kept[N_KEPT];

void *split_alloc(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    if (bytes < BIG_BYTES) return malloc(bytes);
    for (int i = 0; i < N_KEPT; i++)
        if (kept[i].p && kept[i].bytes == bytes) {
            void *p = kept[i].p;
            kept[i].p = NULL;
            return p;
        }
    split_release_kept();
    /* on 2 MiB pages where the kernel offers them (transparent huge pages in madvise mode,
     * Debian's default): 512 times fewer faults when the buffer is first filled */
    void *p = NULL;
    if (posix_memalign(&p, huge, bytes)) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE); /* a hint: fine if refused */
#endif
    return p;
}

size_t split_kept_bytes(void) {
    size_t n = 0;
    for (int i = 0; i < N_KEPT; i++) n += kept[i].p ? kept[i].bytes : 0;
    return n;
}

void split_release_kept(void) {
    for (int i = 0; i < N_KEPT; i++) free(kept[i].p), kept[i].p = NULL;
}

/* Frees a buffer of split_alloc(bytes), keeping a large one for the next request. */
static void split_dealloc(void *p, size_t bytes) {
    if (!p) return;
    if (bytes >= BIG_BYTES)
        for (int i = 0; i < N_KEPT; i++)
            if (!kept[i].p) {
                kept[i].p = p, kept[i].bytes = bytes;
                return;
            }
    free(p);
}

void split_free(Split *s) {
    if (!s->borrowed) split_dealloc(s->x, (size_t)s->n * s->d * sizeof(float) + 1);
    free(s->y);
    if (s->sp) free(s->sp->start), free(s->sp->idx), free(s->sp->val), free(s->sp);
    memset(s, 0, sizeof(*s));
}

int split_sparsify(Split *s) {
    size_t n = (size_t)s->n * s->d, nz = 0;
    for (size_t i = 0; i < n; i++) nz += s->x[i] != 0.0f;
    if (n == 0 || (double)nz > SPARSE_MAX_DENSITY * (double)n) return 0;
    SparseRows *sp = calloc(1, sizeof(*sp));
    if (!sp || !(sp->start = malloc(((size_t)s->n + 1) * sizeof(int64_t))) ||
        !(sp->idx = malloc((nz ? nz : 1) * sizeof(int32_t))) || !(sp->val = malloc((nz ? nz : 1) * sizeof(float)))) {
        if (sp) free(sp->start), free(sp->idx), free(sp->val), free(sp);
        return -1;
    }
    int64_t k = 0;
    for (int r = 0; r < s->n; r++) {
        const float *x = s->x + (size_t)r * s->d;
        sp->start[r] = k;
        for (int j = 0; j < s->d; j++)
            if (x[j] != 0.0f) sp->idx[k] = j, sp->val[k++] = x[j];
    }
    sp->start[s->n] = k;
    s->sp = sp;
    return 0;
}

