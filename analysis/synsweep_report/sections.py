"""The report's sections: a registry of (name, predicate, function). A section is added with

    @section("title", applies=lambda r: ..., order=50)
    def my_section(r, out):       # r: data.Results, out: report.Output
        out.table(...); out.figure(...); out.text(...)

Predicates look at what the results file holds (model kinds, rules, axes, the paper id the
sweep names). RBSE / LC sections register themselves the same way (e.g. applies=lambda r:
"rbse" in r.values("model")).
"""
import numpy as np
import pandas as pd

from .data import STATUSES, PROVENANCE_KEYS
from .fmt import fmt_ms, mean_std
from .papers import paper
from . import plots, studies

SECTIONS = []
FA_RULES = {"fa", "fa_noise", "dfa"}


def section(title, applies=lambda r: True, order=50):
    def reg(fn):
        SECTIONS.append({"title": title, "applies": applies, "order": order, "fn": fn})
        return fn
    return reg


def applicable(r):
    return [s for s in sorted(SECTIONS, key=lambda s: s["order"]) if s["applies"](r)]


def group_stats(r, cols, keys=None, scale=None):
    """DataFrame: one row per group (keys, default the varying grid keys) with 'mean ± std'
    of every column over the ok jobs (seeds), and n; groups in the order they first occur."""
    keys = r.varying() if keys is None else keys
    scale = scale or {}

    def ms(c):
        sc = scale.get(c, 1.0)

        def f(x):
            m, s, n = mean_std(x)
            return fmt_ms(m, s, n, sc, 2 if sc != 1.0 or abs(m) >= 1 else 3)
        return f
    g = r.ok.groupby(keys or (lambda _: 0), sort=False)  # no keys: one group of all the ok jobs
    t = pd.DataFrame({c: g[c].agg(ms(c)) for c in cols})
    t["n"] = g.size()
    return t.reset_index(drop=not keys)


def present(r, cols):
    return [c for c in cols if r.has(c)]


# ---------------------------------------------------------------- always

@section("Provenance", order=0)
def provenance(r, out):
    rows = []
    for k in PROVENANCE_KEYS:
        rows.append((k, r.attrs[k] if k in r.attrs else "(not recorded in this file)"))
    for k in sorted(r.attrs):
        if k not in PROVENANCE_KEYS and k != "sweep_yaml":
            rows.append((k, r.attrs[k]))
    if "host" in r.df.columns:
        rows.append(("hosts of the jobs (host column)", ", ".join(sorted(set(r.df.host) - {""})) or "-"))
    builds, unknown = [], 0
    if "git_commit" in r.df.columns:
        done = r.df.git_commit[r.df.status != "pending"]
        builds, unknown = sorted(set(done) - {""}), int((done == "").sum())
        told = [", ".join(builds)] if builds else []
        if unknown:
            told.append(f"{unknown} finished job(s) not recorded (run by a release before the column; "
                        "the builds attribute lists the builds that wrote the file)")
        rows.append(("builds that ran the jobs (git_commit column)", "; ".join(told) or "-"))
    if r.paper:
        rows.append(("paper (from the sweep's paper:)", "; ".join(f"{k}: {v}" for k, v in r.paper.items())))
    out.table("Provenance", pd.DataFrame(rows, columns=["attribute", "value"]),
              "Root attributes of the results file (docs/FORMAT.md); the sweep's text follows.")
    if len(builds) + (1 if unknown else 0) > 1:
        out.text(f"The jobs of this file were run by more than one build of synsweep ({len(builds)} recorded"
                 f"{' and one or more not recorded' if unknown else ''}: a run resumed or merged across "
                 "releases): their numbers may differ by more than the seeds do. The git_commit column says "
                 "which build ran each job.")
    out.code("The sweep file as run (attribute sweep_yaml; also written to sweep.yaml beside this page)",
             r.attrs.get("sweep_yaml", "(not recorded)"))


