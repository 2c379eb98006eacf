#!/usr/bin/env bash
# `hubsync push` interrupted by SIGINT / SIGTERM mid-upload: it saves its
# state, says "interrupted; re-run the same command to resume", exits 130 /
# 143 with nothing committed and nothing on stdout; the re-run completes with
# identical content (sha256 of every file), exactly one commit, and no part
# that storage acknowledged before the interrupt is sent again (beyond the
# parts in flight at that moment, whose answers it cut). Two signals
# in a row: exit 130 at once, the state file still whole.
TEST_NAME=test_push_signal
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --multipart-threshold 2097152 \
    --chunk-size 1048576 || exit 1

D=$WORK/ckpt
mkdir -p "$D"
echo '{"a": 1}' >"$D/config.json"
export HUBSYNC_MAX_PARALLEL=2

# Storage PUTs answered 200 so far.
acked() { grep -c '"server":"storage","method":"PUT".*"status":200,' "$EMU_LOG"; }
state_files() { find "$WORK/cache/hubsync/push" -name '*.json' 2>/dev/null | wc -l; }

interrupt_run() { # signal repo → RC, $WORK/out, $WORK/err; acked parts in ACKED
    mkfile "$D/model.safetensors" 10485760 # new bytes: the emulator's LFS store is global
    env HF_TOKEN="$TOKEN" XDG_CACHE_HOME="$WORK/cache" HF_HOME="$WORK/hfhome" \
        HUBSYNC_BANDWIDTH_MBPS=16 "$HUBSYNC_BIN" push "$D" --repo "$2" >"$WORK/out" 2>"$WORK/err" &
    local pid=$! i base
    base=$(acked)
    for ((i = 0; i < 200 && $(acked) < base + 2; i++)); do sleep 0.05; done
    kill "-$1" "$pid"
    wait "$pid"
    RC=$?
    ACKED=$(acked)
}

# Storage paths acknowledged (200) more than once.
dup_acks() {
    "$PY" - "$EMU_LOG" <<'PYEOF'
import collections, json, sys
c = collections.Counter()
for l in open(sys.argv[1]):
    r = json.loads(l) if l.strip() else None
    if r and r["server"] == "storage" and r["status"] == 200 and r["method"] == "PUT":
        c[r["path"]] += 1
print(sum(n - 1 for n in c.values()))
PYEOF
}

interrupt_run INT alice/sigint
check "SIGINT: exit 130" test "$RC" -eq 130
check "SIGINT: says how to resume" grep -qx "hubsync: interrupted; re-run the same command to resume" "$WORK/err"
check "SIGINT: no 'push failed' message" sh -c "! grep -q 'push failed' '$WORK/err'"
check "SIGINT: nothing on stdout" test ! -s "$WORK/out"
check "SIGINT: parts were acknowledged before the interrupt" test "$ACKED" -ge 2
check "SIGINT: the state was saved" test "$(state_files)" -eq 1
check "SIGINT: nothing committed" test "$(commits alice/sigint)" -eq 1
push "$D" --repo alice/sigint
check "SIGINT: the re-run completes (exit 0)" test "$RC" -eq 0
check "SIGINT: the re-run resumed" grep -q "resuming an interrupted push" "$WORK/err"
check "SIGINT: content identical" same_content "$D" alice/sigint main
check "SIGINT: exactly one commit" test "$(commits alice/sigint)" -eq 2
# A part whose 200 storage logged while its answer was still on the way when
# the signal came is in flight from hubsync's side and is sent again: at most
# max_parallel per interrupt; every part acknowledged earlier never is.
check "SIGINT: acknowledged parts sent again <= parts in flight ($(dup_acks) <= 2)" \
    test "$(dup_acks)" -le 2
check "SIGINT: the state is gone after success" test "$(state_files)" -eq 0

