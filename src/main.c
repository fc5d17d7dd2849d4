/*
 * synsweep: command-line entry. `run` is the only command that starts MPI; `expand` and
 * `train` run on one process without it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas.h"
#include "comm.h"
#include "coordinator.h"
#include "job.h"
#include "memest.h"
#include "model.h"
#include "results.h"
#include "synsweep_main.h"
#include "sweep.h"
#include "worker.h"

static const char *USAGE =
    "usage: synsweep <command> [options]\n"
    "\n"
    "Runs grids of neural-network training jobs and writes one HDF5 results file.\n"
    "\n"
    "commands:\n"
    "  run SWEEP.yaml [-o FILE]    run a sweep; under mpirun rank 0 coordinates, the others train\n"
    "  expand SWEEP.yaml           print the job table and count without running anything\n"
    "  train [--KEY VALUE ...]     run one job on this process; print its result as JSON\n"
    "  status FILE                 summarise a results file (also while a sweep writes it)\n"
    "  merge OUT FILE...           combine the results files of shards into one\n"
    "  report FILE -o DIR          a results file as a web page, Markdown tables and figures\n"
    "  export FILE [-o OUT]        the results table as CSV, TSV or JSON\n"
    "\n"
    "  synsweep COMMAND --help     options of a command\n"
    "  synsweep --version          program version\n"
    "\n"
    "Data: --data-dir DIR, else the sweep's data_dir:, else $SYNSWEEP_DATA, else ./data.\n"
    "Docs: docs/JOBSPEC.md (sweep files), docs/FORMAT.md (results file),\n"
    "docs/RESILIENCE.md (checkpoints, resume, SLURM).\n";

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
    "  --progress SECONDS        progress-line period when stderr is not a terminal (default 10)\n"
    "  -q, --quiet               no progress and no summary table\n"
    "  -h, --help                this text\n"
    "\n"
    "exit status: 0 every job has a result (ok, diverged, failed or timeout: see the status\n"
    "column); 1 bad input or I/O error (nothing written over); 2 bad command line;\n"
    "3 stopped by SIGTERM/SIGINT after a checkpoint (rerun with --resume to finish).\n";

static const char *STATUS_USAGE =
    "usage: synsweep status FILE\n"
    "\n"
    "Summarises a results file: jobs by status and test accuracy by grid point. Safe while\n"
    "a sweep is writing FILE (each checkpoint replaces it whole).\n";

static const char *MERGE_USAGE =
    "usage: synsweep merge OUT FILE...\n"
    "\n"
    "Combines results files of one sweep (e.g. the shards of a job array) into OUT: each\n"
    "job's result comes from the file that has it; a job with results in two files is an\n"
    "error. Snapshots are copied in. OUT must not exist.\n";

static const char *EXPAND_USAGE =
    "usage: synsweep expand SWEEP.yaml [--data-dir DIR] [--max-rows N]\n"
    "\n"
    "Loads and validates the sweep, prints one row per job (job id and the grid axes) and\n"
    "the job count. Runs nothing and reads no data.\n"
    "\n"
    "options:\n"
    "  --data-dir DIR    as for run\n"
    "  --max-rows N      print at most N rows (default: all)\n"
    "  -h, --help        this text\n";

static void train_usage(void) {
    printf("usage: synsweep train [--KEY VALUE ...] [--data-dir DIR]\n"
           "\n"
           "Runs one job on this process (no MPI) and prints its result as JSON on stdout.\n"
           "Every KEY is a job parameter, also usable under fixed: and grid: in a sweep.\n"
           "Lists are written comma-separated: --hidden 100,100.\n"
           "--memory-budget GB refuses a job estimated to need more (default: half of this\n"
           "machine's memory).\n"
           "\n"
           "parameters (default):\n");
    for (int i = 0; i < N_PARAMS; i++) {
        const ParamDef *d = &PARAMS[i];
        printf("  --%-18s %s (%s%s%s%s%s%s)\n", d->name, d->help, d->def[0] ? d->def : "\"\"",
               d->choices ? "; " : "", d->choices ? "one of " : "", d->choices ? d->choices : "",
               d->applies ? "; applies where " : "", d->applies ? d->applies : "");
    }
    printf("\nexit status: 0 ok or diverged, 1 failed or bad data, 2 bad command line.\n");
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "synsweep: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(synsweep --help for usage)\n");
    return 2;
}

static int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return (errno || end == s || *end || !isfinite(*out) || *out < 0) ? -1 : 0;
}

/* ---- JSON for `train` ---- */

