/* h5util.c: see h5util.h. */
#include "h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

hid_t h5_str_type(size_t n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, n) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

int h5_attr_str(hid_t loc, const char *name, const char *value) {
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

int h5_attr_i64(hid_t loc, const char *name, int64_t v) {
    hid_t sp = H5Screate(H5S_SCALAR), a = -1;
    int rc = -1;
    if (sp < 0) return -1;
    a = H5Acreate2(loc, name, H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) rc = H5Awrite(a, H5T_NATIVE_INT64, &v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

/*
 * Attribute name of loc, opened and read in a child process: HDF5 1.10 crashes on damaged
 * attributes, found by fuzzing: in H5HG_read on a variable-length string whose global heap
 * is corrupt, and in H5Aopen itself (a use after free decoding a damaged attribute
 * message). The child opens and reads it (a variable-length string, or with as_i64 one
 * int64) and writes the bytes to a pipe; a crash there makes the attribute unreadable, not
 * the program dead. @return the bytes (malloc'ed, NUL-terminated; *len their count), or NULL.
 */
double h5_attr_read_seconds = 10.0;
#define ATTR_READ_MAX ((size_t)1 << 26) /* bytes it may have */

/* In the child: the attribute's bytes (see attr_isolated). @return 0 or -1. */
static int attr_child_read(hid_t loc, const char *name, int as_i64, char **out, size_t *n) {
    static int64_t i;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), ft = -1, t = -1;
    int ok = 0;
    if (a < 0) return -1;
    if (as_i64) {
        ok = H5Aread(a, H5T_NATIVE_INT64, &i) >= 0;
        *out = (char *)&i, *n = sizeof i;
    } else if ((ft = H5Aget_type(a)) >= 0 && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0 &&
               (t = H5Tcopy(H5T_C_S1)) >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0) {
        char *v = NULL;
        ok = H5Aread(a, t, &v) >= 0 && v;
        *out = v, *n = ok ? strlen(v) : 0;
    }
    return ok ? 0 : -1; /* (the child exits: nothing to close) */
}

/*
 * An MPI process must not fork (Open MPI: fork after MPI_Init can corrupt memory registered
 * with InfiniBand/UCX). A run reads the attributes it needs before MPI starts
 * (h5_attr_preload); afterwards (h5_attr_no_fork) they come from here, and only for the file
 * they were read from: the same inode, kept open meanwhile so that it cannot be reused.
 */
#define PRELOAD_MAX 16
static struct {
    int fd;             /* the file preloaded, held open; -1 none */
    int n;
    struct {
        char name[32];
        int as_i64;
        char *v;        /* NULL: unreadable */
        size_t len;
    } e[PRELOAD_MAX];
} g_pre = {.fd = -1};
static int g_no_fork;

static char *attr_isolated(hid_t loc, const char *name, int as_i64, size_t *len_out);

int h5_attr_preload(const char *path, const char *const *names, const int *as_i64, int n) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat a, b;
    void *h = NULL;
    if (fd < 0 || fstat(fd, &a) || !S_ISREG(a.st_mode) || n > PRELOAD_MAX) { /* the later open says why */
        if (fd >= 0) close(fd);
        return -1;
    }
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0 || H5Fget_vfd_handle(file, H5P_DEFAULT, &h) < 0 || !h || fstat(*(int *)h, &b) ||
        a.st_dev != b.st_dev || a.st_ino != b.st_ino) { /* replaced between the two opens */
        if (file >= 0) H5Fclose(file);
        close(fd);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        snprintf(g_pre.e[i].name, sizeof g_pre.e[i].name, "%s", names[i]);
        g_pre.e[i].as_i64 = as_i64[i];
        g_pre.e[i].v = attr_isolated(file, names[i], as_i64[i], &g_pre.e[i].len);
    }
    H5Fclose(file);
    g_pre.fd = fd, g_pre.n = n;
    return 0;
}

void h5_attr_no_fork(void) { g_no_fork = 1; }

