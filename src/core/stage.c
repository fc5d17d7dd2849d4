/* stage.c: shared stages' keys and the process's cache of their outputs (stage.h). */
#include "stage.h"

#include <stdlib.h>
#include <string.h>

#include "model.h"

/* What no shared stage reads: the data phase's training and evaluation, and the bookkeeping.
 * noise_adam_reset is applied after the stored output is taken (train.c). */
#define AFTER_STAGES                                                                                 \
    "lr|lr_decay_epochs|lr_decay_factor|epochs|snapshots|eval_train|eval_every|time_limit|meta_tasks|" \
    "meta_steps|meta_test_size|meta_lr|noise_adam_reset"
/* the training and test rows: their subsets, transformations and cached features */
#define DATA_ROWS "train_per_class|train_size|test_size|test_split|ood|ood_dx|ood_dy|ood_degrees|ood_scale|augment|" \
    "cache_features|cache_budget_mb"
/* the supervised model beside a front end or an unsupervised phase: head, rule, optimiser, noise phase */
#define HEAD_MODEL                                                                                     \
    "optimizer|beta1|beta2|eps|momentum|weight_decay|init|init_scale|rule|feedback|feedback_scale|hidden|" \
    "noise_examples|noise_epochs|noise_lr|noise_std|noise_curve_points"

/* Per stage, the parameters its output never depends on ('|'-separated JobSpec fields). */
static const char *const IGNORES[] = {
    [SHARE_PRETRAIN] = AFTER_STAGES "|" DATA_ROWS "|" HEAD_MODEL "|batch_size",
    /* the front end's features of the test rows (computed in batches of batch_size; the
     * training rows', fewer, each job computes itself) */
    [SHARE_FEATURES] = AFTER_STAGES "|" HEAD_MODEL "|augment",
    /* the noise phase draws its images from the seed: the dataset counts by its image shape alone */
    [SHARE_NOISE] = AFTER_STAGES "|" DATA_ROWS "|dataset|data_dir",
};

/* Sets the parameters named in list ('|'-separated JobSpec fields) of s to def's values. */
static void reset_params(JobSpec *s, const JobSpec *def, const char *list) {
    for (const char *p = list; p && *p;) {
        char name[48];
        size_t n = strcspn(p, "|");
        if (n < sizeof name) {
            memcpy(name, p, n), name[n] = 0;
            const ParamDef *d = param_find(name);
            if (d && d->offset + d->size <= offsetof(JobSpec, ext)) /* a field of JobSpec itself */
                memcpy((char *)s + d->offset, (const char *)def + d->offset, d->size);
        }
        p += n + (p[n] == '|');
    }
}

/* Whether job s (its kind and rule) has stage `stage` to share. */
static int has_stage(const JobSpec *s, int stage, const ModelKind *kind, const RuleDef *rule) {
    switch (stage) {
    case SHARE_PRETRAIN: return kind->pretrain && kind->pretrain_state;
    /* (a kind whose front end is trained has no features to cache: the driver then skips it) */
    case SHARE_FEATURES: return kind->features && (!kind->pretrain || kind->pretrain_state);
    case SHARE_NOISE: return rule->noise_phase && s->noise_epochs > 0 && (kind->phases & PHASE_NOISE);
    default: return 0;
    }
}

int stage_key(const JobSpec *s, int stage, int C, int H, int W, int n_classes, StageKey *k) {
    memset(k, 0, sizeof *k);
    const ModelKind *kind = model_kind_find(s->model);
    const RuleDef *rule = rule_find(s->rule);
    if (!kind || !rule || !has_stage(s, stage, kind, rule)) return 0;
    JobSpec def;
    jobspec_defaults(&def);
    k->spec = *s;
    reset_params(&k->spec, &def, IGNORES[stage]);
    if (stage == SHARE_PRETRAIN) reset_params(&k->spec, &def, kind->pretrain_ignores);
    /* the test rows' features: the training rows count only where they choose the test rows
     * (heldout) or scale them (standardize: the training subset's statistics) */
    if (stage == SHARE_FEATURES && strcmp(s->test_split, "heldout") && strcmp(s->preprocess, "standardize"))
        reset_params(&k->spec, &def, "train_per_class|train_size");
    k->stage = stage, k->c = C, k->h = H, k->w = W, k->n_classes = n_classes;
    return 1;
}

