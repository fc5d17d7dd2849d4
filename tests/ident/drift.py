"""drift.py A B: how far two results files of the same sweep differ, where compare.py finds they are not
bit-identical (a change that moves rounding): per float column of /results the largest difference relative
to the column's largest magnitude, per curve group the same over all its curves, per snapshot tensor the
largest difference relative to the tensor's largest element. Prints the worst of each kind and exits 0."""
import sys, h5py, numpy as np


def rel(x, y):
    x, y = np.asarray(x, dtype=np.float64).reshape(-1), np.asarray(y, dtype=np.float64).reshape(-1)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return 0.0
    scale = max(np.abs(x[ok]).max(), np.abs(y[ok]).max(), 1e-30)
    return float(np.abs(x[ok] - y[ok]).max() / scale)


a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
ra, rb = a["results"][:], b["results"][:]
cols = [(rel(ra[c], rb[c]), c) for c in ra.dtype.names
        if c in rb.dtype.names and ra[c].dtype.kind == "f" and c not in ("seconds", "stage_seconds_saved")]
cols = sorted(((d, c) for d, c in cols if d > 0), reverse=True)
print(f"{len(cols)} float columns differ; largest: " + ", ".join(f"{c} {d:.2g}" for d, c in cols[:6]))
for g in ["curves", "model_curves"]:
    ds = sorted(((rel(a[g][k][:], b[g][k][:]), k) for k in a.get(g, {})), reverse=True)
    if ds:
        print(f"{g}: largest " + ", ".join(f"{k} {d:.2g}" for d, k in ds[:4]))
sa, sb = {}, {}
a["snapshots"].visititems(lambda n, o: sa.update({n: o[:]}) if isinstance(o, h5py.Dataset) else None)
b["snapshots"].visititems(lambda n, o: sb.update({n: o[:]}) if isinstance(o, h5py.Dataset) else None)
ds = sorted(((rel(sa[k], sb[k]), k) for k in sa if k in sb), reverse=True)
print("snapshots: largest " + ", ".join(f"{k} {d:.2g}" for d, k in ds[:4]))
