/*
 * sweep_check.c: checks over axes and blocks, never over jobs (a sweep may have 10^8):
 * every job valid (jobspec_check on each combination of the values it reads) and run once
 * (no axis of 2+ values that some of its block's jobs ignore; no two blocks giving one
 * job); and whether two sweeps give the same jobs (--resume, merge).
 */
#include <stdlib.h>
#include <string.h>

#include "sweep_internal.h"

/* Next combination of the keys k with mask[k] (odometer, last fastest). @return 0 when done. */
static int next_digits(const SweepBlock *b, const unsigned char *mask, int *digit) {
    for (int k = b->n_keys - 1; k >= 0; k--) {
        if (!mask[k]) continue;
        if (++digit[k] < b->n[k]) return 1;
        digit[k] = 0;
    }
    return 0;
}

/* In block b, an axis of 2+ values that some of the block's jobs ignore: their selectors' combinations. */
static int check_applies(const Sweep *sw, const SweepBlock *b, const BlockLoad *bl, const char *path,
                         char *err, size_t errlen) {
    unsigned char mask[SWEEP_MAX_AXES];
    int digit[SWEEP_MAX_AXES] = {0};
    for (int k = 0; k < b->n_keys; k++) mask[k] = (unsigned char)param_is_selector(bl->keys[k].d);
    do {
        JobSpec s;
        sweep_block_spec(sw, b, digit, &s);
        for (int k = 0; k < b->n_keys; k++) {
            const ParamDef *d = bl->keys[k].d, *ex;
            if (b->n[k] < 2 || !(ex = param_excluded_by(d, &s))) continue;
            char v[512];
            jobspec_get(&s, ex, v, sizeof v);
            ERR_AT(bl->keys[k].key, "grid: '%s' has %d values, but the jobs with %s: %s ignore it (it "
                   "applies where %s), so they would run %d times each; give it a grid block of its "
                   "own (docs/JOBSPEC.md)", d->name, b->n[k], ex->name, v, d->applies, b->n[k]);
            return -1;
        }
    } while (next_digits(b, mask, digit));
    return 0;
}

/* jobspec_check on every combination of the values it reads (the other keys at their first value). */
static int check_combinations(const Sweep *sw, const SweepBlock *b, const BlockLoad *bl, const char *path,
                              char *err, size_t errlen) {
    unsigned char mask[SWEEP_MAX_AXES];
    int digit[SWEEP_MAX_AXES] = {0};
    for (int k = 0; k < b->n_keys; k++)
        mask[k] = (unsigned char)(param_is_selector(bl->keys[k].d) || in_choices(bl->keys[k].d->name, JOBSPEC_CHECK_READS));
    do {
        JobSpec s;
        char e[300];
        sweep_block_spec(sw, b, digit, &s);
        if (jobspec_check(&s, e, sizeof e)) {
            snprintf(err, errlen, "%s: job %ld: %s", path, sweep_block_id(b, digit), e);
            return -1;
        }
    } while (next_digits(b, mask, digit));
    return 0;
}

/* Index of axis a's fixed value among its values, or -2 if it is not one of them. */
static int fixed_index(const Axis *ax) {
    for (int i = 0; i < ax->n; i++)
        if (!strcmp(ax->values[i], ax->fixed)) return i;
    return -2;
}

/* The value indices block b may give axis a: its key's values, or the fixed value. */
static int axis_set(const SweepBlock *b, int a, const int *fixed_idx, const int **set) {
    for (int k = 0; k < b->n_keys; k++)
        if (b->axis[k] == a) {
            *set = b->value[k];
            return b->n[k];
        }
    *set = &fixed_idx[a];
    return 1;
}

/*
 * Whether blocks A and B (A before B) both give some job, equal in every parameter that
 * applies to it. Enumerates A's selector combinations; for each, every applicable axis
 * must have a value both blocks can give. @return 1 with the job's ids in *ia, *ib.
 */
static int blocks_overlap(const Sweep *sw, const SweepBlock *A, const SweepBlock *B, const int *fixed_idx,
                          int *mark, int *stamp, long *ia, long *ib, char *desc, size_t n) {
    unsigned char mask[SWEEP_MAX_AXES];
    int digit[SWEEP_MAX_AXES] = {0}, chosen[SWEEP_MAX_AXES];
    for (int k = 0; k < A->n_keys; k++) mask[k] = (unsigned char)param_is_selector(sw->axes[A->axis[k]].def);
    do {
        JobSpec s;
        sweep_block_spec(sw, A, digit, &s);
        int common = 1;
        for (int a = 0; a < sw->n_axes && common; a++) {
            chosen[a] = -1;
            if (!param_applies(sw->axes[a].def, &s)) continue;
            const int *sa, *sb;
            int na = axis_set(A, a, fixed_idx, &sa), nb = axis_set(B, a, fixed_idx, &sb);
            for (int k = 0; k < A->n_keys; k++) /* a selector of A: this combination's value */
                if (A->axis[k] == a && mask[k]) sa = &A->value[k][digit[k]], na = 1;
            ++*stamp;
            for (int i = 0; i < nb; i++)
                if (sb[i] >= 0) mark[sb[i]] = *stamp;
            for (int i = 0; i < na && chosen[a] < 0; i++)
                if (sa[i] >= 0 && mark[sa[i]] == *stamp) chosen[a] = sa[i];
            /* both at the fixed value, which is none of the listed ones */
            if (chosen[a] < 0 && !(na == 1 && nb == 1 && sa[0] == -2 && sb[0] == -2)) common = 0;
        }
        if (!common) continue;
        int da[SWEEP_MAX_AXES], db[SWEEP_MAX_AXES];
        const SweepBlock *bs[2] = {A, B};
        int *ds[2] = {da, db};
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < bs[j]->n_keys; k++) {
                ds[j][k] = 0;
                for (int i = 0; i < bs[j]->n[k]; i++)
                    if (bs[j]->value[k][i] == chosen[bs[j]->axis[k]]) ds[j][k] = i;
            }
        *ia = sweep_block_id(A, da), *ib = sweep_block_id(B, db);
        desc[0] = 0;
        for (int a = 0; a < sw->n_axes; a++) {
            if (chosen[a] < 0) continue;
            size_t len = strlen(desc);
            snprintf(desc + len, n - len, "%s%s: %s", len ? ", " : "", sw->axes[a].key, sw->axes[a].values[chosen[a]]);
        }
        return 1;
    } while (next_digits(A, mask, digit));
    return 0;
}

