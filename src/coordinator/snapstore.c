/* snapstore.c: see snapstore.h. */
#include "snapstore.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5util.h"

int snapstore_init(SnapStore *st, const char *path, long n_jobs) {
    memset(st, 0, sizeof *st);
    st->n_jobs = n_jobs;
    st->next_part = 1;
    const char *slash = strrchr(path, '/');
    st->parts_dir = str_cat(path, ".parts");
    st->parts_rel = str_cat(slash ? slash + 1 : path, ".parts");
    st->snap = calloc((size_t)(n_jobs > 0 ? n_jobs : 1), sizeof(int32_t));
    if (!st->parts_dir || !st->parts_rel || !st->snap) {
        snapstore_free(st);
        return -1;
    }
    return 0;
}

void snapstore_free(SnapStore *st) {
    for (int i = 0; i < st->n_buf; i++) job_result_free(&st->buf[i]);
    for (int i = 0; i < st->n_src; i++) free(st->src[i].path), free(st->src[i].link);
    free(st->buf), free(st->src), free(st->snap), free(st->parts_dir), free(st->parts_rel);
    memset(st, 0, sizeof *st);
}

static int add_source(SnapStore *f, const char *path, const char *prefix, const char *link, int ours) {
    for (int i = 0; i < f->n_src; i++)
        if (!strcmp(f->src[i].path, path) && !strcmp(f->src[i].prefix, prefix)) return i + 1;
    if (f->n_src == f->cap_src) {
        int cap = f->cap_src ? 2 * f->cap_src : 16;
        SnapSource *ns = realloc(f->src, (size_t)cap * sizeof(SnapSource));
        if (!ns) return -1;
        f->src = ns, f->cap_src = cap;
    }
    SnapSource *s = &f->src[f->n_src++];
    s->path = strdup(path), s->link = strdup(link);
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    s->ours = ours;
    if (!s->path || !s->link) {
        free(s->path), free(s->link);
        f->n_src--;
        return -1;
    }
    return f->n_src;
}

/* Writes the snapshot groups of r under loc (job_NNNNNN/<stage>/<tensor>), one dataset per
 * tensor of r's list with its name and shape, and attribute `trainable`. */
