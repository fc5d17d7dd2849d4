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

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

BINS = 20


def md(t, floatfmt=".4f"):
    """A markdown table of t (pandas' to_markdown needs tabulate, which we do not assume)."""
    cell = lambda v: format(v, floatfmt) if isinstance(v, (float, np.floating)) else str(v)
    rows = [[str(c) for c in t.columns]] + [[cell(v) for v in r] for r in t.itertuples(index=False)]
    return "\n".join(["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])] +
                     ["| " + " | ".join(r) + " |" for r in rows[1:]])


def load(path):
    f = h5py.File(path, "r")
    df = pd.DataFrame(f["results"][:])
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].str.decode("ascii")
    return f, df


def table(df):
    ok = df[df.status == "ok"]
    rows = []
    for (model, k), g in ok.groupby(["model", "train_per_class"], sort=False):
        rows.append({"model": model, "k": int(k), "n": len(g),
                     "test_acc": f"{g.test_acc.mean():.4f} +- {g.test_acc.std(ddof=1):.4f}",
                     "test_acc_pred_mean": f"{g.test_acc_pred_mean.mean():.4f} +- {g.test_acc_pred_mean.std(ddof=1):.4f}"})
    t = pd.DataFrame(rows)
    order = {"rbse": 0, "rbm": 1, "pixels": 2}
    t = t.sort_values(["k", "model"], key=lambda s: s.map(order) if s.name == "model" else s)
    # paired differences: RBSE - RBM and RBSE - pixels, same seed and k
    piv = ok.pivot_table(index=["train_per_class", "seed"], columns="model", values="test_acc")
    diffs = []
    for k, g in piv.groupby(level=0):
        for other in ("rbm", "pixels"):
            if "rbse" in g and other in g:
                d = (g["rbse"] - g[other]).dropna()
                diffs.append({"k": int(k), "difference": f"rbse - {other}", "n": len(d),
                              "mean +- std": f"{d.mean():+.4f} +- {d.std(ddof=1):.4f}",
                              "seeds rbse better": f"{int((d > 0).sum())}/{len(d)}"})
    return t, pd.DataFrame(diffs)


def release_figure(f, df, out):
    mc = f["model_curves"]
    ok = df[(df.model == "rbse") & (df.status == "ok")]
    rb = ok.drop_duplicates("seed").index.to_numpy()  # one CD run per seed
    hist = np.stack([mc[f"release_hist_{b:02d}"][:][rb] for b in range(BINS)], axis=-1)  # (jobs, E, BINS)
    E = int(np.isfinite(hist[:, :, 0]).sum(axis=1).max())
    hist = np.nanmean(hist[:, :E], axis=0)  # (E, BINS)
    mean_rel = np.nanmean(mc["mean_release"][:][rb, :E], axis=0)
    corr = np.nanmean(mc["w_p_corr"][:][rb, :E], axis=0)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    edges = np.linspace(0, 1, BINS + 1)
    for e in range(E):
        ax[0].stairs(hist[e], edges, label=f"CD epoch {e + 1}", color=plt.cm.viridis(e / max(E - 1, 1)))
    ax[0].set_yscale("log")
    ax[0].set_xlabel("release probability p = sigmoid(a)")
    ax[0].set_ylabel("fraction of synapses")
    ax[0].set_title(f"release histogram (mean over {len(rb)} RBSE CD runs)")
    ax[0].legend(fontsize=8)
    ep = np.arange(1, E + 1)
    ax[1].plot(ep, mean_rel, "o-", label="mean p")
    ax[1].set_xlabel("CD epoch")
    ax[1].set_ylabel("mean release probability")
    ax2 = ax[1].twinx()
    ax2.plot(ep, corr, "s--", color="C1", label="corr(|w|, p)")
    ax2.set_ylabel("corr(|w|, p)")
    ax[1].legend(loc="upper left"), ax2.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "rbse_release_hist.png"), dpi=110)
    plt.close(fig)
    return hist, mean_rel, corr


def w_vs_p(f, df, out):
    # one job per seed: a seed's CD run is the same whatever k (same images, init, chains)
    ok = df[(df.model == "rbse") & (df.status == "ok")]
    rb = ok.drop_duplicates("seed").index.to_numpy()
    corrs, bins_out = [], None
    for q, i in enumerate(rb):
        g = f[f"snapshots/job_{i:06d}/final"]
        w = np.abs(g["w"][:].ravel()).astype(np.float64)
        p = 1.0 / (1.0 + np.exp(-g["a"][:].ravel().astype(np.float64)))
        corrs.append(np.corrcoef(w, p)[0, 1])
        if q == 0:
            edges = np.quantile(w, np.linspace(0, 1, 11))
            idx = np.clip(np.searchsorted(edges, w, side="right") - 1, 0, 9)
            bins_out = pd.DataFrame({"abs w from": edges[:-1], "abs w to": edges[1:],
                                     "mean abs w": [w[idx == b].mean() for b in range(10)],
                                     "mean p": [p[idx == b].mean() for b in range(10)],
                                     "std p": [p[idx == b].std() for b in range(10)]})
            fig, ax = plt.subplots(figsize=(5.5, 4.2))
            h = ax.hist2d(w, p, bins=80, cmap="magma", norm=matplotlib.colors.LogNorm())
            fig.colorbar(h[3], ax=ax, label="synapses")
            ax.plot(bins_out["mean abs w"], bins_out["mean p"], "c.-", label="mean p per |w| decile")
            ax.set_xlabel("|w|")
            ax.set_ylabel("p = sigmoid(a)")
            ax.set_title(f"job {i} ({df.model[i]}, seed {df.seed[i]}), corr {corrs[-1]:.3f}")
            ax.legend(loc="lower right", fontsize=8)
            fig.tight_layout()
            fig.savefig(os.path.join(out, "rbse_w_vs_p.png"), dpi=110)
            plt.close(fig)
    return np.array(corrs), bins_out


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
    t, d = table(df)
    hist, mean_rel, corr = release_figure(f, df, out)
    corrs, bins = w_vs_p(f, df, out)
    lines = ["## Test accuracy (mean +- sample std over seeds)", "", md(t), "",
             "## Paired differences of test_acc (same seed and k)", "", md(d), "",
             "## Release probabilities over CD epochs (mean over the RBSE CD runs, one per seed)", "",
             md(pd.DataFrame({"CD epoch": np.arange(1, len(mean_rel) + 1), "mean p": mean_rel, "corr(abs w, p)": corr,
                           "fraction p < 0.5": hist[:, :BINS // 2].sum(axis=1),
                           "fraction p >= 0.6": hist[:, int(0.6 * BINS):].sum(axis=1),
                           "largest bin with synapses": [f"[{b / BINS:.2f}, {(b + 1) / BINS:.2f})"
                                                         for b in (np.nonzero(h > 0)[0].max() for h in hist)]}
                          )), "",
             f"## abs w vs p in the final snapshots: corr(abs w, p) over the {len(corrs)} RBSE CD runs (seeds) "
             f"{corrs.mean():.4f} +- {corrs.std(ddof=1):.4f} (min {corrs.min():.4f})", "",
             "p by abs w decile, first RBSE job:", "", md(bins), ""]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out, "table.md"), "w") as fp:
        fp.write(text)


main()
