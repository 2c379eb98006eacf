#!/usr/bin/env bash
# Save-to-Hub latency (issue 14, hash while written): a writer writes one big
# checkpoint at a set rate and then its completion marker; marker → READY →
# first request → commit, with the daemon hashing files as they are written
# (HUBSYNC_PREHASH=1) and without (=0), against the upload alone. The work is
# done by bench/save_latency_bench.py (see its header for the method).
#   usage: bench/save_latency_bench.sh [--mib N] [--rate MBps] [--shards N]
#          [--rounds N] [--json FILE] [--quick]
#   env: HUBSYNC_BIN (build/cli/hubsync), HS_PYTHON (/usr/bin/python3), BENCH_DIR (/tmp)
# --quick (ctest smoke test, a few seconds): 32 MiB, one round per mode; exits
# non-zero unless every round committed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "${HS_PYTHON:-/usr/bin/python3}" "$here/save_latency_bench.py" "$@"
