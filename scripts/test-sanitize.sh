#!/usr/bin/env bash
# Builds with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ and runs the
# test suite there, but for the SLURM test (it only drives the same binary through sbatch) and
# the browser tests (report_export, report_hostile: Python and Chromium; the C that report and
# export run, the chunk check, is exercised under the sanitizers by robust_catalogue and the
# fuzzers), and readme_use (the README's commands: the same commands under the sanitizers in
# cli_bad_input, the mpi tests and robust_catalogue), which the plain build runs. Leak checks are
# on except in tests that start MPI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNSWEEP_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)" 2>&1 | grep -E 'warning|error' || true
. scripts/env.sh
cd build-asan
ctest --output-on-failure -E "slurm|readme_use" -LE browser "$@"
