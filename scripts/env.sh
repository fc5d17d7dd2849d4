# Sourced by the scripts: Open MPI usable as root, and the data directory defaulting to
# ../shared/data when it exists.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [ -z "${SYNSWEEP_DATA:-}" ] && [ -d "$(dirname "$0")/../../shared/data" ]; then
  SYNSWEEP_DATA="$(cd "$(dirname "$0")/../../shared/data" && pwd)"
  export SYNSWEEP_DATA
fi
# No OPENBLAS_* variables: synsweep itself runs one OpenBLAS thread per rank and the best
# kernel the CPU supports (src/main.c, blas_choose; `synsweep --version` names it).
