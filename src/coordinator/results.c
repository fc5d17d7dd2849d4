/*
 * results.c: HDF5 writer and reader of the results file. Every H5* return is checked
 * (< 0 is failure). String columns are fixed-length, NUL-terminated ASCII, which numpy
 * reads as clean bytes (`S` dtype).
 *
 * State in memory: one JobRow per job, the curves and per-layer metrics, and for each job
 * with snapshots where they are (a part file of ours, or a file we read them from). A
 * checkpoint writes the snapshots received since the last one into a new part file, then
 * the whole main file to FILE.tmp, fsync, rename over FILE, fsync of the directory.
 */
#include "results.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#define FORMAT_VERSION 2

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

/* Where a job's snapshot group lives: file src[k], object prefix + "job_NNNNNN". */
typedef struct SnapSource {
    char path[1100];   /* as opened by us */
    char prefix[16];   /* object path of job N: prefix + "job_NNNNNN" */
    char link[1100];   /* as written in an external link (relative to the main file's directory) */
    int ours;          /* a part file of this results file: link to it; else copy it to a part */
} SnapSource;

struct ResultsFile {
    char path[1024], tmp[1100], parts_dir[1100], parts_rel[1100];
    char *yaml, sweep_path[1024], sweep_name[64], axes[1024], created[32];
    long n_jobs, n_done;
    int max_epochs, max_layers;
    JobRow *rows;
    float *curves;   /* (N_CURVES, n_jobs, max_epochs) */
    double *layers;  /* (N_STAGES, N_LAYER_METRICS, n_jobs, max_layers) */
    int32_t *sizes;  /* (n_jobs, max_layers + 1) */
    int32_t *snap;   /* (n_jobs) index into src + 1, 0 = none */
    SnapSource *src;
    int n_src, cap_src;
    int next_part;
    JobResult *buf;  /* snapshots received since the last checkpoint (copies) */
    int n_buf, cap_buf;
    hid_t row_type;
    int lock_fd;     /* FILE.lock, held (fcntl write lock) while this process writes FILE */
};

#define H5TRY(expr, what)                                                          \
    do {                                                                           \
        if ((expr) < 0) {                                                          \
            snprintf(err, errlen, "%s: HDF5 failed to %s", f->path, what);         \
            goto fail;                                                             \
        }                                                                          \
    } while (0)

