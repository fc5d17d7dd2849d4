#!/usr/bin/env bash
# test_sweeps_expand.sh BIN ROOT: every sweep file the project ships (sweeps/, sweeps/reduced/)
# expands, passes the static checks and prints its predicted cost: a shipped example that a
# parameter change broke fails here, not on a user's cluster.
set -uo pipefail
bin=$1 root=$2
n=0 fail=0
export XDG_CACHE_HOME=$(mktemp -d)   # no calibration: the built-in rates, whatever this host has
trap 'rm -rf "$XDG_CACHE_HOME"' EXIT
for y in "$root"/sweeps/*.yaml "$root"/sweeps/reduced/*.yaml; do
  [ -e "$y" ] || continue
  n=$((n + 1))
  if ! out=$("$bin" expand "$y" --cost 2>&1); then
    echo "FAIL: $y: $(echo "$out" | tail -3)"; fail=$((fail + 1)); continue
  fi
  grep -q "^total " <<<"$out" || { echo "FAIL: $y: no total cost line"; fail=$((fail + 1)); }
done
echo "sweeps_expand: $n sweep files, $fail failed"
[ "$n" -gt 0 ] && [ "$fail" -eq 0 ]
