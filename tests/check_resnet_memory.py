#!/usr/bin/python3
"""check_resnet_memory.py SYNSWEEP: model resnet's memory estimate (ModelKind.memory) is honest.
For conv and lc layers (and lc under fa with the dynamic sleep), one `synsweep train` job on real CIFAR-10 images: the job's own memory,
its peak RSS less that of an mlp job on the same data (the process, MPI and the loaded
dataset), must be at most the estimate (which `--memory-budget` reports when it refuses the
job) and at least a third of it (an estimate that refuses jobs needlessly is not honest
either)."""
import os
import re
import subprocess
import sys

UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}
COMMON = ["--dataset", "cifar10", "--train_size", "256", "--test_size", "128", "--batch_size", "64",
          "--epochs", "1"]


def peak_rss(cmd):
    """Peak RSS (bytes) of cmd run to completion."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{' '.join(cmd)}: failed: {p.stderr.read().decode()}")
    return usage.ru_maxrss * 1024


def estimate(cmd):
    r = subprocess.run(cmd + ["--memory-budget", "0.000001"], capture_output=True, text=True)
    m = re.search(r"estimated to need ([0-9.]+) (B|kB|MB|GB)", r.stderr)
    if not m:
        sys.exit(f"no estimate in: {r.stderr}")
    return float(m.group(1)) * UNITS[m.group(2)]


def check(bin_, lt, base, extra=()):
    """Whether the lc or conv job's own peak memory is within [estimate / 3, estimate]."""
    cmd = [bin_, "train", "--model", "resnet", "--resnet_n", "1", "--layer_type", lt] + COMMON + list(extra)
    est, rss = estimate(cmd), peak_rss(cmd)
    own = rss - base
    ok = est / 3 <= own <= est
    print(f"resnet {lt} {' '.join(extra)}: peak RSS {rss / 1e6:.0f} MB, mlp baseline {base / 1e6:.0f} MB, "
          f"own {own / 1e6:.0f} MB, estimate {est / 1e6:.0f} MB: {'ok' if ok else 'FAIL'}")
    return ok


def main():
    base = peak_rss([sys.argv[1], "train", "--model", "mlp"] + COMMON)
    ok = [check(sys.argv[1], lt, base) for lt in ("conv", "lc")]
    # fa's feedback tensor and the dynamic sleep's scratch (one sleep in the job's 4 steps)
    ok.append(check(sys.argv[1], "lc", base, ["--rule", "fa", "--sleep", "dynamic", "--sleep_every", "4"]))
    print(f"resnet_memory: {sum(ok)} passed, {len(ok) - sum(ok)} failed")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
