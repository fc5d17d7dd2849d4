#!/usr/bin/env bash
# test_resnet_sweep.sh BIN SRC MPIEXEC: tests/sweep_resnet.yaml on 2 ranks (real mpirun, real
# CIFAR-10), then check_resnet.py reads the results file back with h5py.
set -euo pipefail
bin=$1 src=$2 mpiexec=$3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$mpiexec" -n 2 --oversubscribe "$bin" run "$src/sweep_resnet.yaml" -o "$out/resnet.h5" -q
/usr/bin/python3 "$src/check_resnet.py" "$out/resnet.h5"
