#!/usr/bin/env bash
# The slurm/ scripts on a real single-node SLURM cluster (munged, slurmctld, slurmd started
# by ../shared/tools/local-slurm.sh, or tests/local-slurm.sh's copy of its interface):
#  1. sweep.sbatch: submit, complete, read the file back;
#  2. scancel mid-sweep, resubmit, complete: bit-identical to 1;
#  3. the time-limit signal (USR1): checkpoint, scontrol requeue, resume: bit-identical to 1;
#  4. submit-array.sh: 3 shards and a merge job: bit-identical to 1.
set -uo pipefail
root=$1 slurm_tool=$2
t=$(mktemp -d)
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
cleanup() { [ -n "${SLURM_CONF:-}" ] && scancel --user=root 2>/dev/null; "$slurm_tool" stop >/dev/null 2>&1; rm -rf "$t"; }
trap cleanup EXIT
[ -x "$slurm_tool" ] || { echo "test_slurm: $slurm_tool not found (../shared/tools beside the project)"; exit 1; }
[ -x "$root/build/synsweep" ] || { echo "test_slurm: build first ($root/build/synsweep)"; exit 1; }
# local-slurm.sh checks each daemon by its /proc/PID/cmdline right after launching it; on a
# loaded machine the launching subshell may not have exec'd yet, and start reports "died during
# start-up" for a daemon that is running (seen once in CI). A start is tried up to 3 times; the
# eval sees the output only of a start that succeeded (an empty eval would succeed).
for attempt in 1 2 3; do
  if env_line=$("$slurm_tool" start 2>"$t/start.err") && [ -n "$env_line" ]; then break; fi
  echo "test_slurm: local SLURM start attempt $attempt failed: $(grep -m1 'local-slurm:' "$t/start.err")"
  env_line=; "$slurm_tool" stop >/dev/null 2>&1; sleep 2
done
[ -n "$env_line" ] || { echo "test_slurm: cannot start the local SLURM cluster"; cat "$t/start.err"; exit 1; }
eval "$env_line"
export SYNSWEEP="$root/build/synsweep" SWEEP="$root/tests/sweep_kill.yaml" SYNSWEEP_ARGS="--checkpoint-every 2"
check="$root/tests/check_results.py"
# a live file's n_done is its dataset /n_done; a finished file's, the root attribute (docs/FORMAT.md)
n_done() { /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); print(int(f['n_done'][0] if 'n_done' in f else f.attrs['n_done']))" "$1" 2>/dev/null || echo 0; }
submit() { sbatch --parsable --chdir="$t" -o "$t/%j.out" -n 2 "$@"; }
wait_job() { "$slurm_tool" wait "$1" "${2:-180}"; }

# 1. submit and complete
j=$(OUT=$t/a.h5 submit "$root/slurm/sweep.sbatch")
wait_job "$j" && ok || bad "sweep.sbatch job $j did not complete: $(cat "$t/$j.out")"
/usr/bin/python3 "$check" "$SWEEP" "$t/a.h5" >/dev/null && ok || bad "job $j's file: $(/usr/bin/python3 "$check" "$SWEEP" "$t/a.h5" | tail -1)"

# 2. scancel in the middle, resubmit
j=$(OUT=$t/b.h5 submit "$root/slurm/sweep.sbatch")
for i in $(seq 1 300); do [ "$(n_done "$t/b.h5")" -ge 2 ] && break; sleep 0.1; done
sleep 1
scancel "$j"
for i in $(seq 1 200); do [ -z "$(squeue -h -j "$j" 2>/dev/null)" ] && break; sleep 0.1; done
d=$(n_done "$t/b.h5")
[ "$d" -gt 0 ] && [ "$d" -lt 48 ] && ok || bad "after scancel the file holds $d of 48 results"
echo "test_slurm: scancel left $d of 48 results"
j=$(OUT=$t/b.h5 submit "$root/slurm/sweep.sbatch")
wait_job "$j" && ok || bad "resubmitted job $j did not complete: $(cat "$t/$j.out")"
grep -q "already have results" "$t/$j.out" && ok || bad "the resubmitted job did not resume: $(head -3 "$t/$j.out")"
/usr/bin/python3 "$check" "$SWEEP" "$t/a.h5" "$t/b.h5" >/dev/null && ok || bad "cancelled+resubmitted differs from the straight run"

# 3. the time limit: Slurm's --signal=B:USR1@T tells the batch script T seconds before it;
#    here that USR1 is sent by hand once results exist (Slurm's own timer is too coarse for a
#    short test). The script stops the ranks (checkpoint), requeues, and the job resumes.
j=$(OUT=$t/c.h5 submit "$root/slurm/sweep.sbatch")
for i in $(seq 1 300); do [ "$(n_done "$t/c.h5")" -ge 4 ] && break; sleep 0.1; done
scancel --signal=USR1 --batch "$j"
# Slurm delays a requeued job's restart (about 2 minutes); once it is pending again, let it
# start now: what is tested is the requeue and the resume, not the scheduler's delay
for i in $(seq 1 300); do
  if grep -q "requeueing job" "$t/$j.out" 2>/dev/null && [ "$(squeue -h -j "$j" -o %T)" = PENDING ]; then
    sleep 3   # let the old step finish tearing down, as the real delay would
    scontrol update JobId="$j" StartTime=now; break
  fi
  sleep 0.1
done
wait_job "$j" 240 && ok || bad "time-limit job $j did not complete after requeueing: $(cat "$t/$j.out")"
grep -q "requeueing job" "$t/$j.out" && grep -q "(restart 1)" "$t/$j.out" && ok ||
  bad "job $j was not requeued: $(cat "$t/$j.out")"
/usr/bin/python3 "$check" "$SWEEP" "$t/a.h5" "$t/c.h5" >/dev/null && ok ||
  bad "requeued job's file differs from the straight run: $(/usr/bin/python3 "$check" "$SWEEP" "$t/a.h5" "$t/c.h5" | tail -1); log: $(cat "$t/$j.out")"

# 4. three shards and a merge
read -r _ array _ merge < <(cd "$t" && "$root/slurm/submit-array.sh" "$SWEEP" 3 "$t/m.h5")
wait_job "$merge" && ok || bad "merge job $merge did not complete: $(cat "$t"/synsweep-merge-*.out 2>/dev/null)"
/usr/bin/python3 "$check" "$SWEEP" "$t/a.h5" "$t/m.h5" >/dev/null && ok || bad "merged shards differ: $(/usr/bin/python3 "$check" "$SWEEP" "$t/a.h5" "$t/m.h5" | tail -1)"

echo "test_slurm: $pass passed, $fail failed"
[ $fail -eq 0 ]
