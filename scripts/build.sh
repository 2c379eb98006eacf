#!/usr/bin/env bash
# Configure and build hubsync. Usage: scripts/build.sh [--sanitize] [BUILD_DIR]
# Default build dir: build/ (build-sanitize/ with --sanitize).
set -euo pipefail
cd "$(dirname "$0")/.."
san=OFF dir=
for a in "$@"; do
  case $a in
    --sanitize) san=ON ;;
    *) dir=$a ;;
  esac
done
[ -n "$dir" ] || { [ $san = ON ] && dir=build-sanitize || dir=build; }
cmake -S . -B "$dir" -DHUBSYNC_SANITIZE=$san -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j"$(nproc)"
echo "$dir"
