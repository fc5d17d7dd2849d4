#!/usr/bin/python3
"""karimi_sensitivity.py RESULTS.h5 [-o TABLE.md] [--force]

Karimi et al.'s Table 1 (MNIST) under every protocol of sweeps/karimi_sensitivity.yaml: which
unstated choice (optimiser, learning rate, pixels, FC reading, epochs) gives the paper's numbers
and its ranking of the kernel distributions (log-normal > trained > center-surround > normal)?

From the results file alone. A protocol is (optimizer, lr, preprocess, fc_pool) at 5, 20 or 100
epochs (the test accuracy of the 100-epoch job's curve at that epoch). For each protocol: the
mean test accuracy over seeds of the four kernel kinds of the paper (log-normal with positive
weights), the root-mean-square distance of the four to the paper's, the largest seed std, and
whether the ranking is the paper's. Then the log-normal sign rules under the closest protocols.
Prints Markdown; with -o writes it there too (safeio: an existing file only with --force).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from synsweep_report.fmt import md_table  # noqa: E402
from synsweep_report.papers import PAPERS  # noqa: E402
from synsweep_report.safeio import Refused, replace_atomically  # noqa: E402
from synsweep_results import load_curves, load_results  # noqa: E402

KINDS = ["normal", "lognormal", "center_surround", "trained"]
EPOCHS = [5, 20, 100]
PROTOCOL = ["optimizer", "lr", "preprocess", "fc_pool"]


def paper_mnist():
    t = PAPERS["karimi2024"]["table1"]
    return pd.Series({k: t[("mnist", k)][0] / 100 for k in KINDS})


def long_table(path):
    """One row per (job, epoch in EPOCHS) of the ok jobs: protocol, kernel variant, seed, acc."""
    df = load_results(path)
    curves = load_curves(path, "test_acc")
    df = df[df.status == "ok"].copy()
    df["variant"] = np.where(df.conv_dist == "lognormal", "lognormal_" + df.lognormal_sign, df.conv_dist)
    rows = []
    for e in EPOCHS:
        d = df[PROTOCOL + ["variant", "seed"]].copy()
        d["epochs"] = e
        d["acc"] = curves.loc[df.index, e].to_numpy(dtype=float)
        d["train_acc"] = load_curves(path, "train_acc").loc[df.index, e].to_numpy(dtype=float)
        rows.append(d)
    return pd.concat(rows, ignore_index=True)


def protocol_table(t, paper):
    """Per protocol and epochs: the four kinds' means, distance to the paper, ranking."""
    main = t[t.variant.isin(["normal", "lognormal_positive", "center_surround", "trained"])].copy()
    main["kind"] = main.variant.str.replace("lognormal_positive", "lognormal")
    g = main.groupby(PROTOCOL + ["epochs", "kind"]).agg(acc=("acc", "mean"), sd=("acc", "std"),
                                                        train=("train_acc", "mean"), n=("acc", "size"))
    wide = g.acc.unstack("kind").reindex(columns=KINDS).dropna()  # protocols with all four kinds
    out = wide.copy()
    out["max_sd"] = g.sd.unstack("kind").reindex(columns=KINDS).loc[wide.index].max(axis=1)
    out["train_min"] = g.train.unstack("kind").reindex(columns=KINDS).loc[wide.index].min(axis=1)
    out["rms_to_paper"] = np.sqrt(((wide - paper) ** 2).mean(axis=1))
    paper_order = list(paper.sort_values(ascending=False).index)
    out["ranking"] = [", ".join(r.sort_values(ascending=False).index) for _, r in wide.iterrows()]
    out["paper_ranking"] = out.ranking == ", ".join(paper_order)
    out["lognormal_best"] = pd.Series(wide.idxmax(axis=1) == "lognormal", dtype=bool)
    return out.reset_index().sort_values("rms_to_paper")


def fmt_pct(x):
    return f"{100 * x:.1f}"


