#!/usr/bin/env bash
# Training-interference benchmark (issue 8): a CPU- and I/O-bound stand-in for
# a training loop (bench/standin.py) alone, then beside `hubsync daemon`
# pushing a large checkpoint (current defaults, and with a lowered CPU/I/O
# priority), then beside the @huggingface/hub client uploading the same
# checkpoint; prints the stand-in's slowdown per case. The work is done by
# bench/interference_bench.py (see its header for the method and options).
#   usage: bench/interference_bench.sh [--quick] [--size-mib 2048] [--reps 3]
#          [--iters N] [--boost N] [--no-js] [--json FILE] [--keep]
#   env: HUBSYNC_BIN (build/cli/hubsync), HS_PYTHON (/usr/bin/python3),
#        BENCH_DIR (/tmp)
# --quick (ctest smoke test, ~30 s): 64 MiB, one repetition; exits non-zero
# unless every run completed and every push was measured.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "${HS_PYTHON:-/usr/bin/python3}" "$here/interference_bench.py" "$@"
