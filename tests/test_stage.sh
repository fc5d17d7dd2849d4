#!/usr/bin/env bash
# Shared stages (docs/ARCHITECTURE.md, "Shared stages"), with real mpirun and real data:
# tests/sweep_stage.yaml (every kind with a shareable stage, and kinds without one) run with
# the stage cache on, on 3 ranks, and off (--no-stage-cache), on 2: the files are bit-identical
# in every column, curve, layer metric and snapshot but stage_seconds_saved (0 in every row
# with the cache off, > 0 in the jobs that continued from a stage another job computed); the
# same on 2 shards merged, and after a SIGKILL and --resume (a lost cache is recomputed); the
# run's last lines and the report say how many jobs shared a stage.
#  test_stage.sh SYNSWEEP SRC MPIEXEC
set -uo pipefail
bin=$1 src=$2 mpiexec=$3
t=$(mktemp -d)
trap 'pkill -9 -f "$t/" 2>/dev/null; rm -rf "$t"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
sweep=$src/sweep_stage.yaml
run() { n=$1; shift; "$mpiexec" -n "$n" --oversubscribe "$bin" run "$sweep" "$@"; }
same() { /usr/bin/python3 "$src/ident/compare.py" --skip stage_seconds_saved "$1" "$2"; }
# rows that continued from a shared stage, and the largest value of the column with the cache off
shared() { /usr/bin/python3 -c "import h5py,sys; r=h5py.File(sys.argv[1],'r')['results'][:]; s=r['stage_seconds_saved']; print(int((s > 0).sum()), int((r['status'] == b'ok').sum()))" "$1"; }

run 2 -o "$t/off.h5" -q --no-stage-cache || { echo "the run without the stage cache failed"; exit 1; }
[ "$(shared "$t/off.h5")" = "0 102" ] && ok || bad "--no-stage-cache: rows with stage_seconds_saved > 0, ok rows: $(shared "$t/off.h5")"
run 3 -o "$t/on.h5" 2>"$t/on.err" >/dev/null && ok || bad "the run with the stage cache failed: $(tail -3 "$t/on.err")"
same "$t/on.h5" "$t/off.h5" && ok || bad "stage cache on (3 ranks) and off differ"
# 92 of the 102 jobs have a shareable stage and the first job of each key computes it: at least 60 of
# the others continue from one even when a third rank duplicates some
read -r n_sh n_ok <<<"$(shared "$t/on.h5")"
[ "$n_ok" = 102 ] && [ "$n_sh" -ge 60 ] && ok || bad "stage cache on: $n_sh jobs shared a stage, $n_ok ok"
grep -q "shared stages: $n_sh jobs continued from a stage another job computed" "$t/on.err" && ok ||
  bad "the run does not say what it shared: $(grep shared "$t/on.err")"
# the report says it
PYTHONPATH="$src/../analysis" /usr/bin/python3 -m synsweep_report report "$t/on.h5" -o "$t/rep" >/dev/null 2>&1 &&
  grep -q "Shared stages: $n_sh of 102 jobs continued from a stage" "$t/rep/index.html" && ok ||
  bad "the report does not say what was shared"

# shards, merged
run 2 -o "$t/s0.h5" -q --shard 0/2 && run 2 -o "$t/s1.h5" -q --shard 1/2 &&
  "$bin" merge "$t/m.h5" "$t/s0.h5" "$t/s1.h5" >/dev/null 2>"$t/m.err" && ok || bad "shards: $(cat "$t/m.err")"
same "$t/m.h5" "$t/off.h5" && ok || bad "2 shards merged differ from the run without the stage cache"

# SIGKILL mid-run (the ranks' caches are lost), then --resume
kills=0
for i in 1 2 3; do
  "$mpiexec" -n 2 --oversubscribe "$bin" run "$sweep" -o "$t/k.h5" --resume --checkpoint-every 4 -q >/dev/null 2>&1 &
  pid=$!
  sleep "0.$((3 + 2 * i))"
  kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
  wait "$pid" 2>/dev/null
  pkill -9 -f "$t/k.h5" 2>/dev/null; sleep 0.2
done
run 2 -o "$t/k.h5" --resume -q && ok || bad "resume after $kills kills failed"
same "$t/k.h5" "$t/off.h5" && ok || bad "resumed after $kills kills: differs from the run without the stage cache"
echo "test_stage: $kills kills before the resume; $n_sh of 102 jobs continued from a shared stage on 3 ranks"
echo "test_stage: $pass passed, $fail failed"
[ $fail -eq 0 ]
