#!/usr/bin/env bash
# The commit POST whose answer is lost, made deterministic with lost_proxy.py
# in front of the emulator (the emulator's own `lost` fault resets the
# connection, and whether libcurl then replays the POST depends on timing —
# the flaky failure of test_push_resume under load):
#   lose   the answer of the applied commit never comes (FIN on a reused
#          connection): the commit is sent once, found in the tree, exit 0.
#   replay something replays the commit and hubsync sees the 412 of the
#          replay: hubsync checks the tree, finds its files, exit 0.
#   race   someone else really committed first (412): the tree does not have
#          our files, exit 1 with the Hub's message, nothing committed.
TEST_NAME=test_push_lost_commit
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" || exit 1
EMU_ENDPOINT=$EMU_URL
PROXY_PID=
trap 'proxy_stop; emu_stop >/dev/null 2>&1; rm -rf "$WORK"' EXIT

proxy_start() { # mode
    local out=$WORK/proxy-$1.out i
    : >"$WORK/proxy.log"
    "$PY" "$HS_SOURCE_DIR/tests/uploader/lost_proxy.py" --upstream "$EMU_ENDPOINT" \
        --log "$WORK/proxy.log" --mode "$1" >"$out" 2>"$WORK/proxy-$1.err" &
    PROXY_PID=$!
    for ((i = 0; i < 100; i++)); do
        grep -q listening "$out" 2>/dev/null && break
        sleep 0.1
    done
    export HF_ENDPOINT
    HF_ENDPOINT=$(awk '{print $4}' "$out")
    [ -n "$HF_ENDPOINT" ] || echo "lost_proxy did not start: $(cat "$WORK/proxy-$1.err")" >&2
    [ -n "$HF_ENDPOINT" ]
}
proxy_stop() {
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
    PROXY_PID=
    export HF_ENDPOINT=$EMU_ENDPOINT
}
# Commit POST statuses the proxy forwarded, space-separated.
proxy_commits() { tr '\n' ' ' <"$WORK/proxy.log" | sed 's/ $//'; }

D=$WORK/small
mkdir -p "$D" && echo one >"$D/a.txt" && echo two >"$D/b.txt"
export HUBSYNC_RETRY_BASE_MS=20

proxy_start lose || exit 1
push "$D" --repo alice/lost
check "lose: exit 0 although the commit answer was lost" test "$RC" -eq 0
check "lose: the commit reached the Hub exactly once (no replay by libcurl)" \
    test "$(proxy_commits)" = "200"
check "lose: found its commit in the tree" grep -q "answer was lost; the commit is in the repo" "$WORK/err"
check "lose: exactly one commit" test "$(commits alice/lost)" -eq 2
check "lose: content identical" same_content "$D" alice/lost main
proxy_stop

echo three >"$D/b.txt"
proxy_start replay || exit 1
push "$D" --repo alice/lost
check "replay: exit 0 after the replay's 412" test "$RC" -eq 0
check "replay: the Hub applied the first and refused the replay" \
    test "$(proxy_commits)" = "200 412"
check "replay: checked the tree (paths-info) after the 412" \
    test "$(log_count '"paths-info" in r["path"]')" -ge 2
check "replay: says the commit is in the repo" grep -q "answer was lost; the commit is in the repo" "$WORK/err"
check "replay: one more commit" test "$(commits alice/lost)" -eq 3
check "replay: content identical" same_content "$D" alice/lost main
proxy_stop

echo four >"$D/b.txt"
proxy_start race || exit 1
push "$D" --repo alice/lost
check "race: exit 1" test "$RC" -eq 1
check "race: the Hub's 412 message" grep -q "A commit has happened since" "$WORK/err"
check "race: says the branch moved" grep -q "the branch moved while pushing" "$WORK/err"
check "race: only the other writer's commit landed" test "$(commits alice/lost)" -eq 4
check "race: our change is not in the repo" \
    test "$(remote_sha alice/lost main b.txt)" != "$(sha256sum <"$D/b.txt" | cut -d' ' -f1)"
proxy_stop
push "$D" --repo alice/lost
check "race: the re-run commits it" test "$RC" -eq 0
check "race: content identical after the re-run" same_content "$D" alice/lost main
check "the token appears in no output, log or state" no_token_anywhere
finish
