/*
 * results.c: the results table of the results file: its rows, curves and per-layer
 * metrics, checkpoints, resume and merge. The snapshots are snapstore.c's; the HDF5 calls
 * h5util.c's. String columns are fixed-length, NUL-terminated ASCII, which numpy reads as
 * clean bytes (`S` dtype).
 *
 * State in memory: one JobRow per job, the curves and per-layer metrics, and the snapshot
 * store. A checkpoint writes the snapshots received since the last one into a new part
 * file, then the whole main file to FILE.tmp, fsync, rename over FILE, fsync of the
 * directory.
 */
#include "results.h"

#include <errno.h>
#include <fcntl.h>
#include "blas.h"
#include "build_info.h"
#include "data.h"
#include "h5util.h"
#include "lockfile.h"
#include "snapstore.h"
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>


#define FORMAT_VERSION 2
#define FORMAT1_REFUSAL "%s: results file format 1 (synsweep 0.1); this synsweep reads format %d only. " \
    "Its tables still open with h5py (docs/FORMAT.md); to continue the sweep, rerun it into a new file"

/* provenance of this run (results_set_run_info) */
static char *g_hosts, g_mpi[256];

void results_set_run_info(const char *hosts, const char *mpi_library) {
    free(g_hosts);
    g_hosts = hosts ? strdup(hosts) : NULL;
    snprintf(g_mpi, sizeof g_mpi, "%s", mpi_library ? mpi_library : "");
}

