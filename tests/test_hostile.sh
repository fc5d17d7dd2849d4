#!/usr/bin/env bash
# Issue 16 on the report/export side: a results file is data, safe to open, and no output
# ever destroys a file. Hostile strings in every attribute and text column (the page in
# headless chromium has no script and no event handler from them; they show literally),
# formula cells in CSV/TSV, outputs that would replace the input, a side file, another HDF5
# file or a file behind a symlink, FIFOs, a shard copied without its snapshot index, foreign
# and broken inputs. Every case: exit status, a one-line message, no traceback, no file changed.
#   test_hostile.sh SYNSWEEP MAKE_FIXTURE
set -uo pipefail
bin=$(readlink -f "$1") fixture_bin=$2
py=/usr/bin/python3
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
. "$(dirname "$(readlink -f "$0")")/expect.sh"

"$fixture_bin" "$t/data" 200 100 8 || { echo "cannot write fixture"; exit 1; }
export SYNSWEEP_DATA="$t/data"
cat >"$t/s.yaml" <<'Y'
fixed:
  epochs: 2
  hidden: [8]
  snapshots: [final]
grid:
  seed: [0, 1]
Y
"$bin" run "$t/s.yaml" -o "$t/good.h5" -q || { echo "cannot run the sweep"; exit 1; }
"$bin" run "$t/s.yaml" -o "$t/sh0.h5" --shard 0/2 -q || { echo "cannot run the shard"; exit 1; }

# ---- 1. script injection: every string attribute and text column a payload
cp "$t/good.h5" "$t/hostile.h5"
$py - "$t/hostile.h5" <<'PY' || bad "cannot craft hostile.h5"
import sys, h5py, numpy as np
P = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "x' onerror='alert(3)",
     '"><svg onload=alert(4)>', "../../x"]
# columns whose values steer the report's logic keep them; the rest get payloads
KEEP = {"status", "model", "rule", "hidden", "optimizer", "init", "feedback", "preprocess", "test_split",
        "fc_pool_mode", "lc_init", "sleep", "lognormal_sign", "ood", "conv_dist", "lc_channels", "snapshots"}
with h5py.File(sys.argv[1], "r+") as f:
    for k, v in list(f.attrs.items()):
        if isinstance(v, (bytes, str)) and k not in ("sweep_yaml", "axes"):
            f.attrs[k] = P[hash(k) % len(P)] + " " + P[1]
    f.attrs["axes"] = "seed,dataset"
    f.attrs["sweep_path"] = "<img src=x onerror=alert(5)>.yaml"
    f.attrs["sweep_name"] = "<script>alert(6)</script>"
    f.attrs["sweep_yaml"] = "name: '<script>alert(7)</script>'\n"
    old = f["results"][:]
    dt = np.dtype([(n, "S200" if old.dtype[n].kind == "S" else old.dtype[n]) for n in old.dtype.names])
    new = np.zeros(old.shape, dt)
    for n in old.dtype.names:
        new[n] = old[n]
    for n in old.dtype.names:
        if old.dtype[n].kind == "S" and n not in KEEP:
            new[n] = [P[(i + len(n)) % len(P)].encode() for i in range(len(new))]
    new["dataset"] = [P[2].encode(), P[0].encode()]  # varies: a grid axis, in the tables
    new["status"][1] = b"failed"  # the "jobs without a result" table shows message
    del f["results"]
    f.create_dataset("results", data=new)
PY
mkdir "$t/out"
before=$(cd "$t" && find . ! -name '_*' | sort)
expect 0 "wrote" "$bin" report "$t/hostile.h5" -o "$t/out/rep"
after=$(cd "$t" && find . ! -name '_*' | grep -v '^./out/rep' | sort)
[ "$before" = "$after" ] && ok || bad "report wrote outside its folder: $(diff <(echo "$before") <(echo "$after"))"
timeout -k 5 20 chromium --headless --no-sandbox --disable-gpu --dump-dom "file://$t/out/rep/index.html" >"$t/dom.html" 2>/dev/null
$py - "$t/dom.html" "$t/out/rep" <<'PY' && ok || bad "hostile page: see above"
import sys, os, html.parser
dom, rep = open(sys.argv[1]).read(), sys.argv[2]
bad = []
class P(html.parser.HTMLParser):
    def handle_starttag(self, tag, attrs):
        if tag in ("script", "svg", "iframe", "object", "embed"):
            bad.append(f"<{tag}> element")
        for k, v in attrs:
            if k.startswith("on"):
                bad.append(f"<{tag} {k}={v!r}>")
            if tag == "img" and k == "src" and not (v.startswith("figures/") and "/" not in v[8:] and ".." not in v):
                bad.append(f"img src {v!r}")
