#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "train.h"

#define CACHE_SLOTS 16 /* >= 5: a job may hold its dataset, usps and 3 meta tasks at once */

typedef struct CacheEntry {
    char key[320];
    RawSplit train, test;   /* test.n == 0 when the test split could not be loaded: */
    char test_err[256];     /* why (jobs that test on it fail with this) */
    long last_use;
    int view;      /* train/test point into memory the cache does not own */
} CacheEntry;

static void entry_clear(CacheEntry *e) {
    if (!e->view) {
        raw_split_free(&e->train);
        raw_split_free(&e->test);
    }
    memset(e, 0, sizeof(*e));
}

static CacheEntry cache[CACHE_SLOTS];
static long use_clock;

void worker_cache_clear(void) {
    for (int i = 0; i < CACHE_SLOTS; i++) entry_clear(&cache[i]);
}

/* The cached splits of (data_dir, name), loading them into the least recently used slot. */
static CacheEntry *cache_get(const char *data_dir, const char *name, char *err, size_t errlen) {
    char key[320];
    snprintf(key, sizeof key, "%s|%s", data_dir, name);
    CacheEntry *slot = &cache[0];
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (cache[i].key[0] && strcmp(cache[i].key, key) == 0) {
            cache[i].last_use = ++use_clock;
            return &cache[i];
        }
        if (cache[i].last_use < slot->last_use) slot = &cache[i];
    }
    entry_clear(slot);
    if (dataset_load(data_dir, name, "train", &slot->train, err, errlen)) return NULL;
    if (dataset_load(data_dir, name, "test", &slot->test, slot->test_err, sizeof slot->test_err)) {
        /* the training split alone still serves test_split: heldout (svhn here) */
        RawSplit *t = &slot->test;
        memset(t, 0, sizeof *t);
        t->c = slot->train.c, t->h = slot->train.h, t->w = slot->train.w, t->n_classes = slot->train.n_classes;
        t->x = malloc(1), t->y = malloc(1);
        if (!t->x || !t->y) {
            raw_split_free(&slot->train), raw_split_free(t);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
    }
    if (slot->train.h != slot->test.h || slot->train.w != slot->test.w) {
        snprintf(err, errlen, "%s/%s: train images are %dx%d but test images are %dx%d",
                 data_dir, name, slot->train.h, slot->train.w, slot->test.h, slot->test.w);
        raw_split_free(&slot->train);
        raw_split_free(&slot->test);
        return NULL;
    }
    snprintf(slot->key, sizeof slot->key, "%s", key);
    slot->last_use = ++use_clock;
    return slot;
}

static CacheEntry *cache_find(const char *data_dir, const char *name) {
    char key[320];
    snprintf(key, sizeof key, "%s|%s", data_dir, name);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].key[0] && strcmp(cache[i].key, key) == 0) return &cache[i];
    return NULL;
}

const RawSplit *worker_cached(const char *data_dir, const char *name, int split) {
    CacheEntry *e = cache_find(data_dir, name);
    return e ? (split ? &e->test : &e->train) : NULL;
}

int worker_cache_view(const char *data_dir, const char *name, const RawSplit *train,
                      const RawSplit *test) {
    CacheEntry *e = cache_find(data_dir, name);
    for (int i = 0; !e && i < CACHE_SLOTS; i++)
        if (!cache[i].key[0]) e = &cache[i];
    if (!e) return -1;
    entry_clear(e);
    snprintf(e->key, sizeof e->key, "%s|%s", data_dir, name);
    e->train = *train, e->test = *test, e->view = 1;
    e->last_use = ++use_clock;
    return 0;
}

int worker_data_check(const char *data_dir, const char *name, char *err, size_t errlen) {
    return cache_get(data_dir, name, err, errlen) ? 0 : -1;
}

int worker_spec_check(const JobSpec *s, char *err, size_t errlen) {
    if (worker_data_check(s->data_dir, s->dataset, err, errlen)) return -1;
    const CacheEntry *e = cache_find(s->data_dir, s->dataset);
    if (strcmp(s->test_split, "heldout") && e && e->test.n == 0) {
        snprintf(err, errlen, "%s", e->test_err[0] ? e->test_err : "the test split is empty");
        return -1;
    }
    if (!strcmp(s->ood, "usps") && worker_data_check(s->data_dir, "usps", err, errlen)) return -1;
    for (const char *p = s->meta_tasks; *p;) {
        char name[32];
        size_t len = strcspn(p, ",");
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        if (worker_data_check(s->data_dir, name, err, errlen)) return -1;
        p += len + (p[len] == ',');
    }
    return 0;
}

void worker_run(const JobSpec *spec, int job_id, int rank, JobResult *r) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    job_result_init(r, job_id);
    r->rank = rank;
    gethostname(r->host, sizeof r->host - 1);
    char err[256];
    RawSplit ood = {0};
    CacheEntry *e = cache_get(spec->data_dir, spec->dataset, err, sizeof err);
    const RawSplit *test = e ? &e->test : NULL;
    if (e && e->test.n == 0 && e->test_err[0] && strcmp(spec->test_split, "heldout") && !strcmp(spec->ood, "none")) {
        /* the test split did not load: say why (a damaged file, a missing one), not only that it is absent */
        snprintf(err, sizeof err, "%s", e->test_err);
        test = NULL;
    }
    if (e && strcmp(spec->ood, "none") != 0) {
        /* the out-of-distribution test set replaces the test split */
        if (!strcmp(spec->ood, "usps")) {
            CacheEntry *u = cache_get(spec->data_dir, "usps", err, sizeof err);
            if (u && usps_to_mnist_frame(&u->test, &ood, err, sizeof err) == 0) test = &ood;
            else test = NULL;
            /* loading usps may have evicted the training set's slot: look it up again */
            e = u ? cache_get(spec->data_dir, spec->dataset, err, sizeof err) : NULL;
        } else {
            OodParams op = {{0}, spec->ood_dx, spec->ood_dy, spec->ood_degrees, spec->ood_scale};
            snprintf(op.kind, sizeof op.kind, "%s", spec->ood);
            if (ood_transform(&e->test, &op, &ood) == 0) test = &ood;
            else test = NULL, snprintf(err, sizeof err, "out of memory for the ood test set");
        }
    }
    /* meta-loss tasks, in the order of meta_tasks */
    TaskData tasks[8];
    int n_tasks = 0;
    for (const char *p = spec->meta_tasks; e && test && *p && n_tasks < 8;) {
        char name[32];
        size_t len = strcspn(p, ",");
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        CacheEntry *t = cache_get(spec->data_dir, name, err, sizeof err);
        if (!t) {
            test = NULL;
            break;
        }
        tasks[n_tasks].train = &t->train, tasks[n_tasks].test = &t->test, n_tasks++;
        p += len + (p[len] == ',');
    }
    if (!e || !test) {
        r->status = STATUS_FAILED;
        snprintf(r->message, sizeof r->message, "%s", err);
    } else {
        train_job(spec, &e->train, test, tasks, n_tasks, r);
    }
    raw_split_free(&ood);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
}

void worker_set_cancel_flag(const volatile int *flag) { train_set_cancel_flag(flag); }