/* The preloaded value of attribute name of loc's file, as attr_isolated returns it. */
static char *attr_preloaded(hid_t loc, const char *name, int as_i64, size_t *len_out) {
    hid_t file = H5Iget_file_id(loc);
    void *h = NULL;
    struct stat a, b;
    int same = file >= 0 && g_pre.fd >= 0 && H5Fget_vfd_handle(file, H5P_DEFAULT, &h) >= 0 && h &&
               fstat(*(int *)h, &a) == 0 && fstat(g_pre.fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    if (file >= 0) H5Fclose(file);
    for (int i = 0; same && i < g_pre.n; i++) {
        if (strcmp(g_pre.e[i].name, name) || g_pre.e[i].as_i64 != as_i64) continue;
        char *v = g_pre.e[i].v ? malloc(g_pre.e[i].len + 1) : NULL;
        if (v) memcpy(v, g_pre.e[i].v, g_pre.e[i].len), v[g_pre.e[i].len] = 0, *len_out = g_pre.e[i].len;
        return v;
    }
    /* it fails rather than forks: the file was replaced (or unreadable) while the run started,
     * or a read that was not foreseen (a bug) */
    if (!same) fprintf(stderr, "synsweep: the results file changed while this run started; run it again\n");
    else fprintf(stderr, "synsweep: attribute '%s' was not read before MPI started, and an MPI process does "
                 "not fork to read it (a bug: please report it)\n", name);
    return NULL;
}

static char *attr_isolated(hid_t loc, const char *name, int as_i64, size_t *len_out) {
    if (g_no_fork) return attr_preloaded(loc, name, as_i64, len_out);
    int fd[2];
    if (pipe(fd)) return NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]), close(fd[1]);
        return NULL;
    }
    if (pid == 0) {
        close(fd[0]);
        char *v = NULL;
        size_t n = 0;
        int ok = attr_child_read(loc, name, as_i64, &v, &n) == 0;
        for (size_t off = 0; ok && off < n;) {
            ssize_t w = write(fd[1], v + off, n - off);
            if (w <= 0) ok = 0;
            else off += (size_t)w;
        }
        _exit(ok ? 0 : 1);
    }
    close(fd[1]);
    /* a damaged file can also send HDF5 into an endless loop: the child gets h5_attr_read_seconds
     * seconds and ATTR_READ_MAX bytes, then it is killed and the attribute is unreadable */
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (ssize_t r = 1; buf && r > 0;) {
        if (len + 1 >= cap) {
            char *nb = cap < ATTR_READ_MAX ? realloc(buf, cap *= 2) : NULL;
            if (!nb) free(buf);
            buf = nb;
            if (!buf) break;
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        double left = h5_attr_read_seconds - (double)(t.tv_sec - t0.tv_sec) - (t.tv_nsec - t0.tv_nsec) * 1e-9;
        struct pollfd p = {fd[0], POLLIN, 0};
        int ready = left > 0 ? poll(&p, 1, (int)(left * 1000) + 1) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            free(buf), buf = NULL;
            break;
        }
        r = read(fd[0], buf + len, cap - len - 1);
        if (r > 0) len += (size_t)r;
        else if (r < 0 && errno == EINTR) r = 1;
        else if (r < 0) free(buf), buf = NULL; /* a read error: not the whole string */
    }
    if (!buf) kill(pid, SIGKILL);
    close(fd[0]);
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
    }
    if (!buf || w != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        free(buf);
        return NULL;
    }
    buf[len] = 0;
    *len_out = len;
    return buf;
}

/* A string attribute read into a new malloc'ed buffer, or NULL. */
char *h5_read_attr_str(hid_t loc, const char *name) {
    size_t n;
    char *s = attr_isolated(loc, name, 0, &n);
    if (s && strlen(s) != n) free(s), s = NULL; /* a NUL inside: not what synsweep writes */
    return s;
}

int h5_read_attr_i64(hid_t loc, const char *name, int64_t *v) {
    size_t n = 0;
    char *b = attr_isolated(loc, name, 1, &n);
    int rc = b && n == sizeof *v ? 0 : -1;
    if (!rc) memcpy(v, b, sizeof *v);
    free(b);
    return rc;
}

