"""The RBSE one-shot study (SCIENCE.md section 3) and the LC / weight-sharing study (section 4):
tables (DataFrames) and figures (matplotlib Figures) computed from a results file, shared by
the report's sections (sections.py) and the scripts analysis/rbse_study.py and
analysis/lc_study.py. Inputs: df (/results, str columns decoded, rows in job_id order),
model_curves {name: (jobs, epochs)}, curves {name: (jobs, epochs)} and snap(job, name) -> the
tensor NAME of the job's final snapshot."""
import warnings

import matplotlib

matplotlib.use("Agg")
warnings.filterwarnings("ignore", message="Mean of empty slice")
warnings.filterwarnings("ignore", message="Degrees of freedom")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .fmt import fmt_ms, mean_std  # noqa: E402

BINS = 20  # release_hist_00 .. release_hist_19 (docs/FORMAT.md)
RBSE_KINDS = ("rbse", "rbm", "pixels")
LC_KINDS = ("lc", "lc_conv", "resnet")  # resnet: layer_type conv or lc (Pogodin et al.'s own network)


def _ids(d):
    return d.job_id.to_numpy() if "job_id" in d else d.index.to_numpy()


def paired_t(d):
    """mean / standard error of the finite values of d (inf for one value of one sign)."""
    d = np.asarray(d, float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return np.nan
    se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else 0.0
    return d.mean() / se if se > 0 else np.copysign(np.inf, d.mean()) if d.mean() else 0.0


# ---------------------------------------------------------------- RBSE

def rbse_accuracy(ok, digits=4, sep="+-"):
    """test_acc and test_acc_pred_mean by model and k = train_per_class, mean sep sample std
    over seeds, in the order k, then rbse, rbm, pixels."""
    def ms(x):
        return fmt_ms(*mean_std(x), digits=digits, sep=sep)
    rows = []
    for (model, k), g in ok.groupby(["model", "train_per_class"], sort=False):
        row = {"model": model, "k": int(k), "n": len(g)}
        for c in ("test_acc", "test_acc_pred_mean"):
            if c in g:
                row[c] = ms(g[c])
        rows.append(row)
    t = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(RBSE_KINDS)}
    return t.sort_values(["k", "model"], key=lambda s: s.map(order) if s.name == "model" else s).reset_index(drop=True)


def rbse_paired(ok, col="test_acc"):
    """[(k, other, differences rbse - other per seed)] for the same seed and k (same labelled
    images; for rbm the same CD images, initial w and chains)."""
    piv = ok.pivot_table(index=["train_per_class", "seed"], columns="model", values=col)
    out = []
    for k, g in piv.groupby(level=0):
        for other in ("rbm", "pixels"):
            if "rbse" in g and other in g:
                out.append((int(k), other, (g["rbse"] - g[other]).dropna().to_numpy()))
    return out


def rbse_paired_table(ok, sep="+-"):
    rows = []
    for k, other, d in rbse_paired(ok):
        rows.append({"k": k, "difference": f"rbse - {other}", "n": len(d),
                     f"mean {sep} std": fmt_ms(*mean_std(d), digits=4, sep=sep, sign="+", single=""),
                     "seeds rbse better": f"{int((d > 0).sum())}/{len(d)}"})
    return pd.DataFrame(rows)


def rbse_cd_runs(df):
    """job ids of one ok RBSE job per seed: a seed's CD run is the same whatever k."""
    ok = df[(df.model == "rbse") & (df.status == "ok")]
    return _ids(ok.drop_duplicates("seed"))


def rbse_release(model_curves, df):
    """(hist (E, BINS), mean p (E), corr(|w|, p) (E), number of CD runs), mean over the RBSE
    CD runs, over the E CD epochs recorded."""
    rb = rbse_cd_runs(df)
    hist = np.stack([model_curves[f"release_hist_{b:02d}"][rb] for b in range(BINS)], axis=-1)  # (jobs, E, BINS)
    E = int(np.isfinite(hist[:, :, 0]).sum(axis=1).max()) if len(rb) else 0
    hist = np.nanmean(hist[:, :E], axis=0)
    mean_rel = np.nanmean(model_curves["mean_release"][rb, :E], axis=0)
    corr = np.nanmean(model_curves["w_p_corr"][rb, :E], axis=0)
    return hist, mean_rel, corr, len(rb)


