#!/usr/bin/env bash
# `hubsync push` bad inputs: each gets a clear message, a non-zero exit code and
# leaves nothing half-committed: nonexistent/empty folder, invalid repo id,
# missing token, 401 (unknown token), 403 (read token; another user's
# namespace), 404 from the Hub, a file that shrinks while it is being sent.
TEST_NAME=test_push_errors
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --multipart-threshold 4194304 --chunk-size 1048576 || exit 1

D=$WORK/ckpt
mkdir -p "$D"
echo '{"a": 1}' >"$D/config.json"
mkfile "$D/model.bin" 2000000
push "$D" --repo alice/base
check "setup push ok" test "$RC" -eq 0
base_commits=$(commits alice/base)

expect() { # description rc regex
    if [ "$RC" -eq "$2" ] && grep -Eq -- "$3" "$WORK/err"; then
        ok "$1 (exit $RC)"
    else
        nok "$1: exit $RC, stderr: $(tr '\n' ' ' <"$WORK/err" | cut -c1-300)"
    fi
}

push "$WORK/does-not-exist" --repo alice/base
expect "nonexistent folder" 1 "does-not-exist: No such file or directory"
mkdir -p "$WORK/empty/sub"
push "$WORK/empty" --repo alice/base
expect "empty folder" 1 "has no files to upload"
push "$D" --repo alice/base --include "*.nothing"
expect "everything filtered out" 1 "has no files to upload \(after --include/--exclude\)"
push "$D" --repo "alice/bad--name"
expect "invalid repo id" 2 "invalid repo id"
push "$D" --repo "a/b/c"
expect "repo id with two slashes" 2 "invalid repo id"
push "$D"
expect "missing --repo" 2 "missing --repo"
push "$D" --repo alice/base --bogus
expect "unknown option" 2 "unknown or incomplete option"
PUSH_TOKEN= push "$D" --repo alice/base
expect "missing token" 78 "no Hub token"
PUSH_TOKEN=hf_unknown_token_zzzzzzzzzzzzzzzzzz push "$D" --repo alice/base
expect "401 unknown token names the Hub's message" 1 "HTTP 401.*Invalid credentials"
check "401 message carries the request id" grep -q "request id" "$WORK/err"
PUSH_TOKEN=hf_bob_read_0123456789abcdefghijkl push "$D" --repo bob/x
expect "403 read token" 1 "HTTP 403"
push "$D" --repo carol/x
expect "403 other user's namespace" 1 "HTTP 403"
HF_ENDPOINT="$EMU_URL/no-such-prefix" push "$D" --repo alice/base
expect "404 from the Hub" 1 "HTTP 404"
HF_ENDPOINT="ftp://example.com" push "$D" --repo alice/base
expect "bad endpoint" 78 "."
check "no commit was made by any failure" test "$(commits alice/base)" -eq "$base_commits"

# A file that shrinks while it is being sent (bandwidth cap makes the upload slow).
mkfile "$D/big.bin" 6291456
( sleep 1.5; truncate -s 1000000 "$D/big.bin" ) &
shrinker=$!
HUBSYNC_MAX_PARALLEL=1 HUBSYNC_BANDWIDTH_MBPS=16 push "$D" --repo alice/base
cat "$WORK/err" | grep -E "shrank|changed" | sed "s/^/  /"
wait "$shrinker"
expect "file shrinking during upload" 1 "shrank|changed"
check "nothing committed after the shrink" test "$(commits alice/base)" -eq "$base_commits"
check "the token appears in no output, log or state" no_token_anywhere
emu_stop
finish
