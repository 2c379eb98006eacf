#!/usr/bin/env bash
# `hubsync pull` killed with SIGKILL mid-download, then re-run: the partial
# <path>.part is resumed with a Range request starting at its size (the
# emulator's request log says so), only the missing bytes are fetched, files
# verified before the kill are not fetched again, and the result is
# byte-identical. Deterministic: the emulator's --hold-download 1 sends half
# of the first storage download and holds the connection; the test kills
# the client once the .part holds exactly that half.
TEST_NAME=test_pull_resume
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
source "$HS_SOURCE_DIR/tests/uploader/pull_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --hold-download 1 --hold-seconds 60 || exit 1

SIZE=8388608
C=$WORK/c5
mkdir -p "$C"
printf '{"global_step": 5}\n' >"$C/trainer_state.json"
echo '{"architectures": ["Bert"]}' >"$C/config.json"
mkfile "$C/model.safetensors" $SIZE
push "$C" --repo alice/res --path-in-repo checkpoint-5
check "push (exit 0)" test "$RC" -eq 0

R=$WORK/r
mkdir -p "$R"
S=$R/.hubsync-pull/checkpoint-5
: >"$EMU_LOG"
env HF_TOKEN="$TOKEN" HF_HOME="$WORK/hfhome" "$HUBSYNC_BIN" pull alice/res --to "$R" >"$WORK/pout" 2>"$WORK/perr" &
pid=$!
half=$((SIZE / 2))
for ((i = 0; i < 600; i++)); do
    [ "$(stat -c %s "$S/model.safetensors.part" 2>/dev/null)" = "$half" ] && [ -f "$S/config.json" ] && break
    sleep 0.05
done
check "the .part holds the half the emulator sent" test "$(stat -c %s "$S/model.safetensors.part" 2>/dev/null)" = "$half"
check "config.json was verified and in staging before the kill" test -f "$S/config.json"
kill -KILL "$pid"
{ wait "$pid"; } 2>/dev/null
check "nothing was put in place by the killed run" test ! -e "$R/checkpoint-5"
check "the killed run fetched config.json (resolve pinned to the commit)" grep -Eq '"path":"/alice/res/resolve/[0-9a-f]{40}/checkpoint-5/config.json"' "$EMU_LOG"

: >"$EMU_LOG"
pull alice/res --to "$R"
check "the re-run exits 0" test "$PRC" -eq 0
check "byte-identical after the resume" same_tree "$C" "$R/checkpoint-5"
check "the storage GET asked Range: bytes=$half-" grep -q "bytes=$half- False 206" <(storage_requests)
got=$("$PY" - "$EMU_LOG" <<'PYEOF'
import json, sys
print(sum(json.loads(l)["resp_bytes"] for l in open(sys.argv[1]) if l.strip() and json.loads(l)["server"] == "storage"))
PYEOF
)
echo "  storage bytes sent in the re-run: $got (missing: $((SIZE - half)))"
check "only the missing bytes were fetched" test "$got" -eq $((SIZE - half))
check "config.json was not fetched again" bash -c "! grep -q '/checkpoint-5/config.json' '$EMU_LOG'"
check "no staging left" test ! -e "$R/.hubsync-pull"

# The same cut without a kill: the connection is reset after half, and the
# running pull resumes by itself from the bytes it has (one Range request).
emu_stop
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --hold-download 1 --hold-seconds 0.2 || exit 1
: >"$EMU_LOG"
mkdir -p "$WORK/r2"
pull alice/res --to "$WORK/r2"
check "a pull cut mid-download completes in the same run (exit 0)" test "$PRC" -eq 0
check "... byte-identical" same_tree "$C" "$WORK/r2/checkpoint-5"
check "... the cut download was the held one" grep -q '"server":"storage".*"fault":"hold_download"' "$EMU_LOG"
check "... and it went on with Range: bytes=$half-" grep -q "bytes=$half- False 206" <(storage_requests)
check "... two storage GETs in all" test "$(storage_requests | wc -l)" -eq 2
finish
