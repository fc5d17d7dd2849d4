"""Figures (matplotlib, Agg). Each function returns a Figure or None when there is nothing to draw."""
import warnings

import matplotlib

matplotlib.use("Agg")
# all-NaN columns (jobs that never reached an epoch, layers without B) are expected
warnings.filterwarnings("ignore", message="Mean of empty slice")
warnings.filterwarnings("ignore", message="Degrees of freedom")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .fmt import mean_std  # noqa: E402

MAX_LINES = 12


def _groups(r, keys=None):
    """[(label, job ids)] of the ok jobs grouped by keys (default: the varying grid keys)."""
    keys = r.varying() if keys is None else keys
    ok = r.ok
    if not len(ok):
        return []
    if not keys:
        return [("all jobs", ok.job_id.to_numpy())]
    return [(", ".join(f"{k}={v}" for k, v in zip(keys, (g if isinstance(g, tuple) else (g,)))), d.job_id.to_numpy())
            for g, d in ok.groupby(keys[0] if len(keys) == 1 else keys, sort=False)]


def _band(ax, x, Y, label, color=None):
    """Mean line and ± sample std band of the rows of Y (NaN-aware) over x."""
    with np.errstate(all="ignore"):
        n = np.isfinite(Y).sum(axis=0)
        m = np.nanmean(Y, axis=0)
        s = np.where(n > 1, np.nanstd(Y, axis=0, ddof=1), 0.0)
    keep = n > 0
    if not keep.any():
        return False
    line, = ax.plot(x[keep], m[keep], label=label, color=color, lw=1.5)
    ax.fill_between(x[keep], (m - s)[keep], (m + s)[keep], color=line.get_color(), alpha=0.2, lw=0)
    return True


