#!/usr/bin/env bash
# Idle benchmark: see bench/idle_bench.py for what is measured and how.
#   usage: bench/idle_bench.sh [--quick] [options of idle_bench.py, --help lists them]
#   env: HUBSYNC_BIN, BENCH_DIR (/tmp), HS_PYTHON (/usr/bin/python3), HS_KEEP=1
set -euo pipefail
exec "${HS_PYTHON:-/usr/bin/python3}" "$(cd "$(dirname "$0")" && pwd)/idle_bench.py" "$@"
