#!/usr/bin/env bash
# `hubsync push` against the Hub emulator: small, basic-LFS and multipart files
# pushed as exactly one commit and downloaded back byte-identical; a re-push
# sends no object bytes; --path-in-repo/--include/--exclude/--revision; no
# Authorization on storage or completion URLs; the token appears nowhere.
TEST_NAME=test_push_basic
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --multipart-threshold 4194304 --chunk-size 1048576 || exit 1

D=$WORK/ckpt
mkdir -p "$D/sub/deeper" "$D/.git" "$D/.cache/huggingface"
echo '{"architectures": ["Bert"]}' >"$D/config.json"
printf 'hello\n' >"$D/sub/deeper/notes.txt"
: >"$D/empty.txt"
mkfile "$D/weights.bin" 3000000          # binary > 1 MiB: LFS, basic PUT
mkfile "$D/model.safetensors" 9437185    # > 4 MiB: multipart, 10 parts of 1 MiB (last 1 byte)
mkfile "$D/sub/shard.bin" 5242880        # multipart, exactly 5 parts
cp "$D/weights.bin" "$D/sub/weights-copy.bin"  # same content: one object
echo secret >"$D/.git/config"
echo cache >"$D/.cache/huggingface/x"

push "$D" --repo alice/m1 --message "first push"
check "push exits 0" test "$RC" -eq 0
cat "$WORK/err" | sed 's/^/  stderr: /' | tail -n 5
url=$(tail -n1 "$WORK/out")
check "last stdout line is the commit URL" grep -Eq "^$EMU_URL/alice/m1/commit/[0-9a-f]{40}$" <<<"$url"
check "exactly one commit besides the initial one" test "$(commits alice/m1)" -eq 2
check "every file downloads back identical" same_content "$D" alice/m1 main
check ".git/ and .cache/huggingface/ not uploaded" \
    test "$(http_code alice/m1 main .git/config)" = 404
check "multipart parts were used (10 + 5 part PUTs)" \
    test "$(log_count 'r["server"]=="storage" and r["method"]=="PUT" and r["path"].startswith("/upload/") and r["status"]==200')" -eq 15
check "the duplicate content was uploaded once" \
    test "$(log_count 'r["server"]=="storage" and r["method"]=="PUT" and r["path"].startswith("/lfs/") and r["status"]==200')" -eq 1
check "no storage request carries Authorization" \
    test "$(log_count 'r["server"]=="storage" and r["auth"]')" -eq 0
check "no completion request carries Authorization" \
    test "$(log_count '"complete" in r["path"] and r["auth"]')" -eq 0
check "the completion URL was called twice (two multipart objects)" \
    test "$(log_count '"complete" in r["path"] and r["status"]==200')" -eq 2
check "the LFS verify action is never called" test "$(log_count '"verify" in r["path"]')" -eq 0
check "API requests carry Authorization" \
    test "$(log_count 'r["server"]=="hub" and r["method"]=="POST" and "complete" not in r["path"] and not r["auth"]')" -eq 0
check "one commit request with 7 operations (empty file regular)" \
    test "$(log_count '"/commit/" in r["path"] and r["method"]=="POST" and len(r.get("ops",[]))==7')" -eq 1
check "the resume state is removed after success" test -z "$(ls -A "$WORK/cache/hubsync/push" 2>/dev/null)"

# Re-push: nothing to send, nothing to commit, exit 0, head URL printed.
storage_before=$(log_count 'r["server"]=="storage"')
push "$D" --repo alice/m1
check "re-push exits 0" test "$RC" -eq 0
check "re-push says nothing to commit" grep -q "nothing to commit" "$WORK/err"
check "re-push prints the head URL" grep -Eq "^$EMU_URL/alice/m1/commit/[0-9a-f]{40}$" <(tail -n1 "$WORK/out")
check "re-push sends no object bytes" test "$(log_count 'r["server"]=="storage"')" -eq "$storage_before"
check "re-push makes no commit" test "$(commits alice/m1)" -eq 2

# One file changed: only it is sent.
mkfile "$D/sub/shard.bin" 5242880
storage_before=$(log_count 'r["server"]=="storage" and r["status"]==200')
push "$D" --repo alice/m1 --message "update shard"
check "changed-file push exits 0" test "$RC" -eq 0
check "only the changed file's 5 parts were sent" \
    test "$(($(log_count 'r["server"]=="storage" and r["status"]==200') - storage_before))" -eq 5
check "one more commit" test "$(commits alice/m1)" -eq 3
check "content identical after the update" same_content "$D" alice/m1 main

# Org namespace, bare name (whoami), branch, path-in-repo, include/exclude, private.
push "$D" --repo acme/m2 --revision dev --path-in-repo "ckpt/step-1/" --include "*.json" --include "sub/*" --exclude "*.bin" --private
check "org push to a new branch exits 0" test "$RC" -eq 0
J=$WORK/expect
mkdir -p "$J/sub/deeper" && cp "$D/config.json" "$J/" && cp "$D/sub/deeper/notes.txt" "$J/sub/deeper/"
check "filtered files are under the prefix on the branch" same_content "$J" acme/m2 dev ckpt/step-1
check "excluded file is absent" test "$(http_code acme/m2 dev ckpt/step-1/sub/shard.bin)" = 404
check "main has only the initial commit" test "$(commits acme/m2 main)" -eq 1
push "$D" --repo bare-name --include config.json
check "bare repo name resolves to the token's user" test "$RC" -eq 0
check "bare repo name landed in alice/" grep -q "$EMU_URL/alice/bare-name/commit/" "$WORK/out"

check "the token appears in no output, log or state" no_token_anywhere
emu_stop
finish
