/*
 * cmd_cost.c: `synsweep calibrate` (this machine's rate of each class of operation, work.h,
 * from a few seconds of micro-benchmarks of the kernels the jobs run, stored per host) and
 * the calibration file both it and `expand --cost` (cmd_sweep.c) use.
 *
 * The file is text, one "class rate" line per class (operations per second of one core),
 * after a first line that marks it as synsweep's ("# synsweep calibration"): calibrate
 * replaces no other file. It is written to a temporary name beside it and renamed.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blas.h"
#include "conv.h"
#include "optim.h"
#include "rbse.h"
#include "model.h"
#include "rng.h"
#include "stage.h"
#include "sweep.h"
#include "work.h"

#define CAL_MAGIC "# synsweep calibration"

static const char *CALIBRATE_USAGE =
    "usage: synsweep calibrate [--calibration FILE] [--print]\n"
    "\n"
    "Measures, in a few seconds on one core, how fast this machine runs each class of\n"
    "operation the jobs count (matrix products large and small, elementwise passes, random\n"
    "numbers, the RBSE's masked products, exp) and stores the rates, which\n"
    "`synsweep expand SWEEP --cost` turns into predicted core-hours. Run it on an idle core\n"
    "(e.g. under taskset -c 1) of the kind of machine the jobs will run on.\n"
    "\n"
    "options:\n"
    "  --calibration FILE  where to write (default: $XDG_CACHE_HOME/synsweep/calibration-HOST.txt,\n"
    "                      ~/.cache/... without XDG_CACHE_HOME). On a cluster whose login node\n"
    "                      differs from its compute nodes, run calibrate on a compute node with a\n"
    "                      FILE on shared storage, and pass the same FILE to expand --cost.\n"
    "                      An existing FILE is replaced only if it is a calibration file.\n"
    "  --print             print the rates and write nothing\n"
    "  -h, --help          this text\n";

int calibration_path(const char *given, char *out, size_t n) {
    if (given) return snprintf(out, n, "%s", given) < (int)n ? 0 : -1;
    char host[128] = "unknown";
    if (gethostname(host, sizeof host - 1)) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = 0;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int k = xdg && *xdg ? snprintf(out, n, "%s/synsweep/calibration-%s.txt", xdg, host)
                        : snprintf(out, n, "%s/.cache/synsweep/calibration-%s.txt", home ? home : ".", host);
    return k < (int)n ? 0 : -1;
}

int calibration_read(const char *path, Calibration *c, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read calibration file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[512];
    int seen[WK_N] = {0}, ln = 0, bad = 0;
    while (!bad && fgets(line, sizeof line, f)) {
        ln++;
        if (ln == 1 && strncmp(line, CAL_MAGIC, strlen(CAL_MAGIC))) {
            snprintf(err, errlen, "%s: line 1 is not '%s' (not a synsweep calibration file)", path, CAL_MAGIC);
            bad = 1;
            break;
        }
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == 0) continue;
        char key[64];
        double v;
        int k = -1;
        if (sscanf(line, "%63s %lf", key, &v) == 2)
            for (int j = 0; j < WK_N; j++)
                if (!strcmp(key, WORK_CLASS_NAMES[j])) k = j;
        if (k < 0 || !(v > 0) || !isfinite(v)) {
            snprintf(err, errlen, "%s: line %d: expected '<class> <operations per second > 0>' with a class of "
                     "gemm, gemm_small, gemv, stream, normal, uniform, masked, exp, gather, dram", path, ln);
            bad = 1;
        } else {
            c->rate[k] = v, seen[k] = 1;
        }
    }
    if (!bad && ferror(f)) {
        snprintf(err, errlen, "cannot read calibration file %s: %s", path, strerror(errno));
        bad = 1;
    }
    fclose(f);
    for (int j = 0; !bad && j < WK_N; j++)
        if (!seen[j]) {
            snprintf(err, errlen, "%s: no rate for class %s (run synsweep calibrate again)", path, WORK_CLASS_NAMES[j]);
            bad = 1;
        }
    if (!bad) snprintf(c->source, sizeof c->source, "%s", path);
    return bad ? -1 : 0;
}

/* CPU time of this thread: on a shared machine, what the benchmark itself computed */
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Rate of products at shapes (M, N, K), each given the same flops: a harmonic mean. */
static double bench_gemm(const int (*shape)[3], int n_shapes, double flops_each) {
    double t = 0.0, f = 0.0;
    for (int s = 0; s < n_shapes; s++) {
        int M = shape[s][0], N = shape[s][1], K = shape[s][2];
        float *a = calloc((size_t)M * K, sizeof(float)), *b = calloc((size_t)K * N, sizeof(float));
        float *c = calloc((size_t)M * N, sizeof(float));
        if (!a || !b || !c) {
            free(a), free(b), free(c);
            return NAN;
        }
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)(i % 5) * 0.1f;
        double per = 2.0 * M * N * K;
        long reps = (long)(flops_each / per) + 1;
        sgemm(0, 0, M, N, K, 1.0f, a, b, 0.0f, c); /* warm */
        double t0 = now_s();
        for (long r = 0; r < reps; r++) sgemm(0, 0, M, N, K, 1.0f, a, b, 0.0f, c);
        t += now_s() - t0, f += reps * per;
        free(a), free(b), free(c);
    }
    return f / t;
}

