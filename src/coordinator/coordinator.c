#include "coordinator.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "comm.h"
#include "local_worker.h"
#include "memest.h"
#include "results.h"
#include "stage.h"
#include "status_view.h"
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
    worker_set_cancel_flag(&coordinator_stop);
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

/* Jobs that share a stage: todo[next..end) are still to hand out. */
typedef struct Group {
    long next, end;
} Group;

/* A run's state, shared by the steps of coordinator_run. */
typedef struct Run {
    const Sweep *sw;
    const RunOptions *o;
    ResultsFile *f;
    int n_ranks, active;     /* ranks; workers not yet told to stop */
    long *todo, n_todo;      /* the jobs to run (of this shard, without a result), the jobs of
                                a shared stage next to each other (group_jobs) */
    Group *grp;              /* runs of todo sharing a stage (one job each without sharing) */
    long n_grp, fresh;       /* groups; the first no rank has started */
    long *cur;               /* per rank: the group it works through, -1 none */
    long shared;             /* results that continued from a shared stage */
    double saved;            /* their stage seconds */
    long next, got, since;   /* handed out; results received; since the last checkpoint */
    Summary s;               /* what the summary table shows */
    Local L;                 /* rank 0's own worker thread, when local_up */
    int local_up;
    Progress p;
    double last_ckpt;
    long idle_ns;            /* the pause while both the thread and the workers are busy */
} Run;

typedef struct GroupKey {
    uint64_t g;    /* stage_group; 0: none */
    long id, first; /* the job; the first job of its group */
} GroupKey;

