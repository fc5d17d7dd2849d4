#!/usr/bin/env bash
# test_resnet_torch.sh DUMP SRC: model resnet against PyTorch (tests/check_resnet_torch.py) for
# conv and LC layers under SGD (momentum, weight decay) and Adam: 20 steps each from synsweep's
# initial weights on the same batches, and each step again from synsweep's state before it. Exits 77 (skipped) when python3-torch is missing.
set -euo pipefail
dump=$1 src=$2
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "no python3-torch: skipped"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args=()
for lt in conv lc; do
  for opt in sgd adam; do
    mkdir "$out/$lt$opt"
    "$dump" "$out/$lt$opt" $lt $opt
    args+=("$out/$lt$opt" $lt)
  done
done
/usr/bin/python3 "$src/check_resnet_torch.py" "${args[@]}"