/* Adds each comma-separated name of items to the list *list that is not in it. @return 0 or -1. */
static int host_list_add(char **list, const char *items) {
    for (const char *p = items; *p;) {
        size_t len = strcspn(p, ",");
        int seen = 0;
        for (const char *q = *list ? *list : ""; *q && !seen;) {
            size_t lq = strcspn(q, ",");
            seen = lq == len && !strncmp(p, q, len);
            q += lq + (q[lq] == ',');
        }
        if (!seen && len) {
            size_t old = *list ? strlen(*list) : 0;
            char *n = realloc(*list, old + len + 2);
            if (!n) return -1;
            if (old) n[old++] = ',';
            memcpy(n + old, p, len), n[old + len] = 0;
            *list = n;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

/* The system's reason when an HDF5 call failed for want of space or an I/O error, or "". */
static const char *io_cause(void) {
    static char buf[96];
    int e = errno;
    if (e != ENOSPC && e != EDQUOT && e != EFBIG && e != EIO && e != EROFS) return "";
    snprintf(buf, sizeof buf, " (%s)", strerror(e));
    return buf;
}

/*
 * Before any other HDF5 call. HDF5's exit handler closes the files still open, and a file
 * whose close failed (disk full) makes it crash (H5F__close_cb): the files we fail to write
 * are removed anyway, so the library is not asked to clean up at exit.
 */
static void h5_init(void) {
    static int done;
    if (!done) H5dont_atexit(), done = 1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void utc_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

/* A per-job dataset of the live file: row i's bytes are at off + i * row_bytes in the file and
 * at base + i * row_bytes in memory. */
typedef struct LiveSet {
    haddr_t off;
    size_t row_bytes;
    const char *base;
} LiveSet;
#define LIVE_MAX (8 + N_CURVES + N_STAGES * N_LAYER_METRICS + N_MODEL_CURVES)
/* n_done as first written into a live file, found and replaced by its value (find_n_done) */
#define N_DONE_SENTINEL 0x7e5a11f00dc0ffeeLL

typedef struct JobRow {
    int32_t job_id;
    char status[16];
    JobSpec spec;
    JobMetrics m;
    int32_t n_train, n_test;
    int64_t n_params;
    double seconds;
    int32_t rank;
    char host[64];
    char message[256];
} JobRow;

struct ResultsFile {
    char *path, *tmp, *lock, *sweep_path; /* FILE, FILE.tmp, FILE.lock (allocated: no path is ever cut) */
    char *yaml, sweep_name[64], axes[1024], created[32], started[32];
    char *hosts;     /* provenance: every host that wrote this file, comma-separated */
    int dirty;       /* the state differs from the file on disk */
    int on_disk_complete; /* the file read back is complete (consolidated): never rewritten */
    long n_jobs, n_done;
    int max_epochs, max_layers, max_noise;
    JobRow *rows;
    float *curves;   /* (N_CURVES, n_jobs, max_epochs) */
    double *layers;  /* (N_STAGES, N_LAYER_METRICS, n_jobs, max_layers) */
    int32_t *sizes;  /* (n_jobs, max_layers + 1) */
    float *angle;    /* (n_jobs, max_epochs, max_layers) angle per layer after each epoch */
    float *noise;    /* (n_jobs, max_noise, NOISE_COLS) the noise-phase curve */
    int n_mc, max_mepochs;
    int mc_ids[N_MODEL_CURVES]; /* the model curves some job of the sweep records */
    float *mcurves;  /* (n_mc, n_jobs, max_mepochs) */
    SnapStore st;    /* where each job's snapshots are */
    hid_t row_type;
    int lock_fd;     /* FILE.lock, held (lockfile.c) while this process writes FILE */
    /* the live file (docs/RESILIENCE.md): rows committed in place between full writes */
    char *journal, *index, *index_tmp; /* FILE.journal, FILE.snap.h5 (the snapshot links), its .tmp */
    int fd;          /* FILE opened for in-place commits, -1 while there is no live file */
    ino_t ino;       /* FILE's inode (a journal names it) */
    haddr_t n_done_at; /* where the 8 bytes of the root attribute n_done are */
    int n_live;
    LiveSet live[LIVE_MAX]; /* every per-job dataset, rows first */
    long *fresh, n_fresh, cap_fresh; /* jobs received since the last commit */
};

#define H5TRY(expr, what)                                                          \
    do {                                                                           \
        if ((expr) < 0) {                                                          \
            snprintf(err, errlen, "%s: HDF5 failed to %s%s", f->path, what, io_cause()); \
            goto fail;                                                             \
        }                                                                          \
    } while (0)

/* ---------------------------------------------------------------- types and helpers */

static int insert(hid_t ct, const char *name, size_t off, hid_t t, int close_t) {
    int rc = H5Tinsert(ct, name, off, t) < 0 ? -1 : 0;
    if (close_t) H5Tclose(t);
    return rc;
}

static int insert_param(hid_t ct, const ParamDef *d) {
    size_t off = HOFFSET(JobRow, spec) + d->offset;
    if (d->kind == PK_INT || d->kind == PK_BOOL) return insert(ct, d->name, off, H5T_NATIVE_INT32, 0);
    if (d->kind == PK_REAL) return insert(ct, d->name, off, H5T_NATIVE_DOUBLE, 0);
    return insert(ct, d->name, off, h5_str_type(d->size), 1);
}

/* The compound type of a row: job_id, status, grid axes, other parameters, metrics, bookkeeping. */
static hid_t make_row_type(const Sweep *sw) {
    hid_t ct = H5Tcreate(H5T_COMPOUND, sizeof(JobRow));
    if (ct < 0) return -1;
    int bad = 0;
    bad |= insert(ct, "job_id", HOFFSET(JobRow, job_id), H5T_NATIVE_INT32, 0);
    bad |= insert(ct, "status", HOFFSET(JobRow, status), h5_str_type(16), 1);
    for (int a = 0; a < sw->n_axes; a++) bad |= insert_param(ct, param_find(sw->axes[a].key));
    for (int i = 0; i < N_PARAMS; i++)
        if (sweep_axis(sw, PARAMS[i].name) < 0) bad |= insert_param(ct, &PARAMS[i]);
    for (int i = 0; i < N_METRICS; i++)
        bad |= insert(ct, METRICS[i].name, HOFFSET(JobRow, m) + METRICS[i].offset, H5T_NATIVE_DOUBLE, 0);
    bad |= insert(ct, "n_train", HOFFSET(JobRow, n_train), H5T_NATIVE_INT32, 0);
    bad |= insert(ct, "n_test", HOFFSET(JobRow, n_test), H5T_NATIVE_INT32, 0);
    bad |= insert(ct, "n_params", HOFFSET(JobRow, n_params), H5T_NATIVE_INT64, 0);
    bad |= insert(ct, "seconds", HOFFSET(JobRow, seconds), H5T_NATIVE_DOUBLE, 0);
    bad |= insert(ct, "rank", HOFFSET(JobRow, rank), H5T_NATIVE_INT32, 0);
    bad |= insert(ct, "host", HOFFSET(JobRow, host), h5_str_type(64), 1);
    bad |= insert(ct, "message", HOFFSET(JobRow, message), h5_str_type(256), 1);
    if (bad) {
        H5Tclose(ct);
        return -1;
    }
    return ct;
}

/*
 * Result columns added after format 2 began (d34c815): a file written before them lacks them
 * and reads them as NaN. Every other result column is required. A new metric column goes
 * here; a new parameter needs nothing (docs/FORMAT.md, "Older files").
 */
static const char *const LATE_METRICS[] = {
    "test_loss_init", "test_acc_init", "readout_p_true_mean_init", "readout_p_max_mean_init",
    "test_loss_after_noise", "test_acc_after_noise", "readout_p_true_mean_after_noise",
    "readout_p_max_mean_after_noise", "test_acc_pred_mean", "test_loss_pred_mean", "recon_error",
    "mean_release", "w_p_corr", "snr_paper", "snr_code", "n_sleeps"};

/* A column of the full row type a file may lack: a parameter (its value is the stored sweep's,
 * else its default: the row's spec as new_state made it) or a late metric (NaN). */
static int column_optional(const char *name) {
    if (param_find(name) || metric_is_kinds(name)) return 1; /* a kind's metric: files before the kind lack it */
    for (size_t i = 0; i < sizeof LATE_METRICS / sizeof *LATE_METRICS; i++)
        if (!strcmp(name, LATE_METRICS[i])) return 1;
    return 0;
}

/*
 * The row type to read /results of file with: the full row type rt without the optional
 * columns the file lacks (a file of an earlier release). Reading with it leaves those
 * fields of the rows as they were (HDF5 converts the others by name). @return the type
 * (close it), or -1 (out of memory, or no /results: h5_check_compound then says why).
 */
static hid_t read_row_type(hid_t file, hid_t rt) {
    hid_t d = H5Dopen2(file, "results", H5P_DEFAULT), ft = d >= 0 ? H5Dget_type(d) : -1, ct = -1;
    if (d >= 0) H5Dclose(d);
    if (ft < 0 || H5Tget_class(ft) != H5T_COMPOUND) { /* h5_check_compound says what is wrong */
        if (ft >= 0) H5Tclose(ft);
        return H5Tcopy(rt);
    }
    if ((ct = H5Tcreate(H5T_COMPOUND, H5Tget_size(rt))) < 0) {
        H5Tclose(ft);
        return -1;
    }
    int bad = 0, n = H5Tget_nmembers(rt);
    for (int i = 0; !bad && i < n; i++) {
        char *mn = H5Tget_member_name(rt, (unsigned)i);
        if (!mn) bad = 1;
        else if (H5Tget_member_index(ft, mn) >= 0 || !column_optional(mn))
            bad = insert(ct, mn, H5Tget_member_offset(rt, (unsigned)i), H5Tget_member_type(rt, (unsigned)i), 1);
        if (mn) H5free_memory(mn);
    }
    H5Tclose(ft);
    if (bad) H5Tclose(ct);
    return bad ? -1 : ct;
}

/* ---------------------------------------------------------------- state */

static void free_state(ResultsFile *f) {
    if (!f) return;
    if (f->lock_fd > 0) lockfile_release(f->lock_fd, f->lock);
    if (f->fd > 0) close(f->fd);
    free(f->journal), free(f->index), free(f->index_tmp), free(f->fresh);
    if (f->row_type >= 0) H5Tclose(f->row_type);
    snapstore_free(&f->st);
    free(f->path), free(f->tmp), free(f->lock), free(f->sweep_path), free(f->hosts);
    free(f->yaml), free(f->rows), free(f->curves), free(f->layers), free(f->sizes), free(f->angle), free(f->noise);
    free(f->mcurves);
    free(f);
}

/* Allocates f's per-job arrays for its n_jobs, max_epochs, max_layers and max_noise, every
 * value NaN (sizes 0). @return 0 or -1. */
static int alloc_arrays(ResultsFile *f) {
    size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers, P = (size_t)f->max_noise;
    size_t nc = N_CURVES * n * E, nl = (size_t)N_STAGES * N_LAYER_METRICS * n * Lm, na = n * E * Lm,
           nn = n * P * NOISE_COLS, nm = (size_t)f->n_mc * n * (size_t)f->max_mepochs;
    f->curves = malloc((nc ? nc : 1) * sizeof(float));
    f->layers = malloc((nl ? nl : 1) * sizeof(double));
    f->sizes = calloc(n * (Lm + 1) + 1, sizeof(int32_t));
    f->angle = malloc((na ? na : 1) * sizeof(float));
    f->noise = malloc((nn ? nn : 1) * sizeof(float));
    f->mcurves = malloc((nm ? nm : 1) * sizeof(float));
    if (!f->curves || !f->layers || !f->sizes || !f->angle || !f->noise || !f->mcurves) return -1;
    for (size_t i = 0; i < nm; i++) f->mcurves[i] = NAN;
    for (size_t i = 0; i < nc; i++) f->curves[i] = NAN;
    for (size_t i = 0; i < nl; i++) f->layers[i] = NAN;
    for (size_t i = 0; i < na; i++) f->angle[i] = NAN;
    for (size_t i = 0; i < nn; i++) f->noise[i] = NAN;
    return 0;
}

/* Job id's row, curves and layer data from src (same dimensions) into f. */
static void copy_job(ResultsFile *f, const ResultsFile *src, size_t id) {
    size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers, P = (size_t)f->max_noise;
    f->rows[id] = src->rows[id];
    for (int c = 0; c < N_CURVES; c++)
        memcpy(f->curves + ((size_t)c * n + id) * E, src->curves + ((size_t)c * n + id) * E, E * sizeof(float));
    for (size_t sk = 0; sk < (size_t)N_STAGES * N_LAYER_METRICS; sk++)
        memcpy(f->layers + (sk * n + id) * Lm, src->layers + (sk * n + id) * Lm, Lm * sizeof(double));
    memcpy(f->sizes + id * (Lm + 1), src->sizes + id * (Lm + 1), (Lm + 1) * sizeof(int32_t));
    memcpy(f->angle + id * E * Lm, src->angle + id * E * Lm, E * Lm * sizeof(float));
    memcpy(f->noise + id * P * NOISE_COLS, src->noise + id * P * NOISE_COLS, P * NOISE_COLS * sizeof(float));
    size_t Em = (size_t)f->max_mepochs;
    for (int c = 0; c < f->n_mc; c++)
        memcpy(f->mcurves + ((size_t)c * n + id) * Em, src->mcurves + ((size_t)c * n + id) * Em, Em * sizeof(float));
}

/* The in-memory state of sweep sw for path, every job pending. */
static ResultsFile *new_state(const char *path, const Sweep *sw, char *err, size_t errlen) {
    h5_init();
    ResultsFile *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->row_type = -1;
    f->fd = -1;
    f->path = strdup(path);
    f->tmp = str_cat(path, ".tmp");
    f->lock = str_cat(path, ".lock");
    f->journal = str_cat(path, ".journal");
    f->index = str_cat(path, ".snap.h5");
    f->index_tmp = str_cat(path, ".snap.h5.tmp");
    if (!f->path || !f->tmp || !f->lock || !f->journal || !f->index || !f->index_tmp) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    f->n_jobs = sw->n_jobs;
    f->max_epochs = sw->max_epochs;
    f->yaml = strdup(sw->yaml);
    f->sweep_path = strdup(sw->path ? sw->path : "");
    snprintf(f->sweep_name, sizeof f->sweep_name, "%s", sw->name);
    for (int a = 0; a < sw->n_axes; a++) {
        if (a) strncat(f->axes, ",", sizeof f->axes - strlen(f->axes) - 1);
        strncat(f->axes, sw->axes[a].key, sizeof f->axes - strlen(f->axes) - 1);
    }
    utc_now(f->created, sizeof f->created);
    memcpy(f->started, f->created, sizeof f->started);
    char me[256] = "";
    gethostname(me, sizeof me - 1);
    if (host_list_add(&f->hosts, g_hosts ? g_hosts : me)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    uint64_t mc_used = 0;
    for (long id = 0; id < sw->n_jobs; id++) {
        JobSpec s;
        int h[MLP_MAX_LAYERS];
        sweep_job(sw, id, &s);
        int L = jobspec_hidden(&s, h) + 1, P = jobspec_noise_points(&s), Em = 0;
        if (L > f->max_layers) f->max_layers = L;
        if (P > f->max_noise) f->max_noise = P;
        mc_used |= jobspec_model_curves(&s, &Em);
        if (Em > f->max_mepochs) f->max_mepochs = Em;
    }
    for (int k = 0; f->max_mepochs > 0 && k < N_MODEL_CURVES; k++)
        if ((mc_used >> k) & 1) f->mc_ids[f->n_mc++] = k;
    size_t n = (size_t)f->n_jobs;
    f->rows = calloc(n, sizeof(JobRow));
    if (!f->yaml || !f->sweep_path || !f->rows || alloc_arrays(f) || snapstore_init(&f->st, path, f->n_jobs)) {
        snprintf(err, errlen, "%s: out of memory for %zu job rows", path, n);
        goto fail;
    }
    for (long id = 0; id < sw->n_jobs; id++) {
        JobRow *row = &f->rows[id];
        row->job_id = (int32_t)id;
        snprintf(row->status, sizeof row->status, "%s", status_name(STATUS_PENDING));
        sweep_job(sw, id, &row->spec);
        double *m = (double *)&row->m;
        for (size_t k = 0; k < sizeof(row->m) / sizeof(double); k++) m[k] = NAN;
        row->seconds = NAN;
        row->rank = -1;
    }
    if ((f->row_type = make_row_type(sw)) < 0) {
        snprintf(err, errlen, "%s: cannot build the results row type", path);
        goto fail;
    }
    return f;
fail:
    free_state(f);
    return NULL;
}

int results_job_done(const ResultsFile *f, long id) {
    return strcmp(f->rows[id].status, status_name(STATUS_PENDING)) != 0;
}

long results_n_done(const ResultsFile *f) { return f->n_done; }

/* ---------------------------------------------------------------- snapshots */

/* ---------------------------------------------------------------- the main file */

/* One per-job dataset: chunked and deflated, or (live) contiguous, its place recorded. */
static int put_table(ResultsFile *f, int live, hid_t loc, const char *name, hid_t type, int rank,
                     const hsize_t *dims, const void *buf) {
    if (!live) return h5_write_table(loc, name, type, rank, dims, buf);
    haddr_t off;
    size_t rb = H5Tget_size(type);
    for (int i = 1; i < rank; i++) rb *= (size_t)dims[i];
    if (f->n_live >= LIVE_MAX || h5_write_fixed(loc, name, type, rank, dims, buf, &off)) return -1;
    if (off != HADDR_UNDEF && rb > 0) f->live[f->n_live++] = (LiveSet){off, rb, buf};
    return 0;
}

static int cmp_haddr(const void *a, const void *b) {
    const LiveSet *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

/*
 * The address of the root attribute n_done in the live file fd (written as N_DONE_SENTINEL):
 * its one occurrence outside the datasets. An int64 attribute's value sits in the root
 * group's object header (version 1, no checksum), so replacing these 8 bytes changes it.
 */
static haddr_t find_n_done(const ResultsFile *f, int fd, off_t size) {
    LiveSet d[LIVE_MAX];
    memcpy(d, f->live, (size_t)f->n_live * sizeof(LiveSet));
    qsort(d, (size_t)f->n_live, sizeof(LiveSet), cmp_haddr);
    int64_t want = N_DONE_SENTINEL;
    haddr_t found = HADDR_UNDEF;
    int hits = 0;
    static unsigned char buf[1 << 20];
    off_t start = 0;
    for (int k = 0; k <= f->n_live; k++) {
        off_t end = k < f->n_live ? (off_t)d[k].off : size;
        for (off_t p = start; p + 8 <= end;) {
            size_t want_n = (size_t)(end - p) < sizeof buf ? (size_t)(end - p) : sizeof buf;
            ssize_t got = pread(fd, buf, want_n, p);
            if (got < 8) return HADDR_UNDEF;
            for (ssize_t i = 0; i + 8 <= got; i++)
                if (!memcmp(buf + i, &want, 8)) found = (haddr_t)(p + i), hits++;
            p += got - 7;
            if (p + 8 > end || got < (ssize_t)want_n) break;
        }
        if (k < f->n_live) {
            off_t e = (off_t)(d[k].off + d[k].row_bytes * (size_t)f->n_jobs);
            if (e > start) start = e;
        }
    }
    return hits == 1 ? found : HADDR_UNDEF;
}

/* Writes FILE.snap.h5 (the links to the snapshot part files) anew: .tmp, fsync, rename. */
static int write_index(ResultsFile *f, char *err, size_t errlen) {
    unlink(f->index_tmp);
    hid_t file = H5Fcreate(f->index_tmp, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    int bad = file < 0 || snapstore_write_links(&f->st, file, 0);
    if (file >= 0 && H5Fclose(file) < 0) bad = 1;
    if (bad || sync_path(f->index_tmp) || rename(f->index_tmp, f->index)) {
        snprintf(err, errlen, "%s: cannot write the snapshot index%s", f->index, io_cause());
        unlink(f->index_tmp);
        return -1;
    }
    return 0;
}

/*
 * Writes the whole state to FILE.tmp and renames it over FILE. With consolidate, the snapshot
 * groups are copied in and the datasets chunked and deflated: the ordinary final file.
 * Otherwise it is the live file: datasets contiguous, so that later checkpoints commit rows in
 * place (commit_rows), and /snapshots an external link to FILE.snap.h5.
 */
static int write_main(ResultsFile *f, int consolidate, char *err, size_t errlen) {
    size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers;
    hid_t file = -1, g = -1, gs = -1;
    int live = !consolidate, fd = -1;
    if (f->fd > 0) close(f->fd);
    f->fd = -1, f->n_live = 0;
    if (live && write_index(f, err, errlen)) return -1;
    unlink(f->tmp);
    if ((file = H5Fcreate(f->tmp, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        snprintf(err, errlen, "%s: cannot create the results file%s (does its directory exist "
                 "and is it writable?)", f->tmp, io_cause());
        return -1;
    }
    char now[32];
    utc_now(now, sizeof now);
    int complete = f->n_done == f->n_jobs && consolidate;
    const char *slurm = getenv("SLURM_JOB_ID");
    H5TRY(h5_attr_str(file, "synsweep_version", SYNSWEEP_VERSION), "write attributes");
    H5TRY(h5_attr_i64(file, "format_version", FORMAT_VERSION), "write attributes");
    H5TRY(h5_attr_str(file, "sweep_yaml", f->yaml), "write attributes");
    H5TRY(h5_attr_str(file, "sweep_path", f->sweep_path), "write attributes");
    H5TRY(h5_attr_str(file, "sweep_name", f->sweep_name), "write attributes");
    H5TRY(h5_attr_str(file, "created", f->created), "write attributes");
    H5TRY(h5_attr_str(file, "checkpoint", now), "write attributes");
    H5TRY(h5_attr_str(file, "axes", f->axes), "write attributes");
    H5TRY(h5_attr_i64(file, "n_jobs", f->n_jobs), "write attributes");
    H5TRY(h5_attr_i64(file, "n_done", live ? N_DONE_SENTINEL : f->n_done), "write attributes");
    H5TRY(h5_attr_i64(file, "complete", complete), "write attributes");
    /* provenance (docs/FORMAT.md) */
    H5TRY(h5_attr_str(file, "git_commit", SYNSWEEP_GIT_COMMIT), "write attributes");
    H5TRY(h5_attr_i64(file, "git_dirty", SYNSWEEP_GIT_DIRTY), "write attributes");
    H5TRY(h5_attr_str(file, "compiler", SYNSWEEP_COMPILER), "write attributes");
    H5TRY(h5_attr_str(file, "cflags", SYNSWEEP_CFLAGS), "write attributes");
    H5TRY(h5_attr_str(file, "blas_library", blas_library()), "write attributes");
    H5TRY(h5_attr_str(file, "blas_kernel", blas_kernel()), "write attributes");
    H5TRY(h5_attr_str(file, "mpi_library", g_mpi), "write attributes");
    H5TRY(h5_attr_str(file, "hosts", f->hosts ? f->hosts : ""), "write attributes");
    H5TRY(h5_attr_str(file, "slurm_job_id", slurm ? slurm : ""), "write attributes");
    H5TRY(h5_attr_str(file, "started", f->started), "write attributes");
    H5TRY(h5_attr_str(file, "finished", complete ? now : ""), "write attributes");

    hsize_t d1[1] = {n}, d2[2] = {n, E}, dl[2] = {n, Lm}, ds[2] = {n, Lm + 1}, da[3] = {n, E, Lm},
            dn[3] = {n, (hsize_t)f->max_noise, NOISE_COLS};
    H5TRY(put_table(f, live, file, "results", f->row_type, 1, d1, f->rows), "write /results");
    H5TRY(g = H5Gcreate2(file, "curves", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /curves");
    for (int c = 0; c < N_CURVES; c++)
        H5TRY(put_table(f, live, g, CURVE_NAMES[c], H5T_NATIVE_FLOAT, 2, d2, f->curves + (size_t)c * n * E), "write a curve");
    H5Gclose(g);
    H5TRY(g = H5Gcreate2(file, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /layers");
    H5TRY(put_table(f, live, g, "sizes", H5T_NATIVE_INT32, 2, ds, f->sizes), "write /layers/sizes");
    H5TRY(put_table(f, live, g, "angle_curve", H5T_NATIVE_FLOAT, 3, da, f->angle), "write /layers/angle_curve");
    for (int s = 0; s < N_STAGES; s++) {
        H5TRY(gs = H5Gcreate2(g, STAGE_NAMES[s], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create a stage group");
        for (int k = 0; k < N_LAYER_METRICS; k++)
            H5TRY(put_table(f, live, gs, LAYER_METRIC_NAMES[k], H5T_NATIVE_DOUBLE, 2, dl,
                             f->layers + ((size_t)s * N_LAYER_METRICS + k) * n * Lm), "write layer metrics");
        H5Gclose(gs);
        gs = -1;
    }
    H5Gclose(g);
    H5TRY(g = H5Gcreate2(file, "model_curves", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /model_curves");
    hsize_t dm[2] = {n, (hsize_t)f->max_mepochs};
    for (int c = 0; c < f->n_mc; c++)
        H5TRY(put_table(f, live, g, MODEL_CURVE_NAMES[f->mc_ids[c]], H5T_NATIVE_FLOAT, 2, dm,
                             f->mcurves + (size_t)c * n * f->max_mepochs), "write a model curve");
    H5Gclose(g);
    g = -1;
    H5TRY(put_table(f, live, file, "noise_curve", H5T_NATIVE_FLOAT, 3, dn, f->noise), "write /noise_curve");
    H5TRY(g = H5Dopen2(file, "noise_curve", H5P_DEFAULT), "open /noise_curve");
    H5TRY(h5_attr_str(g, "columns", NOISE_COLUMNS), "write /noise_curve columns");
    H5Dclose(g);
    g = -1;
    if (live) {
        /* /snapshots is the group of FILE.snap.h5, which each checkpoint with new snapshots replaces */
        char *base = strdup(f->index), *rel = base ? basename(base) : NULL;
        int bad = !rel || H5Lcreate_external(rel, "/snapshots", file, "snapshots", H5P_DEFAULT, H5P_DEFAULT) < 0;
        free(base);
        H5TRY(bad ? -1 : 0, "link the snapshot index");
    } else {
        H5TRY(snapstore_write_links(&f->st, file, 1), "copy snapshots into the results file");
    }
    if (H5Fclose(file) < 0) {
        file = -1;
        snprintf(err, errlen, "%s: HDF5 failed to close%s", f->tmp, io_cause());
        goto fail;
    }
    file = -1;
    if (live) {
        /* n_done's real value, before anyone can see the file */
        struct stat sb;
        int64_t v = f->n_done, back = -1;
        if ((fd = open(f->tmp, O_RDWR)) < 0 || fstat(fd, &sb) ||
            (f->n_done_at = find_n_done(f, fd, sb.st_size)) == HADDR_UNDEF ||
            pwrite(fd, &v, 8, (off_t)f->n_done_at) != 8) {
            snprintf(err, errlen, "%s: cannot place n_done in the live file%s", f->tmp, io_cause());
            goto fail;
        }
        /* read back in this process (the file is the one just written: no forked reader,
         * which would fork an MPI rank during the run) */
        hid_t chk = H5Fopen(f->tmp, H5F_ACC_RDONLY, H5P_DEFAULT), a = chk >= 0 ? H5Aopen(chk, "n_done", H5P_DEFAULT) : -1;
        if (a >= 0 && H5Aread(a, H5T_NATIVE_INT64, &back) < 0) back = -1;
        if (a >= 0) H5Aclose(a);
        if (chk >= 0) H5Fclose(chk);
        if (back != v) {
            snprintf(err, errlen, "%s: n_done placed at byte %llu reads back as %lld", f->tmp,
                     (unsigned long long)f->n_done_at, (long long)back);
            goto fail;
        }
        f->ino = sb.st_ino;
    }
    char *dir = strdup(f->path);
    if (!dir || sync_path(f->tmp) || rename(f->tmp, f->path) || sync_path(dirname(dir))) {
        snprintf(err, errlen, "%s: cannot sync and rename the new checkpoint into place (%s)", f->path, strerror(errno));
        free(dir);
        goto fail;
    }
    free(dir);
    f->fd = fd; /* live: rows are committed into it from now on */
    return 0;
fail:
    if (fd >= 0) close(fd);
    if (gs >= 0) H5Gclose(gs);
    if (g >= 0) H5Gclose(g);
    if (file >= 0) H5Fclose(file);
    unlink(f->tmp);
    return -1;
}

/* ---------------------------------------------------------------- committing rows in place */

/*
 * FILE.journal: a header, then records (u64 offset, u64 length, bytes) of writes into FILE:
 * n_phase1 records of data (every dataset's row, the results row still saying pending), then
 * the status fields and n_done. Valid only if its checksum holds and ino is FILE's inode.
 */
typedef struct JournalHead {
    char magic[8];
    uint64_t ino, n_records, n_phase1, payload, sum;
} JournalHead;
static const char JOURNAL_MAGIC[8] = "SSJRNL1";

static uint64_t fnv64(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/*
 * Fault injection for tests/test_resume.sh: SYNSWEEP_FAULT_COMMIT="K,W" SIGKILLs this process
 * in its K-th commit, after the journal is written (W = 0) or after the data, before the
 * statuses (W = 1). @return W at commit K, else -1.
 */
static int fault_point(void) {
    static int commits;
    const char *e = getenv("SYNSWEEP_FAULT_COMMIT");
    int k, w;
    commits++;
    return e && sscanf(e, "%d,%d", &k, &w) == 2 && k == commits ? w : -1;
}

/* Applies the journal's records to fd: the data, fdatasync, the statuses, fdatasync. */
static int journal_apply(int fd, const JournalHead *h, const unsigned char *p, int fault) {
    for (int phase = 0; phase < 2; phase++) {
        const unsigned char *q = p;
        for (uint64_t r = 0; r < h->n_records; r++) {
            uint64_t off, len;
            memcpy(&off, q, 8), memcpy(&len, q + 8, 8);
            if ((r < h->n_phase1) == (phase == 0) && pwrite(fd, q + 16, len, (off_t)off) != (ssize_t)len) return -1;
            q += 16 + len;
        }
        if (fdatasync(fd)) return -1;
        if (phase == 0 && fault == 1) raise(SIGKILL);
    }
    return 0;
}

/* Appends one record to the journal being built. */
static unsigned char *journal_put(unsigned char *q, haddr_t off, const void *src, size_t len) {
    uint64_t o = off, l = len;
    memcpy(q, &o, 8), memcpy(q + 8, &l, 8), memcpy(q + 16, src, len);
    return q + 16 + len;
}

/*
 * Commits the rows received since the last checkpoint into the live file: the journal written
 * and fsync'ed, then applied (data, fdatasync, statuses and n_done, fdatasync), then removed.
 */
static int commit_rows(ResultsFile *f, char *err, size_t errlen) {
    if (!f->n_fresh) return 0;
    size_t per = 0, st_off = offsetof(JobRow, status);
    for (int k = 0; k < f->n_live; k++) per += 16 + f->live[k].row_bytes;
    size_t total = (size_t)f->n_fresh * (per + 16 + sizeof f->rows->status) + 16 + 8;
    unsigned char *buf = malloc(total), *q = buf;
    int jfd = -1;
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory committing %ld rows", f->path, f->n_fresh);
        return -1;
    }
    for (long i = 0; i < f->n_fresh; i++) {
        size_t id = (size_t)f->fresh[i];
        for (int k = 0; k < f->n_live; k++) {
            const LiveSet *l = &f->live[k];
            const void *src = l->base + id * l->row_bytes;
            JobRow pend;
            if (l->base == (const char *)f->rows) { /* the row, still pending: its status comes last */
                pend = f->rows[id];
                memset(pend.status, 0, sizeof pend.status);
                snprintf(pend.status, sizeof pend.status, "%s", status_name(STATUS_PENDING));
                src = &pend;
            }
            q = journal_put(q, l->off + id * l->row_bytes, src, l->row_bytes);
        }
    }
    JournalHead h = {{0}, (uint64_t)f->ino, 0, 0, 0, 0};
    memcpy(h.magic, JOURNAL_MAGIC, 8);
    h.n_phase1 = (uint64_t)f->n_fresh * (uint64_t)f->n_live;
    for (long i = 0; i < f->n_fresh; i++) {
        size_t id = (size_t)f->fresh[i];
        q = journal_put(q, f->live[0].off + id * sizeof(JobRow) + st_off, f->rows[id].status, sizeof f->rows->status);
    }
    int64_t nd = f->n_done;
    q = journal_put(q, f->n_done_at, &nd, 8);
    h.n_records = h.n_phase1 + (uint64_t)f->n_fresh + 1;
    h.payload = (uint64_t)(q - buf);
    h.sum = fnv64(buf, (size_t)h.payload);
    if ((jfd = open(f->journal, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 || write(jfd, &h, sizeof h) != (ssize_t)sizeof h ||
        write(jfd, buf, (size_t)h.payload) != (ssize_t)h.payload || fdatasync(jfd)) {
        snprintf(err, errlen, "%s: cannot write the journal (%s)", f->journal, strerror(errno));
        goto fail;
    }
    close(jfd);
    jfd = -1;
    int fault = fault_point();
    if (fault == 0) raise(SIGKILL);
    if (journal_apply(f->fd, &h, buf, fault)) {
        snprintf(err, errlen, "%s: cannot commit %ld rows in place (%s); the journal keeps them", f->path,
                 f->n_fresh, strerror(errno));
        goto fail;
    }
    unlink(f->journal);
    free(buf);
    f->n_fresh = 0;
    return 0;
fail:
    if (jfd >= 0) close(jfd);
    free(buf);
    return -1;
}

/*
 * A journal left by a process that stopped while committing (FILE.journal): applied again to
 * FILE if it is whole and names FILE's inode, then removed. Only the writer calls it (under the
 * lock). @return 0, or -1 with err.
 */
static int journal_redo(const ResultsFile *f, char *err, size_t errlen) {
    int jfd = open(f->journal, O_RDONLY), fd = -1, rc = -1;
    if (jfd < 0) return 0;
    JournalHead h;
    struct stat js, fs;
    unsigned char *buf = NULL;
    int whole = fstat(jfd, &js) == 0 && read(jfd, &h, sizeof h) == (ssize_t)sizeof h &&
                !memcmp(h.magic, JOURNAL_MAGIC, 8) && h.payload == (uint64_t)js.st_size - sizeof h &&
                (buf = malloc(h.payload ? h.payload : 1)) && read(jfd, buf, h.payload) == (ssize_t)h.payload &&
                fnv64(buf, h.payload) == h.sum && stat(f->path, &fs) == 0 && (uint64_t)fs.st_ino == h.ino;
    /* every record inside the payload */
    const unsigned char *q = buf;
    for (uint64_t r = 0; whole && r < h.n_records; r++) {
        uint64_t len;
        if ((size_t)(q - buf) + 16 > h.payload) whole = 0;
        else memcpy(&len, q + 8, 8), q += 16, whole = len <= h.payload - (uint64_t)(q - buf), q += whole ? len : 0;
    }
    close(jfd);
    if (whole) {
        if ((fd = open(f->path, O_RDWR)) < 0 || journal_apply(fd, &h, buf, -1)) {
            snprintf(err, errlen, "%s: cannot apply its journal %s (%s)", f->path, f->journal, strerror(errno));
            goto done;
        }
        fprintf(stderr, "[synsweep] %s: committed %llu rows from its journal (the last run stopped while writing them)\n",
                f->path, (unsigned long long)(h.n_records - h.n_phase1 - 1));
    }
    unlink(f->journal); /* a torn journal was never applied: the file holds the checkpoint before it */
    rc = 0;
done:
    if (fd >= 0) close(fd);
    free(buf);
    return rc;
}

int results_checkpoint(ResultsFile *f, char *err, size_t errlen) {
    if (!f->dirty && f->st.n_buf == 0) return 0;
    int new_snaps = f->st.n_buf > 0;
    if (snapstore_write_part(&f->st, err, errlen)) return -1;
    if (f->fd < 0) {
        if (write_main(f, 0, err, errlen)) return -1;
        f->n_fresh = 0;
    } else if ((new_snaps && write_index(f, err, errlen)) || commit_rows(f, err, errlen)) {
        return -1;
    }
    f->dirty = 0;
    return 0;
}

ResultsFile *results_create(const char *path, const Sweep *sw, char *err, size_t errlen) {
    if (access(path, F_OK) == 0) {
        snprintf(err, errlen, "%s: already exists; synsweep never overwrites a results file "
                 "(--resume continues it; or choose another -o)", path);
        return NULL;
    }
    ResultsFile *f = new_state(path, sw, err, errlen);
    if (!f) return NULL;
    f->dirty = 1;
    if ((f->lock_fd = lockfile_take(f->lock, path, err, errlen)) < 0 || results_checkpoint(f, err, errlen)) {
        free_state(f);
        return NULL;
    }
    return f;
}

/* ---------------------------------------------------------------- reading a file back */

/* Every string of a row read back raw ends inside its field. */
static void terminate_strings(JobRow *r) {
    r->status[sizeof r->status - 1] = 0;
    r->host[sizeof r->host - 1] = 0;
    r->message[sizeof r->message - 1] = 0;
    for (int i = 0; i < N_PARAMS; i++) {
        const ParamDef *d = &PARAMS[i];
        if (d->kind != PK_INT && d->kind != PK_BOOL && d->kind != PK_REAL) ((char *)&r->spec)[d->offset + d->size - 1] = 0;
    }
}

/* Job id is to run (again). */
static void set_pending(ResultsFile *f, size_t id) {
    JobRow *row = &f->rows[id];
    if (!results_job_done(f, (long)id)) return;
    snprintf(row->status, sizeof row->status, "%s", status_name(STATUS_PENDING));
    row->message[0] = 0;
    f->n_done--;
}

/* Loads the state of results file path (of sweep sw) into f, which new_state made. */
static int load_file(ResultsFile *f, const char *path, int keep_snapshots, char *err, size_t errlen) {
    size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char name[128];
    JobRow *rows = NULL;
    ResultsFile *in = NULL;
    hid_t rt = -1;
    if (file < 0) {
        snprintf(err, errlen, "%s: not a readable HDF5 file", path);
        return -1;
    }
    int64_t fv = 0, nj = 0;
    if (h5_read_attr_i64(file, "format_version", &fv) == 0 && fv == 1) {
        snprintf(err, errlen, FORMAT1_REFUSAL, path, FORMAT_VERSION);
        goto fail;
    }
    if (fv != FORMAT_VERSION || h5_read_attr_i64(file, "n_jobs", &nj) || nj != f->n_jobs) {
        snprintf(err, errlen, "%s: not a synsweep results file of format %d for %ld jobs", path, FORMAT_VERSION, f->n_jobs);
        goto fail;
    }
    /* the structure first: a missing or retyped column would read as zeros */
    char why[400];
    if ((rt = read_row_type(file, f->row_type)) < 0 || h5_check_compound(file, "results", rt, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s; refusing to read it (nothing was changed)", path, rt < 0 ? "out of memory" : why);
        goto fail;
    }
    /* columns an earlier release did not write keep what new_state made: the stored sweep's
     * parameter values (else the defaults), NaN metrics */
    if (!(rows = malloc((n ? n : 1) * sizeof(JobRow)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    memcpy(rows, f->rows, n * sizeof(JobRow));
    if (h5_read_table(file, "results", rt, n, H5_RANK1, rows)) {
        snprintf(err, errlen, "%s: cannot read /results (damaged, or not %ld rows)", path, f->n_jobs);
        goto fail;
    }
    for (size_t id = 0; id < n; id++) terminate_strings(&rows[id]);
    char *created = h5_read_attr_str(file, "created"), *hosts = h5_read_attr_str(file, "hosts");
    if (created) snprintf(f->created, sizeof f->created, "%s", created);
    if (hosts && hosts[0]) host_list_add(&f->hosts, hosts);
    free(created), free(hosts);
    int64_t complete = 0;
    f->on_disk_complete = h5_read_attr_i64(file, "complete", &complete) == 0 && complete == 1;
    /* everything into a scratch state of the same dimensions, then the finished jobs */
    in = calloc(1, sizeof *in);
    if (!in) goto oom;
    in->n_jobs = f->n_jobs, in->max_epochs = f->max_epochs, in->max_layers = f->max_layers, in->max_noise = f->max_noise;
    in->n_mc = f->n_mc, in->max_mepochs = f->max_mepochs;
    in->rows = rows, rows = NULL;
    if (alloc_arrays(in)) goto oom;
    hsize_t da[3] = {n, E, Lm}, dn[3] = {n, (hsize_t)f->max_noise, NOISE_COLS};
    int bad = 0;
    for (int c = 0; !bad && c < N_CURVES; c++) {
        snprintf(name, sizeof name, "curves/%s", CURVE_NAMES[c]);
        bad = h5_read_table(file, name, H5T_NATIVE_FLOAT, n, E, in->curves + (size_t)c * n * E) != 0;
    }
    bad = bad || h5_read_table(file, "layers/sizes", H5T_NATIVE_INT32, n, Lm + 1, in->sizes);
    for (int s = 0; !bad && s < N_STAGES; s++)
        for (int k = 0; !bad && k < N_LAYER_METRICS; k++) {
            snprintf(name, sizeof name, "layers/%s/%s", STAGE_NAMES[s], LAYER_METRIC_NAMES[k]);
            bad = h5_read_table(file, name, H5T_NATIVE_DOUBLE, n, Lm, in->layers + ((size_t)s * N_LAYER_METRICS + k) * n * Lm) != 0;
        }
    /* both added after format 2 began: absent from an earlier release's file, they stay NaN */
    bad = bad || (H5Lexists(file, "layers/angle_curve", H5P_DEFAULT) != 0 &&
                  h5_read_nd(file, "layers/angle_curve", H5T_NATIVE_FLOAT, 3, da, in->angle)) ||
          (H5Lexists(file, "noise_curve", H5P_DEFAULT) != 0 && h5_read_nd(file, "noise_curve", H5T_NATIVE_FLOAT, 3, dn, in->noise));
    for (int c = 0; !bad && c < f->n_mc; c++) {
        snprintf(name, sizeof name, "model_curves/%s", MODEL_CURVE_NAMES[f->mc_ids[c]]);
        bad = h5_read_table(file, name, H5T_NATIVE_FLOAT, n, (hsize_t)f->max_mepochs,
                            in->mcurves + (size_t)c * n * f->max_mepochs) != 0;
    }
    if (bad) {
        snprintf(err, errlen, "%s: curves or layer datasets missing, of the wrong shape or damaged", path);
        goto fail;
    }
    /* take every finished job */
    for (size_t id = 0; id < n; id++) {
        const JobRow *row = &in->rows[id];
        if (row->job_id != (int32_t)id || status_parse(row->status) < 0) {
            snprintf(err, errlen, "%s: row %zu is damaged (job id %d, status '%.15s')", path, id, row->job_id, row->status);
            goto fail;
        }
        if (status_parse(row->status) == STATUS_PENDING) continue;
        copy_job(f, in, id);
        f->n_done++;
    }
    if (keep_snapshots) {
        H5L_info_t li;
        int linked = H5Lget_info(file, "snapshots", &li, H5P_DEFAULT) >= 0 && li.type == H5L_TYPE_EXTERNAL;
        int no_index = linked && access(f->index, F_OK) != 0;
        if (!no_index && snapstore_scan(&f->st, file, path)) {
            snprintf(err, errlen, "%s: cannot read /snapshots", path);
            goto fail;
        }
        /* snapshot files that are gone: before anything is trained. Resume reruns those jobs
         * (results are deterministic), merge refuses */
        int32_t *lost = calloc(n ? n : 1, sizeof(int32_t));
        char first[512];
        if (!lost) goto oom;
        long n_lost = snapstore_drop_missing(&f->st, lost, first, sizeof first);
        /* a live file without its FILE.snap.h5: every finished job that keeps snapshots lost them */
        for (size_t id = 0; no_index && id < n; id++)
            if (status_parse(f->rows[id].status) == STATUS_OK && f->rows[id].spec.snapshots[0])
                lost[id] = 1, n_lost++, snprintf(first, sizeof first, "%s", f->index);
        if (n_lost && keep_snapshots == 2) {
            snprintf(err, errlen, "%s: the snapshots of %ld jobs are gone (%s is missing or unreadable); "
                     "resume it with --resume to rerun those jobs, then merge", path, n_lost, first);
            free(lost);
            goto fail;
        }
        if (n_lost) {
            fprintf(stderr, "[synsweep] %s: the snapshots of %ld finished jobs are gone (%s is missing or "
                    "unreadable): those jobs are run again (their results are deterministic)\n", path, n_lost, first);
            for (size_t id = 0; id < n; id++)
                if (lost[id]) set_pending(f, id);
            f->dirty = 1;
        }
        free(lost);
    }
    free_state(in);
    H5Tclose(rt);
    H5Fclose(file);
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory reading it", path);
fail:
    free(rows);
    free_state(in);
    if (rt >= 0) H5Tclose(rt);
    H5Fclose(file);
    return -1;
}

/* The sweep stored in results file path (its sweep_yaml attribute). */
static int stored_sweep(const char *path, Sweep *sw, char *err, size_t errlen) {
    h5_init();
    if (file_check_regular(path, NULL, err, errlen)) return -1;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        snprintf(err, errlen, "%s: not a readable HDF5 file", path);
        return -1;
    }
    char *yaml = h5_read_attr_str(file, "sweep_yaml");
    H5Fclose(file);
    if (!yaml) {
        snprintf(err, errlen, "%s: has no sweep_yaml attribute; not a synsweep results file", path);
        return -1;
    }
    char e[900], *label = str_cat(path, " (sweep stored in it)");
    int rc = label ? sweep_load_text(yaml, strlen(yaml), label, "", sw, e, sizeof e) : -1;
    if (!label) snprintf(e, sizeof e, "out of memory");
    free(yaml), free(label);
    if (rc) {
        snprintf(err, errlen, "%s", e);
        return rc;
    }
    /* bounded by what is stored: a damaged or edited file whose sweep expands to more jobs
     * than it holds rows is refused before anything is allocated per job */
    int64_t nj = -1;
    hsize_t rows = 0;
    hid_t d = -1, sp = -1;
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int ok = file >= 0 && h5_read_attr_i64(file, "n_jobs", &nj) == 0 && (d = H5Dopen2(file, "results", H5P_DEFAULT)) >= 0 &&
             (sp = H5Dget_space(d)) >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
             H5Sget_simple_extent_dims(sp, &rows, NULL) >= 0;
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (file >= 0) H5Fclose(file);
    if (ok && ((long)rows != sw->n_jobs || nj != sw->n_jobs)) {
        snprintf(err, errlen, "%s: its stored sweep expands to %ld jobs, but n_jobs says %lld and /results holds %llu "
                 "rows; refusing to read it (damaged or edited)", path, sw->n_jobs, (long long)nj, (unsigned long long)rows);
        sweep_free(sw);
        return -1;
    }
    return 0;
}

void results_free(ResultsFile *f) { free_state(f); }

typedef struct SummaryRow {
    char status[16];
    double acc, sec;
    int32_t job_id; /* must be the row's index, as merge and resume require */
} SummaryRow;

/*
 * The columns status reads, taken from a finished file's /results chunks without HDF5's
 * filter pipeline. HDF5 inflates a chunk, then un-shuffles all of it byte by byte (whole
 * rows, 1.8 kB each in bench/coordinator_scale.sh): most of the time of reading 10^6 rows. Here a chunk is read as stored
 * (H5Dread_chunk), inflated with its checksum verified (as HDF5 does), and only the byte
 * planes of the wanted columns are gathered: after the shuffle filter, byte j of row i is at
 * j * rows_per_chunk + i. Only the pipeline written by h5_write_chunked (shuffle of the row
 * size, then deflate) is taken; for anything else, or a chunk stored otherwise (a filter
 * skipped, odd size, bad stream), the caller reads through HDF5, which reports damage.
 */
typedef struct ChunkCols {
    size_t row_bytes, rows;       /* a row's bytes, rows per chunk */
    size_t off[4], len[4];        /* status, test_acc, seconds, job_id within a row */
    unsigned char *z, *raw;       /* a stored chunk, an inflated one */
    size_t z_cap;
} ChunkCols;

/* Whether /results (dataset d, its columns checked) is chunked by rows, shuffled by the row
 * size and deflated; if so, fills c with the stored rows' layout (an earlier release's rows
 * are laid out otherwise). @return 1, or 0 (read it through HDF5). */
static int chunk_cols_init(hid_t d, ChunkCols *c) {
    memset(c, 0, sizeof(*c));
    hid_t pl = H5Dget_create_plist(d), rt = H5Dget_type(d);
    hsize_t ch = 0;
    int ok = pl >= 0 && H5Pget_layout(pl) == H5D_CHUNKED && H5Pget_chunk(pl, 1, &ch) == 1 && ch > 0 &&
             H5Pget_nfilters(pl) == 2;
    c->row_bytes = H5Tget_size(rt), c->rows = (size_t)ch;
    for (unsigned k = 0; ok && k < 2; k++) {
        unsigned flags, cd[4] = {0};
        size_t ncd = 4;
        H5Z_filter_t id = H5Pget_filter2(pl, k, &flags, &ncd, cd, 0, NULL, NULL);
        ok = k == 0 ? id == H5Z_FILTER_SHUFFLE && ncd >= 1 && cd[0] == c->row_bytes : id == H5Z_FILTER_DEFLATE;
    }
    if (pl >= 0) H5Pclose(pl);
    const char *name[4] = {"status", "test_acc", "seconds", "job_id"};
    for (int k = 0; ok && k < 4; k++) {
        int i = H5Tget_member_index(rt, name[k]);
        hid_t mt = i >= 0 ? H5Tget_member_type(rt, (unsigned)i) : -1;
        ok = mt >= 0;
        if (ok) c->off[k] = H5Tget_member_offset(rt, (unsigned)i), c->len[k] = H5Tget_size(mt), H5Tclose(mt);
        ok = ok && c->off[k] + c->len[k] <= c->row_bytes;
    }
    if (rt >= 0) H5Tclose(rt);
    ok = ok && c->len[0] == sizeof(((SummaryRow *)0)->status) && c->len[1] == sizeof(double) &&
         c->len[2] == sizeof(double) && c->len[3] == sizeof(int32_t) && c->rows <= ((size_t)1 << 26) / c->row_bytes && /* ours: 2 MB */
         (c->raw = malloc(c->rows * c->row_bytes));
    return ok;
}

/* Rows [start, start + cnt) of the chunk that starts at row start into out. @return 0, or
 * -1 (not stored as chunk_cols_init expects: read it through HDF5). */
static int chunk_cols_read(hid_t d, ChunkCols *c, hsize_t start, size_t cnt, SummaryRow *out) {
    hsize_t stored = 0;
    uint32_t mask = 0;
    size_t want = c->rows * c->row_bytes;
    if (H5Dget_chunk_storage_size(d, &start, &stored) < 0 || stored == 0 || stored > compressBound(want) + 64) return -1;
    if (stored > c->z_cap) {
        unsigned char *z = realloc(c->z, stored);
        if (!z) return -1;
        c->z = z, c->z_cap = stored;
    }
    if (H5Dread_chunk(d, H5P_DEFAULT, &start, &mask, c->z) < 0 || mask != 0) return -1;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) return -1;
    zs.next_in = c->z, zs.avail_in = (uInt)stored, zs.next_out = c->raw, zs.avail_out = (uInt)want;
    int zr = inflate(&zs, Z_FINISH);
    size_t got = zs.total_out;
    inflateEnd(&zs);
    if (zr != Z_STREAM_END || got != want) return -1;
    /* byte j of row i is at j * rows + i (with one row per chunk, at j: the same formula) */
    const size_t R = c->rows;
    for (size_t j = 0; j < c->len[0]; j++) {
        const unsigned char *p = c->raw + (c->off[0] + j) * R;
        for (size_t i = 0; i < cnt; i++) out[i].status[j] = (char)p[i];
    }
    for (int k = 1; k < 3; k++)
        for (size_t i = 0; i < cnt; i++) {
            unsigned char b[sizeof(double)];
            for (size_t j = 0; j < sizeof(double); j++) b[j] = c->raw[(c->off[k] + j) * R + i];
            memcpy(k == 1 ? &out[i].acc : &out[i].sec, b, sizeof b);
        }
    for (size_t i = 0; i < cnt; i++) {
        unsigned char b[sizeof(int32_t)];
        for (size_t j = 0; j < sizeof b; j++) b[j] = c->raw[(c->off[3] + j) * R + i];
        memcpy(&out[i].job_id, b, sizeof b);
    }
    return 0;
}

int results_read_summary(const char *path, Sweep *sw, int **status, double **acc, double **sec, char *err,
                         size_t errlen) {
    *status = NULL, *acc = *sec = NULL;
    if (stored_sweep(path, sw, err, errlen)) return -1;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = -1, fsp = -1, msp = -1, mt = -1, rt = -1;
    SummaryRow *buf = NULL;
    ChunkCols cc = {0};
    int fast = 0, checked = 0;
    int64_t fv = 0, nj = -1;
    hsize_t rows = 0;
    int rc = -1;
    char why[400];
    if (file < 0) {
        snprintf(err, errlen, "%s: not a readable HDF5 file", path);
        goto done;
    }
    if (h5_read_attr_i64(file, "format_version", &fv) == 0 && fv == 1) {
        snprintf(err, errlen, FORMAT1_REFUSAL, path, FORMAT_VERSION);
        goto done;
    }
    if (fv != FORMAT_VERSION || h5_read_attr_i64(file, "n_jobs", &nj)) {
        snprintf(err, errlen, "%s: not a synsweep results file of format %d", path, FORMAT_VERSION);
        goto done;
    }
    hid_t full = make_row_type(sw);
    rt = full >= 0 ? read_row_type(file, full) : -1;
    if (full >= 0) H5Tclose(full);
    if (rt < 0 || h5_check_compound(file, "results", rt, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s; refusing to read it (nothing was changed)", path, rt < 0 ? "out of memory" : why);
        goto done;
    }
    /* bounded by what is stored: the stored sweep's jobs must be the rows of /results */
    if ((d = H5Dopen2(file, "results", H5P_DEFAULT)) < 0 || (fsp = H5Dget_space(d)) < 0 ||
        H5Sget_simple_extent_ndims(fsp) != 1 || H5Sget_simple_extent_dims(fsp, &rows, NULL) < 0) {
        snprintf(err, errlen, "%s: cannot read /results", path);
        goto done;
    }
    if ((long)rows != sw->n_jobs || nj != sw->n_jobs) {
        snprintf(err, errlen, "%s: its stored sweep expands to %ld jobs, but n_jobs says %lld and /results holds %llu "
                 "rows; refusing to read it (damaged or edited)", path, sw->n_jobs, (long long)nj, (unsigned long long)rows);
        goto done;
    }
    /* every chunk of a chunked /results written: rows never stored would read as fill values */
    hid_t pl = H5Dget_create_plist(d);
    if (pl >= 0 && H5Pget_layout(pl) == H5D_CHUNKED) {
        hsize_t ch = 0, nch = 0;
        if (H5Pget_chunk(pl, 1, &ch) != 1 || ch == 0 || H5Dget_num_chunks(d, fsp, &nch) < 0 || nch < (rows + ch - 1) / ch) {
            snprintf(err, errlen, "%s: /results has %llu rows but only %llu of its %llu chunks are stored; refusing "
                     "to read it (damaged)", path, (unsigned long long)rows, (unsigned long long)nch,
                     (unsigned long long)(ch ? (rows + ch - 1) / ch : 0));
            H5Pclose(pl);
            goto done;
        }
    }
    if (pl >= 0) H5Pclose(pl);
    /* a finished file: chunk by chunk, only the wanted columns; otherwise blocks of rows */
    fast = chunk_cols_init(d, &cc);
    size_t n = (size_t)rows, block = fast ? cc.rows : 65536;
    *status = malloc((n ? n : 1) * sizeof(int));
    *acc = malloc((n ? n : 1) * sizeof(double));
    *sec = malloc((n ? n : 1) * sizeof(double));
    buf = malloc(block * sizeof(SummaryRow));
    hid_t st16 = h5_str_type(16);
    if ((mt = H5Tcreate(H5T_COMPOUND, sizeof(SummaryRow))) < 0 || st16 < 0 ||
        insert(mt, "status", HOFFSET(SummaryRow, status), st16, 1) ||
        insert(mt, "test_acc", HOFFSET(SummaryRow, acc), H5T_NATIVE_DOUBLE, 0) ||
        insert(mt, "seconds", HOFFSET(SummaryRow, sec), H5T_NATIVE_DOUBLE, 0) ||
        insert(mt, "job_id", HOFFSET(SummaryRow, job_id), H5T_NATIVE_INT32, 0) || !*status || !*acc || !*sec || !buf) {
        snprintf(err, errlen, "%s: out of memory reading it", path);
        goto done;
    }
    for (size_t at = 0; at < n; at += block) {
        hsize_t start = at, cnt = n - at < block ? n - at : block;
        int got = fast && chunk_cols_read(d, &cc, start, (size_t)cnt, buf) == 0;
        if (!got && msp >= 0) H5Sclose(msp), msp = -1;
        /* before HDF5 reads a chunk: every chunk whole (h5_check_chunks), once */
        if (!got && !checked++ && h5_check_chunks(d)) {
            snprintf(err, errlen, "%s: /results has a damaged chunk; refusing to read it", path);
            goto done;
        }
        if (!got && ((msp = H5Screate_simple(1, &cnt, NULL)) < 0 ||
                     H5Sselect_hyperslab(fsp, H5S_SELECT_SET, &start, NULL, &cnt, NULL) < 0 ||
                     H5Dread(d, mt, msp, fsp, H5P_DEFAULT, buf) < 0)) {
            snprintf(err, errlen, "%s: cannot read /results (damaged)", path);
            goto done;
        }
        for (size_t i = 0; i < cnt; i++) {
            buf[i].status[15] = 0;
            int s = status_parse(buf[i].status);
            if (s < 0 || buf[i].job_id != (int32_t)(at + i)) {
                snprintf(err, errlen, "%s: row %zu is damaged (job id %d, status '%.15s')", path, at + i,
                         buf[i].job_id, buf[i].status);
                goto done;
            }
            (*status)[at + i] = s, (*acc)[at + i] = buf[i].acc, (*sec)[at + i] = buf[i].sec;
        }
    }
    rc = 0;
done:
    if (msp >= 0) H5Sclose(msp);
    if (fsp >= 0) H5Sclose(fsp);
    if (mt >= 0) H5Tclose(mt);
    if (rt >= 0) H5Tclose(rt);
    if (d >= 0) H5Dclose(d);
    if (file >= 0) H5Fclose(file);
    free(buf), free(cc.z), free(cc.raw);
    if (rc) {
        free(*status), free(*acc), free(*sec);
        *status = NULL, *acc = *sec = NULL;
        sweep_free(sw);
    }
    return rc;
}

ResultsFile *results_resume(const char *path, const Sweep *sw, int retry_failed, char *err,
                            size_t errlen) {
    if (access(path, F_OK) != 0) return results_create(path, sw, err, errlen);
    Sweep old;
    char e[1200];
    if (stored_sweep(path, &old, err, errlen)) return NULL;
    int same = sweep_same_jobs(sw, &old, e, sizeof e);
    sweep_free(&old);
    if (!same) {
        snprintf(err, errlen, "%s: was written by another sweep, refusing to resume: %s", path, e);
        return NULL;
    }
    ResultsFile *f = new_state(path, sw, err, errlen);
    if (!f) return NULL;
    if ((f->lock_fd = lockfile_take(f->lock, path, err, errlen)) < 0 || journal_redo(f, err, errlen) ||
        load_file(f, path, 1, err, errlen)) {
        free_state(f);
        return NULL;
    }
    if (retry_failed)
        for (long id = 0; id < f->n_jobs; id++) {
            int st = status_parse(f->rows[id].status);
            if (st != STATUS_DIVERGED && st != STATUS_FAILED && st != STATUS_TIMEOUT) continue;
            set_pending(f, (size_t)id);
            f->dirty = 1;
        }
    /* a complete file with nothing to rerun is left as it is, byte for byte */
    if (!f->on_disk_complete) f->dirty = 1;
    /* jobs still pending take their spec from this sweep (data_dir may have changed) */
    for (long id = 0; id < f->n_jobs; id++)
        if (!results_job_done(f, id)) sweep_job(sw, id, &f->rows[id].spec);
    return f;
}

/* In merge's worker: what it reads now (shared with the parent), for the message if HDF5
 * crashes there (results_merge). */
static char *g_merge_note;
static size_t g_merge_note_len;

typedef struct SnapVisit {
    const char *path, *job; /* the file and its job group */
    char obj[512], why[200];  /* the object being checked, what is wrong with it */
} SnapVisit;

/* One object under a job's snapshot group: a group, or a float32 tensor of rank 1 to 4 of
 * bounded size whose chunks decode soundly (what snapstore writes). */
static herr_t snap_visit(hid_t g, const char *name, const H5O_info_t *info, void *op) {
    SnapVisit *v = op;
    snprintf(v->obj, sizeof v->obj, "%s/%s", v->job, name);
    if (g_merge_note) snprintf(g_merge_note, g_merge_note_len, "%s: %s", v->path, v->obj);
    if (info->num_attrs > 8) return snprintf(v->why, sizeof v->why, "%d attributes", (int)info->num_attrs), -1;
    if (info->type == H5O_TYPE_GROUP) return 0;
    if (info->type != H5O_TYPE_DATASET) return snprintf(v->why, sizeof v->why, "neither a group nor a tensor"), -1;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT), t = d >= 0 ? H5Dget_type(d) : -1, sp = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t dims[4] = {0, 0, 0, 0}, count = 1;
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    int ok = t >= 0 && H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == sizeof(float) && rank >= 1 && rank <= 4 &&
             H5Sget_simple_extent_dims(sp, dims, NULL) == rank;
    for (int i = 0; ok && i < rank; i++) ok = dims[i] < ((hsize_t)1 << 32) / count, count *= dims[i];
    if (!ok) snprintf(v->why, sizeof v->why, "not a float32 tensor of rank 1 to 4 and under 2^32 values");
    else if (h5_check_chunks(d)) snprintf(v->why, sizeof v->why, "a chunk does not decode to its size"), ok = 0;
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    return ok ? 0 : -1;
}

/* Every snapshot object that merge will copy from input in (loaded by load_file), checked
 * before H5Ocopy meets it: HDF5 crashed copying a damaged one (H5T_close_real, a double free
 * in H5D__chunk_copy). @return 0, or -1 with err naming the file and the object. */
static int merge_check_snapshots(const ResultsFile *in, const char *input, char *err, size_t errlen) {
    for (long id = 0; id < in->n_jobs; id++) {
        if (!in->st.snap[id] || !results_job_done(in, id)) continue;
        const SnapSource *s = &in->st.src[in->st.snap[id] - 1];
        char job[64];
        snprintf(job, sizeof job, "%sjob_%06ld", s->prefix, id);
        SnapVisit v = {s->path, job, "", "unreadable"};
        snprintf(v.obj, sizeof v.obj, "%s", job);
        if (g_merge_note) snprintf(g_merge_note, g_merge_note_len, "%s: %s", s->path, job);
        hid_t file = H5Fopen(s->path, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t g = file >= 0 ? H5Gopen2(file, job, H5P_DEFAULT) : -1;
        int bad = g < 0 || H5Ovisit2(g, H5_INDEX_NAME, H5_ITER_INC, snap_visit, &v, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS) < 0;
        if (g >= 0) H5Gclose(g);
        if (file >= 0) H5Fclose(file);
        if (bad) {
            snprintf(err, errlen, "%s: snapshot object %s is damaged (%s); refusing to merge %s (nothing was written)",
                     s->path, v.obj, v.why, input);
            return -1;
        }
    }
    return 0;
}

/* results_merge's work, in this process. */
static int merge_work(const char *out, const char *const *inputs, int n_inputs, char *err, size_t errlen) {
    Sweep sw;
    char e[1200];
    if (n_inputs < 1) {
        snprintf(err, errlen, "merge: no input files");
        return -1;
    }
    if (access(out, F_OK) == 0) {
        snprintf(err, errlen, "%s: already exists; synsweep never overwrites a results file", out);
        return -1;
    }
    if (stored_sweep(inputs[0], &sw, err, errlen)) return -1;
    ResultsFile *f = new_state(out, &sw, err, errlen);
    ResultsFile *in = NULL;
    int rc = -1;
    if (!f) goto done;
    for (int i = 0; i < n_inputs; i++) {
        Sweep other;
        if (stored_sweep(inputs[i], &other, err, errlen)) goto done;
        int same = sweep_same_jobs(&sw, &other, e, sizeof e);
        sweep_free(&other);
        if (!same) {
            snprintf(err, errlen, "%s and %s come from different sweeps: %s", inputs[0], inputs[i], e);
            goto done;
        }
        if (g_merge_note) snprintf(g_merge_note, g_merge_note_len, "%s", inputs[i]);
        if (!(in = new_state(inputs[i], &sw, err, errlen)) || load_file(in, inputs[i], 2, err, errlen) ||
            merge_check_snapshots(in, inputs[i], err, errlen))
            goto done;
        for (long id = 0; id < f->n_jobs; id++) {
            if (!results_job_done(in, id)) continue;
            if (results_job_done(f, id)) {
                snprintf(err, errlen, "job %ld has a result in two inputs (the second: %s)", id, inputs[i]);
                goto done;
            }
            copy_job(f, in, (size_t)id);
            f->n_done++;
            if (snapstore_take(&f->st, id, &in->st)) goto done;
        }
        free_state(in);
        in = NULL;
    }
    /* the snapshots copied straight from the inputs' files (checked above), so that a crash
     * in HDF5 is reported with the input's file and object */
    if (write_main(f, 1, err, errlen)) goto done;
    rc = 0;
done:
    if (f && f->st.n_src) snapstore_remove_parts(&f->st);
    free_state(in);
    free_state(f);
    sweep_free(&sw);
    return rc;
}

int results_merge_isolated = 1;

/* Removes what a merge into out that stopped may have left, of what was not there before
 * (had: bit k for name k of merge_debris). */
static const char *const merge_debris[] = {"", ".tmp", ".snap.h5", ".snap.h5.tmp", ".parts"};
static unsigned merge_debris_present(const char *out) {
    unsigned had = 0;
    for (unsigned k = 0; k < 5; k++) {
        char *p = str_cat(out, merge_debris[k]);
        if (!p || access(p, F_OK) == 0) had |= 1u << k;
        free(p);
    }
    return had;
}
static void merge_debris_remove(const char *out, unsigned had) {
    for (unsigned k = 0; k < 4; k++) {
        char *p = (had >> k) & 1 ? NULL : str_cat(out, merge_debris[k]);
        if (p) unlink(p);
        free(p);
    }
    SnapStore st;
    if (!((had >> 4) & 1) && snapstore_init(&st, out, 0) == 0) snapstore_remove_parts(&st), snapstore_free(&st);
}

/*
 * Merge is no MPI process (main.c calls MPI_Init for run only), so its work runs in a forked
 * child: HDF5 1.10 crashes on some damaged metadata that no check here sees (byte mutants of
 * a finished file crashed H5Ocopy), and such a crash must be a refusal naming the input, not
 * the end of synsweep with OUT.parts left behind. The child notes in shared memory what it
 * reads; the parent reports it and removes whatever the child left.
 */
int results_merge(const char *out, const char *const *inputs, int n_inputs, char *err, size_t errlen) {
    if (!results_merge_isolated) return merge_work(out, inputs, n_inputs, err, errlen);
    typedef struct MergeShared {
        char where[2048], err[1024];
    } MergeShared;
    unsigned had = merge_debris_present(out);
    /* memory shared with the child: /dev/zero mapped shared (POSIX has no MAP_ANONYMOUS) */
    int zfd = open("/dev/zero", O_RDWR);
    MergeShared *sh = zfd < 0 ? MAP_FAILED : mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, zfd, 0);
    if (zfd >= 0) close(zfd);
    if (sh == MAP_FAILED) return merge_work(out, inputs, n_inputs, err, errlen);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        g_merge_note = h5_copy_note = sh->where;
        g_merge_note_len = h5_copy_note_len = sizeof sh->where;
        int rc = merge_work(out, inputs, n_inputs, sh->err, sizeof sh->err);
        fflush(NULL);
        _exit(rc ? 1 : 0);
    }
    int st = 0, rc = -1;
    pid_t w = -1;
    while (pid > 0 && (w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
    }
    if (pid < 0) {
        rc = merge_work(out, inputs, n_inputs, err, errlen);
    } else if (w == pid && WIFEXITED(st) && WEXITSTATUS(st) <= 1) {
        rc = WEXITSTATUS(st) ? -1 : 0;
        if (rc) snprintf(err, errlen, "%s", sh->err);
    } else {
        int sig = w == pid && WIFSIGNALED(st) ? WTERMSIG(st) : 0;
        sh->where[sizeof sh->where - 1] = 0;
        snprintf(err, errlen, "%s is damaged: HDF5 crashed (%s) reading it; refusing to merge (nothing was written)",
                 sh->where[0] ? sh->where : "an input", sig ? strsignal(sig) : "lost");
    }
    if (rc) merge_debris_remove(out, had);
    munmap(sh, sizeof *sh);
    return rc;
}

/* ---------------------------------------------------------------- receiving results */

int results_put(ResultsFile *f, const JobSpec *spec, const JobResult *r, char *err, size_t errlen) {
    if (r->job_id < 0 || r->job_id >= f->n_jobs) {
        snprintf(err, errlen, "%s: result for job %d, but the sweep has %ld jobs", f->path, r->job_id, f->n_jobs);
        return -1;
    }
    JobRow *row = &f->rows[r->job_id];
    if (results_job_done(f, r->job_id)) {
        snprintf(err, errlen, "%s: job %d reported twice", f->path, r->job_id);
        return -1;
    }
    if (f->n_fresh == f->cap_fresh) {
        long cap = f->cap_fresh ? 2 * f->cap_fresh : 1024;
        long *nf = realloc(f->fresh, (size_t)cap * sizeof(long));
        if (!nf) goto oom;
        f->fresh = nf, f->cap_fresh = cap;
    }
    if (r->snaps && r->snap_mask && snapstore_add(&f->st, r)) goto oom;
    f->fresh[f->n_fresh++] = r->job_id;
    row->spec = *spec;
    snprintf(row->status, sizeof row->status, "%s", status_name(r->status));
    row->m = r->m;
    row->n_train = r->n_train, row->n_test = r->n_test, row->n_params = r->n_params;
    row->seconds = r->seconds, row->rank = r->rank;
    snprintf(row->host, sizeof row->host, "%s", r->host);
    snprintf(row->message, sizeof row->message, "%s", r->message);
    size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers;
    int ne = r->curves ? (r->n_epochs < f->max_epochs ? r->n_epochs : f->max_epochs) : 0;
    for (int c = 0; c < N_CURVES; c++)
        for (int e = 0; e < ne; e++)
            f->curves[((size_t)c * n + r->job_id) * E + e] = r->curves[(size_t)c * r->n_epochs + e];
    for (int s = 0; s < N_STAGES; s++)
        for (int k = 0; k < N_LAYER_METRICS; k++)
            for (int l = 0; l < r->n_layers && l < f->max_layers; l++)
                f->layers[(((size_t)s * N_LAYER_METRICS + k) * n + r->job_id) * Lm + l] = r->layer[s][k][l];
    for (int l = 0; l <= r->n_layers && l <= f->max_layers; l++)
        f->sizes[(size_t)r->job_id * (Lm + 1) + l] = r->sizes[l];
    for (int e = 0; r->angle_curve && e < ne; e++)
        for (int l = 0; l < r->n_layers && l < f->max_layers; l++)
            f->angle[((size_t)r->job_id * E + e) * Lm + l] = r->angle_curve[(size_t)e * MLP_MAX_LAYERS + l];
    for (int c = 0; r->mcurves && c < f->n_mc; c++)
        for (int e = 0; e < r->n_mepochs && e < f->max_mepochs; e++)
            f->mcurves[((size_t)c * n + r->job_id) * f->max_mepochs + e] = r->mcurves[(size_t)e * N_MODEL_CURVES + f->mc_ids[c]];
    for (int k = 0; r->noise_curve && k < r->n_noise_points && k < f->max_noise; k++)
        memcpy(f->noise + ((size_t)r->job_id * f->max_noise + k) * NOISE_COLS, r->noise_curve + (size_t)k * NOISE_COLS,
               NOISE_COLS * sizeof(float));
    f->n_done++;
    f->dirty = 1;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory buffering snapshots", f->path);
    return -1;
}

int results_close(ResultsFile *f, char *err, size_t errlen) {
    int rc;
    if (f->n_done == f->n_jobs && f->on_disk_complete && !f->dirty) {
        rc = 0; /* complete on disk already: never rewritten */
    } else if (f->n_done == f->n_jobs) {
        /* final: snapshots copied in, then the part files go */
        rc = snapstore_write_part(&f->st, err, errlen) || write_main(f, 1, err, errlen) ? -1 : 0;
        if (rc == 0) unlink(f->index), unlink(f->journal), snapstore_remove_parts(&f->st);
    } else {
        rc = results_checkpoint(f, err, errlen);
    }
    free_state(f);
    return rc;
}
