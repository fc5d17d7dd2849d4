#!/usr/bin/env bash
# The command line on bad input: every case exits non-zero with a message naming the file
# (and line:column, or field) and what was expected, and an existing results file stays
# byte-for-byte unchanged. Also --help/--version everywhere and the expand count.
set -uo pipefail
bin=$1 fixture_bin=$2
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect CODE PATTERN CMD...: exit status CODE and stderr matching PATTERN
expect() {
  local code=$1 pat=$2; shift 2
  "$@" >"$t/out" 2>"$t/err"; local rc=$?
  if [ $rc -ne "$code" ]; then bad "$* -> exit $rc, want $code: $(cat "$t/err")"; return; fi
  if ! grep -qE -- "$pat" "$t/err" "$t/out"; then bad "$* -> output lacks /$pat/: $(cat "$t/err")"; return; fi
  ok
}

"$fixture_bin" "$t/data" 200 100 8 || { echo "cannot write fixture"; exit 1; }
export SYNSWEEP_DATA="$t/data"
cat >"$t/good.yaml" <<'Y'
fixed:
  epochs: 1
  hidden: [8]
grid:
  seed: [0, 1]
Y
expect 0 "results: $t/res.h5" "$bin" run "$t/good.yaml" -o "$t/res.h5"
sum=$(sha256sum "$t/res.h5")

for c in run expand train status merge; do
  expect 0 "usage: .*synsweep $c" "$bin" $c --help
  expect 0 "^synsweep [0-9]+\.[0-9]+" "$bin" $c --version
done
expect 0 "usage: synsweep <command>" "$bin" --help
expect 0 "^synsweep [0-9]+\.[0-9]+" "$bin" --version
expect 2 "unknown command 'frobnicate'" "$bin" frobnicate
expect 2 "usage" "$bin"
expect 2 "unknown option" "$bin" run "$t/good.yaml" --bogus
expect 2 "needs a sweep file" "$bin" run
expect 2 "epochs: expected an integer" "$bin" train --epochs many
expect 2 "unknown parameter 'nope'" "$bin" train --nope 1
expect 0 "^2 jobs = 2 seed" "$bin" expand "$t/good.yaml"

# the existing file is never overwritten
expect 1 "res.h5: already exists" "$bin" run "$t/good.yaml" -o "$t/res.h5"

# bad sweep files, each aimed at the existing results file
printf 'fixed:\n  epochs: [1, 2\n' >"$t/malformed.yaml"
expect 1 "malformed.yaml:3:1: YAML error" "$bin" run "$t/malformed.yaml" -o "$t/res.h5"
printf 'fixed:\n  epochs: 1\n  learning_rate: 0.1\n' >"$t/unknown.yaml"
expect 1 "unknown.yaml:3:3: fixed: unknown parameter 'learning_rate'" "$bin" run "$t/unknown.yaml" -o "$t/res.h5"
printf 'fixed:\n  epochs: one\n' >"$t/type.yaml"
expect 1 "type.yaml:2:11: epochs: expected an integer, got 'one'" "$bin" run "$t/type.yaml" -o "$t/res.h5"
printf 'grid:\n  seed: []\n' >"$t/empty.yaml"
expect 1 "empty.yaml:2:9: grid: 'seed' has an empty list" "$bin" run "$t/empty.yaml" -o "$t/res.h5"
expect 1 "nothere.yaml: cannot read" "$bin" run "$t/nothere.yaml" -o "$t/res.h5"
# the optimiser and the step schedule: bad values name the field and what it takes
expect 2 "optimizer: 'adamW' is not one of adam\|sgd\|adamw" "$bin" train --optimizer adamW
expect 2 "lr_decay_epochs: epochs must increase, but 100 follows 150" "$bin" train --lr-decay-epochs 150,100
expect 2 "lr_decay_epochs: item '-5' is not an integer in \[1, " "$bin" train --lr-decay-epochs -5
expect 2 "lr_decay_epochs: item 'x' is not an integer" "$bin" train --lr-decay-epochs 10,x
expect 2 "lr_decay_factor: 2 is out of range \[0, 1\]" "$bin" train --lr-decay-factor 2
expect 2 "lr_decay_factor: expected a factor in \(0, 1\], got 0" "$bin" train --lr-decay-factor 0
printf 'fixed:\n  epochs: 1\n  lr_decay_epochs: [20, 10]\n' >"$t/sched.yaml"
expect 1 "sched.yaml:3:20: lr_decay_epochs: epochs must increase, but 10 follows 20" "$bin" run "$t/sched.yaml" -o "$t/res.h5"
printf 'fixed:\n  epochs: 1\ngrid:\n  lr_decay_factor: [0.1, 0]\n' >"$t/factor.yaml"
expect 1 "factor.yaml: job 1: lr_decay_factor: expected a factor in \(0, 1\], got 0" "$bin" run "$t/factor.yaml" -o "$t/res.h5"