/* Floats streamed per second: Adam steps (8 per parameter) on n parameters (2^16: in cache;
 * 2^23: 128 MB through main memory). */
static double bench_stream(size_t n) {
    float *p = calloc(n, sizeof(float)), *g = calloc(n, sizeof(float));
    Optim o = {0};
    double rate = NAN;
    if (p && g && !optim_create(&o, OPT_ADAM, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 0)) {
        for (size_t i = 0; i < n; i++) g[i] = (float)(i % 13) * 1e-3f;
        int reps = (int)((1 << 25) / n) + 2;
        double t0 = now_s();
        for (int r = 0; r < reps; r++) optim_step(&o, p, g);
        rate = 8.0 * n * reps / (now_s() - t0);
    }
    optim_free(&o), free(p), free(g);
    return rate;
}

static double bench_rng(int normal) {
    Rng r;
    rng_seed(&r, 1, 1);
    long n = normal ? 4000000 : 20000000;
    volatile double sink = 0.0;
    double t0 = now_s(), s = 0.0;
    for (long i = 0; i < n; i++) s += normal ? rng_normal(&r) : rng_uniform(&r);
    sink = s;
    (void)sink;
    return n / (now_s() - t0);
}

static double bench_exp(void) {
    long n = 20000000;
    volatile float sink = 0.0f;
    float s = 0.0f;
    double t0 = now_s();
    for (long i = 0; i < n; i++) s += expf(-(float)(i & 1023) * 1e-3f);
    sink = s;
    (void)sink;
    return n / (now_s() - t0);
}

/* Synapses visited per second by the RBSE's masked h-step: MNIST's shape, 13% of pixels on. */
static double bench_masked(void) {
    int V = 784, H = 500;
    size_t nw = (size_t)V * H;
    float *w = malloc(nw * sizeof(float)), *a = malloc(nw * sizeof(float)), *b = calloc((size_t)V, sizeof(float));
    float *c = calloc((size_t)H, sizeof(float)), *v = calloc((size_t)V, sizeof(float)), *h = malloc((size_t)H * sizeof(float));
    Rbse m;
    double rate = NAN;
    if (w && a && b && c && v && h && !rbse_create(&m, V, H, 0, w, a, b, c)) {
        Rng r;
        rng_seed(&r, 2, 1);
        rbse_init_params(&m, 0.5f, 0.01f, &r);
        int on = 0;
        for (int i = 0; i < V; i++) on += (v[i] = rng_uniform(&r) < 0.13 ? 1.0f : 0.0f) > 0.0f;
        int reps = 600;
        double t0 = now_s();
        for (int k = 0; k < reps; k++) rbse_h_step(&m, 1, v, NULL, rng_u64(&r), h);
        rate = (double)on * H * reps / (now_s() - t0);
        rbse_free(&m);
    }
    free(w), free(a), free(b), free(c), free(v), free(h);
    return rate;
}

/* Floats moved per second by strided copies: im2col and col2im of a CIFAR image (5 x 5), the
 * max-pool of 16 maps 32 x 32. */
