#!/usr/bin/python3
"""check_resnet_torch.py DIR conv|lc [DIR conv|lc ...]: replays what tests/resnet_dump.c wrote in DIR in an
independent PyTorch 1.13 ResNetCIFAR (one thread, float32): the same initial weights, the same
batches, the same optimiser (torch.optim.SGD or Adam); BatchNorm in training mode with
momentum 0.1 and eps 1e-5 (F.batch_norm), then in evaluation mode (running statistics) on every
batch. LC layers are written as the authors write them
(unfold + einsum over a (C, O, OH, OW, K, K) weight). Every step's and evaluation's loss must agree with
synsweep's to 1e-4 relative, and so must every final tensor (max |difference| / max |value|),
running statistics included.

Two replays. Free: torch trains on from the initial weights alone. Forced: before every step
torch is set to synsweep's state after the step before (weights, running statistics, the
optimiser's moments), so each step is checked by itself: its loss, its gradient (synsweep's
out of the optimiser's first moment) and every tensor after it, within 1e-4. A ReLU whose input lies within rounding of 0 (|z| < KINK * max |z| of that layer)
is a kink: either side of it is right, and two correct implementations may take different
sides, after which the gradients differ (BatchNorm spreads one element's change over its
channel) and Adam's normalised steps part the weights by up to lr. So a forced step that
differs at a kink is reported and excused (at most a quarter of the steps), and the free replay
compares every loss, evaluations included, and the final tensors, stopping (excused, reported)
at the first difference if it met a kink before it. Exits 77 (skip) without torch."""
import sys

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("check_resnet_torch: no torch (python3-torch); skipped")
    sys.exit(77)

TOL = 1e-4
# A ReLU input this close to 0 (relative to its layer's largest) may take either sign: the
# conv layers by F(4x4, 3x3) are within 1.7-3.9e-6 of direct double sums on this test's and
# test_conv_naive's shapes (relative to the layer's largest output; an independent review
# measured 3.4-6.5e-6 on ResNet-20's 16-64 planes), F(2x2, 3x3) within 1.4-4.2e-7.
KINK = 4e-6


def read_tensors(d):
    out = []
    for line in open(f"{d}/tensors.txt"):
        f = line.split()
        out.append((f[0], int(f[1]), int(f[2]), [int(v) for v in f[4:4 + int(f[3])]]))
    return out


def n_floats(tensors, fixed):
    return sum(int(np.prod(s)) for _, fx, _, s in tensors if fx == fixed)


def unpack(raw, tensors):
    """{name: array} of a trainable buffer followed by the fixed one (resnet_dump's layout)."""
    n_params = n_floats(tensors, 0)
    return {name: raw[off + (n_params if fixed else 0):][:int(np.prod(shape))].reshape(shape).copy()
            for name, fixed, off, shape in tensors}


def buffers(path, tensors):
    return unpack(np.fromfile(path, dtype=np.float32), tensors)


