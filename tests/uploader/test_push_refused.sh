#!/usr/bin/env bash
# `hubsync push` when the multipart completion refuses the uploaded parts
# (400 InvalidPart, the emulator's deterministic `badetag=N` fault: the upload
# can never be completed with the ETags the client holds):
# - refused once: the object's parts are forgotten, it is batched again (a new
#   upload id) and re-uploaded, the commit content is identical (sha256) and
#   there is exactly one commit;
# - refused every time: at most 2 new uploads, then a clear error (the Hub's
#   message, its error code and request id), exit 1, within seconds (no
#   livelock); the saved resume state keeps no ETag of the refused upload, so
#   the next run (emulator restarted without the fault) uploads afresh and
#   commits.
TEST_NAME=test_push_refused
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
CHUNK=524288
D=$WORK/ckpt
mkdir -p "$D"
echo '{"a": 1}' >"$D/config.json"
mkfile "$D/model.safetensors" 2621440 # 5 parts
OID=$(sha256sum <"$D/model.safetensors" | cut -d' ' -f1)
export HUBSYNC_RETRY_BASE_MS=50

# Requests of the emulator log about the big object, as "kind status upload-id fault" lines.
object_requests() {
    "$PY" - "$EMU_LOG" <<'PYEOF'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    p = r["path"]
    if r["server"] == "storage" and p.startswith("/upload/"):
        print("part", r["status"], p.split("/")[2], r.get("fault", "-"))
    elif p == "/api/complete_multipart":
        print("complete", r["status"], "-", r.get("fault", "-"))
    elif p.endswith("/objects/batch"):
        print("batch", r["status"], "-", r.get("fault", "-"))
PYEOF
}

# --- refused once ------------------------------------------------------------
emu_start "$WORK/emu1" --accounts "$WORK/accounts.json" --multipart-threshold 1048576 \
    --chunk-size $CHUNK --faults badetag=1 || exit 1
push "$D" --repo alice/refused-once --message "refused once"
check "refused once: push exits 0" test "$RC" -eq 0
[ "$RC" -eq 0 ] || sed 's/^/  err: /' "$WORK/err"
object_requests >"$WORK/req1"
check "the first completion was refused (400, badetag)" grep -qx "complete 400 - badetag" "$WORK/req1"
check "two completions: refused, then 200" \
    test "$(grep '^complete' "$WORK/req1" | cut -d' ' -f2 | tr '\n' ' ')" = "400 200 "
check "the object was batched again (2 batch calls)" test "$(grep -c '^batch 200' "$WORK/req1")" -eq 2
check "its 5 parts were sent to two different uploads (5 each)" \
    test "$(grep '^part 200' "$WORK/req1" | cut -d' ' -f3 | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" = "5 5 "
check "content identical (sha256)" same_content "$D" alice/refused-once main
check "exactly one commit besides the initial one" test "$(commits alice/refused-once)" -eq 2
check "the resume state is gone after success" test -z "$(ls -A "$WORK/cache/hubsync/push" 2>/dev/null)"
emu_stop

# --- refused every time ------------------------------------------------------
emu_start "$WORK/emu2" --accounts "$WORK/accounts.json" --multipart-threshold 1048576 \
    --chunk-size $CHUNK --faults badetag=1000 || exit 1
t0=$(date +%s.%N)
timeout 60 env HF_TOKEN="$TOKEN" XDG_CACHE_HOME="$WORK/cache" HF_HOME="$WORK/hfhome" \
    "$HUBSYNC_BIN" push "$D" --repo alice/refused --message "refused always" >"$WORK/out" 2>"$WORK/err"
RC=$?
secs=$("$PY" -c "import time; print('%.1f' % (time.time() - $t0))")
echo "  refused always: exit $RC after $secs s"
sed 's/^/  err: /' "$WORK/err" | grep -i "fail" | head -n 3
check "refused always: exit 1 (not a timeout)" test "$RC" -eq 1
check "refused always: done within 30 s" "$PY" -c "import sys; sys.exit(0 if $secs < 30 else 1)"
object_requests >"$WORK/req2"
check "three completions, all refused (1 + 2 new uploads)" \
    test "$(grep '^complete' "$WORK/req2" | cut -d' ' -f2 | tr '\n' ' ')" = "400 400 400 "
check "three uploads of 5 parts each" \
    test "$(grep '^part 200' "$WORK/req2" | cut -d' ' -f3 | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" = "5 5 5 "
check "the error names the object and the refusals" \
    grep -q "completing the multipart upload of $D/model.safetensors (refused 3 times" "$WORK/err"
check "the error carries the Hub's code and message" grep -q "HTTP 400 (InvalidPart).*ETag mismatch for part 1" "$WORK/err"
check "the error carries the request id" grep -q "\[request id Root=" "$WORK/err"
check "nothing was committed" test "$(commits alice/refused)" -eq 1
STATE=$(ls "$WORK"/cache/hubsync/push/* 2>/dev/null | head -n 1)
check "a resume state was saved" test -n "$STATE"
check "it keeps no upload (href, part URLs, ETags) for the refused object" "$PY" - "$STATE" "$OID" <<'PYEOF'
import json, sys
st = json.load(open(sys.argv[1]))
o = [o for o in st["objects"] if o["oid"] == sys.argv[2]]
print("  state of the object:", o)
sys.exit(0 if len(o) == 1 and not o[0]["done"] and "href" not in o[0] and "etags" not in o[0] else 1)
PYEOF
check "the token appears in no output, log or state" no_token_anywhere
# The same emulator (data, ports) without the fault: the next run resumes from that state,
# uploads the object afresh and commits once.
HUB_PORT=${EMU_URL##*:} STORAGE_PORT=${EMU_STORAGE_URL##*:}
emu_stop
emu_start "$WORK/emu2" --accounts "$WORK/accounts.json" --multipart-threshold 1048576 \
    --chunk-size $CHUNK --port "$HUB_PORT" --storage-port "$STORAGE_PORT" || exit 1
push "$D" --repo alice/refused --message "refused always"
check "the next run (no fault) exits 0" test "$RC" -eq 0
check "it resumed the saved state" grep -q "resuming an interrupted push" "$WORK/err"
check "content identical after the next run" same_content "$D" alice/refused main
check "exactly one commit after the next run" test "$(commits alice/refused)" -eq 2
emu_stop
finish
