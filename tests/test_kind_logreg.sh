#!/usr/bin/env bash
# A model kind from outside src/ (issue 17, item 2): tests/kind_logreg.c registers `logreg`
# and hands over to synsweep_main. A 4-job sweep of it (seed x logreg_init_zero) on two MPI
# ranks through the coordinator, on a fixture of 8x8 images; the file read back with h5py:
# four ok rows, the kind's parameter and metric columns with their values, accuracy above
# chance; `status` and `export` of the file; plain synsweep does not know the kind.
#   test_kind_logreg.sh KIND_LOGREG SYNSWEEP MAKE_FIXTURE MPIEXEC
set -uo pipefail
kind=$1 plain=$2 fixture_bin=$3 mpiexec=$4
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
pass=0 fail=0
check() { # check DESCRIPTION CMD...: the command succeeds
  local what=$1; shift
  if "$@" >"$t/out" 2>"$t/err"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what: $(cat "$t/err" "$t/out" | tail -5)"; fi
}

"$fixture_bin" "$t/data" 200 100 8 >/dev/null || { echo "cannot write fixture"; exit 1; }
export SYNSWEEP_DATA="$t/data"
cat >"$t/sweep.yaml" <<'Y'
name: logreg
fixed:
  model: logreg
  epochs: 10
  batch_size: 20
  lr: 0.01
  snapshots: [final]
grid:
  seed: [1, 2]
  logreg_init_zero: [true, false]
Y
check "expand counts 4 jobs" sh -c "'$kind' expand '$t/sweep.yaml' | grep -q '^4 jobs = 2 seed x 2 logreg_init_zero'"
check "train --help lists the kind and its parameter" sh -c \
  "'$kind' train --help | grep -q 'logreg: softmax regression' && '$kind' train --help | grep -q -- '--logreg_init_zero'"
check "plain synsweep refuses model: logreg" sh -c "! '$plain' expand '$t/sweep.yaml' 2>&1 | grep -q jobs"
check "run on 2 ranks" "$mpiexec" -n 2 --oversubscribe "$kind" run "$t/sweep.yaml" -o "$t/F.h5" -q
check "the file: rows, columns, values" /usr/bin/python3 - "$t/F.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
r = f["results"][:]
assert len(r) == 4, len(r)
status = [s.decode() for s in r["status"]]
assert status == ["ok"] * 4, status
assert [m.decode() for m in r["model"]] == ["logreg"] * 4
assert sorted(zip(r["seed"].tolist(), r["logreg_init_zero"].tolist())) == [(1, 0), (1, 1), (2, 0), (2, 1)], r[["seed", "logreg_init_zero"]]
wn = r["weight_norm"]
assert np.all(np.isfinite(wn)) and np.all(wn > 0), wn
# weight_norm is the Frobenius norm of the final W0 the file holds for that job
for i, j in enumerate(r["job_id"]):
    W = f["snapshots/job_%06d/final/W0" % j][:]
    assert W.shape == (10, 64), W.shape
    assert abs(np.linalg.norm(W.astype(np.float64)) - wn[i]) <= 1e-5 * wn[i], (wn[i], np.linalg.norm(W))
# zero init: the norm is what training grew from nothing; drawn init starts near sqrt(10 * 64 * 2 / 64) = 4.5
z = r["logreg_init_zero"] == 1
assert wn[z].max() < wn[~z].min(), wn
acc = r["test_acc"]
assert np.all(acc > 0.3), acc   # chance: 0.1
assert np.all(np.isnan(r["snr_paper"])) and np.all(np.isnan(r["recon_error"]))  # other kinds' metrics
print("logreg file:", len(r), "ok rows; test_acc", acc.round(3).tolist(), "weight_norm", wn.round(3).tolist())
PY
cat "$t/out"
check "status of the file" sh -c "'$kind' status '$t/F.h5' | grep -q 'ok'"
check "export of the file" "$kind" export "$t/F.h5" -o "$t/F.csv"
check "export has the kind's columns" /usr/bin/python3 - "$t/F.csv" <<'PY'
import sys, csv
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 4 and "logreg_init_zero" in rows[0] and "weight_norm" in rows[0], rows[0].keys()
assert all(float(x["weight_norm"]) > 0 for x in rows)
PY
# a file written before the kind existed (no weight_norm column) stays readable
cat >"$t/plain.yaml" <<'Y'
fixed:
  epochs: 1
  hidden: [8]
grid:
  seed: [0, 1]
Y
check "plain synsweep writes a file" "$plain" run "$t/plain.yaml" -o "$t/plain.h5" -q
check "kind_logreg reads a file without the kind's metric" sh -c "'$kind' status '$t/plain.h5' | grep -q '2 ok'"
echo "kind_logreg: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
