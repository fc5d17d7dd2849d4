"""Load a synsweep results file into pandas with str columns.

    import sys; sys.path.insert(0, "analysis")
    from synsweep_results import load_results
    df = load_results("results/demo.h5")          # one row per job
    curves = load_curves("results/demo.h5", "test_acc")   # rows = jobs, columns = epochs

h5py returns HDF5 strings as bytes; load_results decodes every bytes column to str.
Layout: docs/FORMAT.md.

The one reader of a results file in Python: `synsweep report` and `export`
(synsweep_report.data.Results builds on open_results / read_table / member / read_datasets)
and the study scripts go through it. A results file is data, possibly from someone else:
open_results checks it first (synsweep_report/safeio.py: a regular file with an HDF5
signature, no FIFO beside it as FILE.snap.h5), and member() reads only objects stored in the
file itself (no external or soft link, no virtual or external dataset storage).
"""
import math

import h5py
import pandas as pd

from synsweep_report.safeio import Refused, check_input

# Columns added to /results since format 2 began (d34c815), with the value a file written
# before them means (docs/FORMAT.md, "Older files of format 2"): parameters at their
# defaults (a new parameter's default reproduces the behaviour before it), later metrics
# NaN. synsweep's C reader fills them the same way; robust_catalogue compares the two.
# A new parameter or metric column gets a line here.
LATE_COLUMNS = {
    "test_split": "test", "noise_curve_points": 20, "fc_pool_mode": "avg", "conv_bias": 1,
    "cache_budget_mb": 1024, "lc_channels": "32,32", "lc_size": 5, "lc_pool": "max",
    "lc_init": "independent", "lc_init_eps": 0.0, "sleep": "none", "sleep_every": 10,
    "sleep_share": "grid", "sleep_steps": 100, "sleep_lr": 0.1, "sleep_gamma": 1e-05,
    "sleep_batch": 128, "rbm_hidden": 500, "rbm_train_size": 10000, "rbm_epochs": 10,
    "rbm_batch_size": 100, "cd_k": 1, "persistent": 0, "rbm_lr": 0.05, "rbm_momentum": 0.5,
    "rbm_weight_decay": 0.0001, "rbm_init_std": 0.01, "release_init": 0.5, "learn_release": 1,
    "release_lr_scale": 1.0, "rbse_samples": 10, "binarize": "threshold",
    "binarize_threshold": 0.5, "lr_decay_epochs": "", "lr_decay_factor": 1.0, "augment": "none",
    "rbse_features": "prior", "rbse_chain": "joint", "rbm_dropconnect": 1.0, "val_size": 0, "early_stop_patience": 5,
    "resnet_n": 3, "resnet_width": 16, "layer_type": "conv",
    **{m: math.nan for m in (
        "test_loss_init", "test_acc_init", "readout_p_true_mean_init", "readout_p_max_mean_init",
        "test_loss_after_noise", "test_acc_after_noise", "readout_p_true_mean_after_noise",
        "readout_p_max_mean_after_noise", "test_acc_pred_mean", "test_loss_pred_mean",
        "recon_error", "mean_release", "w_p_corr", "snr_paper", "snr_code", "n_sleeps",
        "cd_best_epoch", "cd_epochs_run", "val_recon_error", "stage_seconds_saved")},
}


# Bookkeeping columns added since format 2 began, as an older file's rows read: the build that
# ran a job ("": not recorded).
LATE_BOOKKEEPING = {"git_commit": ""}


def fill_late_columns(df):
    """Adds the LATE_COLUMNS and LATE_BOOKKEEPING an older file lacks, at their values; returns df."""
    for col, value in {**LATE_COLUMNS, **LATE_BOOKKEEPING}.items():
        if col not in df.columns:  # integers as the file stores them: int32
            df[col] = pd.Series(value, index=df.index, dtype="int32" if isinstance(value, int) else None)
    return df


def open_results(path):
    """The checked results file, open read-only (an h5py.File; use it in a with block).
    Raises safeio.Refused for a path that is not a regular HDF5 file."""
    check_input(path)
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise Refused(path, f"not a readable HDF5 file ({e})")


def member(group, name, kind=None):
    """group/name if it is stored in this file (a hard link) and, with kind, of that h5py
    class; else None (also for a group that is None). External and soft links are not
    followed: an external link can name any path (a FIFO would hang HDF5's open), and a
    dataset whose data lives in other files (virtual or external storage) is not read for
    the same reason."""
    if group is None or not isinstance(group.get(name, getlink=True), h5py.HardLink):
        return None
    obj = group[name]
    if kind is not None and not isinstance(obj, kind):
        return None
    if isinstance(obj, h5py.Dataset) and (obj.is_virtual or obj.external):
        return None
    return obj


def read_datasets(group, dtype=None):
    """{name: array} of the datasets stored in group (see member), as dtype if given."""
    if group is None:
        return {}
    return {k: d[:] if dtype is None else d[:].astype(dtype)
            for k in group if (d := member(group, k, h5py.Dataset)) is not None}


def decode(df):
    """df with every bytes value of its object columns decoded (UTF-8, an invalid byte as
    U+FFFD); returns df."""
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
    return df


def read_table(f, path=None):
    """The /results table of the open file f as a DataFrame (rows in job order), strings
    decoded, columns added since the file was written filled in (LATE_COLUMNS)."""
    res = member(f, "results", h5py.Dataset)
    if res is None or res.dtype.names is None:
        raise Refused(path or f.filename, "not a synsweep results file (no /results table)")
    return fill_late_columns(decode(pd.DataFrame(res[:])))


def load_results(path):
    """The /results table as a DataFrame indexed like the job ids, strings decoded; columns
    added since the file was written filled in (LATE_COLUMNS)."""
    with open_results(path) as f:
        return read_table(f, path)


def load_curves(path, name):
    """/curves/<name> as a DataFrame: one row per job, one column per epoch (1-based)."""
    with open_results(path) as f:
        d = member(member(f, "curves", h5py.Group), name, h5py.Dataset)
        if d is None:
            raise KeyError(f"{path}: no curve /curves/{name}")
        a = d[:]
    return pd.DataFrame(a, columns=range(1, a.shape[1] + 1))
