#!/usr/bin/python3
"""rbse_controls: the tables of docs/RESULTS_RBSE.md's controls section from a results file of
sweeps/rbse_controls.yaml (or its reduced copy).

    /usr/bin/python3 analysis/rbse_controls.py results/rbse_controls.h5

Prints Markdown: per variant (model, rbse_features, release_lr_scale, rbm_dropconnect) and
k, test_acc mean +- sample std over seeds with the CD epoch kept, validation and training
reconstruction error and mean release probability; then the paired differences against the
plain RBM per seed (same seed and k: same labelled and CD images, initial w and chains).
"""
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from synsweep_results import load_results  # noqa: E402


def variant(r):
    if r.model == "rbse":
        return f"rbse {r.rbse_features} x{r.release_lr_scale:g}"
    if r.model == "rbm":
        return "rbm" if r.rbm_dropconnect >= 1 else f"rbm dropconnect {r.rbm_dropconnect:g}"
    return r.model


def ms(x):
    x = np.asarray(x, float)
    return f"{x.mean():.4f} +- {x.std(ddof=1):.4f}" if len(x) > 1 else f"{x.mean():.4f}"


def main():
    df = load_results(sys.argv[1])
    df = df[df.status == "ok"].copy()
    df["variant"] = [variant(r) for r in df.itertuples()]
    order = sorted(df.variant.unique(), key=lambda v: (v.split()[0] != "rbse", v))
    print("| variant | k | n | test_acc | CD epoch kept / run | val recon | recon | mean p |")
    print("|---|---|---|---|---|---|---|---|")
    for k in sorted(df.train_per_class.unique()):
        for v in order:
            g = df[(df.variant == v) & (df.train_per_class == k)]
            if g.empty:
                continue
            cd = (f"{g.cd_best_epoch.mean():.1f} / {g.cd_epochs_run.mean():.1f}" if g.cd_epochs_run.notna().any()
                  else "-")
            num = lambda c: f"{g[c].mean():.4f}" if g[c].notna().any() else "-"
            print(f"| {v} | {k} | {len(g)} | {ms(g.test_acc)} | {cd} | {num('val_recon_error')} | "
                  f"{num('recon_error')} | {num('mean_release')} |")
    print()
    print("| k | difference | n | mean +- std | seeds better |")
    print("|---|---|---|---|---|")
    base = df[df.variant == "rbm"].set_index(["train_per_class", "seed"]).test_acc
    for k in sorted(df.train_per_class.unique()):
        for v in order:
            if v == "rbm":
                continue
            a = df[(df.variant == v) & (df.train_per_class == k)].set_index(["train_per_class", "seed"]).test_acc
            d = (a - base).dropna()
            if len(d):
                print(f"| {k} | {v} - rbm | {len(d)} | {d.mean():+.4f} +- {d.std(ddof=1) if len(d) > 1 else 0:.4f} | "
                      f"{int((d > 0).sum())}/{len(d)} |")


if __name__ == "__main__":
    main()
