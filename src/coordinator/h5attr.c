/*
 * h5attr.c: reading attributes of files that may be damaged (h5util.h): each is opened and
 * read in a forked child, which HDF5 may crash or hang without taking synsweep with it; or,
 * in an MPI process, which must not fork, from what h5_attr_preload read before MPI started.
 */
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
    h5_attr_preload_release(); /* a second preload replaces the first */
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

void h5_attr_preload_release(void) {
    for (int i = 0; i < g_pre.n; i++) free(g_pre.e[i].v), g_pre.e[i].v = NULL;
    if (g_pre.fd >= 0) close(g_pre.fd); /* else the replaced file's inode stays allocated all run */
    g_pre.fd = -1, g_pre.n = 0;
}

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

