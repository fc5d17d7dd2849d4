#include "coordinator.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "comm.h"
#include "memest.h"
#include "results.h"
#include "train.h"
#include "worker.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

volatile int coordinator_stop;

static void on_signal(int sig) {
    (void)sig;
    coordinator_stop = 1;
}

void coordinator_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* e.g. Slurm's --signal=USR1@T forwarded by srun */
    train_set_cancel_flag(&coordinator_stop);
}

/* Adds "dir<TAB>name\n" to keys unless it is there; checks and caches the dataset first. */
static int need_dataset(const char *dir, const char *name, long id, char *keys, size_t keys_len,
                        char *err, size_t errlen) {
    char line[400];
    snprintf(line, sizeof line, "%s\t%s\n", dir, name);
    if (strstr(keys, line)) return 0;
    char e[512];
    if (worker_data_check(dir, name, e, sizeof e)) {
        snprintf(err, errlen, "dataset %s (job %ld): %s", name, id, e);
        return -1;
    }
    if (strlen(keys) + strlen(line) >= keys_len) {
        snprintf(err, errlen, "the sweep reads too many datasets");
        return -1;
    }
    strcat(keys, line);
    return 0;
}

int coordinator_check(const Sweep *sw, const RunOptions *o, char *keys, size_t keys_len, char *err,
                      size_t errlen) {
    if (!o->resume && access(o->out_path, F_OK) == 0) {
        snprintf(err, errlen, "%s: already exists; synsweep never overwrites a results file "
                 "(--resume continues it; or choose another -o)", o->out_path);
        return -1;
    }
    char local[4096] = "";
    if (!keys) keys = local, keys_len = sizeof local;
    keys[0] = 0;
    /* each dataset a job reads: its own, USPS for ood: usps, its meta tasks */
    char last[400] = "";
    size_t budget = o->memory_budget ? o->memory_budget : memory_budget_default();
    for (long id = 0; id < sw->n_jobs; id++) {
        JobSpec s;
        sweep_job(sw, id, &s);
        char sig[400];
        snprintf(sig, sizeof sig, "%s|%s|%s|%s", s.data_dir, s.dataset, s.ood, s.meta_tasks);
        if (strcmp(sig, last)) { /* most neighbours read the same data */
            memcpy(last, sig, sizeof last);
            if (need_dataset(s.data_dir, s.dataset, id, keys, keys_len, err, errlen)) return -1;
            if (!strcmp(s.ood, "usps") && need_dataset(s.data_dir, "usps", id, keys, keys_len, err, errlen)) return -1;
            for (const char *p = s.meta_tasks; *p;) {
                char name[32];
                size_t len = strcspn(p, ",");
                snprintf(name, sizeof name, "%.*s", (int)len, p);
                if (need_dataset(s.data_dir, name, id, keys, keys_len, err, errlen)) return -1;
                p += len + (p[len] == ',');
            }
        }
        /* the memory it will take, before anything is allocated for it (a subset its data cannot
         * give fails as that job's row: docs/RESILIENCE.md) */
        char e[400];
        if (jobspec_fits(&s, worker_cached(s.data_dir, s.dataset, 0), budget, e, sizeof e)) {
            snprintf(err, errlen, "job %ld %s", id, e);
            return -1;
        }
    }
    return 0;
}

/*
 * Rank 0's own worker: a thread that runs the jobs the coordinator loop hands it (one at a
 * time), so that rank 0's core trains too. It makes no MPI calls (MPI_THREAD_FUNNELED).
 */
typedef struct Local {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_res;
    int has_job, has_result, quit, busy;
    long job;
    JobSpec spec;
    JobResult res;
} Local;

static void *local_main(void *arg) {
    Local *L = arg;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        while (!L->has_job && !L->quit) pthread_cond_wait(&L->cv_job, &L->mu);
        if (L->quit) break;
        JobSpec spec = L->spec;
        long job = L->job;
        L->has_job = 0;
        pthread_mutex_unlock(&L->mu);
        JobResult r;
        worker_run(&spec, (int)job, 0, &r);
        pthread_mutex_lock(&L->mu);
        L->res = r;
        L->has_result = 1;
        pthread_cond_signal(&L->cv_res);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

static int local_start(Local *L) {
    memset(L, 0, sizeof(*L));
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv_job, NULL);
    pthread_cond_init(&L->cv_res, NULL);
    return pthread_create(&L->th, NULL, local_main, L);
}

