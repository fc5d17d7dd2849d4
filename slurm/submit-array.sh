#!/usr/bin/env bash
# slurm/submit-array.sh SWEEP.yaml N [OUT]: submits N shard tasks (slurm/array.sbatch) and
# a merge job that runs once all have succeeded (slurm/merge.sbatch). Prints both job ids.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: slurm/submit-array.sh SWEEP.yaml N [OUT]" >&2; exit 2; }
SWEEP=$1 N=$2 OUT=${3:-results/$(basename "$1" .yaml).h5}
here=$(dirname "$0")
array=$(SWEEP=$SWEEP OUT=$OUT sbatch --parsable --array=0-$((N - 1)) --export=ALL "$here/array.sbatch")
merge=$(SWEEP=$SWEEP OUT=$OUT N=$N sbatch --parsable --dependency=afterok:"$array" --export=ALL "$here/merge.sbatch")
echo "array $array merge $merge"
