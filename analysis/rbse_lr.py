#!/usr/bin/python3
"""rbse_lr: the learning-rate choice of the RBSE controls study (docs/RESULTS_RBSE.md, "Each
model at its own learning rate") from a results file of sweeps/rbse_lr.yaml and one of
sweeps/rbse_controls.yaml (the rate 0.05).

    /usr/bin/python3 analysis/rbse_lr.py results/rbse_lr.h5 docs/results/rbse_controls.h5

Prints Markdown:
1. per CD model (the rbse at each release_lr_scale; the rbm, whose CD DropConnect shares) and
   rbm_lr, seed 0: the validation reconstruction error of the epoch kept, the epoch kept and
   the epochs run, the mean release probability, the status; and each model's choice, the
   rate with the lowest validation reconstruction error among the runs that finished (a
   diverged run is never chosen);
2. per variant and k, test accuracy over the seeds both files have at 0.05 and 0.2 (mean +-
   sample std) and the paired difference 0.2 - 0.05 per seed;
3. each variant at its CD model's chosen rate against the rbm at its own, paired per seed.
"""
import math
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from synsweep_results import load_results  # noqa: E402


def cd_model(r):
    return f"rbse x{r.release_lr_scale:g}" if r.model == "rbse" else "rbm"


def variant(r):
    if r.model == "rbse":
        return f"rbse {r.rbse_features} x{r.release_lr_scale:g}"
    return "rbm" if r.rbm_dropconnect >= 1 else f"rbm dropconnect {r.rbm_dropconnect:g}"


def num(x, fmt="{:.4f}"):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def ms(x):
    x = np.asarray(x, float)
    return f"{x.mean():.4f} +- {x.std(ddof=1):.4f}" if len(x) > 1 else f"{x.mean():.4f}"


def paired(d):
    d = np.asarray(d, float)
    if len(d) < 3:  # a t with one degree of freedom says nothing: the signs only
        return f"{d.mean():+.4f} (per seed {', '.join(f'{x:+.4f}' for x in d)})"
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d))) if d.std(ddof=1) > 0 else float("inf")
    return f"{d.mean():+.4f} +- {d.std(ddof=1):.4f} (t = {t:.1f}, {int((d > 0).sum())}/{len(d)} seeds up)"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: rbse_lr.py RBSE_LR.h5 RBSE_CONTROLS.h5")
    df = pd.concat([load_results(p) for p in sys.argv[1:]], ignore_index=True)
    df = df[df.model.isin(["rbse", "rbm"])].copy()
    df["cd_model"] = [cd_model(r) for r in df.itertuples()]
    df["variant"] = [variant(r) for r in df.itertuples()]
    models = sorted(df.cd_model.unique(), key=lambda v: (v == "rbm", v))

    print("| CD model | rbm_lr | val recon | CD epoch kept / run | mean p | status |")
    print("|---|---|---|---|---|---|")
    choice = {}
    for m in models:
        g = df[(df.cd_model == m) & (df.seed == 0)].drop_duplicates("rbm_lr").sort_values("rbm_lr")
        for r in g.itertuples():
            print(f"| {m} | {r.rbm_lr:g} | {num(r.val_recon_error)} | {num(r.cd_best_epoch, '{:.0f}')} / "
                  f"{num(r.cd_epochs_run, '{:.0f}')} | {num(r.mean_release, '{:.3f}')} | {r.status} |")
        ok = g[(g.status == "ok") & g.val_recon_error.notna()]
        if len(ok):
            choice[m] = ok.loc[ok.val_recon_error.idxmin()].rbm_lr
    print()
    print("| CD model | chosen rbm_lr (seed 0's validation split) |")
    print("|---|---|")
    for m in models:
        print(f"| {m} | {num(choice.get(m), '{:g}')} |")

    ok = df[df.status == "ok"]
    key = ["variant", "train_per_class", "seed"]
    lo = ok[ok.rbm_lr == 0.05].set_index(key).test_acc
    hi = ok[ok.rbm_lr == 0.2].set_index(key).test_acc
    if not (lo.index.is_unique and hi.index.is_unique):  # another varying parameter: no pairing by these keys
        sys.exit("rbse_lr: more than one job per (variant, k, seed) at a rate: not the sweeps this script reads")
    both = lo.index.intersection(hi.index)
    if not len(both):
        return
    print()
    print("| variant | k | seeds | test_acc at 0.05 | test_acc at 0.2 | 0.2 - 0.05, paired |")
    print("|---|---|---|---|---|---|")
    variants = sorted({i[0] for i in both}, key=lambda v: (v.startswith("rbm"), v))
    ks = sorted({i[1] for i in both})
    for k in ks:
        for v in variants:
            idx = [i for i in both if i[0] == v and i[1] == k]
            if idx:
                print(f"| {v} | {k} | {len(idx)} | {ms(lo[idx])} | {ms(hi[idx])} | {paired((hi[idx] - lo[idx]).values)} |")

    # each variant at its CD model's chosen rate, against the rbm at its own, over the seeds of `both`
    seeds = sorted({i[2] for i in both})
    at = ok[ok.seed.isin(seeds)].copy()
    at = at[[choice.get(m) == lr for m, lr in zip(at.cd_model, at.rbm_lr)]].set_index(key).test_acc
    print()
    print("| variant at its chosen rate | k | test_acc | - rbm at its chosen rate, paired |")
    print("|---|---|---|---|")
    for k in ks:
        base = at[[i for i in at.index if i[0] == "rbm" and i[1] == k]].droplevel(0)
        for v in variants:
            a = at[[i for i in at.index if i[0] == v and i[1] == k]].droplevel(0)
            d = (a - base).dropna()
            diff = paired(d.values) if v != "rbm" and len(d) else "-"
            if len(a):
                print(f"| {v} | {k} | {ms(a)} | {diff} |")


if __name__ == "__main__":
    main()
