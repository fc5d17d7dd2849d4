/*
 * results_state.c: the results file in memory (results_internal.h): one JobRow per job, the
 * curves and per-layer metrics, the snapshot store; the HDF5 row type of /results (and, for
 * files of earlier releases, the columns they may lack); provenance of this run.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "blas.h"
#include "build_info.h"
#include "data.h"
#include "h5util.h"
#include "lockfile.h"
#include "snapstore.h"
#include "results_internal.h"

/* provenance of this run (results_set_run_info) */
char *rf_hosts, rf_mpi[256];

void results_set_run_info(const char *hosts, const char *mpi_library) {
    free(rf_hosts);
    rf_hosts = hosts ? strdup(hosts) : NULL;
    snprintf(rf_mpi, sizeof rf_mpi, "%s", mpi_library ? mpi_library : "");
}

/* Adds each comma-separated name of items to the list *list that is not in it. @return 0 or -1. */
int rf_host_list_add(char **list, const char *items) {
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
const char *rf_io_cause(void) {
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
void rf_h5_init(void) {
    static int done;
    if (!done) H5dont_atexit(), done = 1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* a SHA-256 repository's 64 hex digits and "+dirty" fit a row's field */
_Static_assert(sizeof SYNSWEEP_GIT_COMMIT "+dirty" <= sizeof((JobRow *)0)->git_commit, "git_commit field too short");
const char *rf_build_id(void) {
    return SYNSWEEP_GIT_DIRTY == 1 ? SYNSWEEP_GIT_COMMIT "+dirty" : SYNSWEEP_GIT_COMMIT;
}

void rf_utc_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

/* ---------------------------------------------------------------- types and helpers */

int rf_insert(hid_t ct, const char *name, size_t off, hid_t t, int close_t) {
    int rc = H5Tinsert(ct, name, off, t) < 0 ? -1 : 0;
    if (close_t) H5Tclose(t);
    return rc;
}

static int insert_param(hid_t ct, const ParamDef *d) {
    size_t off = HOFFSET(JobRow, spec) + d->offset;
    if (d->kind == PK_INT || d->kind == PK_BOOL) return rf_insert(ct, d->name, off, H5T_NATIVE_INT32, 0);
    if (d->kind == PK_REAL) return rf_insert(ct, d->name, off, H5T_NATIVE_DOUBLE, 0);
    return rf_insert(ct, d->name, off, h5_str_type(d->size), 1);
}

/* The compound type of a row: job_id, status, grid axes, other parameters, metrics, bookkeeping. */
hid_t rf_make_row_type(const Sweep *sw) {
    hid_t ct = H5Tcreate(H5T_COMPOUND, sizeof(JobRow));
    if (ct < 0) return -1;
    int bad = 0;
    bad |= rf_insert(ct, "job_id", HOFFSET(JobRow, job_id), H5T_NATIVE_INT32, 0);
    bad |= rf_insert(ct, "status", HOFFSET(JobRow, status), h5_str_type(16), 1);
    for (int a = 0; a < sw->n_axes; a++) bad |= insert_param(ct, param_find(sw->axes[a].key));
    for (int i = 0; i < N_PARAMS; i++)
        if (sweep_axis(sw, PARAMS[i].name) < 0) bad |= insert_param(ct, &PARAMS[i]);
    for (int i = 0; i < N_METRICS; i++)
        bad |= rf_insert(ct, METRICS[i].name, HOFFSET(JobRow, m) + METRICS[i].offset, H5T_NATIVE_DOUBLE, 0);
    bad |= rf_insert(ct, "n_train", HOFFSET(JobRow, n_train), H5T_NATIVE_INT32, 0);
    bad |= rf_insert(ct, "n_test", HOFFSET(JobRow, n_test), H5T_NATIVE_INT32, 0);
    bad |= rf_insert(ct, "n_params", HOFFSET(JobRow, n_params), H5T_NATIVE_INT64, 0);
    bad |= rf_insert(ct, "seconds", HOFFSET(JobRow, seconds), H5T_NATIVE_DOUBLE, 0);
    bad |= rf_insert(ct, "rank", HOFFSET(JobRow, rank), H5T_NATIVE_INT32, 0);
    bad |= rf_insert(ct, "host", HOFFSET(JobRow, host), h5_str_type(64), 1);
    bad |= rf_insert(ct, "git_commit", HOFFSET(JobRow, git_commit), h5_str_type(sizeof((JobRow *)0)->git_commit), 1);
    bad |= rf_insert(ct, "message", HOFFSET(JobRow, message), h5_str_type(256), 1);
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
    "mean_release", "w_p_corr", "snr_paper", "snr_code", "n_sleeps", "stage_seconds_saved"};

/* A column of the full row type a file may lack: a parameter (its value is the stored sweep's,
 * else its default: the row's spec as rf_new_state made it), a late metric (NaN) or the rows'
 * git_commit ("": the build that ran the job is not known). */
int rf_column_optional(const char *name) {
    if (param_find(name) || metric_is_kinds(name)) return 1; /* a kind's metric: files before the kind lack it */
    if (!strcmp(name, "git_commit")) return 1;
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
hid_t rf_read_row_type(hid_t file, hid_t rt) {
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
        else if (H5Tget_member_index(ft, mn) >= 0 || !rf_column_optional(mn))
            bad = rf_insert(ct, mn, H5Tget_member_offset(rt, (unsigned)i), H5Tget_member_type(rt, (unsigned)i), 1);
        if (mn) H5free_memory(mn);
    }
    H5Tclose(ft);
    if (bad) H5Tclose(ct);
    return bad ? -1 : ct;
}

/* ---------------------------------------------------------------- state */

void rf_free_state(ResultsFile *f) {
    if (!f) return;
    if (f->lock_fd > 0) lockfile_release(f->lock_fd, f->lock);
    if (f->fd > 0) close(f->fd);
    free(f->journal), free(f->index), free(f->index_tmp), free(f->fresh);
    if (f->row_type >= 0) H5Tclose(f->row_type);
    snapstore_free(&f->st);
    free(f->path), free(f->tmp), free(f->lock), free(f->sweep_path), free(f->hosts), free(f->builds);
    free(f->yaml), free(f->rows), free(f->curves), free(f->layers), free(f->sizes), free(f->angle), free(f->noise);
    free(f->mcurves);
    free(f);
}

/* Allocates f's per-job arrays for its n_jobs, max_epochs, max_layers and max_noise, every
 * value NaN (sizes 0). @return 0 or -1. */
int rf_alloc_arrays(ResultsFile *f) {
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
void rf_copy_job(ResultsFile *f, const ResultsFile *src, size_t id) {
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
ResultsFile *rf_new_state(const char *path, const Sweep *sw, char *err, size_t errlen) {
    rf_h5_init();
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
    rf_utc_now(f->created, sizeof f->created);
    memcpy(f->started, f->created, sizeof f->started);
    char me[256] = "";
    gethostname(me, sizeof me - 1);
    if (rf_host_list_add(&f->hosts, rf_hosts ? rf_hosts : me)) {
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
    if (!f->yaml || !f->sweep_path || !f->rows || rf_alloc_arrays(f) || snapstore_init(&f->st, path, f->n_jobs)) {
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
    if ((f->row_type = rf_make_row_type(sw)) < 0) {
        snprintf(err, errlen, "%s: cannot build the results row type", path);
        goto fail;
    }
    return f;
fail:
    rf_free_state(f);
    return NULL;
}

int results_job_done(const ResultsFile *f, long id) {
    return strcmp(f->rows[id].status, status_name(STATUS_PENDING)) != 0;
}

long results_n_done(const ResultsFile *f) { return f->n_done; }
