#!/usr/bin/env bash
# `hubsync push` is a pipeline (issue 14): a file goes to preupload as soon as
# it is hashed, and its LFS object to the batch and storage as soon as the
# preupload answered, while later files are still being hashed. Proved from
# the emulator's request log, not from timing: the hash callbacks of one push
# run one at a time on the loop and the first one sends its file's preupload
# at once, so the first preupload names exactly one file — before, one
# preupload named every file, after all were hashed. Every file is asked
# about exactly once, in groups of at most 256 (huggingface_hub's chunk), and
# one commit carries them all, byte-identical.
TEST_NAME=test_push_pipeline
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --multipart-threshold 134217728 || exit 1

D=$WORK/ckpt
mkdir -p "$D"
mkfile "$D/model-00001-of-00002.safetensors" 3000000
mkfile "$D/model-00002-of-00002.safetensors" 67108864
echo '{"architectures": ["Bert"]}' >"$D/config.json"
"$PY" - "$D/logs" <<'PYEOF'
import os, sys
os.makedirs(sys.argv[1])
for i in range(600):  # more than two preupload groups of 256
    open(os.path.join(sys.argv[1], "step-%04d.json" % i), "w").write('{"step": %d}\n' % i)
PYEOF

push "$D" --repo alice/pipe
check "push exits 0" test "$RC" -eq 0
sed 's/^/  stderr: /' "$WORK/err" | tail -n 2

preuploads() { # the paths of each preupload, one line per call, in log order
    "$PY" - "$EMU_LOG" <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "/preupload/" in r["path"] and r["status"] == 200:
        print(json.dumps(r["paths"]))
PYEOF
}
preuploads >"$WORK/pre"
echo "  preupload calls: $(wc -l <"$WORK/pre"), files in each: $("$PY" -c '
import json, sys; print(" ".join(str(len(json.loads(l))) for l in open(sys.argv[1])))' "$WORK/pre")"
check "the first preupload names one file (sent while the others were being hashed)" \
    "$PY" -c 'import json, sys; sys.exit(0 if len(json.loads(open(sys.argv[1]).readline())) == 1 else 1)' "$WORK/pre"
check "every file asked about exactly once, at most 256 a call" "$PY" -c '
import json, os, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
asked = [p for c in calls for p in c]
want = sorted(os.path.relpath(os.path.join(r, n), sys.argv[2]) for r, _, ns in os.walk(sys.argv[2]) for n in ns)
sys.exit(0 if sorted(asked) == want and max(map(len, calls)) <= 256 else 1)' "$WORK/pre" "$D"
check "one commit with the 603 files" \
    test "$(log_count '"/commit/" in r["path"] and r["method"]=="POST" and len(r.get("ops",[]))==603')" -eq 1
check "the LFS shards were uploaded (one basic PUT each)" \
    test "$(log_count 'r["server"]=="storage" and r["method"]=="PUT" and r["status"]==200')" -eq 2