/*
 * Creates loc/name (rank <= 4, dims, chunked as given, shuffled, deflated at level; with
 * unlimited maximum dims if asked) and writes buf into it unless it is empty.
 */
int h5_write_chunked(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
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
int h5_write_table(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                      const void *buf) {
    hsize_t chunk[4], rest = 1;
    for (int i = 1; i < rank; i++) chunk[i] = dims[i] < 1 ? 1 : dims[i] > 4096 ? 4096 : dims[i], rest *= chunk[i];
    chunk[0] = dims[0] < 1 ? 1 : dims[0] > 1024 ? 1024 : dims[0];
    while (chunk[0] > 1 && chunk[0] * rest > (1u << 20)) chunk[0] /= 2;
    return h5_write_chunked(loc, name, type, rank, dims, chunk, 1, 1, buf);
}

/* The stored type of dataset d is of mem's class and size (reading converts no representation). */
static int same_kind(hid_t d, hid_t mem) {
    hid_t ft = H5Dget_type(d);
    if (ft < 0) return 0;
    int ok = H5Tget_class(ft) == H5Tget_class(mem) && H5Tget_size(ft) == H5Tget_size(mem);
    H5Tclose(ft);
    return ok;
}

/*
 * HDF5 1.10 trusts a chunk's filters: a chunk whose pipeline decodes it to fewer bytes than
 * the chunk holds (a deflated chunk that inflates short, a pipeline whose compressor was
 * changed to another shuffle) is copied as if whole, past the end of its buffer (found by
 * fuzzing merge). So before a filtered dataset is read, every stored chunk is decoded here
 * as far as its size goes, filter by filter in HDF5's order (last first), skipping those its
 * mask says were skipped, and must come out at exactly the chunk's bytes:
 *   shuffle keeps the size; fletcher32 drops its 4-byte checksum (HDF5 verifies it);
 *   deflate is inflated here (checksum included); szip decodes to the size in its 4-byte
 *   header (libaec bounds the rest); nbit and scaleoffset to the element count and size in
 *   their parameters, which must be this chunk's (they decode the first filter's input only).
 * Any pipeline of these works (docs/FORMAT.md: h5repack may change the filters); a filter
 * this HDF5 cannot decode, or one whose output size cannot be told (a third-party plugin),
 * is refused. @return 0, or -1 (do not read it).
 */
#define CHUNK_MAX ((size_t)1 << 26) /* synsweep's chunks: a few MB */

/* One stage of a chunk's decoding (see h5_check_chunks): *n bytes at cur become the input
 * of the filter before it. @return 0, or -1 (not decodable to a sound size). */
static int chunk_stage(H5Z_filter_t id, int k, const unsigned *cd, size_t ncd, size_t elem, size_t want,
                       unsigned char *cur, size_t *n, unsigned char *spare, size_t cap) {
    if (id == H5Z_FILTER_SHUFFLE) return 0;
    if (id == H5Z_FILTER_FLETCHER32) return *n >= 4 ? (*n -= 4, 0) : -1;
    if (id == H5Z_FILTER_SZIP) {
        /* HDF5 allocates what the header says and lets libaec fill it: that size goes on
         * (only shuffles come before an szip: h5_check_chunks) */
        if (*n < 4) return -1;
        size_t h = (size_t)cur[0] | (size_t)cur[1] << 8 | (size_t)cur[2] << 16 | (size_t)cur[3] << 24;
        return h <= cap ? (*n = h, 0) : -1;
    }
    if (id == H5Z_FILTER_NBIT || id == H5Z_FILTER_SCALEOFFSET) {
        /* cd[2] elements of cd[4] bytes; nbit with cd[1] set stored them as they were */
        if (k != 0 || ncd < 5 || (size_t)cd[4] != elem || (size_t)cd[2] * elem != want) return -1;
        if (id == H5Z_FILTER_NBIT && cd[1]) return *n == want ? 0 : -1;
        return *n = want, 0;
    }
    if (id != H5Z_FILTER_DEFLATE) return -1;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) return -1;
    zs.next_in = cur, zs.avail_in = (uInt)*n, zs.next_out = spare, zs.avail_out = (uInt)cap;
    int zr = inflate(&zs, Z_FINISH);
    size_t got = zs.total_out;
    inflateEnd(&zs);
    if (zr != Z_STREAM_END) return -1;
    memcpy(cur, spare, got); /* cur holds cap bytes too */
    *n = got;
    return 0;
}