uint64_t stage_key_hash(const StageKey *k) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the key's bytes (zero-filled: equal keys, equal bytes) */
    const unsigned char *b = (const unsigned char *)k;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h ? h : 1;
}

uint64_t stage_group(const JobSpec *s, int C, int H, int W, int n_classes) {
    StageKey k;
    int st = SHARE_PRETRAIN;
    while (st < N_SHARE && !stage_key(s, st, C, H, W, n_classes, &k)) st++;
    return st == N_SHARE ? 0 : stage_key_hash(&k);
}

int stage_off(const JobSpec *s, int stage, JobSpec *off) {
    *off = *s;
    if (stage == SHARE_PRETRAIN) off->rbm_epochs = 0;
    else if (stage == SHARE_NOISE) off->noise_epochs = 0;
    else return 0;
    return 1;
}

/* ---------------------------------------------------------------- the cache */

typedef struct Entry {
    StageKey key;
    StageOut out;
    size_t bytes;
    long last_use;
    int pinned; /* a running job reads its parts in place: never evicted */
} Entry;

static Entry *entries;
static int n_entries;
static size_t limit, held;
static long clock_;

static void entry_free(Entry *e) {
    for (int i = 0; i < e->out.n_parts; i++) free(e->out.part[i]);
    held -= e->bytes;
}

void stage_cache_clear(void) {
    for (int i = 0; i < n_entries; i++) entry_free(&entries[i]);
    free(entries);
    entries = NULL, n_entries = 0, held = 0;
}

void stage_cache_limit(size_t bytes) {
    limit = bytes;
    if (!bytes) stage_cache_clear();
}

int stage_cache_on(void) { return limit > 0; }
size_t stage_cache_bytes(void) { return held; }

const StageOut *stage_cache_find(const StageKey *k) {
    for (int i = 0; i < n_entries; i++)
        if (!memcmp(&entries[i].key, k, sizeof *k)) {
            entries[i].last_use = ++clock_;
            return &entries[i].out;
        }
    return NULL;
}

/* Removes entry i (the last one takes its place). */
static void evict(int i) {
    entry_free(&entries[i]);
    entries[i] = entries[--n_entries];
}

/* Makes room for `bytes` more, evicting the least recently used unpinned outputs. @return 1
 * if they fit the bound then, 0 if not (pinned outputs fill it). */
static int make_room(size_t bytes) {
    while (held + bytes > limit) {
        int lru = -1;
        for (int i = 0; i < n_entries; i++)
            if (!entries[i].pinned && (lru < 0 || entries[i].last_use < entries[lru].last_use)) lru = i;
        if (lru < 0) return 0;
        evict(lru);
    }
    return 1;
}

/* Stores k's output with its parts as given (out's own or fresh copies), or NULL. */
static Entry *insert(const StageKey *k, const StageOut *out, int copy) {
    size_t bytes = sizeof(Entry);
    for (int i = 0; i < out->n_parts; i++) bytes += out->len[i] * sizeof(float);
    if (!limit || bytes > limit || stage_cache_find(k) || !make_room(bytes)) return NULL;
    Entry *ne = realloc(entries, (size_t)(n_entries + 1) * sizeof(Entry));
    if (!ne) return NULL;
    entries = ne;
    Entry *e = &entries[n_entries];
    memset(e, 0, sizeof *e);
    e->key = *k, e->out = *out, e->last_use = ++clock_;
    for (int i = 0; copy && i < out->n_parts; i++) {
        e->out.part[i] = malloc(out->len[i] * sizeof(float) + 1);
        if (!e->out.part[i]) {
            e->out.n_parts = i;
            e->bytes = 0;
            entry_free(e);
            return NULL;
        }
        if (out->len[i]) memcpy(e->out.part[i], out->part[i], out->len[i] * sizeof(float));
    }
    e->bytes = bytes, held += bytes, n_entries++;
    return e;
}

int stage_cache_put(const StageKey *k, const StageOut *out) { return insert(k, out, 1) != NULL; }

int stage_cache_adopt(const StageKey *k, const StageOut *out) {
    Entry *e = insert(k, out, 0);
    if (e) e->pinned = 1;
    return e != NULL;
}

void stage_cache_pin(const float *part0, int on) {
    for (int i = 0; part0 && i < n_entries; i++)
        if (entries[i].out.n_parts && entries[i].out.part[0] == part0) entries[i].pinned = on;
}
