#!/usr/bin/env bash
# Push benchmark (issue 3 and the proof issue): the same generated checkpoint
# (3 safetensors shards, TOTAL_MIB in all, plus small files) pushed to the Hub
# emulator by `hubsync push` and by the @huggingface/hub JS client in one run,
# plus the floor: `sha256sum` of the same files + one plain `curl --upload-file`
# of the same bytes to the emulator's storage. Reports wall time, throughput,
# CPU time (user+sys) and peak RSS of each, and the ratios.
#   usage: bench/push_bench.sh [TOTAL_MIB (4096)]   env: HUBSYNC_BIN, BENCH_DIR (/tmp)
# The emulator runs with --discard (bytes counted and, for basic PUTs, hashed,
# but not written to disk) so that the disk is not what is measured.
set -euo pipefail
total_mib=${1:-4096}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
bin=${HUBSYNC_BIN:-$src/build/cli/hubsync}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/hs-bench.XXXXXX")
export HS_SOURCE_DIR=$src
# shellcheck source=../tests/hub_emulator/emulator.sh
source "$src/tests/hub_emulator/emulator.sh"
trap 'emu_stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
tok=hf_alice_write_0123456789abcdefghij

# ---- the checkpoint ---------------------------------------------------------
ck=$work/ckpt
mkdir -p "$ck"
shard=$(((total_mib << 20) / 3))
for i in 1 2 3; do
    head -c "$shard" /dev/urandom >"$ck/model-0000$i-of-00003.safetensors"
done
printf '{"architectures": ["BertForSequenceClassification"], "hidden_size": 768}\n' >"$ck/config.json"
head -c 700000 /dev/urandom | base64 >"$ck/tokenizer.json"
printf '{"weight_map": {}}\n' >"$ck/model.safetensors.index.json"
bytes=$(du -sb "$ck" | cut -f1)
cat "$ck"/* >/dev/null # page cache: every contender reads from memory
sync

measure() { # name command... → appends "name wall user sys maxrss_kb" to $work/results
    local name=$1
    shift
    /usr/bin/time -f "$name %e %U %S %M" -o "$work/time.$name" "$@" >"$work/out.$name" 2>"$work/err.$name" || {
        echo "$name failed:" >&2
        tail -n 5 "$work/err.$name" >&2
        return 1
    }
    cat "$work/time.$name" >>"$work/results"
}

# ---- hubsync push ------------------------------------------------------------
emu_start "$work/emu" --discard
measure hubsync env HF_TOKEN=$tok XDG_CACHE_HOME="$work/cache" "$bin" push "$ck" --repo alice/bench-c
emu_stop

# ---- @huggingface/hub ----------------------------------------------------------
emu_start "$work/emu-js" --discard
curl -sf -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
    -d '{"name":"bench-js","organization":"alice"}' "$EMU_URL/api/repos/create" >/dev/null
measure js node "$here/push_js.mjs" "$EMU_URL" "$tok" alice/bench-js "$ck"
emu_stop

# ---- floor: sha256sum + one curl --upload-file of the same bytes --------------
measure sha256sum sha256sum "$ck"/*
emu_start "$work/emu-floor" --discard --multipart-threshold 1099511627776
curl -sf -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
    -d '{"name":"floor","organization":"alice"}' "$EMU_URL/api/repos/create" >/dev/null
# One object of all the bytes (basic PUT, hashed by the emulator as it arrives).
cat "$ck"/* >"$work/all.bin"
oid=$(sha256sum "$work/all.bin" | cut -d' ' -f1)
href=$(curl -sf -H "Authorization: Bearer $tok" -H 'Content-Type: application/vnd.git-lfs+json' \
    -d "{\"operation\":\"upload\",\"transfers\":[\"basic\"],\"objects\":[{\"oid\":\"$oid\",\"size\":$bytes}]}" \
    "$EMU_URL/alice/floor.git/info/lfs/objects/batch" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["objects"][0]["actions"]["upload"]["href"])')
cat "$work/all.bin" >/dev/null
measure curl curl -sf --upload-file "$work/all.bin" -o /dev/null "$href"
emu_stop

# ---- report --------------------------------------------------------------------
/usr/bin/python3 - "$work/results" "$bytes" "$total_mib" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    n, wall, user, sysc, rss = line.split()
    rows[n] = dict(wall=float(wall), cpu=float(user) + float(sysc), user=float(user), sys=float(sysc), rss=int(rss) / 1024)
size = int(sys.argv[2])
floor = dict(wall=rows["sha256sum"]["wall"] + rows["curl"]["wall"],
             cpu=rows["sha256sum"]["cpu"] + rows["curl"]["cpu"],
             user=rows["sha256sum"]["user"] + rows["curl"]["user"],
             sys=rows["sha256sum"]["sys"] + rows["curl"]["sys"],
             rss=max(rows["sha256sum"]["rss"], rows["curl"]["rss"]))
rows["floor (sha256sum + curl)"] = floor
print("| contender | wall s | MB/s | user s | sys s | CPU s | peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|")
for n in ["hubsync", "js", "sha256sum", "curl", "floor (sha256sum + curl)"]:
    r = rows[n]
    print("| %s | %.2f | %.0f | %.2f | %.2f | %.2f | %.1f |" % (n, r["wall"], size / r["wall"] / 1e6, r["user"], r["sys"], r["cpu"], r["rss"]))
h, j = rows["hubsync"], rows["js"]
print()
print("- data: %d bytes (%d MiB of shards + small files)" % (size, int(sys.argv[3])))
print("- wall: JS / hubsync = %.2fx (target >= 1.5x); hubsync / floor = %.2fx (target <= 1.3x)" % (j["wall"] / h["wall"], h["wall"] / floor["wall"]))
print("- CPU: hubsync / JS = %.2fx (target <= 0.3x)" % (h["cpu"] / j["cpu"]))
print("- peak RSS: hubsync %.1f MiB (target < 64 MiB), JS %.1f MiB" % (h["rss"], j["rss"]))
PY