int h5_check_chunks(hid_t d) {
    hid_t pl = H5Dget_create_plist(d), sp = -1, t = -1;
    int rc = -1, nf = 0, rank = 0;
    unsigned char *z = NULL, *spare = NULL;
    H5Z_filter_t ids[16];
    unsigned cds[16][8];
    size_t ncds[16];
    if (pl < 0) return -1;
    if (H5Pget_layout(pl) != H5D_CHUNKED || (nf = H5Pget_nfilters(pl)) == 0) {
        rc = 0;
        goto done;
    }
    hsize_t ch[H5S_MAX_RANK], nch = 0, off[H5S_MAX_RANK];
    if (nf < 0 || nf > 16 || (rank = H5Pget_chunk(pl, H5S_MAX_RANK, ch)) <= 0 || (sp = H5Dget_space(d)) < 0 ||
        (t = H5Dget_type(d)) < 0 || H5Dget_num_chunks(d, sp, &nch) < 0)
        goto done;
    size_t want = H5Tget_size(t), elem = want;
    for (int k = 0; k < nf; k++) {
        unsigned flags, conf = 0;
        ncds[k] = 8;
        memset(cds[k], 0, sizeof cds[k]);
        ids[k] = H5Pget_filter2(pl, (unsigned)k, &flags, &ncds[k], cds[k], 0, NULL, NULL);
        if (ids[k] < 0 || H5Zfilter_avail(ids[k]) <= 0 || H5Zget_filter_info(ids[k], &conf) < 0 ||
            !(conf & H5Z_FILTER_CONFIG_DECODE_ENABLED))
            goto done;
        /* the stages before an szip would need its decoded bytes, which only libaec makes:
         * only shuffles (which keep the size) may come before it */
        for (int j = 0; ids[k] == H5Z_FILTER_SZIP && j < k; j++)
            if (ids[j] != H5Z_FILTER_SHUFFLE) goto done;
    }
    for (int i = 0; i < rank; i++) {
        if (ch[i] == 0 || want > CHUNK_MAX / ch[i]) goto done;
        want *= (size_t)ch[i];
    }
    /* any stage of a sound chunk fits in cap (compressors may expand a little; each checksum
     * or header adds a few bytes) */
    size_t cap = compressBound(2 * want) + 64 * (size_t)nf + 1024;
    if (!(z = malloc(cap)) || !(spare = malloc(cap))) goto done;
    for (hsize_t i = 0; i < nch; i++) {
        unsigned mask = 0;
        haddr_t addr;
        hsize_t size = 0;
        uint32_t m32 = 0;
        hsize_t size2 = 0; /* H5Dread_chunk looks the chunk up by offset: the same size there too */
        if (H5Dget_chunk_info(d, sp, i, off, &mask, &addr, &size) < 0 || size == 0 || size > cap ||
            H5Dget_chunk_storage_size(d, off, &size2) < 0 || size2 != size ||
            H5Dread_chunk(d, H5P_DEFAULT, off, &m32, z) < 0 || m32 != mask)
            goto done;
        size_t n = (size_t)size;
        int r = 0;
        for (int k = nf - 1; k >= 0 && r == 0; k--)
            if (!((m32 >> k) & 1)) r = chunk_stage(ids[k], k, cds[k], ncds[k], elem, want, z, &n, spare, cap);
        if (r != 0 || n != want) goto done;
    }
    rc = 0;
done:
    free(z), free(spare);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Pclose(pl);
    return rc;
}

