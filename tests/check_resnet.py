#!/usr/bin/python3
"""check_resnet.py FILE: the resnet sweep (tests/sweep_resnet.yaml) read back with h5py: every
job ok with finite losses; the snapshots hold conv_W<i> (O, C, K, K) or lc_W<i> (OH*OW, O,
C*K*K) for the 9 conv layers of resnet_n 1 on 32x32 images (stem, per stage c1, c2, and the
1x1 shortcuts of stages 2 and 3), the packed BatchNorm tensors (bn_weight, bn_bias, and the
running bn_mean, bn_var: fixed for the optimiser but learned, so `trainable` 1; they moved from
0 and 1), the head W0 (10, 16); n_sleeps
is 2 epochs x 4 steps / 4 = 2 with sharing, 0 without, and after the last sharing every
group (output positions at stride K; a 1x1 layer's whole map) holds one kernel."""
import sys

import h5py
import numpy as np
import pandas as pd


def fail(msg):
    print("check_resnet: FAIL:", msg)
    sys.exit(1)


# (C, O, K, OH) of the 9 layers: stem, stage 1 c1 c2, stage 2 c1 c2 sc, stage 3 c1 c2 sc
LAYERS = [(3, 4, 3, 32), (4, 4, 3, 32), (4, 4, 3, 32), (4, 8, 3, 16), (8, 8, 3, 16), (4, 8, 1, 16),
          (8, 16, 3, 8), (16, 16, 3, 8), (8, 16, 1, 8)]
f = h5py.File(sys.argv[1], "r")
df = pd.DataFrame(f["results"][:])
for c in ("model", "layer_type", "sleep", "status"):
    df[c] = df[c].str.decode("ascii")
if not (df.status == "ok").all() or not np.isfinite(df.test_loss).all():
    fail(f"statuses {df.status.tolist()}, test losses {df.test_loss.tolist()}")
for i in range(len(df)):
    g = f[f"snapshots/job_{i:06d}/final"]
    lc = df.layer_type[i] == "lc"
    for j, (C, O, K, OH) in enumerate(LAYERS):
        name = f"{'lc' if lc else 'conv'}_W{j}"
        want = (OH * OH, O, C * K * K) if lc else (O, C, K, K)
        if name not in g or g[name].shape != want or int(g[name].attrs["trainable"]) != 1:
            fail(f"job {i}: {name} {g[name].shape if name in g else 'missing'}, want {want}")
        if df.sleep[i] == "instant":
            w = g[name][:].reshape(OH, OH, -1)
            for a in range(K):
                for b in range(K):
                    grp = w[a::K, b::K]
                    if np.abs(grp - grp[:1, :1]).max() > 1e-6 * (np.abs(grp).max() + 1e-30):
                        fail(f"job {i}: {name} group ({a}, {b}) holds different kernels")
    n_bn = sum(o for _, o, _, _ in LAYERS)
    for name, tr in (("bn_weight", 1), ("bn_bias", 1), ("bn_mean", 1), ("bn_var", 1)):
        if g[name].shape != (n_bn,) or int(g[name].attrs["trainable"]) != tr:
            fail(f"job {i}: {name} shape {g[name].shape} trainable {g[name].attrs['trainable']}")
    if np.all(g["bn_mean"][:] == 0) or np.all(g["bn_var"][:] == 1):
        fail(f"job {i}: running statistics never moved")
    if g["W0"].shape != (10, 16):
        fail(f"job {i}: head W0 {g['W0'].shape}")
    want = 2 if df.sleep[i] == "instant" else 0
    if df.n_sleeps[i] != want:
        fail(f"job {i}: n_sleeps {df.n_sleeps[i]}, want {want}")
print(f"check_resnet: {len(df)} jobs ok")
