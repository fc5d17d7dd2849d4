#!/usr/bin/env bash
# Installs the Debian packages synsweep needs; quiet and quick when they are all there.
#   scripts/setup.sh          build + test dependencies (PyTorch among them: the optimiser and ResNet tests)
#   scripts/setup.sh --bench  the same (bench/ compares with PyTorch)
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools
      libopenblas-dev libyaml-dev zlib1g-dev python3-h5py python3-numpy python3-pandas
      python3-yaml python3-matplotlib        # synsweep report / export (analysis/synsweep_report)
      chromium r-base-core                   # the report test opens the page; export read back by R
      munge slurmctld slurmd slurm-client    # the tests' one-node SLURM cluster
      clang libclang-rt-14-dev               # the fuzz targets (libFuzzer)
      python3-torch)                         # optim_torch, resnet_torch (tests/check_*_torch.py); bench/
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o DPkg::Lock::Timeout=120 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
