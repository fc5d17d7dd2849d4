#!/usr/bin/env bash
# Shared stages against none (docs/PERFORMANCE.md, "Shared stages"): each sweep run whole,
# as a user runs it (mpirun -n 2 synsweep run SWEEP), with the stage cache (the default) and
# with --no-stage-cache, in N interleaved pairs (default 2); prints each run's wall time, the
# median ratio, and checks the pair's files bit-identical but stage_seconds_saved.
#   bench/stage_pair.sh [N] [SWEEP...]   (default: sweeps/rbse_oneshot.yaml and
#                                         sweeps/reduced/cheon_trainsize.yaml; binary build/synsweep)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2}
shift || true
sweeps=("$@")
[ ${#sweeps[@]} -gt 0 ] || sweeps=(sweeps/rbse_oneshot.yaml sweeps/reduced/cheon_trainsize.yaml)
bin=${SYNSWEEP:-build/synsweep}
mpi=${MPIEXEC:-mpirun}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
wall() { # label out args... -> seconds
  local s e
  s=$(date +%s.%N)
  "$mpi" -n 2 --oversubscribe "$bin" run "${@:2}" -o "$1" -q
  e=$(date +%s.%N)
  /usr/bin/python3 -c "print(f'{$e - $s:.1f}')"
}
for sw in "${sweeps[@]}"; do
  on=() off=()
  for i in $(seq "$n"); do
    rm -f "$t"/*.h5
    a=$(wall "$t/on.h5" "$sw")
    b=$(wall "$t/off.h5" "$sw" --no-stage-cache)
    on+=("$a") off+=("$b")
    echo "$sw pair $i: shared $a s, not shared $b s, ratio $(/usr/bin/python3 -c "print(f'{$b / $a:.2f}')"), load $(cut -d' ' -f1 /proc/loadavg)"
    /usr/bin/python3 tests/ident/compare.py --skip stage_seconds_saved "$t/on.h5" "$t/off.h5" >/dev/null ||
      { echo "$sw: the files differ"; exit 1; }
  done
  /usr/bin/python3 -c "
import statistics as s, sys
a = [float(x) for x in '${on[*]}'.split()]; b = [float(x) for x in '${off[*]}'.split()]
r = [y / x for x, y in zip(a, b)]
print(f'$sw: shared median {s.median(a):.1f} s, not shared {s.median(b):.1f} s, speed-up median {s.median(r):.2f}x '
      f'(range {min(r):.2f}-{max(r):.2f}, {len(r)} pairs); files bit-identical but stage_seconds_saved')"
done
