#!/usr/bin/env bash
# Sets up, builds and runs the demo sweep (sweeps/demo.yaml) on 2 MPI ranks -> results/demo.h5.
# An earlier results/demo.h5 is kept, renamed with its modification time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
. scripts/env.sh
mkdir -p results
if [ -e results/demo.h5 ]; then
  old="results/demo.$(date -r results/demo.h5 +%Y%m%d-%H%M%S).h5"
  mv -n results/demo.h5 "$old" && echo "demo: kept the previous results as $old" >&2
fi
mpirun -n 2 --oversubscribe build/synsweep run sweeps/demo.yaml -o results/demo.h5
