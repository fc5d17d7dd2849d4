/* cmd_run.c: `synsweep run`: a sweep on every rank of the MPI job; rank 0 coordinates. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blas.h"
#include "comm.h"
#include "coordinator.h"
#include "results.h"
#include "stage.h"
#include "sweep.h"
#include "worker.h"

static const char *RUN_USAGE =
    "usage: [mpirun -n N] synsweep run SWEEP.yaml [options]\n"
    "\n"
    "Validates the whole sweep and its data, then trains every job of the grid and writes\n"
    "one HDF5 file. Rank 0 hands jobs to the ranks as they ask, and trains too (one thread\n"
    "for that, one for coordinating). The file is replaced atomically at every checkpoint, so\n"
    "it is always valid; an existing file is never overwritten (only resumed).\n"
    "\n"
    "options:\n"
    "  -o, --output FILE         results file (default: results/<sweep name>.h5)\n"
    "  --resume                  continue FILE: keep finished jobs, run the rest (starts FILE\n"
    "                            if it does not exist); refused if FILE is of another sweep\n"
    "  --retry-failed            with --resume: also rerun diverged, failed and timeout jobs\n"
    "  --shard I/N               run only the jobs whose id % N == I (job arrays; then merge)\n"
    "  --data-dir DIR            dataset root (beats data_dir: and $SYNSWEEP_DATA)\n"
    "  --no-local-worker         rank 0 only coordinates (by default it also trains, in a\n"
    "                            second thread; turn this off for very many ranks)\n"
    "  --checkpoint-every N      checkpoint after every N results (default 1000)\n"
    "  --checkpoint-seconds S    ... or every S seconds, whichever comes first (default 30)\n"
    "  --memory-budget GB        refuse a sweep with a job estimated to need more (default:\n"
    "                            half of this machine's memory)\n"
    "  --stage-cache-mb MB       each rank keeps the outputs of the stages it computed (noise\n"
    "                            pretraining, frozen conv features, contrastive divergence),\n"
    "                            up to MB MiB besides its job, so jobs that differ only after\n"
    "                            that stage continue from it, with bit-identical results\n"
    "                            (default 256)\n"
    "  --no-stage-cache          compute every stage of every job (--stage-cache-mb 0)\n"
    "  --progress SECONDS        progress-line period when stderr is not a terminal (default 10)\n"
    "  -q, --quiet               no progress and no summary table\n"
    "  -h, --help                this text\n"
    "\n"
    "exit status: 0 every job has a result (ok, diverged, failed or timeout: see the status\n"
    "column); 1 bad input or I/O error (nothing written over); 2 bad command line;\n"
    "3 stopped by SIGTERM/SIGINT after a checkpoint (rerun with --resume to finish).\n";

/* With SYNSWEEP_REPORT_MEMORY=1: this rank's resident and proportional set sizes (kB). */
static void report_memory(int rank) {
    const char *v = getenv("SYNSWEEP_REPORT_MEMORY");
    if (!v || strcmp(v, "1")) return;
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long rss = -1, pss = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Rss:", 4)) rss = atol(line + 4);
        if (!strncmp(line, "Pss:", 4)) pss = atol(line + 4);
    }
    if (f) fclose(f);
    fprintf(stderr, "[synsweep] memory rank %d: rss %ld kB pss %ld kB\n", rank, rss, pss);
}

/* This process's rank as its launcher tells it before MPI starts (Open MPI, PMIx, MPICH's
 * Hydra, srun), or -1 when none does (then every process counts as a possible rank 0). */
static int launcher_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (int i = 0; i < 4; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return -1;
}

/* The command line of run into *path, *data_dir, *out and o. @return -1 to go on, else the
 * exit status (0 after --help, 2 after a usage error). */
static int parse_run_args(int argc, char **argv, const char **path, const char **data_dir, const char **out,
                          RunOptions *o) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(RUN_USAGE, stdout);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has) *out = argv[++i];
        else if (!strcmp(a, "--data-dir") && has) *data_dir = argv[++i];
        else if (!strcmp(a, "--resume")) o->resume = 1;
        else if (!strcmp(a, "--retry-failed")) o->retry_failed = 1;
        else if (!strcmp(a, "--no-local-worker")) o->local_worker = 0;
        else if (!strcmp(a, "--shard") && has) {
            char *end;
            const char *v = argv[++i];
            long si = strtol(v, &end, 10), sn = *end == '/' ? strtol(end + 1, &end, 10) : 0;
            if (*end || sn < 1 || si < 0 || si >= sn || sn > 1000000)
                return usage_error("run: --shard takes I/N with 0 <= I < N, got '%s'", v);
            o->shard = (int)si, o->n_shards = (int)sn;
        } else if (!strcmp(a, "--progress") && has) {
            if (parse_double(argv[++i], &o->progress_seconds)) return usage_error("run: --progress takes seconds >= 0, got '%s'", argv[i]);
        } else if (!strcmp(a, "--checkpoint-seconds") && has) {
            if (parse_double(argv[++i], &o->checkpoint_seconds)) return usage_error("run: --checkpoint-seconds takes seconds >= 0, got '%s'", argv[i]);
        } else if (!strcmp(a, "--checkpoint-every") && has) {
            if (parse_double(argv[++i], &x) || x < 1) return usage_error("run: --checkpoint-every takes a count >= 1, got '%s'", argv[i]);
            o->checkpoint_every = (long)x;
        } else if (!strcmp(a, "--memory-budget") && has) {
            if (parse_double(argv[++i], &x) || x <= 0) return usage_error("run: --memory-budget takes gigabytes > 0, got '%s'", argv[i]);
            o->memory_budget = (size_t)gigabytes(x);
        } else if (!strcmp(a, "--stage-cache-mb") && has) {
            if (parse_double(argv[++i], &x) || x < 0 || x > 1048576) return usage_error("run: --stage-cache-mb takes MiB >= 0, got '%s'", argv[i]);
            o->stage_cache = (size_t)(x * 1048576.0);
        } else if (!strcmp(a, "--no-stage-cache")) o->stage_cache = 0;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o->quiet = 1;
        else if (a[0] == '-') return usage_error("run: unknown option or missing value: '%s'", a);
        else if (!*path) *path = a;
        else return usage_error("run: unexpected argument '%s'", a);
    }
    if (!*path) return usage_error("run: %s", "needs a sweep file (synsweep run --help)");
    if (o->retry_failed && !o->resume) return usage_error("run: %s", "--retry-failed goes with --resume");
    return -1;
}

