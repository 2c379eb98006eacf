#!/usr/bin/env bash
# `hubsync push` under fault injection (5xx, 429 + Retry-After, connection
# resets, stalls, expired storage URLs, lost commit answers): the push still
# completes with identical content and exactly one commit; every request that
# followed a 429 waited at least its Retry-After.
TEST_NAME=test_push_faults
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --multipart-threshold 2097152 --chunk-size 524288 \
    --faults "api5xx=0.1,api429=0.2,storage5xx=0.15,reset=0.1,expire=0.03,stall=0.03,stall_s=4,lost=0.5" \
    --seed "${FAULT_SEED:-11}" || exit 1

D=$WORK/ckpt
mkdir -p "$D/sub"
echo '{"a": 1}' >"$D/config.json"
printf 'tok\n' >"$D/sub/tokenizer.txt"
mkfile "$D/weights.bin" 1500000
mkfile "$D/model.safetensors" 4718592   # 9 parts
mkfile "$D/sub/shard.bin" 3145728       # 6 parts

export HUBSYNC_RETRY_BASE_MS=50 HUBSYNC_STALL_SECONDS=2
for attempt in 1 2 3; do
    push "$D" --repo alice/faulty --message "under faults"
    [ "$RC" -eq 0 ] && break
    echo "  attempt $attempt failed (a re-run must resume): $(tail -n2 "$WORK/err" | tr '\n' ' ')"
done
check "push under faults exits 0" test "$RC" -eq 0
# Only hubsync's requests (before this test's own downloads) are judged below.
head -n "$(wc -l <"$EMU_LOG")" "$EMU_LOG" >"$WORK/push-log.jsonl"
check "content identical" same_content "$D" alice/faulty main
check "exactly one commit besides the initial one" test "$(commits alice/faulty)" -eq 2
check "faults were injected" test "$(log_count '"fault" in r')" -ge 5
check "no storage request carries Authorization" test "$(log_count 'r["server"]=="storage" and r["auth"]')" -eq 0

# Retry-After: the next request to the same path came >= 1 s (its Retry-After) later.
check "Retry-After respected after every 429" "$PY" - "$WORK/push-log.jsonl" <<'PYEOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
bad = 0
for i, r in enumerate(recs):
    # Completion URLs of different objects share a path: cannot pair them.
    if r["status"] != 429 or "complete" in r["path"]:
        continue
    nxt = [q for q in recs[i + 1:] if q["path"] == r["path"] and q["method"] == r["method"]]
    # ts is logged when a request ends; a 429 is answered at once, so the gap
    # between the 429 and the end of the retry is at least the wait.
    if nxt and nxt[0]["ts"] - r["ts"] < 1.0:
        print("  retried %s after %.3f s" % (r["path"], nxt[0]["ts"] - r["ts"]))
        bad += 1
sys.exit(1 if bad else 0)
PYEOF
"$PY" - "$EMU_LOG" <<'PYEOF'
import collections, json, sys
c = collections.Counter(json.loads(l).get("fault") for l in open(sys.argv[1]) if l.strip())
print("  faults injected:", dict((k, v) for k, v in c.items() if k))
PYEOF
check "the token appears in no output, log or state" no_token_anywhere
emu_stop

# Deterministic 429: the commit quota (1 commit per 10 s window, windows on wall
# clock multiples). Two pushes in one window: the second commit gets 429 with
# Retry-After and RateLimit r=0;t=N, waits, and lands in the next window.
emu_start "$WORK/emu-quota" --accounts "$WORK/accounts.json" --commit-quota 1 --commit-window 10 || exit 1
mkdir -p "$WORK/q1" "$WORK/q2"
echo one >"$WORK/q1/a.txt"
echo two >"$WORK/q2/b.txt"
push "$WORK/q1" --repo alice/quota # creates the repo (its initial commit is not a commit POST)
"$PY" -c 'import time; w = 10; time.sleep(w - time.time() % w + 0.05)' # start of a window
push "$WORK/q1" --repo alice/quota --include nothing-matches-so-rc-1 2>/dev/null # no-op
echo one-b >"$WORK/q1/a.txt"
push "$WORK/q1" --repo alice/quota
rc1=$RC
push "$WORK/q2" --repo alice/quota --path-in-repo two
check "both quota-limited pushes exit 0" test "$rc1" -eq 0 -a "$RC" -eq 0
check "the second commit got a 429 (quota)" test "$(log_count '"/commit/" in r["path"] and r["status"]==429')" -ge 1
check "the retried commit waited for the window to reset" "$PY" - "$EMU_LOG" <<'PYEOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
commits = [r for r in recs if "/commit/" in r["path"] and r["method"] == "POST"]
ok = False
for a, b in zip(commits, commits[1:]):
    if a["status"] == 429 and b["status"] == 200:
        # window boundary: b must be in the next 10 s window
        ok = int(b["ts"] // 10) > int(a["ts"] // 10)
        print("  429 at %.2f, retried commit done at %.2f" % (a["ts"], b["ts"]))
sys.exit(0 if ok else 1)
PYEOF
check "both files are there" same_content "$WORK/q2" alice/quota main two
emu_stop
finish
