#!/usr/bin/env bash
# test_report.sh BIN SRC MPIEXEC [SWEEP...]: for each paper sweep of sweeps/ (default: all of
# karimi_table1, cheon_*, rbse_oneshot and lc_sleep), a shrunken copy (2 epochs, few examples, 1-2 seeds) runs on 2
# real MPI ranks with real data; `synsweep report` must write every table and figure
# (non-empty, the ones the sweep calls for) and a page that headless chromium loads with every
# image loaded and no error shown; `synsweep export` (csv, tsv, json) must read back, with
# pandas and R's read.csv, to the values in the HDF5 file.
set -euo pipefail
bin=$(readlink -f "$1") src=$(readlink -f "$2") mpiexec=$3
shift 3
root=$(dirname "$src")
sweeps=("$@")
[ ${#sweeps[@]} -eq 0 ] && sweeps=(karimi_table1 cheon_rules cheon_order cheon_trainsize cheon_depth cheon_ood cheon_tasks cheon_meta rbse_oneshot lc_sleep)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export PYTHONPATH="$root/analysis"
py=/usr/bin/python3
fail=0
for s in "${sweeps[@]}"; do
  y="$out/$s.yaml"
  common=(--set epochs=2 --set test_size=300 --keep seed=2 --name "${s}_ci")
  case $s in
    karimi_table1)
      extra=(--set train_per_class=5 --set conv_kernels=8 --set eval_every=1)
      # SVHN needs test_split: heldout (and ../shared/data has no SVHN test split); until the
      # loader knows the parameter, the SVHN block is left out here.
      "$bin" expand "$root/sweeps/$s.yaml" --max-rows 0 >/dev/null 2>&1 || extra+=(--drop dataset=svhn)
      common=(--set epochs=2 --set test_size=300 --keep seed=2 --keep conv_dist=4 --name "${s}_ci") ;;
    cheon_trainsize) extra=(--set noise_examples=640 --set eval_every=1 --keep train_size=3) ;;
    cheon_depth) extra=(--set noise_examples=640 --set eval_every=1 --set train_size=200 --keep hidden=3) ;;
    cheon_meta) extra=(--set train_size=200 --set meta_test_size=100 --keep noise_examples=2) ;;
    # 6 jobs (rbse, rbm, pixels x 2 seeds, k = 1): 2 CD epochs of 32 hidden units on 300 images
    rbse_oneshot) extra=(--set rbm_train_size=300 --set rbm_epochs=2 --set rbm_hidden=32 --set rbse_samples=4 \
                         --keep train_per_class=1) ;;
    # 10 jobs (conv, LC, LC with instant / dynamic sleep x 2 seeds): 10 steps an epoch, so
    # instant (every 10) and dynamic every 16 sleep, dynamic every 47 does not
    lc_sleep) extra=(--set train_size=640 --set "lc_channels=[4, 4]" --set "hidden=[16]" --set sleep_steps=10) ;;
    *) extra=(--set noise_examples=640 --set train_size=200) ;;
  esac
  [ "$s" = cheon_meta ] && common=(--set epochs=2 --set test_size=300 --keep seed=2 --name "${s}_ci")
  $py -m synsweep_report.shrink "$root/sweeps/$s.yaml" -o "$y" "${common[@]}" "${extra[@]}"
  "$mpiexec" -n 2 --oversubscribe "$bin" run "$y" -o "$out/$s.h5" -q
  "$bin" report "$out/$s.h5" -o "$out/$s.report"
  "$bin" export "$out/$s.h5" -o "$out/$s.csv"
  "$bin" export "$out/$s.h5" -o "$out/$s.txt" --format tsv
  "$bin" export "$out/$s.h5" --format json > "$out/$s.json"
  r_out=""
  if command -v Rscript >/dev/null; then
    Rscript "$src/read_export.R" "$out/$s.csv" "$out/$s.r.tsv"
    r_out="$out/$s.r.tsv"
  else
    echo "test_report: Rscript not installed; the R read-back is skipped (scripts/setup.sh installs r-base-core)"
    skipped=1
  fi
  $py "$src/check_report.py" "$s" "$out/$s.h5" "$out/$s.report" "$out/$s.csv" "$out/$s.txt" "$out/$s.json" "$r_out" || fail=1
