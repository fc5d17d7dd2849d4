"""Reads a results file (and nothing else) into one object the sections share."""
import os

import numpy as np
import h5py
import yaml

# analysis/ is on the path (synsweep report, PYTHONPATH): the one reader of the file
from synsweep_results import member, open_results, read_datasets, read_table

from .safeio import Refused, check_regular

def _hard(f, file, path):
    """The object at path in open file f, every step a hard link (no soft link, no link into
    another file, which a hostile file could point anywhere); Refused otherwise."""
    node = f["/"]
    for part in [p for p in path.split("/") if p]:
        if not isinstance(node, h5py.Group) or not isinstance(node.get(part, getlink=True), h5py.HardLink):
            raise Refused(file, f"{path}: not stored in this file")
        node = node[part]
    return node


# Root attributes the report shows first, in this order (absent ones are listed as not recorded).
PROVENANCE_KEYS = ["synsweep_version", "git_commit", "git_dirty", "compiler", "cflags", "blas_library",
                   "blas_kernel", "mpi_library", "hosts", "slurm_job_id", "started", "finished",
                   "created", "checkpoint", "sweep_name", "sweep_path", "format_version", "n_jobs",
                   "n_done", "complete", "axes"]
STATUSES = ["ok", "diverged", "failed", "timeout", "pending"]


def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return ", ".join(_text(x) for x in v.tolist())
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


