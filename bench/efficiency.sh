#!/usr/bin/env bash
# Parallel efficiency: the same sweep of ~1-second jobs on 1 rank and on 2 ranks; prints
# jobs/s of each and efficiency = rate(2) / (2 x rate(1)).   bench/efficiency.sh [N_JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
n=${1:-16}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cat >"$t/s.yaml" <<Y
fixed: {dataset: mnist, train_per_class: 300, epochs: 45, test_size: 2000, lr: 1.0e-3, snapshots: []}
grid:
  seed: [$(seq -s, 0 $((n - 1)))]
Y
rate() {
  mpirun -n "$1" --oversubscribe build/synsweep run "$t/s.yaml" -o "$t/r$1.h5" --progress 1000 2>&1 |
    sed -n 's/.* jobs in \([0-9.]*\) s after start-up: \([0-9.]*\) jobs\/s/\1 \2/p'
}
read -r s1 r1 < <(rate 1)
read -r s2 r2 < <(rate 2)
mean() { /usr/bin/python3 -c "import h5py; print(round(float(h5py.File('$1')['results']['seconds'].mean()), 3))"; }
echo "jobs: $n; mean job seconds: $(mean "$t/r1.h5") alone, $(mean "$t/r2.h5") two at a time"
echo "1 rank: $s1 s ($r1 jobs/s); 2 ranks: $s2 s ($r2 jobs/s)"
# the same jobs both times, so rate(2) / (2 rate(1)) = t(1) / (2 t(2))
/usr/bin/python3 -c "print('efficiency: %.1f%%' % (100 * $s1 / (2 * $s2)))"
