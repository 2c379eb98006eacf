#!/usr/bin/env bash
# A file swapped for a symlink to a secret between hashing and sending
# (issue 13 item 2). tests/uploader/push_swap.c swaps it from the uploader's
# progress hook — when the push enters the hash phase (between the listing
# and the reading), the upload phase (LFS object: part PUTs) or the commit
# phase (regular file: its bytes go in the commit body) —
# so the order is fixed, not raced. Either way the push fails closed with
# HS_ECHANGED naming the file, nothing is committed, and not one byte of the
# secret reaches the emulator (storage request bodies, stored objects and
# blobs, commit payloads are all checked).
TEST_NAME=test_push_swap
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
SWAP=${PUSH_SWAP_BIN:-$HS_BUILD_DIR/tests/uploader/push_swap}
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --multipart-threshold 1048576 \
    --chunk-size 524288 || exit 1
mkdir -p "$WORK/secret" "$WORK/d1" "$WORK/d2"
SECRET_MARK=TOP-SECRET-$RANDOM-q8Zr4Kp2
{ for _ in $(seq 1 40000); do echo "$SECRET_MARK"; done; } >"$WORK/secret/secret.bin"
echo "$SECRET_MARK small" >"$WORK/secret/small.txt"

secret_nowhere() { # no stored object, blob, upload part or log line holds the secret
    ! grep -rqa -- "$SECRET_MARK" "$EMU_DATA" "$EMU_LOG"
}
storage_body_bytes() { # body bytes the storage server received
    "$PY" -c 'import json,sys; print(sum(json.loads(l).get("req_bytes") or 0 for l in open(sys.argv[1]) if json.loads(l)["server"] == "storage"))' "$EMU_LOG"
}

# --- an LFS object (multipart) swapped before its parts are sent ------------
mkfile "$WORK/d1/model.safetensors" 2097152
echo '{"a": 1}' >"$WORK/d1/config.json"
HF_TOKEN=$TOKEN "$SWAP" "$EMU_URL" alice/swap upload "$WORK/secret/secret.bin" \
    "$WORK/d1/model.safetensors:model.safetensors" "$WORK/d1/config.json:config.json" >"$WORK/out1" 2>&1
rc=$?
sed 's/^/  /' "$WORK/out1"
check "LFS swap: the swap happened" grep -q "swapped=1" "$WORK/out1"
check "LFS swap: the push failed (exit 1, HS_ECHANGED = -10005)" \
    bash -c "[ $rc -eq 1 ] && grep -q 'status=-10005 ' '$WORK/out1'"
check "LFS swap: the message names the file and the symlink" \
    grep -q "message=.*$WORK/d1/model.safetensors.*symbolic link" "$WORK/out1"
# The pipeline starts an object's upload while later files still hash, so
# the hook (phase upload) can come after a part of the original was opened:
# that open file is the original, harmless. At most the original's own
# bytes reach storage, none of the secret (secret_nowhere below).
check "LFS swap: storage received at most the original's bytes" \
    test "$(storage_body_bytes)" -le 2097152
check "LFS swap: no commit (only the initial one)" test "$(commits alice/swap)" -eq 1
check "LFS swap: the secret is nowhere in the emulator" secret_nowhere

# --- an LFS object sent in one basic PUT, swapped the same way ---------------
mkfile "$WORK/d1/small.bin" 600000 # LFS (*.bin), below the multipart threshold
before=$(storage_body_bytes)
HF_TOKEN=$TOKEN "$SWAP" "$EMU_URL" alice/swap upload "$WORK/secret/secret.bin" \
    "$WORK/d1/small.bin:small.bin" >"$WORK/out6" 2>&1
rc=$?
sed 's/^/  /' "$WORK/out6"
check "basic PUT swap: HS_ECHANGED naming the file" \
    bash -c "[ $rc -eq 1 ] && grep -q 'status=-10005 swapped=1' '$WORK/out6' && grep -q 'message=uploading $WORK/d1/small.bin: .*symbolic link' '$WORK/out6'"
check "basic PUT swap: storage received at most the original's bytes" \
    test "$(( $(storage_body_bytes) - before ))" -le 600000
check "basic PUT swap: the secret is nowhere in the emulator" secret_nowhere

# --- a regular file swapped before its line of the streamed commit body ------
echo '{"b": 2}' >"$WORK/d2/config.json"
HF_TOKEN=$TOKEN "$SWAP" "$EMU_URL" alice/swap commit "$WORK/secret/small.txt" \
    "$WORK/d2/config.json:config.json" >"$WORK/out2" 2>&1
rc=$?
sed 's/^/  /' "$WORK/out2"
check "regular swap: the swap happened" grep -q "swapped=1" "$WORK/out2"
check "regular swap: the push failed with HS_ECHANGED" \
    bash -c "[ $rc -eq 1 ] && grep -q 'status=-10005 ' '$WORK/out2'"
check "regular swap: the message names the file and says nothing was committed" \
    grep -q "message=$WORK/d2/config.json is a symbolic link now.*nothing was committed" "$WORK/out2"
# The body is streamed: the request may have started, but it ends before its
# Content-Length is reached, so the Hub never has a whole commit to apply.
check "regular swap: no commit request completed" \
    test "$(log_count 'r["path"].endswith("/commit/main") and r["status"] != 499')" -eq 0
check "regular swap: the secret is nowhere in the emulator" secret_nowhere

# --- swapped between the listing and the hashing ------------------------------
rm -f "$WORK/d2/config.json" && mv "$WORK/d2/config.json.orig" "$WORK/d2/config.json"
pre_or_commit='"/preupload/" in r["path"] or r["path"].endswith("/commit/main")'
before=$(log_count "$pre_or_commit")
HF_TOKEN=$TOKEN "$SWAP" "$EMU_URL" alice/swap hash "$WORK/secret/small.txt" \
    "$WORK/d2/config.json:config.json" >"$WORK/out5" 2>&1
rc=$?
sed 's/^/  /' "$WORK/out5"
check "hash swap: the push failed with HS_ECHANGED naming the file" \
    bash -c "[ $rc -eq 1 ] && grep -q 'status=-10005 swapped=1' '$WORK/out5' && grep -q 'message=$WORK/d2/config.json: is a symbolic link now' '$WORK/out5'"
check "hash swap: no preupload, no commit" \
    test "$(log_count "$pre_or_commit")" -eq "$before"
check "hash swap: the secret is nowhere in the emulator" secret_nowhere

# --- control: the same driver, no swap: the push commits (the checks above are not vacuous)
rm -f "$WORK/d2/config.json" && mv "$WORK/d2/config.json.orig" "$WORK/d2/config.json"
HF_TOKEN=$TOKEN "$SWAP" "$EMU_URL" alice/swap none "$WORK/secret/small.txt" \
    "$WORK/d2/config.json:config.json" >"$WORK/out3" 2>&1
check "control: without a swap the push commits" grep -q "status=0 swapped=0" "$WORK/out3"
check "control: one commit besides the initial one" test "$(commits alice/swap)" -eq 2
emu_stop
finish
