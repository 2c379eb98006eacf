#!/usr/bin/env bash
# Install dependencies, build, and run the demo: a simulated transformers
# Trainer run (tests/fake_trainer) wrapped by `hubsync run`, each checkpoint
# pushed to the local Hub emulator (tests/hub_emulator) while "training" goes
# on, then the final model and the regenerated model card.
# Usage: scripts/demo.sh [WORKDIR]   (default: a new temporary directory)
# HUBSYNC_BIN=path runs that binary instead of installing and building (e.g. a
# Release build, for repeated runs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${HUBSYNC_BIN:-}" ]; then
  bin=$HUBSYNC_BIN
else
  bash scripts/deps.sh
  dir=$(bash scripts/build.sh | tail -n 1)
  bin=$PWD/$dir/cli/hubsync
fi
py=/usr/bin/python3
work=${1:-$(mktemp -d /tmp/hubsync-demo.XXXXXX)}
mkdir -p "$work"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# shellcheck source=../tests/hub_emulator/emulator.sh
source tests/hub_emulator/emulator.sh
emu_start "$work/hub"
trap 'emu_stop' EXIT
export HF_TOKEN=hf_alice_write_0123456789abcdefghij
say "Local Hub emulator at $EMU_URL (storage at $EMU_STORAGE_URL); token of user alice (org acme)"

repo=acme/demo-bert-finetuned
cat >"$work/job.json" <<JSON
{
  "state_dir": "$work/state",
  "jobs": [{
    "name": "demo",
    "watch": "$work/run",
    "hub_model_id": "$repo",
    "hub_strategy": "checkpoint",
    "supersede": false,
    "marker_quiet_seconds": 0.2,
    "model_card": {"base_model": "bert-base-cased", "datasets": ["glue"], "dataset_name": "glue mrpc",
                   "language": ["en"], "license": "apache-2.0"}
  }]
}
JSON
say "The plan (hubsync check-config)"
"$bin" check-config "$work/job.json"

say "hubsync run: 3 epochs, a save every 10 steps, 40 MB model in 2 shards, save_total_limit=1"
rc=0
"$bin" run --config "$work/job.json" -- "$py" tests/fake_trainer/fake_trainer.py \
    --out "$work/run" --epochs 3 --steps-per-epoch 10 --save-steps 10 --save-total-limit 1 \
    --model-size 40000000 --shards 2 --step-time 0.05 --metric-for-best-model accuracy --quiet \
    --events "$work/events.jsonl" || rc=$?
[ "$rc" = 0 ] || echo "demo: hubsync run exited $rc" >&2

say "Commits on the Hub (one per save, then the final push)"
curl -sf "$EMU_URL/api/models/$repo/commits/main" | "$py" -c '
import json, sys
for c in json.load(sys.stdin):
    print("  %s %s" % (c["id"][:12], c["title"]))'

say "What the repo holds (path, size, LFS sha256)"
curl -sf "$EMU_URL/api/models/$repo/tree/main?recursive=true" | "$py" -c '
import json, sys
for e in json.load(sys.stdin):
    if e["type"] == "file":
        lfs = e.get("lfs", {}).get("oid", "")
        print("  %-58s %10d %s" % (e["path"], e["size"], lfs[:16]))'

say "Downloaded bytes match the final model in the output dir"
for f in config.json model-00001-of-00002.safetensors model-00002-of-00002.safetensors; do
    a=$(curl -sfL "$EMU_URL/$repo/resolve/main/$f" | sha256sum | cut -d' ' -f1)
    b=$(sha256sum <"$work/run/$f" | cut -d' ' -f1)
    if [ "$a" = "$b" ]; then echo "  $f: sha256 ${a:0:16}… OK"; else echo "  $f: MISMATCH" >&2; exit 1; fi
done

say "The last checkpoint is on the Hub (last-checkpoint/, every file's sha256)"
"$py" - "$work/events.jsonl" "$EMU_URL" "$repo" <<'PY'
import hashlib, json, sys, urllib.request
events, url, repo = sys.argv[1:]
saves = [e for e in map(json.loads, open(events)) if e.get("event") == "save" and e.get("kind") == "checkpoint"]
last = saves[-1]
bad = 0
for f in last["files"]:
    rel = f["path"][len(last["dir"]) + 1:]
    try:
        data = urllib.request.urlopen("%s/%s/resolve/main/last-checkpoint/%s" % (url, repo, rel)).read()
        ok = hashlib.sha256(data).hexdigest() == f["sha256"]
    except OSError as e:
        ok = False
    bad += not ok
    print("  last-checkpoint/%-40s %s" % (rel, "OK" if ok else "MISSING or different"))
if bad:
    sys.exit("demo: %s (the last save) is not on the Hub: %d of %d files" % (last["dir"], bad, len(last["files"])))
PY
[ "$rc" = 0 ] || { echo "demo: hubsync run failed (exit $rc)" >&2; exit "$rc"; }

say "The regenerated model card (README.md on the Hub, first 40 lines)"
curl -sfL "$EMU_URL/$repo/resolve/main/README.md" | head -n 40

say "A one-shot push of a folder (hubsync push); pushing it again sends nothing"
"$bin" push "$work/run/runs" --repo alice/demo-logs --path-in-repo runs
"$bin" push "$work/run/runs" --repo alice/demo-logs --path-in-repo runs
echo
echo "demo: done (work files in $work)"