static void local_post(Local *L, long job, const JobSpec *spec) {
    pthread_mutex_lock(&L->mu);
    L->job = job, L->spec = *spec, L->has_job = 1, L->busy = 1;
    pthread_cond_signal(&L->cv_job);
    pthread_mutex_unlock(&L->mu);
}

/* The local result, waiting up to timeout seconds for it. @return 1 with *r, or 0. */
static int local_take(Local *L, JobResult *r, double timeout) {
    int got = 0;
    pthread_mutex_lock(&L->mu);
    if (!L->has_result && timeout > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ns = ts.tv_nsec + (long)(timeout * 1e9);
        ts.tv_sec += ns / 1000000000L, ts.tv_nsec = ns % 1000000000L;
        while (!L->has_result && pthread_cond_timedwait(&L->cv_res, &L->mu, &ts) == 0) {
        }
    }
    if (L->has_result) *r = L->res, L->has_result = 0, L->busy = 0, got = 1;
    pthread_mutex_unlock(&L->mu);
    return got;
}

/* Ends the thread after its current job (a cancelled or finished result is dropped). */
static void local_stop(Local *L) {
    pthread_mutex_lock(&L->mu);
    L->quit = 1;
    pthread_cond_signal(&L->cv_job);
    pthread_mutex_unlock(&L->mu);
    pthread_join(L->th, NULL);
    if (L->has_result) job_result_free(&L->res);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv_job);
    pthread_cond_destroy(&L->cv_res);
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

typedef struct Coded {
    uint64_t code; /* the job's values of the non-seed axes, mixed radix */
    long id;
} Coded;

/* Sorts c[0..n) by code, keeping the order of equal codes (LSD radix sort, 16 bits a pass,
 * as many passes as codes below span need), through tmp (n entries). @return 0 or -1 (memory). */
static int coded_sort(Coded *c, Coded *tmp, long n, uint64_t span) {
    long *count = malloc(65537 * sizeof(long));
    if (!count) return -1;
    for (int shift = 0; shift < 64 && (span - 1) >> shift; shift += 16) {
        memset(count, 0, 65537 * sizeof(long));
        for (long i = 0; i < n; i++) count[(c[i].code >> shift & 0xffff) + 1]++;
        for (int d = 0; d < 65536; d++) count[d + 1] += count[d];
        for (long i = 0; i < n; i++) tmp[count[c[i].code >> shift & 0xffff]++] = c[i];
        memcpy(c, tmp, (size_t)n * sizeof(Coded));
    }
    free(count);
    return 0;
}

/*
 * Mean +- sample standard deviation (n - 1) of test accuracy over the jobs of each
 * combination of the non-seed axes (typically the seeds), groups in job order. Jobs are
 * grouped by a number made of their values' indices (a job of a block without an axis takes
 * the index of the fixed value's text), radix-sorted, so a million jobs group in O(n); only
 * the rows shown are formatted.
 */
