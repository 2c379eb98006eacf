#!/bin/bash
# soak.sh — the long reliability soak by hand (not in CI): soak.py with the
# environment ctest would give it. Defaults: 100 kills, seed 1, 20 saves,
# all_checkpoints, 2 MB weights, 5xx/429/reset/stall faults; every soak.py
# option passes through (soak.py --help). Prints a summary table.
#   tests/soak/soak.sh --kills 100 --seed 7 [--strategy checkpoint] [--build DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${HS_BUILD_DIR:-$src/build}
args=()
while (($#)); do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    *) args+=("$1"); shift ;;
    esac
done
export HS_SOURCE_DIR=$src HS_BUILD_DIR=$build HUBSYNC_BIN=${HUBSYNC_BIN:-$build/cli/hubsync}
export HS_PYTHON=${HS_PYTHON:-/usr/bin/python3}
for f in "$HUBSYNC_BIN" "$build/tests/soak/soak_jdump"; do
    [[ -x $f ]] || { echo "soak.sh: $f missing: build with cmake --build $build" >&2; exit 2; }
done
exec "$HS_PYTHON" "$here/soak.py" --name soak "${args[@]}"
