# Sourced by the scripts and by hand (`. scripts/env.sh`, bash): Open MPI usable as root,
# and the data directory defaulting to ../shared/data when it exists. The data is found
# relative to this file (BASH_SOURCE), not to $0, which is the shell itself when sourced
# interactively.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
synsweep_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
if [ -z "${SYNSWEEP_DATA:-}" ] && [ -d "$synsweep_root/../shared/data" ]; then
  SYNSWEEP_DATA="$(cd "$synsweep_root/../shared/data" && pwd)"
  export SYNSWEEP_DATA
fi
unset synsweep_root
# No OPENBLAS_* variables: synsweep itself runs one OpenBLAS thread per rank and the best
# kernel the CPU supports (src/main.c, blas_choose; `synsweep --version` names it).