P().feed(dom)
if "<body" not in dom or "Provenance" not in dom:
    bad.append("chromium did not render the page")
for lit in ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(5)&gt;.yaml",
            "x' onerror='alert(3)", "&lt;script&gt;alert(7)&lt;/script&gt;", "../../x"):
    if lit not in dom:
        bad.append(f"payload not shown literally: {lit}")
for f in os.listdir(os.path.join(rep, "figures")):
    if not all(c.isalnum() or c in "_.-" for c in f) or f.startswith("."):
        bad.append(f"figure name {f!r}")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
# figure names from values (LC's lc_acc_{dataset}): slugs inside figures/, unique
PYTHONPATH=${SYNSWEEP_ANALYSIS:-$(dirname "$(dirname "$(readlink -f "$0")")")/analysis} $py - "$t/figs" <<'PY' && ok || bad "figure slugs"
import os, sys, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from synsweep_report.report import Output
out = Output(sys.argv[1])
names = ["lc_acc_x' onerror='alert(1)", "lc_acc_../../../evil", "lc_acc_a/b", "lc_acc_a:b", "..", "\x01\n",
         "lc_acc_" + "y" * 300]
for n in names:
    out.figure(n, plt.figure(), n)
files = sorted(os.listdir(os.path.join(sys.argv[1], "figures")))
assert len(files) == len(names) == len(set(out.figures)), (files, out.figures)
assert set(os.listdir(sys.argv[1])) == {"figures"}, os.listdir(sys.argv[1])
for f in files:
    assert len(f) <= 90 and not f.startswith(".") and all(c.isalnum() or c in "_.-" for c in f), f
page = "\n".join(out.html)
assert "onerror='" not in page and "&#x27; onerror=&#x27;" in page, page[:500]
PY

# ---- 2. formula cells in CSV/TSV get a leading '; numbers and JSON unchanged
cp "$t/good.h5" "$t/formula.h5"
$py - "$t/formula.h5" <<'PY' || bad "cannot craft formula.h5"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    old = f["results"][:]
    dt = np.dtype([(n, "S64" if n == "message" else old.dtype[n]) for n in old.dtype.names])
    new = np.zeros(old.shape, dt)
    for n in old.dtype.names:
        new[n] = old[n]
    new["message"] = [b"=HYPERLINK(\"http://x\")", b"-2+3"]
    new["host"] = [b"@SUM(A1)", b"+1"]
    new["data_dir"] = [b"\tx", b"\rx"]
    new["lr"] = [-0.5, -1e-3]
    del f["results"]
    f.create_dataset("results", data=new)
PY
expect 0 "exported 2 rows" "$bin" export "$t/formula.h5" -o "$t/f.csv"
expect 0 "exported 2 rows" "$bin" export "$t/formula.h5" -o "$t/f.tsv"
expect 0 "" "$bin" export "$t/formula.h5" --format json -o "$t/f.json"
$py - "$t/f.csv" "$t/f.tsv" "$t/f.json" <<'PY' && ok || bad "formula cells"
import csv, json, sys
for path, sep in ((sys.argv[1], ","), (sys.argv[2], "\t")):
    rows = list(csv.DictReader(open(path, newline=""), delimiter=sep))
    got = [(r["message"], r["host"], r["data_dir"], r["lr"]) for r in rows]
    want = [("'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'\tx", "-0.5"), ("'-2+3", "'+1", "'\rx", "-0.001")]
    assert got == want, (path, got)
rows = json.load(open(sys.argv[3]))
assert [r["message"] for r in rows] == ["=HYPERLINK(\"http://x\")", "-2+3"] and rows[0]["lr"] == -0.5, rows[0]
PY

# ---- 3. never destroy a file
g=$(sum "$t/good.h5")
expect 1 "good.h5: the input results file.*never replaced" "$bin" export "$t/good.h5" -o "$t/good.h5"
expect 1 "the input results file" "$bin" export "$t/good.h5" -o "$t/good.h5" --force
same "$t/good.h5" "$g" "export onto itself"
cp "$t/good.h5" "$t/b.h5"; b=$(sum "$t/b.h5")
expect 1 "b.h5: an HDF5 file" "$bin" export "$t/good.h5" -o "$t/b.h5"
expect 1 "b.h5: an HDF5 file" "$bin" export "$t/good.h5" -o "$t/b.h5" --force
same "$t/b.h5" "$b" "export onto another results file"
# an HDF5 file by its signature, whatever its name
cp "$t/good.h5" "$t/looks.csv"; l=$(sum "$t/looks.csv")
expect 1 "looks.csv: an HDF5 file" "$bin" export "$t/good.h5" -o "$t/looks.csv" --force
same "$t/looks.csv" "$l" "HDF5 named .csv"
s0=$(sum "$t/sh0.h5.snap.h5")
expect 1 "side file of the results file" "$bin" export "$t/sh0.h5" -o "$t/sh0.h5.snap.h5" --force --format csv
same "$t/sh0.h5.snap.h5" "$s0" "the snapshot index"
for side in journal lock tmp; do
  echo keep >"$t/sh0.h5.$side"; s=$(sum "$t/sh0.h5.$side")
  expect 1 "side file" "$bin" export "$t/good.h5" -o "$t/sh0.h5.$side" --force --format csv
  same "$t/sh0.h5.$side" "$s" "sh0.h5.$side"
  rm -f "$t/sh0.h5.$side"