@section("Completion", order=10)
def completion(r, out):
    df = r.df
    keys = r.varying()
    rows = []
    grouped = df.groupby(keys[0] if len(keys) == 1 else keys, sort=False) if keys else [((), df)]
    for k, g in grouped:
        k = k if isinstance(k, tuple) else (k,)
        row = dict(zip(keys, k))
        for s in STATUSES:
            row[s] = int((g.status == s).sum())
        row["jobs"] = len(g)
        rows.append(row)
    t = pd.DataFrame(rows)
    out.table("Completion matrix (jobs per grid cell by status)", t,
              "Cells are the grid's values other than seed; a cell sums its seeds.")
    counts = {s: int((df.status == s).sum()) for s in STATUSES}
    sweep = r.attrs.get("sweep_path", "SWEEP.yaml")
    cmds = []
    if counts["pending"]:
        cmds.append(f"synsweep run {sweep} -o {r.path} --resume")
    if counts["failed"] + counts["diverged"] + counts["timeout"]:
        cmds.append(f"synsweep run {sweep} -o {r.path} --resume --retry-failed")
    msg = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no jobs"
    if cmds:
        out.text(f"{msg}. To finish (mpirun -n N in front as for the first run; if the sweep file "
                 f"is not at {sweep}, use sweep.yaml beside this page, which is its text):")
        out.code("resume / retry", "\n".join(cmds))
    else:
        out.text(f"Complete: {msg}.")
    shared_stages(r, out)
    bad = df[df.status.isin(["failed", "diverged", "timeout"])]
    if len(bad) and "message" in bad:
        out.table("Jobs without a result", bad[["job_id", "status"] + r.axes + ["message"]].head(50), "")


def shared_stages(r, out):
    """What the run shared (docs/ARCHITECTURE.md, "Shared stages"): jobs that continued from a
    stage another job computed, and the core-seconds that saved."""
    if "stage_seconds_saved" not in r.df.columns:
        return
    s = r.df.stage_seconds_saved.to_numpy(dtype=float)
    done = np.isfinite(s)
    if not done.any():
        return  # a file of a release before shared stages
    n = int((s[done] > 0).sum())
    if n == 0:
        out.text("Shared stages: none (no job continued from a stage another job computed: the sweep "
                 "has no shareable stage, or it ran with --no-stage-cache).")
        return
    saved = float(s[done].sum())
    took = float(np.nansum(r.df.seconds.to_numpy(dtype=float))) if "seconds" in r.df.columns else float("nan")
    share = f" ({100.0 * saved / (saved + took):.0f}% of the {saved + took:,.0f} core-seconds the jobs would have taken)" \
        if took > 0 else ""
    out.text(f"Shared stages: {n} of {int(done.sum())} jobs continued from a stage (noise phase, frozen features or "
             f"contrastive divergence) another job of the run computed, saving {saved:,.1f} core-seconds{share}; "
             "the results are bit-identical to computing every stage (run --no-stage-cache).")


SUMMARY_COLS = ["test_acc", "train_acc", "gap_acc", "gap_loss", "auc_test_acc", "test_loss",
                "readout_p_max_mean", "dead_fraction", "seconds"]


@section("Summary (mean ± sample std over seeds)", order=20)
def summary(r, out):
    cols = present(r, SUMMARY_COLS)
    if not len(r.ok):
        out.text("No job has finished.")
        return
    t = group_stats(r, cols, scale={c: 100.0 for c in cols if c.endswith("_acc")})
    out.table("Summary", t, "Accuracies in % (mean ± sample standard deviation over seeds, ddof 1); "
              "losses in nats; seconds of wall time per job; n = finished jobs.")


@section("Learning curves", applies=lambda r: "test_acc" in r.curves and r.curves["test_acc"].shape[1] > 1, order=30)
def learning_curves(r, out):
    for name, ylabel in (("test_acc", "test accuracy (%)"), ("train_loss", "training loss (nats)")):
        if name not in r.curves or not np.isfinite(r.curves[name]).any():
            continue
        fig = plots.curves_by_group(r, name, ylabel, scale=100.0 if name.endswith("acc") else 1.0)
        if fig is not None:
            out.figure(f"curve_{name}", fig, f"{name} per epoch: mean over seeds, band = ± sample std.")


# ---------------------------------------------------------------- feedback alignment

def _fa(r):
    return bool(set(r.values("rule")) & FA_RULES) and "init" in r.layers


def layer_stage_table(r, metric, stages=("init", "after_noise", "final")):
    ok = r.ok
    keys = r.varying()
    L = r.layers["init"][metric].shape[1]
    rows = []
    grouped = ok.groupby(keys[0] if len(keys) == 1 else keys, sort=False) if keys else [((), ok)]
    for k, g in grouped:
        k = k if isinstance(k, tuple) else (k,)
        idx = g.job_id.to_numpy()
        for l in range(L):
            vals = {st: r.layers[st][metric][idx, l] for st in stages if st in r.layers and metric in r.layers[st]}
            if not any(np.isfinite(v).any() for v in vals.values()):
                continue
            row = dict(zip(keys, k))
            row["layer"] = l
            for st, v in vals.items():
                row[st] = fmt_ms(*mean_std(v))
            rows.append(row)
    return pd.DataFrame(rows)


