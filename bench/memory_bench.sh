#!/usr/bin/env bash
# Memory benchmark (the proof issue): peak RSS of `hubsync push` uploading one
# large generated file to the Hub emulator in --discard mode (bytes counted,
# not stored, so the disk holds one copy), which must stay under 64 MiB, and
# the @huggingface/hub JS client (bench/push_js.mjs) on the same file in the
# same run, with the ratio. The file is sparse (zeros): every contender still
# reads and hashes every byte and sends every byte over loopback HTTP; reading
# a hole costs the kernel a page of zeros instead of a disk read.
# After the push, the checks: exit 0, the commit URL on stdout, and the repo's
# file with the right size and the SHA-256 of that many zero bytes (computed
# here independently), then peak RSS < 64 MiB.
#   usage: bench/memory_bench.sh [--quick] [SIZE_MIB (20480)] [JS_SIZE_MIB (= SIZE_MIB; 0 = skip JS)]
#   --quick: 256 MiB, no JS (the ctest smoke run, a few seconds)
#   env: HUBSYNC_BIN, BENCH_DIR (/tmp), HS_PYTHON (/usr/bin/python3)
set -euo pipefail
quick=0
if [ "${1:-}" = --quick ]; then
    quick=1
    shift
fi
if [ $quick = 1 ]; then
    size_mib=${1:-256}
    js_mib=${2:-0}
else
    size_mib=${1:-20480}
    js_mib=${2:-$size_mib}
fi
limit_mib=64
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
bin=${HUBSYNC_BIN:-$src/build/cli/hubsync}
py=${HS_PYTHON:-/usr/bin/python3}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/hs-membench.XXXXXX")
export HS_SOURCE_DIR=$src HS_PYTHON=$py
# shellcheck source=../tests/hub_emulator/emulator.sh
source "$src/tests/hub_emulator/emulator.sh"
trap 'emu_stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
tok=hf_alice_write_0123456789abcdefghij
pass=0
fail=0
check() { # check DESCRIPTION CONDITION...
    local what=$1
    shift
    if "$@"; then
        echo "ok - $what"
        pass=$((pass + 1))
    else
        echo "FAIL - $what"
        fail=$((fail + 1))
    fi
}

# sparse_dir NAME MIB → a folder holding one sparse file of MIB MiB
sparse_dir() {
    mkdir -p "$work/$1"
    truncate -s "$(($2 << 20))" "$work/$1/model.safetensors"
    echo "$work/$1"
}

# stamp: prefix each line with the time it arrived (seconds, µs)
stamp() {
    local l
    while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done
}

# measure NAME command... → "$work/time.NAME": wall user sys maxrss_kb; stdout
# kept, stderr kept with arrival times (hubsync's phase lines time the phases)
measure() {
    local name=$1
    shift
    { /usr/bin/time -f "%e %U %S %M" -o "$work/time.$name" "$@" 2>&1 >"$work/out.$name"; } |
        stamp >"$work/err.$name" || {
        echo "$name failed:" >&2
        tail -n 5 "$work/err.$name" >&2
        return 1
    }
}

