#!/usr/bin/env bash
# Detection-latency benchmark (issue 8): trainer completion marker → the
# daemon's READY and → the upload's first request, per layout (Trainer with 1
# and 2 ranks, Accelerate, Lightning, DeepSpeed, generic settle), with the
# default marker_quiet_seconds / settle_seconds and with tuned ones.
# The work is done by bench/latency_bench.py (see its header for the method).
#   usage: bench/latency_bench.sh [--quick] [--saves N] [--json FILE] [--keep]
#   env: HUBSYNC_BIN (build/cli/hubsync), HS_PYTHON (/usr/bin/python3), BENCH_DIR (/tmp)
# --quick (ctest smoke test, ~30 s): tuned values, 2 saves per layout; exits
# non-zero unless a READY latency and an upload start were measured for every save.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "${HS_PYTHON:-/usr/bin/python3}" "$here/latency_bench.py" "$@"
