"""Reads a results file (and nothing else) into one object the sections share."""
import numpy as np
import pandas as pd
import h5py
import yaml

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
    paper (dict with id, or None), axes (grid keys), groups (axes minus seed)."""

    def __init__(self, path):
        self.path = path
        with h5py.File(path, "r") as f:
            self.attrs = {k: _text(v) for k, v in f.attrs.items()}
            if "n_done" in f:  # a live file: the attribute is the last whole write's, /n_done current
                self.attrs["n_done"] = int(f["n_done"][0])
            self.df = pd.DataFrame(f["results"][:]) if "results" in f else pd.DataFrame()
            self.curves = {k: f["curves"][k][:].astype(float) for k in f["curves"]} if "curves" in f else {}
            self.layers, self.sizes, self.angle_curve = {}, None, None
            if "layers" in f:
                g = f["layers"]
                for st in g:
                    if isinstance(g[st], h5py.Group):
                        self.layers[st] = {m: g[st][m][:].astype(float) for m in g[st]}
                self.sizes = g["sizes"][:] if "sizes" in g else None
                self.angle_curve = g["angle_curve"][:].astype(float) if "angle_curve" in g else None
            self.noise_curve, self.noise_columns = None, []
            if "noise_curve" in f:
                self.noise_curve = f["noise_curve"][:].astype(float)
                self.noise_columns = _text(f["noise_curve"].attrs.get("columns", b"")).split(",")
            self.snapshot_jobs = sorted(f["snapshots"].keys()) if "snapshots" in f else []
            # per-model curves (jobs, epochs): rbse release_hist_*, mean_release, w_p_corr; lc snr_*
            self.model_curves = ({k: f["model_curves"][k][:].astype(float) for k in f["model_curves"]}
                                 if "model_curves" in f else {})
        for c in self.df.columns:
            if self.df[c].dtype == object:
                self.df[c] = self.df[c].map(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
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
        """One tensor of a job's snapshot (/snapshots/job_NNNNNN/STAGE/NAME), read on demand."""
        with h5py.File(self.path, "r") as f:
            return f[f"snapshots/job_{int(job):06d}/{stage}/{name}"][:]

    def paper_id(self):
        return self.paper["id"] if self.paper else None


def mean_std(x):
    """(mean, sample std with ddof 1 (NaN for one value), n) of the finite values."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, 0
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else np.nan, int(x.size)


def fmt_ms(m, s, n, scale=1.0, digits=2):
    if not np.isfinite(m):
        return "-"
    t = f"{m * scale:.{digits}f}"
    if np.isfinite(s):
        t += f" ± {s * scale:.{digits}f}"
    return t + ("" if n > 1 else " (n=1)") if n else "-"
