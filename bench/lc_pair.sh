#!/usr/bin/env bash
# bench_lc and bench/torch_lc.py run alternately, one thread each, N pairs (default 7):
# prints every run's JSON, then the median of the paired torch/synsweep time ratios of one
# forward+backward; then one dynamic sleep (T = 100, batch 128) of each.
#   bench/lc_pair.sh [N]          (after a build into build/)
#
# floor mode: two bench_lc binaries (before and after a change) run alternately, N rounds
# (default 3), on the layers the sweeps use: the lc kind of sweeps/lc_sleep.yaml (batch 64,
# 3 -> 16 channels at 32 x 32 without input gradient, 16 -> 16 at 16 x 16, 5 x 5) and the
# ResNet-20 LC layers (3 x 3; the stem 3 -> 16 at 32 x 32 without input gradient, 16, 32 and
# 64 planes at 32, 16 and 8, the two stride-2 ones) at batch 512 and 128; then the dynamic
# sleep of the lc kind's two layers and of the default layer. The ResNet layers run as the
# resnet kind runs them (bench_lc --layout, --bias 0), and the lc kind's in its layout with
# their bias, where a binary has the flags (else batch-first with a bias; both binaries alike).
# Prints every run's JSON, then
# per layer the medians: wall and CPU seconds of each, CPU seconds over its own GEMM floor and
# over NEW's (the ratio to compare: an older bench_lc may time the floor another way).
#   bench/lc_pair.sh floor OLD_BENCH_LC NEW_BENCH_LC [N]
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-); load: $(cat /proc/loadavg)"
if [ "${1:-}" = floor ]; then
  old=$2 new=$3 n=${4:-3}
  # the lc kind's two layers as it runs them since 7a70ef1: batch-last output (`:2`), both
  # sides (`:3`), with their bias (`:1`)
  layers=("--B 64 --C 3 --O 16 --H 32 --K 5 --dx 0:2:1" "--B 64 --C 16 --O 16 --H 16 --K 5:3:1")
  # the ResNet layers as the resnet kind runs them: in its layout (`:2` stem: batch-last
  # output; `:3` the others: both sides) and without bias, passed as --layout L --bias 0 to a
  # bench_lc that has the flags (an older one runs them batch-first with a bias)
  for b in 512 128; do
    layers+=("--B $b --C 3 --O 16 --H 32 --K 3 --dx 0:2" "--B $b --C 16 --O 16 --H 32 --K 3:3"
             "--B $b --C 16 --O 32 --H 32 --K 3 --st 2:3" "--B $b --C 32 --O 32 --H 16 --K 3:3"
             "--B $b --C 32 --O 64 --H 16 --K 3 --st 2:3" "--B $b --C 64 --O 64 --H 8 --K 3:3")
  done
  has_layout() { "$1" --layout 0 --bias 1 --B 1 --C 1 --O 1 --H 1 --K 1 --reps 1 --sleep-reps 0 > /dev/null 2>&1; }
  lo_old=0 lo_new=0
  has_layout "$old" && lo_old=1
  has_layout "$new" && lo_new=1
  sleeps=("--C 3 --O 16 --H 32 --K 5" "--C 16 --O 16 --H 16 --K 5" "--C 32 --O 32 --H 16 --K 3")
  out=$(for spec in "${layers[@]}"; do IFS=: read -r l lo bias <<< "$spec"; lo=${lo:-0} bias=${bias:-0}
        for _ in $(seq "$n"); do
          for v in old new; do b=$old has=$lo_old; [ $v = new ] && b=$new has=$lo_new
            a=(); [ "$has" = 1 ] && [ "$lo" != 0 ] && a=(--layout "$lo" --bias "$bias")
            $b $l "${a[@]}" --reps 5 --sleep-reps 0 | sed "s/^{/{\"version\": \"$v\", /"; done; done; done
        for l in "${sleeps[@]}"; do for _ in $(seq "$n"); do
          for v in old new; do b=$old; [ $v = new ] && b=$new
            $b $l --B 8 --reps 1 --sleep-reps 1 | sed "s/^{/{\"version\": \"$v\", \"sleep_only\": 1, /"; done; done; done)
  echo "$out"
  echo "load after: $(cat /proc/loadavg)"
  echo "$out" | /usr/bin/python3 -c '
import collections, json, statistics, sys
rows = [json.loads(l) for l in sys.stdin]
med = lambda v: statistics.median(v)
by = collections.defaultdict(list)
for r in rows:
    by[(r["layer"], r.get("sleep_only", 0), r["version"])].append(r)
for (layer, sl, v) in sorted(by, key=lambda k: (k[1], k[0], k[2] != "old")):
    rs = by[(layer, sl, v)]
    if sl:
        print("sleep %s %s: wall %.3f s, CPU %.3f s, GEMM floor %.3f s, CPU / floor %.2f" % (layer.split(" st")[0].replace(" B8", ""), v,
              med([r["sleep_s"] for r in rs]), med([r["sleep_cpu_s"] for r in rs]),
              med([r["sleep_floor_cpu_s"] for r in rs]), med([r["sleep_over_floor"] for r in rs])))
    else:  # both versions over the new binary floor (an older bench_lc may time it another way)
        nf = med([r["floor_cpu_s"] for r in by.get((layer, sl, "new"), rs)])
        print("%s %s: wall %.2f ms, CPU %.2f ms, own GEMM floor %.2f ms, CPU / own floor %.2f, CPU / new floor %.2f" % (
              layer, v, 1e3 * med([r["fwd_bwd_s"] for r in rs]), 1e3 * med([r["fwd_bwd_cpu_s"] for r in rs]),
              1e3 * med([r["floor_cpu_s"] for r in rs]), med([r["over_floor"] for r in rs]),
              med([r["fwd_bwd_cpu_s"] for r in rs]) / nf))'
  exit 0
fi
n=${1:-7}
out=$(for _ in $(seq "$n"); do
  build/bench_lc --sleep-reps 0
  /usr/bin/python3 bench/torch_lc.py --sleep-reps 0
done)
echo "$out"
echo "$out" | /usr/bin/python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin]
c = [r["fwd_bwd_s"] for r in rows if r["impl"] == "synsweep"]
t = [r["fwd_bwd_s"] for r in rows if r["impl"] != "synsweep"]
ratios = [b / a for a, b in zip(c, t)]
print(json.dumps({"pairs": len(ratios), "synsweep_median_s": statistics.median(c),
                  "torch_median_s": statistics.median(t),
                  "median_ratio_torch_over_synsweep": round(statistics.median(ratios), 2)}))'
build/bench_lc --reps 3 --sleep-reps 3
/usr/bin/python3 bench/torch_lc.py --reps 3 --sleep-reps 1
