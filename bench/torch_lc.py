#!/usr/bin/python3
"""torch_lc.py: the PyTorch peer of bench_lc, one thread: a locally connected layer the way
Pogodin et al.'s code computes one (zero-pad, unfold twice, einsum over the patch), weights
(C, O, H, W, K, K) drawn per position (Kaiming fan-out), a bias per output channel.

Times forward + backward (autograd: input, weight and bias gradients) and one dynamic sleep
(T = 100 iterations, 128 N(0,1) patches tiled with period K, z = LC(x), minus its mean over
the positions at stride K among the non-padded ones, W -= 0.1 (mean x r + 1e-5 (W - W0))).
Prints the medians as JSON, in bench_lc's format.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def lc(x, w, k):
    """x (B, C, H, W), w (C, O, H, W, k, k) -> (B, O, H, W)"""
    p = (k - 1) // 2
    u = F.pad(x, (p, p, p, p)).unfold(2, k, 1).unfold(3, k, 1)  # (B, C, H, W, k, k)
    return torch.einsum("bchwij,cohwij->bohw", u, w), u


def sleep(w, k, T=100, lr=0.1, gamma=1e-5, batch=128, g=None):
    C, O, H, W = w.shape[:4]
    p = (k - 1) // 2
    w0 = w.clone()
    ys, xs = torch.meshgrid(torch.arange(p, H - p), torch.arange(p, W - p), indexing="ij")
    grp = (((ys - p) % k) * k + (xs - p) % k).flatten()              # group of each non-padded position
    onehot = F.one_hot(grp, k * k).float()                           # (Np, k*k)
    avg = onehot @ (onehot / onehot.sum(0, keepdim=True)).T          # (Np, Np): mean over the group
    reps = (-(-H // k), -(-W // k))
    with torch.no_grad():
        for _ in range(T):
            patch = torch.randn(batch, C, k, k, generator=g)
            img = patch.repeat(1, 1, *reps)[:, :, :H, :W]            # tiled with period k
            z, u = lc(img, w, k)
            zn = z[:, :, p:H - p, p:W - p].flatten(2)                # (B, O, Np)
            r = torch.zeros_like(z)
            r[:, :, p:H - p, p:W - p] = (zn - zn @ avg).view_as(r[:, :, p:H - p, p:W - p])
            dw = torch.einsum("bchwij,bohw->cohwij", u, r) / batch
            w -= lr * (dw + gamma * (w - w0))
    return w


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, d in [("B", 32), ("C", 32), ("O", 32), ("H", 16), ("K", 3), ("reps", 20), ("sleep-reps", 3)]:
        ap.add_argument("--" + name, type=int, default=d)
    a = ap.parse_args()
    B, C, O, H, K = a.B, a.C, a.O, a.H, a.K
    g = torch.Generator().manual_seed(1)
    w = (torch.randn(C, O, H, H, K, K, generator=g) * (2.0 / (O * K * K)) ** 0.5).requires_grad_()
    b = (torch.rand(O, generator=g) * 2 - 1).mul_((C * K * K) ** -0.5).requires_grad_()
    x = torch.randn(B, C, H, H, generator=g).requires_grad_()
    dout = torch.randn(B, O, H, H, generator=g)
    ts = []
    for rep in range(-1, a.reps):                                     # rep -1: warm-up
        t0 = time.perf_counter()
        w.grad = b.grad = x.grad = None
        out = lc(x, w, K)[0] + b[None, :, None, None]
        out.backward(dout)
        if rep >= 0:
            ts.append(time.perf_counter() - t0)
    sl = []
    for _ in range(a.sleep_reps):
        t0 = time.perf_counter()
        sleep(w.detach(), K, g=g)
        sl.append(time.perf_counter() - t0)
    med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else 0.5 * sum(sorted(v)[len(v) // 2 - 1:len(v) // 2 + 1])
    print(json.dumps({"impl": "torch " + torch.__version__, "layer": f"lc B{B} C{C} O{O} {H}x{H} K{K}",
                      "fwd_bwd_s": round(med(ts), 6), "sleep_s": round(med(sl), 4) if sl else 0.0,
                      "sleep": "dynamic grid T100 batch128"}))


if __name__ == "__main__":
    main()