interrupt_run TERM alice/sigterm
check "SIGTERM: exit 143" test "$RC" -eq 143
check "SIGTERM: says how to resume" grep -qx "hubsync: interrupted; re-run the same command to resume" "$WORK/err"
check "SIGTERM: nothing committed" test "$(commits alice/sigterm)" -eq 1
push "$D" --repo alice/sigterm
check "SIGTERM: the re-run completes (exit 0)" test "$RC" -eq 0
check "SIGTERM: content identical" same_content "$D" alice/sigterm main
check "SIGTERM: exactly one commit" test "$(commits alice/sigterm)" -eq 2
check "SIGTERM: acknowledged parts sent again <= parts in flight (both runs: $(dup_acks) <= 4)" \
    test "$(dup_acks)" -le 4

# Two Ctrl-C in a row (the second one while the first is being handled or after).
mkfile "$D/model.safetensors" 10485760
env HF_TOKEN="$TOKEN" XDG_CACHE_HOME="$WORK/cache" HF_HOME="$WORK/hfhome" \
    HUBSYNC_BANDWIDTH_MBPS=16 "$HUBSYNC_BIN" push "$D" --repo alice/twice >"$WORK/out" 2>"$WORK/err" &
pid=$!
base=$(acked)
for ((i = 0; i < 200 && $(acked) < base + 1; i++)); do sleep 0.05; done
kill -INT "$pid"
kill -INT "$pid" 2>/dev/null
wait "$pid"
RC=$?
check "two SIGINTs: exit 130" test "$RC" -eq 130
check "two SIGINTs: the state file is whole JSON" \
    "$PY" -c 'import glob, json, sys; [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/*.json")]' \
    "$WORK/cache/hubsync/push"
check "two SIGINTs: nothing committed" test "$(commits alice/twice)" -eq 1
push "$D" --repo alice/twice
check "two SIGINTs: the re-run completes" test "$RC" -eq 0
check "two SIGINTs: content identical" same_content "$D" alice/twice main
check "two SIGINTs: exactly one commit" test "$(commits alice/twice)" -eq 2
# SIGINT while hashing: the hashes of the files already hashed are saved
# (otherwise they are saved only once every file is hashed) — those of 64 KiB
# and more: a smaller file is cheaper to hash again than to keep (state.c).
H=$WORK/hashing
mkdir -p "$H"
echo '{"b": 2}' >"$H/config.json"
mkfile "$H/small.bin" 300000
truncate -s 4G "$H/zz-big.bin" # sparse: hashing it takes seconds, reading it no disk
env HF_TOKEN="$TOKEN" XDG_CACHE_HOME="$WORK/cache" HF_HOME="$WORK/hfhome" \
    HUBSYNC_PROGRESS_INTERVAL_MS=0 "$HUBSYNC_BIN" push "$H" --repo alice/hashing \
    >"$WORK/out" 2>"$WORK/err" &
pid=$!
for ((i = 0; i < 400; i++)); do # a progress line with bytes of the big file hashed
    grep -q "hashing: [1-9][0-9.]* [MG]iB / 4.0 GiB" "$WORK/err" && break
    sleep 0.025
done
kill -INT "$pid"
wait "$pid"
RC=$?
check "SIGINT while hashing: exit 130" test "$RC" -eq 130
check "SIGINT while hashing: hashing progress was reported before the big file was done" \
    grep -q "hashing: [1-9][0-9.]* [MG]iB / 4.0 GiB" "$WORK/err"
check "SIGINT while hashing: says how to resume" \
    grep -qx "hubsync: interrupted; re-run the same command to resume" "$WORK/err"
saved=$("$PY" - "$WORK/cache/hubsync/push" "$H" <<'PYEOF'
import glob, hashlib, json, os, sys
want = {n: hashlib.sha256(open(os.path.join(sys.argv[2], n), "rb").read()).hexdigest()
        for n in ("small.bin",)}
for f in glob.glob(sys.argv[1] + "/*.json"):
    st = json.load(open(f))
    got = {e["path"]: e["sha256"] for e in st["files"]}
    if "alice/hashing" in st["key"]:
        print("ok" if got == want else "saved %s, want %s" % (sorted(got), sorted(want)))
PYEOF
)
check "SIGINT while hashing: the state holds the hashed file of 300 KB (sha256), not the big one nor the tiny one: $saved" \
    test "$saved" = ok
rm -f "$H/zz-big.bin"
check "the token appears in no output, log or state" no_token_anywhere
finish
