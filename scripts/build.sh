#!/usr/bin/env bash
# Configure and build hubsync, warnings as errors (HUBSYNC_WERROR=ON).
# Usage: scripts/build.sh [--sanitize | --tsan] [-DVAR=VALUE...] [BUILD_DIR]
#   --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer, default dir build-sanitize/
#   --tsan       ThreadSanitizer, default dir build-tsan/
#   -DVAR=VALUE  passed to cmake after the defaults (RelWithDebInfo, tests on), e.g.
#                -DCMAKE_BUILD_TYPE=Release; the compiler comes from CC (CC=clang).
# Default build dir: build/. Prints the build dir on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
san=OFF dir= defs=()
for a in "$@"; do
  case $a in
    --sanitize) san=address ;;
    --tsan) san=thread ;;
    -D*) defs+=("$a") ;;
    -*) echo "build.sh: unknown option $a (usage: build.sh [--sanitize|--tsan] [-DVAR=VALUE...] [BUILD_DIR])" >&2; exit 2 ;;
    *) dir=$a ;;
  esac
done
if [ -z "$dir" ]; then
  case $san in address) dir=build-sanitize ;; thread) dir=build-tsan ;; *) dir=build ;; esac
fi
cmake -S . -B "$dir" -DHUBSYNC_SANITIZE=$san -DHUBSYNC_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${defs[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
echo "$dir"
