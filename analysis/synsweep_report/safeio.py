"""Opening a results file and writing outputs without hanging or destroying anything.

A results file is data, possibly from someone else: the input must be a regular file (a FIFO
or device would block the first read forever), and no output may replace the input, its side
files (the ones src/coordinator keeps beside FILE while a sweep runs), another HDF5 file or a
file a symlink points at. Outputs are written to a private temporary file in the target's
directory and renamed into place only when complete, so a failure leaves the old file whole.
"""
import contextlib
import os
import stat
import tempfile

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Beside FILE while a sweep runs (src/coordinator/results.c, snapstore.c): the live snapshot
# index and its temporary, the commit journal, the snapshot part files, the writer lock, and
# the temporary of FILE itself. A lost journal or index loses finished jobs.
SIDE_SUFFIXES = (".snap.h5", ".snap.h5.tmp", ".journal", ".parts", ".lock", ".tmp")
FORCE_HINT = "exists (--force replaces it)"


class Refused(Exception):
    """One line for the user: `synsweep CMD: PATH: why`."""

    def __init__(self, path, why):
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


class Usage(Refused):
    """A usage error (exit status 2), e.g. -o ''."""


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def has_hdf5_signature(fd, size):
    """HDF5 puts its signature at 0, 512, 1024, 2048, ... (after a user block)."""
    off = 0
    while off + 8 <= size:
        if os.pread(fd, 8, off) == HDF5_SIGNATURE:
            return True
        off = 512 if off == 0 else off * 2
    return False


def check_regular(path):
    """Raises Refused unless path is an existing regular file (symlinks followed: an input
    may be a link). Opens it with O_NONBLOCK, so a FIFO swapped in after the stat cannot
    block, and returns (fd, size) of the checked file; the caller closes fd."""
    if not path:
        raise Usage("FILE", "empty path")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise Refused(path, "no such file")
    except OSError as e:
        raise Refused(path, e.strerror or str(e))
    if not stat.S_ISREG(st.st_mode):
        raise Refused(path, f"{_kind(st.st_mode)}, not a regular file: refusing to open it")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise Refused(path, e.strerror or str(e))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Refused(path, f"{_kind(st.st_mode)}, not a regular file: refusing to open it")
    return fd, st.st_size


def check_input(path):
    """The input FILE: a regular HDF5 file, and no side file of it that is not a regular file
    (HDF5 follows /snapshots into FILE.snap.h5; a FIFO there would hang the reader)."""
    fd, size = check_regular(path)
    try:
        if not has_hdf5_signature(fd, size):
            raise Refused(path, "not an HDF5 file (no HDF5 signature)")
    finally:
        os.close(fd)
    snap = path + ".snap.h5"
    try:
        st = os.stat(snap)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise Refused(snap, f"{_kind(st.st_mode)}, not a regular file: refusing to open it (the snapshot "
                      f"index beside {path})")


def _side_of(path):
    """The results file path is a side file of (FILE for FILE.journal, FILE.parts/x), or None."""
    for suffix in SIDE_SUFFIXES:
        if path.endswith(suffix) and os.path.isfile(path[:-len(suffix)]):
            return path[:-len(suffix)]
    parent = os.path.dirname(path)
    if parent.endswith(".parts") and os.path.isfile(parent[:-len(".parts")]):
        return parent[:-len(".parts")]
    return None


def check_output(path, inputs=(), force=False, what="-o"):
    """Raises Refused unless path may be (re)written: not a symlink, not an input or a side
    file of a results file, not an HDF5 file, not a directory or device; an existing file only
    with force."""
    if not path:
        raise Usage(what, "empty path")
    side = _side_of(os.path.abspath(path))
    if side:
        raise Refused(path, f"a side file of the results file {side}: never replaced, even with --force")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise Refused(path, e.strerror or str(e))
    if stat.S_ISLNK(st.st_mode):
        raise Refused(path, "a symbolic link: not followed, not replaced, even with --force")
    if not stat.S_ISREG(st.st_mode):
        raise Refused(path, f"{_kind(st.st_mode)}: not replaced")
    for i in inputs:
        with contextlib.suppress(OSError):
            if os.path.samestat(st, os.stat(i)):
                raise Refused(path, "the input results file: never replaced, even with --force")
    with _open_nofollow(path) as fd:
        if has_hdf5_signature(fd, st.st_size):
            raise Refused(path, "an HDF5 file (a results file?): never replaced, even with --force")
    if not force:
        raise Refused(path, FORCE_HINT)


@contextlib.contextmanager
def _open_nofollow(path):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        yield fd
    finally:
        os.close(fd)


def temp_beside(path, suffix=".partial"):
    """(fd, name) of a new file in path's directory, created O_EXCL|O_NOFOLLOW (mkstemp), with
    the permissions an ordinary new file would get."""
    d, base = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base[:100]}.", suffix=suffix, dir=d)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def install(tmp, path, inputs=(), force=False):
    """Moves the complete temporary tmp to path. Without force, link() creates path only if it
    does not exist, atomically; with force, the checks run again just before rename() (which
    replaces a name, never follows it)."""
    try:
        check_output(path, inputs, force)
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise Refused(path, FORCE_HINT)
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def replace_atomically(path, inputs=(), force=False):
    """A text file object to write path's new content into; installed only if the block ends
    without an exception, removed otherwise."""
    check_output(path, inputs, force)
    fd, tmp = temp_beside(path)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    install(tmp, path, inputs, force)


def save_figure(fig, path, inputs=(), force=False, dpi=110):
    """Writes a matplotlib figure to path as replace_atomically writes text: checked first,
    drawn into a private temporary file beside it, then installed."""
    check_output(path, inputs, force)
    fd, tmp = temp_beside(path, suffix=".png")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, dpi=dpi, format="png")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    install(tmp, path, inputs, force)