static void json_num(double x) {
    if (isfinite(x)) printf("%.10g", x);
    else printf("null");
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static void print_result_json(const JobSpec *spec, const JobResult *r) {
    printf("{\n  \"status\": ");
    json_str(status_name(r->status));
    printf(",\n  \"message\": ");
    json_str(r->message);
    printf(",\n  \"seconds\": ");
    json_num(r->seconds);
    printf(",\n  \"n_train\": %d, \"n_test\": %d, \"n_params\": %lld,\n  \"spec\": {", r->n_train,
           r->n_test, (long long)r->n_params);
    for (int i = 0; i < N_PARAMS; i++) {
        char v[512];
        jobspec_get(spec, &PARAMS[i], v, sizeof v);
        printf("%s\n    ", i ? "," : "");
        json_str(PARAMS[i].name);
        printf(": ");
        if (PARAMS[i].kind == PK_INT || PARAMS[i].kind == PK_REAL || PARAMS[i].kind == PK_BOOL) printf("%s", v);
        else json_str(v);
    }
    printf("\n  },\n  \"metrics\": {");
    for (int i = 0; i < N_METRICS; i++) {
        printf("%s\n    ", i ? "," : "");
        json_str(METRICS[i].name);
        printf(": ");
        json_num(*(const double *)((const char *)&r->m + METRICS[i].offset));
    }
    printf("\n  },\n  \"layers\": {");
    for (int s = 0; s < N_STAGES; s++) {
        printf("%s\n    ", s ? "," : "");
        json_str(STAGE_NAMES[s]);
        printf(": {");
        for (int k = 0; k < N_LAYER_METRICS; k++) {
            printf("%s", k ? ", " : "");
            json_str(LAYER_METRIC_NAMES[k]);
            printf(": [");
            for (int l = 0; l < r->n_layers; l++) {
                printf("%s", l ? ", " : "");
                json_num(r->layer[s][k][l]);
            }
            printf("]");
        }
        printf("}");
    }
    printf("\n  },\n  \"curves\": {");
    for (int c = 0; c < N_CURVES; c++) {
        printf("%s\n    ", c ? "," : "");
        json_str(CURVE_NAMES[c]);
        printf(": [");
        for (int e = 0; r->curves && e < r->n_epochs; e++) {
            printf("%s", e ? ", " : "");
            json_num(r->curves[(size_t)c * r->n_epochs + e]);
        }
        printf("]");
    }
    printf("\n  }\n}\n");
}

static int cmd_train(int argc, char **argv) {
    JobSpec spec;
    jobspec_defaults(&spec);
    const char *data_dir = NULL;
    char err[512];
    size_t budget = memory_budget_default();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            train_usage();
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) return usage_error("train: unexpected argument '%s'", a);
        char key[64];
        const char *val, *eq = strchr(a, '=');
        if (eq) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", a + 2);
            if (i + 1 >= argc) return usage_error("train: --%s needs a value", key);
            val = argv[++i];
        }
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        if (!strcmp(key, "data_dir")) {
            data_dir = val;
            continue;
        }
        if (!strcmp(key, "memory_budget")) {
            double x;
            if (parse_double(val, &x) || x <= 0) return usage_error("train: --memory-budget takes gigabytes > 0, got '%s'", val);
            budget = x * 1e9 < 1.0 ? 1 : (size_t)(x * 1e9); /* 0 would mean the default */
            continue;
        }
        if (jobspec_set(&spec, key, val, err, sizeof err)) return usage_error("train: %s", err);
    }
    if (data_dir && jobspec_set(&spec, "data_dir", data_dir, err, sizeof err))
        return usage_error("train: --data-dir %s", err);
    if (!spec.data_dir[0]) {
        const char *env = getenv("SYNSWEEP_DATA");
        if (jobspec_set(&spec, "data_dir", env && *env ? env : "data", err, sizeof err))
            return usage_error("train: $SYNSWEEP_DATA: %s", err);
    }
    if (jobspec_check(&spec, err, sizeof err)) return usage_error("train: %s", err);
    /* the data first (a bad file is named), then whether the job can run here */
    const RawSplit *tr = worker_data_check(spec.data_dir, spec.dataset, err, sizeof err) == 0
                         ? worker_cached(spec.data_dir, spec.dataset, 0) : NULL;
    if (tr && (jobspec_subset_check(&spec, tr, err, sizeof err) || jobspec_fits(&spec, tr, budget, err, sizeof err))) {
        fprintf(stderr, "synsweep train: the job %s\n", err);
        return 1;
    }
    JobResult r;
    worker_run(&spec, 0, 0, &r);
    print_result_json(&spec, &r);
    if (r.status == STATUS_FAILED) fprintf(stderr, "synsweep train: %s\n", r.message);
    int rc = r.status == STATUS_FAILED ? 1 : 0;
    job_result_free(&r);
    worker_cache_clear();
    return rc;
}

