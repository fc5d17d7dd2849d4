/*
 * results.c: HDF5 writer. Every H5* return is checked (< 0 is failure). String columns are
 * fixed-length, NUL-terminated ASCII, which numpy reads as clean bytes (`S` dtype).
 */
#include "results.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mlp.h"

#define FORMAT_VERSION 1

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
    hid_t file;
    char path[1024];
    long n_jobs, n_done;
    int max_epochs, max_layers;
    JobRow *rows;
    float *curves;   /* (N_CURVES, n_jobs, max_epochs) */
    double *layers;  /* (N_STAGES, N_LAYER_METRICS, n_jobs, max_layers) */
    int32_t *sizes;  /* (n_jobs, max_layers + 1) */
    hid_t row_type;
    int dirty;
    long lo, hi; /* job ids [lo, hi) changed since the last flush */
};

#define H5TRY(expr, what)                                                        \
    do {                                                                           \
        if ((expr) < 0) {                                                          \
            snprintf(err, errlen, "%s: HDF5 failed to %s", f->path, what);         \
            goto fail;                                                             \
        }                                                                          \
    } while (0)

static hid_t str_type(size_t n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, n) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static int insert(hid_t ct, const char *name, size_t off, hid_t t, int close_t) {
    int rc = H5Tinsert(ct, name, off, t) < 0 ? -1 : 0;
    if (close_t) H5Tclose(t);
    return rc;
}

static int insert_param(hid_t ct, const ParamDef *d) {
    size_t off = HOFFSET(JobRow, spec) + d->offset;
    if (d->kind == PK_INT || d->kind == PK_BOOL) return insert(ct, d->name, off, H5T_NATIVE_INT32, 0);
    if (d->kind == PK_REAL) return insert(ct, d->name, off, H5T_NATIVE_DOUBLE, 0);
    return insert(ct, d->name, off, str_type(d->size), 1);
}

/* The compound type of a row: job_id, status, grid axes, other parameters, metrics, bookkeeping. */
static hid_t make_row_type(const Sweep *sw) {
    hid_t ct = H5Tcreate(H5T_COMPOUND, sizeof(JobRow));
    if (ct < 0) return -1;
    int bad = 0;
    bad |= insert(ct, "job_id", HOFFSET(JobRow, job_id), H5T_NATIVE_INT32, 0);
    bad |= insert(ct, "status", HOFFSET(JobRow, status), str_type(16), 1);
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
    bad |= insert(ct, "host", HOFFSET(JobRow, host), str_type(64), 1);
    bad |= insert(ct, "message", HOFFSET(JobRow, message), str_type(256), 1);
    if (bad) {
        H5Tclose(ct);
        return -1;
    }
    return ct;
}

static int attr_str(hid_t loc, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
    int rc = -1;
    if (t < 0 || sp < 0) goto done;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) goto done;
    if ((a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0) goto done;
    rc = H5Awrite(a, t, &value) < 0 ? -1 : 0;
done:
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    return rc;
}

static int attr_i64(hid_t loc, const char *name, int64_t v) {
    hid_t sp = H5Screate(H5S_SCALAR), a = -1;
    int rc = -1;
    if (sp < 0) return -1;
    if (H5Aexists(loc, name) > 0) a = H5Aopen(loc, name, H5P_DEFAULT);
    else a = H5Acreate2(loc, name, H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) rc = H5Awrite(a, H5T_NATIVE_INT64, &v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

/* Chunked, shuffled, deflated dataset of rank 1 or 2 with unlimited dims, filled with fill. */
static hid_t make_dset(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                       const void *fill) {
    hsize_t maxd[2] = {H5S_UNLIMITED, H5S_UNLIMITED}, chunk[2];
    chunk[0] = dims[0] < 1 ? 1 : dims[0] > 256 ? 256 : dims[0];
    if (rank == 2) chunk[1] = dims[1] < 1 ? 1 : dims[1] > 4096 ? 4096 : dims[1];
    hid_t sp = H5Screate_simple(rank, dims, maxd), pl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    if (sp < 0 || pl < 0) goto done;
    if (H5Pset_chunk(pl, rank, chunk) < 0 || H5Pset_shuffle(pl) < 0 || H5Pset_deflate(pl, 4) < 0)
        goto done;
    if (fill && H5Pset_fill_value(pl, type, fill) < 0) goto done;
    d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
done:
    if (pl >= 0) H5Pclose(pl);
    if (sp >= 0) H5Sclose(sp);
    return d;
}

/*
 * Writes rows [lo, hi) of a (n_jobs) or (n_jobs, width) dataset loc/name from buf, which
 * holds all n_jobs rows (width elements of elem bytes each).
 */
static int write_rows(hid_t loc, const char *name, hid_t type, const void *buf, int rank,
                      hsize_t width, size_t elem, long lo, long hi) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT), fs = -1, ms = -1;
    int rc = -1;
    if (d < 0) return -1;
    hsize_t start[2] = {(hsize_t)lo, 0}, count[2] = {(hsize_t)(hi - lo), width};
    if ((fs = H5Dget_space(d)) < 0) goto done;
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0) goto done;
    if ((ms = H5Screate_simple(rank, count, NULL)) < 0) goto done;
    rc = H5Dwrite(d, type, ms, fs, H5P_DEFAULT, (const char *)buf + (size_t)lo * width * elem) < 0 ? -1 : 0;