def rbse_release_table(hist, mean_rel, corr):
    return pd.DataFrame({"CD epoch": np.arange(1, len(mean_rel) + 1), "mean p": mean_rel, "corr(abs w, p)": corr,
                         "fraction p < 0.5": hist[:, :BINS // 2].sum(axis=1),
                         "fraction p >= 0.6": hist[:, int(0.6 * BINS):].sum(axis=1),
                         "largest bin with synapses": [f"[{b / BINS:.2f}, {(b + 1) / BINS:.2f})"
                                                       for b in (np.nonzero(h > 0)[0].max() for h in hist)]})


def rbse_release_figure(hist, mean_rel, corr, nruns):
    E = len(mean_rel)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    edges = np.linspace(0, 1, BINS + 1)
    for e in range(E):
        ax[0].stairs(hist[e], edges, label=f"CD epoch {e + 1}", color=plt.cm.viridis(e / max(E - 1, 1)))
    ax[0].set_yscale("log")
    ax[0].set_xlabel("release probability p = sigmoid(a)")
    ax[0].set_ylabel("fraction of synapses")
    ax[0].set_title(f"release histogram (mean over {nruns} RBSE CD runs)")
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
    return fig


def rbse_w_vs_p(df, snap):
    """(corr(|w|, p) of each RBSE CD run's final snapshot, p by |w| decile of the first run
    (DataFrame), the |w| vs p figure of the first run)."""
    rb = rbse_cd_runs(df)
    corrs, bins_out, fig = [], None, None
    for q, i in enumerate(rb):
        w = np.abs(snap(i, "w").ravel()).astype(np.float64)
        p = 1.0 / (1.0 + np.exp(-snap(i, "a").ravel().astype(np.float64)))
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
            row = df[_ids(df) == i].iloc[0]
            ax.set_title(f"job {i} ({row.model}, seed {row.seed}), corr {corrs[-1]:.3f}")
            ax.legend(loc="lower right", fontsize=8)
            fig.tight_layout()
    return np.array(corrs), bins_out, fig


# ---------------------------------------------------------------- LC

def lc_conditions(df):
    """The LC kinds' rows of df (LC_KINDS; a file may hold other models too) with a 'condition'
    column: conv (lc_conv, or a resnet of layer_type conv), LC without sharing, LC with SLEEP
    every N (and the learning rate when it varies), and 'is_conv'."""
    df = df[df.model.isin(LC_KINDS)].copy()
    if "sleep" not in df:
        df["sleep"] = "none"
    if "sleep_every" not in df:
        df["sleep_every"] = 0
    lt = df.layer_type if "layer_type" in df else pd.Series("conv", index=df.index)  # the parameter's default
    df["is_conv"] = (df.model == "lc_conv") | ((df.model == "resnet") & (lt == "conv"))
    lr = [f", lr {float(x):g}" if df.lr.nunique() > 1 else "" for x in df.lr] if "lr" in df else [""] * len(df)
    df["condition"] = [
        (("conv (lc_conv)" if m == "lc_conv" else "conv (ResNet)") if c else
         "LC, no sharing" if s in ("none", "") else f"LC, {s} every {int(float(e))}") + r
        for m, c, s, e, r in zip(df.model, df.is_conv, df.sleep, df.sleep_every, lr)]
    return df


def lc_order(c):
    return (0 if c.startswith("conv") else 1 if "no sharing" in c else 2, c)


def _ms(x):
    return fmt_ms(*mean_std(x), digits=4, spec="g", sd_digits=2, sep="+-")


def lc_table(d):
    """One row per condition of the ok jobs d of one dataset (with 'condition'): test accuracy,
    its paired difference to the conv job (lc_conv, or resnet conv) of the same seed, AUC, train
    accuracy, SNR_w (both definitions), sleeps, seconds per job."""
    conv = d[d.is_conv].set_index("seed").test_acc
    conv = conv[~conv.index.duplicated()]
    col = lambda g, c: g[c] if c in g else pd.Series(np.nan, index=g.index)  # noqa: E731
    rows = []
    for c in sorted(d.condition.unique(), key=lc_order):
        g = d[d.condition == c]
        rows.append({"condition": c, "n": len(g), "test acc": _ms(g.test_acc),
                     "test acc - conv (paired by seed)": _ms(g.test_acc.values - conv.reindex(g.seed).values),
                     "AUC test acc": _ms(col(g, "auc_test_acc")), "train acc": _ms(col(g, "train_acc")),
                     "snr_paper": _ms(col(g, "snr_paper")), "snr_code": _ms(col(g, "snr_code")),
                     "sleeps": _ms(col(g, "n_sleeps")), "s/job": f"{g.seconds.mean():.0f}"})
    return pd.DataFrame(rows)


def lc_layers(snr):
    return sorted(int(k.rsplit("_", 1)[1]) for k in snr if k.startswith("snr_paper_"))


def lc_acc_figure(d, test_acc, title):
    fig, ax = plt.subplots(figsize=(6, 4))
    for c in sorted(d.condition.unique(), key=lc_order):
        idx = _ids(d[d.condition == c])
        a = test_acc[idx]
        m, s = np.nanmean(a, 0), np.nanstd(a, 0, ddof=1) if len(idx) > 1 else 0 * a[0]
        e = np.arange(1, a.shape[1] + 1)
        ax.plot(e, m, marker="o", label=c)
        ax.fill_between(e, m - s, m + s, alpha=0.2)
    ax.set_xlabel("epoch"), ax.set_ylabel("test accuracy"), ax.set_title(f"{title}: test accuracy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def lc_snr_figure(d, snr, title):
    layers = lc_layers(snr)
    if not layers:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, kind in zip(axes, ("paper", "code")):
        for c in sorted(d.condition.unique(), key=lc_order):
            if c.startswith("conv"):
                continue
            idx = _ids(d[d.condition == c])
            for l in layers:
                a = snr[f"snr_{kind}_{l}"][idx]
                e = np.arange(1, a.shape[1] + 1)
                ax.plot(e, np.nanmean(a, 0), marker="o", ls="-" if l == 0 else "--", label=f"{c}, layer {l}")
        ax.set_yscale("log"), ax.set_xlabel("epoch (end)")
        ax.set_title(f"{title}: SNR_w, {'paper (mean^2/var)' if kind == 'paper' else 'code (|mean|/std)'}")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def lc_snr_table(d, snr):
    """SNR_w (paper) at the end of each epoch, mean over seeds, per LC condition and layer."""
    rows = []
    for c in sorted(d.condition.unique(), key=lc_order):
        if c.startswith("conv"):
            continue
        idx = _ids(d[d.condition == c])
        for l in lc_layers(snr):
            a = np.nanmean(snr[f"snr_paper_{l}"][idx], 0)
            row = {"condition": c, "layer": l}
            row.update({f"e{i + 1}": f"{v:.3g}" for i, v in enumerate(a) if np.isfinite(v)})
            rows.append(row)
    return pd.DataFrame(rows).fillna("-")
