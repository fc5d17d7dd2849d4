/*
 * results_write.c: the results file written whole (at the start of a run, at the end, by a
 * merge): FILE.tmp, fsync, rename. The live file's datasets are contiguous, so that rows are
 * later committed in place (results_journal.c); the final file's are chunked and deflated.
 * Also creating a sweep's file, and receiving results into the state.
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

/* Writes FILE.snap.h5 (the links to the snapshot part files) anew: .tmp, fsync, rename. */
int rf_write_index(ResultsFile *f, char *err, size_t errlen) {
    unlink(f->index_tmp);
    hid_t file = H5Fcreate(f->index_tmp, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    int bad = file < 0 || snapstore_write_links(&f->st, file, 0);
    if (file >= 0 && H5Fclose(file) < 0) bad = 1;
    if (bad || sync_path(f->index_tmp) || rename(f->index_tmp, f->index)) {
        snprintf(err, errlen, "%s: cannot write the snapshot index%s", f->index, rf_io_cause());
        unlink(f->index_tmp);
        return -1;
    }
    return 0;
}

/*
 * Writes the whole state to FILE.tmp and renames it over FILE. With consolidate, the snapshot
 * groups are copied in and the datasets chunked and deflated: the ordinary final file.
 * Otherwise it is the live file: datasets contiguous, so that later checkpoints commit rows in
 * place (rf_commit_rows), and /snapshots an external link to FILE.snap.h5.
 */
/* The root attributes (docs/FORMAT.md): the sweep, counts, provenance. @return 0 or -1 with err. */
static int write_attrs(ResultsFile *f, hid_t file, int complete, const char *now, char *err, size_t errlen) {
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
    /* a live file's n_done is the dataset /n_done (below); this is its value at this write */
    H5TRY(h5_attr_i64(file, "n_done", f->n_done), "write attributes");
    H5TRY(h5_attr_i64(file, "complete", complete), "write attributes");
    /* provenance (docs/FORMAT.md) */
    H5TRY(h5_attr_str(file, "git_commit", SYNSWEEP_GIT_COMMIT), "write attributes");
    H5TRY(h5_attr_i64(file, "git_dirty", SYNSWEEP_GIT_DIRTY), "write attributes");
    H5TRY(h5_attr_str(file, "compiler", SYNSWEEP_COMPILER), "write attributes");
    H5TRY(h5_attr_str(file, "cflags", SYNSWEEP_CFLAGS), "write attributes");
    H5TRY(h5_attr_str(file, "blas_library", blas_library()), "write attributes");
    H5TRY(h5_attr_str(file, "blas_kernel", blas_kernel()), "write attributes");
    H5TRY(h5_attr_str(file, "mpi_library", rf_mpi), "write attributes");
    H5TRY(h5_attr_str(file, "hosts", f->hosts ? f->hosts : ""), "write attributes");
    /* the builds that wrote it before (read back, or the merged files'), and this one */
    char *builds = f->builds ? strdup(f->builds) : NULL;
    int bad = (f->builds && !builds) || rf_host_list_add(&builds, rf_build_id()) ||
              h5_attr_str(file, "builds", builds) < 0;
    free(builds);
    H5TRY(bad ? -1 : 0, "write attributes");
    H5TRY(h5_attr_str(file, "slurm_job_id", slurm ? slurm : ""), "write attributes");
    H5TRY(h5_attr_str(file, "started", f->started), "write attributes");
    H5TRY(h5_attr_str(file, "finished", complete ? now : ""), "write attributes");
    return 0;
fail:
    return -1;
}

/* Every per-job dataset, and /snapshots (a link to FILE.snap.h5 when live, else copied in).
 * @return 0 or -1 with err. */
static int write_tables(ResultsFile *f, hid_t file, int live, char *err, size_t errlen) {
    size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers;
    hid_t g = -1, gs = -1;
    hsize_t d1[1] = {n}, d2[2] = {n, E}, dl[2] = {n, Lm}, ds[2] = {n, Lm + 1}, da[3] = {n, E, Lm},
            dn[3] = {n, (hsize_t)f->max_noise, NOISE_COLS};
    H5TRY(put_table(f, live, file, "results", f->row_type, 1, d1, f->rows), "write /results");
    if (live) { /* where checkpoints rewrite n_done: an address HDF5 gives (H5Dget_offset) */
        hsize_t one = 1;
        int64_t v = f->n_done;
        H5TRY(h5_write_fixed(file, "n_done", H5T_NATIVE_INT64, 1, &one, &v, &f->n_done_at), "write /n_done");
    }
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
    return 0;
fail:
    if (gs >= 0) H5Gclose(gs);
    if (g >= 0) H5Gclose(g);
    return -1;
}

int rf_write_main(ResultsFile *f, int consolidate, char *err, size_t errlen) {
    hid_t file = -1;
    int live = !consolidate, fd = -1;
    if (f->fd > 0) close(f->fd);
    f->fd = -1, f->n_live = 0;
    if (live && rf_write_index(f, err, errlen)) return -1;
    unlink(f->tmp);
    if ((file = H5Fcreate(f->tmp, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        snprintf(err, errlen, "%s: cannot create the results file%s (does its directory exist "
                 "and is it writable?)", f->tmp, rf_io_cause());
        return -1;
    }
    char now[32];
    rf_utc_now(now, sizeof now);
    if (write_attrs(f, file, f->n_done == f->n_jobs && consolidate, now, err, errlen) ||
        write_tables(f, file, live, err, errlen))
        goto fail;
    if (H5Fclose(file) < 0) {
        file = -1;
        snprintf(err, errlen, "%s: HDF5 failed to close%s", f->tmp, rf_io_cause());
        goto fail;
    }
    file = -1;
    if (live) {
        /* the bytes at /n_done's address are its value: what every commit will rewrite */
        struct stat sb;
        int64_t back = -1;
        if ((fd = open(f->tmp, O_RDWR)) < 0 || fstat(fd, &sb) || pread(fd, &back, 8, (off_t)f->n_done_at) != 8 ||
            back != f->n_done) {
            snprintf(err, errlen, "%s: /n_done at byte %llu reads %lld, not %ld%s", f->tmp,
                     (unsigned long long)f->n_done_at, (long long)back, f->n_done, rf_io_cause());
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
    if (file >= 0) H5Fclose(file);
    unlink(f->tmp);
    return -1;
}

/*
 * At start-up, before any job runs: the paths beside FILE that the run will open. FILE.journal
 * and FILE.snap.h5 absent or regular files (a FIFO blocks open(2) and HDF5 forever, at the
 * first commit); FILE.parts absent or a directory we can write (else the first snapshots
 * fail). Both would otherwise be found only after jobs have trained.
 */
int rf_check_side_paths(const ResultsFile *f, char *err, size_t errlen) {
    return side_file_check(f->journal, err, errlen) || side_file_check(f->index, err, errlen) ||
           snapstore_check_dir(&f->st, err, errlen) ? -1 : 0;
}

ResultsFile *results_create(const char *path, const Sweep *sw, char *err, size_t errlen) {
    if (access(path, F_OK) == 0) {
        snprintf(err, errlen, "%s: already exists; synsweep never overwrites a results file "
                 "(--resume continues it; or choose another -o)", path);
        return NULL;
    }
    ResultsFile *f = rf_new_state(path, sw, err, errlen);
    if (!f) return NULL;
    f->dirty = 1;
    if ((f->lock_fd = lockfile_take(f->lock, path, err, errlen)) < 0 || rf_check_side_paths(f, err, errlen) ||
        results_checkpoint(f, err, errlen)) {
        rf_free_state(f);
        return NULL;
    }
    return f;
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
    snprintf(row->git_commit, sizeof row->git_commit, "%s", rf_build_id());
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
        rc = snapstore_write_part(&f->st, err, errlen) || rf_write_main(f, 1, err, errlen) ? -1 : 0;
        if (rc == 0) unlink(f->index), unlink(f->journal), snapstore_remove_parts(&f->st);
    } else {
        rc = results_checkpoint(f, err, errlen);
    }
    rf_free_state(f);
    return rc;
}