def plan(width, n, C, H, W):
    """(C, O, K, stride, OH, OW) of every conv in synsweep's order: stem, per block c1, c2, [shortcut]."""
    def out(s, k, st):
        return (s + 2 * ((k - 1) // 2) - k) // st + 1
    convs, blocks, inp = [(C, width, 3, 1, H, W)], [], width
    for s in range(3):
        for j in range(n):
            planes, st = width << s, 2 if s > 0 and j == 0 else 1
            oh, ow = out(H, 3, st), out(W, 3, st)
            ids = [len(convs), len(convs) + 1]
            convs += [(inp, planes, 3, st, oh, ow), (planes, planes, 3, 1, oh, ow)]
            if st != 1 or inp != planes:
                ids.append(len(convs))
                convs.append((inp, planes, 1, st, oh, ow))
            blocks.append(ids)
            inp, H, W = planes, oh, ow
    return convs, blocks


def conv(x, w, desc, lc):
    C, O, K, st, OH, OW = desc
    pad = (K - 1) // 2
    if not lc:
        return F.conv2d(x, w, stride=st, padding=pad)
    u = F.pad(x, (pad, pad, pad, pad)).unfold(2, K, st).unfold(3, K, st)  # b, i, h, w, k, c
    wa = w.view(OH, OW, O, C, K, K).permute(3, 2, 0, 1, 4, 5)  # i, o, h, w, k, c (the authors')
    return torch.einsum("bihwkc,iohwkc->bohw", u, wa)


class Net:
    def __init__(self, t, convs, blocks, lc):
        self.p = {k: torch.tensor(v, requires_grad=k not in ("bn_mean", "bn_var")) for k, v in t.items()}
        self.convs, self.blocks, self.lc = convs, blocks, lc
        self.wname = "lc_W%d" if lc else "conv_W%d"

    def params(self):
        return [v for v in self.p.values() if v.requires_grad]

    def cbn(self, x, i, train=True):
        at = sum(d[1] for d in self.convs[:i])
        O = self.convs[i][1]
        y = conv(x, self.p[self.wname % i], self.convs[i], self.lc)
        return F.batch_norm(y, self.p["bn_mean"][at:at + O], self.p["bn_var"][at:at + O],
                            self.p["bn_weight"][at:at + O], self.p["bn_bias"][at:at + O],
                            training=train, momentum=0.1, eps=1e-5)

    def relu(self, z):
        with torch.no_grad():
            self.kink = min(self.kink, float((z.abs() / z.abs().max().clamp_min(1e-30)).min()))
        return F.relu(z)

    def forward(self, x, train=True):
        self.kink = 1.0  # the smallest |ReLU input| / max |input| of its layer in this pass
        a = self.relu(self.cbn(x, 0, train))
        for ids in self.blocks:
            h = self.relu(self.cbn(a, ids[0], train))
            h = self.cbn(h, ids[1], train)
            a = self.relu(h + (self.cbn(a, ids[2], train) if len(ids) == 3 else a))
        feat = a.mean(dim=(2, 3))
        return feat @ self.p["W0"].t() + self.p["b0"]


def optimiser(net, opt, lr, mom, wd, b1, b2, eps):
    return (torch.optim.SGD(net.params(), lr=lr, momentum=mom, weight_decay=wd) if opt == "sgd" else
            torch.optim.Adam(net.params(), lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd))


def worst_tensor(net, ref):
    """(max over tensors of max |diff| / max |value|, that tensor's name)."""
    worst, at = 0.0, ""
    for name, p in net.p.items():
        r = p.detach().numpy()
        err = float(np.abs(ref[name] - r).max() / max(np.abs(r).max(), 1e-30))
        if err > worst:
            worst, at = err, name
    return worst, at


def forced(d, tensors, net, o, hyper, x, y, ours, steps, nb):
    """Each step from synsweep's state before it: (failures, worst loss, worst gradient, worst tensor, kinks).
    The gradient (with weight decay, as both optimisers add it) is compared by itself, since one
    step's update is too small beside the weights to show an error in it: synsweep's comes out
    of its first moment, g = m_t - mu m_(t-1) (SGD) or (m_t - beta1 m_(t-1)) / (1 - beta1) (Adam)."""
    opt, mu, wd, b1 = hyper[0], hyper[2], hyper[3], hyper[4]
    train = [e for e in tensors if not e[1]]
    n_params, n_fixed = n_floats(tensors, 0), n_floats(tensors, 1)
    # per step: both buffers after it, then the optimiser's m and v over the trainable one
    rows = np.fromfile(f"{d}/steps.bin", dtype=np.float32).reshape(steps, 3 * n_params + n_fixed)
    moment = lambda t, k: (unpack(rows[t][(1 + k) * n_params + n_fixed:], train) if t >= 0 else
                           {name: np.zeros(shape, np.float32) for name, _, _, shape in train})
    bad, worst_l, worst_g, worst_t, kinks = 0, 0.0, 0.0, 0.0, []
    for t in range(steps):
        if t:  # synsweep's state after step t - 1
            state, m, v = unpack(rows[t - 1], tensors), moment(t - 1, 0), moment(t - 1, 1)
            with torch.no_grad():
                for name, p in net.p.items():
                    p.copy_(torch.tensor(state[name]))
                    if p.requires_grad:
                        o.state[p] = ({"momentum_buffer": torch.tensor(m[name])} if opt == "sgd" else
                                      {"step": torch.tensor(float(t)), "exp_avg": torch.tensor(m[name]),
                                       "exp_avg_sq": torch.tensor(v[name])})
        o.zero_grad()
        loss = F.cross_entropy(net.forward(x[t % nb]), y[t % nb])
        loss.backward()
        grads = {name: (p.grad + wd * p).detach().numpy().copy() for name, p in net.p.items() if p.requires_grad}
        o.step()
        m1, m0 = moment(t, 0), moment(t - 1, 0)
        err_g, name_g = 0.0, ""
        for name, g in grads.items():
            ours_g = m1[name] - mu * m0[name] if opt == "sgd" else (m1[name] - b1 * m0[name]) / (1 - b1)
            e = float(np.abs(ours_g - g).max() / max(np.abs(g).max(), 1e-30))
            if e > err_g:
                err_g, name_g = e, name
        rel = abs(loss.item() - ours[t]) / abs(loss.item())
        err, name = worst_tensor(net, unpack(rows[t], tensors))
        failed = rel > TOL or err_g > TOL or err > TOL
        if failed and net.kink < KINK:  # either side of the kink is right
            kinks.append((t, f"{net.kink:.1e}"))
            continue
        worst_l, worst_g, worst_t = max(worst_l, rel), max(worst_g, err_g), max(worst_t, err)
        if failed:
            print(f"forced step {t}: loss rel {rel:.2e}, gradient of {name_g} {err_g:.2e}, "
                  f"{name} max |diff| / max |value| {err:.2e}")
            bad = 1
    if len(kinks) > steps // 4:
        print(f"{len(kinks)} of {steps} steps differ at kinks: too many to call rounding")
        bad = 1
    return bad, worst_l, worst_g, worst_t, kinks


def check(d, lc):
    hy = open(f"{d}/hyper.txt").read().split()
    opt, lr, mom, wd, b1, b2, eps = hy[0], *map(float, hy[1:7])
    steps, nb, B, C, H, W = map(int, hy[7:13])
    tensors = read_tensors(d)
    width = [s for n, _, _, s in tensors if n in ("conv_W0", "lc_W0")][0][0 if not lc else 1]
    n = (sum(1 for n, *_ in tensors if n.startswith(("conv_W", "lc_W"))) - 3) // 6
    convs, blocks = plan(width, n, C, H, W)
    x = torch.tensor(np.fromfile(f"{d}/x.bin", dtype=np.float32).reshape(nb, B, C, H, W))
    y = torch.tensor(np.fromfile(f"{d}/y.bin", dtype=np.uint8).astype(np.int64).reshape(nb, B))
    ours = [float(v) for v in open(f"{d}/losses.txt")]
    hyper = (opt, lr, mom, wd, b1, b2, eps)
    label = f"resnet {'lc' if lc else 'conv'} {opt}"
    net = Net(buffers(f"{d}/init.bin", tensors), convs, blocks, lc)
    bad, worst_fl, worst_fg, worst_ft, kinks = forced(d, tensors, net, optimiser(net, *hyper), hyper, x, y, ours,
                                                      steps, nb)
    print(f"{label}, forced: {steps - len(kinks)} of {steps} steps within tolerance, losses within {worst_fl:.1e} "
          f"relative, gradients within {worst_fg:.1e}, tensors after each within {worst_ft:.1e}"
          + (f"; steps that differ at a kink (step, min |z| / max |z|): {kinks}" if kinks else ""))
    net = Net(buffers(f"{d}/init.bin", tensors), convs, blocks, lc)
    o = optimiser(net, *hyper)
    worst, kink = 0.0, None

    def differs(what, rel):
        """Whether the free replay stops at this comparison: parted after a kink (excused) or failed."""
        if rel <= TOL:
            return False
        if kink is not None:
            print(f"{label}, free: losses within {worst:.1e} relative until {what} differs by {rel:.1e}, after a "
                  f"kink at step {kink} (either side right; the forced replay checks each step)")
        else:
            print(f"{label}, free: {what} differs by {rel:.2e} relative")
        return True

    for t in range(steps):
        o.zero_grad()
        loss = F.cross_entropy(net.forward(x[t % nb]), y[t % nb])
        loss.backward()
        o.step()
        rel = abs(loss.item() - ours[t]) / abs(loss.item())
        if differs(f"the loss of step {t} ({ours[t]:.9g} against torch's {loss.item():.9g})", rel):
            return bad if kink is not None else 1
        worst = max(worst, rel)
        if net.kink < KINK and kink is None:
            kink = t
    with torch.no_grad():  # evaluation: BN on its running statistics
        for b in range(nb):
            ref = F.cross_entropy(net.forward(x[b], train=False), y[b]).item()
            rel = abs(ref - ours[steps + b]) / abs(ref)
            if differs(f"the evaluation loss of batch {b}", rel):
                return bad if kink is not None else 1
            worst = max(worst, rel)
    worst_t, name = worst_tensor(net, buffers(f"{d}/final.bin", tensors))
    if differs(f"the final {name}", worst_t):
        return bad if kink is not None else 1
    print(f"{label}, free: {steps} steps and {nb} evaluations, losses within {worst:.1e} relative, "
          f"final tensors within {worst_t:.1e} of torch" + (f" (a kink at step {kink})" if kink is not None else ""))
    return bad


def main():
    torch.set_num_threads(1)
    a = sys.argv[1:]
    bad = sum(check(a[i], a[i + 1] == "lc") for i in range(0, len(a), 2))
    print(f"resnet_torch: {len(a) // 2 - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
