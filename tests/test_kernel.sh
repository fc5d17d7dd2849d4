#!/usr/bin/env bash
# test_kernel.sh BIN FIXTURE_BIN MPIEXEC: the OpenBLAS kernel synsweep runs. --version names
# it on every command; an explicit OPENBLAS_CORETYPE is kept; unset, the kernel is at least
# the best this CPU supports; a kernel failing the start-up check (forced with
# SYNSWEEP_BLAS_CHECK_FAIL) gives way to the next weaker one, in `train` and in a 2-rank
# run, and the program stops when the setting is explicit or no kernel is left; ranks on
# different kernels are refused; one OpenBLAS thread unless OPENBLAS_NUM_THREADS is set.
set -uo pipefail
bin=$1 fixture_bin=$2 mpiexec=$3 faulty=$4  # faulty: the test build (SYNSWEEP_BLAS_CHECK_FAIL)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
unset OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS SYNSWEEP_BLAS_AUTO SYNSWEEP_BLAS_EXECS SYNSWEEP_BLAS_CHECK_FAIL
# kernel [ENV=VALUE...]: the kernel `synsweep --version` reports under that environment (the
# test build, which also obeys SYNSWEEP_BLAS_CHECK_FAIL; the release build has no such hook)
kernel() { env "$@" "$faulty" --version 2>/dev/null | sed -n 's/.*, kernel \([A-Za-z0-9]*\),.*/\1/p'; }
# expect CODE PATTERN CMD...: exit status CODE and stdout+stderr matching PATTERN
expect() {
  local code=$1 pat=$2; shift 2
  "$@" >"$t/out" 2>&1; local rc=$?
  if [ $rc -ne "$code" ]; then bad "$* -> exit $rc, want $code: $(cat "$t/out")"; return; fi
  grep -qE -- "$pat" "$t/out" && ok || bad "$* -> output lacks /$pat/: $(cat "$t/out")"
}

auto=$(kernel)
[ "$(strings "$bin" | grep -c SYNSWEEP_BLAS_CHECK_FAIL)" = 0 ] && ok || bad "the release binary has the BLAS fault hook"
[ "$auto" = "$(env "$bin" --version | sed -n 's/.*, kernel \([A-Za-z0-9]*\),.*/\1/p')" ] && ok || bad "test and release builds choose other kernels"
[ -n "$auto" ] && ok || bad "--version names no kernel: $("$bin" --version)"
for c in run expand train status merge; do
  expect 0 "^synsweep [0-9.]+ \(OpenBLAS [0-9.]+, kernel $auto, 1 thread\)$" "$bin" $c --version
done
[ "$(nproc)" -ge 2 ] && expect 0 "kernel $auto, 2 threads\)" env OPENBLAS_NUM_THREADS=2 "$bin" --version

# unset: at least the best kernel the CPU's flags allow
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
want=""
if [[ " $flags " == *" avx512f "* && " $flags " == *" avx512dq "* && " $flags " == *" avx512cd "* &&
      " $flags " == *" avx512bw "* && " $flags " == *" avx512vl "* ]]; then want="SkylakeX|Cooperlake|SapphireRapids"
elif [[ " $flags " == *" avx2 "* && " $flags " == *" fma "* ]]; then want="Haswell|Zen|SkylakeX|Cooperlake|SapphireRapids"
fi
if [ -n "$want" ]; then [[ "$auto" =~ ^($want)$ ]] && ok || bad "unset: kernel $auto, want one of $want"; fi

# explicit settings are kept, whatever the CPU would allow
for k in Prescott Haswell; do
  [ "$(kernel OPENBLAS_CORETYPE=$k)" = "$k" ] && ok || bad "OPENBLAS_CORETYPE=$k gave $(kernel OPENBLAS_CORETYPE=$k)"
done
expect 1 "OPENBLAS_CORETYPE=Haswell is set explicitly, so it is kept" \
  env OPENBLAS_CORETYPE=Haswell SYNSWEEP_BLAS_CHECK_FAIL=haswell "$faulty" --version

# a failing kernel gives way to the next weaker one; with none left, a clear stop
if [ "$auto" != Prescott ]; then
  expect 0 "falling back to OpenBLAS kernel" env SYNSWEEP_BLAS_CHECK_FAIL=$auto "$faulty" --version
  next=$(kernel SYNSWEEP_BLAS_CHECK_FAIL=$auto)
  [ -n "$next" ] && [ "$next" != "$auto" ] && ok || bad "check failing on $auto: still on '$next'"
  expect 0 "kernel $next," env SYNSWEEP_BLAS_CHECK_FAIL=$auto "$faulty" --version
  # two steps down
  third=$(kernel SYNSWEEP_BLAS_CHECK_FAIL=$auto,$next)
  [ -n "$third" ] && [ "$third" != "$next" ] && [ "$third" != "$auto" ] && ok || bad "two failing: '$third'"
fi
expect 1 "no weaker OpenBLAS kernel left" env SYNSWEEP_BLAS_CHECK_FAIL=all "$faulty" --version

# the fallback in real work: a `train` job and a 2-rank sweep, each on the weaker kernel
"$fixture_bin" "$t/data" 200 100 8 || { echo "cannot write fixture"; exit 1; }
export SYNSWEEP_DATA="$t/data"
printf 'fixed:\n  epochs: 1\n  hidden: [8]\ngrid:\n  seed: [0, 1]\n' >"$t/g.yaml"
if [ "$auto" != Prescott ]; then
  expect 0 '"status": "ok"' env SYNSWEEP_BLAS_CHECK_FAIL=$auto "$faulty" train --epochs 1 --hidden 8
  expect 0 "results: $t/fb.h5" env SYNSWEEP_BLAS_CHECK_FAIL=$auto "$mpiexec" -n 2 --oversubscribe "$faulty" run "$t/g.yaml" -o "$t/fb.h5"
fi
# ranks on different kernels: refused, nothing written
expect 1 "ranks run different OpenBLAS kernels: rank 0 Prescott, rank 1 $auto; refusing a mixed run" \
  "$mpiexec" --oversubscribe -n 1 env OPENBLAS_CORETYPE=Prescott "$bin" run "$t/g.yaml" -o "$t/mixed.h5" : -n 1 "$bin" run "$t/g.yaml" -o "$t/mixed.h5"
[ -e "$t/mixed.h5" ] && bad "a refused mixed run wrote $t/mixed.h5" || ok

echo "test_kernel: $pass passed, $fail failed"
[ $fail -eq 0 ]
