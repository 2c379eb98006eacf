#!/usr/bin/env bash
# Scale benchmark: see bench/scale_bench.py for what is measured and how.
#   usage: bench/scale_bench.sh [--quick] [options of scale_bench.py, --help lists them]
#   env: HUBSYNC_BIN, BENCH_DIR (/tmp), HS_PYTHON (/usr/bin/python3), HS_KEEP=1
set -euo pipefail
exec "${HS_PYTHON:-/usr/bin/python3}" "$(cd "$(dirname "$0")" && pwd)/scale_bench.py" "$@"
