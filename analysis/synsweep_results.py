"""Load a synsweep results file into pandas with str columns.

    import sys; sys.path.insert(0, "analysis")
    from synsweep_results import load_results
    df = load_results("results/demo.h5")          # one row per job
    curves = load_curves("results/demo.h5", "test_acc")   # rows = jobs, columns = epochs

h5py returns HDF5 strings as bytes; load_results decodes every bytes column to str.
Layout: docs/FORMAT.md.
"""
import h5py
import pandas as pd


def load_results(path):
    """The /results table as a DataFrame indexed like the job ids, strings decoded."""
    with h5py.File(path, "r") as f:
        df = pd.DataFrame(f["results"][:])
    for col in df.columns:
        if df[col].dtype == object and len(df) and isinstance(df[col].iloc[0], bytes):
            df[col] = df[col].str.decode("utf-8")
    return df


def load_curves(path, name):
    """/curves/<name> as a DataFrame: one row per job, one column per epoch (1-based)."""
    with h5py.File(path, "r") as f:
        a = f["curves"][name][:]
    return pd.DataFrame(a, columns=range(1, a.shape[1] + 1))
