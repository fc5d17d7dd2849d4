#!/bin/sh
# Regenerates the reduced paper sweeps that docs/RESULTS.md runs on a 2-core machine (fewer
# epochs, examples and seeds than the papers; the settings are in each file). From the top:
#   sweeps/reduced/make.sh
set -e
cd "$(dirname "$0")/../.."
s="/usr/bin/python3 -m synsweep_report.shrink"
export PYTHONPATH="$PWD/analysis${PYTHONPATH:+:$PYTHONPATH}"
r=sweeps/reduced
# Table 1 without its SVHN block (run before test_split: heldout existed), and the SVHN block
# alone with the same settings (run later)
$s sweeps/karimi_table1.yaml -o $r/karimi_table1.yaml --name karimi_table1_r --drop dataset=svhn
$s sweeps/karimi_table1.yaml -o $r/karimi_table1_svhn.yaml --name karimi_table1_svhn --drop dataset=mnist --drop dataset=cifar10
$s sweeps/cheon_rules.yaml -o $r/cheon_rules.yaml --name cheon_rules_r --set epochs=20 --set train_size=10000
$s sweeps/cheon_order.yaml -o $r/cheon_order.yaml --name cheon_order_r --set epochs=20 --set train_size=10000
$s sweeps/cheon_trainsize.yaml -o $r/cheon_trainsize.yaml --name cheon_trainsize_r --set epochs=100 --set eval_every=5 \
   --set noise_examples=320000 --set test_size=2000 --keep seed=2
$s sweeps/cheon_depth.yaml -o $r/cheon_depth.yaml --name cheon_depth_r --set epochs=100 --set eval_every=5 \
   --set noise_examples=320000 --set test_size=2000 --keep seed=2
$s sweeps/cheon_ood.yaml -o $r/cheon_ood.yaml --name cheon_ood_r --set epochs=20 --set train_size=10000 --keep seed=2
$s sweeps/cheon_tasks.yaml -o $r/cheon_tasks.yaml --name cheon_tasks_r --set epochs=20 --set train_size=5000 \
   --set noise_examples=320000 --keep seed=2
$s sweeps/cheon_meta.yaml -o $r/cheon_meta.yaml --name cheon_meta_r --set epochs=10 --set train_size=5000 --keep seed=2
# the RBSE controls (issue 19): 10,000 CD images + 1,000 validation, at most 5 CD epochs, k = 1, 2 seeds
$s sweeps/rbse_controls.yaml -o $r/rbse_controls.yaml --name rbse_controls_r --set rbm_train_size=10000 \
   --set val_size=1000 --set rbm_epochs=5 --keep train_per_class=1 --keep seed=2