@section("Feedback alignment: angles, effective ranks, readout", applies=_fa, order=40)
def alignment(r, out):
    t = layer_stage_table(r, "angle")
    if len(t):
        out.table("W-B angle per layer (degrees)", t,
                  "arccos of <vec W_l, vec B_l>/(|W_l||B_l|), per FC layer l (layer 0 has no B): at init, "
                  "after the noise phase (fa_noise) and at the end.")
    t = layer_stage_table(r, "erank")
    if len(t):
        out.table("Effective rank of W per layer", t, "exp of the entropy of the normalised singular values (Roy & Vetterli 2007).")
    if "final" in r.layers and "gram_erank" in r.layers["final"]:
        t = layer_stage_table(r, "gram_erank", stages=("final",))
        if len(t):
            out.table("Gram-matrix effective rank of hidden features (end)", t, "cosine similarity between units on the test set; silent units left out.")
    cols = present(r, ["test_acc_init", "test_acc_after_noise", "test_acc", "readout_p_max_mean_init",
                       "readout_p_max_mean_after_noise", "readout_p_max_mean", "readout_p_true_mean_after_noise",
                       "noise_loss"])
    if cols:
        out.table("Readout before and after", group_stats(r, cols, scale={c: 100.0 for c in cols if "acc" in c}),
                  "test accuracy (%) and mean largest softmax probability (chance = 1/classes) at init, after "
                  "noise (fa_noise) and at the end.")
    fig = plots.angle_trajectories(r)
    if fig is not None:
        out.figure("angle_trajectories", fig, "W-B angle of each FA layer: left, along the noise phase "
                   "(/noise_curve, fa_noise); right, after each data epoch (/layers/angle_curve). Mean over "
                   "seeds, band ± sample std.")
    fig = plots.erank_bars(r)
    if fig is not None:
        out.figure("erank_bars", fig, "Effective rank of W per layer at each stage (mean ± sample std over seeds).")


# ---------------------------------------------------------------- axes studied

def _numeric_axis(r):
    return [a for a in r.varying() if a in ("train_size", "n_hidden", "hidden", "noise_examples", "train_per_class")]


@section("Studies along a grid axis", applies=lambda r: bool(_numeric_axis(r)) and len(r.ok) > 0, order=50)
def axis_studies(r, out):
    for a in _numeric_axis(r):
        x = "n_hidden" if a == "hidden" else a
        for m, yl, sc in (("gap_acc", "generalisation gap, train - test accuracy (%)", 100.0),
                          ("test_acc", "test accuracy (%)", 100.0),
                          ("gram_erank_mean", "Gram effective rank (mean over hidden layers)", 1.0)):
            fig = plots.metric_vs_axis(r, x, m, yl, sc)
            if fig is not None:
                out.figure(f"{m}_vs_{x}", fig, f"{m} against {x}: mean ± sample std over seeds.")


@section("Out-of-distribution tests", applies=lambda r: len(r.values("ood")) > 1 and len(r.ok) > 0, order=55)
def ood(r, out):
    fig = plots.grouped_bars(r, "ood", "test_acc", "test accuracy (%)", 100.0)
    if fig is not None:
        out.figure("ood_bars", fig, "Test accuracy on each test set (none = MNIST's own test split); "
                   "mean ± sample std over seeds.")


@section("Task adaptation", applies=lambda r: len(r.values("dataset")) > 1 and "mlp" in r.values("model") and len(r.ok) > 0, order=56)
def tasks(r, out):
    for m, yl in (("auc_test_acc", "area under the test-accuracy curve / epochs (%)"), ("test_acc", "final test accuracy (%)")):
        fig = plots.grouped_bars(r, "dataset", m, yl, 100.0)
        if fig is not None:
            out.figure(f"tasks_{m}", fig, f"{m} per dataset; mean ± sample std over seeds.")


@section("Meta-loss", applies=lambda r: r.has("meta_loss_init"), order=57)
def meta(r, out):
    cols = present(r, ["meta_loss_init", "meta_loss_after_noise", "meta_loss_final"])
    out.table("Meta-loss (nats)", group_stats(r, cols), "mean over the meta_tasks of the loss after meta_steps "
              "inner Adam steps (docs/JOBSPEC.md) at init, after noise and at the end.")
    fig = plots.stage_bars(r, cols, "meta-loss (nats)")
    if fig is not None:
        out.figure("meta_loss", fig, "Meta-loss at each stage; mean ± sample std over seeds.")


# ---------------------------------------------------------------- papers

def _karimi(r):
    return r.paper_id() == "karimi2024"


