#!/usr/bin/env bash
# test_readme.sh BIN ROOT: runs every command of the README's "Use" block, as written, one after
# the other in one bash (so `. scripts/env.sh` carries over), in a copy of the checkout whose
# build/synsweep is BIN. Each command has README_BUDGET seconds (default 60); a `run` that is
# still going then (a long paper sweep) passes only if it started correctly: SIGTERM makes it
# checkpoint, and `synsweep status` must read its results file with every job of the sweep.
set -uo pipefail
bin=$(readlink -f "$1") root=$(readlink -f "$2")
budget=${README_BUDGET:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/build"
ln -s "$bin" "$work/build/synsweep"
for d in sweeps scripts analysis slurm docs; do ln -s "$root/$d" "$work/$d"; done
# the Use section's first indented block
mapfile -t cmds < <(awk '/^## Use/{u=1; next} u && /^## /{exit} u && /^    [^ ]/{b=1; sub(/^    /, ""); print; next} u && b && !/^    /{exit}' "$root/README.md")
[ ${#cmds[@]} -ge 5 ] || { echo "readme_use: found only ${#cmds[@]} commands in README's Use section"; exit 1; }
cd "$work"
fail=0
for c in "${cmds[@]}"; do
  echo "+ $c"
  if [[ $c == .\ * || $c == source\ * ]]; then
    eval "$c" || { echo "FAIL: $c"; fail=1; }
    continue
  fi
  t0=$(date +%s)
  timeout -k 30 -s TERM "$budget" bash -c "$c" > "$work/out.txt" 2>&1
  rc=$?
  tail -n 5 "$work/out.txt" | sed 's/^/    /'
  if [ $rc -eq 124 ] && [[ $c == *" run "* ]]; then
    sweep=$(echo "$c" | grep -o 'sweeps/[A-Za-z0-9_./-]*\.yaml')
    out=$(echo "$c" | grep -o -- '-o [^ ]*' | cut -c4-)
    [ -n "$out" ] || out="results/$(basename "$sweep" .yaml).h5"
    want=$(build/synsweep expand "$sweep" --max-rows 0 | tail -1 | cut -d' ' -f1)
    if build/synsweep status "$out" > "$work/status.txt" 2>&1 && grep -q "$want" "$work/status.txt"; then
      echo "    (stopped after ${budget} s as planned: it started, checkpointed $out, $want jobs; status reads it)"
    else
      echo "FAIL: $c did not start correctly"; cat "$work/status.txt"; fail=1
    fi
  elif [ $rc -ne 0 ]; then
    echo "FAIL (status $rc after $(( $(date +%s) - t0 )) s): $c"; fail=1
  fi
done
# what the commands made
for f in results/demo.h5 report/demo/index.html report/demo/tables.md results/demo.csv; do
  [ -s "$f" ] || { echo "FAIL: $f not written"; fail=1; }
done
[ $fail -eq 0 ] && echo "readme_use: ${#cmds[@]} commands passed" || { echo "readme_use: FAILED"; exit 1; }