static int check_overlaps(const Sweep *sw, const char *path, char *err, size_t errlen) {
    int max_n = 1, fixed_idx[SWEEP_MAX_AXES], stamp = 0, rc = 0;
    for (int a = 0; a < sw->n_axes; a++) {
        fixed_idx[a] = fixed_index(&sw->axes[a]);
        if (sw->axes[a].n > max_n) max_n = sw->axes[a].n;
    }
    int *mark = calloc((size_t)max_n, sizeof(int));
    if (!mark) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (int y = 1; y < sw->n_blocks && !rc; y++)
        for (int x = 0; x < y && !rc; x++) {
            long ia, ib;
            char desc[400];
            if (!blocks_overlap(sw, &sw->blocks[x], &sw->blocks[y], fixed_idx, mark, &stamp, &ia, &ib, desc, sizeof desc))
                continue;
            const SweepBlock *B = &sw->blocks[y];
            snprintf(err, errlen, "%s:%d:%d: grid block %d gives job %ld, which block %d (line %d) gives as "
                     "job %ld (%s); each job must come from one block", path, B->line, B->column, y + 1, ib,
                     x + 1, sw->blocks[x].line, ia, desc[0] ? desc : "the fixed values");
            rc = -1;
        }
    free(mark);
    return rc;
}

int sweep_check_blocks(const Sweep *sw, const GridLoad *g, const char *path, char *err, size_t errlen) {
    char e[300];
    if (sw->n_blocks == 0 && jobspec_check(&sw->base, e, sizeof e)) {
        snprintf(err, errlen, "%s: job 0: %s", path, e);
        return -1;
    }
    for (int b = 0; b < sw->n_blocks; b++)
        if (check_applies(sw, &sw->blocks[b], &g->blocks[b], path, err, errlen) ||
            check_combinations(sw, &sw->blocks[b], &g->blocks[b], path, err, errlen))
            return -1;
    return check_overlaps(sw, path, err, errlen);
}

/* Whether a and b have the same base (data_dir aside), axes, values and blocks. */
static int same_structure(const Sweep *a, const Sweep *b) {
    JobSpec x = a->base, y = b->base;
    memcpy(y.data_dir, x.data_dir, sizeof x.data_dir);
    if (memcmp(&x, &y, sizeof x) || a->n_axes != b->n_axes || a->n_blocks != b->n_blocks) return 0;
    for (int i = 0; i < a->n_axes; i++) {
        const Axis *p = &a->axes[i], *q = &b->axes[i];
        if (p->def != q->def || p->n != q->n || !strcmp(p->key, "data_dir") ||
            memcmp(p->raw, q->raw, (size_t)p->n * p->def->size))
            return 0;
    }
    for (int i = 0; i < a->n_blocks; i++) {
        const SweepBlock *p = &a->blocks[i], *q = &b->blocks[i];
        if (p->n_keys != q->n_keys || p->n_jobs != q->n_jobs) return 0;
        for (int k = 0; k < p->n_keys; k++)
            if (p->axis[k] != q->axis[k] || p->n[k] != q->n[k] ||
                memcmp(p->value[k], q->value[k], (size_t)p->n[k] * sizeof(int)))
                return 0;
    }
    return 1;
}

int sweep_same_jobs(const Sweep *a, const Sweep *b, char *diff, size_t n) {
    if (a->n_jobs != b->n_jobs) {
        snprintf(diff, n, "%ld jobs here, %ld in the file", a->n_jobs, b->n_jobs);
        return 0;
    }
    if (same_structure(a, b)) return 1;
    for (long id = 0; id < a->n_jobs; id++) {
        JobSpec x, y;
        sweep_job(a, id, &x), sweep_job(b, id, &y);
        /* fast path: specs are canonical bytes (jobspec_set zero-fills text), data_dir aside */
        memcpy(y.data_dir, x.data_dir, sizeof x.data_dir);
        if (!memcmp(&x, &y, sizeof x)) continue;
        for (int i = 0; i < N_PARAMS; i++) {
            if (!strcmp(PARAMS[i].name, "data_dir")) continue;
            char vx[512], vy[512];
            jobspec_get(&x, &PARAMS[i], vx, sizeof vx), jobspec_get(&y, &PARAMS[i], vy, sizeof vy);
            if (strcmp(vx, vy)) {
                snprintf(diff, n, "job %ld: %s is '%s' here but '%s' in the file", id, PARAMS[i].name, vx, vy);
                return 0;
            }
        }
    }
    return 1;
}
