#!/usr/bin/python3
"""torch_mlp.py: the PyTorch peer of bench_mlp, one thread, the same job.

FA, MLP [784, 100, 10], all 60,000 MNIST training images scaled to [0, 1], batch 64,
Adam lr 1e-4, a fresh random order each epoch; feedback alignment as a custom autograd
Function whose backward uses a fixed random B in place of W. Prints the median seconds
of REPS epochs after one warm-up epoch, as JSON.

    torch_mlp.py [--rule fa|bp] [--hidden 100] [--batch 64] [--reps 5] [--data-dir DIR]
"""
import argparse
import gzip
import json
import os
import statistics
import time

import numpy as np
import torch

torch.set_num_threads(1)


class FALinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, fb):
        ctx.save_for_backward(x, fb)
        return x @ w.t() + b

    @staticmethod
    def backward(ctx, dy):
        x, fb = ctx.saved_tensors
        return dy @ fb, dy.t() @ x, dy.sum(0), None


def load_mnist_train(d):
    with gzip.open(os.path.join(d, "mnist", "train-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(os.path.join(d, "mnist", "train-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rule", default="fa", choices=["fa", "bp"])
    ap.add_argument("--hidden", default="100")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--data-dir", default=os.environ.get("SYNSWEEP_DATA", "data"))
    a = ap.parse_args()
    x, y = load_mnist_train(a.data_dir)
    sizes = [784] + [int(h) for h in a.hidden.split(",")] + [10]
    torch.manual_seed(0)
    ws, bs, fbs = [], [], []
    for i, o in zip(sizes[:-1], sizes[1:]):
        ws.append((torch.randn(o, i) * (2.0 / i) ** 0.5).requires_grad_())
        bs.append(torch.zeros(o, requires_grad=True))
        fbs.append(torch.randn(o, i) * (2.0 / i) ** 0.5)
    opt = torch.optim.Adam(ws + bs, lr=1e-4)

    def epoch():
        perm = torch.randperm(len(x))
        total = 0.0
        for s in range(0, len(x), a.batch):
            idx = perm[s:s + a.batch]
            h = x[idx]
            for l in range(len(ws)):
                if a.rule == "fa":
                    h = FALinear.apply(h, ws[l], bs[l], fbs[l])
                else:
                    h = torch.nn.functional.linear(h, ws[l], bs[l])
                if l < len(ws) - 1:
                    h = torch.relu(h)
            loss = torch.nn.functional.cross_entropy(h, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        return total

    epoch()
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        total = epoch()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "rule": a.rule,
                      "hidden": a.hidden, "batch": a.batch, "n": len(x),
                      "epoch_s_median": round(statistics.median(times), 4),
                      "epoch_s_min": round(min(times), 4),
                      "last_loss": round(total / ((len(x) + a.batch - 1) // a.batch), 4)}))


main()
