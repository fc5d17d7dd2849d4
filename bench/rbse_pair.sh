#!/usr/bin/env bash
# bench_rbse N times (default 5), each a whole process on one thread that runs the RBSE and
# then the RBM (CD-1 epochs of 10,000 MNIST images, median of 3 epochs each; then the
# one-shot feature pass): prints every run, then the median and range of the RBSE epoch,
# the RBM epoch, their ratio (the same process: robust to the machine's load) and the
# feature-pass ratios; then instructions per epoch of each model from `perf stat`
# (instructions:u of a 3-epoch minus a 1-epoch process, warm-up included in both, halved).
#   bench/rbse_pair.sh [N]        (after a build into build/; BENCH=path picks another binary;
#                                  N = 0: instruction counts only)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5}
bench=${BENCH:-build/bench_rbse}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), load: $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(for _ in $(seq "$n"); do "$bench" --reps 3; done)
[ "$n" -gt 0 ] && echo "$out" | grep -E '^(RBSE|RBM |features|  RBM batched)'
[ "$n" -gt 0 ] && echo "$out" | /usr/bin/python3 -c '
import re, statistics, sys
t = sys.stdin.read()
se = [float(x) for x in re.findall(r"^RBSE: epoch ([0-9.]+)", t, re.M)]
sm = [float(x) for x in re.findall(r"^RBM : epoch ([0-9.]+)", t, re.M)]
fr = [float(x) for x in re.findall(r"S passes\), ratio ([0-9.]+)", t)]
fb = [float(x) for x in re.findall(r"batched .* ratio ([0-9.]+)", t)]
def show(name, v, unit=""):
    print(f"{name}: median {statistics.median(v):.3f}{unit}, range {min(v):.3f}-{max(v):.3f} ({len(v)} runs)")
show("RBSE epoch", se, " s")
show("RBM epoch", sm, " s")
show("ratio RBSE / RBM (per run)", [a / b for a, b in zip(se, sm)])
if fr: show("feature pass RBSE / (S RBM passes per image)", fr)
if fb: show("feature pass RBSE / (S batched RBM passes)", fb)'
# Instructions per epoch of each model: (3-epoch process - 1-epoch process) / 2, warm-up and
# loading cancel. perf stat's instructions:u where the CPU counters are visible, else
# callgrind on 1,000 images (10 batches; x 10 for the 100-batch epoch).
count() { # model reps -> instructions of one bench_rbse process
  local args=(--model "$1" --reps "$2" --feat-n 0)
  if perf stat -x, -e instructions:u true 2>&1 | grep -q '^[0-9]'; then
    perf stat -x, -e instructions:u "$bench" "${args[@]}" 2>&1 >/dev/null | grep instructions | cut -d, -f1
  else
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" "${args[@]}" --n 1000 2>&1 >/dev/null |
      sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
  fi
}
if grep -q -- --model "$bench"; then # bench_rbse before issue 20 has no --model
  scale=1
  perf stat -x, -e instructions:u true 2>&1 | grep -q '^[0-9]' || scale=10
  for m in rbse rbm; do
    i1=$(count "$m" 1) i3=$(count "$m" 3)
    echo "$m: $(( (i3 - i1) / 2 * scale )) instructions per epoch of 10,000 images"
  done
fi