done
expect 1 "side file" "$bin" export "$t/good.h5" -o "$t/sh0.h5.parts/x.csv" --force
# an ordinary existing file: refused, then replaced with --force
echo mine >"$t/e.csv"; e=$(sum "$t/e.csv")
expect 1 "e.csv: exists \(--force replaces it\)" "$bin" export "$t/good.h5" -o "$t/e.csv"
same "$t/e.csv" "$e" "existing csv without --force"
expect 0 "exported 2 rows" "$bin" export "$t/good.h5" -o "$t/e.csv" --force
grep -q '^job_id,' "$t/e.csv" && ok || bad "--force did not replace e.csv"
# a symlink as output: refused even with --force; its target untouched
echo target >"$t/target.txt"; tg=$(sum "$t/target.txt")
ln -s "$t/target.txt" "$t/link.csv"
expect 1 "link.csv: a symbolic link" "$bin" export "$t/good.h5" -o "$t/link.csv" --force
same "$t/target.txt" "$tg" "symlink target (export)"
# report: a previous report is refused without --force, replaced with it; symlinks inside refused
mkdir "$t/rd" && echo user >"$t/rd/index.html" && echo mine >"$t/rd/notes.txt"; i=$(sum "$t/rd/index.html")
expect 1 "rd/index.html: exists \(--force replaces it\)" "$bin" report "$t/good.h5" -o "$t/rd"
same "$t/rd/index.html" "$i" "report DIR/index.html without --force"
[ ! -e "$t/rd/tables.md" ] && [ ! -e "$t/rd/figures" ] && ok || bad "a refused report wrote files"
expect 0 "wrote" "$bin" report "$t/good.h5" -o "$t/rd" --force
grep -q "synsweep report" "$t/rd/index.html" && [ "$(cat "$t/rd/notes.txt")" = mine ] && ok || bad "report --force"
[ -z "$(find "$t/rd" -name '.*')" ] && ok || bad "temporary files left in the report folder"
ln -sf "$t/target.txt" "$t/rd/sweep.yaml"
expect 1 "sweep.yaml: a symbolic link" "$bin" report "$t/good.h5" -o "$t/rd" --force
same "$t/target.txt" "$tg" "symlink target (report)"
mkdir "$t/rf" "$t/elsewhere" && ln -s "$t/elsewhere" "$t/rf/figures"
expect 1 "figures: a symbolic link" "$bin" report "$t/good.h5" -o "$t/rf" --force
[ -z "$(ls "$t/elsewhere")" ] && ok || bad "report wrote through a figures symlink"
cp "$t/good.h5" "$t/rh" 2>/dev/null; mkdir -p "$t/rh5" && cp "$t/good.h5" "$t/rh5/tables.md"; h=$(sum "$t/rh5/tables.md")
expect 1 "tables.md: an HDF5 file" "$bin" report "$t/good.h5" -o "$t/rh5" --force
same "$t/rh5/tables.md" "$h" "HDF5 file as a report file"
expect 1 "the input results file" "$bin" report "$t/rh5/tables.md" -o "$t/rh5" --force

# ---- 4. FIFOs never hang
mkfifo "$t/fifo.h5"
expect 1 "fifo.h5: a FIFO, not a regular file" "$bin" export "$t/fifo.h5"
expect 1 "fifo.h5: a FIFO, not a regular file" "$bin" report "$t/fifo.h5" -o "$t/rfifo"
mkdir "$t/fs" && cp "$t/sh0.h5" "$t/fs/" && mkfifo "$t/fs/sh0.h5.snap.h5"
expect 1 "sh0.h5.snap.h5: a FIFO" "$bin" export "$t/fs/sh0.h5"
expect 1 "sh0.h5.snap.h5: a FIFO" "$bin" report "$t/fs/sh0.h5" -o "$t/rfs"
expect 1 "a FIFO" "$bin" export "$t/good.h5" -o "$t/fifo.h5" --force