def curves_by_group(r, name, ylabel, scale=1.0):
    C = r.curves[name] * scale
    groups = _groups(r)
    if not groups:
        return None
    panels = [groups[i:i + MAX_LINES] for i in range(0, len(groups), MAX_LINES)][:4]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    drew = False
    for ax, gs in zip(axes[0], panels):
        for label, ids in gs:
            Y = C[ids]
            x = np.arange(1, Y.shape[1] + 1)
            # only the evaluated epochs (eval_every > 1 leaves NaN between)
            cols = np.isfinite(Y).any(axis=0)
            drew |= _band(ax, x[cols], Y[:, cols], label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig if drew else (plt.close(fig) or None)


def angle_trajectories(r):
    """Left: angle per layer along the noise phase (/noise_curve); right: per epoch
    (/layers/angle_curve). One line per group and FA layer."""
    have_noise = r.noise_curve is not None and np.isfinite(r.noise_curve).any()
    have_data = r.angle_curve is not None and np.isfinite(r.angle_curve).any()
    if not (have_noise or have_data):
        return None
    groups = [(l, ids) for l, ids in _groups(r) if True][:MAX_LINES]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4))
    drew = False
    cols = r.noise_columns
    for gi, (label, ids) in enumerate(groups):
        color = f"C{gi % 10}"
        if have_noise and "examples" in cols:
            N = r.noise_curve[ids]
            ex = np.nanmean(N[:, :, cols.index("examples")], axis=0)
            for c in cols:
                if not c.startswith("angle_"):
                    continue
                Y = N[:, :, cols.index(c)]
                if np.isfinite(Y).any() and np.isfinite(ex).any():
                    l = int(c.split("_")[1])
                    ok = np.isfinite(ex)
                    drew |= _band(axes[0], ex[ok], Y[:, ok], f"{label}, layer {l}", color)
                    axes[0].lines[-1].set_linestyle(["-", "--", ":", "-."][l % 4])
        if have_data:
            # epoch 0: the weights the data phase starts from (after noise for fa_noise)
            A = r.angle_curve[ids]
            start = r.layers["init"]["angle"][ids][:, :A.shape[2]].copy() if "init" in r.layers else np.full(A[:, 0].shape, np.nan)
            if "after_noise" in r.layers:
                an = r.layers["after_noise"]["angle"][ids][:, :A.shape[2]]
                start = np.where(np.isfinite(an), an, start)
            A = np.concatenate([start[:, None, :], A], axis=1)
            x = np.arange(0, A.shape[1])
            for l in range(A.shape[2]):
                Y = A[:, :, l]
                if np.isfinite(Y).any():
                    c_ = np.isfinite(Y).any(axis=0)
                    drew |= _band(axes[1], x[c_], Y[:, c_], f"{label}, layer {l}", color)
                    axes[1].lines[-1].set_linestyle(["-", "--", ":", "-."][l % 4])
    axes[0].set_title("noise phase (fa_noise)")
    axes[0].set_xlabel("noise examples seen")
    axes[1].set_title("data phase")
    axes[1].set_xlabel("epoch")
    for ax in axes:
        ax.set_ylabel("angle between W and B (degrees)")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=6)
        else:
            ax.text(0.5, 0.5, "no data in this file", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig if drew else (plt.close(fig) or None)


def erank_bars(r):
    stages = [s for s in ("init", "after_noise", "final") if s in r.layers and "erank" in r.layers[s]]
    groups = _groups(r)[:MAX_LINES]
    if not stages or not groups:
        return None
    L = r.layers[stages[0]]["erank"].shape[1]
    layers = [l for l in range(L) if any(np.isfinite(r.layers[s]["erank"][:, l]).any() for s in stages)]
    fig, axes = plt.subplots(1, len(layers), figsize=(max(5, 4.5 * len(layers)), 4.2), squeeze=False)
    w = 0.8 / len(stages)
    for ax, l in zip(axes[0], layers):
        for si, s in enumerate(stages):
            ms = [mean_std(r.layers[s]["erank"][ids, l]) for _, ids in groups]
            ax.bar(np.arange(len(groups)) + si * w, [m[0] for m in ms], w, yerr=[np.nan_to_num(m[1]) for m in ms],
                   label=s, capsize=2)
        ax.set_xticks(np.arange(len(groups)) + w * (len(stages) - 1) / 2)
        ax.set_xticklabels([g for g, _ in groups], rotation=30, ha="right", fontsize=7)
        ax.set_title(f"layer {l}")
        ax.set_ylabel("effective rank of W")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _value(r, ids, metric):
    if metric == "gram_erank_mean":
        if "final" not in r.layers or "gram_erank" not in r.layers["final"]:
            return None
        G = r.layers["final"]["gram_erank"][ids]
        with np.errstate(all="ignore"):
            return np.nanmean(G, axis=1)
    return r.df.set_index("job_id").loc[ids, metric].to_numpy(float) if metric in r.df else None


def metric_vs_axis(r, x, metric, ylabel, scale=1.0):
    """metric against numeric column x, one line per value of the other varying keys."""
    ok = r.ok
    if x not in ok or not len(ok):
        return None
    others = [k for k in r.varying() if k not in (x, "hidden")]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    drew = False
    for label, ids in _groups(r, others):
        sub = ok.set_index("job_id").loc[ids]
        xs = sorted(set(sub[x]))
        ms = []
        for xv in xs:
            v = _value(r, sub.index[sub[x] == xv].to_numpy(), metric)
            if v is None:
                return plt.close(fig)
            ms.append(mean_std(v * scale))
        if not any(np.isfinite(m[0]) for m in ms):
            continue
        ax.errorbar(xs, [m[0] for m in ms], yerr=[np.nan_to_num(m[1]) for m in ms], marker="o", capsize=3, label=label)
        drew = True
    if not drew:
        return plt.close(fig)
    ax.set_xlabel({"n_hidden": "hidden layers", "train_size": "training examples"}.get(x, x))
    if x in ("train_size", "noise_examples"):
        ax.set_xscale("log")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def grouped_bars(r, xkey, metric, ylabel, scale=1.0):
    """Bars of metric per value of xkey (x), one bar per value of the other varying keys."""
    ok = r.ok
    if xkey not in ok or metric not in ok or not ok[metric].notna().any():
        return None
    others = [k for k in r.varying() if k != xkey and not k.startswith("ood_")]
    xs = list(dict.fromkeys(ok[xkey]))
    groups = _groups(r, others)[:MAX_LINES]
    w = 0.8 / max(1, len(groups))
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(xs) * max(1, len(groups)) * 0.6), 4.2))
    for gi, (label, ids) in enumerate(groups):
        sub = ok.set_index("job_id").loc[ids]
        ms = [mean_std(sub[metric][sub[xkey] == xv] * scale) for xv in xs]
        ax.bar(np.arange(len(xs)) + gi * w, [m[0] for m in ms], w, yerr=[np.nan_to_num(m[1]) for m in ms],
               capsize=3, label=label)
    ax.set_xticks(np.arange(len(xs)) + w * (len(groups) - 1) / 2)
    ax.set_xticklabels([str(x) for x in xs])
    ax.set_xlabel(xkey)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def stage_bars(r, cols, ylabel):
    groups = _groups(r)[:MAX_LINES]
    if not groups or not cols:
        return None
    w = 0.8 / len(cols)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups)), 4.2))
    for ci, c in enumerate(cols):
        ms = [mean_std(_value(r, ids, c)) for _, ids in groups]
        ax.bar(np.arange(len(groups)) + ci * w, [m[0] for m in ms], w, yerr=[np.nan_to_num(m[1]) for m in ms],
               capsize=3, label=c)
    ax.set_xticks(np.arange(len(groups)) + w * (len(cols) - 1) / 2)
    ax.set_xticklabels([g for g, _ in groups], rotation=20, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def karimi_bars(r, table):
    ok = r.ok
    if not {"dataset", "conv_dist", "test_acc"} <= set(ok.columns) or not len(ok):
        return None
    dists = ["normal", "lognormal", "center_surround", "trained"]
    dists = [d for d in dists if d in set(ok.conv_dist)] + sorted(set(ok.conv_dist) - set(dists))
    readings = sorted(set(ok.fc_pool)) if "fc_pool" in ok else [None]
    datasets = list(dict.fromkeys(ok.dataset))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 4.4), squeeze=False)
    for ax, d in zip(axes[0], datasets):
        sub = ok[ok.dataset == d]
        series = [("paper", None)] + [(f"ours, fc_pool {p}", p) for p in readings if p is None or (sub.fc_pool == p).any()]
        w = 0.8 / len(series)
        for si, (name, p) in enumerate(series):
            if name == "paper":
                ms = [table.get((d, c), (np.nan, np.nan)) for c in dists]
                ax.bar(np.arange(len(dists)) + si * w, [m[0] for m in ms], w, yerr=[m[1] for m in ms], capsize=3,
                       label="paper", color="lightgray", hatch="//", edgecolor="gray")
            else:
                s2 = sub if p is None else sub[sub.fc_pool == p]
                ms = [mean_std(s2.test_acc[s2.conv_dist == c] * 100) for c in dists]
                ax.bar(np.arange(len(dists)) + si * w, [m[0] for m in ms], w, yerr=[np.nan_to_num(m[1]) for m in ms],
                       capsize=3, label=name)
        ax.set_xticks(np.arange(len(dists)) + w * (len(series) - 1) / 2)
        ax.set_xticklabels(dists, rotation=15)
        ax.set_title(d)
        ax.set_ylabel("test accuracy (%)")
        ax.set_xlabel("conv kernels")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
