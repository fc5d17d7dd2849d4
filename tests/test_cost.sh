#!/usr/bin/env bash
# synsweep calibrate and expand --cost on the command line: help, bad flags, a missing or
# damaged calibration file, the file's round trip, a foreign file never replaced, the default
# per-host path under XDG_CACHE_HOME, and the wall time on more cores. No data read.
set -uo pipefail
bin=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# expect CODE PATTERN CMD...: exit status CODE and stdout or stderr matching PATTERN
expect() {
  local code=$1 pat=$2; shift 2
  "$@" >"$t/out" 2>"$t/err"; local rc=$?
  if [ $rc -ne "$code" ]; then bad "$* -> exit $rc, want $code: $(cat "$t/err")"; return; fi
  if ! grep -qE -- "$pat" "$t/err" "$t/out"; then bad "$* -> output lacks /$pat/: $(cat "$t/out" "$t/err")"; return; fi
  ok
}
export XDG_CACHE_HOME="$t/cache"
cat >"$t/s.yaml" <<'Y'
fixed: {dataset: mnist, hidden: [100], epochs: 3, train_size: 1000}
grid:
  - {model: mlp, seed: [0, 1, 2, 3]}
  - {model: cnn, conv_kernels: 8, seed: [0, 1]}
Y
expect 0 'usage: synsweep calibrate' "$bin" calibrate --help
expect 0 'expand SWEEP.yaml --cost' "$bin" expand --help
expect 2 "unknown option or missing value '--bogus'" "$bin" calibrate --bogus
expect 2 "unknown option or missing value '--calibration'" "$bin" calibrate --calibration
expect 2 "unexpected argument 'x'" "$bin" calibrate x
expect 2 '--cores takes a whole number of workers >= 1' "$bin" expand "$t/s.yaml" --cost --cores 0
expect 2 '--cores takes a whole number' "$bin" expand "$t/s.yaml" --cost --cores 2x
expect 2 '--cores and --calibration go with --cost' "$bin" expand "$t/s.yaml" --cores 4
# no calibration yet: said, and the built-in rates used
expect 0 'no calibration for this host .*calibration-.*\.txt.*built-in' "$bin" expand "$t/s.yaml" --cost
expect 0 'built-in default' "$bin" expand "$t/s.yaml" --cost
# a named file must exist
expect 1 "cannot read calibration file $t/none.txt" "$bin" expand "$t/s.yaml" --cost --calibration "$t/none.txt"
# the round trip: calibrate writes the file, expand reads the same rates
expect 0 "wrote $t/cal.txt" "$bin" calibrate --calibration "$t/cal.txt"
for c in gemm gemm_small gemv stream normal uniform masked exp gather dram; do
  grep -qE "^$c [0-9.e+]+$" "$t/cal.txt" && ok || bad "calibration file lacks $c"
done
expect 0 "rates: $t/cal.txt" "$bin" expand "$t/s.yaml" --cost --calibration "$t/cal.txt"
grep -qE '^mlp +4 ' "$t/out" && grep -qE '^cnn +2 ' "$t/out" && grep -qE '^total +6 ' "$t/out" && ok \
  || bad "per-kind rows: $(cat "$t/out")"
