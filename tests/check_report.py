#!/usr/bin/python3
"""check_report.py NAME FILE.h5 REPORT_DIR OUT.csv OUT.tsv OUT.json [R.tsv]
      the report holds every table and figure NAME calls for, each non-empty, no failed section,
      summary means recomputed from the HDF5 file; the exports read back (pandas, json, R's
      read.csv) to exactly the values of /results.
   check_report.py --browser REPORT_DIR
      headless chromium loads index.html: every image has naturalWidth > 0, no error shows."""
import html
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import pandas as pd

# what each paper sweep's report must contain: (figures, table titles)
EXPECT = {
    "karimi_table1": (["table1_bars", "curve_test_acc"], ["Table 1: test accuracy (%), paper vs ours"]),
    "cheon_rules": (["angle_trajectories", "erank_bars", "curve_test_acc"],
                    ["Claims tested by this sweep", "W-B angle per layer (degrees)", "Readout before and after",
                     "Effective rank of W per layer"]),
    "cheon_order": (["angle_trajectories", "curve_test_acc"], ["Claims tested by this sweep"]),
    "cheon_trainsize": (["gap_acc_vs_train_size", "test_acc_vs_train_size"], ["Claims tested by this sweep"]),
    "cheon_depth": (["gram_erank_mean_vs_n_hidden"], ["Claims tested by this sweep"]),
    "cheon_ood": (["ood_bars"], ["Claims tested by this sweep"]),
    "cheon_tasks": (["tasks_auc_test_acc"], ["Claims tested by this sweep"]),
    "cheon_meta": (["meta_loss"], ["Meta-loss (nats)", "Claims tested by this sweep"]),
    "rbse_oneshot": (["rbse_release_hist", "rbse_w_vs_p"],
                     ["RBSE: test accuracy by model and k", "RBSE: paired differences of test_acc (same seed and k)",
                      "RBSE: release probabilities over CD epochs", "RBSE: p by |w| decile (final snapshot, first CD run)",
                      "The paper's claims vs ours"]),
    "lc_sleep": (["lc_acc_cifar10", "lc_snr_cifar10"],
                 ["LC: accuracy by model and sleep settings", "LC: SNR_w (paper) per epoch, cifar10",
                  "The paper's claims vs ours"]),
}
ALWAYS = ["Provenance", "Completion matrix (jobs per grid cell by status)", "Summary"]
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def h5_results(path):
    with h5py.File(path, "r") as f:
        a = f["results"][:]
        attrs = dict(f.attrs)
    df = pd.DataFrame(a)
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    return df, attrs


def md_tables(md):
    """{title: DataFrame of str} from tables.md."""
    out = {}
    for block in md.split("\n### ")[1:]:
        lines = block.split("\n")
        title = lines[0].strip()
        rows = [l for l in lines[1:] if l.startswith("|")]
        if len(rows) < 2:
            out[title] = pd.DataFrame()
            continue
        split = lambda l: [html.unescape(c.strip().replace("\\|", "|")) for c in re.split(r"(?<!\\)\|", l.strip())[1:-1]]
        out[title] = pd.DataFrame([split(l) for l in rows[2:]], columns=split(rows[0]))
    return out


def same_column(name, want, got, exact=True):
    """want: the HDF5 column; got: list of text/None from an export."""
    if want.dtype == object:
        got = ["" if g is None or (isinstance(g, float) and math.isnan(g)) or g == "NA" and w == "" else str(g)
               for g, w in zip(got, want)]
        check(list(want) == got, f"{name}: strings differ: {list(want)[:3]} vs {got[:3]}")
        return
    g = np.array([np.nan if v in (None, "", "NA") else float(v) for v in got])
    w = want.to_numpy(float)
    ok = np.array_equal(w, g, equal_nan=True) if exact else np.allclose(w, g, rtol=1e-15, atol=0, equal_nan=True)
    check(ok, f"{name}: numbers differ: {w[:3]} vs {g[:3]}")