def report(path):
    paper = paper_mnist()
    t = long_table(path)
    p = protocol_table(t, paper)
    n_prot = len(p)
    if n_prot == 0:
        return f"{path}: no protocol has results for all four kernel kinds yet"
    lines = [f"{path}: {t[t.epochs == 100].shape[0]} ok jobs; {n_prot} protocols x epochs "
             f"({len(p) // len(EPOCHS)} protocols at {EPOCHS} epochs); seeds {sorted(t.seed.unique().tolist())}", "",
             "Paper (MNIST, Table 1): " + ", ".join(f"{k} {100 * v:.2f}" for k, v in paper.items())
             + f"; ranking (best first) {', '.join(paper.sort_values(ascending=False).index)}", "",
             f"Protocols with the paper's ranking: {int(p.paper_ranking.sum())} of {n_prot}; "
             f"with log-normal best: {int(p.lognormal_best.sum())} of {n_prot}; "
             f"within 3 points RMS of the paper: {int((p.rms_to_paper < 0.03).sum())} of {n_prot}.", "",
             "## The 12 protocols closest to the paper (test accuracy %, mean over seeds)", ""]
    show = p.head(12).copy()
    for c in KINDS + ["max_sd", "train_min", "rms_to_paper"]:
        show[c] = show[c].map(fmt_pct)
    show = show.rename(columns={"max_sd": "max seed sd", "train_min": "min train acc",
                                "rms_to_paper": "RMS to paper", "ranking": "ranking (best first)",
                                "paper_ranking": "paper's ranking"})
    lines += [md_table(show.drop(columns=["lognormal_best"])), ""]
    for title, rows in (("Every protocol with the paper's ranking", p[p.paper_ranking]),
                        ("Every protocol with log-normal (positive) best", p[p.lognormal_best])):
        if len(rows):
            r = rows[PROTOCOL + ["epochs"] + KINDS + ["rms_to_paper"]].copy()
            for c in KINDS + ["rms_to_paper"]:
                r[c] = r[c].map(fmt_pct)
            lines += [f"## {title}", "", md_table(r), ""]
    # any sign rule: the best log-normal variant against the best of the other three kinds
    v = t.groupby(PROTOCOL + ["epochs", "variant"]).acc.mean().unstack("variant")
    logn = v[[c for c in v.columns if c.startswith("lognormal")]].max(axis=1)
    other = v[[c for c in ["normal", "center_surround", "trained"] if c in v.columns]].max(axis=1)
    lines += [f"Log-normal with its best sign rule (positive, random or Dale) above every other kind: "
              f"{int((logn > other).sum())} of {int(logn.notna().sum())} protocols x epochs.", ""]
    best = p.head(3)[PROTOCOL + ["epochs"]]
    s = t.merge(best, on=PROTOCOL + ["epochs"])
    s = s[s.variant.str.startswith("lognormal")]
    sign = s.groupby(PROTOCOL + ["epochs", "variant"]).acc.agg(["mean", "std"]).unstack("variant")
    sign.columns = [f"{v} {m}" for m, v in sign.columns]
    lines += ["## Log-normal sign rules under the 3 closest protocols (test accuracy, mean and std over seeds)", "",
              md_table(sign.reset_index(), ".4f"), ""]
    return "\n".join(lines)


def main():
    args = [a for a in sys.argv[1:] if a != "--force"]
    force = len(args) < len(sys.argv) - 1
    out = None
    if "-o" in args:
        i = args.index("-o")
        if i + 1 >= len(args):
            sys.exit("karimi_sensitivity.py: -o needs a file name")
        out = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if args and args[0] in ("-h", "--help") else 2)
    text = report(args[0])
    print(text)
    if out is not None:
        with replace_atomically(out, [args[0]], force) as f:
            f.write(text + "\n")


if __name__ == "__main__":
    try:
        main()
    except Refused as e:
        sys.exit(f"karimi_sensitivity.py: {e}")
    except OSError as e:  # e.g. -o in a folder that does not exist
        sys.exit(f"karimi_sensitivity.py: {e.filename or ''}: {e.strerror or e}")
