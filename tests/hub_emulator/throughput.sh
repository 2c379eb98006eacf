#!/usr/bin/env bash
# Storage ingest throughput of the Hub emulator on loopback, with a client that does
# not hash: one LFS object of SIZE_MIB is announced through the LFS batch API with
# PARTS multipart parts, then the parts are uploaded by PARTS parallel `curl -T`.
# Prints MB/s for the part uploads (the figure in README.md), then completes the upload
# (which hashes and verifies the object) and reports that time separately.
#   usage: throughput.sh [SIZE_MIB (1024)] [PARTS (4)] [--discard]
set -euo pipefail
size_mib=${1:-1024}
parts=${2:-4}
extra=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TPUT_DIR:-/tmp}/hs-emu-tput.XXXXXX")
trap 'emu_stop || true; rm -rf "$work"' EXIT
# shellcheck source=emulator.sh
source "$here/emulator.sh"
chunk=$(((size_mib << 20) / parts))
emu_start "$work" --multipart-threshold 1 --chunk-size "$chunk" $extra
tok=hf_alice_write_0123456789abcdefghij
head -c $((size_mib << 20)) /dev/urandom >"$work/obj"
split -n "$parts" -d -a 5 "$work/obj" "$work/part."
oid=$(sha256sum "$work/obj" | cut -d' ' -f1)
cat "$work"/part.* >/dev/null # warm the page cache: measure the server, not the disk
sync # flush the dirty input files so that writeback throttling does not hit the server
curl -sf -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
    -d '{"name":"tput","organization":"alice"}' "$EMU_URL/api/repos/create" >/dev/null
curl -sf -H "Authorization: Bearer $tok" -H 'Content-Type: application/vnd.git-lfs+json' \
    -d "{\"operation\":\"upload\",\"transfers\":[\"basic\",\"multipart\"],\"objects\":[{\"oid\":\"$oid\",\"size\":$((size_mib << 20))}]}" \
    "$EMU_URL/alice/tput.git/info/lfs/objects/batch" >"$work/batch.json"
mapfile -t urls < <(/usr/bin/python3 -c '
import json,sys
a=json.load(open(sys.argv[1]))["objects"][0]["actions"]["upload"]
print(a["href"])
for k in sorted((k for k in a["header"] if k.isdigit()), key=int): print(a["header"][k])' "$work/batch.json")
t0=$(date +%s.%N)
pids=()
for ((i = 0; i < parts; i++)); do
    f=$(printf '%s/part.%05d' "$work" "$i")
    curl -sf -T "$f" -D "$work/h.$i" -o /dev/null "${urls[$((i + 1))]}" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
t1=$(date +%s.%N)
body=$(/usr/bin/python3 -c '
import sys,json
parts=[]
for i in range(int(sys.argv[2])):
    et=[l.split(":",1)[1].strip() for l in open("%s/h.%d"%(sys.argv[1],i)) if l.lower().startswith("etag:")][0]
    parts.append({"partNumber":i+1,"etag":et})
print(json.dumps({"oid":sys.argv[3],"parts":parts}))' "$work" "$parts" "$oid")
curl -sf -H 'Content-Type: application/vnd.git-lfs+json' -d "$body" "${urls[0]}" >/dev/null
t2=$(date +%s.%N)
/usr/bin/python3 -c '
import sys
size, t0, t1, t2 = int(sys.argv[1]), *map(float, sys.argv[2:5])
print("emulator storage ingest: %d MiB in %d parallel part PUTs: %.2f s = %.0f MB/s (%.2f GiB/s); completion (hash+verify+assemble): %.2f s"
      % (size >> 20, int(sys.argv[5]), t1 - t0, size / (t1 - t0) / 1e6, size / (t1 - t0) / 2**30, t2 - t1))' \
    $((size_mib << 20)) "$t0" "$t1" "$t2" "$parts"