static int cmd_expand(int argc, char **argv) {
    const char *path = NULL, *data_dir = NULL;
    long max_rows = -1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(EXPAND_USAGE, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--data-dir") && i + 1 < argc) data_dir = argv[++i];
        else if (!strcmp(argv[i], "--max-rows") && i + 1 < argc) max_rows = atol(argv[++i]);
        else if (argv[i][0] == '-') return usage_error("expand: unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return usage_error("expand: unexpected argument '%s'", argv[i]);
    }
    if (!path) return usage_error("expand: %s", "needs a sweep file");
    Sweep sw;
    char err[1024];
    if (sweep_load(path, data_dir, &sw, err, sizeof err)) {
        fprintf(stderr, "synsweep: %s\n", err);
        return 1;
    }
    /* rows as they come: nothing here depends on the number of jobs */
    int width[SWEEP_MAX_AXES];
    printf("%8s", "job_id");
    for (int a = 0; a < sw.n_axes; a++) {
        width[a] = sweep_axis_width(&sw, a);
        printf("  %-*s", width[a], sw.axes[a].key);
    }
    printf("\n");
    for (long id = 0; id < sw.n_jobs && (max_rows < 0 || id < max_rows); id++) {
        const char *vals[SWEEP_MAX_AXES];
        sweep_job_values(&sw, id, vals);
        printf("%8ld", id);
        for (int a = 0; a < sw.n_axes; a++) printf("  %-*s", width[a], vals[a]);
        printf("\n");
    }
    printf("%ld jobs", sw.n_jobs);
    for (int b = 0; b < sw.n_blocks; b++) {
        const SweepBlock *sb = &sw.blocks[b];
        printf("%s%s", b ? " + " : " = ", sw.n_blocks > 1 ? "(" : "");
        for (int k = 0; k < sb->n_keys; k++) printf("%s%d %s", k ? " x " : "", sb->n[k], sw.axes[sb->axis[k]].key);
        if (sb->n_keys == 0) printf("1");
        printf("%s", sw.n_blocks > 1 ? ")" : "");
    }
    printf("\n");
    sweep_free(&sw);
    return 0;
}

static int cmd_status(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
        fputs(STATUS_USAGE, stdout);
        return 0;
    }
    if (argc != 1) return usage_error("status: %s", "takes one results file");
    char err[1024];
    if (coordinator_status(argv[0], err, sizeof err)) {
        fprintf(stderr, "synsweep: %s\n", err);
        return 1;
    }
    return 0;
}

static int cmd_merge(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
        fputs(MERGE_USAGE, stdout);
        return 0;
    }
    if (argc < 2) return usage_error("merge: %s", "needs OUT and at least one input file");
    char err[1024];
    if (results_merge(argv[0], (const char *const *)argv + 1, argc - 1, err, sizeof err)) {
        fprintf(stderr, "synsweep: %s\n", err);
        return 1;
    }
    printf("merged %d file%s into %s\n", argc - 1, argc > 2 ? "s" : "", argv[0]);
    return coordinator_status(argv[0], err, sizeof err) ? 1 : 0;
}

/* ---- report and export: Python (analysis/synsweep_report) ----
 * Both exec Debian's python3 (or $SYNSWEEP_PYTHON) on `-m synsweep_report CMD ARGS`, with the
 * package's directory put first on PYTHONPATH. The directory, first found that holds
 * synsweep_report/__main__.py: $SYNSWEEP_ANALYSIS; EXE/../share/synsweep/analysis (installed);
 * EXE/../analysis (a build directory inside the source tree); the source tree and the install
 * prefix fixed at build time (CMakeLists.txt). */