@section("Karimi et al., Table 1: paper vs ours", applies=_karimi, order=60)
def karimi(r, out):
    ref = paper("karimi2024")
    ok = r.ok
    if "conv_dist" not in ok or not len(ok):
        out.text("No finished cnn job.")
        return
    keys = [k for k in ("dataset", "fc_pool", "test_split") if k in ok.columns and len(r.values(k)) > 0]
    rows = []
    for k, g_all in r.df.groupby(keys + ["conv_dist"], sort=False):  # every cell, finished or not
        d = {a: str(v) for a, v in zip(keys + ["conv_dist"], k)}
        g = g_all[g_all.status == "ok"]
        m, s, n = mean_std(g.test_acc * 100)
        pm, ps = ref["table1"].get((d["dataset"], d["conv_dist"]), (np.nan, np.nan))
        d.update({"ours (%)": fmt_ms(m, s, n), "paper (%)": f"{pm:.2f} ± {ps:.2f}" if np.isfinite(pm) else "-",
                  "ours - paper": f"{m - pm:+.2f}" if np.isfinite(pm) and np.isfinite(m) else "-",
                  "dead FC units": fmt_ms(*mean_std(g.dead_fraction)) if "dead_fraction" in g else "-",
                  "n": f"{n} of {len(g_all)}"})
        rows.append(d)
    for (ds, cd), (pm, ps) in ref["table1"].items():
        if ds not in set(r.df.dataset):
            rows.append({"dataset": ds, "conv_dist": cd, "ours (%)": "not in this sweep", "paper (%)": f"{pm:.2f} ± {ps:.2f}",
                         "ours - paper": "-", "dead FC units": "-", "n": "0"})
    t = pd.DataFrame(rows).fillna("-")
    note = (f"Test accuracy, mean ± sample std over seeds. Paper: {ref['title']}; numbers from {ref['source']}. "
            "fc_pool 0 = reading (a) of the paper's FC input (all pooled features), 4 = reading (b) (4 x 4 x 64 = 1024).")
    if "svhn" in r.values("dataset"):
        note += " SVHN: trained on 38 per class of the 1,083 training records at hand, tested on the rest (held-out split), not on SVHN's test split."
    if "cifar10" in r.values("dataset"):
        note += " CIFAR-10: tested on the first 1,000 test records (all that ../shared/data holds)."
    out.table("Table 1: test accuracy (%), paper vs ours", t, note)
    fig = plots.karimi_bars(r, ref["table1"])
    if fig is not None:
        out.figure("table1_bars", fig, "Table 1 as grouped bars: ours (mean ± sample std over seeds) and the paper's (hatched).")


def _cheon(r):
    return r.paper_id() == "cheon2024"


def _ms(r, mask, col=None, arr=None):
    v = arr[mask] if arr is not None else r.ok.loc[mask, col]
    return mean_std(v)


def _all(verdicts):
    """one verdict from several (per OOD set, per dataset)"""
    if verdicts and all(v == "agrees" for v in verdicts):
        return "agrees"
    if verdicts and all(v in ("agrees", "same direction, |t| < 2") for v in verdicts):
        return "same direction, |t| < 2"
    return "disagrees" if verdicts else "n/a"


