#!/usr/bin/python3
"""lc_study.py RESULTS.h5 [MORE.h5 ...] [-o OUTDIR] [--force]: the LC / dynamic weight sharing study (sweeps/lc_sleep.yaml,
Pogodin et al. 2021, SCIENCE.md section 4) from its results file alone.

Several results files (e.g. sweeps/lc_sleep.yaml and its follow-up lc_sleep_lr.yaml) are
read as one table (the learning rate joins the condition when it varies).
Prints a Markdown table per dataset: one row per condition (model, sleep, sleep_every),
final test accuracy, AUC of the test-accuracy curve, final train accuracy and SNR_w (both
definitions, mean over LC layers) as mean +- sample std over seeds (n = seeds), and the
difference to the conv baseline. Writes OUTDIR/lc_<dataset>_acc.png (test accuracy per
epoch) and OUTDIR/lc_<dataset>_snr.png (SNR_w per epoch and LC layer, log scale), each through
a temporary file renamed into place; an existing figure is replaced only with --force (never a
results file, its side files, an HDF5 file or a symlink: synsweep_report/safeio.py).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from synsweep_report import studies  # noqa: E402  (the computations, shared with synsweep report)
from synsweep_report.data import Results  # noqa: E402  (the checked reader synsweep report uses)
from synsweep_report.safeio import Refused, save_figure  # noqa: E402
from synsweep_report.fmt import md_table  # noqa: E402
from synsweep_report.report import slug  # noqa: E402  (dataset values name files: safe slugs)


def md(t):
    return md_table(t, ".4f")


def pad(a, E):
    return np.pad(a, ((0, 0), (0, E - a.shape[1])), constant_values=np.nan) if a.shape[1] < E else a


def load(paths):
    dfs, accs, snrs = [], [], []
    for path in paths:
        r = Results(path)
        d = r.df.drop(columns=["n_hidden"], errors="ignore")
        d["file"] = os.path.basename(path)
        dfs.append(d)
        accs.append(r.curves["test_acc"])
        snrs.append({k: v for k, v in r.model_curves.items() if k.startswith("snr_")})
    df = pd.concat(dfs, ignore_index=True)
    df["job_id"] = np.arange(len(df))  # rows of the concatenated curves
    E = max(a.shape[1] for a in accs)
    curves = {"test_acc": np.concatenate([pad(a, E) for a in accs])}
    snr = {}
    for k in sorted(set().union(*snrs)):
        snr[k] = np.concatenate([pad(s[k], E) if k in s else np.full((len(d), E), np.nan)
                                 for s, d in zip(snrs, dfs)])
    return studies.lc_conditions(df), curves, snr


def main():
    args = [a for a in sys.argv[1:] if a != "--force"]
    force = len(args) < len(sys.argv) - 1
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if args else 2)
    out = None
    if "-o" in args:
        i = args.index("-o")
        if i + 1 >= len(args):
            sys.exit("lc_study.py: -o needs a folder")
        out = args[i + 1]
        del args[i:i + 2]
    out = out or os.path.dirname(os.path.abspath(args[0]))
    df, curves, snr = load(args)
    ok = df.status == "ok"
    for fn, g in df.groupby("file", sort=False):
        print(f"{fn}: {len(g)} jobs, {int((g.status == 'ok').sum())} ok, mean job time {g.seconds.mean():.0f} s "
              f"(sum {g.seconds.sum():.0f} s)")
    for ds, d in df[ok].groupby("dataset"):
        print(f"\n### {ds}: train {int(d.n_train.iloc[0])}, test {int(d.n_test.iloc[0])}, "
              f"epochs {int(d.epochs.iloc[0])}, seeds {sorted(d.seed.unique().tolist())}\n")
        print(md(studies.lc_table(d)))
        for name, fig in ((f"lc_{slug(ds)}_acc.png", studies.lc_acc_figure(d, curves["test_acc"], ds)),
                          (f"lc_{slug(ds)}_snr.png", studies.lc_snr_figure(d, snr, ds))):
            if fig is not None:
                try:
                    save_figure(fig, os.path.join(out, name), args, force)
                finally:
                    studies.plt.close(fig)
        if studies.lc_layers(snr):
            print("\nSNR_w (paper) at the end of each epoch, mean over seeds:\n")
            print(md(studies.lc_snr_table(d, snr)))


if __name__ == "__main__":
    try:
        main()
    except Refused as e:  # a path that is not a results file: one line, as synsweep report says it
        sys.exit(f"lc_study.py: {e}")
    except OSError as e:  # e.g. -o a folder that does not exist
        sys.exit(f"lc_study.py: {e.filename or ''}: {e.strerror or e}")
