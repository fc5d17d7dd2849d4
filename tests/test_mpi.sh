#!/usr/bin/env bash
# test_mpi.sh BIN SRC MPIEXEC SWEEP RANKS...: runs the sweep (real mpirun, real data) once
# per rank count; check_results.py reads the files back with h5py, checks every job is
# present exactly once and finished, and that the files are bit-identical to each other.
set -euo pipefail
bin=$1 src=$2 mpiexec=$3 sweep=$4
shift 4
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
files=()
for n in "$@"; do
  "$mpiexec" -n "$n" --oversubscribe "$bin" run "$src/$sweep" -o "$out/n$n.h5" -q
  files+=("$out/n$n.h5")
done
/usr/bin/python3 "$src/check_results.py" "$src/$sweep" "${files[@]}"
