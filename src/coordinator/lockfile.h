/*
 * lockfile: one writer per results file. An fcntl write lock on FILE.lock (advisory, works
 * over NFS; it vanishes with the process, even on SIGKILL). The holder unlinks the lock
 * file while it still holds the lock, so a process that opened the old file and locks it
 * afterwards holds a lock on a file nobody else will ever open: lockfile_take therefore
 * checks, after locking, that the path still names the locked file, and starts over if not.
 */
#ifndef SYNSWEEP_LOCKFILE_H
#define SYNSWEEP_LOCKFILE_H

#include <stddef.h>

/**
 * Locks lock_path. @return the descriptor (held until lockfile_release), or -1 with err
 * naming the holder (or the reason it cannot be created); subject names what is locked.
 */
int lockfile_take(const char *lock_path, const char *subject, char *err, size_t errlen);
/**
 * One attempt with fd, already open on lock_path: 1 locked and lock_path still names fd's
 * file, 0 locked but stale (lock_path was removed or replaced: close fd and start over),
 * -1 held by another process.
 */
int lockfile_try(int fd, const char *lock_path);
/** Unlinks lock_path while holding it, then closes fd. */
void lockfile_release(int fd, const char *lock_path);

#endif
