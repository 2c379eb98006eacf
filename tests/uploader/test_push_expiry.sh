#!/usr/bin/env bash
# Short-lived presigned URLs (issue 13 item... lfs.c expiry margin): the
# emulator's --url-expiry makes every upload and part URL expire after N
# seconds (storage answers 403 "Request has expired" after that, the batch
# answer's expires_in/expires_at say so). Before, URLs valid for 120 s or less
# were never used and the object was batched again at once, forever (1,326
# batch calls in 60 s with a 2 s expiry, nothing uploaded, nothing logged).
# - --url-expiry 2 and 119: the push completes, each object batched once
#   (the pipeline may batch the two objects in one call or two, as their
#   hashes finish), in bounded time, content identical;
# - --url-expiry 0 (every URL already expired): the push gives up after the
#   bounded number of re-batch rounds (1 + 8), backing off, with a clear error.
TEST_NAME=test_push_expiry
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
export HUBSYNC_RETRY_BASE_MS=50
D=$WORK/ckpt
mkdir -p "$D"
echo '{"a": 1}' >"$D/config.json"
mkfile "$D/model.safetensors" 1572864 # multipart: 3 parts
mkfile "$D/small.bin" 600000          # basic PUT (LFS: *.bin in the default .gitattributes)
batches() { log_count 'r["path"].endswith("/info/lfs/objects/batch")'; }
# the most times one object was asked about in LFS batch calls
max_batched() {
    "$PY" - "$EMU_LOG" <<'PYEOF'
import collections, json, sys
n = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line) if line.strip() else {}
    if r.get("path", "").endswith("/info/lfs/objects/batch"):
        n.update(r.get("paths") or [])
print(max(n.values()) if n else 0)
PYEOF
}

timed_push() { # repo → RC, $secs
    local t0
    t0=$(date +%s.%N)
    timeout 60 env HF_TOKEN="$TOKEN" XDG_CACHE_HOME="$WORK/cache" HF_HOME="$WORK/hfhome" \
        "$HUBSYNC_BIN" push "$D" --repo "$1" >"$WORK/out" 2>"$WORK/err"
    RC=$?
    secs=$("$PY" -c "import time; print('%.1f' % (time.time() - $t0))")
}

for exp in 2 119; do
    emu_start "$WORK/emu$exp" --accounts "$WORK/accounts.json" --multipart-threshold 1048576 \
        --chunk-size 524288 --url-expiry "$exp" || exit 1
    timed_push alice/expiry$exp
    echo "  --url-expiry $exp: exit $RC after $secs s, $(batches) batch call(s)"
    [ "$RC" -eq 0 ] || sed 's/^/  err: /' "$WORK/err" | tail -n 3
    check "expiry $exp s: push exits 0" test "$RC" -eq 0
    check "expiry $exp s: each object batched once (the short-lived URLs were used)" \
        test "$(max_batched)" -eq 1
    check "expiry $exp s: done within 20 s" "$PY" -c "import sys; sys.exit(0 if $secs < 20 else 1)"
    check "expiry $exp s: content identical" same_content "$D" alice/expiry$exp main
    emu_stop
done

emu_start "$WORK/emu0" --accounts "$WORK/accounts.json" --multipart-threshold 1048576 \
    --chunk-size 524288 --url-expiry 0 || exit 1
timed_push alice/expiry0
echo "  --url-expiry 0: exit $RC after $secs s, $(batches) batch call(s)"
sed 's/^/  err: /' "$WORK/err" | grep -i "fail" | head -n 2
check "expired always: exit 1 (not a timeout)" test "$RC" -eq 1
check "expired always: an object batched 9 times (1 + 8 re-batches), not a loop" \
    test "$(max_batched)" -eq 9
check "expired always: the re-batches backed off (>= 1.5 s in all at a 50 ms base)" \
    "$PY" -c "import sys; sys.exit(0 if $secs >= 1.5 else 1)"
check "expired always: done within 30 s" "$PY" -c "import sys; sys.exit(0 if $secs < 30 else 1)"
check "expired always: a clear error naming the file and the URLs' lifetime" \
    grep -Eq "uploading $D/(model.safetensors|small.bin): the Hub's upload URLs expired or were refused before the object could be stored, 9 batch answers in a row; the last ones were valid for 0 s" "$WORK/err"
check "expired always: nothing committed" test "$(commits alice/expiry0)" -eq 1
check "the token appears in no output, log or state" no_token_anywhere
emu_stop
finish
