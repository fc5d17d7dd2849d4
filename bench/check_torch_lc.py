#!/usr/bin/python3
"""check_torch_lc.py [BENCH_LC]: checks that bench/torch_lc.py computes the layer bench_lc
times. Runs bench_lc --dump on a few small shapes, feeds the same x, weights, bias and output
gradient to torch_lc.lc (weights (H*W, O, C*K*K) -> (C, O, H, W, K, K)) and autograd, and
compares out, dx, dW and db (max |difference| / max |value|). Exit 1 above 1e-5."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_lc import lc  # noqa: E402

torch.set_num_threads(1)
bench = sys.argv[1] if len(sys.argv) > 1 else "build/bench_lc"
worst = 0.0
for B, C, O, H, K in [(3, 2, 4, 6, 3), (2, 3, 5, 7, 5), (4, 4, 3, 5, 1), (32, 32, 32, 16, 3), (37, 3, 16, 8, 3)]:
    with tempfile.NamedTemporaryFile() as tf:
        subprocess.run([bench, "--B", str(B), "--C", str(C), "--O", str(O), "--H", str(H), "--K", str(K),
                        "--reps", "1", "--sleep-reps", "0", "--dump", tf.name], check=True, stdout=subprocess.DEVNULL)
        raw = open(tf.name, "rb").read()
    hdr = np.frombuffer(raw[:20], np.int32)
    assert tuple(hdr) == (B, C, O, H, K), hdr
    nx, nw, no = B * C * H * H, H * H * O * C * K * K, B * O * H * H
    a = np.frombuffer(raw[20:], np.float32)
    parts, off = [], 0
    for n in (nx, nw, O, no, no, nx, nw, O):
        parts.append(a[off:off + n].astype(np.float64))
        off += n
    assert off == a.size
    x, Wt, b, g, out, dx, dW, db = parts
    # lc.h: Wt[p = y*W + x][o][c*K*K + ky*K + kx]; torch_lc: w[c][o][y][x][ky][kx]
    w = torch.tensor(Wt.reshape(H, H, O, C, K, K).transpose(3, 2, 0, 1, 4, 5).copy(), requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    xt = torch.tensor(x.reshape(B, C, H, H), requires_grad=True)
    o = lc(xt, w, K)[0] + bt[None, :, None, None]
    o.backward(torch.tensor(g.reshape(B, O, H, H)))
    got = {"out": (o.detach().numpy().ravel(), out), "dx": (xt.grad.numpy().ravel(), dx),
           "dW": (w.grad.numpy().transpose(2, 3, 1, 0, 4, 5).ravel(), dW), "db": (bt.grad.numpy(), db)}
    errs = {k: float(np.abs(t - c).max() / max(np.abs(t).max(), 1e-30)) for k, (t, c) in got.items()}
    worst = max(worst, *errs.values())
    print(f"B{B} C{C} O{O} {H}x{H} K{K}: " + ", ".join(f"{k} {v:.2e}" for k, v in errs.items()))
print(f"check_torch_lc: worst relative difference {worst:.2e}: {'ok' if worst < 1e-5 else 'FAIL'}")
sys.exit(0 if worst < 1e-5 else 1)