static int write_snapshot_group(hid_t loc, const JobResult *r, char *err, size_t errlen,
                                const char *path) {
    hid_t gj = -1, gs = -1, d = -1;
    char name[64];
    snprintf(name, sizeof name, "job_%06d", r->job_id);
    if ((gj = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 || h5_attr_i64(gj, "job_id", r->job_id))
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
            if (h5_write_array(gs, t->name, x, t->ndim, dims) || (d = H5Dopen2(gs, t->name, H5P_DEFAULT)) < 0 ||
                h5_attr_i64(d, "trainable", t->learned))
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
    snprintf(err, errlen, "%s: HDF5 failed to write the snapshots of job %d%s", path, r->job_id,
             errno == ENOSPC || errno == EDQUOT ? " (No space left on device)" : "");
    if (d >= 0) H5Dclose(d);
    if (gs >= 0) H5Gclose(gs);
    if (gj >= 0) H5Gclose(gj);
    return -1;
}

/*
 * A new part file holding the buffered snapshots, plus those of jobs whose snapshots still
 * live in a file that is not ours (they are copied in); written, closed and fsync'ed.
 */
int snapstore_write_part(SnapStore *f, char *err, size_t errlen) {
    int foreign = 0;
    for (long id = 0; id < f->n_jobs; id++)
        if (f->snap[id] && !f->src[f->snap[id] - 1].ours) foreign++;
    if (f->n_buf == 0 && foreign == 0) return 0;
    if (mkdir(f->parts_dir, 0777) && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create the snapshot directory (%s)", f->parts_dir, strerror(errno));
        return -1;
    }
    char leaf[32];
    snprintf(leaf, sizeof leaf, "/part-%06d.h5", f->next_part);
    char *path = str_cat(f->parts_dir, leaf), *link = str_cat(f->parts_rel, leaf);
    if (!path || !link) {
        free(path), free(link);
        snprintf(err, errlen, "%s: out of memory", f->parts_dir);
        return -1;
    }
    unlink(path); /* an orphan of an interrupted checkpoint: nothing links to it */
    hid_t pf = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (pf < 0) {
        snprintf(err, errlen, "%s: cannot create the snapshot part file", path);
        free(path), free(link);
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
        if (h5_copy_object(s->path, obj, pf, name)) {
            snprintf(err, errlen, "%s: cannot copy the snapshots of job %ld from %s", path, id, s->path);
            goto fail;
        }
        f->snap[id] = k;
    }
    if (H5Fclose(pf) < 0 || sync_path(path)) {
        snprintf(err, errlen, "%s: cannot close or sync the snapshot part file (%s)", path, strerror(errno));
        free(path), free(link);
        return -1;
    }
    for (int i = 0; i < f->n_buf; i++) job_result_free(&f->buf[i]);
    f->n_buf = 0;
    f->next_part++;
    free(path), free(link);
    return 0;
fail:
    H5Fclose(pf);
    free(path), free(link);
    return -1;
}

int snapstore_check_dir(const SnapStore *st, char *err, size_t errlen) {
    struct stat sb;
    if (stat(st->parts_dir, &sb)) {
        if (errno == ENOENT) return 0; /* made at the first snapshots, beside FILE (writable) */
        snprintf(err, errlen, "%s: cannot use it for the snapshot part files (%s)", st->parts_dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s: cannot hold the snapshot part files (%s); move it away or choose another -o",
                 st->parts_dir, strerror(ENOTDIR));
        return -1;
    }
    if (access(st->parts_dir, W_OK | X_OK)) {
        snprintf(err, errlen, "%s: cannot write the snapshot part files there (%s)", st->parts_dir, strerror(errno));
        return -1;
    }
    return 0;
}

typedef struct LinkScan {
    SnapStore *f;
    const char *main_path;
    int via_index; /* the links are FILE.snap.h5's (a live file) */
    int bad;
} LinkScan;

/* For each /snapshots/job_NNNNNN of the file being read: where its snapshots are. */
static herr_t scan_snapshot(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    LinkScan *sc = op;
    long id;
    if (sscanf(name, "job_%ld", &id) != 1 || id < 0 || id >= sc->f->n_jobs) return 0;
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
        /* a part file of this results file stays linked; any other is copied on the next checkpoint.
         * FILE.snap.h5 links only into FILE's own part directory, named as FILE was when it was
         * written: FILE may have been renamed since (with its side files), so that name is not
         * looked up, the part is taken from FILE.parts */
        const char *slash = strrchr(file, '/');
        size_t nl = slash ? (size_t)(slash - file) : 0;
        int ours = slash && ((sc->via_index && file[0] != '/' && !memchr(file, '/', nl) && nl > 6 &&
                              !strncmp(slash - 6, ".parts", 6)) ||
                             (!strncmp(file, sc->f->parts_rel, nl) && strlen(sc->f->parts_rel) == nl));
        /* relative links are relative to the main file's directory */
        const char *ms = strrchr(sc->main_path, '/');
        size_t nd = ms ? (size_t)(ms - sc->main_path + 1) : 0;
        char *full = malloc(nd + strlen(file) + strlen(sc->f->parts_dir) + 1),
             *link = ours ? str_cat(sc->f->parts_rel, slash) : strdup(file);
        if (!full || !link) {
            free(full), free(link);
            sc->bad = 1;
            return -1;
        }
        if (ours) strcpy(full, sc->f->parts_dir), strcat(full, slash);
        else if (file[0] == '/') strcpy(full, file);
        else memcpy(full, sc->main_path, nd), strcpy(full + nd, file);
        /* the link's target object is "/job_NNNNNN" in the part file */
        const char *oslash = strrchr(obj, '/');
        char prefix[16];
        snprintf(prefix, sizeof prefix, "%.*s", oslash ? (int)(oslash - obj + 1) : 0, obj);
        k = add_source(sc->f, full, prefix, link, ours);
        free(full), free(link);
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


int snapstore_scan(SnapStore *st, hid_t file, const char *main_path, char *why, size_t whylen) {
    /* a live file's /snapshots is an external link to FILE.snap.h5: that file is opened by
     * FILE's name, beside FILE, not by the name stored in the link (FILE may have been renamed),
     * and only if it is a regular file (HDF5 would block forever opening a FIFO) */
    H5L_info_t li;
    hid_t idx = -1;
    int linked = H5Lget_info(file, "snapshots", &li, H5P_DEFAULT) >= 0 && li.type == H5L_TYPE_EXTERNAL;
    why[0] = 0;
    if (linked) {
        char *index = str_cat(main_path, ".snap.h5");
        if (index && !side_file_check(index, why, whylen)) idx = H5Fopen(index, H5F_ACC_RDONLY, H5P_DEFAULT);
        free(index);
        if (idx < 0) return -1;
    }
    LinkScan sc = {st, main_path, linked, 0};
    hid_t g = H5Gopen2(linked ? idx : file, "snapshots", H5P_DEFAULT);
    int rc = g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, scan_snapshot, &sc) < 0 || sc.bad ? -1 : 0;
    if (g >= 0) H5Gclose(g);
    if (idx >= 0) H5Fclose(idx);
    return rc;
}

long snapstore_drop_missing(SnapStore *st, int32_t *lost, char *first, size_t firstlen) {
    long n = 0;
    if (firstlen) first[0] = 0;
    for (int i = 0; i < st->n_src; i++) {
        struct stat sb;
        int ok = stat(st->src[i].path, &sb) == 0 && S_ISREG(sb.st_mode) && access(st->src[i].path, R_OK) == 0;
        if (ok) continue;
        if (firstlen && !first[0]) snprintf(first, firstlen, "%s", st->src[i].path);
        for (long id = 0; id < st->n_jobs; id++)
            if (st->snap[id] == i + 1) st->snap[id] = 0, lost[id] = 1, n++;
    }
    return n;
}

int snapstore_add(SnapStore *st, const JobResult *r) {
    if (st->n_buf == st->cap_buf) {
        int cap = st->cap_buf ? 2 * st->cap_buf : 16;
        JobResult *nb = realloc(st->buf, (size_t)cap * sizeof(JobResult));
        if (!nb) return -1;
        st->buf = nb, st->cap_buf = cap;
    }
    JobResult *c = &st->buf[st->n_buf];
    *c = *r;
    c->curves = c->angle_curve = c->noise_curve = c->mcurves = NULL; /* only the snapshots are kept */
    size_t ns = (size_t)job_result_n_snaps(r) * (size_t)(r->n_params + r->n_fixed);
    if (!(c->snaps = malloc(ns * sizeof(float)))) return -1;
    memcpy(c->snaps, r->snaps, ns * sizeof(float));
    st->n_buf++;
    return 0;
}

int snapstore_write_links(const SnapStore *st, hid_t file, int consolidate) {
    hid_t g = H5Gcreate2(file, "snapshots", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    for (long id = 0; id < st->n_jobs; id++) {
        if (!st->snap[id]) continue;
        const SnapSource *s = &st->src[st->snap[id] - 1];
        char name[32], obj[64];
        snprintf(name, sizeof name, "job_%06ld", id);
        snprintf(obj, sizeof obj, "%sjob_%06ld", s->prefix, id);
        if (consolidate ? h5_copy_object(s->path, obj, g, name)
                        : H5Lcreate_external(s->link, obj, g, name, H5P_DEFAULT, H5P_DEFAULT) < 0) {
            H5Gclose(g);
            return -1;
        }
    }
    return H5Gclose(g) < 0 ? -1 : 0;
}

int snapstore_take(SnapStore *st, long id, const SnapStore *src) {
    if (!src->snap[id]) return 0;
    /* copied from where the input keeps them (its main file or its parts) */
    const SnapSource *s = &src->src[src->snap[id] - 1];
    int k = add_source(st, s->path, s->prefix, "", 0);
    if (k < 0) return -1;
    st->snap[id] = k;
    return 0;
}

void snapstore_remove_parts(SnapStore *st) {
    for (int i = 0; i < st->n_src; i++)
        if (st->src[i].ours) unlink(st->src[i].path);
    /* and the orphans: part files a killed checkpoint wrote but never linked (FILE.parts is
     * this results file's own directory; after consolidation nothing in it is needed) */
    DIR *d = opendir(st->parts_dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 9 || strncmp(e->d_name, "part-", 5) || strcmp(e->d_name + n - 3, ".h5")) continue;
        char *p = malloc(strlen(st->parts_dir) + n + 2);
        if (!p) break;
        sprintf(p, "%s/%s", st->parts_dir, e->d_name);
        unlink(p);
        free(p);
    }
    if (d) closedir(d);
    rmdir(st->parts_dir);
}