static double bench_gather(void) {
    int C = 3, H = 32, W = 32, K = 5, pad = 2, O = 16;
    size_t ncol = (size_t)C * K * K * H * W, nmap = (size_t)O * H * W;
    float *x = calloc((size_t)C * H * W, sizeof(float)), *col = calloc(ncol, sizeof(float));
    float *map = calloc(nmap, sizeof(float)), *pool = calloc(nmap / 4, sizeof(float));
    int *arg = calloc(nmap / 4, sizeof(int));
    double rate = NAN;
    if (x && col && map && pool && arg) {
        for (size_t i = 0; i < nmap; i++) map[i] = (float)((i * 7919) % 101) - 50.0f;
        int reps = 3000;
        double t0 = now_s();
        for (int r = 0; r < reps; r++) {
            im2col(col, x, C, H, W, K, pad);
            col2im(x, col, C, H, W, K, pad);
            maxpool2_forward(pool, arg, map, O, H, W);
        }
        rate = (2.0 * ncol + nmap) * reps / (now_s() - t0);
    }
    free(x), free(col), free(map), free(pool), free(arg);
    return rate;
}

static void calibration_measure(Calibration *c) {
    /* large: MLP layers and their gradients, the RBM's products, CIFAR's conv; small: the
     * LC layers' per-position products, per-image convs, 10-class readouts */
    static const int large[][3] = {{64, 100, 784}, {100, 784, 64}, {64, 100, 100}, {100, 500, 784}, {64, 3136, 75}};
    static const int small[][3] = {{16, 64, 75}, {16, 64, 400}, {64, 10, 100}, {64, 4608, 25}, {16, 1024, 75}, {16, 400, 256}};
    c->rate[WK_GEMM] = bench_gemm(large, 5, 1.5e9);
    c->rate[WK_GEMM_SMALL] = bench_gemm(small, 6, 0.5e9);
    static const int gemv[][3] = {{1, 500, 784}, {1, 100, 784}};
    c->rate[WK_GEMV] = bench_gemm(gemv, 2, 0.3e9);
    c->rate[WK_STREAM] = bench_stream((size_t)1 << 16);
    c->rate[WK_DRAM] = bench_stream((size_t)1 << 23);
    c->rate[WK_NORMAL] = bench_rng(1);
    c->rate[WK_UNIFORM] = bench_rng(0);
    c->rate[WK_MASKED] = bench_masked();
    c->rate[WK_EXP] = bench_exp();
    c->rate[WK_GATHER] = bench_gather();
    snprintf(c->source, sizeof c->source, "measured now");
}

/* mkdir -p of path's directory. */
static int make_parent(const char *path) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(dir, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    return 0;
}

/* May calibrate write path? Absent, or a regular file (not a symlink) that is a calibration
 * file; anything else, or an existing file it cannot read, is never replaced. Checked before
 * measuring and again before the rename. @return 0, or -1 with err. */
static int calibration_check_dest(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (lstat(path, &st)) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a regular file (%s): not replacing it", path,
                 S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISDIR(st.st_mode) ? "a directory" : "a special file");
        return -1;
    }
    FILE *old = fopen(path, "r");
    if (!old) {
        snprintf(err, errlen, "%s exists and cannot be read (%s): not replacing it", path, strerror(errno));
        return -1;
    }
    char first[64] = "";
    int ours = fgets(first, sizeof first, old) && !strncmp(first, CAL_MAGIC, strlen(CAL_MAGIC));
    fclose(old);
    if (!ours) {
        snprintf(err, errlen, "%s exists and is not a synsweep calibration file: not replacing it", path);
        return -1;
    }
    return 0;
}

static int calibration_write(const char *path, const Calibration *c, char *err, size_t errlen) {
    if (calibration_check_dest(path, err, errlen)) return -1;
    char tmp[1100], host[128] = "";
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    gethostname(host, sizeof host - 1);
    FILE *f = make_parent(path) ? NULL : fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "%s (operations per second of one core; docs/PERFORMANCE.md)\n# host %s, %s, %s kernel %s\n",
            CAL_MAGIC, host, when, blas_library(), blas_kernel());
    for (int k = 0; k < WK_N; k++) fprintf(f, "%s %.6g\n", WORK_CLASS_NAMES[k], c->rate[k]);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path)) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int cmd_calibrate(int argc, char **argv) {
    const char *given = NULL;
    int print = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(CALIBRATE_USAGE, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--calibration") && i + 1 < argc) given = argv[++i];
        else if (!strcmp(argv[i], "--print")) print = 1;
        else if (argv[i][0] == '-') return usage_error("calibrate: unknown option or missing value '%s'", argv[i]);
        else return usage_error("calibrate: unexpected argument '%s'", argv[i]);
    }
    char path[1024], err[1300];
    if (calibration_path(given, path, sizeof path)) return usage_error("calibrate: %s", "calibration path too long");
    if (!print && calibration_check_dest(path, err, sizeof err)) { /* before the seconds of measuring */
        fprintf(stderr, "synsweep: calibrate: %s\n", err);
        return 1;
    }
    Calibration c;
    calibration_measure(&c);
    for (int k = 0; k < WK_N; k++) {
        if (!(c.rate[k] > 0)) {
            fprintf(stderr, "synsweep: calibrate: the %s benchmark failed (out of memory?)\n", WORK_CLASS_NAMES[k]);
            return 1;
        }
        printf("%-11s %10.4g per second\n", WORK_CLASS_NAMES[k], c.rate[k]);
    }
    if (print) return 0;
    if (calibration_write(path, &c, err, sizeof err)) {
        fprintf(stderr, "synsweep: calibrate: %s\n", err);
        return 1;
    }
    printf("wrote %s\n", path);
    return 0;
}

