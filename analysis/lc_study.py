#!/usr/bin/python3
"""lc_study.py RESULTS.h5 [MORE.h5 ...] [-o OUTDIR]: the LC / dynamic weight sharing study (sweeps/lc_sleep.yaml,
Pogodin et al. 2021, SCIENCE.md section 4) from its results file alone.

Several results files (e.g. sweeps/lc_sleep.yaml and its follow-up lc_sleep_lr.yaml) are
read as one table (the learning rate joins the condition when it varies).
Prints a Markdown table per dataset: one row per condition (model, sleep, sleep_every),
final test accuracy, AUC of the test-accuracy curve, final train accuracy and SNR_w (both
definitions, mean over LC layers) as mean +- sample std over seeds (n = seeds), and the
difference to the conv baseline. Writes OUTDIR/lc_<dataset>_acc.png (test accuracy per
epoch) and OUTDIR/lc_<dataset>_snr.png (SNR_w per epoch and LC layer, log scale).
"""
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def pad(a, E):
    return np.pad(a, ((0, 0), (0, E - a.shape[1])), constant_values=np.nan) if a.shape[1] < E else a


def load(paths):
    dfs, accs, snrs = [], [], []
    for path in paths:
        f = h5py.File(path, "r")
        d = pd.DataFrame(f["results"][:])
        for c in d.columns:
            if d[c].dtype == object:
                d[c] = d[c].str.decode("utf-8")
        d["file"] = os.path.basename(path)
        dfs.append(d)
        accs.append(f["curves/test_acc"][:])
        mc = f["model_curves"] if "model_curves" in f else {}
        snrs.append({k: mc[k][:] for k in mc if k.startswith("snr_")})
    df = pd.concat(dfs, ignore_index=True)
    E = max(a.shape[1] for a in accs)
    curves = {"test_acc": np.concatenate([pad(a, E) for a in accs])}
    snr = {}
    for k in sorted(set().union(*snrs)):
        snr[k] = np.concatenate([pad(s[k], E) if k in s else np.full((len(d), E), np.nan)
                                 for s, d in zip(snrs, dfs)])
    if "sleep" not in df:
        df["sleep"] = "none"
    if "sleep_every" not in df:
        df["sleep_every"] = 0
    lr = [f", lr {x:g}" if df.lr.nunique() > 1 else "" for x in df.lr]
    df["condition"] = [
        ("conv (lc_conv)" if m == "lc_conv" else
         "LC, no sharing" if s == "none" else f"LC, {s} every {int(e)}") + r
        for m, s, e, r in zip(df.model, df.sleep, df.sleep_every, lr)]
    return df, curves, snr


def ms(x):
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return "-"
    sd = x.std(ddof=1) if len(x) > 1 else float("nan")
    return f"{x.mean():.4g} +- {sd:.2g}"


def main():
    args = sys.argv[1:]
    out = None
    if "-o" in args:
        i = args.index("-o")
        out = args[i + 1]
        del args[i:i + 2]
    out = out or os.path.dirname(os.path.abspath(args[0]))
    df, curves, snr = load(args)
    ok = df.status == "ok"
    for fn, g in df.groupby("file", sort=False):
        print(f"{fn}: {len(g)} jobs, {int((g.status == 'ok').sum())} ok, mean job time {g.seconds.mean():.0f} s "
              f"(sum {g.seconds.sum():.0f} s)")
    order = lambda c: (0 if c.startswith("conv") else 1 if "no sharing" in c else 2, c)  # noqa: E731
    for ds, d in df[ok].groupby("dataset"):
        conds = sorted(d.condition.unique(), key=order)
        # the conv job of the same seed (same training subset): a paired difference
        conv = d[d.model == "lc_conv"].set_index("seed").test_acc
        print(f"\n### {ds}: train {int(d.n_train.iloc[0])}, test {int(d.n_test.iloc[0])}, "
              f"epochs {int(d.epochs.iloc[0])}, seeds {sorted(d.seed.unique().tolist())}\n")
        print("| condition | n | test acc | test acc - conv (paired by seed) | AUC test acc | train acc | snr_paper | snr_code "
              "| sleeps | s/job |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for c in conds:
            g = d[d.condition == c]
            print(f"| {c} | {len(g)} | {ms(g.test_acc)} | {ms(g.test_acc.values - conv.reindex(g.seed).values)} | {ms(g.auc_test_acc)} | "
                  f"{ms(g.train_acc)} | {ms(g.snr_paper)} | {ms(g.snr_code)} | {ms(g.n_sleeps)} | "
                  f"{g.seconds.mean():.0f} |")
        # figures: accuracy and SNR curves (mean over seeds, band = +- sample std)
        fig, ax = plt.subplots(figsize=(6, 4))
        for c in conds:
            idx = d.index[d.condition == c]
            a = curves["test_acc"][idx]
            m, s = np.nanmean(a, 0), np.nanstd(a, 0, ddof=1) if len(idx) > 1 else 0 * a[0]
            e = np.arange(1, a.shape[1] + 1)
            ax.plot(e, m, marker="o", label=c)
            ax.fill_between(e, m - s, m + s, alpha=0.2)
        ax.set_xlabel("epoch"), ax.set_ylabel("test accuracy"), ax.set_title(f"{ds}: test accuracy")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"lc_{ds}_acc.png"), dpi=110)
        layers = sorted(int(k.rsplit("_", 1)[1]) for k in snr if k.startswith("snr_paper_"))
        if not layers:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, kind in zip(axes, ("paper", "code")):
            for c in conds:
                idx = d.index[d.condition == c]
                if c.startswith("conv"):
                    continue
                for l in layers:
                    a = snr[f"snr_{kind}_{l}"][idx]
                    e = np.arange(1, a.shape[1] + 1)
                    ax.plot(e, np.nanmean(a, 0), marker="o", ls="-" if l == 0 else "--", label=f"{c}, layer {l}")
            ax.set_yscale("log"), ax.set_xlabel("epoch (end)")
            ax.set_title(f"{ds}: SNR_w, {'paper (mean^2/var)' if kind == 'paper' else 'code (|mean|/std)'}")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"lc_{ds}_snr.png"), dpi=110)
        # SNR per epoch, layer 0 and 1, as a table (mean over seeds)
        print(f"\nSNR_w (paper) at the end of each epoch, mean over seeds:\n")
        print("| condition | layer | " + " | ".join(f"e{i + 1}" for i in range(d.epochs.max())) + " |")
        print("|---|---|" + "---|" * int(d.epochs.max()))
        for c in conds:
            if c.startswith("conv"):
                continue
            idx = d.index[d.condition == c]
            for l in layers:
                a = np.nanmean(snr[f"snr_paper_{l}"][idx], 0)
                print(f"| {c} | {l} | " + " | ".join(f"{v:.3g}" for v in a) + " |")


if __name__ == "__main__":
    main()