# repo_file_ok REPO MIB → the repo's model.safetensors has MIB MiB and the SHA-256 of zeros
repo_file_ok() {
    "$py" - "$EMU_URL" "$1" "$(($2 << 20))" "$src/tests/hub_emulator" <<'PY'
import hashlib, sys
sys.path.insert(0, sys.argv[4])
import emu_inspect
url, repo, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = {f["path"]: f for f in emu_inspect.list_files(url, repo)}
f = files.get("model.safetensors")
h, zeros, left = hashlib.sha256(), bytes(16 << 20), size
while left:
    n = min(left, len(zeros))
    h.update(zeros[:n] if n < len(zeros) else zeros)
    left -= n
ok = f is not None and f["size"] == size and f["lfs"] and f["sha256"] == h.hexdigest()
if not ok:
    print("repo %s holds %r; expected size %d sha256 %s" % (repo, f, size, h.hexdigest()), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

# ---- hubsync push -------------------------------------------------------------
ck=$(sparse_dir ckpt "$size_mib")
emu_start "$work/emu" --discard
measure hubsync env HF_TOKEN=$tok XDG_CACHE_HOME="$work/cache" "$bin" push "$ck" --repo alice/mem-c
url=$(tail -n 1 "$work/out.hubsync")
check "hubsync push printed the commit URL ($url)" grep -q "^$EMU_URL/alice/mem-c/commit/[0-9a-f]\{40\}\$" <<<"$url"
check "the repo holds model.safetensors: $size_mib MiB, SHA-256 of zeros" repo_file_ok alice/mem-c "$size_mib"
read -r _ _ _ rss_kb <"$work/time.hubsync"
if [[ $(ldd "$bin" 2>/dev/null) == *libasan* ]]; then # a sanitizer build's RSS is not the product's
    echo "skip - hubsync peak RSS $((rss_kb / 1024)) MiB < $limit_mib MiB (sanitizer build: not applied)"
else
    check "hubsync peak RSS $((rss_kb / 1024)) MiB < $limit_mib MiB" test "$rss_kb" -lt $((limit_mib << 10))
fi
emu_stop

# ---- @huggingface/hub -----------------------------------------------------------
if [ "$js_mib" -gt 0 ]; then
    jsck=$ck
    [ "$js_mib" = "$size_mib" ] || jsck=$(sparse_dir jsckpt "$js_mib")
    emu_start "$work/emu-js" --discard
    curl -sf -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
        -d '{"name":"mem-js","organization":"alice"}' "$EMU_URL/api/repos/create" >/dev/null
    measure js node "$here/push_js.mjs" "$EMU_URL" "$tok" alice/mem-js "$jsck"
    check "the JS client's repo holds the same file" repo_file_ok alice/mem-js "$js_mib"
    emu_stop
fi

# ---- report ----------------------------------------------------------------------
"$py" - "$work" "$size_mib" "$js_mib" <<'PY'
import os, sys
work, size_mib, js_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = []
for name, mib in (("hubsync", size_mib), ("js", js_mib)):
    p = os.path.join(work, "time." + name)
    if mib and os.path.exists(p):
        wall, user, sysc, rss = open(p).read().split()[-4:]
        rows.append((name, mib, float(wall), float(user), float(sysc), int(rss) / 1024))
print()
print("| contender | file MiB | wall s | MB/s | user s | sys s | CPU s | peak RSS MiB | RSS / file |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for n, mib, wall, user, sysc, rss in rows:
    print("| %s | %d | %.1f | %.0f | %.2f | %.2f | %.2f | %.1f | %.4f%% |" % (
        n, mib, wall, (mib << 20) / wall / 1e6, user, sysc, user + sysc, rss, 100 * rss / mib))
marks = {}  # hubsync's phase lines: "hubsync: hashing: …", "hubsync: preupload", …
for line in open(os.path.join(work, "err.hubsync")):
    t, _, msg = line.partition(" ")
    key = msg.split(":")[1].strip() if msg.startswith("hubsync:") and ":" in msg else ""
    marks.setdefault(key.split()[0] if key else "", float(t))
if all(k in marks for k in ("hashing", "preupload", "upload", "commit")):
    print()
    print("- hubsync phases (wall): hashing %.1f s (%.0f MB/s), upload %.1f s (%.0f MB/s)" % (
        marks["preupload"] - marks["hashing"], (size_mib << 20) / (marks["preupload"] - marks["hashing"]) / 1e6,
        marks["commit"] - marks["upload"], (size_mib << 20) / (marks["commit"] - marks["upload"]) / 1e6))
if len(rows) == 2:
    h, j = rows
    same = "same file" if h[1] == j[1] else "JS on %d MiB, hubsync on %d MiB" % (j[1], h[1])
    print()
    print("- peak RSS: JS / hubsync = %.1fx (%s)" % (j[5] / h[5], same))
    if h[1] == j[1]:
        print("- wall: JS / hubsync = %.2fx; CPU: hubsync / JS = %.2fx" % (
            j[2] / h[2], (h[3] + h[4]) / (j[3] + j[4])))
PY
echo "memory_bench: $pass passed, $fail failed"
[ "$fail" = 0 ]