static int by_group(const void *a, const void *b) {
    const GroupKey *x = a, *y = b;
    if (x->g != y->g) return x->g < y->g ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int by_first(const void *a, const void *b) {
    const GroupKey *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/*
 * Orders todo so that the jobs of one shared stage (stage_group) are next to each other,
 * groups in the order of their first job, and makes R->grp. Without the stage cache every
 * job is a group of its own, in id order: the dispatch order is the plain one.
 * @return 0 or -1 (out of memory).
 */
static int group_jobs(Run *R) {
    long n = R->n_todo;
    GroupKey *k = malloc((size_t)(n > 0 ? n : 1) * sizeof *k);
    R->grp = malloc((size_t)(n > 0 ? n : 1) * sizeof(Group));
    R->cur = malloc((size_t)R->n_ranks * sizeof(long));
    if (!k || !R->grp || !R->cur) {
        free(k);
        return -1;
    }
    for (int i = 0; i < R->n_ranks; i++) R->cur[i] = -1;
    for (long i = 0; i < n; i++) {
        k[i] = (GroupKey){0, R->todo[i], R->todo[i]};
        if (!R->o->stage_cache) continue;
        JobSpec s;
        sweep_job(R->sw, R->todo[i], &s);
        const RawSplit *t = worker_cached(s.data_dir, s.dataset, 0);
        k[i].g = t ? stage_group(&s, t->c, t->h, t->w, t->n_classes) : 0;
    }
    qsort(k, (size_t)n, sizeof *k, by_group);
    for (long i = 1; i < n; i++)
        if (k[i].g && k[i].g == k[i - 1].g) k[i].first = k[i - 1].first;
    qsort(k, (size_t)n, sizeof *k, by_first);
    for (long i = 0; i < n; i++) {
        R->todo[i] = k[i].id;
        if (i == 0 || k[i].first != k[i - 1].first) R->grp[R->n_grp++] = (Group){i, i};
        R->grp[R->n_grp - 1].end = i + 1;
    }
    free(k);
    return 0;
}

/*
 * The next job for rank `rank`: the next of the group it works through (its stage is in that
 * rank's cache), else the first group no rank has started, else (no rank idles) the group
 * with the most jobs left, whose stage it then computes too. @return the job id, or -1 none.
 */
static long pick(Run *R, int rank) {
    long g = R->cur[rank];
    if (g < 0 || R->grp[g].next == R->grp[g].end) {
        g = -1;
        if (R->fresh < R->n_grp) g = R->fresh++;
        else
            for (long i = 0, most = 0; i < R->n_grp; i++)
                if (R->grp[i].end - R->grp[i].next > most) most = R->grp[i].end - R->grp[i].next, g = i;
        R->cur[rank] = g;
    }
    if (g < 0) return -1;
    R->next++;
    return R->todo[R->grp[g].next++];
}

/* The jobs to run, rank 0's worker thread, the first progress line. @return 0 or RUN_ERROR. */
static int run_start(Run *R, char *err, size_t errlen) {
    long n = R->sw->n_jobs;
    const RunOptions *o = R->o;
    R->todo = malloc((size_t)(n > 0 ? n : 1) * sizeof(long));
    size_t nn = (size_t)(n > 0 ? n : 1);
    R->s = (Summary){calloc(nn, sizeof(int)), calloc(nn, sizeof(double)), calloc(nn, sizeof(double))};
    if (!R->todo || !R->s.status || !R->s.acc || !R->s.sec) {
        snprintf(err, errlen, "out of memory");
        return RUN_ERROR;
    }
    for (long id = 0; id < n; id++)
        if (id % o->n_shards == o->shard && !results_job_done(R->f, id)) R->todo[R->n_todo++] = id;
    if (group_jobs(R)) {
        snprintf(err, errlen, "out of memory");
        return RUN_ERROR;
    }
    if ((o->local_worker || R->n_ranks == 1) && R->n_todo > 0) {
        if (local_start(&R->L)) {
            snprintf(err, errlen, "cannot start rank 0's worker thread");
            return RUN_ERROR;
        }
        R->local_up = 1;
    }
    R->p = (Progress){now_s(), 0, 0, 0, R->n_todo, isatty(2)};
    R->last_ckpt = R->p.t0;
    R->active = R->n_ranks - 1;
    R->idle_ns = 50000;
    if (!o->quiet) {
        fprintf(stderr, "[synsweep] %ld jobs on %d rank%s -> %s", R->n_todo, R->n_ranks, R->n_ranks > 1 ? "s" : "",
                o->out_path);
        if (o->n_shards > 1) fprintf(stderr, " (shard %d/%d)", o->shard, o->n_shards);
        if (R->n_todo < n) fprintf(stderr, " (%ld of %ld jobs already have results)", results_n_done(R->f), n);
        fputc('\n', stderr);
    }
    return 0;
}

/* A worker asked for work (its first message, or with a result): the next job, or stop. */
static void hand_out(Run *R, int src) {
    long id = R->next < R->n_todo && !coordinator_stop ? pick(R, src) : -1;
    if (id >= 0) {
        JobSpec js;
        sweep_job(R->sw, id, &js);
        comm_send_job(src, (int)id, &js);
    } else {
        comm_send_stop(src);
        R->active--;
    }
}

/*
 * Keeps rank 0's thread busy, then takes the next result: the thread's, or the next worker
 * message (answered with work). While both are busy it polls with a pause that grows from
 * 50 us to 2 ms and starts over when anything arrives. @return 1 with *r, 0 none yet, -1 err.
 */
static int next_result(Run *R, JobResult *r, char *err, size_t errlen) {
    int src = 0, have = 0;
    if (R->local_up && !R->L.busy && R->next < R->n_todo) {
        JobSpec spec;
        long id = pick(R, 0);
        sweep_job(R->sw, id, &spec);
        local_post(&R->L, id, &spec);
    }
    if (R->local_up && R->L.busy) have = local_take(&R->L, r, R->n_ranks == 1 ? 0.25 : 0.0);
    if (have || R->n_ranks == 1) return have;
    int kind = comm_recv(r, &src, R->local_up && R->L.busy ? 0.0 : 0.25);
    if (kind == 0 && R->local_up && R->L.busy) {
        /* the pause is a wait for the local result: it ends the moment one comes */
        have = local_take(&R->L, r, R->idle_ns * 1e-9);
        R->idle_ns = have ? 50000 : R->idle_ns < 2000000 ? R->idle_ns * 2 : R->idle_ns;
        return have;
    }
    R->idle_ns = 50000;
    if (kind < 0) {
        snprintf(err, errlen, "malformed message from rank %d", src);
        return -1;
    }
    if (kind > 0) hand_out(R, src);
    return kind == MSG_RESULT;
}

/* Records result r (freed here), checkpointing when due. @return 0 or -1 with err. */
static int record(Run *R, JobResult *r, char *err, size_t errlen) {
    const RunOptions *o = R->o;
    if (r->status == STATUS_CANCELLED) { /* a signalled worker: so are we, or soon */
        job_result_free(r);
        coordinator_stop = 1;
        return 0;
    }
    JobSpec spec;
    sweep_job(R->sw, r->job_id, &spec);
    if (results_put(R->f, &spec, r, err, errlen)) {
        job_result_free(r);
        return -1;
    }
    R->s.status[r->job_id] = r->status, R->s.acc[r->job_id] = r->m.test_acc, R->s.sec[r->job_id] = r->seconds;
    R->got++, R->p.done++;
    if (r->m.stage_seconds_saved > 0) R->shared++, R->saved += r->m.stage_seconds_saved;
    if (r->status != STATUS_OK) {
        R->p.failed++;
        if (!o->quiet)
            fprintf(stderr, "%s[synsweep] job %d %s: %s\n", R->p.tty ? "\n" : "", r->job_id, status_name(r->status),
                    r->message);
    }
    job_result_free(r);
    double t = now_s();
    if (++R->since >= o->checkpoint_every || t - R->last_ckpt >= o->checkpoint_seconds) {
        if (results_checkpoint(R->f, err, errlen)) return -1;
        R->since = 0, R->last_ckpt = t;
    }
    progress_show(&R->p, R->next - R->got, o, 0);
    return 0;
}

/*
 * After a signal: saves what we have first, then gives the workers (signalled too, under
 * mpirun, srun or scancel) 8 s to hand back their cancelled or finished jobs.
 * @return RUN_INTERRUPTED, RUN_ABANDONED (some did not answer) or RUN_ERROR.
 */
static int stop_after_signal(Run *R, char *err, size_t errlen) {
    if (!R->o->quiet)
        fprintf(stderr, "%s[synsweep] stopped by a signal: checkpointing %ld results\n", R->p.tty ? "\n" : "",
                results_n_done(R->f));
    if (results_checkpoint(R->f, err, errlen)) return RUN_ERROR;
    int rc = RUN_INTERRUPTED;
    double t0 = now_s();
    while (R->active > 0 && now_s() - t0 < 8.0) {
        JobResult r;
        int src;
        int kind = comm_recv(&r, &src, 0.25);
        if (kind == 0) continue;
        if (kind == MSG_RESULT && r.status != STATUS_CANCELLED) {
            JobSpec spec;
            sweep_job(R->sw, r.job_id, &spec);
            if (results_put(R->f, &spec, &r, err, errlen)) rc = RUN_ERROR;
        }
        if (kind == MSG_RESULT) job_result_free(&r);
        comm_send_stop(src);
        R->active--;
    }
    return rc != RUN_ERROR && R->active > 0 ? RUN_ABANDONED : rc;
}

/* Every job has a result: stops the workers still waiting, and says how long it took. */
static void release_workers(Run *R) {
    while (R->active > 0) {
        JobResult r;
        int src;
        int kind = comm_recv(&r, &src, 1.0);
        if (kind == 0) continue;
        if (kind == MSG_RESULT) job_result_free(&r);
        comm_send_stop(src);
        R->active--;
    }
    progress_show(&R->p, 0, R->o, 1);
    if (!R->o->quiet) {
        double el = now_s() - R->p.t0;
        fprintf(stderr, "%s[synsweep] %ld jobs in %.3f s after start-up: %.1f jobs/s\n", R->p.tty ? "\n" : "",
                R->n_todo, el, el > 0 ? R->n_todo / el : 0.0);
        if (R->shared)
            fprintf(stderr, "[synsweep] shared stages: %ld jobs continued from a stage another job computed, "
                    "%.1f core-seconds saved\n", R->shared, R->saved);
    }
}

/* Closes the results file and says what the user has. @return rc, or RUN_ERROR if closing failed. */
static int run_finish(Run *R, int rc, char *err, size_t errlen) {
    const RunOptions *o = R->o;
    if (R->local_up) local_stop(&R->L); /* after a signal its job was cancelled: not recorded */
    char e2[512];
    if (results_close(R->f, rc == RUN_ERROR ? e2 : err, rc == RUN_ERROR ? sizeof e2 : errlen)) rc = RUN_ERROR;
    if ((rc == RUN_INTERRUPTED || rc == RUN_ABANDONED) && !o->quiet)
        fprintf(stderr, "[synsweep] %s holds every result received; rerun the same command with --resume to finish\n",
                o->out_path);
    if (rc == 0 && !o->quiet && o->n_shards == 1 && R->n_todo == R->sw->n_jobs) print_summary(R->sw, &R->s, o->out_path);
    else if (rc == 0 && !o->quiet) printf("results: %s (synsweep status %s summarises it)\n", o->out_path, o->out_path);
    worker_set_cancel_flag(NULL);
    free(R->todo), free(R->grp), free(R->cur);
    free(R->s.status), free(R->s.acc), free(R->s.sec);
    return rc;
}

int coordinator_run(const Sweep *sw, const RunOptions *o, char *err, size_t errlen) {
    Run R = {.sw = sw, .o = o};
    R.f = o->resume ? results_resume(o->out_path, sw, o->retry_failed, err, errlen)
                    : results_create(o->out_path, sw, err, errlen);
    if (!R.f) return RUN_ERROR;
    coordinator_catch_signals();
    R.n_ranks = comm_size();
    int rc = run_start(&R, err, errlen); /* (its groups read the datasets' shapes from the cache) */
    if (!o->local_worker && R.n_ranks > 1) worker_cache_clear(); /* rank 0 only coordinates */
    while (rc == 0 && R.got < R.n_todo) {
        if (coordinator_stop) {
            rc = stop_after_signal(&R, err, errlen);
            break;
        }
        JobResult r;
        int have = next_result(&R, &r, err, errlen);
        if (have < 0 || (have > 0 && record(&R, &r, err, errlen))) rc = RUN_ERROR;
    }
    if (rc == 0) release_workers(&R);
    return run_finish(&R, rc, err, errlen);
}
