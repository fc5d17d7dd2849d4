#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each on its corpus in
# tests/fuzz/corpus/ for SECONDS (default 30). New inputs go to build-fuzz/corpus-*; a crash
# leaves crash-* there and fails. (The results readers open attributes in forked children:
# a child's crash also leaves a crash-* file, but only the fuzzer's own exit status counts.)   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
scripts/setup.sh
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNSWEEP_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_sweep fuzz_data fuzz_results 2>&1 | grep -E 'warning|error' || true
fail=0
for t in sweep data results; do
  work=build-fuzz/corpus-$t
  mkdir -p "$work"
  max=$([ $t = sweep ] && echo 512 || { [ $t = results ] && echo 200000 || echo 8192; })
  # results: HDF5 keeps its allocations to exit (H5dont_atexit), and the reader forks a child
  # per string attribute (h5util.c): no leak report at exit; our own allocations are
  # leak-checked by the sanitizer test suite
  leaks=$([ $t = results ] && echo 0 || echo 1)
  # results: a damaged header can make HDF5 ask malloc for terabytes (H5C_protect); malloc
  # then returns NULL and HDF5 fails the open ("not a readable HDF5 file"), which is what a
  # user gets; AddressSanitizer would otherwise stop at the request itself
  null=$([ $t = results ] && echo 1 || echo 0)
  if (cd build-fuzz && ASAN_OPTIONS=detect_leaks=$leaks:allocator_may_return_null=$null ./fuzz_$t -detect_leaks=$leaks -max_total_time="$secs" -max_len=$max -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 "../$work" "../tests/fuzz/corpus/$t" >"fuzz_$t.log" 2>&1); then
    echo "fuzz_$t: $(grep 'stat::number_of_executed_units' "build-fuzz/fuzz_$t.log" | tail -1 | awk '{print $2}') runs in ${secs} s, no crash"
  else
    echo "fuzz_$t: FAILED"; grep -E "ERROR|SUMMARY" "build-fuzz/fuzz_$t.log" | head -5; fail=$((fail + 1))
  fi
done
echo "fuzz: $((3 - fail)) passed, $fail failed"
exit $fail
