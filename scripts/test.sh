#!/usr/bin/env bash
# Install dependencies, build (warnings are errors), check the formatting and run
# the tests under ctest.
# Usage: scripts/test.sh [--sanitize | --tsan]
#   (none)      every test, in build/
#   --sanitize  every test built with AddressSanitizer + UndefinedBehaviorSanitizer,
#               in build-sanitize/
#   --tsan      the unit and watcher tests (ctest -L 'unit|watcher') built with
#               ThreadSanitizer, in build-tsan/ (suppressions: tests/tsan.supp)
# Each test runs once: a failure fails the run (no retry hides a flaky test).
# Environment:
#   HUBSYNC_TEST_JOBS=N      ctest -jN (default: the number of CPUs)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
labels=
for a in "$@"; do
  case $a in
    --tsan) labels='unit|watcher' ;;
    --sanitize) ;;
    *) echo "test.sh: unknown argument $a (usage: test.sh [--sanitize|--tsan])" >&2; exit 2 ;;
  esac
done
bash scripts/deps.sh
dir=$(bash scripts/build.sh "$@" | tail -n 1)
cmake --build "$dir" --target check-format
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1 suppressions=$src/tests/tsan.supp}
cd "$dir"
args=(--output-on-failure -j"${HUBSYNC_TEST_JOBS:-$(nproc)}" --timeout 600)
[ -z "$labels" ] || args+=(-L "$labels")
ctest "${args[@]}"