#ifndef SYNSWEEP_ANALYSIS_SRC
#define SYNSWEEP_ANALYSIS_SRC "analysis"
#endif
#ifndef SYNSWEEP_ANALYSIS_INSTALLED
#define SYNSWEEP_ANALYSIS_INSTALLED "/usr/local/share/synsweep/analysis"
#endif

static int analysis_has_package(const char *dir) {
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%.4000s/synsweep_report/__main__.py", dir);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/** The analysis directory into out; -1 with the places tried in out when none has the package. */
static int analysis_dir(char *out, size_t n) {
    char exe[4096], cand[5][4200];
    int nc = 0;
    const char *env = getenv("SYNSWEEP_ANALYSIS");
    if (env && *env) snprintf(cand[nc++], sizeof cand[0], "%s", env);
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(cand[nc++], sizeof cand[0], "%s/../share/synsweep/analysis", exe);
        snprintf(cand[nc++], sizeof cand[0], "%s/../analysis", exe);
    }
    snprintf(cand[nc++], sizeof cand[0], "%s", SYNSWEEP_ANALYSIS_SRC);
    snprintf(cand[nc++], sizeof cand[0], "%s", SYNSWEEP_ANALYSIS_INSTALLED);
    for (int i = 0; i < nc; i++)
        if (analysis_has_package(cand[i])) {
            snprintf(out, n, "%.4000s", cand[i]);
            return 0;
        }
    size_t used = (size_t)snprintf(out, n, "cannot find analysis/synsweep_report; looked in");
    for (int i = 0; i < nc && used < n; i++) used += (size_t)snprintf(out + used, n - used, " %.1000s", cand[i]);
    return -1;
}

static const char *REPORT_USAGE =
    "usage: synsweep report FILE -o DIR [--force]\n"
    "\n"
    "Turns one results file (and nothing else: a file copied off a cluster works) into\n"
    "  DIR/index.html     a page for a browser (no server): provenance, completion matrix with\n"
    "                     the command that resumes or retries, mean +- sample std tables, the\n"
    "                     paper's numbers beside ours when the sweep names a paper:, figures\n"
    "  DIR/tables.md      the same tables in Markdown\n"
    "  DIR/figures/*.png  learning curves with seed bands, angle trajectories, effective-rank,\n"
    "                     OOD and Table 1 bars (what the file holds)\n"
    "  DIR/sweep.yaml     the sweep's text (to resume with)\n"
    "Every string from the file is escaped on the page. A DIR that holds any of index.html,\n"
    "tables.md, sweep.yaml (a previous report) is refused unless\n"
    "  --force            replaces the report's files in DIR; never a symlink, the input, its\n"
    "                     side files (FILE.snap.h5, .journal, .parts, .lock, .tmp) or an HDF5 file\n"
    "Files are written to a temporary directory in DIR and moved into place when complete.\n"
    "FILE must be a regular file (a FIFO is refused, never opened).\n"
    "\n"
    "Runs /usr/bin/python3 (numpy, pandas, matplotlib, h5py, yaml: scripts/setup.sh) on the\n"
    "package analysis/synsweep_report, found in $SYNSWEEP_ANALYSIS, next to this program\n"
    "(../share/synsweep/analysis, ../analysis) or where it was built; $SYNSWEEP_PYTHON picks\n"
    "another python3. Without this program:\n"
    "  PYTHONPATH=analysis python3 -m synsweep_report report FILE -o DIR\n"
    "\n"
    "exit status: 0 written; 1 unreadable file, refused output or a section failed (shown on\n"
    "the page); 2 usage.\n";

static const char *EXPORT_USAGE =
    "usage: synsweep export FILE [-o OUT] [--format csv|tsv|json] [--force]\n"
    "\n"
    "Writes the /results table (one row per job, docs/FORMAT.md) as text for tools that cannot\n"
    "read HDF5 compound datasets (GNU Octave, spreadsheets, awk, R's read.csv). CSV and TSV\n"
    "quote fields that hold the separator, a quote or a newline (RFC 4180; hidden = \"100,100\"),\n"
    "write NaN as an empty field and reals in their shortest exact form (they read back exactly);\n"
    "JSON is a list of objects with null for NaN. The format defaults to OUT's extension, else\n"
    "csv; without -o, standard output. In CSV and TSV a text cell starting with = + - @ tab or\n"
    "CR gets a leading ' (a spreadsheet would run it as a formula); numbers and JSON unchanged.\n"
    "An existing OUT is refused unless\n"
    "  --force   replaces it; never the input, its side files (FILE.snap.h5, .journal, .parts,\n"
    "            .lock, .tmp), an HDF5 file or a symlink. OUT is written to a temporary file\n"
    "            beside it and renamed into place when complete.\n"
    "exit status: 0 written; 1 unreadable or non-regular FILE (a FIFO), refused OUT, write\n"
    "error (also a closed standard output); 2 usage.\n"
    "Same Python as `synsweep report`:\n"
    "  PYTHONPATH=analysis python3 -m synsweep_report export FILE -o OUT\n";

