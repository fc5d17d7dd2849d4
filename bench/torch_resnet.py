#!/usr/bin/python3
"""torch_resnet.py: the PyTorch peer of one `synsweep train --model resnet` job, as a PyTorch
user would write it: one thread, nn.Module ResNet-6n+2 (conv 3x3 without bias, BatchNorm2d,
BasicBlocks with a 1x1 conv + BN shortcut where stride or width changes, global average pool,
Linear head), or with --layer_type lc every conv locally connected as Pogodin et al. write it
(zero-pad, unfold twice at the stride, einsum with a (C, O, OH, OW, K, K) weight).

The job: CIFAR-10 (cifar-10-batches-bin under $SYNSWEEP_DATA), train_size training images
drawn by the seed and the first test_size test images, standardised with the training
subset's mean and std; the test loss and accuracy at init; epochs of batch_size with
crop_flip (zero-pad 4, random 32x32 crop, flip with p 0.5) and AdamW; after each epoch the
loss and accuracy on the training subset and the test set (eval mode, torch.no_grad(), in
batches of batch_size), as synsweep's eval_train true, eval_every 1.

Prints one JSON line: seconds after imports and data loading ("seconds", synsweep's field of
the same name), the whole process's seconds so far ("process_s") and the final metrics.
  bench/torch_resnet.py --layer_type conv --train_size 5120 --test_size 1000 --batch_size 512 --epochs 1
"""
import argparse
import json
import os
import time

T_START = time.perf_counter()
# One thread, really: Debian's PyTorch does some products in OpenBLAS, whose threads
# torch.set_num_threads does not govern (see bench/torch_job.py).
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(1)


def load_cifar(d, n_train, n_test, seed):
    def read(files):
        raw = np.concatenate([np.fromfile(os.path.join(d, "cifar-10-batches-bin", f), np.uint8) for f in files])
        raw = raw.reshape(-1, 3073)
        return raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32), raw[:, 0].astype(np.int64)
    xtr, ytr = read([f"data_batch_{i}.bin" for i in range(1, 6)])
    xte, yte = read(["test_batch.bin"])
    idx = np.random.default_rng(seed).permutation(len(xtr))[:n_train]
    xtr, ytr, xte, yte = xtr[idx], ytr[idx], xte[:n_test], yte[:n_test]
    mean, std = xtr.mean(axis=(0, 2, 3), keepdims=True), xtr.std(axis=(0, 2, 3), keepdims=True)
    f = lambda a: torch.from_numpy((a - mean) / std)  # noqa: E731
    return f(xtr), torch.from_numpy(ytr), f(xte), torch.from_numpy(yte)


class LC(nn.Module):
    """Locally connected K x K layer, stride s, zero padding (K-1)/2, no bias (Pogodin et al.)."""

    def __init__(self, C, O, H, W, K, s):
        super().__init__()
        self.K, self.s, self.p = K, s, (K - 1) // 2
        OH, OW = (H + 2 * self.p - K) // s + 1, (W + 2 * self.p - K) // s + 1
        self.out_hw = (OH, OW)
        self.weight = nn.Parameter(torch.randn(C, O, OH, OW, K, K) * (2.0 / (O * K * K)) ** 0.5)

    def forward(self, x):
        p, K, s = self.p, self.K, self.s
        u = F.pad(x, (p, p, p, p)).unfold(2, K, s).unfold(3, K, s)  # (B, C, OH, OW, K, K)
        return torch.einsum("bchwij,cohwij->bohw", u, self.weight)


def conv(lc, C, O, H, W, K, s):
    if lc:
        return LC(C, O, H, W, K, s)
    m = nn.Conv2d(C, O, K, stride=s, padding=(K - 1) // 2, bias=False)
    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return m


class Block(nn.Module):
    def __init__(self, lc, C, O, H, W, s):
        super().__init__()
        OH, OW = (H - 1) // s + 1, (W - 1) // s + 1
        self.c1, self.b1 = conv(lc, C, O, H, W, 3, s), nn.BatchNorm2d(O)
        self.c2, self.b2 = conv(lc, O, O, OH, OW, 3, 1), nn.BatchNorm2d(O)
        self.sc = nn.Sequential()
        if s != 1 or C != O:
            self.sc = nn.Sequential(conv(lc, C, O, H, W, 1, s), nn.BatchNorm2d(O))

    def forward(self, x):
        h = F.relu(self.b1(self.c1(x)))
        return F.relu(self.b2(self.c2(h)) + self.sc(x))


class ResNet(nn.Module):
    def __init__(self, lc, n, width, classes=10):
        super().__init__()
        self.c0, self.b0 = conv(lc, 3, width, 32, 32, 3, 1), nn.BatchNorm2d(width)
        blocks, C, H = [], width, 32
        for st in range(3):
            for j in range(n):
                s = 2 if st > 0 and j == 0 else 1
                blocks.append(Block(lc, C, width << st, H, H, s))
                C, H = width << st, (H - 1) // s + 1
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(C, classes)

    def forward(self, x):
        a = self.blocks(F.relu(self.b0(self.c0(x))))
        return self.fc(a.mean(dim=(2, 3)))


def crop_flip(x, g):
    B = x.shape[0]
    xp = F.pad(x, (4, 4, 4, 4))
    oy, ox = torch.randint(0, 9, (B,), generator=g), torch.randint(0, 9, (B,), generator=g)
    flip = torch.rand(B, generator=g) < 0.5
    out = torch.empty_like(x)
    for i in range(B):
        c = xp[i, :, oy[i]:oy[i] + 32, ox[i]:ox[i] + 32]
        out[i] = c.flip(2) if flip[i] else c
    return out


def evaluate(net, x, y, B):
    net.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), B):
            z = net(x[i:i + B])
            loss += F.cross_entropy(z, y[i:i + B], reduction="sum").item()
            correct += (z.argmax(1) == y[i:i + B]).sum().item()
    return loss / len(x), correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layer_type", choices=["conv", "lc"], default="conv")
    # synsweep's parameter names and this job's values
    for name, default in (("resnet_n", 3), ("resnet_width", 16), ("train_size", 5120), ("test_size", 1000),
                          ("batch_size", 512), ("epochs", 1), ("lr", 0.01), ("weight_decay", 1e-4), ("seed", 0)):
        ap.add_argument(f"--{name}", type=type(default), default=default)
    ap.add_argument("--data", default=os.environ.get("SYNSWEEP_DATA", "../shared/data"))
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    xtr, ytr, xte, yte = load_cifar(a.data, a.train_size, a.test_size, a.seed)
    t0 = time.perf_counter()
    net = ResNet(a.layer_type == "lc", a.resnet_n, a.resnet_width)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    g = torch.Generator().manual_seed(a.seed)
    test_loss_init, test_acc_init = evaluate(net, xte, yte, a.batch_size)
    curves = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    for _ in range(a.epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr), a.batch_size):
            idx = perm[i:i + a.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(crop_flip(xtr[idx], g)), ytr[idx])
            loss.backward()
            opt.step()
        for split, (x, y) in (("train", (xtr, ytr)), ("test", (xte, yte))):
            l, acc = evaluate(net, x, y, a.batch_size)
            curves[f"{split}_loss"].append(l), curves[f"{split}_acc"].append(acc)
    t1 = time.perf_counter()
    print(json.dumps({"impl": "torch", "layer_type": a.layer_type, "seconds": t1 - t0, "process_s": t1 - T_START,
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "test_loss_init": test_loss_init, "test_acc_init": test_acc_init, "curves": curves}))


if __name__ == "__main__":
    main()
