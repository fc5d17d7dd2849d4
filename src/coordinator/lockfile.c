/* lockfile.c: see lockfile.h. */
#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int lockfile_try(int fd, const char *lock_path) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) < 0) return -1;
    struct stat a, b;
    if (fstat(fd, &a) || stat(lock_path, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino) return 0;
    return 1;
}

int lockfile_take(const char *lock_path, const char *subject, char *err, size_t errlen) {
    for (int attempt = 0; attempt < 100; attempt++) {
        /* never blocking on a FIFO, never following a link: a regular file or nothing */
        int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
        struct stat sb;
        if (fd < 0 && errno == ELOOP) {
            snprintf(err, errlen, "%s: its lock %s is not a regular file (a symbolic link); refusing to open it",
                     subject, lock_path);
            return -1;
        }
        if (fd < 0) {
            snprintf(err, errlen, "%s: cannot create the results file or its lock %s (%s): does its directory "
                     "exist and is it writable?", subject, lock_path, strerror(errno));
            return -1;
        }
        if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
            snprintf(err, errlen, "%s: its lock %s is not a regular file; refusing to use it", subject, lock_path);
            close(fd);
            return -1;
        }
        int r = lockfile_try(fd, lock_path);
        if (r == 0) { /* the holder removed it between our open and our lock: take the new one */
            close(fd);
            continue;
        }
        if (r < 0) {
            char who[128] = "";
            ssize_t k = pread(fd, who, sizeof who - 1, 0);
            who[k > 0 ? k : 0] = 0;
            who[strcspn(who, "\n")] = 0;
            snprintf(err, errlen, "%s: another synsweep is writing it (%s); wait for it or stop it first",
                     subject, who[0] ? who : "lock held");
            close(fd);
            return -1;
        }
        char me[160], host[64] = "";
        gethostname(host, sizeof host - 1);
        int n = snprintf(me, sizeof me, "pid %d on %s\n", (int)getpid(), host);
        if (ftruncate(fd, 0) == 0 && pwrite(fd, me, (size_t)n, 0) == n) { /* best effort: who holds it */ }
        return fd;
    }
    snprintf(err, errlen, "%s: its lock %s keeps being replaced; is another synsweep starting on it?", subject, lock_path);
    return -1;
}

void lockfile_release(int fd, const char *lock_path) {
    if (fd < 0) return;
    unlink(lock_path); /* still held: a process that opened it will see it is stale */
    close(fd);
}