static int cmd_python(const char *cmd, const char *usage, int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        }
    if (argc < 1) {
        fputs(usage, stderr);
        return 2;
    }
    char dir[4096], path[8192];
    if (analysis_dir(dir, sizeof dir)) {
        fprintf(stderr, "synsweep %s: %s (set SYNSWEEP_ANALYSIS to the analysis/ directory)\n", cmd, dir);
        return 1;
    }
    const char *old = getenv("PYTHONPATH");
    snprintf(path, sizeof path, "%s%s%s", dir, old && *old ? ":" : "", old && *old ? old : "");
    setenv("PYTHONPATH", path, 1);
    const char *py = getenv("SYNSWEEP_PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    char **av = calloc((size_t)argc + 5, sizeof *av);
    if (!av) return 1;
    av[0] = (char *)py, av[1] = "-m", av[2] = "synsweep_report", av[3] = (char *)cmd;
    for (int i = 0; i < argc; i++) av[4 + i] = argv[i];
    fflush(NULL);
    execv(py, av);
    fprintf(stderr, "synsweep %s: cannot run %s: %s (scripts/setup.sh installs it)\n", cmd, py, strerror(errno));
    free(av);
    return 1;
}

static int cmd_report(int argc, char **argv) { return cmd_python("report", REPORT_USAGE, argc, argv); }
static int cmd_export(int argc, char **argv) { return cmd_python("export", EXPORT_USAGE, argc, argv); }

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

static int run_main(int argc, char **argv, char **defout_p);

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

static int cmd_run(int argc, char **argv) {
    char *defout = NULL;
    int rc = run_main(argc, argv, &defout);
    free(defout);
    return rc;
}

