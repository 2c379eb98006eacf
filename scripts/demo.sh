#!/usr/bin/env bash
# Install dependencies, build, and run the demo: a simulated training run
# (tests/fake_trainer) pushed to the local Hub emulator (tests/hub_emulator).
# Usage: scripts/demo.sh [WORKDIR]   (default: a new temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
bash scripts/deps.sh
dir=$(bash scripts/build.sh | tail -n 1)
bin=$src/$dir/daemon/hubsync
py=/usr/bin/python3
work=${1:-$(mktemp -d /tmp/hubsync-demo.XXXXXX)}
mkdir -p "$work"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# shellcheck source=../tests/hub_emulator/emulator.sh
source tests/hub_emulator/emulator.sh
emu_start "$work/hub" --chunk-size 8388608 --multipart-threshold 16777216
trap 'emu_stop' EXIT
export HF_TOKEN=hf_alice_write_0123456789abcdefghij
say "Local Hub emulator at $EMU_URL (storage at $EMU_STORAGE_URL); token of user alice"

say "Simulated transformers Trainer run: 3 epochs, a save every 10 steps, 40 MB model in 2 shards"
"$py" tests/fake_trainer/fake_trainer.py --out "$work/run" --epochs 3 --steps-per-epoch 10 \
    --save-steps 10 --save-total-limit 2 --model-size 40000000 --shards 2 --quiet
(cd "$work/run" && find . -type f | sort | sed 's|^\./|  |')

repo=acme/demo-bert-finetuned
say "hubsync push: the final output dir as one commit to $repo (checkpoints excluded)"
"$bin" push "$work/run" --repo "$repo" --exclude 'checkpoint-*' --exclude '_*' \
    --message "End of training"

say "Pushing again sends nothing: every file is already on the Hub"
"$bin" push "$work/run" --repo "$repo" --exclude 'checkpoint-*' --exclude '_*'

say "What the Hub holds now (path, size, LFS sha256)"
curl -sf "$EMU_URL/api/models/$repo/tree/main?recursive=true" | "$py" -c '
import json, sys
for e in json.load(sys.stdin):
    if e["type"] == "file":
        lfs = e.get("lfs", {}).get("oid", "")
        print("  %-40s %10d %s" % (e["path"], e["size"], lfs[:16]))'
say "Commits"
curl -sf "$EMU_URL/api/models/$repo/commits/main" | "$py" -c '
import json, sys
for c in json.load(sys.stdin):
    print("  %s %s" % (c["id"][:12], c["title"]))'
say "Downloaded bytes match the local files"
for f in config.json model-00001-of-00002.safetensors model-00002-of-00002.safetensors; do
    if [ -f "$work/run/$f" ]; then
        a=$(curl -sfL "$EMU_URL/$repo/resolve/main/$f" | sha256sum | cut -d' ' -f1)
        b=$(sha256sum <"$work/run/$f" | cut -d' ' -f1)
        [ "$a" = "$b" ] && echo "  $f: sha256 $a OK" || { echo "  $f: MISMATCH" >&2; exit 1; }
    fi
done
echo
echo "demo: done (work files in $work)"
