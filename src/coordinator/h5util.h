/*
 * h5util: the HDF5 calls the results file is made of, each checked (< 0 is failure):
 * string types and attributes, chunked + shuffled + deflated datasets, reading a dataset
 * of a known shape, copying an object between files, fsync by path.
 */
#ifndef SYNSWEEP_H5UTIL_H
#define SYNSWEEP_H5UTIL_H

#include <hdf5.h>
#include <stdint.h>

/** A fixed-length, NUL-terminated string type of n bytes (close it), or < 0. */
hid_t h5_str_type(size_t n);
/** Writes a UTF-8 variable-length string attribute. @return 0 or -1. */
int h5_attr_str(hid_t loc, const char *name, const char *value);
int h5_attr_i64(hid_t loc, const char *name, int64_t v);
/** A string attribute read into a new malloc'ed buffer, or NULL (also when HDF5 took more
 * than h5_attr_read_seconds on it: a damaged file can make it loop forever). */
char *h5_read_attr_str(hid_t loc, const char *name);
/** Seconds a string attribute's read may take (10; the fuzz target sets 0.25). */
extern double h5_attr_read_seconds;
int h5_read_attr_i64(hid_t loc, const char *name, int64_t *v);
/** Reads the root attributes names[0..n) (int64 where as_i64[i], else strings) of file path in
 * forked children, as the two calls above do, and keeps them (and path open) for those calls
 * once h5_attr_no_fork is in effect. @return 0, or -1 (not a regular, readable HDF5 file). */
int h5_attr_preload(const char *path, const char *const *names, const int *as_i64, int n);
/** From now on this process never forks to read an attribute (MPI has started): reads are
 * served from h5_attr_preload, for the same file only; any other read fails. */
void h5_attr_no_fork(void);
/** Forgets what h5_attr_preload read and closes the file it held (once the reads are done). */
void h5_attr_preload_release(void);
/**
 * Creates loc/name (rank <= 4, dims, chunked as given, shuffled, deflated at level; with
 * unlimited maximum dims if asked) and writes buf into it unless it is empty.
 */
int h5_write_chunked(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                     const hsize_t *chunk, int unlimited, int level, const void *buf);
/** A per-job table of rank 1 to 4: rows chunked by 1024 (other dimensions by 4096, chunks of
 * at most 2^20 values), extendable, fast compression (it is rewritten at every checkpoint). */
int h5_write_table(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims, const void *buf);
/**
 * Creates loc/name contiguous, allocated at once and uncompressed, and writes buf into it: its
 * bytes never move, so rows can be rewritten in place without HDF5 (results_write.c's live file).
 * *offset gets the data's address in the file (HADDR_UNDEF if empty). @return 0 or -1.
 */
int h5_write_fixed(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims, const void *buf,
                   haddr_t *offset);
/**
 * Whether dataset loc/name stores rows of the compound type want: the same columns, each of
 * the same class and size (their order and offsets may differ: HDF5 converts by name).
 * @return 0, or -1 with why (naming the first missing, unexpected or mistyped column) in why.
 */
int h5_check_compound(hid_t loc, const char *name, hid_t want, char *why, size_t whylen);
/** cols of h5_read_table for a rank-1 dataset of rows values */
#define H5_RANK1 ((hsize_t)-1)
/** Reads loc/name (whose shape must be rows x cols, cols 0 allowed; or rows, with cols
 * H5_RANK1) into buf. */
int h5_read_table(hid_t loc, const char *name, hid_t type, hsize_t rows, hsize_t cols, void *buf);
/** Every stored chunk of a filtered dataset d decodes to exactly its chunk's bytes (HDF5 1.10
 * overruns a buffer on a short one), checked filter by filter: shuffle, fletcher32, deflate,
 * szip, nbit, scaleoffset, in any order HDF5 can decode; other filters are refused.
 * @return 0 (unfiltered or sound), or -1. */
int h5_check_chunks(hid_t d);
/** Every dataset of file path (hard links only: H5Ovisit) through h5_check_chunks, before a
 * reader without those checks (h5py) reads it. @return 0 (also for a file HDF5 cannot open:
 * its reader says why), or -1 with err naming the object. */
int h5_check_file(const char *path, char *err, size_t errlen);

/** Reads loc/name, whose shape must be want (rank dims), into buf. @return 0 or -1. */
int h5_read_nd(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *want, void *buf);
/** One float array at loc/name of rank 1 to 4: chunks of at most 2^20 values, deflate 4. */
int h5_write_array(hid_t loc, const char *name, const float *x, int rank, const hsize_t *dims);
/** Copies object src_obj of file src into loc as name (data copied as stored). Before the copy,
 * "src: src_obj" is written to h5_copy_note when it is set (h5_copy_note_len bytes): where
 * a crash inside HDF5 happened, for a parent process (results_merge). */
int h5_copy_object(const char *src, const char *src_obj, hid_t loc, const char *name);
extern char *h5_copy_note;
extern size_t h5_copy_note_len;
/** A new string: a followed by b (NULL out of memory). */
char *str_cat(const char *a, const char *b);
/** A path beside the results file (FILE.journal, FILE.snap.h5, ...) is absent or a regular
 * file, not a FIFO, symbolic link or other special file. @return 0, or -1 with err
 * ("PATH: is not a regular file (a FIFO); ..."). */
int side_file_check(const char *path, char *err, size_t errlen);
/** open(2) of such a path (flags, mode 0644 if created), never blocking and never following
 * a symbolic link; refused unless it is a regular file. @return the fd, or -1 with err (and
 * errno: ENOENT when it does not exist). */
int side_file_open(const char *path, int flags, char *err, size_t errlen);
/** fsync a file or directory by path. */
int sync_path(const char *path);

#endif
