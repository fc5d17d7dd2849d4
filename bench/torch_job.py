#!/usr/bin/python3
"""torch_job.py: the PyTorch peer of one synsweep job, as a PyTorch user would write it.

One thread (torch.set_num_threads(1)); the same data, model, optimizer, epochs, batch size,
evaluation schedule and end-of-job metrics as `synsweep train` (bench/pairs.py passes the
same parameters to both). Jobs:

  cnn: conv K x S x S (valid) -> 2x2 max-pool -> ReLU -> flatten -> FC hidden -> ReLU ->
       FC 10. Frozen conv (--conv-dist normal: N(0, 1) kernels, requires_grad=False): the
       features of the training subset and of the test set are computed once under
       torch.no_grad(), as synsweep caches them (its cache_features, and cache_budget_mb
       for the test set). Trained conv (--conv-dist trained): Kaiming init, learned with
       the rest.
  mlp: MLP, backprop or feedback alignment (a custom autograd Function whose backward uses
       the fixed random B in place of W); --noise-examples > 0 first trains on N(0, 1)
       noise images with uniform labels (fresh each batch), then resets Adam.

Evaluation: every --eval-every epochs and after the last, loss and accuracy on the
training subset and the test set (under no_grad, in batches of --batch, as synsweep); at the end also the
dead hidden units on the training set, the effective rank of the hidden activations' Gram
matrix on the test set, the effective rank of every weight matrix and, for FA, the angle
between W and B and the test readout (all three also at init and after noise), and readout statistics. Prints one
JSON line: seconds after imports and data loading, and the final metrics.
"""
import argparse
import gzip
import json
import math
import os
import time

T_START = time.perf_counter()
# One thread, really: Debian's PyTorch does its matrix products in OpenBLAS, whose threads
# torch.set_num_threads does not govern (measured: 2 cores busy, CPU time twice the wall
# time); a user who wants one thread sets these before numpy and torch load.
import os  # noqa: E402
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(1)


def load(d, split):
    pre = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(d, "mnist", f"{pre}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(d, "mnist", f"{pre}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


class FALinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, fb):
        ctx.save_for_backward(x, fb)
        return F.linear(x, w, b)

    @staticmethod
    def backward(ctx, dy):
        x, fb = ctx.saved_tensors
        return dy @ fb, dy.t() @ x, dy.sum(0), None


def kaiming(o, i, g):
    return torch.randn(o, i, generator=g) * math.sqrt(2.0 / i)


