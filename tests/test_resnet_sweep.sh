#!/usr/bin/env bash
# test_resnet_sweep.sh BIN SRC MPIEXEC: tests/sweep_resnet.yaml on 2 ranks (real mpirun, real
# CIFAR-10), then check_resnet.py reads the results file back with h5py.
set -euo pipefail
bin=$1 src=$2 mpiexec=$3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$mpiexec" -n 2 --oversubscribe "$bin" run "$src/sweep_resnet.yaml" -o "$out/resnet.h5" -q
/usr/bin/python3 "$src/check_resnet.py" "$out/resnet.h5"
# the LC study reads a resnet file: conv rows are the conv baseline, not "LC, no sharing"
mkdir "$out/fig"
t=$(/usr/bin/python3 "$src/../analysis/lc_study.py" "$out/resnet.h5" -o "$out/fig")
for c in "| conv (ResNet) | 2 |" "| LC, no sharing | 1 |" "| LC, instant every 4 | 1 |"; do
  grep -qF "$c" <<<"$t" || { echo "FAIL: lc_study.py on a resnet file: no row '$c':"; echo "$t"; exit 1; }
done
# the meta-loss trains copies of the network on other tasks and must leave it as it was, BatchNorm's
# running statistics (fixed tensors) included: a job's test loss is the same with and without it
loss() {
  local j
  j=$("$bin" train --model resnet --resnet_n 1 --resnet_width 4 --dataset mnist --train_size 100 --test_size 200 \
        --epochs 1 "$@" 2>/dev/null) || { echo "train failed: $*"; return; }
  grep -m1 '"test_loss"' <<<"$j"
}
a=$(loss) b=$(loss --meta_tasks fashion_mnist)
[ -n "$a" ] && [ "$a" = "$b" ] || { echo "FAIL: the meta-loss changed the job: $a vs $b"; exit 1; }
echo "meta-loss leaves the network (BN statistics included) unchanged: $a"
