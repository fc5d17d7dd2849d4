#!/usr/bin/env bash
# The same 12-job sweep on 1, 2 and 3 ranks (real mpirun, real MNIST) gives bit-identical
# results, every job exactly once; the files are read back with h5py (check_results.py).
set -euo pipefail
bin=$1 src=$2 mpiexec=$3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for n in 1 2 3; do
  "$mpiexec" -n $n --oversubscribe "$bin" run "$src/sweep12.yaml" -o "$out/n$n.h5" -q
done
/usr/bin/python3 "$src/check_results.py" "$src/sweep12.yaml" "$out/n1.h5" "$out/n2.h5" "$out/n3.h5"