static void print_summary(const Sweep *sw, const Summary *s, const char *path) {
    long n = sw->n_jobs;
    int width[SWEEP_MAX_AXES], fixed_idx[SWEEP_MAX_AXES], radix[SWEEP_MAX_AXES];
    uint64_t span = 1;
    for (int a = 0; a < sw->n_axes; a++) {
        const Axis *ax = &sw->axes[a];
        width[a] = sweep_axis_width(sw, a);
        fixed_idx[a] = ax->n;
        for (int i = 0; ax->fixed && i < ax->n; i++)
            if (!strcmp(ax->values[i], ax->fixed)) fixed_idx[a] = i;
        radix[a] = strcmp(ax->key, "seed") ? ax->n + 1 : 1;
        if (span > UINT64_MAX / (uint64_t)radix[a]) {
            printf("\n(no summary table: too many combinations of the grid's values)\nresults: %s\n", path);
            return;
        }
        span *= (uint64_t)radix[a];
    }
    size_t nn = (size_t)(n > 0 ? n : 1);
    Coded *c = malloc(nn * sizeof(Coded)), *tmp = malloc(nn * sizeof(Coded));
    long *first = malloc(nn * sizeof(long)), order[40];
    if (!c || !tmp || !first) goto done;
    for (long id = 0; id < n; id++) {
        int idx[SWEEP_MAX_AXES];
        sweep_job_value_index(sw, id, idx);
        uint64_t code = 0;
        for (int a = 0; a < sw->n_axes; a++)
            code = code * (uint64_t)radix[a] + (uint64_t)(radix[a] == 1 ? 0 : idx[a] < 0 ? fixed_idx[a] : idx[a]);
        c[id].code = code, c[id].id = id;
    }
    if (coded_sort(c, tmp, n, span)) goto done; /* ids ascending within a group */
    /* groups: runs of equal codes; first[id] = position in c of the group whose lowest job is id, or -1 */
    long n_groups = 0;
    for (long id = 0; id < n; id++) first[id] = -1;
    for (long i = 0; i < n; i++)
        if (i == 0 || c[i].code != c[i - 1].code) first[c[i].id] = i, n_groups++;
    /* the groups shown, ordered by their first job */
    long shown = 0;
    for (long id = 0; id < n && shown < 40; id++)
        if (first[id] >= 0) order[shown++] = first[id];
    printf("\n");
    for (int a = 0; a < sw->n_axes; a++)
        if (strcmp(sw->axes[a].key, "seed")) printf("%-*s ", width[a], sw->axes[a].key);
    printf("%5s %5s  %-17s %9s\n", "jobs", "ok", "test_acc mean+-sd", "sec/job");
    /* sec/job is over the jobs that ran */
    for (long gi = 0; gi < shown; gi++) {
        long st = order[gi], en = st;
        while (en < n && c[en].code == c[st].code) en++;
        double sum = 0, sec = 0;
        int ok = 0, ran = 0;
        for (long i = st; i < en; i++) {
            long id = c[i].id;
            if (s->status[id] != STATUS_PENDING && isfinite(s->sec[id])) sec += s->sec[id], ran++;
            if (s->status[id] != STATUS_OK) continue;
            ok++, sum += s->acc[id];
        }
        double mean = ok ? sum / ok : NAN, ss = 0;
        for (long i = st; i < en; i++)
            if (s->status[c[i].id] == STATUS_OK) ss += (s->acc[c[i].id] - mean) * (s->acc[c[i].id] - mean);
        const char *vals[SWEEP_MAX_AXES];
        sweep_job_values(sw, c[st].id, vals);
        for (int a = 0; a < sw->n_axes; a++)
            if (strcmp(sw->axes[a].key, "seed")) printf("%-*s ", width[a], vals[a]);
        printf("%5ld %5d  %7.4f", en - st, ok, mean);
        if (ok >= 2) printf(" +- %-7.4f", sqrt(ss / (ok - 1)));
        else printf("    %-7s", "");
        printf(" %9.2f\n", ran ? sec / ran : NAN);
    }
    if (n_groups > shown) printf("... %ld more groups\n", n_groups - shown);
    printf("sd: sample standard deviation (n - 1) over the ok jobs of a row; none shown below 2\n");
    printf("results: %s\n", path);
done:
    free(c), free(tmp), free(first);
}

int coordinator_status(const char *path, char *err, size_t errlen) {
    Sweep sw;
    Summary s;
    if (results_read_summary(path, &sw, &s.status, &s.acc, &s.sec, err, errlen)) return -1;
    long n = sw.n_jobs, count[STATUS_CANCELLED + 1] = {0};
    for (long id = 0; id < n; id++)
        if (s.status[id] >= 0) count[s.status[id]]++;
    printf("%s: sweep '%s', %ld jobs: %ld ok, %ld diverged, %ld failed, %ld timeout, %ld pending%s\n", path,
           sw.name, n, count[STATUS_OK], count[STATUS_DIVERGED], count[STATUS_FAILED], count[STATUS_TIMEOUT],
           count[STATUS_PENDING], count[STATUS_PENDING] ? "" : " (complete)");
    print_summary(&sw, &s, path);
    free(s.status), free(s.acc), free(s.sec);
    sweep_free(&sw);
    return 0;
}