def cheon_claims(r):
    """[(claim, ours text, verdict)] for the claims this file can test; verdict 'agrees',
    'disagrees' or 'n/a'."""
    ok = r.ok
    all_ok = ok
    if "ood" in ok and len(set(ok.ood)) > 1:  # the other claims are about the MNIST test split
        ok = ok[ok.ood == "none"]
    res = []
    rule = ok["rule"] if "rule" in ok else pd.Series([], dtype=str)
    idx = ok.job_id.to_numpy()

    def top(stage, metric="angle"):
        if stage not in r.layers or metric not in r.layers[stage]:
            return None
        a = r.layers[stage][metric][idx]
        # last layer that has a value in each row
        out = np.full(len(a), np.nan)
        for i, row in enumerate(a):
            f = np.where(np.isfinite(row))[0]
            if f.size:
                out[i] = row[f[-1]]
        return out

    def cmp(a, b, lower=True, paired=False):
        """'agrees' if the a values are below (lower) / above the b values with |t| >= 2
        (Welch, or paired for two stages of the same jobs); 'same direction, |t| < 2' if only
        the means are ordered so; else 'disagrees'."""
        a, b = np.asarray(a, float), np.asarray(b, float)
        if paired:
            d = a - b
            d = d[np.isfinite(d)]
            if d.size == 0:
                return "n/a"
            m, se = d.mean(), (d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else np.inf)
        else:
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            if not (a.size and b.size):
                return "n/a"
            m = a.mean() - b.mean()
            se = np.sqrt((a.var(ddof=1) / a.size if a.size > 1 else np.inf) + (b.var(ddof=1) / b.size if b.size > 1 else np.inf))
        right = m < 0 if lower else m > 0
        t = abs(m) / se if se > 0 else np.inf
        return ("agrees" if t >= 2 else "same direction, |t| < 2") if right else "disagrees"

    def settings(**want):
        """whether every fa_noise job ran with these settings (numbers from SCIENCE.md hold only there)"""
        sub = ok[fn]
        return all(k in sub and len(sub) and (sub[k] == v).all() for k, v in want.items())

    fa, fn, bp = (rule == "fa").to_numpy(), (rule == "fa_noise").to_numpy(), (rule == "bp").to_numpy()
    ti, tn, tf = top("init"), top("after_noise"), top("final")
    for c in paper("cheon2024")["claims"]:
        cid, ours, v = c["id"], None, "n/a"
        if cid == "angle_init_90" and ti is not None and (fa | fn).any():
            m, s, n = mean_std(ti[fa | fn])
            ours, v = f"{fmt_ms(m, s, n)} deg (top layer, {n} FA jobs)", "agrees" if abs(m - 90) < 5 else "disagrees"
        elif cid in ("noise_aligns", "noise_budget_73") and tn is not None and fn.any() and np.isfinite(tn[fn]).any():
            m0 = mean_std(ti[fn])[0]
            m, s, n = mean_std(tn[fn])
            ours = f"top layer {m0:.1f} -> {fmt_ms(m, s, n)} deg after noise"
            if "noise_examples" in ok:
                ne = sorted(set(ok.noise_examples[fn]))
                ours += f" ({', '.join(str(x) for x in ne)} noise examples)"
            if cid == "noise_aligns":
                v = cmp(tn[fn], ti[fn], paired=True)
            elif not settings(noise_examples=640000, noise_lr=1e-4, noise_adam_reset=1):
                v = "n/a (other noise settings)"
            else:
                v = "agrees" if abs(m - 73) < 3 else "disagrees"
        elif cid == "auc_faster" and fa.any() and fn.any() and r.has("auc_test_acc"):
            a, b = mean_std(ok.auc_test_acc[fn] * 100), mean_std(ok.auc_test_acc[fa] * 100)
            ours, v = f"fa_noise {fmt_ms(*a)} vs fa {fmt_ms(*b)} %", cmp(ok.auc_test_acc[fn], ok.auc_test_acc[fa], lower=False)
        elif cid == "auc_like_bp" and bp.any() and fn.any() and r.has("auc_test_acc"):
            a, b = mean_std(ok.auc_test_acc[fn] * 100), mean_std(ok.auc_test_acc[bp] * 100)
            ours = f"fa_noise {fmt_ms(*a)} vs bp {fmt_ms(*b)} %"
            v = "agrees" if abs(a[0] - b[0]) <= max(1.0, 2 * np.nan_to_num(b[1])) else "disagrees"
        elif cid in ("final_angle", "final_angle_44_56") and tf is not None and fa.any() and fn.any():
            a, b = mean_std(tf[fn]), mean_std(tf[fa])
            ep = sorted(set(ok.epochs)) if "epochs" in ok else []
            ours = f"fa_noise {fmt_ms(*a)} vs fa {fmt_ms(*b)} deg (top layer, {', '.join(map(str, ep))} epochs)"
            if cid == "final_angle":
                v = cmp(tf[fn], tf[fa])
            elif not settings(noise_examples=640000, epochs=20):
                v = "n/a (other settings)"
            else:
                v = "agrees" if abs(a[0] - 44) < 3 and abs(b[0] - 56) < 3 else "disagrees"
        elif cid == "order":
            ours, v = "not expressible: fa_noise always runs noise before data", "n/a"
            if tn is not None and fn.any() and fa.any() and tf is not None:
                ours = (f"noise only {mean_std(tn[fn])[0]:.1f}, data only {mean_std(tf[fa])[0]:.1f}, noise then "
                        f"data {mean_std(tf[fn])[0]:.1f} deg; data then noise not expressible")
        elif cid == "readout_chance" and fn.any() and r.has("readout_p_max_mean_after_noise"):
            a = mean_std(ok.readout_p_max_mean_after_noise[fn])
            b = mean_std(ok.readout_p_max_mean_init[fn]) if r.has("readout_p_max_mean_init") else (np.nan,) * 3
            ours = f"mean max softmax {fmt_ms(*b)} at init -> {fmt_ms(*a)} after noise (chance 0.1)"
            v = "agrees" if abs(a[0] - 0.1) < 0.02 else "disagrees"
        elif cid == "erank_drops" and fn.any() and "after_noise" in r.layers:
            a, b = top("after_noise", "erank"), top("init", "erank")
            a, b = mean_std(a[fn]), mean_std(b[fn])
            ours, v = f"top layer {fmt_ms(*b)} -> {fmt_ms(*a)}", cmp(top("after_noise", "erank")[fn], top("init", "erank")[fn], paired=True)
        elif cid == "gap_lower" and fa.any() and fn.any() and r.has("gap_acc"):
            a, b = mean_std(ok.gap_acc[fn] * 100), mean_std(ok.gap_acc[fa] * 100)
            ours, v = f"fa_noise {fmt_ms(*a)} vs fa {fmt_ms(*b)} points" + (" (sizes pooled)" if "train_size" in r.varying() else ""), cmp(ok.gap_acc[fn], ok.gap_acc[fa])
            if "train_size" in r.varying():
                wins = []
                for s_, g in ok.groupby("train_size"):
                    wins.append(g.gap_acc[g.rule == "fa_noise"].mean() < g.gap_acc[g.rule == "fa"].mean())
                ours += f"; lower at {sum(wins)} of {len(wins)} sizes"
                v = "agrees" if all(wins) else "disagrees"
        elif cid == "gram_lower" and fa.any() and fn.any() and "final" in r.layers and "gram_erank" in r.layers["final"]:
            g_ = np.nanmean(np.where(np.isfinite(r.layers["final"]["gram_erank"][idx]), r.layers["final"]["gram_erank"][idx], np.nan), axis=1)
            a, b = mean_std(g_[fn]), mean_std(g_[fa])
            ours, v = f"fa_noise {fmt_ms(*a)} vs fa {fmt_ms(*b)} (mean over hidden layers)", cmp(g_[fn], g_[fa])
        elif cid == "ood_higher" and "ood" in all_ok and len(set(all_ok.ood)) > 1:
            parts, vs = [], []
            for kind, g in all_ok[all_ok.ood != "none"].groupby("ood", sort=False):
                a, b = g.test_acc[g.rule == "fa_noise"] * 100, g.test_acc[g.rule == "fa"] * 100
                parts.append(f"{kind} {a.mean():.1f} vs {b.mean():.1f}")
                vs.append(cmp(a, b, lower=False))
            ours, v = "fa_noise vs fa (%): " + "; ".join(parts), _all(vs)
        elif cid == "meta_drops" and fn.any() and r.has("meta_loss_after_noise"):
            a, b = mean_std(ok.meta_loss_after_noise[fn]), mean_std(ok.meta_loss_init[fn])
            ours, v = f"{fmt_ms(*b)} at init -> {fmt_ms(*a)} after noise (nats)", cmp(ok.meta_loss_after_noise[fn], ok.meta_loss_init[fn], paired=True)
        elif cid == "adapt_faster" and "dataset" in ok and len(set(ok.dataset)) > 1 and r.has("auc_test_acc"):
            parts, vs = [], []
            for d, g in ok.groupby("dataset", sort=False):
                a, b = g.auc_test_acc[g.rule == "fa_noise"] * 100, g.auc_test_acc[g.rule == "fa"] * 100
                parts.append(f"{d} {a.mean():.1f} vs {b.mean():.1f}")
                vs.append(cmp(a, b, lower=False))
            ours, v = "AUC fa_noise vs fa (%): " + "; ".join(parts), _all(vs)
        if ours is not None:
            res.append((c, ours, v))
    return res