# missing and corrupt data files
expect 1 "mnist/train-images-idx3-ubyte.gz: cannot open" "$bin" run "$t/good.yaml" -o "$t/new.h5" --data-dir "$t/nodata"
[ -e "$t/new.h5" ] && bad "a failed run left $t/new.h5 behind" || ok
cp -r "$t/data" "$t/cut"
f="$t/cut/mnist/train-images-idx3-ubyte.gz"
head -c $(( $(stat -c %s "$f") - 40 )) "$f" >"$f.tmp" && mv "$f.tmp" "$f"
expect 1 "cut/mnist/train-images-idx3-ubyte.gz: (truncated|corrupt)" "$bin" run "$t/good.yaml" -o "$t/new.h5" --data-dir "$t/cut"
expect 1 "train-images-idx3-ubyte.gz: (truncated|corrupt)" "$bin" train --data-dir "$t/cut"
# status of something that is not a results file, and of a missing file
expect 1 "good.yaml: not a readable HDF5 file" "$bin" status "$t/good.yaml"
expect 1 "nope.h5: cannot open \(No such file or directory\)" "$bin" status "$t/nope.h5"
expect 0 "2 jobs: 2 ok" "$bin" status "$t/res.h5"
# an output directory that does not exist
expect 1 "cannot create the results file" "$bin" run "$t/good.yaml" -o "$t/no/such/dir.h5"

# a results file of format 1 (written by synsweep 0.1; tests/data/format1.h5): status, merge
# and --resume refuse it, naming the format, and leave it unchanged
here=$(cd "$(dirname "$0")" && pwd)
cp "$here/data/format1.h5" "$t/f1.h5"
f1sum=$(sha256sum "$t/f1.h5")
expect 1 "f1.h5: results file format 1 .*reads format 2 only" "$bin" status "$t/f1.h5"
expect 1 "f1.h5: results file format 1" "$bin" merge "$t/merged.h5" "$t/f1.h5"
printf 'name: format1\nfixed:\n  dataset: mnist\n  hidden: [4]\n  train_per_class: 1\n  test_size: 10\n  epochs: 1\n  snapshots: [final]\ngrid:\n  seed: [0, 1]\n' >"$t/f1.yaml"
expect 1 "f1.h5: results file format 1" "$bin" run "$t/f1.yaml" -o "$t/f1.h5" --resume
[ "$(sha256sum "$t/f1.h5")" = "$f1sum" ] && ok || bad "the format-1 file changed"
[ -e "$t/merged.h5" ] && bad "a refused merge left merged.h5" || ok
# no job twice: each refusal names the axis and the value, model or rule, before anything runs
printf 'fixed:\n  epochs: 1\ngrid:\n  seed: [0, 0, 1]\n' >"$t/repeat.yaml"
expect 1 "repeat.yaml:4:13: grid: 'seed' has the value '0' twice" "$bin" run "$t/repeat.yaml" -o "$t/res.h5"
expect 1 "repeat.yaml:4:13: grid: 'seed' has the value '0' twice" "$bin" expand "$t/repeat.yaml"
printf 'grid:\n  model: [mlp, cnn]\n  conv_kernels: [8, 16]\n' >"$t/ignored.yaml"
expect 1 "ignored.yaml:3:3: grid: 'conv_kernels' has 2 values, but the jobs with model: mlp ignore it" "$bin" run "$t/ignored.yaml" -o "$t/res.h5"
printf 'grid:\n  - {model: mlp, rule: [bp, fa]}\n  - {rule: [fa, dfa]}\n' >"$t/twice.yaml"
expect 1 "twice.yaml:3:5: grid block 2 gives job 2, which block 1 \(line 2\) gives as job 1 \(model: mlp, rule: fa\)" "$bin" expand "$t/twice.yaml"
# a list of mappings: the union of their products, streamed by expand
printf 'fixed:\n  epochs: 1\ngrid:\n  - {model: mlp, rule: [bp, fa]}\n  - {model: cnn, conv_dist: [normal, center_surround]}\n' >"$t/blocks.yaml"
expect 0 "^4 jobs = \(1 model x 2 rule\) \+ \(1 model x 2 conv_dist\)" "$bin" expand "$t/blocks.yaml"
grep -qE '^ +3  cnn +bp +center_surround *$' "$t/out" && ok || bad "expand row 3 of blocks.yaml: $(cat "$t/out")"
expect 0 "^4 jobs" "$bin" expand "$t/blocks.yaml" --max-rows 1
[ "$(grep -cE '^ +[0-9]+  ' "$t/out")" = 1 ] && ok || bad "--max-rows 1 printed $(cat "$t/out")"
# nesting depth
{ printf 'fixed:\n  hidden: '; for i in $(seq 1000); do printf '['; done; for i in $(seq 1000); do printf ']'; done; echo; } >"$t/deep.yaml"
expect 1 "deep.yaml:2:73: nested deeper than 64 levels" "$bin" expand "$t/deep.yaml"
# help texts are printed as written (no printf escapes such as %%)
for c in run expand status merge train; do
  "$bin" $c --help >"$t/help" 2>&1
  grep -q '%%' "$t/help" && bad "$c --help prints %%" || ok