int coordinator_run(const Sweep *sw, const RunOptions *o, char *err, size_t errlen) {
    ResultsFile *f = o->resume ? results_resume(o->out_path, sw, o->retry_failed, err, errlen)
                               : results_create(o->out_path, sw, err, errlen);
    if (!f) return RUN_ERROR;
    coordinator_catch_signals();
    int n_ranks = comm_size(), rc = 0, use_local = o->local_worker || n_ranks == 1;
    if (!use_local) worker_cache_clear(); /* rank 0 only coordinates */
    long n = sw->n_jobs, n_todo = 0, next = 0, since = 0, got = 0;
    long *todo = malloc((size_t)(n > 0 ? n : 1) * sizeof(long));
    Summary s = {calloc((size_t)n, sizeof(int)), calloc((size_t)n, sizeof(double)),
                 calloc((size_t)n, sizeof(double))};
    Local L;
    int local_up = 0;
    if (!todo || !s.status || !s.acc || !s.sec) {
        snprintf(err, errlen, "out of memory");
        rc = RUN_ERROR;
        goto done;
    }
    for (long id = 0; id < n; id++)
        if (id % o->n_shards == o->shard && !results_job_done(f, id)) todo[n_todo++] = id;
    if (use_local && n_todo > 0) {
        if (local_start(&L)) {
            snprintf(err, errlen, "cannot start rank 0's worker thread");
            rc = RUN_ERROR;
            goto done;
        }
        local_up = 1;
    }
    Progress p = {now_s(), 0, 0, 0, n_todo, isatty(2)};
    double last_ckpt = p.t0;
    int active = n_ranks - 1;
    long idle_ns = 50000;
    if (!o->quiet) {
        fprintf(stderr, "[synsweep] %ld jobs on %d rank%s -> %s", n_todo, n_ranks, n_ranks > 1 ? "s" : "", o->out_path);
        if (o->n_shards > 1) fprintf(stderr, " (shard %d/%d)", o->shard, o->n_shards);
        if (n_todo < n) fprintf(stderr, " (%ld of %ld jobs already have results)", results_n_done(f), n);
        fputc('\n', stderr);
    }
    while (got < n_todo) {
        if (coordinator_stop) {
            rc = RUN_INTERRUPTED;
            break;
        }
        JobResult r;
        JobSpec spec;
        int src = 0, have = 0;
        if (local_up && !L.busy && next < n_todo) {
            sweep_job(sw, todo[next], &spec);
            local_post(&L, todo[next++], &spec);
        }
        /* the local worker's result, or the next worker message; while both are busy, poll
         * with a pause that grows from 50 us to 2 ms and starts over when anything arrives */
        if (local_up && L.busy) have = local_take(&L, &r, n_ranks == 1 ? 0.25 : 0.0);
        if (!have && n_ranks > 1) {
            int kind = comm_recv(&r, &src, local_up && L.busy ? 0.0 : 0.25);
            if (kind == 0 && local_up && L.busy) {
                /* the pause is a wait for the local result: it ends the moment one comes */
                have = local_take(&L, &r, idle_ns * 1e-9);
                idle_ns = have ? 50000 : idle_ns < 2000000 ? idle_ns * 2 : idle_ns;
                if (have) goto got_result;
                continue;
            }
            idle_ns = 50000;
            if (kind < 0) {
                snprintf(err, errlen, "malformed message from rank %d", src);
                rc = RUN_ERROR;
                goto done;
            }
            if (kind > 0) {
                if (next < n_todo && !coordinator_stop) {
                    JobSpec js;
                    sweep_job(sw, todo[next], &js);
                    comm_send_job(src, (int)todo[next++], &js);
                } else {
                    comm_send_stop(src);
                    active--;
                }
            }
            have = kind == MSG_RESULT;
        }
        if (!have) continue;
    got_result:
        if (r.status == STATUS_CANCELLED) { /* a signalled worker: so are we, or soon */
            job_result_free(&r);
            coordinator_stop = 1;
            continue;
        }
        sweep_job(sw, r.job_id, &spec);
        if (results_put(f, &spec, &r, err, errlen)) {
            job_result_free(&r);
            rc = RUN_ERROR;
            goto done;
        }
        s.status[r.job_id] = r.status, s.acc[r.job_id] = r.m.test_acc, s.sec[r.job_id] = r.seconds;
        got++, p.done++;
        if (r.status != STATUS_OK) {
            p.failed++;
            if (!o->quiet)
                fprintf(stderr, "%s[synsweep] job %d %s: %s\n", p.tty ? "\n" : "", r.job_id,
                        status_name(r.status), r.message);
        }
        job_result_free(&r);
        double t = now_s();
        if (++since >= o->checkpoint_every || t - last_ckpt >= o->checkpoint_seconds) {
            if (results_checkpoint(f, err, errlen)) {
                rc = RUN_ERROR;
                goto done;
            }
            since = 0, last_ckpt = t;
        }
        progress_show(&p, next - got, o, 0);
    }
    if (rc == RUN_INTERRUPTED) {
        /* save what we have first, then give the workers (signalled too, under mpirun, srun
         * or scancel) 8 s to hand back their cancelled or finished jobs */
        if (!o->quiet)
            fprintf(stderr, "%s[synsweep] stopped by a signal: checkpointing %ld results\n",
                    p.tty ? "\n" : "", results_n_done(f));
        if (results_checkpoint(f, err, errlen)) {
            rc = RUN_ERROR;
            goto done;
        }
        double t0 = now_s();
        while (active > 0 && now_s() - t0 < 8.0) {
            JobResult r;
            int src;
            int kind = comm_recv(&r, &src, 0.25);
            if (kind == 0) continue;
            if (kind == MSG_RESULT && r.status != STATUS_CANCELLED) {
                JobSpec spec;
                sweep_job(sw, r.job_id, &spec);
                if (results_put(f, &spec, &r, err, errlen)) rc = RUN_ERROR;
            }
            if (kind == MSG_RESULT) job_result_free(&r);
            comm_send_stop(src);
            active--;
        }
        if (rc != RUN_ERROR && active > 0) rc = RUN_ABANDONED;
        goto done;
    }
    /* release the workers still waiting */
    while (active > 0) {
        JobResult r;
        int src;
        int kind = comm_recv(&r, &src, 1.0);
        if (kind == 0) continue;
        if (kind == MSG_RESULT) job_result_free(&r);
        comm_send_stop(src);
        active--;
    }
    progress_show(&p, 0, o, 1);
    if (!o->quiet) {
        double el = now_s() - p.t0;
        fprintf(stderr, "%s[synsweep] %ld jobs in %.3f s after start-up: %.1f jobs/s\n",
                p.tty ? "\n" : "", n_todo, el, el > 0 ? n_todo / el : 0.0);
    }
done:
    if (local_up) local_stop(&L); /* after a signal its job was cancelled: not recorded */
    char e2[512];
    if (results_close(f, rc == RUN_ERROR ? e2 : err, rc == RUN_ERROR ? sizeof e2 : errlen)) {
        if (rc != RUN_ERROR) rc = RUN_ERROR;
    }
    if ((rc == RUN_INTERRUPTED || rc == RUN_ABANDONED) && !o->quiet)
        fprintf(stderr, "[synsweep] %s holds every result received; rerun the same command with --resume to finish\n",
                o->out_path);
    if (rc == 0 && !o->quiet && o->n_shards == 1 && n_todo == n) print_summary(sw, &s, o->out_path);
    else if (rc == 0 && !o->quiet) printf("results: %s (synsweep status %s summarises it)\n", o->out_path, o->out_path);
    train_set_cancel_flag(NULL);
    free(todo);
    free(s.status), free(s.acc), free(s.sec);
    return rc;
}
