/* The one-writer lock under the interleaving of issue 12: a waiter opens FILE.lock, the
 * holder releases it (unlink, then close), a third process takes a new FILE.lock; the
 * waiter's lock on the old file must not count as holding it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lockfile.h"

static int pass, fail;
#define CHECK(c, ...) do { if (c) pass++; else { fail++; printf("FAIL: " __VA_ARGS__); printf("\n"); } } while (0)

/* A child that takes the lock and holds it until killed; returns its pid once it holds it. */
static pid_t holder(const char *lp) {
    int p[2];
    if (pipe(p)) exit(1);
    pid_t pid = fork();
    if (pid == 0) {
        char err[512];
        int fd = lockfile_take(lp, "test", err, sizeof err);
        char c = fd >= 0 ? 'y' : 'n';
        if (write(p[1], &c, 1) != 1) _exit(1);
        if (fd < 0) _exit(1);
        pause();
        _exit(0);
    }
    char c = 0;
    if (read(p[0], &c, 1) != 1 || c != 'y') return -1;
    close(p[0]), close(p[1]);
    return pid;
}

int main(void) {
    char dir[] = "/tmp/synsweep_lockXXXXXX", lp[256], err[512];
    if (!mkdtemp(dir)) return 1;
    snprintf(lp, sizeof lp, "%s/r.h5.lock", dir);

    /* 1. holder H; a second taker is refused, naming H */
    pid_t h = holder(lp);
    CHECK(h > 0, "holder took the lock");
    int fd = lockfile_take(lp, "r.h5", err, sizeof err);
    CHECK(fd < 0 && strstr(err, "another synsweep is writing it (pid "), "second taker refused: %s", err);

    /* 2. the waiter opened the lock file while H held it ... */
    int wfd = open(lp, O_RDWR);
    CHECK(wfd >= 0, "waiter opened the lock file");
    CHECK(lockfile_try(wfd, lp) == -1, "waiter sees it held");
    /* ... H releases it (unlink while held, then close: here by ending H after its unlink) */
    unlink(lp);
    kill(h, SIGKILL);
    waitpid(h, NULL, 0);
    /* ... a third process takes the (new) lock */
    pid_t t = holder(lp);
    CHECK(t > 0, "third process took the new lock");
    /* the waiter now locks its (old, unlinked) file: that must not count */
    CHECK(lockfile_try(wfd, lp) == 0, "waiter's lock on the removed file is stale");
    close(wfd);
    fd = lockfile_take(lp, "r.h5", err, sizeof err);
    CHECK(fd < 0, "the waiter starting over is refused while the third process holds it");
    kill(t, SIGKILL);
    waitpid(t, NULL, 0);

    /* 3. free again: taken, released (file removed), taken again */
    fd = lockfile_take(lp, "r.h5", err, sizeof err);
    CHECK(fd >= 0, "lock free after the holder died: %s", err);
    lockfile_release(fd, lp);
    CHECK(access(lp, F_OK) != 0, "release removes the lock file");
    rmdir(dir);
    printf("test_lock: %d passed, %d failed\n", pass, fail);
    return fail != 0;
}
