"""Load a synsweep results file into pandas with str columns.

    import sys; sys.path.insert(0, "analysis")
    from synsweep_results import load_results
    df = load_results("results/demo.h5")          # one row per job
    curves = load_curves("results/demo.h5", "test_acc")   # rows = jobs, columns = epochs

h5py returns HDF5 strings as bytes; load_results decodes every bytes column to str.
Layout: docs/FORMAT.md.
"""
import math

import h5py
import pandas as pd

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
    "binarize_threshold": 0.5,
    **{m: math.nan for m in (
        "test_loss_init", "test_acc_init", "readout_p_true_mean_init", "readout_p_max_mean_init",
        "test_loss_after_noise", "test_acc_after_noise", "readout_p_true_mean_after_noise",
        "readout_p_max_mean_after_noise", "test_acc_pred_mean", "test_loss_pred_mean",
        "recon_error", "mean_release", "w_p_corr", "snr_paper", "snr_code", "n_sleeps")},
}


def fill_late_columns(df):
    """Adds the LATE_COLUMNS an older file lacks, at their values; returns df."""
    for col, value in LATE_COLUMNS.items():
        if col not in df.columns:  # integers as the file stores them: int32
            df[col] = pd.Series(value, index=df.index, dtype="int32" if isinstance(value, int) else None)
    return df


def load_results(path):
    """The /results table as a DataFrame indexed like the job ids, strings decoded; columns
    added since the file was written filled in (LATE_COLUMNS)."""
    with h5py.File(path, "r") as f:
        df = pd.DataFrame(f["results"][:])
    for col in df.columns:
        if df[col].dtype == object and len(df) and isinstance(df[col].iloc[0], bytes):
            df[col] = df[col].str.decode("utf-8")
    return fill_late_columns(df)


def load_curves(path, name):
    """/curves/<name> as a DataFrame: one row per job, one column per epoch (1-based)."""
    with h5py.File(path, "r") as f:
        a = f["curves"][name][:]
    return pd.DataFrame(a, columns=range(1, a.shape[1] + 1))