def erank(m):
    s = torch.linalg.svdvals(m.detach().double())
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def angle(a, b):
    a, b = a.detach().flatten().double(), b.flatten().double()
    return float(torch.rad2deg(torch.acos(torch.clamp(a @ b / (a.norm() * b.norm()), -1, 1))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["mlp", "cnn"], required=True)
    ap.add_argument("--rule", choices=["bp", "fa"], default="bp")
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--conv-dist", choices=["normal", "trained"], default="normal")
    ap.add_argument("--conv-kernels", type=int, default=64)
    ap.add_argument("--conv-size", type=int, default=5)
    ap.add_argument("--train-per-class", type=int, default=0, help="0: the whole training split")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--eval-every", type=int, default=1)
    ap.add_argument("--noise-examples", type=int, default=0)
    ap.add_argument("--noise-lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=os.environ.get("SYNSWEEP_DATA", "data"))
    a = ap.parse_args()
    g = torch.Generator().manual_seed(a.seed)
    xtr, ytr = load(a.data_dir, "train")
    xte, yte = load(a.data_dir, "test")
    if a.train_per_class:
        idx = torch.cat([torch.nonzero(ytr == c).flatten()[
            torch.randperm(int((ytr == c).sum()), generator=g)[:a.train_per_class]] for c in range(10)])
        xtr, ytr = xtr[idx], ytr[idx]
    t0 = time.perf_counter()

    # the trained parameters, the feedback matrices (FA) and the front end
    conv = None
    if a.model == "cnn":
        k, s = a.conv_kernels, a.conv_size
        trained = a.conv_dist == "trained"
        cw = kaiming(k, s * s, g) if trained else torch.randn(k, s * s, generator=g)
        conv = [cw.reshape(k, 1, s, s).requires_grad_(trained), torch.zeros(k, requires_grad=trained)]
        side = (28 - s + 1) // 2
        sizes = [k * side * side, a.hidden, 10]
    else:
        sizes = [784, a.hidden, 10]
    ws = [kaiming(o, i, g).requires_grad_() for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [torch.zeros(o, requires_grad=True) for o in sizes[1:]]
    fbs = [kaiming(o, i, g) for i, o in zip(sizes[:-1], sizes[1:])] if a.rule == "fa" else None
    params = ws + bs + (conv if conv and conv[0].requires_grad else [])

    def front(x):  # images -> FC input
        if conv is None:
            return x.flatten(1)
        return F.relu(F.max_pool2d(F.conv2d(x, conv[0], conv[1]), 2)).flatten(1)

    def head(h, hidden_out=None):
        for l in range(len(ws)):
            h = FALinear.apply(h, ws[l], bs[l], fbs[l]) if fbs else F.linear(h, ws[l], bs[l])
            if l < len(ws) - 1:
                h = F.relu(h)
                if hidden_out is not None:
                    hidden_out.append(h)
        return h

    frozen = conv is not None and not conv[0].requires_grad
    if frozen:  # the training and test features once, as synsweep caches them
        with torch.no_grad():
            ftr = torch.cat([front(xtr[i:i + 1000]) for i in range(0, len(xtr), 1000)])
            xte = torch.cat([front(xte[i:i + 1000]) for i in range(0, len(xte), 1000)])
        train_in, forward_train = ftr, head
    else:
        train_in, forward_train = xtr, (lambda x: head(front(x)))

    def evaluate(x, y, features=False, probe=None):
        loss = correct = 0.0
        with torch.no_grad():
            for i in range(0, len(x), a.batch):
                xb, yb = x[i:i + a.batch], y[i:i + a.batch]
                hid = [] if probe is not None else None
                z = head(xb if features else front(xb), hid)
                loss += float(F.cross_entropy(z, yb, reduction="sum"))
                correct += int((z.argmax(1) == yb).sum())
                if probe is not None:
                    probe(z, yb, hid)
        return loss / len(x), correct / len(x)

    def layer_metrics():
        return {"erank": [erank(w) for w in ws], "angle": [angle(w, b) for w, b in zip(ws, fbs)] if fbs else []}

    def readout():  # the test readout of a stage before the last, as synsweep's stage_readout
        pt, pm = [], []

        def probe(z, y, hid):
            p = F.softmax(z, 1)
            pt.append(p.gather(1, y[:, None]).flatten())
            pm.append(p.max(1).values)
        tel, tea = evaluate(xte, yte, frozen, probe)
        return {"test_loss": tel, "test_acc": tea, "readout_p_true_mean": float(torch.cat(pt).mean()),
                "readout_p_max_mean": float(torch.cat(pm).mean())}

    out = {"init": {**layer_metrics(), **readout()}}
    opt = torch.optim.Adam(params, lr=a.noise_lr if a.noise_examples else a.lr)
    if a.noise_examples:
        nl = 0.0
        for s in range(0, a.noise_examples, a.batch):
            b = min(a.batch, a.noise_examples - s)
            xn = torch.randn(b, 1, 28, 28, generator=g)
            loss = F.cross_entropy(head(front(xn)), torch.randint(10, (b,), generator=g))
            opt.zero_grad()
            loss.backward()
            opt.step()
            nl += float(loss) * b
        out["noise_loss"] = nl / a.noise_examples
        out["after_noise"] = {**layer_metrics(), **readout()}
        opt = torch.optim.Adam(params, lr=a.lr)  # reset, as noise_adam_reset
    curves, auc, n_eval = [], 0.0, 0
    for e in range(a.epochs):
        perm = torch.randperm(len(train_in), generator=g)
        for s in range(0, len(train_in), a.batch):
            i = perm[s:s + a.batch]
            loss = F.cross_entropy(forward_train(train_in[i]), ytr[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if e == a.epochs - 1 or a.eval_every == 0 or (e + 1) % a.eval_every:
            continue
        trl, tra = evaluate(train_in, ytr, frozen)
        tel, tea = evaluate(xte, yte, frozen)
        curves.append([e + 1, trl, tra, tel, tea])
        auc, n_eval = auc + tea, n_eval + 1

    # the final passes: dead units on the training set, Gram matrices and readout on test
    alive = [torch.zeros(h, dtype=torch.bool) for h in sizes[1:-1]]
    gram = [torch.zeros(h, h, dtype=torch.float64) for h in sizes[1:-1]]
    p_true, p_max = [], []

    def on_train(z, y, hid):
        for l, h in enumerate(hid):
            alive[l] |= (h > 0).any(0)

    def on_test(z, y, hid):
        for l, h in enumerate(hid):
            gram[l] += (h.t() @ h).double()
        p = F.softmax(z, 1)
        p_true.append(p.gather(1, y[:, None]).flatten())
        p_max.append(p.max(1).values)

    trl, tra = evaluate(train_in, ytr, frozen, on_train)
    tel, tea = evaluate(xte, yte, frozen, on_test)
    auc, n_eval = auc + tea, n_eval + 1
    pt = torch.cat(p_true)
    out.update({"final": layer_metrics(), "gram_erank": [erank(G) for G in gram],
                "dead_fraction": float(sum(int((~al).sum()) for al in alive)) / sum(sizes[1:-1]),
                "train_loss": trl, "train_acc": tra, "test_loss": tel, "test_acc": tea,
                "auc_test_acc": auc / n_eval, "readout_p_true_mean": float(pt.mean()),
                "readout_p_true_std": float(pt.std()), "readout_p_max_mean": float(torch.cat(p_max).mean()),
                "n_evaluations": n_eval, "curves": curves})
    t1 = time.perf_counter()
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "job_s": round(t1 - t0, 3),
                      "startup_s": round(t0 - T_START, 3), **out}))


main()