done

# issue 16 (items 4, 9, 10): weights that became NaN are a divergence, whatever the loss says
# (a dynamic sleep with a huge rate; a ReLU maps NaN inputs to 0, so the loss stays finite)
expect 0 '"status": "diverged"' "$bin" train --model lc --lc-channels 4 --lc-size 3 --hidden 8 --sleep dynamic --sleep-every 1 \
  --sleep-lr 100 --train-per-class 20 --test-size 50 --epochs 1
grep -q '"message": "tensor lc_W0 has non-finite values in epoch 1"' "$t/out" && ok || bad "NaN weights: $(grep message "$t/out")"
# a damaged test split is named, not called absent
cp -r "$t/data" "$t/badtest"
printf 'garbage' | gzip >"$t/badtest/mnist/t10k-images-idx3-ubyte.gz"
expect 1 "t10k-images-idx3-ubyte.gz" "$bin" train --data-dir "$t/badtest"
grep -q "no test split" "$t/err" && bad "a damaged test split was called absent: $(cat "$t/err")" || ok
# an impossible subset is refused as such, before its memory estimate
expect 1 "train_per_class = 100000000, but class [0-9] of mnist has only [0-9]+ training examples" \
  "$bin" train --train-per-class 1e8
printf 'fixed:\n  epochs: 1\n  hidden: [8]\ngrid:\n  train_per_class: [5, 100000000]\n' >"$t/huge.yaml"
expect 0 "2/2 done, 0 running, 1 failed" "$bin" run "$t/huge.yaml" -o "$t/huge.h5"
grep -q "memory" "$t/err" && bad "an impossible subset was refused as memory: $(cat "$t/err")" || ok
expect 0 "1 failed" "$bin" status "$t/huge.h5"
# a tiny memory budget is printed in a unit that shows it
expect 1 "over the memory budget of 100 kB" "$bin" train --memory-budget 0.0001
expect 1 "over the memory budget of 1 B" "$bin" run "$t/good.yaml" -o "$t/tiny.h5" --memory-budget 1e-30
[ -e "$t/tiny.h5" ] && bad "a refused run left tiny.h5" || ok
# a USPS value that is not a number in [-1, 1] (nan) names the file, line and field
mkdir -p "$t/uspsnan/usps"
printf '3 %s\n' "$(printf -- '-1 %.0s' $(seq 255)) nan" | gzip >"$t/uspsnan/usps/zip.train.gz"
cp "$t/uspsnan/usps/zip.train.gz" "$t/uspsnan/usps/zip.test.gz"
expect 1 "zip.train.gz:1: value 256 is missing or outside \[-1, 1\]" "$bin" train --dataset usps --data-dir "$t/uspsnan"

[ "$(sha256sum "$t/res.h5")" = "$sum" ] && ok || bad "the existing results file changed"
echo "test_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