CLAIM_AXES = {"rule", "seed", "noise_examples", "ood", "ood_dx", "ood_dy", "ood_degrees", "ood_scale", "dataset",
              "train_size"}


@section("Cheon et al.: the paper's claims vs ours", applies=_cheon, order=61)
def cheon(r, out):
    """One row per claim, and per value of the other varying keys (e.g. hidden), so that a claim
    is tested within one architecture."""
    import copy
    ref = paper("cheon2024")
    part = [k for k in r.varying() if k not in CLAIM_AXES]
    subsets = [((), r.df)] if not part else list(r.df.groupby(part[0] if len(part) == 1 else part, sort=False))
    rows = []
    for k, d in subsets:
        sub = copy.copy(r)
        sub.df = d
        where = ", ".join(f"{a}={v}" for a, v in zip(part, k if isinstance(k, tuple) else (k,)))
        for c, ours, v in cheon_claims(sub):
            rows.append({"claim": c["text"], "source": c["source"], **({"jobs": where} if part else {}),
                         "paper": (f"{c['value']}" if "value" in c else "direction only"), "ours": ours, "verdict": v})
    cols = ["claim", "source"] + (["jobs"] if part else []) + ["paper", "ours", "verdict"]
    out.table("Claims tested by this sweep", pd.DataFrame(rows, columns=cols),
              f"{ref['title']}. The paper's text reports its results as figures and t-tests whose numbers were lost "
              "in the text conversion; claims are compared by direction (agrees: Welch or paired t over seeds with "
              "|t| >= 2), numbers where a source gives one. Settings that differ from the paper are in the sweep's "
              "text (provenance).")


