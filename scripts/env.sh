# Sourced by the scripts and by hand (`. scripts/env.sh`, bash): one OpenBLAS thread per
# rank, Open MPI usable as root, and the data directory defaulting to ../shared/data when it
# exists. The data is found relative to this file (BASH_SOURCE), not to $0, which is the
# shell itself when sourced interactively.
export OPENBLAS_NUM_THREADS=1
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
synsweep_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
if [ -z "${SYNSWEEP_DATA:-}" ] && [ -d "$synsweep_root/../shared/data" ]; then
  SYNSWEEP_DATA="$(cd "$synsweep_root/../shared/data" && pwd)"
  export SYNSWEEP_DATA
fi
unset synsweep_root
# Debian 12's OpenBLAS (0.3.21) does not recognise AVX-512 AMD Zen 4 cores and falls back to
# its AVX2 (Haswell) kernels; on any CPU with the AVX-512 subsets its SkylakeX kernels need,
# select them (docs/PERFORMANCE.md: 0.234 -> 0.155 s per MNIST epoch). Ranks of one run share
# the setting, so results stay bit-identical across ranks.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo)
  case "$flags" in
    *avx512f*avx512dq*avx512cd*avx512bw*avx512vl*) export OPENBLAS_CORETYPE=SkylakeX ;;
  esac
fi