# ---- 5. a shard copied without FILE.snap.h5 / FILE.parts
mkdir "$t/alone" && cp "$t/sh0.h5" "$t/alone/"
expect 0 "" "$bin" export "$t/alone/sh0.h5" -o "$t/alone.csv"
[ "$(wc -l <"$t/alone.csv")" -eq 3 ] && ok || bad "shard export: $(wc -l <"$t/alone.csv") lines"
expect 0 "wrote" "$bin" report "$t/alone/sh0.h5" -o "$t/ralone"
grep -q "snapshots are not available" "$t/ralone/index.html" && ok || bad "shard report does not say the snapshots are missing"
grep -q "class='error'" "$t/ralone/index.html" && bad "shard report has a failed section" || ok
# ... a shard renamed with its side files reads its own snapshots by its new name; a link
# below a job group (into another file, here a FIFO) is refused, never followed
mkdir "$t/ren" && cp -r "$t/sh0.h5" "$t/sh0.h5.snap.h5" "$t/sh0.h5.parts" "$t/ren/" 2>/dev/null
for f in "$t/ren/sh0.h5"*; do mv "$f" "${f/sh0.h5/moved.h5}"; done
mkfifo "$t/ren/trap"
PYTHONPATH="$(dirname "$0")/../analysis" timeout 20 /usr/bin/python3 - "$t/sh0.h5" "$t/ren/moved.h5" "$t/ren/trap" <<'PY' && ok || bad "snapshots of a renamed shard, or a link below a job group"
import sys, h5py, numpy as np
from synsweep_report.data import Results
from synsweep_report.safeio import Refused
a, b = Results(sys.argv[1]), Results(sys.argv[2])
job = a.snapshot_jobs[0]
assert b.snapshot_jobs == a.snapshot_jobs, (a.snapshot_jobs, b.snapshot_jobs)
i = int(job[4:])
assert np.array_equal(a.snapshot(i, "final", "W0"), b.snapshot(i, "final", "W0"))
part = sys.argv[2] + ".parts/" + sorted(__import__("os").listdir(sys.argv[2] + ".parts"))[0]
with h5py.File(part, "a") as f:  # the job group's stage now a link to a FIFO
    g = f[list(f.keys())[0]]
    del g["final"]
    g["final"] = h5py.ExternalLink(sys.argv[3], "/x")
try:
    for j in b.snapshot_jobs:
        b.snapshot(int(j[4:]), "final", "W0")
    sys.exit("followed a link below a job group")
except Refused as e:
    assert "not stored in this file" in str(e), e
PY

# ---- 6. foreign and broken inputs, closed stdout, empty -o
$py -c "import h5py, sys; h5py.File(sys.argv[1], 'w').create_dataset('x', data=[1, 2])" "$t/foreign.h5"
expect 1 "foreign.h5: not a synsweep results file \(no /results table\)" "$bin" export "$t/foreign.h5"
expect 1 "foreign.h5: not a synsweep results file \(no /results table\)" "$bin" report "$t/foreign.h5" -o "$t/rforeign"
[ ! -e "$t/rforeign/index.html" ] && ok || bad "report of a foreign file wrote a page"
echo "not hdf5" >"$t/text.h5"
expect 1 "text.h5: not an HDF5 file" "$bin" export "$t/text.h5"
expect 1 "text.h5: not an HDF5 file" "$bin" report "$t/text.h5" -o "$t/rtext"
head -c 4096 "$t/good.h5" >"$t/cut.h5"
expect 1 "cut.h5" "$bin" export "$t/cut.h5"
expect 1 "cut.h5" "$bin" report "$t/cut.h5" -o "$t/rcut"
expect 1 "missing.h5: no such file" "$bin" export "$t/missing.h5"
expect 1 "missing.h5: no such file" "$bin" report "$t/missing.h5" -o "$t/rmissing"
expect 1 "a directory, not a regular file" "$bin" export "$t/data"
expect 1 "a directory, not a regular file" "$bin" report "$t/data" -o "$t/rdir"
expect 1 "standard output: closed" sh -c '"$0" export "$1" >&-' "$bin" "$t/good.h5"
expect 1 "standard output: No space left" sh -c '"$0" export "$1" >/dev/full' "$bin" "$t/good.h5"
expect 0 "" sh -c '"$0" export "$1" | head -c 10' "$bin" "$t/good.h5"
expect 2 "-o: empty path" "$bin" export "$t/good.h5" -o ''
expect 2 "-o: empty path" "$bin" report "$t/good.h5" -o ''
expect 0 "--force" "$bin" export --help
expect 0 "--force" "$bin" report --help

echo "hostile: $pass passed, $fail failed"
[ $fail -eq 0 ]
