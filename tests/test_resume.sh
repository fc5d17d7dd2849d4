#!/usr/bin/env bash
# Never lose a finished result (docs/RESILIENCE.md), with real mpirun and real MNIST:
#  1. SIGKILL the whole mpirun at up to 14 random moments (10 must land), --resume each time; after every kill
#     the file opens in h5py and n_done never goes down; the final file equals an
#     uninterrupted run's bit for bit, every job exactly once (check_results.py).
#  1b. SIGKILL inside the in-place commit (after the journal; between data and statuses); a torn journal.
#  2. SIGTERM: checkpoint and a non-zero exit within 10 s; resume completes it, with no rank
#     forking after MPI_Init (forkguard.so).
#  3. --resume with a different sweep is refused, saying what differs; file unchanged.
#  4. --retry-failed reruns only failed jobs; without it they are kept.
#  test_resume.sh SYNSWEEP SRC MPIEXEC SYNSWEEP_FAULTY FORKGUARD_SO
set -uo pipefail
bin=$1 src=$2 mpiexec=$3 faulty=$4 guard=$5
t=$(mktemp -d)
trap 'pkill -9 -f "$t/" 2>/dev/null; rm -rf "$t"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
run() { "$mpiexec" -n 2 --oversubscribe "$bin" run "$@"; }
# in the background, so that $! is mpirun itself (a backgrounded function would be a subshell)
run_bg() { "$mpiexec" -n 2 --oversubscribe "$bin" run "$@" & }
sweep=$src/sweep_kill.yaml
# n_done: a live file's dataset /n_done, else (a finished file, or one of an earlier release) the root attribute
n_done() { /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); f['results'][:]; print(int(f['n_done'][0] if 'n_done' in f else f.attrs['n_done']))" "$1"; }

# the fault hooks are in the test build only
[ "$(strings "$bin" | grep -c SYNSWEEP_FAULT)" = 0 ] && ok || bad "the release binary has fault hooks: $(strings "$bin" | grep SYNSWEEP_FAULT)"
[ "$(strings "$faulty" | grep -c SYNSWEEP_FAULT_COMMIT)" = 1 ] && ok || bad "synsweep_faulty has no fault hook"

run "$sweep" -o "$t/ref.h5" -q || { echo "reference run failed"; exit 1; }

# 1. kills at random moments
prev=0 kills=0
for i in $(seq 1 14); do
  run_bg "$sweep" -o "$t/k.h5" --resume --checkpoint-every 2 -q >/dev/null 2>&1
  pid=$!
  sleep "$(/usr/bin/python3 -c "import random; print(round(random.uniform(0.3, 1.2), 2))")"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null
  pkill -9 -f "$t/k.h5" 2>/dev/null; sleep 0.2
  if [ -e "$t/k.h5" ]; then
    d=$(n_done "$t/k.h5") || { bad "after kill $i the file does not open in h5py"; continue; }
    [ "$d" -ge "$prev" ] && ok || bad "n_done went down from $prev to $d"
    prev=$d
  fi
done
echo "test_resume: $kills kills, $prev of 48 results kept before the last resume"
[ "$kills" -ge 10 ] && ok || bad "only $kills kills landed before the sweep finished"
run "$sweep" -o "$t/k.h5" --resume -q && ok || bad "final resume failed"
[ ! -e "$t/k.h5.parts" ] && ok || bad "part files left after completion"
/usr/bin/python3 "$src/check_results.py" "$sweep" "$t/ref.h5" "$t/k.h5" >/dev/null && ok ||
  bad "resumed file differs from the uninterrupted run: $(/usr/bin/python3 "$src/check_results.py" "$sweep" "$t/ref.h5" "$t/k.h5" | tail -1)"

# 1b. SIGKILL inside the in-place commit (SYNSWEEP_FAULT_COMMIT, results_journal.c, synsweep_faulty): in the 3rd commit
#     (jobs 9-12), after its journal is written (W=0) or after the rows' data, before their
#     statuses (W=1). The file opens, its done rows are exactly n_done (8); resume applies a
#     whole journal (W=1) and ignores a torn one (W=0, truncated), and the final file equals the
#     uninterrupted run's. n_done is the live file's dataset /n_done (contiguous, its address
#     from HDF5), the root attribute keeps its value at the whole write (0).
done_rows() { /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); d=f['n_done']; print(int((f['results']['status'] != b'pending').sum()), int(d[0]), d.shape, d.id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS, int(f.attrs['n_done']))" "$1"; }
for w in 0 1; do
  j=$t/j$w.h5
  SYNSWEEP_FAULT_COMMIT="3,$w" "$mpiexec" -n 2 --oversubscribe "$faulty" run "$sweep" -o "$j" --checkpoint-every 4 -q >/dev/null 2>&1 &&
    bad "fault $w: the run was not killed"
  pkill -9 -f "$j" 2>/dev/null; sleep 0.2
  [ -s "$j.journal" ] && ok || bad "fault $w: no journal left"
  [ "$(done_rows "$j")" = "8 8 (1,) True 0" ] && ok || bad "fault $w: done rows, /n_done, its shape, contiguous, attribute n_done after the kill: $(done_rows "$j")"
  [ $w -eq 0 ] && truncate -s -10 "$j.journal"
  run "$sweep" -o "$j" --resume 2>"$t/j.err" >/dev/null || bad "fault $w: resume failed: $(cat "$t/j.err")"
  if [ $w -eq 1 ]; then grep -q "committed 4 rows from its journal" "$t/j.err" && ok || bad "fault 1: journal not applied: $(cat "$t/j.err")"
  else grep -q "from its journal" "$t/j.err" && bad "fault 0: a torn journal was applied" || ok; fi
  [ ! -e "$j.journal" ] && [ ! -e "$j.snap.h5" ] && ok || bad "fault $w: journal or snapshot index left after completion"
  /usr/bin/python3 "$src/check_results.py" "$sweep" "$t/ref.h5" "$j" >/dev/null && ok ||
    bad "fault $w: resumed file differs from the uninterrupted run"
