#!/usr/bin/env bash
# Memory at scale: the same MNIST sweep on 1, 2 and 4 ranks; sums each rank's proportional
# set size (PSS: shared pages split among the ranks that map them) at the end of the run.
# With one shared copy of the dataset per node, each added rank costs its own working set,
# not another copy of MNIST (47 MB of training images + 7.8 MB of test images as bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cat >"$t/s.yaml" <<Y
fixed: {dataset: mnist, train_per_class: 50, epochs: 2, test_size: 1000, snapshots: []}
grid:
  seed: [0, 1, 2, 3, 4, 5, 6, 7]
Y
for n in 1 2 4; do
  SYNSWEEP_REPORT_MEMORY=1 mpirun -n $n --oversubscribe build/synsweep run "$t/s.yaml" -o "$t/r$n.h5" -q 2>&1 |
    awk -v n=$n '/memory rank/ {rss += $6; pss += $9; k++} END {printf "%d rank(s): total PSS %.1f MB, total RSS %.1f MB (%d ranks reported)\n", n, pss/1024, rss/1024, k}'
done