# a file with a known rate doubled predicts more (the file's numbers are used)
sed 's/^\(gemm_small\|gather\|stream\) \(.*\)$/\1 1e6/' "$t/cal.txt" >"$t/slow.txt"
"$bin" expand "$t/s.yaml" --cost --calibration "$t/slow.txt" >"$t/slow.out" 2>&1
a=$(awk '/^total/ {print $3}' "$t/out") b=$(awk '/^total/ {print $3}' "$t/slow.out")
awk -v a="$a" -v b="$b" 'BEGIN {exit !(b > a * 10)}' && ok || bad "slower rates did not raise the cost ($a -> $b)"
# the wall time names the cores asked for
"$bin" expand "$t/s.yaml" --cost --calibration "$t/cal.txt" --cores 1 | grep -q 'wall time on 1 core' && ok || bad "1 core"
"$bin" expand "$t/s.yaml" --cost --calibration "$t/cal.txt" --cores 3 | grep -q 'wall time on 3 cores' && ok || bad "3 cores"
# damaged files: the line and what was expected
printf '# synsweep calibration\ngemm fast\n' >"$t/bad1.txt"
expect 1 "bad1.txt: line 2: expected '<class> <operations per second > 0>'" "$bin" expand "$t/s.yaml" --cost --calibration "$t/bad1.txt"
printf '# synsweep calibration\ngemm 1e9\n' >"$t/bad2.txt"
expect 1 'bad2.txt: no rate for class gemm_small' "$bin" expand "$t/s.yaml" --cost --calibration "$t/bad2.txt"
printf 'gemm 1e9\n' >"$t/bad3.txt"
expect 1 'not a synsweep calibration file' "$bin" expand "$t/s.yaml" --cost --calibration "$t/bad3.txt"
# never replaces a file that is not its own
echo "precious" >"$t/precious.txt"
expect 1 'is not a synsweep calibration file: not replacing it' "$bin" calibrate --calibration "$t/precious.txt"
# a symlink (even to a calibration file) and a directory are never replaced, and refused before
# the seconds of measuring (no rate printed); a directory as input: a read error, not "no rate"
printf 'x\n' >"$t/target.txt"; ln -s "$t/target.txt" "$t/link.txt"
expect 1 'not a regular file \(a symbolic link\)' "$bin" calibrate --calibration "$t/link.txt"
[ -L "$t/link.txt" ] && [ "$(cat "$t/target.txt")" = x ] && ! grep -q 'per second' "$t/out" && ok || bad "calibrate replaced a symlink or measured first"
mkdir "$t/dir.txt"
expect 1 'not a regular file \(a directory\)' "$bin" calibrate --calibration "$t/dir.txt"
expect 1 'cannot read calibration file' "$bin" expand "$t/s.yaml" --cost --calibration "$t/dir.txt"
[ "$(cat "$t/precious.txt")" = precious ] && ok || bad "precious.txt changed"
# shared stages: three rbse jobs that differ only in their readout run one contrastive
# divergence; the shared prediction is the first job whole plus the two others without CD
# (rbm_epochs 0), and the line says how many continue; a sweep without sharing has no line
cat >"$t/sh.yaml" <<'Y'
fixed: {dataset: mnist, model: rbse, rbm_train_size: 20000, rbm_epochs: 20, seed: 0}
grid:
  - {train_per_class: [1, 5, 10]}
Y
cat >"$t/sh0.yaml" <<'Y'
fixed: {dataset: mnist, model: rbse, rbm_train_size: 20000, seed: 0}
grid:
  - {train_per_class: 1, rbm_epochs: 20}
  - {train_per_class: [5, 10], rbm_epochs: 0}
Y
expect 0 'with shared stages .*: 2 of 3 jobs continue' "$bin" expand "$t/sh.yaml" --cost --calibration "$t/cal.txt"
shared=$(sed -n 's/.*reuse: \([0-9.]*\) core-hours.*/\1/p' "$t/out")
alone=$(awk '$1 == "total" {print $3}' "$t/out")
expect 0 '^total' "$bin" expand "$t/sh0.yaml" --cost --calibration "$t/cal.txt"
parts=$(awk '$1 == "total" {print $3}' "$t/out")
[ -n "$shared" ] && [ "$shared" = "$parts" ] && awk -v a="$alone" -v s="$shared" 'BEGIN {exit !(s < a / 2)}' && ok ||
  bad "shared prediction $shared core-hours, want the parts' $parts (and under half of $alone)"
"$bin" expand "$t/s.yaml" --cost --calibration "$t/cal.txt" >"$t/out" 2>&1
! grep -q 'with shared stages' "$t/out" && ok || bad "a sweep without sharing printed a shared line"
# the default path: $XDG_CACHE_HOME/synsweep/calibration-HOST.txt, then read by expand
expect 0 "wrote $t/cache/synsweep/calibration-.*\.txt" "$bin" calibrate
expect 0 "rates: $t/cache/synsweep/calibration-" "$bin" expand "$t/s.yaml" --cost
[ -z "$(ls "$t/cache/synsweep" | grep -v '^calibration-[^/]*\.txt$')" ] && ok || bad "stray files: $(ls "$t/cache/synsweep")"
echo "cost_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
