#!/usr/bin/env bash
# Runs every benchmark in one go, synsweep and its PyTorch peer side by side, one thread
# each:   bench/run.sh            (figures: docs/PERFORMANCE.md)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --bench
scripts/build.sh
. scripts/env.sh
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
# The same pair under the environment's OpenBLAS kernels and under its AVX-512 ones.
for ct in "${OPENBLAS_CORETYPE:-}" SkylakeX; do
  echo "== one training epoch, MLP [784,100,10], 60000 MNIST images, batch 64, Adam, 1 thread," \
       "OPENBLAS_CORETYPE=${ct:-auto}"
  for rule in fa bp; do
    OPENBLAS_CORETYPE=$ct build/bench_mlp --rule "$rule"
    OPENBLAS_CORETYPE=$ct /usr/bin/python3 bench/torch_mlp.py --rule "$rule"
  done
  echo "== Karimi et al. MNIST job: frozen N(0,1) conv 64x5x5, FC 64-10, 380 images, 100 epochs," \
       "then 10,000 test images, 1 thread, OPENBLAS_CORETYPE=${ct:-auto}"
  OPENBLAS_CORETYPE=$ct build/bench_cnn
  OPENBLAS_CORETYPE=$ct build/bench_cnn --cache false
  OPENBLAS_CORETYPE=$ct /usr/bin/python3 bench/torch_cnn.py
done
echo "== coordinator overhead"
bench/coordinator.sh 10000 2
