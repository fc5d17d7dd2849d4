#!/usr/bin/python3
"""rbse_study.py RESULTS.h5 [OUTDIR]

The RBSE one-shot study (sweeps/rbse_oneshot.yaml) from its results file alone:
  - accuracy table: test accuracy (mean of the S features; mean of the S predictions) by
    model and labelled images per class k, mean +- sample std (n - 1) over seeds, and the
    paired RBSE - RBM difference per seed (same seed: same CD images, initial w, labelled
    images);
  - rbse_release_hist.png: the release-probability histogram over CD epochs (mean over the
    RBSE jobs) and the mean release probability and corr(|w|, p) per epoch;
  - rbse_w_vs_p.png: |w| against p = sigmoid(a) over the synapses of one RBSE job's final
    snapshot (a 2-D histogram), with the mean p in |w| bins;
  - w_p_corr of every RBSE job's final snapshot, recomputed from w and a.
Prints markdown; writes the figures and table.md into OUTDIR (default: beside the file).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h5py  # noqa: E402
import pandas as pd  # noqa: E402

from synsweep_report import studies  # noqa: E402  (the computations, shared with synsweep report)
from synsweep_report.studies import md  # noqa: E402


def load(path):
    f = h5py.File(path, "r")
    df = pd.DataFrame(f["results"][:])
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].str.decode("ascii")
    return f, df


def save(fig, path):
    fig.savefig(path, dpi=110)
    studies.plt.close(fig)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    path = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(path))
    os.makedirs(out, exist_ok=True)
    f, df = load(path)
    print(f"{path}: {len(df)} jobs, {df.status.value_counts().to_dict()}, "
          f"job seconds: total {df.seconds.sum():.0f}, by model {df.groupby('model').seconds.mean().round(1).to_dict()} (mean)")
    ok = df[df.status == "ok"]
    t, d = studies.rbse_accuracy(ok), studies.rbse_paired_table(ok)
    mc = {k: f["model_curves"][k][:] for k in f["model_curves"]}
    hist, mean_rel, corr, nruns = studies.rbse_release(mc, df)
    save(studies.rbse_release_figure(hist, mean_rel, corr, nruns), os.path.join(out, "rbse_release_hist.png"))
    corrs, bins, fig = studies.rbse_w_vs_p(df, lambda i, name: f[f"snapshots/job_{i:06d}/final/{name}"][:])
    save(fig, os.path.join(out, "rbse_w_vs_p.png"))
    lines = ["## Test accuracy (mean +- sample std over seeds)", "", md(t), "",
             "## Paired differences of test_acc (same seed and k)", "", md(d), "",
             "## Release probabilities over CD epochs (mean over the RBSE CD runs, one per seed)", "",
             md(studies.rbse_release_table(hist, mean_rel, corr)), "",
             f"## abs w vs p in the final snapshots: corr(abs w, p) over the {len(corrs)} RBSE CD runs (seeds) "
             f"{corrs.mean():.4f} +- {corrs.std(ddof=1):.4f} (min {corrs.min():.4f})", "",
             "p by abs w decile, first RBSE job:", "", md(bins), ""]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out, "table.md"), "w") as fp:
        fp.write(text)


main()