done

# 2. SIGTERM, once a few results exist
run_bg "$sweep" -o "$t/s.h5" --checkpoint-every 1 --progress 1000 >/dev/null 2>"$t/s.err"
pid=$!
for i in $(seq 1 150); do
  [ -e "$t/s.h5" ] && [ "$(n_done "$t/s.h5" 2>/dev/null || echo 0)" -ge 3 ] && break
  sleep 0.2
done
start=$(date +%s.%N)
kill -TERM "$pid"
wait "$pid"; rc=$?
took=$(/usr/bin/python3 -c "import time; print(round(time.time() - $start, 1))")
[ $rc -ne 0 ] && ok || bad "SIGTERM: exit status 0 for an incomplete sweep"
/usr/bin/python3 -c "import sys; sys.exit(0 if $took < 10 else 1)" && ok || bad "SIGTERM: took $took s"
grep -q -- "--resume" "$t/s.err" && ok || bad "SIGTERM: no resume hint: $(cat "$t/s.err")"
d=$(n_done "$t/s.h5") && [ "$d" -ge 3 ] && [ "$d" -lt 48 ] && ok || bad "SIGTERM: checkpoint holds ${d:-?} results"
echo "test_resume: SIGTERM stopped the run in $took s with $d of 48 results"
# the resume under forkguard.so: a rank that forks after MPI_Init aborts (the attributes --resume
# reads in forked children are read before MPI starts)
# (under AddressSanitizer a preloaded library comes before its runtime: allowed explicitly)
"$mpiexec" -n 2 --oversubscribe -x LD_PRELOAD="$guard" \
  -x ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
  "$bin" run "$sweep" -o "$t/s.h5" --resume -q 2>"$t/g.err" &&
  /usr/bin/python3 "$src/check_results.py" "$sweep" "$t/ref.h5" "$t/s.h5" >/dev/null &&
  ok || bad "SIGTERM: resume under forkguard failed or differs from the reference: $(grep -m1 -E 'forkguard|ERROR|rror' "$t/g.err")"

# a second writer of a file that is being written is refused
run_bg "$sweep" -o "$t/l.h5" -q >/dev/null 2>&1
pid=$!
for i in $(seq 1 100); do [ -e "$t/l.h5.lock" ] && break; sleep 0.1; done
run "$sweep" -o "$t/l.h5" --resume -q 2>"$t/l.err" && bad "a second writer was let in" ||
  { grep -q "another synsweep is writing it (pid" "$t/l.err" && ok || bad "second writer: $(cat "$t/l.err")"; }
wait "$pid" && [ ! -e "$t/l.h5.lock" ] && ok || bad "the first writer failed or left its lock"

# 3. another sweep
sed 's/lr: 1.0e-3/lr: 2.0e-3/' "$sweep" >"$t/other.yaml"
sum=$(sha256sum "$t/k.h5")
run "$t/other.yaml" -o "$t/k.h5" --resume -q 2>"$t/o.err"; rc=$?
[ $rc -ne 0 ] && grep -q "another sweep.*lr is '0.002' here but '0.001'" "$t/o.err" && ok || bad "other sweep: rc $rc: $(cat "$t/o.err")"
[ "$(sha256sum "$t/k.h5")" = "$sum" ] && ok || bad "other sweep: the file changed"

# merge refuses overlapping inputs and inputs of different sweeps, writing nothing
"$bin" merge "$t/m.h5" "$t/ref.h5" "$t/k.h5" 2>"$t/m.err" && bad "merge of two complete files succeeded" ||
  { grep -q "job 0 has a result in two inputs" "$t/m.err" && ok || bad "merge overlap: $(cat "$t/m.err")"; }
[ ! -e "$t/m.h5" ] && ok || bad "a refused merge left $t/m.h5"
run "$t/other.yaml" -o "$t/o.h5" --shard 0/100 -q
"$bin" merge "$t/m.h5" "$t/ref.h5" "$t/o.h5" 2>"$t/m.err" && bad "merge of two sweeps succeeded" ||
  { grep -q "come from different sweeps" "$t/m.err" && ok || bad "merge of two sweeps: $(cat "$t/m.err")"; }

# 4. failed jobs: class 0 of MNIST has 5923 images, so 6000 per class fails
cat >"$t/f.yaml" <<Y
fixed: {epochs: 1, hidden: [8], test_size: 100}
grid:
  train_per_class: [5, 6000]
  seed: [0, 1]
Y
run "$t/f.yaml" -o "$t/f.h5" -q
st=$("$bin" status "$t/f.h5" | head -1)
echo "$st" | grep -q "2 ok, 0 diverged, 2 failed" && ok || bad "failed jobs: $st"
# (the output goes to a file first: `| grep -q` would end mpirun by SIGPIPE mid-run and
# leave a rank holding the file's lock)
run "$t/f.yaml" -o "$t/f.h5" --resume >"$t/r1.out" 2>&1
grep -q "^\[synsweep\] 0 jobs" "$t/r1.out" && ok || bad "resume without --retry-failed reran jobs: $(head -3 "$t/r1.out")"
run "$t/f.yaml" -o "$t/f.h5" --resume --retry-failed >"$t/r2.out" 2>&1
grep -q "^\[synsweep\] 2 jobs" "$t/r2.out" && ok || bad "--retry-failed did not rerun exactly the 2 failed jobs: $(head -3 "$t/r2.out")"

echo "test_resume: $pass passed, $fail failed"
[ $fail -eq 0 ]
