#!/usr/bin/env bash
# One `synsweep train --model resnet` job (CIFAR-10, ResNet-20, batch 512, AdamW, crop_flip,
# one epoch) and its PyTorch peer bench/torch_resnet.py, each a whole process launched
# plainly, run alternately N times (default 3), with OLD (a synsweep binary from before a
# change) as a third member of each round if given; prints each run's wall and CPU seconds
# and the load average before it, then the medians and the median of the per-round ratios
# torch / synsweep.
#   bench/resnet_pair.sh [N] [conv|lc] [TRAIN_SIZE] [TEST_SIZE] [OLD]    (after a build into build/)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
n=${1:-3} lt=${2:-conv} ntr=${3:-5120} nte=${4:-1000} old=${5:-}
job=(--dataset cifar10 --model resnet --resnet_n 3 --resnet_width 16 --train_size "$ntr" --test_size "$nte"
     --batch_size 512 --epochs 1 --optimizer adamw --lr 0.01 --weight_decay 1e-4 --augment crop_flip
     --preprocess standardize --snapshots "" --layer_type "$lt")
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores; job: ${job[*]}"
timed() {  # NAME COMMAND...: one JSON line
  local name=$1 load
  shift
  load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f "%e %U %S" -o /tmp/resnet_pair.$$ "$@" > /dev/null
  read -r wall user sys < /tmp/resnet_pair.$$
  echo "{\"impl\": \"$name\", \"wall_s\": $wall, \"cpu_s\": $(echo "$user + $sys" | bc), \"load\": $load}"
}
out=$(for _ in $(seq "$n"); do
  timed synsweep build/synsweep train "${job[@]}"
  [ -n "$old" ] && timed old "$old" train "${job[@]}"
  timed torch /usr/bin/python3 bench/torch_resnet.py --layer_type "$lt" --train_size "$ntr" --test_size "$nte"
done)
rm -f /tmp/resnet_pair.$$
echo "$out"
echo "$out" | /usr/bin/python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin]
get = lambda impl, k: [r[k] for r in rows if r["impl"] == impl]
res = {"pairs": len(get("torch", "wall_s")), "load_median": statistics.median(r["load"] for r in rows)}
for impl in ("synsweep", "old", "torch"):
    if get(impl, "wall_s"):
        res[impl + "_wall_median_s"] = statistics.median(get(impl, "wall_s"))
        res[impl + "_cpu_median_s"] = statistics.median(get(impl, "cpu_s"))
        if impl != "torch":
            res["torch_over_" + impl] = round(statistics.median(
                t / s for s, t in zip(get(impl, "wall_s"), get("torch", "wall_s"))), 2)
print(json.dumps(res))'