static int run_main(int argc, char **argv, char **defout_p) {
    const char *path = NULL, *data_dir = NULL, *out = NULL;
    RunOptions o = {NULL, 10.0, 1000, 30.0, 0, 0, 0, 0, 1, 1, 0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(RUN_USAGE, stdout);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has) out = argv[++i];
        else if (!strcmp(a, "--data-dir") && has) data_dir = argv[++i];
        else if (!strcmp(a, "--resume")) o.resume = 1;
        else if (!strcmp(a, "--retry-failed")) o.retry_failed = 1;
        else if (!strcmp(a, "--no-local-worker")) o.local_worker = 0;
        else if (!strcmp(a, "--shard") && has) {
            char *end;
            const char *v = argv[++i];
            long si = strtol(v, &end, 10), sn = *end == '/' ? strtol(end + 1, &end, 10) : 0;
            if (*end || sn < 1 || si < 0 || si >= sn || sn > 1000000)
                return usage_error("run: --shard takes I/N with 0 <= I < N, got '%s'", v);
            o.shard = (int)si, o.n_shards = (int)sn;
        } else if (!strcmp(a, "--progress") && has) {
            if (parse_double(argv[++i], &o.progress_seconds)) return usage_error("run: --progress takes seconds >= 0, got '%s'", argv[i]);
        } else if (!strcmp(a, "--checkpoint-seconds") && has) {
            if (parse_double(argv[++i], &o.checkpoint_seconds)) return usage_error("run: --checkpoint-seconds takes seconds >= 0, got '%s'", argv[i]);
        } else if (!strcmp(a, "--checkpoint-every") && has) {
            if (parse_double(argv[++i], &x) || x < 1) return usage_error("run: --checkpoint-every takes a count >= 1, got '%s'", argv[i]);
            o.checkpoint_every = (long)x;
        } else if (!strcmp(a, "--memory-budget") && has) {
            if (parse_double(argv[++i], &x) || x <= 0) return usage_error("run: --memory-budget takes gigabytes > 0, got '%s'", argv[i]);
            o.memory_budget = x * 1e9 < 1.0 ? 1 : (size_t)(x * 1e9); /* 0 means the default */
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o.quiet = 1;
        else if (a[0] == '-') return usage_error("run: unknown option or missing value: '%s'", a);
        else if (!path) path = a;
        else return usage_error("run: unexpected argument '%s'", a);
    }
    if (!path) return usage_error("run: %s", "needs a sweep file (synsweep run --help)");
    if (o.retry_failed && !o.resume) return usage_error("run: %s", "--retry-failed goes with --resume");
    char *defout = NULL; /* allocated: no path is ever cut */
    if (!out) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t len = strcspn(base, ".");
        if (!(defout = malloc(len + 12))) return usage_error("run: %s", "out of memory");
        snprintf(defout, len + 12, "results/%.*s.h5", (int)len, base);
        *defout_p = defout;
        out = defout;
    }
    o.out_path = out;

    /* --resume reads the file's attributes in forked children (HDF5 crashes on damaged ones,
     * h5util.c), and an MPI process must not fork: rank 0 reads them now, before MPI starts */
    if (o.resume && launcher_rank() <= 0) results_preload(out);
    comm_init(&argc, &argv);
    results_no_fork();
    int rank = comm_rank(), ok = 1;
    Sweep sw;
    char err[1024], keys_buf[4096] = "", *keys = keys_buf;
    /* results are bit-identical across ranks only if every rank runs the same kernels */
    if (comm_same_text("OpenBLAS kernels", blas_kernel(), err, sizeof err)) {
        if (rank == 0)
            fprintf(stderr, "synsweep: %s; refusing a mixed run (set OPENBLAS_CORETYPE to the "
                    "same core type for every rank)\n", err);
        comm_finalize();
        return 1;
    }
    memset(&sw, 0, sizeof sw);
    /* provenance: every rank's host, the MPI library (collective) */
    char *hosts = comm_hosts(), mpi[256];
    comm_library_version(mpi, sizeof mpi);
    if (rank == 0) results_set_run_info(hosts, mpi);
    free(hosts);
    if (rank == 0) {
        if (out == defout) mkdir("results", 0777); /* the default directory; an error shows below */
        if (sweep_load(path, data_dir, &sw, err, sizeof err) ||
            coordinator_check(&sw, &o, keys_buf, sizeof keys_buf, err, sizeof err)) {
            fprintf(stderr, "synsweep: %s\n", err);
            ok = 0;
        }
    }
    if (!comm_bcast_int(ok)) {
        if (rank == 0) sweep_free(&sw);
        comm_finalize();
        return 1;
    }
    /* one read-only copy of each dataset per node, in shared memory */
    comm_bcast_text(&keys);
    int shared = comm_share_datasets(keys, err, sizeof err);
    if (keys != keys_buf) free(keys);
    if (shared) {
        fprintf(stderr, "synsweep: [rank %d] %s\n", rank, err);
        if (rank == 0) sweep_free(&sw);
        comm_finalize();
        return 1;
    }
    int rc = 0;
    if (rank == 0) {
        int r = coordinator_run(&sw, &o, err, sizeof err);
        report_memory(rank);
        if (r == RUN_ERROR) fprintf(stderr, "synsweep: %s\n", err);
        rc = r == RUN_ERROR ? 1 : (r == RUN_INTERRUPTED || r == RUN_ABANDONED) ? 3 : 0;
        sweep_free(&sw);
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
    comm_finalize();
    return rc;
}

/* ---- the OpenBLAS kernel ----
 * Chosen before MPI and before any product. OpenBLAS reads OPENBLAS_CORETYPE once, when
 * it loads, so changing the kernel means re-executing this program (same pid and
 * arguments: mpirun and SLURM do not notice). An explicit OPENBLAS_CORETYPE is the user's:
 * kept, and a failed check then stops. Otherwise, when the library's own choice is weaker
 * than what the CPU supports (Debian's 0.3.21 takes CPUs it does not know for Prescott),
 * the best one is set; and when the kernel in use fails blas_check, the next weaker one.
 * SYNSWEEP_BLAS_AUTO marks the value as ours. Each re-execution goes from unset to set or
 * strictly down the ladder, so it cannot loop; SYNSWEEP_BLAS_EXECS bounds it anyway.
 * SYNSWEEP_BLAS_CHECK_FAIL (for tests): comma-separated kernels whose check is made to
 * fail, or "all". */

