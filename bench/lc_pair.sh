#!/usr/bin/env bash
# bench_lc and bench/torch_lc.py run alternately, one thread each, N pairs (default 7):
# prints every run's JSON, then the median of the paired torch/synsweep time ratios of one
# forward+backward; then one dynamic sleep (T = 100, batch 128) of each.
#   bench/lc_pair.sh [N]          (after a build into build/)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-7}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
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