/* Dynamic scheduling of jobs of seconds t[0..n) in order on `cores` workers (each job to the
 * first free one, as the coordinator hands them out). @return the makespan. */
static double schedule(const double *t, long n, int cores) {
    double *free_at = calloc((size_t)cores, sizeof(double)), end = 0.0;
    if (!free_at) return NAN;
    for (long i = 0; i < n; i++) {
        int best = 0; /* a linear scan: cores are few next to jobs */
        for (int c = 1; c < cores; c++) best = free_at[c] < free_at[best] ? c : best;
        free_at[best] += t[i];
        end = free_at[best] > end ? free_at[best] : end;
    }
    free(free_at);
    return end;
}

static void print_duration(double s) {
    if (s < 120) printf("%.1f s", s);
    else if (s < 7200) printf("%.1f min", s / 60);
    else if (s < 172800) printf("%.1f h", s / 3600);
    else printf("%.1f days", s / 86400);
}

/* An open-addressing set of nonzero 64-bit hashes. @return 1 if h was there, else adds it. */
static int seen(uint64_t *set, size_t cap, uint64_t h) {
    size_t i = (size_t)(h % cap);
    while (set[i] && set[i] != h) i = (i + 1) % cap;
    if (set[i]) return 1;
    set[i] = h;
    return 0;
}

/*
 * The shared stages (stage.h: the run's stage cache, on by default): for each job in order,
 * the seconds of its contrastive divergence or noise phase when an earlier job has the same
 * stage key (that job computes it; this one continues from it), into saved[id]: the stage's
 * work is work(job) - work(job without the stage) (stage_off). The frozen features of the test
 * rows are shared too but not subtracted (no spec expresses a job without them). A stage counts
 * as reused only within the job's coordinator group (stage_group: its first stage's key), and
 * as if each rank's cache held every stage it computed (256 MiB by default: a CD output is 3 MB,
 * a noise phase's 1 MB), so this is what sharing saves at best. @return the number of jobs that
 * continue from any stage, or -1 (out of memory).
 */
static long shared_seconds(const Sweep *sw, const Calibration *cal, const double *t, double *saved) {
    size_t cap = 4 * (size_t)(sw->n_jobs > 0 ? sw->n_jobs : 1) + 1;
    uint64_t *set = calloc(cap, sizeof *set);
    if (!set) return -1;
    long n = 0;
    for (long id = 0; id < sw->n_jobs; id++) {
        JobSpec s, off;
        int C, H, W, any = 0;
        saved[id] = 0.0;
        sweep_job(sw, id, &s);
        if (dataset_shape(s.dataset, &C, &H, &W)) continue;
        /* the coordinator hands a group (the first stage's key) to one rank: a later stage is
         * counted as reused only within the group (another group's rank may not hold it) */
        uint64_t group = stage_group(&s, C, H, W, 10);
        for (int st = SHARE_PRETRAIN; st < N_SHARE; st++) {
            StageKey k;
            Work w;
            if (!stage_key(&s, st, C, H, W, 10, &k)) continue;
            uint64_t h = (stage_key_hash(&k) ^ (group * 0x9e3779b97f4a7c15ull)) | 1; /* nonzero */
            if (!seen(set, cap, h)) continue;
            any = 1;
            if (stage_off(&s, st, &off) && !jobspec_work(&off, &w)) saved[id] += fmax(0.0, t[id] - work_seconds(&w, cal));
            saved[id] = fmin(saved[id], t[id]); /* (no kind has two such stages; never below 0 s) */
        }
        n += any;
    }
    free(set);
    return n;
}

