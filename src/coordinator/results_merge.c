/*
 * results_merge.c: shards (or any files of the same sweep) merged into one finished file;
 * every snapshot object checked before it is copied, and the work done in a child process so
 * that a crash inside HDF5 on a damaged input is a message, not a crash, and leaves nothing.
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
    for (int i = 0; ok && i < rank; i++) ok = dims[i] > 0 && dims[i] < ((hsize_t)1 << 32) / count, count *= dims[i];
    if (!ok) snprintf(v->why, sizeof v->why, "not a float32 tensor of rank 1 to 4 and under 2^32 values");
    else if (h5_check_chunks(d)) snprintf(v->why, sizeof v->why, "a chunk does not decode to its size"), ok = 0;
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    return ok ? 0 : -1;
}

/* Every snapshot object that merge will copy from input in (loaded by rf_load_file), checked
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
    if (rf_stored_sweep(inputs[0], &sw, err, errlen)) return -1;
    ResultsFile *f = rf_new_state(out, &sw, err, errlen);
    ResultsFile *in = NULL;
    int rc = -1;
    if (!f) goto done;
    for (int i = 0; i < n_inputs; i++) {
        Sweep other;
        if (rf_stored_sweep(inputs[i], &other, err, errlen)) goto done;
        int same = sweep_same_jobs(&sw, &other, e, sizeof e);
        sweep_free(&other);
        if (!same) {
            snprintf(err, errlen, "%s and %s come from different sweeps: %s", inputs[0], inputs[i], e);
            goto done;
        }
        if (g_merge_note) snprintf(g_merge_note, g_merge_note_len, "%s", inputs[i]);
        if (!(in = rf_new_state(inputs[i], &sw, err, errlen)) || rf_load_file(in, inputs[i], 2, err, errlen) ||
            merge_check_snapshots(in, inputs[i], err, errlen))
            goto done;
        for (long id = 0; id < f->n_jobs; id++) {
            if (!results_job_done(in, id)) continue;
            if (results_job_done(f, id)) {
                snprintf(err, errlen, "job %ld has a result in two inputs (the second: %s)", id, inputs[i]);
                goto done;
            }
            rf_copy_job(f, in, (size_t)id);
            f->n_done++;
            if (snapstore_take(&f->st, id, &in->st)) goto done;
        }
        if (in->builds && rf_host_list_add(&f->builds, in->builds)) { /* the builds that wrote the inputs */
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        rf_free_state(in);
        in = NULL;
    }
    /* the snapshots copied straight from the inputs' files (checked above), so that a crash
     * in HDF5 is reported with the input's file and object */
    if (rf_write_main(f, 1, err, errlen)) goto done;
    rc = 0;
done:
    if (f && f->st.n_src) snapstore_remove_parts(&f->st);
    rf_free_state(in);
    rf_free_state(f);
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
        sh->err[sizeof sh->err - 1] = 0;
        if (rc) snprintf(err, errlen, "%s", sh->err[0] ? sh->err : "merge failed (no reason given)");
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