int h5_read_nd(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *want, void *buf) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT), sp = -1;
    int rc = -1, empty = 0;
    if (d < 0) return -1;
    hsize_t dims[4] = {0, 0, 0, 0};
    if (!same_kind(d, type) || (sp = H5Dget_space(d)) < 0 || H5Sget_simple_extent_ndims(sp) != rank || rank > 4) goto done;
    H5Sget_simple_extent_dims(sp, dims, NULL);
    for (int i = 0; i < rank; i++) {
        if (dims[i] != want[i]) goto done;
        empty |= dims[i] == 0;
    }
    rc = empty ? 0 : h5_check_chunks(d) || H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
done:
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

static const char *class_name(H5T_class_t c) {
    switch (c) {
    case H5T_INTEGER: return "an integer";
    case H5T_FLOAT: return "a float";
    case H5T_STRING: return "a string";
    case H5T_COMPOUND: return "a compound";
    default: return "of another kind";
    }
}

int h5_check_compound(hid_t loc, const char *name, hid_t want, char *why, size_t whylen) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT), ft = -1;
    int rc = -1;
    if (d < 0) {
        snprintf(why, whylen, "has no dataset /%s", name);
        return -1;
    }
    if ((ft = H5Dget_type(d)) < 0 || H5Tget_class(ft) != H5T_COMPOUND) {
        snprintf(why, whylen, "/%s is not a table of rows (compound type)", name);
        goto done;
    }
    int nw = H5Tget_nmembers(want), nf = H5Tget_nmembers(ft);
    for (int i = 0; i < nw; i++) {
        char *mn = H5Tget_member_name(want, (unsigned)i);
        if (!mn) goto done;
        int k = H5Tget_member_index(ft, mn);
        hid_t wt = H5Tget_member_type(want, (unsigned)i), mt = k >= 0 ? H5Tget_member_type(ft, (unsigned)k) : -1;
        int bad = k < 0 ? 1 : mt < 0 || wt < 0 ? 2 : H5Tget_class(mt) != H5Tget_class(wt) || H5Tget_size(mt) != H5Tget_size(wt) ? 3 : 0;
        if (bad == 1) snprintf(why, whylen, "/%s has no column '%s'", name, mn);
        else if (bad) snprintf(why, whylen, "/%s: column '%s' is %s of %zu bytes, expected %s of %zu bytes", name, mn,
                               mt < 0 ? "unreadable" : class_name(H5Tget_class(mt)), mt < 0 ? 0 : H5Tget_size(mt),
                               class_name(H5Tget_class(wt)), H5Tget_size(wt));
        if (mt >= 0) H5Tclose(mt);
        if (wt >= 0) H5Tclose(wt);
        H5free_memory(mn);
        if (bad) goto done;
    }
    for (int i = 0; nf != nw && i < nf; i++) {
        char *mn = H5Tget_member_name(ft, (unsigned)i);
        int unexpected = mn && H5Tget_member_index(want, mn) < 0;
        if (unexpected) snprintf(why, whylen, "/%s has an unexpected column '%s'", name, mn);
        if (mn) H5free_memory(mn);
        if (unexpected) goto done;
    }
    /* the same columns of the same types: an earlier release's order and offsets are fine,
     * HDF5 converts compound rows member by member, by name */
    if (nf != nw) {
        snprintf(why, whylen, "/%s: its columns differ from this synsweep's", name);
        goto done;
    }
    rc = 0;
done:
    if (ft >= 0) H5Tclose(ft);
    H5Dclose(d);
    return rc;
}

/* Reads loc/name (whose shape must be rows x cols, or rows with cols H5_RANK1) into buf. */
int h5_read_table(hid_t loc, const char *name, hid_t type, hsize_t rows, hsize_t cols, void *buf) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT), sp = -1;
    int rc = -1, want = cols == H5_RANK1 ? 1 : 2;
    if (d < 0) return -1;
    hsize_t dims[2] = {0, 0};
    if ((sp = H5Dget_space(d)) < 0 || H5Sget_simple_extent_ndims(sp) != want ||
        H5Sget_simple_extent_dims(sp, dims, NULL) != want ||
        (!same_kind(d, type) && H5Tget_class(type) != H5T_COMPOUND) || dims[0] != rows || (want == 2 && dims[1] != cols))
        goto done;
    /* nothing to read in an empty table (e.g. the curves of zero-epoch jobs: n x 0) */
    rc = rows == 0 || cols == 0 ? 0 : h5_check_chunks(d) || H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