check "the shards and the config download back identical" \
    bash -c "[ \"\$(sha256sum <'$D/model-00002-of-00002.safetensors' | cut -d' ' -f1)\" = '$(remote_sha alice/pipe main model-00002-of-00002.safetensors)' ] &&
             [ \"\$(sha256sum <'$D/model-00001-of-00002.safetensors' | cut -d' ' -f1)\" = '$(remote_sha alice/pipe main model-00001-of-00002.safetensors)' ] &&
             [ \"\$(sha256sum <'$D/config.json' | cut -d' ' -f1)\" = '$(remote_sha alice/pipe main config.json)' ]"
check "a log file downloads back identical" \
    test "$(sha256sum <"$D/logs/step-0599.json" | cut -d' ' -f1)" = "$(remote_sha alice/pipe main logs/step-0599.json)"

# The progress says so (issue 14): while the first shard is uploaded the
# later ones are still being hashed, and the log-mode line (stderr not a
# terminal, a line at every report) shows both stages' bytes. Each shard's
# hash takes longer than the first one's preupload and batch round trips;
# the upload stage starting is reported at once, not after the 200 ms
# throttle. Sparse shards: hashing them takes CPU, writing them no disk.
P=$WORK/progress
mkdir -p "$P"
echo '{"architectures": ["Bert"]}' >"$P/config.json"
mkfile "$P/model-00001-of-00003.safetensors" 6000000
truncate -s 64M "$P/model-00002-of-00003.safetensors"
truncate -s 96M "$P/model-00003-of-00003.safetensors"
HUBSYNC_PROGRESS_INTERVAL_MS=0 push "$P" --repo alice/pipe-progress
check "progress push exits 0" test "$RC" -eq 0
grep -E "^hubsync: (hashing|upload)" "$WORK/err" | sed 's/^/  stderr: /' | head -n 8
check "a progress line shows the hashing and the upload at once" \
    grep -Eq "^hubsync: hashing [0-9.]+ (B|[KMG]iB) / 165\.7 MiB, uploading [0-9.]+ (B|[KMG]iB)( / [0-9.]+ [KMG]iB)? " "$WORK/err"
check "once hashing ended, the single-stage upload line" \
    grep -Eq "^hubsync: (upload|completing uploads): [0-9.]+ (B|[KMG]iB) / 165\.7 MiB " "$WORK/err"
check "no progress line says nothing new (time and rate aside)" "$PY" -c '
import re, sys
keys = [re.sub(r" [0-9.]+ (B|[KMG]iB)/s| ETA [0-9:]+| [0-9]+:[0-9]{2}(:[0-9]{2})?(?= |$)", "", l)
        for l in open(sys.argv[1]) if l.startswith("hubsync: ") and "%" in l]
sys.exit(0 if keys and all(a != b for a, b in zip(keys, keys[1:])) else 1)' "$WORK/err"
check "the shards download back identical" same_content "$P" alice/pipe-progress main

# The preupload sample is the file's first 512 bytes, kept from the read
# that hashed it (not read again): the emulator, like the Hub, makes a file
# of 1 MiB or more LFS when its sample holds a NUL (.raw: not in the default
# .gitattributes, which makes *.bin LFS whatever it holds), and refuses a
# commit with a binary regular file over 1 MiB. A NUL at byte 511 is in the
# sample, one at byte 512 is not — for files hashed within a batch (exactly
# 1 MiB) and in slices of their own (2 MiB), among 300 small files.
S=$WORK/samples
"$PY" - "$S" <<'PYEOF'
import os, sys
d = sys.argv[1]
for sub in ("in", "in/small", "out"):
    os.makedirs(os.path.join(d, sub))
for name, size, nul in (("in/head-nul.raw", 2 << 20, 511), ("out/late-nul.raw", 2 << 20, 512),
                        ("in/mib-head-nul.raw", 1 << 20, 511), ("in/mib-late-nul.raw", 1 << 20, 512)):
    b = bytearray(b"a" * size)
    b[nul] = 0
    open(os.path.join(d, name), "wb").write(b)
for i in range(300):
    open(os.path.join(d, "in", "small", "f%03d.txt" % i), "w").write("line %d\n" % i * (1 + i % 7))
PYEOF
push "$S/in" --repo alice/pipe-samples
check "samples push exits 0" test "$RC" -eq 0
check "a NUL at byte 511 (in the sample) makes LFS, one at 512 regular; the small files regular" "$PY" -c '
import json, sys
ops = [r["ops"] for r in map(json.loads, open(sys.argv[1])) if "/commit/" in r["path"] and r.get("ops")][-1]
kind = {o["path"]: o["op"] for o in ops}
sys.exit(0 if kind.pop("head-nul.raw") == kind.pop("mib-head-nul.raw") == "lfsFile" and
         kind.pop("mib-late-nul.raw") == "file" and len(kind) == 300 and
         set(kind.values()) == {"file"} else 1)' "$EMU_LOG"
check "the sampled files download back identical" same_content "$S/in" alice/pipe-samples main
push "$S/out" --repo alice/pipe-samples
check "a NUL at byte 512 is not in the sample: regular, refused as binary (exit 1)" \
    bash -c "[ $RC -eq 1 ] && grep -q 'contains binary files' '$WORK/err' &&
             grep -q 'Offending files: late-nul.raw ' '$WORK/err'"
finish