done:
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    H5Dclose(d);
    return rc;
}

static void free_file(ResultsFile *f) {
    if (f->row_type >= 0) H5Tclose(f->row_type);
    free(f->rows), free(f->curves), free(f->layers), free(f->sizes);
    free(f);
}

ResultsFile *results_create(const char *path, const Sweep *sw, char *err, size_t errlen) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (access(path, F_OK) == 0) {
        snprintf(err, errlen, "%s: already exists; synsweep never overwrites a results file "
                 "(choose another -o, or move the file away)", path);
        return NULL;
    }
    ResultsFile *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->file = -1;
    f->row_type = -1;
    snprintf(f->path, sizeof f->path, "%s", path);
    f->n_jobs = sw->n_jobs;
    f->max_epochs = sw->max_epochs;
    int created = 0;
    for (long id = 0; id < sw->n_jobs; id++) {
        JobSpec s;
        int h[MLP_MAX_LAYERS];
        sweep_job(sw, id, &s);
        int L = jobspec_hidden(&s, h) + 1;
        if (L > f->max_layers) f->max_layers = L;
    }
    size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers;
    f->rows = calloc(n, sizeof(JobRow));
    f->curves = malloc(N_CURVES * n * (E ? E : 1) * sizeof(float));
    f->layers = malloc((size_t)N_STAGES * N_LAYER_METRICS * n * Lm * sizeof(double));
    f->sizes = calloc(n * (Lm + 1), sizeof(int32_t));
    if (!f->rows || !f->curves || !f->layers || !f->sizes) {
        snprintf(err, errlen, "%s: out of memory for %zu job rows", path, n);
        goto fail;
    }
    for (size_t i = 0; i < N_CURVES * n * E; i++) f->curves[i] = NAN;
    for (size_t i = 0; i < (size_t)N_STAGES * N_LAYER_METRICS * n * Lm; i++) f->layers[i] = NAN;
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
    f->file = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (f->file < 0) {
        snprintf(err, errlen, "%s: cannot create the results file (does its directory exist "
                 "and is it writable?)", path);
        goto fail;
    }
    created = 1;
    char now[32], axes[1024] = "";
    time_t t = time(NULL);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    for (int a = 0; a < sw->n_axes; a++) {
        if (a) strcat(axes, ",");
        strcat(axes, sw->axes[a].key);
    }
    H5TRY(attr_str(f->file, "synsweep_version", SYNSWEEP_VERSION), "write attributes");
    H5TRY(attr_i64(f->file, "format_version", FORMAT_VERSION), "write attributes");
    H5TRY(attr_str(f->file, "sweep_yaml", sw->yaml), "write attributes");
    H5TRY(attr_str(f->file, "sweep_path", sw->path), "write attributes");
    H5TRY(attr_str(f->file, "sweep_name", sw->name), "write attributes");
    H5TRY(attr_str(f->file, "created", now), "write attributes");
    H5TRY(attr_str(f->file, "axes", axes), "write attributes");
    H5TRY(attr_i64(f->file, "n_jobs", f->n_jobs), "write attributes");
    H5TRY(attr_i64(f->file, "n_done", 0), "write attributes");
    H5TRY(attr_i64(f->file, "complete", 0), "write attributes");

    hsize_t d1[1] = {n}, d2[2] = {n, E}, dl[2] = {n, Lm}, ds[2] = {n, Lm + 1};
    hid_t d, g, gs;
    H5TRY(d = make_dset(f->file, "results", f->row_type, 1, d1, NULL), "create /results");
    H5Dclose(d);
    H5TRY(g = H5Gcreate2(f->file, "curves", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /curves");
    float fnan = NAN;
    double dnan = NAN;
    for (int c = 0; c < N_CURVES; c++) {
        H5TRY(d = make_dset(g, CURVE_NAMES[c], H5T_NATIVE_FLOAT, 2, d2, &fnan), "create a curve");
        H5Dclose(d);
    }
    H5Gclose(g);
    H5TRY(g = H5Gcreate2(f->file, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /layers");
    H5TRY(d = make_dset(g, "sizes", H5T_NATIVE_INT32, 2, ds, NULL), "create /layers/sizes");
    H5Dclose(d);
    for (int s = 0; s < N_STAGES; s++) {
        H5TRY(gs = H5Gcreate2(g, STAGE_NAMES[s], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create a stage group");
        for (int k = 0; k < N_LAYER_METRICS; k++) {
            H5TRY(d = make_dset(gs, LAYER_METRIC_NAMES[k], H5T_NATIVE_DOUBLE, 2, dl, &dnan), "create a layer metric");
            H5Dclose(d);
        }
        H5Gclose(gs);
    }
    H5Gclose(g);
    H5TRY(g = H5Gcreate2(f->file, "snapshots", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /snapshots");
    H5Gclose(g);
    f->dirty = 1, f->lo = 0, f->hi = f->n_jobs;
    if (results_flush(f, err, errlen)) goto fail;
    return f;
fail:
    if (f->file >= 0) H5Fclose(f->file);
    if (created) unlink(path);
    free_file(f);
    return NULL;
}

/* One snapshot array at loc/name of rank 2 or 4, chunked and compressed. */
static int write_array(hid_t loc, const char *name, const float *x, int rank, const hsize_t *dims) {
    hsize_t chunk[4];
    for (int i = 0; i < rank; i++) chunk[i] = dims[i];
    while (chunk[0] > 1 && chunk[0] * chunk[1] * (rank == 4 ? chunk[2] * chunk[3] : 1) > (1u << 20)) chunk[0] /= 2;
    hid_t sp = H5Screate_simple(rank, dims, NULL), pl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    int rc = -1;
    if (sp < 0 || pl < 0) goto done;
    if (H5Pset_chunk(pl, rank, chunk) < 0 || H5Pset_shuffle(pl) < 0 || H5Pset_deflate(pl, 4) < 0)
        goto done;
    if ((d = H5Dcreate2(loc, name, H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, pl, H5P_DEFAULT)) < 0) goto done;
    rc = H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0 ? -1 : 0;
done:
    if (d >= 0) H5Dclose(d);
    if (pl >= 0) H5Pclose(pl);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

static int write_matrix(hid_t loc, const char *name, const float *x, int rows, int cols) {
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
    return write_array(loc, name, x, 2, dims);
}

/* /snapshots/job_NNNNNN/<stage>/{conv_W, conv_b, W<l>, b<l>, B<l>, Bin}: the layout of the
 * model that made them (mlp_create gives the offsets of every FC tensor). */
static int write_snapshots(ResultsFile *f, const JobResult *r, char *err, size_t errlen) {
    Mlp m = {0};
    hid_t gj = -1, gs = -1;
    char name[64];
    if (mlp_create(&m, r->sizes, r->n_layers + 1, (FeedbackRule)r->rule, 1, r->need_dinput) ||
        (int64_t)m.n_params != r->n_params || (int64_t)m.n_fb != r->n_fb) {
        snprintf(err, errlen, "%s: job %d: snapshot does not match its model shape", f->path, r->job_id);
        goto fail;
    }
    snprintf(name, sizeof name, "snapshots/job_%06d", r->job_id);
    H5TRY(gj = H5Gcreate2(f->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create a snapshot group");
    H5TRY(attr_i64(gj, "job_id", r->job_id), "write attributes");
    int k = 0;
    int C = r->sizes[r->n_layers];
    for (int s = 0; s < N_STAGES; s++) {
        if (!((r->snap_mask >> s) & 1)) continue;
        const float *conv = r->snaps + (size_t)k++ * (size_t)(r->n_conv + r->n_params + r->n_fb);
        const float *p = conv + r->n_conv, *fb = p + r->n_params;
        H5TRY(gs = H5Gcreate2(gj, STAGE_NAMES[s], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create a stage group");
        if (r->n_conv) {
            int N = r->conv_shape[0], Cin = r->conv_shape[1], K = r->conv_shape[2];
            hsize_t dims[4] = {(hsize_t)N, (hsize_t)Cin, (hsize_t)K, (hsize_t)K};
            H5TRY(write_array(gs, "conv_W", conv, 4, dims), "write a snapshot");
            H5TRY(write_matrix(gs, "conv_b", conv + (size_t)N * Cin * K * K, 1, N), "write a snapshot");
        }
        for (int l = 0; l < m.n_layers; l++) {
            int O = m.sizes[l + 1], I = m.sizes[l];
            snprintf(name, sizeof name, "W%d", l);
            H5TRY(write_matrix(gs, name, p + (m.W[l] - m.params), O, I), "write a snapshot");
            snprintf(name, sizeof name, "b%d", l);
            H5TRY(write_matrix(gs, name, p + (m.b[l] - m.params), 1, O), "write a snapshot");
            if (m.F[l]) {
                snprintf(name, sizeof name, "B%d", l);
                int fr = m.rule == RULE_DFA ? C : O, fc = m.rule == RULE_DFA ? O : I;
                H5TRY(write_matrix(gs, name, fb + (m.F[l] - m.fb), fr, fc), "write a snapshot");
            }
        }
        if (m.Fin) H5TRY(write_matrix(gs, "Bin", fb + (m.Fin - m.fb), C, m.sizes[0]), "write a snapshot");
        H5Gclose(gs);
        gs = -1;
    }
    H5Gclose(gj);
    mlp_free(&m);
    return 0;
fail:
    if (gs >= 0) H5Gclose(gs);
    if (gj >= 0) H5Gclose(gj);
    mlp_free(&m);
    return -1;
}

int results_put(ResultsFile *f, const JobSpec *spec, const JobResult *r, char *err, size_t errlen) {
    if (r->job_id < 0 || r->job_id >= f->n_jobs) {
        snprintf(err, errlen, "%s: result for job %d, but the sweep has %ld jobs", f->path, r->job_id, f->n_jobs);
        return -1;
    }
    JobRow *row = &f->rows[r->job_id];
    if (strcmp(row->status, status_name(STATUS_PENDING)) != 0) {
        snprintf(err, errlen, "%s: job %d reported twice", f->path, r->job_id);
        return -1;
    }
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
    f->n_done++;
    f->dirty = 1;
    if (r->job_id < f->lo) f->lo = r->job_id;
    if (r->job_id + 1 > f->hi) f->hi = r->job_id + 1;
    if (r->snaps && r->snap_mask && write_snapshots(f, r, err, errlen)) return -1;
    return 0;
}

int results_flush(ResultsFile *f, char *err, size_t errlen) {
    if (!f->dirty) return 0;
    size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers;
    long lo = f->lo, hi = f->hi;
    char name[128];
    if (hi > lo) {
        H5TRY(write_rows(f->file, "results", f->row_type, f->rows, 1, 1, sizeof(JobRow), lo, hi),
              "write /results");
        if (E)
            for (int c = 0; c < N_CURVES; c++) {
                snprintf(name, sizeof name, "curves/%s", CURVE_NAMES[c]);
                H5TRY(write_rows(f->file, name, H5T_NATIVE_FLOAT, f->curves + (size_t)c * n * E, 2,
                                 E, sizeof(float), lo, hi), "write curves");
            }
        if (Lm) {
            H5TRY(write_rows(f->file, "layers/sizes", H5T_NATIVE_INT32, f->sizes, 2, Lm + 1,
                             sizeof(int32_t), lo, hi), "write /layers/sizes");
            for (int s = 0; s < N_STAGES; s++)
                for (int k = 0; k < N_LAYER_METRICS; k++) {
                    snprintf(name, sizeof name, "layers/%s/%s", STAGE_NAMES[s], LAYER_METRIC_NAMES[k]);
                    H5TRY(write_rows(f->file, name, H5T_NATIVE_DOUBLE,
                                     f->layers + ((size_t)s * N_LAYER_METRICS + k) * n * Lm, 2, Lm,
                                     sizeof(double), lo, hi), "write layer metrics");
                }
        }
    }
    H5TRY(attr_i64(f->file, "n_done", f->n_done), "write attributes");
    H5TRY(H5Fflush(f->file, H5F_SCOPE_GLOBAL), "flush");
    f->dirty = 0, f->lo = f->n_jobs, f->hi = 0;
    return 0;
fail:
    return -1;
}

int results_close(ResultsFile *f, char *err, size_t errlen) {
    int rc = 0;
    if (f->n_done == f->n_jobs) {
        f->dirty = 1;
        if (attr_i64(f->file, "complete", 1) < 0) rc = -1;
    }
    if (results_flush(f, err, errlen)) rc = -1;
    if (H5Fclose(f->file) < 0 && rc == 0) {
        snprintf(err, errlen, "%s: HDF5 failed to close the file", f->path);
        rc = -1;
    }
    free_file(f);
    return rc;
}
