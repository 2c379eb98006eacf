#!/usr/bin/env bash
# Install dependencies, build, and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
dir=$(bash scripts/build.sh | tail -n 1)
"$dir/daemon/hubsync" --version
echo "demo: the daemon is not built yet; see the open issues." >&2
