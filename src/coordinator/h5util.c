/* h5util.c: see h5util.h (the guarded attribute reader is h5attr.c). */
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
 *   header (libaec bounds the rest).
 * Any pipeline of these works (docs/FORMAT.md: h5repack may change the filters); nbit,
 * scaleoffset (decoders not safe on damaged chunks in HDF5 1.10), a filter this HDF5 cannot
 * decode, or one whose output size cannot be told (a third-party plugin) is refused.
 * @return 0, or -1 (do not read it).
 */
#define CHUNK_MAX ((size_t)1 << 26) /* synsweep's chunks: a few MB */

/* One stage of a chunk's decoding (see h5_check_chunks): *n bytes at cur become the input
 * of the filter before it. @return 0, or -1 (not decodable to a sound size). */
static int chunk_stage(H5Z_filter_t id, unsigned char *cur, size_t *n, unsigned char *spare, size_t cap) {
    if (id == H5Z_FILTER_SHUFFLE) return 0;
    if (id == H5Z_FILTER_FLETCHER32) return *n >= 4 ? (*n -= 4, 0) : -1;
    if (id == H5Z_FILTER_SZIP) {
        /* HDF5 allocates what the header says and lets libaec fill it: that size goes on
         * (only shuffles come before an szip: h5_check_chunks) */
        if (*n < 4) return -1;
        size_t h = (size_t)cur[0] | (size_t)cur[1] << 8 | (size_t)cur[2] << 16 | (size_t)cur[3] << 24;
        return h <= cap ? (*n = h, 0) : -1;
    }
    /* nbit and scaleoffset are refused: their output size can be checked from their parameters
     * but HDF5 1.10's decoders parse the chunk with weak bounds (CVE-2018-17434 is one), and
     * --resume reads in an MPI rank, which cannot fork a guard */
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
    H5D_layout_t layout = H5Pget_layout(pl);
    if (layout == H5D_COMPACT || layout == H5D_CONTIGUOUS) {
        /* the stored bytes must hold the whole extent: HDF5 1.10 copies the extent's size out
         * of a shorter compact buffer (a fuzzed file: 1 byte stored for 64 read) */
        hssize_t np;
        size_t ts;
        if ((sp = H5Dget_space(d)) < 0 || (t = H5Dget_type(d)) < 0 || (np = H5Sget_simple_extent_npoints(sp)) < 0 ||
            (ts = H5Tget_size(t)) == 0)
            goto done;
        hsize_t stored = H5Dget_storage_size(d);
        /* contiguous storage not yet allocated reads as fill values: only a compact one is checked
         * against 0 */
        rc = (stored == 0 && layout == H5D_CONTIGUOUS) || (np == 0) ||
                     ((hsize_t)np <= (hsize_t)-1 / ts && stored >= (hsize_t)np * ts)
                 ? 0
                 : -1;
        goto done;
    }
    if (layout != H5D_CHUNKED || (nf = H5Pget_nfilters(pl)) == 0) {
        rc = 0;
        goto done;
    }
    hsize_t ch[H5S_MAX_RANK], nch = 0, off[H5S_MAX_RANK];
    if (nf < 0 || nf > 16 || (rank = H5Pget_chunk(pl, H5S_MAX_RANK, ch)) <= 0 || (sp = H5Dget_space(d)) < 0 ||
        (t = H5Dget_type(d)) < 0 || H5Dget_num_chunks(d, sp, &nch) < 0)
        goto done;
    size_t want = H5Tget_size(t);
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
            if (!((m32 >> k) & 1)) r = chunk_stage(ids[k], z, &n, spare, cap);
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
    /* every column inside the row: HDF5 1.10 converts a member at an offset past the row's
     * size out of its buffers (a fuzzed file: a crash in H5T__conv_struct_opt) */
    size_t rs = H5Tget_size(ft);
    for (int i = 0; i < nf; i++) {
        hid_t mt = H5Tget_member_type(ft, (unsigned)i);
        size_t off = H5Tget_member_offset(ft, (unsigned)i), ms = mt >= 0 ? H5Tget_size(mt) : 0;
        if (mt >= 0) H5Tclose(mt);
        if (mt < 0 || ms == 0 || off > rs || ms > rs - off) {
            snprintf(why, whylen, "/%s: column %d lies outside its %zu-byte rows (damaged type)", name, i, rs);
            goto done;
        }
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

/* H5Ovisit callback of h5_check_file: every chunked dataset's chunks (h5_check_chunks). */
static herr_t check_object(hid_t root, const char *name, const H5O_info_t *info, void *op) {
    char *bad = op;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
    int ok = d >= 0 && h5_check_chunks(d) == 0;
    if (d >= 0) H5Dclose(d);
    if (!ok) snprintf(bad, 512, "/%s", name);
    return ok ? 0 : 1;
}

int h5_check_file(const char *path, char *err, size_t errlen) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return 0; /* not HDF5 at all: the reader says so */
    char bad[512] = "";
    herr_t r = H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, check_object, bad, H5O_INFO_BASIC);
    H5Fclose(f);
    if (r == 0) return 0;
    snprintf(err, errlen, "%s: %s is damaged (%s); refusing to read it", path, bad[0] ? bad : "an object",
             bad[0] ? "a chunk does not decode to its size, or a filter that is not safe to read" : "unreadable");
    return -1;
}