def check_exports(h5, csv, tsv, js, rtsv):
    want, _ = h5_results(h5)
    for path, sep in ((csv, ","), (tsv, "\t")):
        got = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
        check(list(got.columns) == list(want.columns), f"{path}: columns differ")
        check(len(got) == len(want), f"{path}: {len(got)} rows, want {len(want)}")
        for c in want.columns:
            if c in got:
                same_column(f"{os.path.basename(path)}:{c}", want[c], got[c].tolist())
    rows = json.load(open(js))
    check(len(rows) == len(want), "json rows")
    for c in want.columns:
        same_column(f"json:{c}", want[c], [r.get(c) for r in rows])
    if rtsv:
        seen = set()
        for line in open(rtsv):
            parts = line.rstrip("\n").split("\t")
            name, cls, vals = parts[0], parts[1], parts[2:]
            seen.add(name)
            if name not in want:
                check(False, f"R: unknown column {name}")
                continue
            if cls == "logical":  # an all-empty column: R reads NA
                check(all(v == "NA" for v in vals), f"R:{name}: logical with values")
                w = want[name]
                check(all((x == "" if w.dtype == object else np.isnan(x)) for x in w), f"R:{name}: not empty in HDF5")
                continue
            if want[name].dtype == object and cls in ("integer", "numeric"):
                # read.csv types a text column whose every value is a number (hidden = 64) as
                # one; the numbers must be the text's
                check(all(float(w) == float(v) for w, v in zip(want[name], vals)), f"R:{name}: {vals[:3]}")
                continue
            check((cls == "character") == (want[name].dtype == object), f"R:{name}: class {cls}")
            same_column(f"R:{name}", want[name], vals, exact=False)
        check(seen == set(want.columns), f"R: columns {set(want.columns) - seen} missing")


def check_report(name, h5, rep, exports):
    want, attrs = h5_results(h5)
    md = open(os.path.join(rep, "tables.md")).read()
    page = open(os.path.join(rep, "index.html")).read()
    check("This section failed" not in md and "class='error'" not in page, f"{name}: a section failed")
    tables = md_tables(md)
    figs, titles = EXPECT.get(name, ([], []))
    for t in ALWAYS + titles:
        check(t in tables, f"{name}: table '{t}' missing (have {list(tables)})")
    for t, df in tables.items():
        check(len(df) > 0 and df.shape[1] > 0, f"{name}: table '{t}' is empty")
    pngs = sorted(os.listdir(os.path.join(rep, "figures")))
    for f in figs:
        check(f + ".png" in pngs, f"{name}: figure {f}.png missing (have {pngs})")
    for p in pngs:
        b = open(os.path.join(rep, "figures", p), "rb").read()
        check(len(b) > 2000 and b[:8] == b"\x89PNG\r\n\x1a\n", f"{name}: {p} empty or not a PNG")
    srcs = re.findall(r"<img src='([^']+)'", page)
    check(sorted(os.path.basename(s) for s in srcs) == pngs, f"{name}: page images {srcs} vs files {pngs}")
    check(os.path.getsize(os.path.join(rep, "sweep.yaml")) > 0 and
          open(os.path.join(rep, "sweep.yaml")).read() == (attrs["sweep_yaml"].decode() if isinstance(attrs["sweep_yaml"], bytes) else attrs["sweep_yaml"]), f"{name}: sweep.yaml")
    # the completion matrix adds up; the summary's means are the HDF5 file's
    comp = tables["Completion matrix (jobs per grid cell by status)"]
    check(comp["jobs"].astype(int).sum() == len(want) and comp["ok"].astype(int).sum() == (want.status == "ok").sum(),
          f"{name}: completion matrix does not add up")
    summ = tables["Summary"]
    keys = [c for c in summ.columns if c in want.columns and c not in
            ("test_acc", "train_acc", "gap_acc", "gap_loss", "auc_test_acc", "test_loss", "readout_p_max_mean",
             "dead_fraction", "seconds")]
    ok = want[want.status == "ok"]
    for _, row in summ.iterrows():
        sel = ok
        for k in keys:
            sel = sel[sel[k].astype(str).map(lambda v: v.rstrip("0").rstrip(".") if "." in v else v)
                      == (row[k].rstrip("0").rstrip(".") if "." in row[k] else row[k])]
        x = sel.test_acc.to_numpy() * 100
        text = f"{x.mean():.2f}" + (f" ± {x.std(ddof=1):.2f}" if len(x) > 1 else "")
        check(len(x) == int(row["n"]) and row["test_acc"].startswith(text),
              f"{name}: summary row {dict(row[keys])}: '{row['test_acc']}' vs recomputed '{text}' (n={len(x)})")
    if name in ("rbse_oneshot", "lc_sleep"):
        check_study(name, h5, ok, tables)
    if name == "cheon_rules":
        check(want.hidden.str.contains(",").any(), "cheon_rules: no value with a comma to test the quoting")
    check_exports(h5, *exports)


VERDICTS = {"agrees", "disagrees", "same direction, |t| < 2", "n/a"}


