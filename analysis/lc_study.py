#!/usr/bin/python3
"""lc_study.py RESULTS.h5 [OUTDIR]: the LC / dynamic weight sharing study (sweeps/lc_sleep.yaml,
Pogodin et al. 2021, SCIENCE.md section 4) from its results file alone.

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


def load(path):
    f = h5py.File(path, "r")
    df = pd.DataFrame(f["results"][:])
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].str.decode("utf-8")
    if "sleep" not in df:
        df["sleep"] = "none"
    if "sleep_every" not in df:
        df["sleep_every"] = 0
    df["condition"] = [
        "conv (lc_conv)" if m == "lc_conv" else
        "LC, no sharing" if s == "none" else f"LC, {s} every {int(e)}"
        for m, s, e in zip(df.model, df.sleep, df.sleep_every)]
    curves = {"test_acc": f["curves/test_acc"][:]}
    mc = f["model_curves"] if "model_curves" in f else {}
    snr = {k: mc[k][:] for k in mc if k.startswith("snr_")}
    return df, curves, snr


def ms(x):
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return "-"
    sd = x.std(ddof=1) if len(x) > 1 else float("nan")
    return f"{x.mean():.4g} +- {sd:.2g}"


def main():
    path = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(path))
    df, curves, snr = load(path)
    ok = df.status == "ok"
    print(f"{path}: {len(df)} jobs, {int(ok.sum())} ok, wall per job {df.seconds.mean():.0f} s "
          f"(sum {df.seconds.sum():.0f} s)")
    order = lambda c: (0 if c.startswith("conv") else 1 if "no sharing" in c else 2, c)  # noqa: E731
    for ds, d in df[ok].groupby("dataset"):
        conds = sorted(d.condition.unique(), key=order)
        base = d[d.model == "lc_conv"].test_acc.mean()
        print(f"\n### {ds}: train {int(d.n_train.iloc[0])}, test {int(d.n_test.iloc[0])}, "
              f"epochs {int(d.epochs.iloc[0])}, seeds {sorted(d.seed.unique().tolist())}\n")
        print("| condition | n | test acc | test acc - conv | AUC test acc | train acc | snr_paper | snr_code "
              "| sleeps | s/job |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for c in conds:
            g = d[d.condition == c]
            print(f"| {c} | {len(g)} | {ms(g.test_acc)} | {ms(g.test_acc - base)} | {ms(g.auc_test_acc)} | "
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
