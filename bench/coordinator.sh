#!/usr/bin/env bash
# Coordinator overhead: a sweep of N zero-epoch jobs (a tiny synthetic dataset, hidden [4],
# no snapshots) so that the time is dispatch, messages and the HDF5 file, not training.
# Prints the throughput line of each run.   bench/coordinator.sh [N_JOBS] [RANKS ...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
n=${1:-10000}; shift || true
ranks=${*:-2}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
build/tests/make_fixture "$t/data" 100 50 4
a=$(( n / 100 ))
{
  echo "fixed: {epochs: 0, hidden: [4], snapshots: [], eval_train: false}"
  echo "grid:"
  echo "  seed: [$(seq -s, 0 $(( a - 1 )))]"
  echo "  init_scale: [$(seq -s, 1 100)]"
} >"$t/s.yaml"
for r in $ranks; do
  echo "== $n zero-epoch jobs, $r ranks"
  mpirun -n "$r" --oversubscribe build/synsweep run "$t/s.yaml" -o "$t/r$r.h5" \
    --data-dir "$t/data" --progress 1000 2>&1 | grep -E 'jobs/s|error|synsweep:'
done