def check_study(name, h5, ok, tables):
    """The RBSE / LC tables recomputed from the HDF5 file: accuracies per model and k (per
    condition), the release curve's mean p per CD epoch; the claims table has a verdict per claim."""
    if name == "rbse_oneshot":
        t = tables["RBSE: test accuracy by model and k"]
        check(len(t) == len(ok.groupby(["model", "train_per_class"])), f"{name}: accuracy rows")
        for _, row in t.iterrows():
            g = ok[(ok.model == row["model"]) & (ok.train_per_class == int(row["k"]))]
            want = f"{g.test_acc.mean():.4f} ± {g.test_acc.std(ddof=1):.4f}"
            check(row["test_acc"] == want and int(row["n"]) == len(g), f"{name}: {row['model']} k={row['k']}: "
                  f"'{row['test_acc']}' vs recomputed '{want}'")
        with h5py.File(h5, "r") as f:
            mr = f["model_curves/mean_release"][:]
        rb = ok[ok.model == "rbse"].drop_duplicates("seed").job_id.to_numpy()
        rel = tables["RBSE: release probabilities over CD epochs"]
        want = np.nanmean(mr[rb], axis=0)
        want = want[np.isfinite(want)]
        check(len(rel) == len(want) > 0 and all(abs(float(a) - b) < 1e-4 for a, b in zip(rel["mean p"], want)),
              f"{name}: release mean p {list(rel['mean p'])} vs {want}")
        check(0.5 - 1e-9 <= want[0] < 1, f"{name}: mean p after CD epoch 1 {want[0]}")
    else:
        t = tables["LC: accuracy by model and sleep settings"]
        check(len(t) == len(ok.groupby(["model", "sleep", "sleep_every"], dropna=False)), f"{name}: {len(t)} condition rows")
        conv = t[t.condition.str.startswith("conv")]
        g = ok[ok.model == "lc_conv"]
        check(len(conv) == 1 and conv["test acc"].iloc[0].startswith(f"{g.test_acc.mean():.4g} +- "),
              f"{name}: conv row {list(conv['test acc'])} vs {g.test_acc.mean():.4g}")
        check(set(tables["LC: SNR_w (paper) per epoch, cifar10"].condition) ==
              set(t.condition[~t.condition.str.startswith("conv")]), f"{name}: SNR rows are not the LC conditions")
    c = tables["The paper's claims vs ours"]
    check(len(c) >= 2 and all(v in VERDICTS for v in c.verdict), f"{name}: claims {list(c.verdict)}")


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=15000", "--dump-dom"]
PROBE = """<script>window.addEventListener('load', function () {
  var r = Array.prototype.map.call(document.images, function (i) {
    return {src: i.getAttribute('src'), w: i.naturalWidth, complete: i.complete}; });
  var p = document.createElement('pre'); p.id = 'imgcheck';
  p.textContent = JSON.stringify({images: r, errors: document.querySelectorAll('.error').length});
  document.body.appendChild(p); });</script>"""


def check_browser(rep):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    page = open(os.path.join(rep, "index.html")).read()
    probe = os.path.join(rep, "_browser_check.html")
    with open(probe, "w") as f:
        f.write(page.replace("</body>", PROBE + "</body>"))
    with tempfile.TemporaryDirectory() as prof:
        p = subprocess.run([chromium] + CHROMIUM_FLAGS + [f"--user-data-dir={prof}", "file://" + os.path.abspath(probe)],
                           capture_output=True, text=True, timeout=180)
    os.remove(probe)
    m = re.search(r'<pre id="imgcheck">(.*?)</pre>', p.stdout, re.S)
    check(m is not None, f"{rep}: chromium gave no result (status {p.returncode}): {p.stderr[-500:]}")
    if not m:
        return
    res = json.loads(html.unescape(m.group(1)))
    n = len(os.listdir(os.path.join(rep, "figures")))
    check(len(res["images"]) == n and n > 0, f"{rep}: {len(res['images'])} images on the page, {n} files")
    bad = [i["src"] for i in res["images"] if not (i["w"] > 0 and i["complete"])]
    check(not bad, f"{rep}: images not loaded in chromium: {bad}")
    check(res["errors"] == 0 and "This section failed" not in p.stdout, f"{rep}: the page shows an error")
    if not failures:
        print(f"browser: {rep}: {len(res['images'])} images loaded, no error")


if __name__ == "__main__":
    if sys.argv[1] == "--browser":
        check_browser(sys.argv[2])
    else:
        name = re.sub(r"_ci$", "", sys.argv[1])
        r = sys.argv[7] if len(sys.argv) > 7 else ""
        check_report(name, sys.argv[2], sys.argv[3], (sys.argv[4], sys.argv[5], sys.argv[6], r))
        print(f"report: {name}: {'FAILED' if failures else 'ok'}")
    sys.exit(1 if failures else 0)