int expand_cost(const Sweep *sw, const char *cal_file, int cores) {
    Calibration cal;
    char path[1024], err[1300];
    if (calibration_path(cal_file, path, sizeof path)) return usage_error("expand: %s", "calibration path too long");
    if (calibration_read(path, &cal, err, sizeof err)) {
        if (cal_file) { /* a file named on purpose must be there */
            fprintf(stderr, "synsweep: %s\n", err);
            return 1;
        }
        printf("no calibration for this host (%s): run `synsweep calibrate`; using conservative built-in rates\n", path);
        calibration_default(&cal);
    }
    int nk = model_kind_count();
    double *t = malloc((size_t)(sw->n_jobs > 0 ? sw->n_jobs : 1) * sizeof(double));
    double *ksec = calloc((size_t)nk, sizeof(double)), *kmax = calloc((size_t)nk, sizeof(double));
    long *kjobs = calloc((size_t)nk, sizeof(long)), unknown = 0;
    if (!t || !ksec || !kmax || !kjobs) {
        free(t), free(ksec), free(kmax), free(kjobs);
        fprintf(stderr, "synsweep: out of memory\n");
        return 1;
    }
    double total = 0.0, longest = 0.0;
    for (long id = 0; id < sw->n_jobs; id++) {
        JobSpec s;
        Work w;
        sweep_job(sw, id, &s);
        int k = 0;
        while (k < nk && strcmp(model_kind_at(k)->name, s.model)) k++;
        int none = jobspec_work(&s, &w) != 0;
        t[id] = none ? 0.0 : work_seconds(&w, &cal);
        unknown += none;
        if (k < nk) ksec[k] += t[id], kjobs[k]++, kmax[k] = t[id] > kmax[k] ? t[id] : kmax[k];
        total += t[id], longest = t[id] > longest ? t[id] : longest;
    }
    printf("predicted cost (rates: %s)\n", cal.source);
    printf("%-10s %8s %14s %12s %14s\n", "model", "jobs", "core-hours", "mean job", "longest job");
    for (int k = 0; k < nk; k++) {
        if (!kjobs[k]) continue;
        printf("%-10s %8ld %14.3f %10.2f s %12.2f s%s\n", model_kind_at(k)->name, kjobs[k], ksec[k] / 3600,
               ksec[k] / kjobs[k], kmax[k], model_kind_at(k)->work ? "" : "  (no cost model: counted as 0)");
    }
    printf("%-10s %8ld %14.3f %10.2f s %12.2f s\n", "total", sw->n_jobs, total / 3600, sw->n_jobs ? total / sw->n_jobs : 0.0,
           longest);
    double wall = schedule(t, sw->n_jobs, cores), bound = fmax(total / cores, longest);
    printf("wall time on %d core%s (one worker each, jobs in order): ", cores, cores == 1 ? "" : "s");
    print_duration(wall);
    printf(" (at least ");
    print_duration(bound);
    printf(": total / %d or the longest job); plus loading each dataset once per worker\n", cores);
    if (unknown) printf("%ld jobs have no cost model (kind without ModelKind.work, or unknown dataset)\n", unknown);
    double *saved = malloc((size_t)(sw->n_jobs > 0 ? sw->n_jobs : 1) * sizeof(double));
    long n_sh = saved ? shared_seconds(sw, &cal, t, saved) : -1;
    if (n_sh > 0) {
        double sum = 0.0;
        for (long id = 0; id < sw->n_jobs; id++) sum += saved[id], t[id] -= saved[id];
        printf("with shared stages (the default; --no-stage-cache runs as above): %ld of %ld jobs continue from a stage "
               "(contrastive divergence, frozen features, noise phase) another job computes; without the contrastive "
               "divergence and noise phases they reuse: %.3f core-hours, ", n_sh, sw->n_jobs, (total - sum) / 3600);
        print_duration(schedule(t, sw->n_jobs, cores));
        printf(" on %d core%s, at best (the frozen features' share is not subtracted)\n", cores, cores == 1 ? "" : "s");
    }
    free(saved);
    free(t), free(ksec), free(kmax), free(kjobs);
    return 0;
}
