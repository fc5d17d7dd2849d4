"""compare.py [--skip COLUMN]... A B: bit-identity of two results files (old format 1 vs new format 2): every common column of
/results, every curve (/curves, /model_curves, /noise_curve), every layer metric, every snapshot tensor (matched by name; format 1
stored biases as (1, n), format 2 as (n,))."""
import sys, h5py, numpy as np
args = sys.argv[1:]
skip = {"seconds", "host", "rank", "n_params", "git_commit"}
while args and args[0] == "--skip":  # --skip COLUMN: a column that may differ (e.g. stage_seconds_saved)
    skip.add(args[1]); args = args[2:]
sys.argv[1:] = args
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
ra, rb = a["results"][:], b["results"][:]
assert len(ra) == len(rb)
diff = 0
common = [c for c in ra.dtype.names if c in rb.dtype.names and c not in skip]
for c in common:
    x, y = ra[c], rb[c]
    same = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
    if not same:
        print("results column differs:", c); diff += 1
for g in ["curves", "model_curves"]:
    assert set(a.get(g, {})) == set(b.get(g, {})), g
    for k in a.get(g, {}):
        if not np.array_equal(a[g][k][:], b[g][k][:], equal_nan=True): print("curve differs", g, k); diff += 1
if "noise_curve" in a or "noise_curve" in b:
    if not np.array_equal(a["noise_curve"][:], b["noise_curve"][:], equal_nan=True): print("noise_curve differs"); diff += 1
def walk(f, name, out):
    f[name].visititems(lambda n, o: out.update({n: o[:]}) if isinstance(o, h5py.Dataset) else None)
la, lb = {}, {}
walk(a, "layers", la); walk(b, "layers", lb)
for k in la:
    if not np.array_equal(la[k], lb[k], equal_nan=True): print("layers differ", k); diff += 1
sa, sb = {}, {}
walk(a, "snapshots", sa); walk(b, "snapshots", sb)
assert set(sa) == set(sb), (set(sa) ^ set(sb))
for k in sa:
    x, y = sa[k], sb[k]
    if x.size != y.size or not np.array_equal(x.reshape(-1), y.reshape(-1)):
        print("snapshot differs", k, x.shape, y.shape); diff += 1
print(f"{sys.argv[1]} vs {sys.argv[2]}: {len(ra)} jobs, {len(common)} columns, {len(sa)} snapshot tensors: "
      + ("bit-identical" if diff == 0 else f"{diff} differences"))
sys.exit(1 if diff else 0)