done
# the page in a real browser: every image loaded (naturalWidth > 0), no error element
for s in "${sweeps[@]}"; do
  $py "$src/check_report.py" --browser "$out/$s.report" || fail=1
done
# resultsdoc: a "## " section whose results file exists is filled from it; with --previous, one
# whose file is gone is copied from the previous page (and without --previous it fails)
if [ -f "$out/lc_sleep.h5" ]; then
  rd="$out/resultsdoc"
  mkdir -p "$rd/res" "$rd/doc"
  cp "$out/lc_sleep.h5" "$rd/res/lc_sleep.h5"
  printf '# T\n\nintro\n\n## A\n\n<!-- table lc_sleep LC: accuracy by model and sleep settings -->\n\n## B\n\n<!-- run gone -->\n' > "$rd/t.md"
  printf 'old head\n\n## A\n\nold A\n\n## B\n\nold B kept\n' > "$rd/prev.md"
  if $py -m synsweep_report.resultsdoc "$rd/t.md" -o "$rd/doc/R.md" --results "$rd/res" --times /dev/null 2>/dev/null; then
    echo "FAIL: resultsdoc without --previous accepted a missing results file"; fail=1
  fi
  $py -m synsweep_report.resultsdoc "$rd/t.md" -o "$rd/doc/R.md" --results "$rd/res" --times /dev/null --previous "$rd/prev.md"
  $py - "$rd/doc/R.md" <<'PY' || fail=1
import sys
t = open(sys.argv[1]).read()
head, a, b = t.split("\n## ")
assert "intro" in head and "old head" not in head, head
assert a.startswith("A\n") and "| conv (lc_conv) | 2 |" in a and "old A" not in a, a
assert b == "B\n\nold B kept\n", repr(b)
print("resultsdoc --previous: ok")
PY
fi
# the study scripts (analysis/rbse_study.py, lc_study.py) write through safeio as report does: their
# outputs appear; a second run needs --force; a symlink or the results file is never replaced
study_check() {  # NAME SCRIPT_ARGS... (the script, its input, its output dir, the figure it makes)
  local n=$1 script=$2 h5=$3 dir=$4 fig=$5; shift 5
  mkdir -p "$dir"
  $py "$src/../analysis/$script" "$h5" "$@" >/dev/null || { echo "FAIL: $script on $n"; fail=1; return; }
  [ -s "$dir/$fig" ] || { echo "FAIL: $script wrote no $fig"; fail=1; return; }
  if $py "$src/../analysis/$script" "$h5" "$@" >/dev/null 2>"$dir/err"; then echo "FAIL: $script replaced $fig without --force"; fail=1; fi
  grep -q "exists (--force replaces it)" "$dir/err" || { echo "FAIL: $script: $(cat "$dir/err")"; fail=1; }
  $py "$src/../analysis/$script" "$h5" "$@" --force >/dev/null || { echo "FAIL: $script --force"; fail=1; }
  rm "$dir/$fig"; ln -s "$h5" "$dir/$fig"
  if $py "$src/../analysis/$script" "$h5" "$@" --force >/dev/null 2>"$dir/err"; then echo "FAIL: $script followed a symlink"; fail=1; fi
  grep -q "symbolic link" "$dir/err" && [ -L "$dir/$fig" ] || { echo "FAIL: $script: symlink: $(cat "$dir/err")"; fail=1; }
  [ -z "$(find "$dir" -name '.*partial*' -o -name '.*.png')" ] || { echo "FAIL: $script left temporaries"; fail=1; return; }
  echo "study $n: outputs written, kept without --force, symlink refused"
}
if [ -f "$out/rbse_oneshot.h5" ]; then
  study_check rbse rbse_study.py "$out/rbse_oneshot.h5" "$out/rbse_study" rbse_w_vs_p.png "$out/rbse_study"
fi
if [ -f "$out/lc_sleep.h5" ]; then
  study_check lc lc_study.py "$out/lc_sleep.h5" "$out/lc_study" lc_cifar10_acc.png -o "$out/lc_study"
fi
[ $fail -eq 0 ] || { echo "report_export: FAILED"; exit 1; }
echo "report_export: ${#sweeps[@]} sweeps passed"
# a part not run for want of a tool: the test is SKIPPED (CTest SKIP_RETURN_CODE 77), not passed
[ -z "${skipped:-}" ] || exit 77