static void blas_reexec(char **argv, const char *kernel) {
    const char *n = getenv("SYNSWEEP_BLAS_EXECS");
    int execs = n ? atoi(n) : 0;
    if (execs >= 8) {
        fprintf(stderr, "synsweep: not re-executing again for OPENBLAS_CORETYPE=%s (%d times already)\n", kernel, execs);
        return;
    }
    char buf[16];
    snprintf(buf, sizeof buf, "%d", execs + 1);
    setenv("SYNSWEEP_BLAS_EXECS", buf, 1);
    setenv("OPENBLAS_CORETYPE", kernel, 1);
    setenv("SYNSWEEP_BLAS_AUTO", kernel, 1);
    fflush(NULL);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "synsweep: cannot re-execute with OPENBLAS_CORETYPE=%s: %s\n", kernel, strerror(errno));
}

static int check_forced_to_fail(const char *kernel) {
    const char *v = getenv("SYNSWEEP_BLAS_CHECK_FAIL");
    if (!v || !*v) return 0;
    if (!strcasecmp(v, "all")) return 1;
    size_t n = strlen(kernel);
    for (const char *p = v; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !strncasecmp(p, kernel, n)) return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/** @return 0 to go on with the kernel in use, -1 to stop (message printed). */
static int blas_choose(char **argv) {
    const char *set = getenv("OPENBLAS_CORETYPE"), *ours = getenv("SYNSWEEP_BLAS_AUTO");
    int explicit = set && *set && !(ours && !strcasecmp(set, ours));
    const char *kernel = blas_kernel(), *best = blas_cpu_best(99);
    int level = blas_kernel_level(kernel);
    if ((!set || !*set) && best && level >= 0 && level < blas_kernel_level(best))
        blas_reexec(argv, best); /* returns only if that failed: go on with the library's */
    char err[512];
    if (!blas_check(check_forced_to_fail(kernel), err, sizeof err)) return 0;
    if (explicit) {
        fprintf(stderr, "synsweep: %s\nsynsweep: OPENBLAS_CORETYPE=%s is set explicitly, so it is "
                "kept: set another core type, or unset it to let synsweep choose.\n", err, set);
        return -1;
    }
    const char *next = blas_cpu_best(level < 0 ? 99 : level);
    if (next) {
        fprintf(stderr, "synsweep: %s\nsynsweep: falling back to OpenBLAS kernel %s\n", err, next);
        blas_reexec(argv, next);
    }
    fprintf(stderr, "synsweep: %s\nsynsweep: no weaker OpenBLAS kernel left to try; stopping "
            "(set OPENBLAS_CORETYPE to one that works here).\n", err);
    return -1;
}

static void print_version(void) {
    int t = blas_threads();
    printf("synsweep %s (%s, kernel %s, %d thread%s)\n", SYNSWEEP_VERSION, blas_library(),
           blas_kernel(), t, t == 1 ? "" : "s");
}

int synsweep_main(int argc, char **argv) {
    model_registry_close(); /* the kinds' tables, before any thread reads them */
    /* report and export run Python: no BLAS check needed */
    if (argc >= 2 && !strcmp(argv[1], "report")) return cmd_report(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "export")) return cmd_export(argc - 2, argv + 2);
    blas_single_thread(); /* first: the check runs the products as the jobs will */
    if (blas_choose(argv)) return 1;
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        if (argc >= 3 && !strcmp(argv[1], "help")) {
            char *h[] = {"--help"};
            if (!strcmp(argv[2], "run")) return cmd_run(1, h);
            if (!strcmp(argv[2], "expand")) return cmd_expand(1, h);
            if (!strcmp(argv[2], "train")) return cmd_train(1, h);
            if (!strcmp(argv[2], "status")) return cmd_status(1, h);
            if (!strcmp(argv[2], "merge")) return cmd_merge(1, h);
            if (!strcmp(argv[2], "report")) return cmd_report(1, h);
            if (!strcmp(argv[2], "export")) return cmd_export(1, h);
        }
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        print_version();
        return 0;
    }
    /* --version anywhere on the line, as --help */
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--version")) {
            print_version();
            return 0;
        }
    if (!strcmp(argv[1], "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(argv[1], "expand")) return cmd_expand(argc - 2, argv + 2);
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(argv[1], "status")) return cmd_status(argc - 2, argv + 2);
    if (!strcmp(argv[1], "merge")) return cmd_merge(argc - 2, argv + 2);
    return usage_error("unknown command '%s'", argv[1]);
}