/* ---------------------------------------------------------------- types and helpers */

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
    a = H5Acreate2(loc, name, H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) rc = H5Awrite(a, H5T_NATIVE_INT64, &v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

/* A string attribute read into a new malloc'ed buffer, or NULL. */
static char *read_attr_str(hid_t loc, const char *name) {
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = -1, ft = -1;
    char *out = NULL;
    if (a < 0) return NULL;
    if ((ft = H5Aget_type(a)) < 0 || H5Tget_class(ft) != H5T_STRING) goto done;
    if ((t = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)
        goto done;
    char *v = NULL;
    if (H5Tis_variable_str(ft) > 0 && H5Aread(a, t, &v) >= 0 && v) {
        out = strdup(v);
        H5free_memory(v);
    }
done:
    if (t >= 0) H5Tclose(t);
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return out;
}

static int read_attr_i64(hid_t loc, const char *name, int64_t *v) {
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    int rc = H5Aread(a, H5T_NATIVE_INT64, v) < 0 ? -1 : 0;
    H5Aclose(a);
    return rc;
}

/*
 * Creates loc/name (rank <= 4, dims, chunked as given, shuffled, deflated at level; with
 * unlimited maximum dims if asked) and writes buf into it unless it is empty.
 */
static int write_chunked(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                         const hsize_t *chunk, int unlimited, int level, const void *buf) {
    hsize_t maxd[4] = {H5S_UNLIMITED, H5S_UNLIMITED, H5S_UNLIMITED, H5S_UNLIMITED};
    hid_t sp = H5Screate_simple(rank, dims, unlimited ? maxd : NULL), pl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    int rc = -1, empty = 0;
    for (int i = 0; i < rank; i++) empty |= dims[i] == 0;
    if (sp < 0 || pl < 0) goto done;
    if (H5Pset_chunk(pl, rank, chunk) < 0 || H5Pset_shuffle(pl) < 0 || H5Pset_deflate(pl, (unsigned)level) < 0)
        goto done;
    if ((d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT)) < 0) goto done;
    rc = empty ? 0 : H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
done:
    if (d >= 0) H5Dclose(d);
    if (pl >= 0) H5Pclose(pl);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

/* A per-job table of rank 1 or 2: rows chunked by 1024 (columns by 4096), extendable, fast
 * compression (it is rewritten at every checkpoint). */
static int write_dset(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                      const void *buf) {
    hsize_t chunk[2];
    chunk[0] = dims[0] < 1 ? 1 : dims[0] > 1024 ? 1024 : dims[0];
    if (rank == 2) chunk[1] = dims[1] < 1 ? 1 : dims[1] > 4096 ? 4096 : dims[1];
    return write_chunked(loc, name, type, rank, dims, chunk, 1, 1, buf);
}

/* Reads loc/name (whose shape must be rows x cols, cols 0 for rank 1) into buf. */
static int read_dset(hid_t loc, const char *name, hid_t type, hsize_t rows, hsize_t cols, void *buf) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT), sp = -1;
    int rc = -1;
    if (d < 0) return -1;
    hsize_t dims[2] = {0, 0};
    if ((sp = H5Dget_space(d)) < 0) goto done;
    int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
    if (rank != (cols ? 2 : 1) || dims[0] != rows || (cols && dims[1] != cols)) goto done;
    rc = (rows == 0 || (cols == 0 && rank == 2)) ? 0
         : H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
done:
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

/* One snapshot array at loc/name of rank 1 to 4: chunks of at most 2^20 values, deflate 4. */
static int write_array(hid_t loc, const char *name, const float *x, int rank, const hsize_t *dims) {
    hsize_t chunk[4], rest = 1;
    for (int i = 0; i < rank; i++) chunk[i] = dims[i];
    for (int i = 1; i < rank; i++) rest *= chunk[i];
    while (chunk[0] > 1 && chunk[0] * rest > (1u << 20)) chunk[0] /= 2;
    return write_chunked(loc, name, H5T_NATIVE_FLOAT, rank, dims, chunk, 0, 4, x);
}

/* fsync a file or directory by path. */
static int sync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------- state */

/*
 * One writer per results file: an fcntl lock on FILE.lock (advisory, works over NFS), held
 * until the handle is freed. @return the descriptor, or -1 with err naming the holder.
 */
static int take_lock(const char *path, char *err, size_t errlen) {
    char lp[1100];
    snprintf(lp, sizeof lp, "%s.lock", path);
    int fd = open(lp, O_RDWR | O_CREAT, 0666);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create the results file or its lock %s (%s): does its directory "
                 "exist and is it writable?", path, lp, strerror(errno));
        return -1;
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        char who[128] = "";
        ssize_t k = read(fd, who, sizeof who - 1);
        who[k > 0 ? k : 0] = 0;
        who[strcspn(who, "\n")] = 0;
        snprintf(err, errlen, "%s: another synsweep is writing it (%s); wait for it or stop it first",
                 path, who[0] ? who : "lock held");
        close(fd);
        return -1;
    }
    char me[160], host[64] = "";
    gethostname(host, sizeof host - 1);
    int n = snprintf(me, sizeof me, "pid %d on %s\n", (int)getpid(), host);
    if (ftruncate(fd, 0) == 0 && pwrite(fd, me, (size_t)n, 0) == n) { /* best effort: who holds it */ }
    return fd;
}

static void free_state(ResultsFile *f) {
    if (!f) return;
    if (f->lock_fd > 0) {
        char lp[1100];
        snprintf(lp, sizeof lp, "%s.lock", f->path);
        unlink(lp);
        close(f->lock_fd);
    }
    if (f->row_type >= 0) H5Tclose(f->row_type);
    for (int i = 0; i < f->n_buf; i++) job_result_free(&f->buf[i]);
    free(f->buf), free(f->yaml), free(f->rows), free(f->curves), free(f->layers), free(f->sizes);
    free(f->snap), free(f->src);
    free(f);
}

