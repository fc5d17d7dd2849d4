#!/usr/bin/python3
"""check_optim_torch.py SYNSWEEP MAKE_FIXTURE: the optimisers and the step schedule against
PyTorch (torch.optim.AdamW, Adam, SGD + MultiStepLR). A sweep of small jobs (mlp, cnn with
trained kernels, lc) runs on a fixture of 32 8x8 training images with batch_size 32: one step per
epoch, 20 steps, the schedule's epochs landing inside them. The same networks are built in
PyTorch from each job's init snapshot and trained on the same batch; the loss of every step
(curves/train_loss, eval_train: false) and every final tensor must agree within 1e-4
relative. So the test can fail, each job is also trained the wrong way (AdamW as Adam with
L2, the schedule left out): that must disagree by more than 1e-2. Two more jobs take two
steps per epoch, with and without the schedule (EPOCHWISE). Exit 77 without torch."""
import gzip
import subprocess
import sys
import tempfile

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("check_optim_torch: SKIPPED: no torch (Debian: python3-torch)")
    sys.exit(77)
import h5py
import numpy as np

STEPS, TOL, WRONG = 20, 1e-4, 1e-2
MLP = "hidden: [[16, 12]]"
CNN = "model: cnn, conv_dist: trained, conv_kernels: 4, conv_size: 3, hidden: [[16]]"
LC = "model: lc, lc_channels: [[3]], lc_size: 3, hidden: [[16]]"  # not a fused step: one update of the buffer
SCHED = "lr_decay_epochs: [[6, 13]], lr_decay_factor: 0.3"
# (block of the sweep, what torch runs: optimiser, its arguments, milestones, gamma)
JOBS = [
    (f"{{{MLP}, optimizer: adamw, lr: 0.01, weight_decay: 0.5, {SCHED}}}", "adamw"),
    (f"{{{MLP}, optimizer: adam, lr: 0.01, weight_decay: 0.05, {SCHED}}}", "adam"),
    (f"{{{MLP}, optimizer: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.01, {SCHED}}}", "sgd"),
    (f"{{{CNN}, optimizer: adamw, lr: 0.01, weight_decay: 0.5, {SCHED}}}", "adamw"),
    (f"{{{CNN}, optimizer: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.01, {SCHED}}}", "sgd"),
    (f"{{{LC}, optimizer: adamw, lr: 0.01, weight_decay: 0.5, {SCHED}}}", "adamw"),
    (f"{{{LC}, optimizer: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.01, {SCHED}}}", "sgd"),
]
# two steps per epoch (batch 16; the order within an epoch is synsweep's shuffle, so these are
# compared with each other, not with torch): with and without the schedule the curves agree
# bit for bit up to epoch 6 and differ from it on, so the schedule counts epochs, not steps
EPOCHWISE = [f"{{{MLP}, optimizer: sgd, lr: 0.1, batch_size: 16, {SCHED}}}",
             f"{{{MLP}, optimizer: sgd, lr: 0.1, batch_size: 16}}"]


def fail(msg):
    print("check_optim_torch: FAIL:", msg)
    sys.exit(1)


def idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read()[header:], dtype=np.uint8)


def params(snap):
    return {k: torch.tensor(snap[k][:]) for k in snap}