# ---------------------------------------------------------------- RBSE and LC studies (shared code: studies.py)

def _claims_table(out, ref, rows, note):
    out.table("The paper's claims vs ours", pd.DataFrame(rows, columns=["claim", "source", "paper", "ours", "verdict"]),
              f"{ref['title']}; {ref['source']}. {note}")


def _verdict(t, right):
    """'agrees' (right sign, |t| >= 2), 'same direction, |t| < 2' or 'disagrees'"""
    if not np.isfinite(t):
        return "n/a"
    return ("agrees" if abs(t) >= 2 else "same direction, |t| < 2") if right else "disagrees"


def _rbse(r):
    return bool(set(r.values("model")) & set(studies.RBSE_KINDS))


@section("RBSE one-shot study: rbse vs rbm vs pixels", applies=_rbse, order=62)
def rbse(r, out):
    ok = r.ok
    if not len(ok) or "train_per_class" not in ok:
        out.text("No finished job.")
        return
    out.table("RBSE: test accuracy by model and k", studies.rbse_accuracy(ok, sep="±"),
              "k = labelled images per class (train_per_class); mean ± sample std (n - 1) over seeds. test_acc: "
              "readout of the mean of each test image's S feature vectors; test_acc_pred_mean: mean of the S "
              "predictions (rbm and pixels: S identical rows).")
    d = studies.rbse_paired_table(ok, sep="±")
    if len(d):
        out.table("RBSE: paired differences of test_acc (same seed and k)", d,
                  "Same seed: same labelled images, and for rbm the same CD images, initial w and chains.")
    if "mean_release" not in r.model_curves or not len(studies.rbse_cd_runs(r.df)):
        return
    hist, mean_rel, corr, nruns = studies.rbse_release(r.model_curves, r.df)
    t = studies.rbse_release_table(hist, mean_rel, corr)
    out.table("RBSE: release probabilities over CD epochs", t.round(4),
              f"Mean over the {nruns} RBSE CD runs (one per seed; the jobs of a seed with other k share it): "
              "/model_curves/mean_release, w_p_corr, release_hist_00..19.")
    out.figure("rbse_release_hist", studies.rbse_release_figure(hist, mean_rel, corr, nruns),
               "Left: release-probability histogram after each CD epoch; right: mean p and corr(|w|, p) per CD epoch.")
    missing = r.snapshots_missing()
    if missing:
        out.text(f"|w| against p is left out: it needs the final snapshots, which are not available ({missing}).")
    jobs = [j for j in studies.rbse_cd_runs(r.df) if f"job_{int(j):06d}" in r.snapshot_jobs]
    corrs = None
    if jobs:
        corrs, bins, fig = studies.rbse_w_vs_p(r.df[r.df.job_id.isin(jobs)], lambda i, n: r.snapshot(i, "final", n))
        out.table("RBSE: p by |w| decile (final snapshot, first CD run)", bins.round(4),
                  f"corr(|w|, p) over the {len(corrs)} CD runs' final snapshots: "
                  f"{fmt_ms(*mean_std(corrs), digits=4)} (recomputed from the snapshots' w and a).")
        out.figure("rbse_w_vs_p", fig, "|w| against p = sigmoid(a) over the synapses of one RBSE job's final "
                   "snapshot (2-D histogram), with the mean p per |w| decile.")
    if r.paper_id() != "alshedivat2015":
        return
    ref, rows = paper("alshedivat2015"), []
    for c in ref["claims"]:
        ours, v = "not measured by this sweep", "n/a"
        if c["id"] == "oneshot_better":
            ds = [(k, d_) for k, o, d_ in studies.rbse_paired(ok) if o == "rbm"]
            k1 = [d_ for k, d_ in ds if k == 1]
            if k1:
                d_ = k1[0]
                ours = (f"k = 1: rbse - rbm {fmt_ms(*mean_std(d_ * 100))} points (paired by seed), rbse better "
                        f"on {int((d_ > 0).sum())} of {len(d_)} seeds")
                v = _verdict(studies.paired_t(d_), d_.mean() > 0)
        elif c["id"] == "release_evolves" and len(mean_rel):
            p0 = float(r.values("release_init")[0]) if "release_init" in r.df else 0.5
            ours = (f"mean p {p0:g} at init -> {mean_rel[0]:.4f} after CD epoch 1 -> "
                    f"{mean_rel[-1]:.4f} after epoch {len(mean_rel)}; fraction p >= 0.6: {t['fraction p >= 0.6'].iloc[-1]:.4f}")
            v = "agrees" if abs(mean_rel[-1] - p0) > 1e-3 and t["fraction p >= 0.6"].iloc[-1] > 0 else "disagrees"
        elif c["id"] == "strongest_reliable" and corrs is not None:
            ours = f"corr(|w|, p) {fmt_ms(*mean_std(corrs), digits=4)} over {len(corrs)} CD runs; mean p by |w| decile " \
                   f"{bins['mean p'].iloc[0]:.4f} (lowest) -> {bins['mean p'].iloc[-1]:.4f} (highest)"
            v = "agrees" if (corrs > 0).all() and bins["mean p"].iloc[-1] > bins["mean p"].iloc[0] else "disagrees"
        rows.append({"claim": c["text"], "source": c["source"], "paper": "direction only (no numbers)",
                     "ours": ours, "verdict": v})
    _claims_table(out, ref, rows, "agrees: the poster's direction with |t| >= 2 over seeds (paired), or, for the "
                  "release probabilities, in every CD run; settings that differ from the poster's are in the sweep's text.")