/* The in-memory state of sweep sw for path, every job pending. */
static ResultsFile *new_state(const char *path, const Sweep *sw, char *err, size_t errlen) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    ResultsFile *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->row_type = -1;
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->tmp, sizeof f->tmp, "%s.tmp", path);
    snprintf(f->parts_dir, sizeof f->parts_dir, "%s.parts", path);
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(f->parts_rel, sizeof f->parts_rel, "%s.parts", basename(copy));
    f->next_part = 1;
    f->n_jobs = sw->n_jobs;
    f->max_epochs = sw->max_epochs;
    f->yaml = strdup(sw->yaml);
    snprintf(f->sweep_path, sizeof f->sweep_path, "%s", sw->path);
    snprintf(f->sweep_name, sizeof f->sweep_name, "%s", sw->name);
    for (int a = 0; a < sw->n_axes; a++) {
        if (a) strncat(f->axes, ",", sizeof f->axes - strlen(f->axes) - 1);
        strncat(f->axes, sw->axes[a].key, sizeof f->axes - strlen(f->axes) - 1);
    }
    time_t t = time(NULL);
    strftime(f->created, sizeof f->created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
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
    f->snap = calloc(n, sizeof(int32_t));
    if (!f->yaml || !f->rows || !f->curves || !f->layers || !f->sizes || !f->snap) {
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
    return f;
fail:
    free_state(f);
    return NULL;
}

static int add_source(ResultsFile *f, const char *path, const char *prefix, const char *link, int ours) {
    for (int i = 0; i < f->n_src; i++)
        if (!strcmp(f->src[i].path, path) && !strcmp(f->src[i].prefix, prefix)) return i + 1;
    if (f->n_src == f->cap_src) {
        int cap = f->cap_src ? 2 * f->cap_src : 16;
        SnapSource *ns = realloc(f->src, (size_t)cap * sizeof(SnapSource));
        if (!ns) return -1;
        f->src = ns, f->cap_src = cap;
    }
    SnapSource *s = &f->src[f->n_src++];
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    snprintf(s->link, sizeof s->link, "%s", link);
    s->ours = ours;
    return f->n_src;
}

int results_job_done(const ResultsFile *f, long id) {
    return strcmp(f->rows[id].status, status_name(STATUS_PENDING)) != 0;
}

long results_n_done(const ResultsFile *f) { return f->n_done; }

/* ---------------------------------------------------------------- snapshots */

/* Writes the snapshot groups of r under loc (job_NNNNNN/<stage>/<tensor>), one dataset per
 * tensor of r's list with its name and shape, and attribute `trainable`. */
static int write_snapshot_group(hid_t loc, const JobResult *r, char *err, size_t errlen,
                                const char *path) {
    hid_t gj = -1, gs = -1, d = -1;
    char name[64];
    snprintf(name, sizeof name, "job_%06d", r->job_id);
    if ((gj = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 || attr_i64(gj, "job_id", r->job_id))
        goto h5fail;
    int k = 0;
    for (int s = 0; s < N_STAGES; s++) {
        if (!((r->snap_mask >> s) & 1)) continue;
        const float *base = r->snaps + (size_t)k++ * (size_t)(r->n_params + r->n_fixed);
        if ((gs = H5Gcreate2(gj, STAGE_NAMES[s], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) goto h5fail;
        for (int i = 0; i < r->tensors.n; i++) {
            const Tensor *t = &r->tensors.t[i];
            hsize_t dims[TENSOR_MAX_DIMS];
            for (int j = 0; j < t->ndim; j++) dims[j] = (hsize_t)t->shape[j];
            const float *x = base + (t->fixed ? r->n_params : 0) + t->offset;
            if (write_array(gs, t->name, x, t->ndim, dims) || (d = H5Dopen2(gs, t->name, H5P_DEFAULT)) < 0 ||
                attr_i64(d, "trainable", !t->fixed))
                goto h5fail;
            H5Dclose(d);
            d = -1;
        }
        H5Gclose(gs);
        gs = -1;
    }
    H5Gclose(gj);
    return 0;
h5fail:
    snprintf(err, errlen, "%s: HDF5 failed to write the snapshots of job %d", path, r->job_id);
    if (d >= 0) H5Dclose(d);
    if (gs >= 0) H5Gclose(gs);
    if (gj >= 0) H5Gclose(gj);
    return -1;
}

/* Copies object src_obj of file src into loc as name (data copied as stored). */
static int copy_object(const char *src, const char *src_obj, hid_t loc, const char *name) {
    hid_t sf = H5Fopen(src, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (sf < 0) return -1;
    int rc = H5Ocopy(sf, src_obj, loc, name, H5P_DEFAULT, H5P_DEFAULT) < 0 ? -1 : 0;
    H5Fclose(sf);
    return rc;
}

/*
 * A new part file holding the buffered snapshots, plus those of jobs whose snapshots still
 * live in a file that is not ours (they are copied in); written, closed and fsync'ed.
 */
static int write_part(ResultsFile *f, char *err, size_t errlen) {
    int foreign = 0;
    for (long id = 0; id < f->n_jobs; id++)
        if (f->snap[id] && !f->src[f->snap[id] - 1].ours) foreign++;
    if (f->n_buf == 0 && foreign == 0) return 0;
    if (mkdir(f->parts_dir, 0777) && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create the snapshot directory (%s)", f->parts_dir, strerror(errno));
        return -1;
    }
    char path[1200], link[1200];
    snprintf(path, sizeof path, "%s/part-%06d.h5", f->parts_dir, f->next_part);
    snprintf(link, sizeof link, "%s/part-%06d.h5", f->parts_rel, f->next_part);
    unlink(path); /* an orphan of an interrupted checkpoint: nothing links to it */
    hid_t pf = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (pf < 0) {
        snprintf(err, errlen, "%s: cannot create the snapshot part file", path);
        return -1;
    }
    int k = add_source(f, path, "/", link, 1);
    if (k < 0) goto fail;
    for (int i = 0; i < f->n_buf; i++) {
        if (write_snapshot_group(pf, &f->buf[i], err, errlen, path)) goto fail;
        f->snap[f->buf[i].job_id] = k;
    }
    for (long id = 0; id < f->n_jobs; id++) {
        if (!f->snap[id] || f->src[f->snap[id] - 1].ours) continue;
        const SnapSource *s = &f->src[f->snap[id] - 1];
        char obj[64], name[32];
        snprintf(obj, sizeof obj, "%sjob_%06ld", s->prefix, id);
        snprintf(name, sizeof name, "job_%06ld", id);
        if (copy_object(s->path, obj, pf, name)) {
            snprintf(err, errlen, "%s: cannot copy the snapshots of job %ld from %s", path, id, s->path);
            goto fail;
        }
        f->snap[id] = k;
    }
    if (H5Fclose(pf) < 0 || sync_path(path)) {
        snprintf(err, errlen, "%s: cannot close or sync the snapshot part file", path);
        return -1;
    }
    for (int i = 0; i < f->n_buf; i++) job_result_free(&f->buf[i]);
    f->n_buf = 0;
    f->next_part++;
    return 0;
fail:
    H5Fclose(pf);
    return -1;
}

/* ---------------------------------------------------------------- the main file */

/* Writes the whole state to FILE.tmp and renames it over FILE; with consolidate, the
 * snapshot groups are copied in rather than linked. */
static int write_main(ResultsFile *f, int consolidate, char *err, size_t errlen) {
    size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers;
    hid_t file = -1, g = -1, gs = -1;
    char name[128];
    unlink(f->tmp);
    if ((file = H5Fcreate(f->tmp, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        snprintf(err, errlen, "%s: cannot create the results file (does its directory exist "
                 "and is it writable?)", f->tmp);
        return -1;
    }
    char now[32];
    time_t t = time(NULL);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    int complete = f->n_done == f->n_jobs && consolidate;
    H5TRY(attr_str(file, "synsweep_version", SYNSWEEP_VERSION), "write attributes");
    H5TRY(attr_i64(file, "format_version", FORMAT_VERSION), "write attributes");
    H5TRY(attr_str(file, "sweep_yaml", f->yaml), "write attributes");
    H5TRY(attr_str(file, "sweep_path", f->sweep_path), "write attributes");
    H5TRY(attr_str(file, "sweep_name", f->sweep_name), "write attributes");
    H5TRY(attr_str(file, "created", f->created), "write attributes");
    H5TRY(attr_str(file, "checkpoint", now), "write attributes");
    H5TRY(attr_str(file, "axes", f->axes), "write attributes");
    H5TRY(attr_i64(file, "n_jobs", f->n_jobs), "write attributes");
    H5TRY(attr_i64(file, "n_done", f->n_done), "write attributes");
    H5TRY(attr_i64(file, "complete", complete), "write attributes");

    hsize_t d1[1] = {n}, d2[2] = {n, E}, dl[2] = {n, Lm}, ds[2] = {n, Lm + 1};
    H5TRY(write_dset(file, "results", f->row_type, 1, d1, f->rows), "write /results");
    H5TRY(g = H5Gcreate2(file, "curves", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /curves");
    for (int c = 0; c < N_CURVES; c++)
        H5TRY(write_dset(g, CURVE_NAMES[c], H5T_NATIVE_FLOAT, 2, d2, f->curves + (size_t)c * n * E), "write a curve");
    H5Gclose(g);
    H5TRY(g = H5Gcreate2(file, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /layers");
    H5TRY(write_dset(g, "sizes", H5T_NATIVE_INT32, 2, ds, f->sizes), "write /layers/sizes");
    for (int s = 0; s < N_STAGES; s++) {
        H5TRY(gs = H5Gcreate2(g, STAGE_NAMES[s], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create a stage group");
        for (int k = 0; k < N_LAYER_METRICS; k++)
            H5TRY(write_dset(gs, LAYER_METRIC_NAMES[k], H5T_NATIVE_DOUBLE, 2, dl,
                             f->layers + ((size_t)s * N_LAYER_METRICS + k) * n * Lm), "write layer metrics");
        H5Gclose(gs);
        gs = -1;
    }
    H5Gclose(g);
    H5TRY(g = H5Gcreate2(file, "snapshots", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create /snapshots");
    for (long id = 0; id < f->n_jobs; id++) {
        if (!f->snap[id]) continue;
        const SnapSource *s = &f->src[f->snap[id] - 1];
        snprintf(name, sizeof name, "job_%06ld", id);
        char obj[64];
        snprintf(obj, sizeof obj, "%sjob_%06ld", s->prefix, id);
        if (consolidate) H5TRY(copy_object(s->path, obj, g, name), "copy snapshots into the results file");
        else H5TRY(H5Lcreate_external(s->link, obj, g, name, H5P_DEFAULT, H5P_DEFAULT), "link snapshots");
    }
    H5Gclose(g);
    g = -1;
    if (H5Fclose(file) < 0) {
        file = -1;
        snprintf(err, errlen, "%s: HDF5 failed to close", f->tmp);
        goto fail;
    }
    file = -1;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", f->path);
    if (sync_path(f->tmp) || rename(f->tmp, f->path) || sync_path(dirname(dir))) {
        snprintf(err, errlen, "%s: cannot sync and rename the new checkpoint into place (%s)", f->path, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    if (gs >= 0) H5Gclose(gs);
    if (g >= 0) H5Gclose(g);
    if (file >= 0) H5Fclose(file);
    unlink(f->tmp);
    return -1;
}

int results_checkpoint(ResultsFile *f, char *err, size_t errlen) {
    if (write_part(f, err, errlen)) return -1;
    return write_main(f, 0, err, errlen);
}

ResultsFile *results_create(const char *path, const Sweep *sw, char *err, size_t errlen) {
    if (access(path, F_OK) == 0) {
        snprintf(err, errlen, "%s: already exists; synsweep never overwrites a results file "
                 "(--resume continues it; or choose another -o)", path);
        return NULL;
    }
    ResultsFile *f = new_state(path, sw, err, errlen);
    if (!f) return NULL;
    if ((f->lock_fd = take_lock(path, err, errlen)) < 0 || results_checkpoint(f, err, errlen)) {
        free_state(f);
        return NULL;
    }
    return f;
}

/* ---------------------------------------------------------------- reading a file back */

typedef struct LinkScan {
    ResultsFile *f;
    const char *main_path;
    int bad;
} LinkScan;

/* For each /snapshots/job_NNNNNN of the file being read: where its snapshots are. */
static herr_t scan_snapshot(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    LinkScan *sc = op;
    long id;
    if (sscanf(name, "job_%ld", &id) != 1 || id < 0 || id >= sc->f->n_jobs) return 0;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", sc->main_path);
    char *d = dirname(dir);
    int k;
    if (info->type == H5L_TYPE_EXTERNAL) {
        char val[2048];
        const char *file = NULL, *obj = NULL;
        unsigned flags;
        if (info->u.val_size > sizeof val || H5Lget_val(g, name, val, sizeof val, H5P_DEFAULT) < 0 ||
            H5Lunpack_elink_val(val, info->u.val_size, &flags, &file, &obj) < 0) {
            sc->bad = 1;
            return -1;
        }
        char full[2200];
        if (file[0] == '/') snprintf(full, sizeof full, "%s", file);
        else snprintf(full, sizeof full, "%s/%s", d, file);
        /* a part file of this results file stays linked; any other is copied on the next checkpoint */
        const char *slash = strrchr(file, '/');
        int ours = slash && !strncmp(file, sc->f->parts_rel, (size_t)(slash - file)) &&
                   strlen(sc->f->parts_rel) == (size_t)(slash - file);
        /* the link's target object is "/job_NNNNNN" in the part file */
        const char *oslash = strrchr(obj, '/');
        char prefix[16];
        snprintf(prefix, sizeof prefix, "%.*s", oslash ? (int)(oslash - obj + 1) : 0, obj);
        k = add_source(sc->f, full, prefix, file, ours);
        int part;
        if (ours && slash && sscanf(slash + 1, "part-%d.h5", &part) == 1 && part >= sc->f->next_part)
            sc->f->next_part = part + 1;
    } else {
        k = add_source(sc->f, sc->main_path, "/snapshots/", "", 0);
    }
    if (k < 0) {
        sc->bad = 1;
        return -1;
    }
    sc->f->snap[id] = k;
    return 0;
}

/* Loads the state of results file path (of sweep sw) into f, which new_state made. */
static int load_file(ResultsFile *f, const char *path, int keep_snapshots, char *err, size_t errlen) {
    size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), g = -1;
    char name[128];
    JobRow *rows = NULL;
    if (file < 0) {
        snprintf(err, errlen, "%s: not a readable HDF5 file", path);
        return -1;
    }
    int64_t fv = 0, nj = 0;
    if (read_attr_i64(file, "format_version", &fv) || fv != FORMAT_VERSION || read_attr_i64(file, "n_jobs", &nj) ||
        nj != f->n_jobs) {
        snprintf(err, errlen, "%s: not a synsweep results file of format %d for %ld jobs", path, FORMAT_VERSION, f->n_jobs);
        goto fail;
    }
    if (!(rows = calloc(n, sizeof(JobRow)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (read_dset(file, "results", f->row_type, n, 0, rows)) {
        snprintf(err, errlen, "%s: cannot read /results", path);
        goto fail;
    }
    float *curves = malloc(N_CURVES * n * (E ? E : 1) * sizeof(float));
    double *layers = malloc((size_t)N_STAGES * N_LAYER_METRICS * n * (Lm ? Lm : 1) * sizeof(double));
    int32_t *sizes = malloc(n * (Lm + 1) * sizeof(int32_t));
    int bad = !curves || !layers || !sizes;
    for (int c = 0; !bad && c < N_CURVES; c++) {
        snprintf(name, sizeof name, "curves/%s", CURVE_NAMES[c]);
        bad = read_dset(file, name, H5T_NATIVE_FLOAT, n, E, curves + (size_t)c * n * E) != 0;
    }
    bad = bad || read_dset(file, "layers/sizes", H5T_NATIVE_INT32, n, Lm + 1, sizes);
    for (int s = 0; !bad && s < N_STAGES; s++)
        for (int k = 0; !bad && k < N_LAYER_METRICS; k++) {
            snprintf(name, sizeof name, "layers/%s/%s", STAGE_NAMES[s], LAYER_METRIC_NAMES[k]);
            bad = read_dset(file, name, H5T_NATIVE_DOUBLE, n, Lm, layers + ((size_t)s * N_LAYER_METRICS + k) * n * Lm) != 0;
        }
    if (bad) {
        free(curves), free(layers), free(sizes);
        snprintf(err, errlen, "%s: curves or layer datasets missing or of the wrong shape", path);
        goto fail;
    }
    /* take every finished job */
    for (size_t id = 0; id < n; id++) {
        if (rows[id].job_id != (int32_t)id || status_parse(rows[id].status) < 0) {
            free(curves), free(layers), free(sizes);
            snprintf(err, errlen, "%s: row %zu is damaged (job id %d, status '%.15s')", path, id, rows[id].job_id, rows[id].status);
            goto fail;
        }
        if (status_parse(rows[id].status) == STATUS_PENDING) continue;
        f->rows[id] = rows[id];
        for (int c = 0; c < N_CURVES; c++)
            memcpy(f->curves + ((size_t)c * n + id) * E, curves + ((size_t)c * n + id) * E, E * sizeof(float));
        for (size_t sk = 0; sk < (size_t)N_STAGES * N_LAYER_METRICS; sk++)
            memcpy(f->layers + (sk * n + id) * Lm, layers + (sk * n + id) * Lm, Lm * sizeof(double));
        memcpy(f->sizes + id * (Lm + 1), sizes + id * (Lm + 1), (Lm + 1) * sizeof(int32_t));
        f->n_done++;
    }
    free(curves), free(layers), free(sizes);
    if (keep_snapshots) {
        LinkScan sc = {f, path, 0};
        if ((g = H5Gopen2(file, "snapshots", H5P_DEFAULT)) < 0 ||
            H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, scan_snapshot, &sc) < 0 || sc.bad) {
            snprintf(err, errlen, "%s: cannot read /snapshots", path);
            goto fail;
        }
        H5Gclose(g);
        g = -1;
    }
    free(rows);
    H5Fclose(file);
    return 0;
fail:
    free(rows);
    if (g >= 0) H5Gclose(g);
    H5Fclose(file);
    return -1;
}

/* The sweep stored in results file path (its sweep_yaml attribute). */
static int stored_sweep(const char *path, Sweep *sw, char *err, size_t errlen) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        snprintf(err, errlen, "%s: not a readable HDF5 file", path);
        return -1;
    }
    char *yaml = read_attr_str(file, "sweep_yaml");
    H5Fclose(file);
    if (!yaml) {
        snprintf(err, errlen, "%s: has no sweep_yaml attribute; not a synsweep results file", path);
        return -1;
    }
    char label[1100], e[900];
    snprintf(label, sizeof label, "%s (sweep stored in it)", path);
    int rc = sweep_load_text(yaml, strlen(yaml), label, "", sw, e, sizeof e);
    free(yaml);
    if (rc) snprintf(err, errlen, "%s", e);
    return rc;
}

ResultsFile *results_open(const char *path, Sweep *sw, char *err, size_t errlen) {
    if (stored_sweep(path, sw, err, errlen)) return NULL;
    ResultsFile *f = new_state(path, sw, err, errlen);
    if (!f || load_file(f, path, 0, err, errlen)) {
        free_state(f);
        sweep_free(sw);
        return NULL;
    }
    return f;
}

void results_free(ResultsFile *f) { free_state(f); }

int results_job_status(const ResultsFile *f, long id) { return status_parse(f->rows[id].status); }

double results_job_metric(const ResultsFile *f, long id, int seconds) {
    return seconds ? f->rows[id].seconds : f->rows[id].m.test_acc;
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
    if ((f->lock_fd = take_lock(path, err, errlen)) < 0 || load_file(f, path, 1, err, errlen)) {
        free_state(f);
        return NULL;
    }
    if (retry_failed)
        for (long id = 0; id < f->n_jobs; id++) {
            int st = status_parse(f->rows[id].status);
            if (st != STATUS_DIVERGED && st != STATUS_FAILED && st != STATUS_TIMEOUT) continue;
            JobRow *row = &f->rows[id];
            snprintf(row->status, sizeof row->status, "%s", status_name(STATUS_PENDING));
            row->message[0] = 0;
            f->n_done--;
        }
    /* jobs still pending take their spec from this sweep (data_dir may have changed) */
    for (long id = 0; id < f->n_jobs; id++)
        if (!results_job_done(f, id)) sweep_job(sw, id, &f->rows[id].spec);
    return f;
}

int results_merge(const char *out, const char *const *inputs, int n_inputs, char *err, size_t errlen) {
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
        if (!(in = new_state(inputs[i], &sw, err, errlen)) || load_file(in, inputs[i], 1, err, errlen)) goto done;
        for (long id = 0; id < f->n_jobs; id++) {
            if (!results_job_done(in, id)) continue;
            if (results_job_done(f, id)) {
                snprintf(err, errlen, "job %ld has a result in two inputs (the second: %s)", id, inputs[i]);
                goto done;
            }
            size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers;
            f->rows[id] = in->rows[id];
            for (int c = 0; c < N_CURVES; c++)
                memcpy(f->curves + ((size_t)c * n + id) * E, in->curves + ((size_t)c * n + id) * E, E * sizeof(float));
            for (size_t sk = 0; sk < (size_t)N_STAGES * N_LAYER_METRICS; sk++)
                memcpy(f->layers + (sk * n + id) * Lm, in->layers + (sk * n + id) * Lm, Lm * sizeof(double));
            memcpy(f->sizes + id * (Lm + 1), in->sizes + id * (Lm + 1), (Lm + 1) * sizeof(int32_t));
            f->n_done++;
            if (in->snap[id]) {
                /* copied from where the input keeps them (its main file or its parts) */
                const SnapSource *s = &in->src[in->snap[id] - 1];
                int k = add_source(f, s->path, s->prefix, "", 0);
                if (k < 0) goto done;
                f->snap[id] = k;
            }
        }
        free_state(in);
        in = NULL;
    }
    /* everything is copied in: through a part file of ours, then consolidated */
    if (write_part(f, err, errlen) || write_main(f, 1, err, errlen)) goto done;
    rc = 0;
done:
    if (f && f->n_src) {
        for (int i = 0; i < f->n_src; i++)
            if (f->src[i].ours) unlink(f->src[i].path);
        rmdir(f->parts_dir);
    }
    free_state(in);
    free_state(f);
    sweep_free(&sw);
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
    if (r->snaps && r->snap_mask) {
        if (f->n_buf == f->cap_buf) {
            int cap = f->cap_buf ? 2 * f->cap_buf : 16;
            JobResult *nb = realloc(f->buf, (size_t)cap * sizeof(JobResult));
            if (!nb) goto oom;
            f->buf = nb, f->cap_buf = cap;
        }
        JobResult *c = &f->buf[f->n_buf];
        *c = *r;
        c->curves = NULL;
        size_t ns = (size_t)job_result_n_snaps(r) * (size_t)(r->n_params + r->n_fixed);
        if (!(c->snaps = malloc(ns * sizeof(float)))) goto oom;
        memcpy(c->snaps, r->snaps, ns * sizeof(float));
        f->n_buf++;
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
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory buffering snapshots", f->path);
    return -1;
}

int results_close(ResultsFile *f, char *err, size_t errlen) {
    int rc;
    if (f->n_done == f->n_jobs) {
        /* final: snapshots copied in, then the part files go */
        rc = write_part(f, err, errlen) || write_main(f, 1, err, errlen) ? -1 : 0;
        if (rc == 0) {
            for (int i = 0; i < f->n_src; i++)
                if (f->src[i].ours) unlink(f->src[i].path);
            rmdir(f->parts_dir);
        }
    } else {
        rc = results_checkpoint(f, err, errlen);
    }
    free_state(f);
    return rc;
}
