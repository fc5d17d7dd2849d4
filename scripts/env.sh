# Sourced by the scripts: one OpenBLAS thread per rank, Open MPI usable as root, and the
# data directory defaulting to ../shared/data when it exists.
export OPENBLAS_NUM_THREADS=1
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [ -z "${SYNSWEEP_DATA:-}" ] && [ -d "$(dirname "$0")/../../shared/data" ]; then
  SYNSWEEP_DATA="$(cd "$(dirname "$0")/../../shared/data" && pwd)"
  export SYNSWEEP_DATA
fi
