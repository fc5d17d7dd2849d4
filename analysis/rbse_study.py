#!/usr/bin/python3
"""rbse_study.py RESULTS.h5 [OUTDIR] [--force]

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
Prints markdown; writes the figures and table.md into OUTDIR (default: beside the file), each
through a temporary file renamed into place; an existing output is replaced only with --force
(never the results file, its side files, an HDF5 file or a symlink: synsweep_report/safeio.py).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synsweep_report import studies  # noqa: E402  (the computations, shared with synsweep report)
from synsweep_report.data import Results  # noqa: E402  (the checked reader synsweep report uses)
from synsweep_report.safeio import Refused, replace_atomically, save_figure  # noqa: E402
from synsweep_report.fmt import fmt_ms, md_table, mean_std  # noqa: E402


def md(t):
    return md_table(t, ".4f")


def save(fig, path, inputs, force):
    try:
        save_figure(fig, path, inputs, force)
    finally:
        studies.plt.close(fig)


def main():
    args = [a for a in sys.argv[1:] if a != "--force"]
    force = len(args) < len(sys.argv) - 1
    if not 1 <= len(args) <= 2 or args[0] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if args and args[0] in ("-h", "--help") else 2)
    path = args[0]
    out = args[1] if len(args) > 1 else os.path.dirname(os.path.abspath(path))
    os.makedirs(out, exist_ok=True)
    r = Results(path)
    df = r.df
    print(f"{path}: {len(df)} jobs, {df.status.value_counts().to_dict()}, "
          f"job seconds: total {df.seconds.sum():.0f}, by model {df.groupby('model').seconds.mean().round(1).to_dict()} (mean)")
    ok = df[df.status == "ok"]
    t, d = studies.rbse_accuracy(ok), studies.rbse_paired_table(ok)
    hist, mean_rel, corr, nruns = studies.rbse_release(r.model_curves, df)
    save(studies.rbse_release_figure(hist, mean_rel, corr, nruns), os.path.join(out, "rbse_release_hist.png"), [path], force)
    lines = ["## Test accuracy (mean +- sample std over seeds)", "", md(t), "",
             "## Paired differences of test_acc (same seed and k)", "", md(d), "",
             "## Release probabilities over CD epochs (mean over the RBSE CD runs, one per seed)", "",
             md(studies.rbse_release_table(hist, mean_rel, corr)), ""]
    if r.snapshot_jobs:
        corrs, bins, fig = studies.rbse_w_vs_p(df, lambda i, name: r.snapshot(i, "final", name))
        save(fig, os.path.join(out, "rbse_w_vs_p.png"), [path], force)
        lines += [f"## abs w vs p in the final snapshots: corr(abs w, p) over the {len(corrs)} RBSE CD runs (seeds) "
                  f"{fmt_ms(*mean_std(corrs), digits=4, sep='+-')} (min {corrs.min():.4f})", "",
                  "p by abs w decile, first RBSE job:", "", md(bins), ""]
    else:  # a copy kept without its snapshots (docs/results/)
        why = r.snapshots_missing() or "the file holds no snapshots"
        lines += [f"## abs w vs p: not computed ({why}: the final w and a are in the snapshots)", ""]
    text = "\n".join(lines)
    print(text)
    with replace_atomically(os.path.join(out, "table.md"), [path], force) as fp:
        fp.write(text)


if __name__ == "__main__":
    try:
        main()
    except Refused as e:  # a path that is not a results file: one line, as synsweep report says it
        sys.exit(f"rbse_study.py: {e}")
    except OSError as e:  # e.g. OUTDIR that cannot be made
        sys.exit(f"rbse_study.py: {e.filename or ''}: {e.strerror or e}")
