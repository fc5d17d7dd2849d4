#!/usr/bin/python3
"""check_results.py SWEEP.yaml FILE [FILE ...]

Reads synsweep results files back with h5py and pandas and checks them against the
documented layout (docs/FORMAT.md): every job present exactly once and finished, attributes,
curves, per-layer metrics and snapshot shapes. With several files (the same sweep run on
different numbers of ranks), every metric, curve, layer metric and snapshot must be
bit-identical across them. Exit 1 on the first failure.
"""
import sys

import h5py
import numpy as np
import pandas as pd

BOOKKEEPING = {"seconds", "rank", "host", "git_commit"}
READOUT_KINDS = (b"rbse", b"rbm", b"pixels")
CD_CURVES = ["recon_error", "recon_ce", "mean_release"] + [f"release_hist_{k:02d}" for k in range(20)]


def fail(msg):
    print("check_results: FAIL:", msg)
    sys.exit(1)


def check_model_curves(path, f, df, i):
    """rbse/rbm: one finite point per CD epoch (w_p_corr for rbse only), the release
    histogram summing to 1; other kinds: no CD curve points."""
    mc = f.get("model_curves")
    cd = df.model[i] in (b"rbse", b"rbm")
    if mc is None:
        if cd:
            fail(f"{path}: job {i} ({df.model[i]}) but no /model_curves")
        return
    E = int(df.rbm_epochs[i]) if cd else 0
    names = (CD_CURVES if cd else []) + (["w_p_corr"] if df.model[i] == b"rbse" else [])
    for name in CD_CURVES + ["w_p_corr"]:
        row = mc[name][i] if name in mc else None
        if row is None:
            if name in names:
                fail(f"{path}: model_curves/{name} missing")
            continue
        want = np.zeros(row.shape, bool)
        want[:E] = name in names
        if not (np.isfinite(row) == want).all():
            fail(f"{path}: job {i} model_curves/{name} finite at {np.isfinite(row).nonzero()[0]}, want {want.nonzero()[0]}")
    if E:
        hist = np.stack([mc[f"release_hist_{k:02d}"][i, :E] for k in range(20)])
        if not np.allclose(hist.sum(axis=0), 1.0, atol=1e-5):
            fail(f"{path}: job {i} release histogram sums {hist.sum(axis=0)}")