def forward(p, x):
    """The job's network on x (B, 1, 8, 8): [conv -> 2x2 max-pool -> ReLU, or LC (unfold +
    einsum, as Pogodin et al. write it) -> ReLU -> 2x2 max-pool ->] ReLU FC layers."""
    if "conv_W" in p:
        x = F.relu(F.max_pool2d(F.conv2d(x, p["conv_W"], p["conv_b"]), 2))
    if "lc_W0" in p:
        W = p["lc_W0"]  # (H*W, O, C*K*K)
        K = int(round((W.shape[2] // x.shape[1]) ** 0.5))
        cols = F.unfold(x, K, padding=(K - 1) // 2)  # (B, C*K*K, H*W)
        out = torch.einsum("pok,bkp->bop", W, cols) + p["lc_b0"][None, :, None]
        x = F.max_pool2d(F.relu(out.reshape(x.shape[0], -1, x.shape[2], x.shape[3])), 2)
    h = x.reshape(x.shape[0], -1)
    L = sum(k[0] == "W" for k in p)
    for l in range(L):
        h = F.linear(h, p[f"W{l}"], p[f"b{l}"])
        if l < L - 1:
            h = F.relu(h)
    return h


def train(p, x, y, spec, opt_name, milestones):
    """STEPS full-batch steps of torch's optimiser, MultiStepLR stepped once per epoch."""
    ps = list(p.values())
    for t in ps:
        t.requires_grad_(True)
    wd, lr = float(spec["weight_decay"]), float(spec["lr"])
    if opt_name == "adamw":
        opt = torch.optim.AdamW(ps, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    elif opt_name == "adam":
        opt = torch.optim.Adam(ps, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    else:
        opt = torch.optim.SGD(ps, lr=lr, momentum=float(spec["momentum"]), weight_decay=wd)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=float(spec["lr_decay_factor"]))
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(forward(p, x), y)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return np.array(losses), {k: v.detach().numpy() for k, v in p.items()}


def worst(losses, final, want_losses, want_final):
    """Largest relative difference: per step's loss, per tensor (relative to its largest entry)."""
    d = float(np.max(np.abs(losses - want_losses) / np.abs(want_losses)))
    for k, w in want_final.items():
        d = max(d, float(np.max(np.abs(final[k] - w)) / np.max(np.abs(w))))
    return d


def main(t):
    synsweep, make_fixture = sys.argv[1], sys.argv[2]
    subprocess.run([make_fixture, f"{t}/data", "32", "16", "8"], check=True)
    blocks = "\n".join(f"  - {b}" for b in [b[:-1] + ", batch_size: 32}" for b, _ in JOBS] + EPOCHWISE)
    with open(f"{t}/s.yaml", "w") as f:
        f.write(f"name: optim_torch\nfixed:\n  dataset: mnist\n  data_dir: {t}/data\n"
                f"  epochs: {STEPS}\n  eval_train: false\n  snapshots: [init, final]\ngrid:\n{blocks}\n")
    subprocess.run([synsweep, "run", f"{t}/s.yaml", "-o", f"{t}/s.h5", "-q"], check=True)
    x = idx(f"{t}/data/mnist/train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 8, 8)
    x = torch.tensor((x.astype(np.float64) / 255.0).astype(np.float32))
    y = torch.tensor(idx(f"{t}/data/mnist/train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    f = h5py.File(f"{t}/s.h5", "r")
    r = f["results"][:]
    if len(r) != len(JOBS) + 2:
        fail(f"{len(r)} jobs, want {len(JOBS) + 2}")
    a, b = f["curves/train_loss"][len(JOBS):len(JOBS) + 2, :STEPS]
    if not (np.array_equal(a[:6], b[:6]) and (a[6:] != b[6:]).all()):
        fail(f"two steps per epoch: the schedule [6, 13] should change the curve from epoch 6 on: {a} vs {b}")
    for i, (block, opt_name) in enumerate(JOBS):
        spec = {c: (r[c][i].decode() if isinstance(r[c][i], bytes) else r[c][i]) for c in r.dtype.names}
        if spec["status"] != "ok" or spec["n_train"] != 32 or spec["optimizer"] != opt_name:
            fail(f"job {i}: {spec['status']}, n_train {spec['n_train']}, optimizer {spec['optimizer']}")
        ms = [int(e) for e in spec["lr_decay_epochs"].split(",")]
        g = f[f"snapshots/job_{i:06d}"]
        want_losses = f["curves/train_loss"][i, :STEPS].astype(np.float64)
        want_final = {k: g["final"][k][:] for k in g["final"]}
        losses, final = train(params(g["init"]), x, y, spec, opt_name, ms)
        d = worst(losses, final, want_losses, want_final)
        # the wrong variant: L2 Adam for AdamW, else no schedule
        wrong_opt, wrong_ms = ("adam", ms) if opt_name == "adamw" else (opt_name, [])
        dw = worst(*train(params(g["init"]), x, y, spec, wrong_opt, wrong_ms), want_losses, want_final)
        print(f"job {i} {spec['model']} {opt_name} schedule {ms} x {spec['lr_decay_factor']}: losses "
              f"{want_losses[0]:.5f} -> {want_losses[-1]:.5f}, worst relative difference {d:.2e} "
              f"(torch {wrong_opt}{'' if wrong_ms else ' without the schedule'}: {dw:.2e})")
        if not d <= TOL:
            fail(f"job {i}: synsweep and torch differ by {d:.3g} > {TOL}")
        if not dw > WRONG:
            fail(f"job {i}: the wrong variant differs by only {dw:.3g}: the test cannot tell them apart")
    f.close()
    print(f"check_optim_torch: {len(JOBS)} jobs x {STEPS} steps agree with PyTorch {torch.__version__}; "
          "the schedule counts epochs: ok")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
