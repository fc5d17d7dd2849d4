#!/usr/bin/env bash
# Runs every benchmark in one go: each sweep job kind against its PyTorch peer (whole
# processes, paired, launched with no environment variables), then the coordinator
# overhead:   bench/run.sh [--quick]       (figures: docs/PERFORMANCE.md)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --bench
scripts/build.sh
/usr/bin/python3 bench/pairs.py "$@"
echo "== coordinator overhead"
. scripts/env.sh
bench/coordinator.sh 10000 2
