#!/usr/bin/python3
"""torch_cnn.py: the PyTorch peer of bench_cnn, one thread, Karimi et al.'s MNIST job.

Conv 64 kernels 5x5 drawn from N(0, 1) and frozen -> 2x2 max-pool -> ReLU -> flatten
(64 x 12 x 12) -> FC 64 -> ReLU -> FC 10; 38 training images per class (380), pixels in
[0, 1], 100 epochs, batch 64, Adam lr 1e-3, backprop; then inference on the 10,000 test
images. The frozen conv runs in every step, the ordinary way. Prints seconds as JSON.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def load(d, split):
    pre = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(d, "mnist", f"{pre}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(d, "mnist", f"{pre}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--data-dir", default=os.environ.get("SYNSWEEP_DATA", "data"))
    a = ap.parse_args()
    xtr, ytr = load(a.data_dir, "train")
    xte, yte = load(a.data_dir, "test")
    g = torch.Generator().manual_seed(0)
    idx = torch.cat([torch.nonzero(ytr == c).flatten()[torch.randperm(int((ytr == c).sum()), generator=g)[:38]]
                     for c in range(10)])
    xtr, ytr = xtr[idx], ytr[idx]
    conv_w = torch.randn(64, 1, 5, 5, generator=g)            # frozen: no grad
    conv_b = torch.zeros(64)
    w1 = (torch.randn(64, 64 * 12 * 12, generator=g) * (2 / 9216) ** 0.5).requires_grad_()
    b1 = torch.zeros(64, requires_grad=True)
    w2 = (torch.randn(10, 64, generator=g) * (2 / 64) ** 0.5).requires_grad_()
    b2 = torch.zeros(10, requires_grad=True)
    opt = torch.optim.Adam([w1, b1, w2, b2], lr=1e-3)

    def forward(x):
        h = F.relu(F.max_pool2d(F.conv2d(x, conv_w, conv_b), 2))
        return F.linear(F.relu(F.linear(h.flatten(1), w1, b1)), w2, b2)

    t0 = time.perf_counter()
    for _ in range(a.epochs):
        perm = torch.randperm(len(xtr), generator=g)
        for s in range(0, len(xtr), 64):
            i = perm[s:s + 64]
            loss = F.cross_entropy(forward(xtr[i]), ytr[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    t1 = time.perf_counter()
    with torch.no_grad():
        correct = sum(int((forward(xte[s:s + 1000]).argmax(1) == yte[s:s + 1000]).sum())
                      for s in range(0, len(xte), 1000))
    t2 = time.perf_counter()
    print(json.dumps({"impl": "pytorch", "job": "karimi_mnist_normal", "train_s": round(t1 - t0, 3),
                      "test_s": round(t2 - t1, 3), "total_s": round(t2 - t0, 3),
                      "test_acc": correct / len(xte)}))


main()