done:
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

/* One snapshot array at loc/name of rank 1 to 4: chunks of at most 2^20 values, deflate 4. */
int h5_write_array(hid_t loc, const char *name, const float *x, int rank, const hsize_t *dims) {
    hsize_t chunk[4], rest = 1;
    for (int i = 0; i < rank; i++) chunk[i] = dims[i];
    for (int i = 1; i < rank; i++) rest *= chunk[i];
    while (chunk[0] > 1 && chunk[0] * rest > (1u << 20)) chunk[0] /= 2;
    return h5_write_chunked(loc, name, H5T_NATIVE_FLOAT, rank, dims, chunk, 0, 4, x);
}

char *str_cat(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (s) memcpy(s, a, na), memcpy(s + na, b, nb + 1);
    return s;
}

static const char *kind_name(mode_t m) {
    return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISLNK(m) ? "a symbolic link" :
           S_ISCHR(m) || S_ISBLK(m) ? "a device" : S_ISSOCK(m) ? "a socket" : "special";
}

/* A FIFO beside the results file would block open(2), and HDF5's open, forever; a symbolic
 * link would have rank 0 write wherever it points. */
int side_file_check(const char *path, char *err, size_t errlen) {
    struct stat sb;
    if (lstat(path, &sb)) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: cannot stat it (%s)", path, strerror(errno));
        return -1;
    }
    if (S_ISREG(sb.st_mode)) return 0;
    snprintf(err, errlen, "%s: is not a regular file (%s); refusing to open it", path, kind_name(sb.st_mode));
    return -1;
}

int side_file_open(const char *path, int flags, char *err, size_t errlen) {
    int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    struct stat sb;
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open it (%s)", path, strerror(e));
        side_file_check(path, err, errlen); /* names the FIFO (ENXIO) or the link (ELOOP) */
        errno = e;
        return -1;
    }
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: is not a regular file (%s); refusing to open it", path, kind_name(sb.st_mode));
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

/* fsync a file or directory by path. */
int sync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

char *h5_copy_note;
size_t h5_copy_note_len;

/* Copies object src_obj of file src into loc as name (data copied as stored). */
int h5_copy_object(const char *src, const char *src_obj, hid_t loc, const char *name) {
    if (h5_copy_note) snprintf(h5_copy_note, h5_copy_note_len, "%s: %s", src, src_obj);
    hid_t sf = H5Fopen(src, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (sf < 0) return -1;
    int rc = H5Ocopy(sf, src_obj, loc, name, H5P_DEFAULT, H5P_DEFAULT) < 0 ? -1 : 0;
    H5Fclose(sf);
    return rc;
}


int h5_write_fixed(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims, const void *buf,
                   haddr_t *offset) {
    hid_t sp = H5Screate_simple(rank, dims, NULL), pl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    int rc = -1, empty = 0;
    for (int i = 0; i < rank; i++) empty |= dims[i] == 0;
    *offset = HADDR_UNDEF;
    if (sp < 0 || pl < 0) goto done;
    if (H5Pset_layout(pl, H5D_CONTIGUOUS) < 0 || H5Pset_alloc_time(pl, H5D_ALLOC_TIME_EARLY) < 0 ||
        H5Pset_fill_time(pl, H5D_FILL_TIME_NEVER) < 0)
        goto done;
    if ((d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT)) < 0) goto done;
    if (!empty && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) goto done;
    *offset = empty ? HADDR_UNDEF : H5Dget_offset(d);
    rc = empty || *offset != HADDR_UNDEF ? 0 : -1;
done:
    if (d >= 0) H5Dclose(d);
    if (pl >= 0) H5Pclose(pl);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}
