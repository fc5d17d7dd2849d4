#!/usr/bin/python3
"""rbse_exact: an independent numpy enumeration of the tiny RBSE's exact gradient.

Runs `test_rbse --dump`, which prints the 4 x 3 model (w, a, b, c; w and a are (H, V)
row-major), its 64 data rows and the C enumeration's descent gradient of
L = -(1/N) sum_n log P(v_n) in the order w, a, b, c. Recomputes that gradient over all
2^4 x 2^3 x 2^12 states of (v, h, m) with einsum and requires agreement to 1e-9.
Exit status is the verdict.
"""
import subprocess
import sys

import numpy as np


def parse(text):
    rows = {}
    for line in text.strip().splitlines():
        key, *vals = line.split()
        rows[key] = vals
    V, H, N = int(rows["V"][0]), int(rows["V"][2]), int(rows["V"][4])
    f32 = lambda k: np.array(rows[k], dtype=np.float32).astype(np.float64)
    return (V, H, N, f32("w").reshape(H, V), f32("a").reshape(H, V), f32("b"), f32("c"),
            np.array(rows["data"], dtype=np.int64).reshape(N, V),
            np.array(rows["grad"], dtype=np.float64))


def bits(n, width):
    return (np.arange(n)[:, None] >> np.arange(width)[None, :]) & 1


def exact_grad(V, H, w, a, b, c, data):
    vs, hs, ms = bits(2 ** V, V), bits(2 ** H, H), bits(2 ** (V * H), V * H)
    # s[v, h, k] = v_i h_j for synapse k = j * V + i
    s = (hs[None, :, :, None] * vs[:, None, None, :]).reshape(2 ** V, 2 ** H, H * V)
    drive = s * w.reshape(-1) + a.reshape(-1)                    # (v, h, k)
    negE = (vs @ b)[:, None, None] + (hs @ c)[None, :, None] + np.einsum("mk,vhk->vhm", ms, drive)
    p = np.exp(negE - negE.max())

    def stats(P):  # expectations of d(-E)/d(w, a, b, c) under weights P (v, h, m), normalised
        P = P / P.sum()
        Em = np.einsum("vhm,mk->vhk", P, ms)                     # E[m_k ; v, h] * P(v, h)
        gw = np.einsum("vhk,vhk->k", Em, s)
        ga = Em.sum(axis=(0, 1))
        gb = np.einsum("vhm,vi->i", P, vs)
        gc = np.einsum("vhm,hj->j", P, hs)
        return np.concatenate([gw, ga, gb, gc])

    model = stats(p)
    counts = np.bincount(data @ (1 << np.arange(V)), minlength=2 ** V)
    data_term = np.zeros_like(model)
    for v in np.nonzero(counts)[0]:   # P(h, m | v): the weights with v clamped
        q = np.zeros_like(p)
        q[v] = p[v]
        data_term += counts[v] * stats(q)
    return model - data_term / len(data)


def main():
    out = subprocess.run([sys.argv[1], "--dump"], check=True, capture_output=True, text=True).stdout
    V, H, N, w, a, b, c, data, grad_c = parse(out)
    g = exact_grad(V, H, w, a, b, c, data)
    diff = np.abs(g - grad_c).max()
    scale = np.abs(g).max()
    ok = diff < 1e-9 and scale > 1e-3
    print(f"rbse_exact: numpy vs C enumeration, {g.size} gradient entries, max |diff| {diff:.3g} "
          f"(max |grad| {scale:.3g})")
    print(f"rbse_exact: {int(ok)} passed, {int(not ok)} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
