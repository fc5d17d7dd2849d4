#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (CTest). Real-data tests read $SYNSWEEP_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
. scripts/env.sh
cd build
ctest --output-on-failure "$@"