/*
 * After MPI started: the same kernels on every rank, provenance, rank 0 loads and checks the
 * sweep and its data (keys: the datasets), every rank maps them shared per node.
 * @return 0 to go on, or 1 (message printed; the sweep freed).
 */
static int run_prepare(const char *path, const char *data_dir, const RunOptions *o, int made_default, Sweep *sw) {
    int rank = comm_rank(), ok = 1;
    char err[1024], keys_buf[4096] = "", *keys = keys_buf;
    /* results are bit-identical across ranks only if every rank runs the same kernels */
    if (comm_same_text("OpenBLAS kernels", blas_kernel(), err, sizeof err)) {
        if (rank == 0)
            fprintf(stderr, "synsweep: %s; refusing a mixed run (set OPENBLAS_CORETYPE to the "
                    "same core type for every rank)\n", err);
        return 1;
    }
    /* provenance: every rank's host, the MPI library (collective) */
    char *hosts = comm_hosts(), mpi[256];
    comm_library_version(mpi, sizeof mpi);
    if (rank == 0) results_set_run_info(hosts, mpi);
    free(hosts);
    if (rank == 0) {
        if (made_default) mkdir("results", 0777); /* the default directory; an error shows below */
        if (sweep_load(path, data_dir, sw, err, sizeof err) ||
            coordinator_check(sw, o, keys_buf, sizeof keys_buf, err, sizeof err)) {
            fprintf(stderr, "synsweep: %s\n", err);
            ok = 0;
        }
    }
    if (!comm_bcast_int(ok)) {
        if (rank == 0) sweep_free(sw);
        return 1;
    }
    /* one read-only copy of each dataset per node, in shared memory */
    comm_bcast_text(&keys);
    int shared = comm_share_datasets(keys, err, sizeof err);
    if (keys != keys_buf) free(keys);
    if (shared) {
        fprintf(stderr, "synsweep: [rank %d] %s\n", rank, err);
        if (rank == 0) sweep_free(sw);
        return 1;
    }
    return 0;
}

/* Rank 0 coordinates (and trains in a thread), the others train. @return the exit status. */
static int run_ranks(Sweep *sw, const RunOptions *o) {
    int rank = comm_rank(), rc = 0;
    char err[1024];
    if (rank == 0) {
        int r = coordinator_run(sw, o, err, sizeof err);
        report_memory(rank);
        if (r == RUN_ERROR) fprintf(stderr, "synsweep: %s\n", err);
        rc = r == RUN_ERROR ? 1 : (r == RUN_INTERRUPTED || r == RUN_ABANDONED) ? 3 : 0;
        sweep_free(sw);
        worker_cache_clear();
        /* an error, or workers that did not come back after a signal: end them all */
        if ((rc == 1 || r == RUN_ABANDONED) && comm_size() > 1) comm_abort(rc);
    } else {
        /* SIGTERM/SIGINT stop this rank's job at its next minibatch; rank 0 then ends the run */
        coordinator_catch_signals();
        comm_worker_loop();
        report_memory(rank);
        worker_cache_clear();
    }
    return rc;
}

int cmd_run(int argc, char **argv) {
    const char *path = NULL, *data_dir = NULL, *out = NULL;
    RunOptions o = {NULL, 10.0, 1000, 30.0, 0, 0, 0, 0, 1, 1, 0, (size_t)256 << 20};
    int rc = parse_run_args(argc, argv, &path, &data_dir, &out, &o);
    if (rc >= 0) return rc;
    char *defout = NULL; /* allocated: no path is ever cut */
    if (!out) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t len = strcspn(base, ".");
        if (!(defout = malloc(len + 12))) return usage_error("run: %s", "out of memory");
        snprintf(defout, len + 12, "results/%.*s.h5", (int)len, base);
        out = defout;
    }
    o.out_path = out;
    /* --resume reads the file's attributes in forked children (HDF5 crashes on damaged ones,
     * h5util.c), and an MPI process must not fork: rank 0 reads them now, before MPI starts */
    if (o.resume && launcher_rank() <= 0) results_preload(out);
    comm_init(&argc, &argv);
    results_no_fork();
    Sweep sw;
    memset(&sw, 0, sizeof sw);
    rc = run_prepare(path, data_dir, &o, defout != NULL, &sw);
    stage_cache_limit(o.stage_cache); /* every rank: its own jobs' stages (stage.h) */
    if (rc == 0) rc = run_ranks(&sw, &o);
    stage_cache_limit(0);
    comm_finalize();
    free(defout);
    return rc;
}
