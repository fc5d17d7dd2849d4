#!/usr/bin/python3
"""pairs.py: every job kind of sweeps/ against its PyTorch peer, whole process, paired.

For each job: `build/synsweep train <the job's parameters>` launched the plain way (no
OPENBLAS_*, OMP_* or SYNSWEEP_* variables; the data directory as --data-dir), and
bench/torch_job.py with the same job, alternately (the order flips every pair), timed as
whole processes (imports and data loading included on both sides). Reports the median
times, the median of the paired ratios PyTorch/synsweep with their range (the noise of a
shared machine), and the job's dense GEMM floor: the sgemm calls the job's products would
be as dense GEMMs, each timed by bench/gemm_rate under the kernel `synsweep --version`
names. (On MNIST the MLP's first layer multiplies by the nonzero pixels alone, about a fifth
of the dense products: synsweep can run below that floor.)

Jobs: karimi_frozen and karimi_trained are sweeps/karimi_mnist.yaml's job (its fixed:
parameters, the first value of every other grid axis: fc_pool 0, seed 0) with conv_dist
normal and trained (frozen: both sides compute the training and test features once); cheon_fa and cheon_fa_noise are the Cheon FA job, MLP [784, 100, 10]
on all 60,000 images, 20 epochs, batch 64, Adam lr 1e-4, evaluated every epoch (the
default eval_every 1), without and with the noise phase as sweeps/demo.yaml defines it
(60,000 noise examples, one noise epoch; noise_lr = lr as in the demo).

    bench/pairs.py [--pairs N] [--quick] [--jobs a,b] [--data-dir DIR] [--no-build]
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAIN_ENV = {k: v for k, v in os.environ.items()
             if not k.startswith(("OPENBLAS_", "OMP_", "SYNSWEEP_", "GOTO_", "MKL_"))}


def karimi(conv_dist):
    with open(os.path.join(ROOT, "sweeps", "karimi_mnist.yaml")) as f:
        sw = yaml.safe_load(f)
    p = dict(sw["fixed"])
    for k, vals in sw["grid"].items():
        p[k] = vals[0]
    p["conv_dist"] = conv_dist
    assert p["model"] == "cnn" and p["fc_pool"] == 0 and p.get("conv_padding", "valid") == "valid"
    return p


def cheon(noise):
    p = {"dataset": "mnist", "model": "mlp", "hidden": [100], "rule": "fa_noise" if noise else "fa",
         "epochs": 20, "batch_size": 64, "optimizer": "adam", "lr": 1e-4, "eval_every": 1, "seed": 0}
    if noise:
        p.update({"noise_examples": 60000, "noise_epochs": 1, "noise_lr": 1e-4})
    return p


def synsweep_args(p):
    out = []
    for k, v in p.items():
        out += ["--" + k, ",".join(map(str, v)) if isinstance(v, list) else str(v)]
    return out


def torch_args(p):
    """The same job for torch_job.py; refuses parameters it does not implement."""
    known = {"dataset", "model", "hidden", "rule", "epochs", "batch_size", "optimizer", "lr",
             "eval_every", "seed", "train_per_class", "conv_dist", "conv_kernels", "conv_size",
             "preprocess", "snapshots", "fc_pool", "noise_examples", "noise_epochs", "noise_lr"}
    assert set(p) <= known, set(p) - known
    assert p["dataset"] == "mnist" and p["optimizer"] == "adam" and p.get("preprocess", "unit") == "unit"
    assert len(p["hidden"]) == 1 and p.get("fc_pool", 0) == 0 and p.get("noise_epochs", 1) == 1
    a = ["--model", p["model"], "--rule", "fa" if p["rule"].startswith("fa") else p["rule"],
         "--hidden", str(p["hidden"][0]), "--epochs", str(p["epochs"]), "--batch", str(p["batch_size"]),
         "--lr", str(p["lr"]), "--eval-every", str(p["eval_every"]), "--seed", str(p["seed"]),
         "--train-per-class", str(p.get("train_per_class", 0))]
    if p["model"] == "cnn":
        a += ["--conv-dist", p["conv_dist"], "--conv-kernels", str(p["conv_kernels"]),
              "--conv-size", str(p["conv_size"])]
    if p["rule"] == "fa_noise":
        a += ["--noise-examples", str(p["noise_examples"]), "--noise-lr", str(p["noise_lr"])]
    return a


def gemm_calls(p, n_train_split=60000, n_test=10000):
    """{(ta, tb, M, N, K): calls} of the job, counted in full batches (fractions allowed)."""
    B, E = p["batch_size"], p["epochs"]
    n_tr = 10 * p["train_per_class"] if p.get("train_per_class") else n_train_split
    ev = p["eval_every"]
    n_evals = (E - 1) // ev + 1 if ev else 1  # the final evaluation is one of them
    # the test readouts before training: at init, and after the noise phase
    n_readouts = 1 + (p["rule"] == "fa_noise")
    calls = {}

    def add(shape, n):
        calls[shape] = calls.get(shape, 0.0) + n

    if p["model"] == "cnn":
        k, s = p["conv_kernels"], p["conv_size"]
        side = 28 - s + 1
        sizes = [k * (side // 2) ** 2] + p["hidden"] + [10]
        conv_fwd, conv_bwd = (k, side * side, s * s), (k, s * s, side * side)
        trained = p["conv_dist"] == "trained"
        train_imgs, eval_tr, eval_te = n_tr * E, n_tr * n_evals, n_test * (n_evals + n_readouts)
        # frozen: training and test features once (cached: n_test x features fit the default
        # cache_budget_mb); trained: every step and every evaluation
        add((0, 0) + conv_fwd, train_imgs + eval_tr + eval_te if trained else n_tr + n_test)
        if trained:
            add((0, 1) + conv_bwd, train_imgs)
    else:
        sizes = [784] + p["hidden"] + [10]
        train_imgs = n_tr * E + (p.get("noise_examples", 0) if p["rule"] == "fa_noise" else 0)
        eval_tr, eval_te = n_tr * n_evals, n_test * (n_evals + n_readouts)
        trained = False
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        add((0, 1, B, o, i), (train_imgs + eval_tr + eval_te) / B)  # forward
        add((1, 0, o, i, B), train_imgs / B)  # dW
        if l > 0 or trained:
            add((0, 0, B, i, o), train_imgs / B)  # dX
        if l < len(sizes) - 2:
            add((1, 0, o, o, B), n_test / B)  # the final pass's Gram matrix
    return calls


CPU = []  # CPU seconds of each run, in order


def run(cmd):
    """Wall seconds (the figure compared) and CPU seconds (user + system: what a busy shared
    machine disturbs less) of one whole process, and its JSON output."""
    t, ru = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, env=PLAIN_ENV, capture_output=True, text=True, cwd="/tmp")
    dt = time.perf_counter() - t
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(ru2.ru_utime + ru2.ru_stime - ru.ru_utime - ru.ru_stime)
    if r.returncode:
        sys.exit(f"pairs.py: {' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return dt, json.loads(r.stdout[r.stdout.index("{"):])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one pair per job")
    ap.add_argument("--jobs", default="karimi_frozen,karimi_trained,cheon_fa,cheon_fa_noise")
    ap.add_argument("--data-dir", default=os.environ.get("SYNSWEEP_DATA", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    pairs = 1 if a.quick else a.pairs
    data = os.path.abspath(a.data_dir)
    build = os.path.join(ROOT, "build")
    if not a.no_build:
        subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", build, "-j2", "--target", "synsweep", "gemm_rate"], check=True, stdout=subprocess.DEVNULL)
    syn = os.path.join(build, "synsweep")
    version = subprocess.run([syn, "--version"], env=PLAIN_ENV, capture_output=True, text=True, check=True).stdout.strip()
    kernel = version.split("kernel ")[1].split(",")[0]
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    torch_v = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"],
                             capture_output=True, text=True).stdout.strip()
    print(f"cpu: {cpu} ({os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start)")
    print(f"synsweep: {version}; PyTorch {torch_v}; {pairs} pair(s) per job, order alternating")

    jobs = {"karimi_frozen": karimi("normal"), "karimi_trained": karimi("trained"),
            "cheon_fa": cheon(False), "cheon_fa_noise": cheon(True)}
    # the GEMM floor: every distinct shape timed once under synsweep's kernel
    shapes = sorted({s for name in a.jobs.split(",") for s in gemm_calls(jobs[name])})
    env = dict(PLAIN_ENV, OPENBLAS_CORETYPE=kernel)
    out = subprocess.run([os.path.join(build, "gemm_rate")] + [",".join(map(str, s)) for s in shapes],
                         env=env, capture_output=True, text=True, check=True).stdout.split("\n")
    sec = {tuple(map(int, l.split()[:5])): float(l.split()[5]) for l in out if l.strip()}

    rows = []
    for name in a.jobs.split(","):
        p = jobs[name]
        calls = gemm_calls(p)
        floor = sum(n * sec[s] for s, n in calls.items())
        gflop = sum(n * 2 * s[2] * s[3] * s[4] for s, n in calls.items()) / 1e9
        cmd_s = [syn, "train", "--data-dir", data] + synsweep_args(p)
        cmd_t = ["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_job.py"), "--data-dir", data] + torch_args(p)
        print(f"\n== {name}: {' '.join(cmd_s[1:])}\n   {' '.join(cmd_t[1:])}", flush=True)
        ts, tt, tj, ratios, cpu_ratios = [], [], [], [], []
        for i in range(pairs):
            first_s = i % 2 == 0
            r1 = run(cmd_s if first_s else cmd_t)
            r2 = run(cmd_t if first_s else cmd_s)
            (s_dt, s_js), (t_dt, t_js) = (r1, r2) if first_s else (r2, r1)
            s_cpu, t_cpu = (CPU[-2], CPU[-1]) if first_s else (CPU[-1], CPU[-2])
            cpu_ratios.append(t_cpu / s_cpu)
            ts.append(s_dt), tt.append(t_dt), tj.append(t_js["job_s"]), ratios.append(t_dt / s_dt)
            print(f"   pair {i + 1}: synsweep {s_dt:.2f} s (test_acc {s_js['metrics']['test_acc']:.4f}), "
                  f"pytorch {t_dt:.2f} s (job {t_js['job_s']:.2f} s, test_acc {t_js['test_acc']:.4f}), "
                  f"ratio {t_dt / s_dt:.2f}; CPU s {s_cpu:.2f} vs {t_cpu:.2f}, ratio {t_cpu / s_cpu:.2f}", flush=True)
        rows.append((name, statistics.median(ts), statistics.median(tt), statistics.median(tj),
                     statistics.median(ratios), min(ratios), max(ratios), gflop, floor,
                     statistics.median(cpu_ratios)))

    print(f"\n| job | synsweep s | PyTorch s (job only) | PyTorch/synsweep, median [range] | same in CPU s | dense GEMM GFLOP | dense GEMM floor s | synsweep/floor |")
    print("|---|---|---|---|---|---|---|---|")
    for n, s, t, j, r, lo, hi, gf, fl, cr in rows:
        print(f"| {n} | {s:.2f} | {t:.2f} ({j:.2f}) | {r:.2f}x [{lo:.2f}-{hi:.2f}] | {cr:.2f}x | {gf:.1f} | {fl:.2f} | {s / fl:.1f}x |")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


main()
