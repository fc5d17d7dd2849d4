#!/usr/bin/env bash
# test_lc_sweep.sh BIN SRC MPIEXEC: tests/sweep_lc.yaml on 2 ranks (real mpirun, real MNIST),
# then check_lc.py reads the results file back with h5py.
set -euo pipefail
bin=$1 src=$2 mpiexec=$3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$mpiexec" -n 2 --oversubscribe "$bin" run "$src/sweep_lc.yaml" -o "$out/lc.h5" -q
/usr/bin/python3 "$src/check_lc.py" "$src/sweep_lc.yaml" "$out/lc.h5"
