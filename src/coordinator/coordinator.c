#include "coordinator.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "comm.h"
#include "results.h"
#include "worker.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int coordinator_check(const Sweep *sw, const RunOptions *o, char *err, size_t errlen) {
    if (access(o->out_path, F_OK) == 0) {
        snprintf(err, errlen, "%s: already exists; synsweep never overwrites a results file "
                 "(choose another -o, or move the file away)", o->out_path);
        return -1;
    }
    /* each distinct (data_dir, dataset, ood) once */
    char seen[16][400];
    int n_seen = 0;
    for (long id = 0; id < sw->n_jobs; id++) {
        JobSpec s;
        sweep_job(sw, id, &s);
        char key[400];
        snprintf(key, sizeof key, "%s|%s|%s|%s", s.data_dir, s.dataset, strcmp(s.ood, "usps") ? "" : "usps",
                 s.meta_tasks);
        int k = 0;
        while (k < n_seen && strcmp(seen[k], key)) k++;
        if (k < n_seen) continue;
        if (n_seen < 16) memcpy(seen[n_seen++], key, sizeof key);
        char e[512];
        if (worker_spec_check(&s, e, sizeof e)) {
            snprintf(err, errlen, "dataset %s (job %ld): %s", s.dataset, id, e);
            return -1;
        }
    }
    return 0;
}

typedef struct Progress {
    double t0, last;
    long done, failed, total;
    int tty;
} Progress;

static void fmt_hms(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) {
        snprintf(buf, n, "--:--:--");
        return;
    }
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%02ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static void progress_show(Progress *p, long running, const RunOptions *o, int force) {
    double t = now_s();
    if (o->quiet) return;
    if (!force && t - p->last < (p->tty ? 0.2 : o->progress_seconds)) return;
    p->last = t;
    double el = t - p->t0, rate = el > 0 ? p->done / el : 0;
    char eta[64], ela[64];
    fmt_hms(eta, sizeof eta, rate > 0 ? (p->total - p->done) / rate : NAN);
    fmt_hms(ela, sizeof ela, el);
    fprintf(stderr, "%s[synsweep] %ld/%ld done, %ld running, %ld failed | %.1f jobs/min | elapsed %s | ETA %s%s",
            p->tty ? "\r" : "", p->done, p->total, running, p->failed, rate * 60.0, ela, eta,
            p->tty ? "   " : "\n");
    fflush(stderr);
}

typedef struct Summary {
    int *status;
    double *acc, *sec;
} Summary;

typedef struct Keyed {
    char *key;
    long id;
} Keyed;

