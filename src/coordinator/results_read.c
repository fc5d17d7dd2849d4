/*
 * results_read.c: a results file read back into the state (resume, merge): the stored sweep,
 * every row checked (columns by name; absent parameters take their defaults), the snapshot
 * store found; and --resume.
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



/* Every string of a row read back raw ends inside its field. */
void rf_terminate_strings(JobRow *r) {
    r->status[sizeof r->status - 1] = 0;
    r->host[sizeof r->host - 1] = 0;
    r->git_commit[sizeof r->git_commit - 1] = 0;
    r->message[sizeof r->message - 1] = 0;
    for (int i = 0; i < N_PARAMS; i++) {
        const ParamDef *d = &PARAMS[i];
        if (d->kind != PK_INT && d->kind != PK_BOOL && d->kind != PK_REAL) ((char *)&r->spec)[d->offset + d->size - 1] = 0;
    }
}

/* Job id is to run (again). */
void rf_set_pending(ResultsFile *f, size_t id) {
    JobRow *row = &f->rows[id];
    if (!results_job_done(f, (long)id)) return;
    snprintf(row->status, sizeof row->status, "%s", status_name(STATUS_PENDING));
    row->message[0] = 0, row->git_commit[0] = 0;
    f->n_done--;
}

/* The curves, per-layer metrics and model curves of file into in (of f's dimensions). */
static int read_arrays(const ResultsFile *f, ResultsFile *in, hid_t file, const char *path, char *err, size_t errlen) {
    size_t n = (size_t)f->n_jobs, E = (size_t)f->max_epochs, Lm = (size_t)f->max_layers;
    char name[128];
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
    if (bad) snprintf(err, errlen, "%s: curves or layer datasets missing, of the wrong shape or damaged", path);
    return bad ? -1 : 0;
}

/*
 * The snapshot store of file (keep 1: resume, 2: merge). Snapshot files that are gone are
 * found before anything is trained: resume reruns those jobs (results are deterministic),
 * merge refuses. @return 0 or -1 with err.
 */
static int find_snapshots(ResultsFile *f, hid_t file, const char *path, int keep_snapshots, char *err, size_t errlen) {
    size_t n = (size_t)f->n_jobs;
    char why[400];
    H5L_info_t li;
    int linked = H5Lget_info(file, "snapshots", &li, H5P_DEFAULT) >= 0 && li.type == H5L_TYPE_EXTERNAL;
    int no_index = linked && access(f->index, F_OK) != 0;
    if (!no_index && snapstore_scan(&f->st, file, path, why, sizeof why)) {
        snprintf(err, errlen, "%s: cannot read /snapshots%s%s", path, why[0] ? ": " : "", why);
        return -1;
    }
    int32_t *lost = calloc(n ? n : 1, sizeof(int32_t));
    char first[512];
    if (!lost) {
        snprintf(err, errlen, "%s: out of memory reading it", path);
        return -1;
    }
    long n_lost = snapstore_drop_missing(&f->st, lost, first, sizeof first);
    /* a live file without its FILE.snap.h5: every finished job that keeps snapshots lost them */
    for (size_t id = 0; no_index && id < n; id++)
        if (status_parse(f->rows[id].status) == STATUS_OK && f->rows[id].spec.snapshots[0])
            lost[id] = 1, n_lost++, snprintf(first, sizeof first, "%s", f->index);
    if (n_lost && keep_snapshots == 2) {
        snprintf(err, errlen, "%s: the snapshots of %ld jobs are gone (%s is missing or unreadable); "
                 "resume it with --resume to rerun those jobs, then merge", path, n_lost, first);
        free(lost);
        return -1;
    }
    if (n_lost) {
        fprintf(stderr, "[synsweep] %s: the snapshots of %ld finished jobs are gone (%s is missing or "
                "unreadable): those jobs are run again (their results are deterministic)\n", path, n_lost, first);
        for (size_t id = 0; id < n; id++)
            if (lost[id]) rf_set_pending(f, id);
        f->dirty = 1;
    }
    free(lost);
    return 0;
}

