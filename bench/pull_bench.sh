#!/usr/bin/env bash
# Pull benchmark (issue 16): one generated checkpoint (3 safetensors shards,
# TOTAL_MIB in all, plus optimizer.pt, scheduler.pt, rng_state.pth,
# trainer_state.json, config.json) pushed once to the Hub emulator as
# checkpoint-100/, then restored ROUNDS times by each peer, interleaved (the
# order alternates per round), each into an empty folder:
#   hubsync  `hubsync pull REPO --to DIR` (verifies every sha256 / git SHA-1)
#   js       @huggingface/hub downloadFileToCacheDir of every file, all at
#            once (bench/pull_js.mjs; streams to disk, verifies nothing)
#   curl     the floor: one `curl -Z` of every resolve URL (no checks)
# Reports the median wall time, throughput, CPU time (user+sys) and peak RSS
# of each, and checks that every peer's bytes are the checkpoint's.
#   usage: bench/pull_bench.sh [TOTAL_MIB (4096)] [ROUNDS (3)] | --quick
#   env: HUBSYNC_BIN, BENCH_DIR (/tmp)
# --quick (ctest bench_pull_smoke): 24 MiB, 1 round; fails on any error or
# byte mismatch, applies no performance limit.
set -euo pipefail
if [[ ${1:-} == --quick ]]; then
    total_mib=24 rounds=1
else
    total_mib=${1:-4096} rounds=${2:-3}
fi
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
bin=${HUBSYNC_BIN:-$src/build/daemon/hubsync}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/hs-pull-bench.XXXXXX")
export HS_SOURCE_DIR=$src
# shellcheck source=../tests/hub_emulator/emulator.sh
source "$src/tests/hub_emulator/emulator.sh"
trap 'emu_stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
tok=hf_alice_write_0123456789abcdefghij
repo=alice/pull-bench
if [[ ! -d $src/tests/js/node_modules/@huggingface/hub ]]; then
    echo "pull_bench: tests/js/node_modules missing: run npm ci in tests/js" >&2
    exit 1
fi

# ---- the checkpoint, pushed once ------------------------------------------------
ck=$work/src/checkpoint-100
mkdir -p "$ck"
shard=$(((total_mib << 20) / 3))
for i in 1 2 3; do
    head -c "$shard" /dev/urandom >"$ck/model-0000$i-of-00003.safetensors"
done
head -c 300000 /dev/urandom >"$ck/optimizer.pt"
head -c 1500 /dev/urandom >"$ck/scheduler.pt"
head -c 14000 /dev/urandom >"$ck/rng_state.pth"
printf '{"global_step": 100, "best_model_checkpoint": null, "log_history": []}\n' >"$ck/trainer_state.json"
printf '{"architectures": ["BertForSequenceClassification"], "hidden_size": 768}\n' >"$ck/config.json"
bytes=$(du -sb "$ck" | cut -f1)
(cd "$ck" && sha256sum -- * | sort -k2) >"$work/expected"
emu_start "$work/emu"
env HF_TOKEN=$tok XDG_CACHE_HOME="$work/cache" "$bin" push "$work/src" --repo $repo \
    >"$work/push.out" 2>&1 || {
    cat "$work/push.out" >&2
    exit 1
}
rm -rf "$work/src"
find "$EMU_DATA" -type f -exec cat {} + >/dev/null # page cache: served from memory

measure() { # name round command... → "name round wall user sys maxrss_kb" in $work/results
    local name=$1 round=$2
    shift 2
    sync
    /usr/bin/time -f "$name $round %e %U %S %M" -o "$work/time" "$@" >"$work/out.$name" \
        2>"$work/err.$name" || {
        echo "$name failed (round $round):" >&2
        tail -n 5 "$work/err.$name" >&2
        return 1
    }
    cat "$work/time" >>"$work/results"
}

check() { # name dir → the files of dir are the checkpoint's, byte for byte
    (cd "$2" && sha256sum -- * | sort -k2) >"$work/got.$1"
    if ! cmp -s "$work/expected" "$work/got.$1"; then
        echo "pull_bench: $1 restored other bytes:" >&2
        diff "$work/expected" "$work/got.$1" >&2 || true
        return 1
    fi
}

run_hubsync() {
    local d=$work/dest-hubsync
    rm -rf "$d" && mkdir -p "$d"
    measure hubsync "$1" env HF_TOKEN=$tok HF_ENDPOINT="$EMU_URL" XDG_CACHE_HOME="$work/cache" \
        "$bin" pull $repo --to "$d"
    check hubsync "$d/checkpoint-100"
    rm -rf "$d"
}

run_js() {
    local d=$work/dest-js
    rm -rf "$d" && mkdir -p "$d"
    measure js "$1" node "$here/pull_js.mjs" "$EMU_URL" "$tok" $repo checkpoint-100 "$d"
    check js "$(dirname "$(find "$d" -path '*/snapshots/*/checkpoint-100/config.json' | head -n1)")"
    rm -rf "$d"
}

run_curl() {
    local d=$work/dest-curl
    rm -rf "$d" && mkdir -p "$d"
    local args=()
    for f in $(cut -d' ' -f3 "$work/expected"); do
        args+=(-o "$d/$f" "$EMU_URL/$repo/resolve/main/checkpoint-100/$f")
    done
    measure curl "$1" curl -sfL -Z --parallel-max 8 -H "Authorization: Bearer $tok" "${args[@]}"
    check curl "$d"
    rm -rf "$d"
}

for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then
        run_hubsync "$r"
        run_js "$r"
    else
        run_js "$r"
        run_hubsync "$r"
    fi
    run_curl "$r"
done
emu_stop

# ---- report --------------------------------------------------------------------
/usr/bin/python3 - "$work/results" "$bytes" "$total_mib" "$rounds" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rnd, wall, user, sys_, rss = line.split()
    rows.setdefault(name, []).append((float(wall), float(user) + float(sys_), int(rss)))
size = int(sys.argv[2])
print("pull of one checkpoint: %s MiB requested, %d bytes in 8 files, %s round(s), "
      "interleaved; medians" % (sys.argv[3], size, sys.argv[4]))
print("%-8s %9s %10s %9s %9s" % ("peer", "wall s", "MB/s", "cpu s", "rss MiB"))
med = {}
for name in ("hubsync", "js", "curl"):
    r = rows.get(name, [])
    if not r:
        continue
    w = statistics.median(x[0] for x in r)
    c = statistics.median(x[1] for x in r)
    m = max(x[2] for x in r) / 1024
    med[name] = (w, c, m)
    print("%-8s %9.2f %10.1f %9.2f %9.1f   (walls: %s)" % (
        name, w, size / 1e6 / max(w, 1e-9), c, m, " ".join("%.2f" % x[0] for x in r)))
if "hubsync" in med and "js" in med:
    h, j = med["hubsync"], med["js"]
    print("hubsync / js: wall %.2fx, cpu %.2fx, rss %.2fx" % (
        h[0] / max(j[0], 1e-9), h[1] / max(j[1], 1e-9), h[2] / max(j[2], 1e-9)))
PY
