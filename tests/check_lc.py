#!/usr/bin/python3
"""check_lc.py SWEEP.yaml FILE: the lc/lc_conv sweep (tests/sweep_lc.yaml) read back with
h5py: every job ok; /model_curves/snr_paper_<l>, snr_code_<l> present, finite for the
epochs of lc jobs' layers and NaN for lc_conv jobs, absent for absent layers; LC weight tensors
lc_W<l> of shape (H*W, O, C*K*K) with trainable = 1, conv_W<l> (O, C, K, K), fa feedback
tensors fixed (trainable = 0); with sleep SNR_w rises (final snapshot vs init), without it
does not; instant map sharing leaves one kernel per layer. Exit 1 on the first failure."""
import sys

import h5py
import numpy as np
import pandas as pd


def fail(msg):
    print("check_lc: FAIL:", msg)
    sys.exit(1)


def snr_paper(w, H, K):
    """w (H*H, O, CKK): mean over elements of mean^2 / var over the non-padded positions."""
    p = (K - 1) // 2
    ys, xs = np.divmod(np.arange(H * H), H)
    keep = (ys >= p) & (ys < H - p) & (xs >= p) & (xs < H - p)
    v = w[keep].astype(np.float64)
    return float(np.mean(v.mean(0) ** 2 / np.maximum(v.var(0), 1e-40)))


f = h5py.File(sys.argv[2], "r")
df = pd.DataFrame(f["results"][:])
for c in ("model", "rule", "sleep", "status"):
    df[c] = df[c].str.decode("ascii")
if not (df.status == "ok").all():
    fail(f"statuses {df.status.tolist()}")
n = len(df)
mc = f["model_curves"]
# a curve is written when some job records it: layers 0 and 1 here, not 2 and 3
for l in range(4):
    for d in ("paper", "code"):
        if (f"snr_{d}_{l}" in mc) != (l < 2):
            fail(f"model_curves/snr_{d}_{l}: present {f'snr_{d}_{l}' in mc}, want {l < 2}: {list(mc)}")
shapes = {0: (1, 28), 1: (4, 14)}  # (C, H) of each layer on MNIST with 2x2 pooling
K, O = 3, 4
checked = 0
for i in range(n):
    lc = df.model[i] == "lc"
    for l in range(2):
        c = mc[f"snr_paper_{l}"][i]
        want = lc and l < 2
        if want and not (np.isfinite(c[:2]).all()):
            fail(f"job {i} layer {l}: snr curve {c}")
        if not want and np.isfinite(c).any():
            fail(f"job {i} layer {l}: snr curve should be NaN, is {c}")
    g = f[f"snapshots/job_{i:06d}"]
    for l, (C, H) in shapes.items():
        pre = "lc" if lc else "conv"
        w = g["final"][f"{pre}_W{l}"]
        want = (H * H, O, C * K * K) if lc else (O, C, K, K)
        if w.shape != want or int(w.attrs["trainable"]) != 1:
            fail(f"job {i}: {pre}_W{l} shape {w.shape} (want {want}), trainable {w.attrs['trainable']}")
        fb = f"{pre}_B{l}"
        if df.rule[i] == "fa" and l > 0 and (fb not in g["final"] or int(g["final"][fb].attrs["trainable"]) != 0):
            fail(f"job {i}: fa feedback {fb} missing or trainable")
        if df.rule[i] == "bp" and fb in g["final"]:
            fail(f"job {i}: bp job has {fb}")
        if not lc:
            continue
        s0, s1 = snr_paper(g["init"][f"lc_W{l}"][:], H, K), snr_paper(w[:], H, K)
        if abs(s1 - mc[f"snr_paper_{l}"][i][1]) > 1e-4 * s1:
            fail(f"job {i} layer {l}: curve's last SNR {mc[f'snr_paper_{l}'][i][1]} != snapshot's {s1}")
        if (df.sleep[i] == "none") != (s1 < 2 * s0):
            fail(f"job {i} ({df.sleep[i]}) layer {l}: SNR {s0} -> {s1}")
        if df.sleep[i] == "instant" and not (w[:] == w[0:1]).all():
            fail(f"job {i} layer {l}: instant map sharing left different kernels")
        checked += 1
print(f"check_lc: {n} jobs, {checked} LC layers checked: ok")