def check_one(path, sweep_text):
    f = h5py.File(path, "r")
    a = f.attrs
    n = int(a["n_jobs"])
    if a["sweep_yaml"] != sweep_text:
        fail(f"{path}: sweep_yaml attribute differs from the sweep file")
    if int(a["complete"]) != 1 or int(a["n_done"]) != n:
        fail(f"{path}: complete={a['complete']} n_done={a['n_done']} n_jobs={n}")
    rows = f["results"][:]
    df = pd.DataFrame(rows)
    if len(df) != n or sorted(df.job_id) != list(range(n)):
        fail(f"{path}: job ids are not 0..{n-1} exactly once")
    status = df.status.str.decode("ascii")
    if not (status == "ok").all():
        fail(f"{path}: statuses {status.value_counts().to_dict()}: {df.message.tolist()}")
    if any(isinstance(v, bytes) and b"\x00" in v for v in df.rule):
        fail(f"{path}: string columns carry NUL padding")
    E = f["curves/test_acc"].shape[1]
    for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
        c = f["curves"][name][:]
        if c.shape != (n, E):
            fail(f"{path}: curves/{name} shape {c.shape}")
        for i in range(n):
            e, every = int(df.epochs[i]), int(df.eval_every[i])
            # evaluated epochs (1-based): every `every`-th, and always the last
            want = np.zeros(c.shape[1], bool)
            if every:
                want[every - 1:e:every] = True
            if e:
                want[e - 1] = True
            if name == "train_acc" and not df.eval_train[i]:
                want[:] = False
            if not (np.isfinite(c[i]) == want).all():
                fail(f"{path}: curves/{name} row {i} is finite at {np.isfinite(c[i]).nonzero()[0] + 1}, "
                     f"want the evaluated epochs {want.nonzero()[0] + 1}")
    if not np.allclose(f["curves/test_acc"][:, -1], df.test_acc, atol=1e-6):
        fail(f"{path}: last test_acc of the curve differs from the test_acc column")
    sizes = f["layers/sizes"][:]
    er = f["layers/final/erank"][:]
    for i in range(n):
        L = int((sizes[i] > 0).sum()) - 1
        readout = df.model[i] in READOUT_KINDS  # hidden does not apply: one softmax layer
        hidden = [] if readout else [int(h) for h in df.hidden[i].decode().split(",")]
        if list(sizes[i, 1:L]) != hidden:
            fail(f"{path}: job {i} layer sizes {sizes[i]} vs hidden {hidden}")
        if not np.isfinite(er[i, :L]).all():
            fail(f"{path}: job {i} final erank not finite")
        # per-stage readout and the angle curve (format 2)
        if not np.isfinite(df.test_acc_init[i]):
            fail(f"{path}: job {i} has no test_acc_init")
        has_noise = df.rule[i] == b"fa_noise"
        if np.isfinite(df.test_acc_after_noise[i]) != has_noise:
            fail(f"{path}: job {i} test_acc_after_noise present {not has_noise}")
        E_i = int(df.epochs[i])
        ac = f["layers/angle_curve"][i, E_i - 1, :L]
        fin = f["layers/final/angle"][i, :L]
        if not np.allclose(ac, fin, rtol=0, atol=1e-4, equal_nan=True):
            fail(f"{path}: job {i} angle after the last epoch {ac} != final angle {fin}")
        snaps = df.snapshots[i].decode()
        g = f.get(f"snapshots/job_{i:06d}")
        want = [s for s in snaps.split(",") if s and (s != "after_noise" or df.rule[i] == b"fa_noise")]
        got = sorted(g.keys()) if g is not None else []
        if sorted(want) != got:
            fail(f"{path}: job {i} snapshot stages {got}, want {sorted(want)}")
        for st in want:
            for l in range(L):
                if g[st][f"W{l}"].shape != (sizes[i, l + 1], sizes[i, l]):
                    fail(f"{path}: job {i} {st}/W{l} shape {g[st][f'W{l}'].shape}")
            if df.rule[i] in (b"fa", b"fa_noise") and L > 1 and f"B{L-1}" not in g[st]:
                fail(f"{path}: job {i} {st} lacks the feedback matrix B{L-1}")
            for name, d in g[st].items():  # format 2: every tensor says whether it is trained
                if d.attrs.get("trainable") not in (0, 1):
                    fail(f"{path}: job {i} {st}/{name} has no trainable attribute")
            for l in range(L):
                if g[st][f"b{l}"].shape != (sizes[i, l + 1],) or g[st][f"W{l}"].attrs["trainable"] != 1:
                    fail(f"{path}: job {i} {st}/b{l} shape {g[st][f'b{l}'].shape}")
            if f"B{L-1}" in g[st] and g[st][f"B{L-1}"].attrs["trainable"] != 0:
                fail(f"{path}: job {i} {st}: a feedback matrix is marked trainable")
            if df.model[i] == b"cnn":
                k = int(df.conv_size[i])
                shape = g[st]["conv_W"].shape
                if shape[0] != int(df.conv_kernels[i]) or shape[2:] != (k, k):
                    fail(f"{path}: job {i} {st}/conv_W shape {shape}")
                frozen = df.conv_dist[i] != b"trained"
                if g[st]["conv_W"].attrs["trainable"] != (not frozen) or g[st]["conv_b"].shape != (shape[0],):
                    fail(f"{path}: job {i} {st}/conv_W trainable flag or conv_b shape wrong")
            if df.model[i] in (b"rbse", b"rbm"):
                H, V = int(df.rbm_hidden[i]), 784  # MNIST images
                want_t = {"w": (H, V), "b": (V,), "c": (H,)}
                if df.model[i] == b"rbse":
                    want_t["a"] = (H, V)
                for name, shape in want_t.items():
                    if name not in g[st] or g[st][name].shape != shape or g[st][name].attrs["trainable"] != 1:
                        fail(f"{path}: job {i} {st}/{name}: missing, not {shape} or not marked trainable (learned by CD)")
                if "a" in g[st] and df.model[i] == b"rbm":
                    fail(f"{path}: job {i}: the RBM has no release logits")
                if sizes[i, 0] != H:
                    fail(f"{path}: job {i}: the readout reads {sizes[i, 0]} features, want {H}")
        check_model_curves(path, f, df, i)
    return f, df


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    sweep_text = open(sys.argv[1]).read()
    files = [check_one(p, sweep_text) for p in sys.argv[2:]]
    f0, d0 = files[0]
    for (f, d), path in zip(files[1:], sys.argv[3:]):
        for col in d0.columns:
            if col in BOOKKEEPING:
                continue
            x, y = d0[col].to_numpy(), d[col].to_numpy()
            if x.dtype.kind == "f":
                same = np.array_equal(x.view(np.uint64), y.view(np.uint64))
            else:
                same = (x == y).all()
            if not same:
                fail(f"{path}: column {col} differs from {sys.argv[2]}")
        for grp in ("curves", "layers"):
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    if obj[:].tobytes() != f[grp][name][:].tobytes():
                        fail(f"{path}: {grp}/{name} differs")
            f0[grp].visititems(visit)
        def visit_snap(name, obj):
            if isinstance(obj, h5py.Dataset) and obj[:].tobytes() != f["snapshots"][name][:].tobytes():
                fail(f"{path}: snapshots/{name} differs")
        f0["snapshots"].visititems(visit_snap)
        print(f"check_results: {path} is bit-identical to {sys.argv[2]} "
              f"(ranks used: {sorted(set(d['rank']))})")
    for col in ("test_acc", "dead_fraction"):
        if col in d0:
            print(f"check_results: {col} by job: {np.round(d0[col].to_numpy(), 4).tolist()}")
    print(f"check_results: {len(files)} file(s), {len(d0)} jobs each: ok")


main()