static int cmp_keyed(const void *a, const void *b) {
    const Keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

static int cmp_first_id(const void *a, const void *b) {
    const Keyed *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* Mean +- std of test accuracy for each combination of the non-seed axes, in job order. */
static void print_summary(const Sweep *sw, const Summary *s, const char *path) {
    long n = sw->n_jobs;
    Keyed *k = calloc((size_t)n, sizeof(Keyed)), *g = calloc((size_t)n, sizeof(Keyed));
    long *start = calloc((size_t)n + 1, sizeof(long));
    if (!k || !g || !start) goto done;
    for (long id = 0; id < n; id++) {
        char key[1024] = "";
        long rem = id;
        int digit[SWEEP_MAX_AXES];
        for (int a = sw->n_axes - 1; a >= 0; a--) digit[a] = (int)(rem % sw->axes[a].n), rem /= sw->axes[a].n;
        for (int a = 0; a < sw->n_axes; a++) {
            if (!strcmp(sw->axes[a].key, "seed")) continue;
            char cell[64];
            snprintf(cell, sizeof cell, "%-14.14s ", sw->axes[a].values[digit[a]]);
            strncat(key, cell, sizeof key - strlen(key) - 1);
        }
        k[id].key = strdup(key);
        k[id].id = id;
        if (!k[id].key) goto done;
    }
    qsort(k, (size_t)n, sizeof(Keyed), cmp_keyed);
    long n_groups = 0;
    for (long i = 0; i < n; i++)
        if (i == 0 || strcmp(k[i].key, k[i - 1].key)) {
            start[n_groups] = i;
            g[n_groups].key = k[i].key, g[n_groups].id = i; /* id = position in k */
            n_groups++;
        }
    start[n_groups] = n;
    /* order groups by their first job */
    for (long i = 0; i < n_groups; i++) g[i].id = k[start[i]].id * (n + 1) + start[i];
    qsort(g, (size_t)n_groups, sizeof(Keyed), cmp_first_id);
    printf("\n");
    for (int a = 0; a < sw->n_axes; a++)
        if (strcmp(sw->axes[a].key, "seed")) printf("%-14.14s ", sw->axes[a].key);
    printf("%5s %5s  %-17s %9s\n", "jobs", "ok", "test_acc mean+-sd", "sec/job");
    long shown = n_groups < 40 ? n_groups : 40;
    for (long gi = 0; gi < shown; gi++) {
        long st = g[gi].id % (n + 1), en = st;
        while (en < n && !strcmp(k[en].key, k[st].key)) en++;
        double sum = 0, sq = 0, sec = 0;
        int ok = 0;
        for (long i = st; i < en; i++) {
            long id = k[i].id;
            sec += s->sec[id];
            if (s->status[id] != STATUS_OK) continue;
            ok++, sum += s->acc[id], sq += s->acc[id] * s->acc[id];
        }
        double mean = ok ? sum / ok : NAN, sd = ok ? sqrt(fmax(sq / ok - mean * mean, 0)) : NAN;
        printf("%s%5ld %5d  %7.4f +- %-7.4f %9.2f\n", k[st].key, en - st, ok, mean, sd,
               sec / (double)(en - st));
    }
    if (n_groups > shown) printf("... %ld more groups\n", n_groups - shown);
    printf("results: %s\n", path);
done:
    if (k)
        for (long id = 0; id < n; id++) free(k[id].key);
    free(k), free(g), free(start);
}

int coordinator_run(const Sweep *sw, const RunOptions *o, char *err, size_t errlen) {
    ResultsFile *f = results_create(o->out_path, sw, err, errlen);
    if (!f) return -1;
    int n_ranks = comm_size(), rc = 0;
    if (n_ranks > 1) worker_cache_clear(); /* rank 0 only coordinates */
    long n = sw->n_jobs, next = 0, since_flush = 0;
    Summary s = {calloc((size_t)n, sizeof(int)), calloc((size_t)n, sizeof(double)),
                 calloc((size_t)n, sizeof(double))};
    if (!s.status || !s.acc || !s.sec) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto done;
    }
    Progress p = {now_s(), 0, 0, 0, n, isatty(2)};
    double last_flush = p.t0;
    int active = n_ranks - 1;
    if (!o->quiet)
        fprintf(stderr, "[synsweep] %ld jobs on %d rank%s -> %s\n", n, n_ranks, n_ranks > 1 ? "s" : "",
                o->out_path);
    while (p.done < n) {
        JobResult r;
        JobSpec spec;
        int src = 0;
        if (n_ranks == 1) {
            sweep_job(sw, next, &spec);
            worker_run(&spec, (int)next++, 0, &r);
        } else {
            int kind = comm_recv(&r, &src);
            if (kind < 0) {
                snprintf(err, errlen, "malformed message from rank %d", src);
                rc = -1;
                goto done;
            }
            if (next < n) {
                JobSpec js;
                sweep_job(sw, next, &js);
                comm_send_job(src, (int)next++, &js);
            } else {
                comm_send_stop(src);
                active--;
            }
            if (kind != MSG_RESULT) continue;
            sweep_job(sw, r.job_id, &spec);
        }
        if (results_put(f, &spec, &r, err, errlen)) {
            job_result_free(&r);
            rc = -1;
            goto done;
        }
        s.status[r.job_id] = r.status, s.acc[r.job_id] = r.m.test_acc, s.sec[r.job_id] = r.seconds;
        p.done++;
        if (r.status != STATUS_OK) {
            p.failed++;
            if (!o->quiet)
                fprintf(stderr, "%s[synsweep] job %d %s: %s\n", p.tty ? "\n" : "", r.job_id,
                        status_name(r.status), r.message);
        }
        job_result_free(&r);
        double t = now_s();
        if (++since_flush >= o->flush_every || t - last_flush >= o->flush_seconds) {
            if (results_flush(f, err, errlen)) {
                rc = -1;
                goto done;
            }
            since_flush = 0, last_flush = t;
        }
        progress_show(&p, n_ranks == 1 ? 0 : (next - p.done), o, 0);
    }
    /* release the workers still waiting */
    while (active > 0) {
        JobResult r;
        int src;
        if (comm_recv(&r, &src) == MSG_RESULT) job_result_free(&r);
        comm_send_stop(src);
        active--;
    }
    progress_show(&p, 0, o, 1);
    if (!o->quiet) {
        double el = now_s() - p.t0;
        fprintf(stderr, "%s[synsweep] %ld jobs in %.3f s after start-up: %.1f jobs/s\n",
                p.tty ? "\n" : "", n, el, el > 0 ? n / el : 0.0);
    }
done:;
    char e2[512];
    if (results_close(f, rc ? e2 : err, rc ? sizeof e2 : errlen)) rc = -1;
    if (rc == 0 && !o->quiet) print_summary(sw, &s, o->out_path);
    free(s.status), free(s.acc), free(s.sec);
    return rc;
}
