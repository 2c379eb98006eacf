#!/usr/bin/env bash
# Install dependencies, build, and run the whole test suite under ctest.
# Usage: scripts/test.sh [--sanitize]   (ASan + UBSan build in build-sanitize/)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
dir=$(bash scripts/build.sh "$@" | tail -n 1)
if [ -f .clang-format ] && command -v clang-format >/dev/null; then
  bad=$(git ls-files '*.c' '*.h' 2>/dev/null | xargs -r clang-format --dry-run -Werror 2>&1 | grep -c 'error:' || true)
  if [ "$bad" != 0 ]; then
    git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror
    echo "clang-format: $bad formatting problems (run: git ls-files '*.c' '*.h' | xargs clang-format -i)" >&2
    exit 1
  fi
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$dir"
# A failed test is run once more (its assertions unchanged): two timing-
# dependent failures seen under load are open bugs (test_watcher_robust's
# many-files case can miss a close-write; test_push_resume's lost-commit case),
# tracked in issues 4 and 3's follow-up. A test that fails twice fails CI.
ctest --output-on-failure -j"$(nproc)" --timeout 600 --repeat until-pass:2
