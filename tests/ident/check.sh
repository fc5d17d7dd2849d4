#!/usr/bin/env bash
# tests/ident/check.sh OLD_SYNSWEEP NEW_SYNSWEEP: runs the same sweeps with both binaries, one
# per model kind family (mlp: every rule and optimiser, with noise phase and meta-loss; cnn:
# frozen and trained conv, both FC readings; lc and lc_conv with instant and dynamic sleep;
# rbse, rbm and pixels; resnet: conv by Winograd, bp and fa, and lc with its sleeps), and compares the files bit for bit (compare.py). A restructuring
# that must not move a number runs this with the binary before it and the one after.
set -euo pipefail
old=$1 new=$2
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
rc=0
for s in "$here/mlp.yaml" "$here/cnn.yaml" "$here/../sweep_lc.yaml" "$here/../sweep_rbse.yaml" "$here/resnet.yaml"; do
  n=$(basename "$s" .yaml)
  "$old" run "$s" -o "$t/old_$n.h5" -q
  "$new" run "$s" -o "$t/new_$n.h5" -q
  /usr/bin/python3 "$here/compare.py" --skip stage_seconds_saved "$t/old_$n.h5" "$t/new_$n.h5" || rc=1
done
exit $rc