class Results:
    """attrs (dict, decoded), df (/results, str columns), curves {name: (jobs, epochs)},
    model_curves {name: (jobs, epochs)}, snapshot(job, stage, name),
    layers {stage: {metric: (jobs, layers)}}, sizes, angle_curve (jobs, epochs, layers) or
    None, noise_curve (jobs, points, cols) or None with noise_columns, sweep (parsed YAML),
    paper (dict with id, or None), axes (grid keys), groups (axes minus seed).
    /snapshots is not opened until a section asks (snapshot_jobs, snapshot): a shard or live
    file keeps them in FILE.snap.h5, which may not have been copied with it."""

    def __init__(self, path):
        self.path = path
        with open_results(path) as f:
            self._load(f)
        self._derive()

    def _load(self, f):
        self.attrs = {k: _text(v) for k, v in f.attrs.items()}
        nd = member(f, "n_done", h5py.Dataset)
        if nd is not None and nd.shape == (1,):  # a live file: the attribute is the last whole write's
            self.attrs["n_done"] = int(nd[0])
        self.df = read_table(f, self.path)  # str columns; an older release's file: absent columns filled
        self.curves = read_datasets(member(f, "curves", h5py.Group), float)
        self.model_curves = read_datasets(member(f, "model_curves", h5py.Group), float)
        self.layers, self.sizes, self.angle_curve = {}, None, None
        g = member(f, "layers", h5py.Group)
        if g is not None:
            for st in g:
                if member(g, st, h5py.Group) is not None:
                    self.layers[st] = read_datasets(g[st], float)
            self.sizes = member(g, "sizes", h5py.Dataset)
            self.sizes = self.sizes[:] if self.sizes is not None else None
            a = member(g, "angle_curve", h5py.Dataset)
            self.angle_curve = a[:].astype(float) if a is not None else None
        self.noise_curve, self.noise_columns = None, []
        n = member(f, "noise_curve", h5py.Dataset)
        if n is not None:
            self.noise_curve = n[:].astype(float)
            self.noise_columns = _text(n.attrs.get("columns", b"")).split(",")
        self._snap_link = f.get("snapshots", getlink=True)

    def _derive(self):
        try:
            self.sweep = yaml.safe_load(self.attrs.get("sweep_yaml", "") or "") or {}
        except yaml.YAMLError:
            self.sweep = {}
        p = self.sweep.get("paper") if isinstance(self.sweep, dict) else None
        self.paper = {"id": str(p)} if isinstance(p, (str, int)) else (dict(p) if isinstance(p, dict) else None)
        axes = self.attrs.get("axes", "")
        self.axes = [a for a in str(axes).split(",") if a and a in self.df.columns]
        self.groups = [a for a in self.axes if a != "seed"]
        if "hidden" in self.df.columns:
            self.df["n_hidden"] = self.df["hidden"].map(lambda h: len([x for x in str(h).split(",") if x]))
        self._snap_jobs = None

    # --- snapshots, on demand ---
    def snapshot_source(self):
        """(file path, group path) holding the snapshots, or (None, None) without any. Raises
        Refused when the file links them from a file that is missing or not a regular file."""
        lk = self._snap_link
        if isinstance(lk, h5py.HardLink):
            return self.path, "/snapshots"
        if not isinstance(lk, h5py.ExternalLink):
            return None, None
        # a live file's snapshot index is FILE.snap.h5 by the file's current name (as synsweep
        # itself opens it): a sweep renamed with its side files still finds its own, never a
        # file of the old name
        target = os.path.abspath(self.path) + ".snap.h5"
        fd, _ = check_regular(target)
        os.close(fd)
        return target, lk.path

    def snapshots_missing(self):
        """Why the snapshots the file refers to cannot be read (text), or None."""
        try:
            self.snapshot_source()
        except Refused as e:
            return str(e)
        return None

    @property
    def snapshot_jobs(self):
        if self._snap_jobs is None:
            self._snap_jobs = []
            if self.snapshots_missing() is None:
                src, grp = self.snapshot_source()
                if src is not None:
                    with h5py.File(src, "r") as f:
                        g = f[grp]
                        self._snap_jobs = sorted(g.keys()) if isinstance(g, h5py.Group) else []
        return self._snap_jobs

    # --- helpers the sections use ---
    @property
    def ok(self):
        return self.df[self.df.status == "ok"] if "status" in self.df else self.df

    def has(self, col):
        return col in self.df.columns and self.ok[col].notna().any() if len(self.ok) else False

    def values(self, col):
        return list(dict.fromkeys(self.df[col].tolist())) if col in self.df.columns else []

    def varying(self):
        """Grid keys (seed aside) that take more than one value."""
        return [a for a in self.groups if len(self.values(a)) > 1]

    def label(self, row, keys):
        return ", ".join(f"{k}={row[k]}" for k in keys) if keys else "all jobs"

    def snapshot(self, job, stage, name):
        """One tensor of a job's snapshot (/snapshots/job_NNNNNN/STAGE/NAME), read on demand.
        Only the links synsweep writes are followed: FILE -> FILE.snap.h5 -> FILE.parts/part-N.h5
        (each file checked before it is opened, found by FILE's current name); everything
        below a job group must be hard links to a dataset stored in that file."""
        src, grp = self.snapshot_source()
        file, obj = src, f"{grp}/job_{int(job):06d}"
        parts = os.path.abspath(self.path) + ".parts"
        for _ in range(4):
            fd, _ = check_regular(file)
            os.close(fd)
            with h5py.File(file, "r") as f:
                parent, _, leaf = obj.rpartition("/")
                lk = _hard(f, file, parent).get(leaf, getlink=True)
                if isinstance(lk, h5py.ExternalLink):
                    base = os.path.basename(lk.filename)
                    if os.path.basename(os.path.dirname(lk.filename)).endswith(".parts") and base.startswith("part-"):
                        file = os.path.join(parts, base)  # the part files of this FILE, renamed or not
                    else:
                        file = os.path.join(os.path.dirname(file), lk.filename)
                    obj = lk.path
                    continue
                d = _hard(f, file, f"{obj}/{stage}/{name}")
                if not isinstance(d, h5py.Dataset) or d.is_virtual or d.external:
                    raise Refused(file, f"{obj}/{stage}/{name} is not a dataset stored in this file")
                return d[:]
        raise Refused(file, "too many external links to a snapshot")

    def paper_id(self):
        return self.paper["id"] if self.paper else None
