#!/usr/bin/env bash
# `hubsync push` killed with SIGKILL at several points, then re-run: the push
# completes with identical content and exactly one commit; no part that
# storage acknowledged is ever sent again, and the bytes re-sent are bounded
# by the parts in flight at each kill (at most max_parallel parts per kill).
TEST_NAME=test_push_resume
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
CHUNK=1048576
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --multipart-threshold 2097152 --chunk-size $CHUNK || exit 1

D=$WORK/ckpt
mkdir -p "$D"
echo '{"a": 1}' >"$D/config.json"
mkfile "$D/model-00001.safetensors" 12582912 # 12 parts
mkfile "$D/model-00002.safetensors" 6291456  # 6 parts
mkfile "$D/optimizer.bin" 1500000           # basic PUT
TOTAL=$((12582912 + 6291456 + 1500000))
PAR=2
export HUBSYNC_MAX_PARALLEL=$PAR HUBSYNC_BANDWIDTH_MBPS=12 # 1.5 MB/s: ~13.6 s of upload, kills at 7.5 s in all

kills=0
for t in 0.3 1.2 2.4 3.6; do
    env HF_TOKEN="$TOKEN" XDG_CACHE_HOME="$WORK/cache" HF_HOME="$WORK/hfhome" \
        "$HUBSYNC_BIN" push "$D" --repo alice/resume >"$WORK/out" 2>"$WORK/err" &
    pid=$!
    sleep "$t"
    if kill -KILL "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null
done
check "the push was killed at least 3 times" test "$kills" -ge 3
check "a resume state file exists after the kills" test -n "$(ls -A "$WORK/cache/hubsync/push" 2>/dev/null)"
check "nothing was committed by the killed runs" test "$(commits alice/resume)" -eq 1
unset HUBSYNC_BANDWIDTH_MBPS
push "$D" --repo alice/resume
check "the re-run completes (exit 0)" test "$RC" -eq 0
check "it said it resumed" grep -q "resuming an interrupted push" "$WORK/err"
check "content identical" same_content "$D" alice/resume main
check "exactly one commit" test "$(commits alice/resume)" -eq 2
# A part storage acknowledged just before the kill (its ETag never reached
# hubsync) is in flight from hubsync's point of view and is sent again; every
# other acknowledged part must never be sent twice.
dups=$("$PY" - "$EMU_LOG" <<'PYEOF'
import collections, json, sys
c = collections.Counter(json.loads(l)["path"] for l in open(sys.argv[1]) if l.strip()
                        and json.loads(l)["server"] == "storage" and json.loads(l)["status"] == 200
                        and json.loads(l)["path"].startswith("/upload/"))
print(sum(n - 1 for n in c.values()))
PYEOF
)
echo "  acknowledged parts sent again: $dups (bound: kills x max_parallel = $((kills * PAR)))"
check "acknowledged parts re-sent <= parts in flight at the kills" test "$dups" -le $((kills * PAR))
sent=$("$PY" - "$EMU_LOG" <<'PYEOF'
import json, sys
print(sum(json.loads(l).get("req_bytes") or 0 for l in open(sys.argv[1]) if l.strip() and json.loads(l)["server"] == "storage"))
PYEOF
)
echo "  object bytes $TOTAL, storage request bytes logged $sent, kills $kills, parts in flight <= $PAR per kill"
check "bytes re-sent <= kills x max_parallel x part size" test $((sent - TOTAL)) -le $((kills * PAR * CHUNK))
check "the resume state is gone after success" test -z "$(ls -A "$WORK/cache/hubsync/push" 2>/dev/null)"

# A commit whose answer is lost and then killed: the re-run checks the tree and
# does not commit again.
emu_stop
emu_start "$WORK/emu2" --accounts "$WORK/accounts.json" --faults "lost=1.0" || exit 1
mkdir -p "$WORK/small" && echo one >"$WORK/small/a.txt" && echo two >"$WORK/small/b.txt"
export HUBSYNC_RETRY_BASE_MS=20
push "$WORK/small" --repo alice/lost
check "a push whose commit answer is lost still succeeds" test "$RC" -eq 0
check "...and found its commit in the tree" grep -q "the Hub's answer was lost; the commit is in the repo" "$WORK/err"
check "...with exactly one commit" test "$(commits alice/lost)" -eq 2

# The process died after sending the commit (state says "commit sent"): the
# re-run checks the repo tree (paths-info) before anything else and does not
# commit again when the files are there; when they are not, it pushes normally.
state_file() { # dir → the state file cmd_push uses for (endpoint, repo, main, dir, "")
    local key
    key=$(printf '%s\n%s\n%s\n%s\n%s' "$EMU_URL" "$2" main "$(realpath "$1")" "" | sha256sum | cut -c1-32)
    echo "$WORK/cache/hubsync/push/$key.json"
}
fake_sent_state() { # dir repo
    mkdir -p "$WORK/cache/hubsync/push"
    printf '{"version":1,"key":"%s\\nmodel\\n%s\\nmain","files":[],"objects":[],"commit_sent":true}' \
        "$EMU_URL" "$2" >"$(state_file "$1" "$2")"
}
fake_sent_state "$WORK/small" alice/lost
n=$(commits alice/lost)
push "$WORK/small" --repo alice/lost
check "commit-sent state, files in the repo: exit 0" test "$RC" -eq 0
check "...says the earlier commit is in the repo" grep -q "commit sent by an earlier run is in the repo" "$WORK/err"
check "...checked with paths-info" test "$(log_count '"paths-info" in r["path"]')" -ge 1
check "...and made no new commit" test "$(commits alice/lost)" -eq "$n"
echo changed >"$WORK/small/b.txt"
fake_sent_state "$WORK/small" alice/lost
push "$WORK/small" --repo alice/lost
check "commit-sent state, files not in the repo: exit 0" test "$RC" -eq 0
check "...commits the change once" test "$(commits alice/lost)" -eq $((n + 1))
check "...content identical" same_content "$WORK/small" alice/lost main
check "the token appears in no output, log or state" no_token_anywhere
emu_stop
finish