/* Loads the state of results file path (of sweep sw) into f, which rf_new_state made. */
int rf_load_file(ResultsFile *f, const char *path, int keep_snapshots, char *err, size_t errlen) {
    size_t n = (size_t)f->n_jobs;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
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
    if ((rt = rf_read_row_type(file, f->row_type)) < 0 || h5_check_compound(file, "results", rt, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s; refusing to read it (nothing was changed)", path, rt < 0 ? "out of memory" : why);
        goto fail;
    }
    /* columns an earlier release did not write keep what rf_new_state made: the stored sweep's
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
    for (size_t id = 0; id < n; id++) rf_terminate_strings(&rows[id]);
    char *created = h5_read_attr_str(file, "created"), *hosts = h5_read_attr_str(file, "hosts"),
         *builds = h5_read_attr_str(file, "builds"), *commit = NULL;
    if (created) snprintf(f->created, sizeof f->created, "%s", created);
    int bad_list = hosts && hosts[0] && rf_host_list_add(&f->hosts, hosts);
    /* the builds that wrote it: its list, else (a file older than the list) its last writer's */
    if (builds && builds[0]) bad_list |= rf_host_list_add(&f->builds, builds);
    else if ((commit = h5_read_attr_str(file, "git_commit")) && commit[0] && !strchr(commit, ',')) {
        int64_t dirty = 0;
        char *b = str_cat(commit, h5_read_attr_i64(file, "git_dirty", &dirty) == 0 && dirty == 1 ? "+dirty" : "");
        bad_list |= !b || rf_host_list_add(&f->builds, b);
        free(b);
    }
    free(created), free(hosts), free(builds), free(commit);
    if (bad_list) goto oom;
    int64_t complete = 0;
    f->on_disk_complete = h5_read_attr_i64(file, "complete", &complete) == 0 && complete == 1;
    /* everything into a scratch state of the same dimensions, then the finished jobs */
    in = calloc(1, sizeof *in);
    if (!in) goto oom;
    in->n_jobs = f->n_jobs, in->max_epochs = f->max_epochs, in->max_layers = f->max_layers, in->max_noise = f->max_noise;
    in->n_mc = f->n_mc, in->max_mepochs = f->max_mepochs;
    in->rows = rows, rows = NULL;
    if (rf_alloc_arrays(in)) goto oom;
    if (read_arrays(f, in, file, path, err, errlen)) goto fail;
    /* take every finished job */
    for (size_t id = 0; id < n; id++) {
        const JobRow *row = &in->rows[id];
        if (row->job_id != (int32_t)id || status_parse(row->status) < 0) {
            snprintf(err, errlen, "%s: row %zu is damaged (job id %d, status '%.15s')", path, id, row->job_id, row->status);
            goto fail;
        }
        if (status_parse(row->status) == STATUS_PENDING) continue;
        rf_copy_job(f, in, id);
        f->n_done++;
    }
    if (keep_snapshots && find_snapshots(f, file, path, keep_snapshots, err, errlen)) goto fail;
    rf_free_state(in);
    H5Tclose(rt);
    H5Fclose(file);
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory reading it", path);
fail:
    free(rows);
    rf_free_state(in);
    if (rt >= 0) H5Tclose(rt);
    H5Fclose(file);
    return -1;
}

/* The sweep stored in results file path (its sweep_yaml attribute). */
int rf_stored_sweep(const char *path, Sweep *sw, char *err, size_t errlen) {
    rf_h5_init();
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

void results_free(ResultsFile *f) { rf_free_state(f); }

void results_preload(const char *path) {
    /* every root attribute results_resume reads (rf_stored_sweep, rf_load_file) */
    static const char *const names[] = {"sweep_yaml", "format_version", "n_jobs", "complete", "created",
                                        "hosts",      "builds",         "git_commit", "git_dirty"};
    static const int as_i64[] = {0, 1, 1, 1, 0, 0, 0, 0, 1};
    rf_h5_init();
    if (access(path, F_OK) == 0) h5_attr_preload(path, names, as_i64, 9);
}

void results_no_fork(void) { h5_attr_no_fork(); }

/* s on stderr, bytes outside printable ASCII as '?' */
static void put_printable(const char *s) {
    for (; *s; s++) fputc(*s >= 0x20 && *s < 0x7f ? *s : '?', stderr);
}

/* Says so on stderr when finished jobs of the file being resumed were run by another build (their
 * git_commit), or by a build not recorded per job (a file older than the column): the new jobs
 * will be this build's, and numbers may differ between builds. */
static void note_other_builds(const ResultsFile *f, const char *path) {
    char mine[sizeof f->rows[0].git_commit];
    snprintf(mine, sizeof mine, "%s", rf_build_id());
    long other = 0, unknown = 0, done = 0;
    char *those = NULL; /* the other builds, each once */
    for (long id = 0; id < f->n_jobs; id++) {
        const char *b = f->rows[id].git_commit;
        if (!results_job_done(f, id)) continue;
        done++;
        if (!b[0]) unknown++;
        else if (strcmp(b, mine)) other++, rf_host_list_add(&those, b);
    }
    if (!other && !unknown) {
        free(those);
        return;
    }
    fprintf(stderr, "[synsweep] note: %s: of its %ld finished jobs, ", path, done);
    if (other) {
        fprintf(stderr, "%ld were run by another build (", other);
        put_printable(those ? those : "?"); /* the file's strings: no terminal control bytes */
        fprintf(stderr, ")%s", unknown ? " and " : "");
    }
    free(those);
    if (unknown) {
        fprintf(stderr, "%ld by a build not recorded per job (the file predates the git_commit column; builds that "
                "wrote it: ", unknown);
        put_printable(f->builds ? f->builds : "unknown");
        fputc(')', stderr);
    }
    fprintf(stderr, "; this is build %s. The jobs run now record it in the git_commit column, the others keep "
            "theirs: numbers may differ between builds (docs/FORMAT.md)\n", mine);
}

static ResultsFile *resume_file(const char *path, const Sweep *sw, int retry_failed, char *err,
                            size_t errlen) {
    if (access(path, F_OK) != 0) return results_create(path, sw, err, errlen);
    Sweep old;
    char e[1200];
    if (rf_stored_sweep(path, &old, err, errlen)) return NULL;
    int same = sweep_same_jobs(sw, &old, e, sizeof e);
    sweep_free(&old);
    if (!same) {
        snprintf(err, errlen, "%s: was written by another sweep, refusing to resume: %s", path, e);
        return NULL;
    }
    ResultsFile *f = rf_new_state(path, sw, err, errlen);
    if (!f) return NULL;
    if ((f->lock_fd = lockfile_take(f->lock, path, err, errlen)) < 0 || rf_check_side_paths(f, err, errlen) ||
        rf_journal_redo(f, err, errlen) ||
        rf_load_file(f, path, 1, err, errlen)) {
        rf_free_state(f);
        return NULL;
    }
    if (retry_failed)
        for (long id = 0; id < f->n_jobs; id++) {
            int st = status_parse(f->rows[id].status);
            if (st != STATUS_DIVERGED && st != STATUS_FAILED && st != STATUS_TIMEOUT) continue;
            rf_set_pending(f, (size_t)id);
            f->dirty = 1;
        }
    /* a complete file with nothing to rerun is left as it is, byte for byte */
    if (!f->on_disk_complete) f->dirty = 1;
    if (f->dirty) note_other_builds(f, path);
    /* jobs still pending take their spec from this sweep (data_dir may have changed) */
    for (long id = 0; id < f->n_jobs; id++)
        if (!results_job_done(f, id)) sweep_job(sw, id, &f->rows[id].spec);
    return f;
}

ResultsFile *results_resume(const char *path, const Sweep *sw, int retry_failed, char *err, size_t errlen) {
    ResultsFile *f = resume_file(path, sw, retry_failed, err, errlen);
    h5_attr_preload_release(); /* every attribute a resume reads is read */
    return f;
}
