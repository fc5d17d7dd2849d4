#!/usr/bin/env bash
# The coordinator at scale: N zero-epoch jobs (as bench/coordinator.sh) on RANKS ranks, under
# /usr/bin/time -v (rank 0's peak memory: mpirun's children are timed by their own time), then
# `synsweep status` of the finished file, timed.   bench/coordinator_scale.sh N [RANKS] [KEEP_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
n=${1:-100000} r=${2:-2}
t=${3:-$(mktemp -d)}
mkdir -p "$t"
[ -n "${3:-}" ] || trap 'rm -rf "$t"' EXIT
[ -d "$t/data" ] || build/tests/make_fixture "$t/data" 100 50 4
a=$(( n / 100 ))
{
  echo "fixed: {epochs: 0, hidden: [4], snapshots: [], eval_train: false}"
  echo "grid:"
  echo "  seed: [$(seq -s, 0 $(( a - 1 )))]"
  echo "  init_scale: [$(seq -s, 1 100)]"
} >"$t/s.yaml"
rm -f "$t/r.h5"
echo "== $n zero-epoch jobs, $r ranks"
# rank 0 under its own /usr/bin/time: its peak RSS is the coordinator's
mpirun -n 1 /usr/bin/time -v build/synsweep run "$t/s.yaml" -o "$t/r.h5" --data-dir "$t/data" --progress 100000 \
  : -n $(( r - 1 )) build/synsweep run "$t/s.yaml" -o "$t/r.h5" --data-dir "$t/data" 2>&1 |
  grep -E 'jobs/s|error|synsweep:|Maximum resident|Elapsed|Percent of CPU'
ls -l "$t/r.h5"
s=$(date +%s.%N)
build/synsweep status "$t/r.h5" | head -1
echo "status: $(python3 -c "import time; print(round(time.time() - $s, 2))") s"