def _lc(r):
    return bool(set(r.values("model")) & set(studies.LC_KINDS))


@section("LC study: conv vs LC with and without weight sharing", applies=_lc, order=63)
def lc(r, out):
    df = studies.lc_conditions(r.ok)
    if not len(df):
        out.text("No finished job.")
        return
    snr = {k: v for k, v in r.model_curves.items() if k.startswith("snr_")}
    rows = []
    for ds, d in df.groupby("dataset", sort=False):
        t = studies.lc_table(d)
        t.insert(0, "dataset", ds)
        rows.append(t)
        if "test_acc" in r.curves:
            out.figure(f"lc_acc_{ds}", studies.lc_acc_figure(d, r.curves["test_acc"], ds),
                       f"{ds}: test accuracy per epoch by condition (mean over seeds, band ± sample std).")
        fig = studies.lc_snr_figure(d, snr, ds)
        if fig is not None:
            out.figure(f"lc_snr_{ds}", fig, f"{ds}: SNR_w per epoch and LC layer (/model_curves/snr_paper_<l>, "
                       "snr_code_<l>; mean over seeds, log scale).")
            out.table(f"LC: SNR_w (paper) per epoch, {ds}", studies.lc_snr_table(d, snr),
                      "mean over seeds of (mean over positions)^2 / (variance over positions), at the end of each epoch.")
    out.table("LC: accuracy by model and sleep settings", pd.concat(rows, ignore_index=True).fillna("-"),
              "mean +- sample std over seeds; 'test acc - conv' is paired: each job minus the conv job (lc_conv, or "
              "the ResNet with layer_type conv) of the same seed; snr_paper / snr_code: mean over the LC layers at the end; sleeps: sleep phases run.")
    if r.paper_id() != "pogodin2021":
        return
    ref, rows = paper("pogodin2021"), []
    for c in ref["claims"]:
        parts, vs = [], []
        for ds, d in df.groupby("dataset", sort=False):
            conv = d[d.is_conv].set_index("seed").test_acc
            conv = conv[~conv.index.duplicated()]  # (as lc_table: the first conv job of a seed)
            none = d[d.condition.str.startswith("LC, no sharing")]
            shared = d[~d.is_conv & ~d.condition.str.startswith("LC, no sharing")]
            if "n_sleeps" in shared:  # a sharing condition whose sleep never ran (sleep_every > steps) shares nothing
                shared = shared[shared.n_sleeps > 0]
            if c["id"] == "lc_behind_conv" and len(none) and len(conv):
                x = none.test_acc.values - conv.reindex(none.seed).values
                parts.append(f"{ds}: LC - conv {fmt_ms(*mean_std(x * 100))} points (paired by seed)")
                vs.append(_verdict(studies.paired_t(x), np.nanmean(x) < 0))
            elif c["id"] in ("sharing_closer", "snr_rises") and len(none) and len(shared):
                col = "test_acc" if c["id"] == "sharing_closer" else "snr_paper"
                if col not in d:
                    continue
                base = none.groupby("seed")[col].mean()
                for cond, g in shared.groupby("condition", sort=False):
                    x = g[col].values - base.reindex(g.seed).values
                    unit = " points" if col == "test_acc" else ""
                    parts.append(f"{ds}, {cond}: {fmt_ms(*mean_std(x * (100 if col == 'test_acc' else 1)), digits=3)}{unit} vs no sharing")
                    vs.append(_verdict(studies.paired_t(x), np.nanmean(x) > 0))
        if parts:
            rows.append({"claim": c["text"], "source": c["source"], "paper": "direction only (no numbers)",
                         "ours": "; ".join(parts), "verdict": _all(vs)})
    _claims_table(out, ref, rows, "Differences paired by seed (same training subset); agrees: the paper's direction "
                  "with |t| >= 2 over seeds; the sweep's settings (smaller than the paper's) are in its text.")
