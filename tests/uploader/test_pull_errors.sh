#!/usr/bin/env bash
# `hubsync pull` bad input and refused downloads: usage (2), no token for a
# private repo / an invalid token (78), a repo without checkpoints, a
# checkpoint or tag that does not exist, a repo that does not exist, a target
# that exists and differs (1, clear messages); a corrupted download (LFS via
# storage, regular via resolve) is refused naming the file and both hashes,
# nothing is renamed into place and the corrupt bytes are not kept.
TEST_NAME=test_pull_errors
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
source "$HS_SOURCE_DIR/tests/uploader/pull_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" || exit 1
mkdir -p "$WORK/r"

pull
check "no REPO: exit 2" test "$PRC" -eq 2
pull alice/x --bogus
check "unknown option: exit 2" test "$PRC" -eq 2
pull justname
check "repo without namespace: exit 2" test "$PRC" -eq 2
check "... says why" grep -q "namespace/name" "$WORK/perr"
pull alice/x --revision main --checkpoint v1
check "a tag with --revision: exit 2" test "$PRC" -eq 2

mkckpt "$WORK/c10" 10
push "$WORK/c10" --repo alice/ck --path-in-repo checkpoint-10
check "push checkpoint-10 (exit 0)" test "$RC" -eq 0
push "$WORK/c10" --repo alice/flat
check "push a folder at the root (exit 0)" test "$RC" -eq 0
push "$WORK/c10" --repo alice/secret --path-in-repo checkpoint-10 --private
check "push a private repo (exit 0)" test "$RC" -eq 0

pull alice/flat --to "$WORK/r"
check "repo without checkpoints: exit 1" test "$PRC" -eq 1
check "... says it has no checkpoints" grep -q "has no checkpoints" "$WORK/perr"
pull alice/ck --to "$WORK/r" --checkpoint 99
check "missing checkpoint: exit 1" test "$PRC" -eq 1
check "... names it and what is there" grep -q "has no checkpoint 99 (there: 10)" "$WORK/perr"
pull alice/ck --to "$WORK/r" --checkpoint nosuchtag
check "missing tag: exit 1" test "$PRC" -eq 1
check "... says no such revision or tag" grep -q 'no revision or tag "nosuchtag"' "$WORK/perr"
pull alice/nope --to "$WORK/r"
check "missing repo: exit 1" test "$PRC" -eq 1
check "... says not found" grep -q "repo not found" "$WORK/perr"
PULL_TOKEN= pull alice/secret --to "$WORK/r"
check "private repo without a token: exit 78" test "$PRC" -eq 78
check "... says a token is needed" grep -q "no token is set" "$WORK/perr"
PULL_TOKEN=hf_not_a_known_token_0123456789abcd pull alice/secret --to "$WORK/r"
check "invalid token: exit 78" test "$PRC" -eq 78
check "nothing was left by the failures" test -z "$(ls -A "$WORK/r")"

pull alice/ck --to "$WORK/r"
check "pull (exit 0)" test "$PRC" -eq 0
echo changed >>"$WORK/r/checkpoint-10/config.json"
pull alice/ck --to "$WORK/r"
check "target exists and differs: exit 1" test "$PRC" -eq 1
check "... says so" grep -q "exists and differs" "$WORK/perr"
check "... and the local file is left alone" grep -q changed "$WORK/r/checkpoint-10/config.json"

# corrupted downloads: restart the emulator (same data) with the fault
emu_stop
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --corrupt-download 'checkpoint-10/model.safetensors' || exit 1
mkdir -p "$WORK/r2"
pull alice/ck --to "$WORK/r2"
want=$(sha256sum <"$WORK/c10/model.safetensors" | cut -d' ' -f1)
bad=$("$PY" -c 'import sys; d=bytearray(open(sys.argv[1],"rb").read()); d[0]^=1; import hashlib; print(hashlib.sha256(d).hexdigest())' "$WORK/c10/model.safetensors")
check "corrupt LFS download: exit 1" test "$PRC" -eq 1
check "... the message names the file and both hashes" grep -q "checkpoint-10/model.safetensors: the download is corrupt: sha256 $want expected, $bad received" "$WORK/perr"
check "... nothing renamed into place" test ! -e "$WORK/r2/checkpoint-10"
check "... the corrupt bytes are not kept" test ! -e "$WORK/r2/.hubsync-pull/checkpoint-10/model.safetensors.part" -a ! -e "$WORK/r2/.hubsync-pull/checkpoint-10/model.safetensors"
check "the fault was injected through storage" grep -q '"server":"storage".*"fault":"corrupt_download"' "$EMU_LOG"
emu_stop
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --corrupt-download '*/config.json' || exit 1
mkdir -p "$WORK/r3"
pull alice/ck --to "$WORK/r3"
wantg=$(git hash-object "$WORK/c10/config.json")
check "corrupt regular download: exit 1" test "$PRC" -eq 1
check "... the message names the file and the git blob hash" grep -q "checkpoint-10/config.json: the download is corrupt: git blob sha1 $wantg expected" "$WORK/perr"
check "... nothing renamed into place" test ! -e "$WORK/r3/checkpoint-10"
emu_stop
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" || exit 1
pull alice/ck --to "$WORK/r2"
check "without the fault the same pull completes" test "$PRC" -eq 0
check "... byte-identical" same_tree "$WORK/c10" "$WORK/r2/checkpoint-10"
finish
