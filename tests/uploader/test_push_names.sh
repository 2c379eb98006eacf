#!/usr/bin/env bash
# Names the Hub cannot store, and requests the Hub refuses for good (issue 12
# items 4 and 6):
# - a folder with a backslash name (the Hub answers 400 "Invalid path" to its
#   preupload), a name with a newline, one that is not UTF-8 and one under
#   .cache/: each is skipped before any request with one warning naming it and
#   why, the rest commits, the summary counts them, and no request names them;
# - every name unstorable: exit 1, HS_EREFUSED's message, nothing committed;
# - a valid name the Hub refuses (emulator fault refuse_path=GLOB:422): the
#   push ends at once with the Hub's code, message and request id — one
#   preupload, not retried — and says a re-run fails the same way; the same
#   for a commit refused with 400 (refuse_commit): one commit request.
TEST_NAME=test_push_names
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
export HUBSYNC_RETRY_BASE_MS=50
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" \
    --faults 'refuse_path=*refused.bin:422,refuse_commit=*refused-at-commit.txt:400' || exit 1

D=$WORK/ckpt
mkdir -p "$D/checkpoint-50/.cache" "$D/ok"
echo '{"a": 1}' >"$D/checkpoint-50/config.json"
echo 'w' >"$D/checkpoint-50/back\slash.txt"
echo 'n' >"$D/checkpoint-50/new"$'\n'"line.txt"
echo 'u' >"$D/checkpoint-50/latin1-"$'\xe9'".txt"
echo 'c' >"$D/checkpoint-50/.cache/state.json"
echo 'k' >"$D/ok/kept.txt"
push "$D" --repo alice/names
sed 's/^/  err: /' "$WORK/err" | grep -iv "upload:\|hashing" | head -n 12
check "bad names: exit 0" test "$RC" -eq 0
check "one warning for the backslash name, saying why" \
    grep -q 'warn.*skipped "checkpoint-50/back\\x5cslash.txt": .*backslash' "$WORK/err"
check "one warning for the newline name (escaped)" \
    grep -q 'warn.*skipped "checkpoint-50/new\\x0aline.txt": .*control character' "$WORK/err"
check "one warning for the name that is not UTF-8" \
    grep -q 'warn.*skipped "checkpoint-50/latin1-\\xe9.txt": .*not valid UTF-8' "$WORK/err"
check "one warning for the .cache/ file" grep -q 'warn.*skipped "checkpoint-50/.cache/state.json"' "$WORK/err"
check "exactly four warnings" test "$(grep -c 'warn.*skipped "' "$WORK/err")" -eq 4
check "the summary counts the skipped files" grep -q "4 files skipped" "$WORK/err"
"$PY" "$HS_SOURCE_DIR/tests/hub_emulator/emu_inspect.py" files --url "$EMU_URL" --repo alice/names --token "$TOKEN" |
    "$PY" -c 'import json,sys; print(" ".join(sorted(json.loads(l)["path"] for l in sys.stdin)))' >"$WORK/files"
check "the rest was committed" test "$(cat "$WORK/files")" = ".gitattributes checkpoint-50/config.json ok/kept.txt"
check "no request was refused (the skipped names never reached the Hub)" \
    test "$(log_count 'r["server"] == "hub" and r["status"] >= 400 and "/api/models/" in r["path"]')" -eq 0
check "exactly one commit besides the initial one" test "$(commits alice/names)" -eq 2

# --- every name unstorable ---------------------------------------------------
mkdir -p "$WORK/bad"
echo 'w' >"$WORK/bad/only\one.txt"
before=$(log_count 'True')
push "$WORK/bad" --repo alice/nothing
check "nothing storable: exit 1" test "$RC" -eq 1
check "nothing storable: the Hub-refused message (HS_EREFUSED)" \
    grep -q 'none of the 1 files can be stored on the Hub (skipped "only\\x5cone.txt"' "$WORK/err"
check "nothing storable: refused before any request (no repo was created)" \
    test "$(log_count 'True')" -eq "$before"

# --- a name the Hub refuses: 422 from preupload, never retried -----------------
mkdir -p "$WORK/r"
echo 'x' >"$WORK/r/refused.bin"
echo 'y' >"$WORK/r/fine.txt"
before=$(log_count '"/preupload/" in r["path"]')
t0=$(date +%s.%N)
timeout 60 env HF_TOKEN="$TOKEN" XDG_CACHE_HOME="$WORK/cache" HF_HOME="$WORK/hfhome" \
    "$HUBSYNC_BIN" push "$WORK/r" --repo alice/names >"$WORK/out" 2>"$WORK/err"
RC=$?
secs=$("$PY" -c "import time; print('%.1f' % (time.time() - $t0))")
echo "  refused path: exit $RC after $secs s"
sed 's/^/  err: /' "$WORK/err" | grep -i "fail\|refused" | head -n 3
check "refused: exit 1 (not a timeout)" test "$RC" -eq 1
check "refused: within 10 s" "$PY" -c "import sys; sys.exit(0 if $secs < 10 else 1)"
check "refused: the Hub's status, code and message" \
    grep -q "preupload: HTTP 422 (InjectedRefusal) from POST .*: Invalid path 'refused.bin'" "$WORK/err"
check "refused: the request id" grep -q "request id Root=" "$WORK/err"
check "refused: says a re-run fails the same way" grep -q "refused this request for good" "$WORK/err"
# files go to preupload as they are hashed: the two may be asked in one call or two
check "refused: the refusing preupload was sent once, not retried" \
    test "$(log_count '"/preupload/" in r["path"] and r["status"]==422')" -eq 1
check "refused: at most one preupload per file" \
    test "$(($(log_count '"/preupload/" in r["path"]') - before))" -le 2
check "refused: no commit" test "$(commits alice/names)" -eq 2

# --- the commit refused (400, after a clean preupload): not sent twice -----------
mkdir -p "$WORK/rc"
echo 'z' >"$WORK/rc/refused-at-commit.txt"
before=$(log_count 'r["path"].endswith("/commit/main")')
push "$WORK/rc" --repo alice/names
sed 's/^/  err: /' "$WORK/err" | grep -i "fail" | head -n 2
check "commit refused: exit 1" test "$RC" -eq 1
check "commit refused: the Hub's answer" \
    grep -q "commit: HTTP 400 (BadRequest) from POST .*: Invalid path 'refused-at-commit.txt'.*request id" "$WORK/err"
check "commit refused: says a re-run fails the same way" grep -q "refused this request for good" "$WORK/err"
check "commit refused: one commit request, not retried" \
    test "$(($(log_count 'r["path"].endswith("/commit/main")') - before))" -eq 1
check "the token appears in no output, log or state" no_token_anywhere
emu_stop
finish
