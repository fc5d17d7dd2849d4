#!/usr/bin/python3
"""Checks `synsweep expand --cost` against measured jobs (docs/PERFORMANCE.md).

For each model kind, reduced jobs of the paper sweeps in sweeps/ (fewer epochs and images,
the same layers) run as whole processes (`synsweep run`, 1 rank, pinned by taskset to one
core), REPS times each. Measured: the job's seconds in the results file (wall time), and the
process's CPU time (user + system) minus the start-up of an empty job on the same dataset
(MPI, loading the dataset). On a machine shared with other work the wall time stretches
with the load; CPU time does not, so the ratio uses it. Prints a Markdown table.

    . scripts/env.sh && /usr/bin/python3 bench/cost_check.py build/synsweep CALIBRATION [REPS] [CORE] [ONLY]

ONLY: run only the jobs whose name starts with it (e.g. resnet).
"""
import os, re, resource, subprocess, sys, tempfile, time

import h5py
import numpy as np

MB = dict(dataset='mnist', batch_size=64, optimizer='adam', lr='1.0e-4', preprocess='unit')
CB = dict(dataset='mnist', batch_size=64, optimizer='adam', lr='1.0e-3', preprocess='unit', model='cnn', conv_kernels=64,
          conv_size=5, hidden='[64]', rule='bp', train_per_class=38, epochs=20, eval_every=10, snapshots='[final]')
LB = dict(dataset='cifar10', batch_size=64, optimizer='adam', lr='1.0e-3', hidden='[100]', rule='bp', train_size=1000,
          epochs=2, lc_channels='[16, 16]', lc_size=5, lc_pool='max', eval_train='false', snapshots='[]', test_size=1000)
RB = dict(dataset='mnist', rbm_train_size=2000, rbm_epochs=2, rbm_hidden=500, rbm_batch_size=100, cd_k=1, rbm_lr=0.05,
          rbm_momentum=0.5, rbse_samples=10, optimizer='adam', lr='1.0e-3', batch_size=32, epochs=50, eval_every=0,
          snapshots='[final]', train_per_class=5)
NB = dict(dataset='cifar10', model='resnet', resnet_n=3, resnet_width=16, train_size=512, test_size=1000, epochs=1,
          batch_size=128, optimizer='adamw', lr=0.01, weight_decay='1.0e-4', augment='crop_flip',
          preprocess='standardize', eval_train='false', snapshots='[]')
# (name, paper sweep reduced (sweeps/reduced/*_r or smaller), parameters); test_size 1000 on CIFAR-10
# and 6978 on Fashion-MNIST: the local test splits' sizes (the official ones are 10,000)
JOBS = [
    ('mlp fa', 'cheon_rules_r', dict(MB, hidden='[100]', rule='fa', train_size=10000, epochs=20, init='kaiming',
                                     feedback='kaiming')),
    ('mlp bp [100,100]', 'cheon_rules_r', dict(MB, hidden='[100, 100]', rule='bp', train_size=10000, epochs=20,
                                               init='kaiming')),
    ('mlp fa_noise', 'cheon_meta_r', dict(MB, hidden='[100, 100]', rule='fa_noise', train_size=5000, epochs=10,
                                          noise_examples=64000)),
    ('mlp fa, dense rows', 'cheon_tasks_r', dict(MB, dataset='fashion_mnist', hidden='[100, 100]', rule='fa',
                                                 train_size=5000, epochs=20, test_size=6978)),
    ('mlp meta-loss', 'cheon_meta_r', dict(MB, hidden='[100, 100]', rule='fa', train_size=5000, epochs=10,
                                           meta_tasks='[mnist, fashion_mnist, kmnist]', meta_steps=10,
                                           meta_lr='1.0e-3', meta_test_size=1000)),
    ('cnn normal', 'karimi_mnist', dict(CB, conv_dist='normal', fc_pool=0)),
    ('cnn normal pool 4', 'karimi_mnist', dict(CB, conv_dist='normal', fc_pool=4)),
    ('cnn trained', 'karimi_mnist', dict(CB, conv_dist='trained', fc_pool=0)),
    ('cnn trained pool 4', 'karimi_mnist', dict(CB, conv_dist='trained', fc_pool=4)),
    ('cnn cifar10 normal', 'karimi_table1', dict(CB, dataset='cifar10', conv_dist='normal', fc_pool=4, test_size=1000)),
    ('cnn cifar10 trained', 'karimi_table1', dict(CB, dataset='cifar10', conv_dist='trained', fc_pool=4,
                                                  test_size=1000)),
    ('lc_conv', 'lc_sleep', dict(LB, model='lc_conv')),
    ('lc', 'lc_sleep', dict(LB, model='lc', sleep='none')),
    ('lc instant', 'lc_sleep', dict(LB, model='lc', sleep='instant', sleep_every=10)),
    ('lc dynamic', 'lc_sleep', dict(LB, model='lc', sleep='dynamic', sleep_every=16)),
    ('lc mnist', 'lc_sleep_mnist', dict(LB, dataset='mnist', model='lc', sleep='none')),
    ('rbse', 'rbse_oneshot', dict(RB, model='rbse')),
    ('rbm', 'rbse_oneshot', dict(RB, model='rbm')),
    ('pixels', 'rbse_oneshot', dict(RB, model='pixels')),
    ('resnet conv', 'pogodin_cifar10', dict(NB, layer_type='conv')),
    ('resnet lc', 'pogodin_cifar10', dict(NB, layer_type='lc')),
    ('resnet lc instant', 'pogodin_cifar10', dict(NB, layer_type='lc', sleep='instant', sleep_every=1)),
    ('resnet lc dynamic', 'pogodin_cifar10', dict(NB, layer_type='lc', sleep='dynamic', sleep_every=2)),
]


def sweep(path, name, fixed):
    with open(path, 'w') as f:
        f.write(f"name: {name}\nfixed:\n" + "".join(f"  {k}: {v}\n" for k, v in fixed.items()) + "grid:\n  seed: [0]\n")


def predicted(binary, path, cal):
    out = subprocess.run([binary, 'expand', path, '--cost', '--calibration', cal], capture_output=True, text=True,
                         check=True).stdout
    return float(re.search(r'^total\s+\d+\s+\S+\s+(\S+) s', out, re.M).group(1))


def measure(binary, path, out, core):
    """(job seconds from the file, process CPU seconds)"""
    if os.path.exists(out):
        os.remove(out)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(['taskset', '-c', core, binary, 'run', path, '-o', out, '-q'], check=True, capture_output=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with h5py.File(out) as f:
        assert f['results']['status'][0] == b'ok', path
        sec = float(f['results']['seconds'][0])
    return sec, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime


def main():
    binary, cal = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    core = sys.argv[4] if len(sys.argv) > 4 else '1'
    only = sys.argv[5] if len(sys.argv) > 5 else ''
    jobs = [j for j in JOBS if j[0].startswith(only)]
    tmp = tempfile.mkdtemp()
    startup = {}  # (dataset, meta_tasks): CPU s of an empty job loading the same datasets
    for _, _, fx in jobs:
        key = (fx['dataset'], fx.get('meta_tasks', ''))
        if key in startup:
            continue
        p = f'{tmp}/empty.yaml'
        e = dict(dataset=key[0], hidden='[]', epochs=0, train_size=10, test_size=10, snapshots='[]')
        if key[1]:
            e.update(meta_tasks=key[1], meta_steps=1, meta_test_size=1)
        sweep(p, 'empty', e)
        startup[key] = np.median([measure(binary, p, f'{tmp}/e.h5', core)[1] for _ in range(3)])
    print("start-up (an empty job loading the same datasets, CPU s): " +
          ", ".join(f"{d}{' + meta ' if m else ''} {v:.2f}" for (d, m), v in startup.items()))
    print("\n| job | from | predicted s | CPU s (min-max) | ratio | job wall s (min-max) |")
    print("|---|---|---:|---:|---:|---:|")
    for name, src, fixed in jobs:
        p = f'{tmp}/job.yaml'
        sweep(p, 'cost_check', fixed)
        pred = predicted(binary, p, cal)
        m = [measure(binary, p, f'{tmp}/job.h5', core) for _ in range(reps)]
        cpu = np.array([c for _, c in m]) - startup[(fixed['dataset'], fixed.get('meta_tasks', ''))]
        wall = np.array([s for s, _ in m])
        print(f"| {name} | {src} | {pred:.2f} | {cpu.mean():.2f} ({cpu.min():.2f}-{cpu.max():.2f}) | "
              f"{pred / cpu.mean():.2f} | {wall.mean():.2f} ({wall.min():.2f}-{wall.max():.2f}) |", flush=True)


if __name__ == '__main__':
    main()
