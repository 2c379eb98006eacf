#!/usr/bin/env bash
# `hubsync push --delete PATTERN` (issue 15 item 8, parity with `hf upload
# --delete` / huggingface_hub's upload_folder(delete_patterns=...)):
# - a second push of another folder with --delete '*.bin' deletes, in the same
#   commit (deletedFile lines of one NDJSON commit), every .bin of the repo
#   (sub-folders too: fnmatch's '*' crosses '/'), except a .bin this push
#   uploads (replaced, not deleted); the other files stay;
# - .gitattributes is never deleted, even when a pattern matches it;
# - with --path-in-repo the patterns are relative to it and only files under
#   it are deleted;
# - a branch the push creates (--revision) starts as main: main's files match;
# - --delete with a single file is a usage error (exit 2), nothing sent.
TEST_NAME=test_push_delete
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" || exit 1

files() { # repo [rev] → sorted paths on one line
    "$PY" "$HS_SOURCE_DIR/tests/hub_emulator/emu_inspect.py" files --url "$EMU_URL" --repo "$1" \
        --rev "${2:-main}" --token "$TOKEN" | "$PY" -c 'import json,sys; print(" ".join(sorted(json.loads(l)["path"] for l in sys.stdin)))'
}
# the deletedFile paths of the last commit request, sorted
last_deletes() {
    "$PY" - "$EMU_LOG" <<'PYEOF'
import json, sys
last = None
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("method") == "POST" and "/commit/" in r["path"] and r.get("ops") is not None:
        last = r
print(" ".join(sorted(o["path"] for o in last["ops"] if o["op"] == "deletedFile")))
PYEOF
}

A=$WORK/a
mkdir -p "$A/sub"
echo '{"a": 1}' >"$A/config.json"
mkfile "$A/model.bin" 3000
mkfile "$A/sub/x.bin" 2000
echo keep >"$A/keep.txt"
push "$A" --repo alice/del
check "first push: exit 0" test "$RC" -eq 0
check "first push: the files are there" \
    test "$(files alice/del)" = ".gitattributes config.json keep.txt model.bin sub/x.bin"

B=$WORK/b
mkdir -p "$B"
echo new >"$B/new.txt"
mkfile "$B/model.bin" 4000
before=$(commits alice/del)
push "$B" --repo alice/del --delete '*.bin'
sed 's/^/  err: /' "$WORK/err" | grep -v "upload:\|hashing" | head -n 5
check "--delete: exit 0" test "$RC" -eq 0
check "--delete: the tree has exactly the expected files" \
    test "$(files alice/del)" = ".gitattributes config.json keep.txt model.bin new.txt"
check "--delete: model.bin is the new one (uploaded, not deleted)" \
    test "$(remote_sha alice/del main model.bin)" = "$(sha256sum <"$B/model.bin" | cut -d' ' -f1)"
check "--delete: one commit" test "$(commits alice/del)" -eq $((before + 1))
check "--delete: that commit carries the deletedFile line of sub/x.bin only" \
    test "$(last_deletes)" = "sub/x.bin"
check "--delete: the summary says what was deleted" \
    grep -q "the same commit deleted 1 file matching --delete" "$WORK/err"

# .gitattributes is kept even when a pattern matches it
C=$WORK/c
mkdir -p "$C"
echo c >"$C/c.txt"
push "$C" --repo alice/del --delete '*' --delete '.gitattributes'
check "--delete '*': exit 0" test "$RC" -eq 0
check "--delete '*': only .gitattributes and the pushed file remain" \
    test "$(files alice/del)" = ".gitattributes c.txt"
check "--delete '*': 4 deletedFile lines, not .gitattributes" \
    test "$(last_deletes)" = "config.json keep.txt model.bin new.txt"

# with --path-in-repo, patterns are relative to it and only files under it go
push "$A" --repo alice/del2
push "$C" --repo alice/del2 --path-in-repo sub --delete 'x.bin' --delete 'model.bin'
check "--path-in-repo: exit 0" test "$RC" -eq 0
check "--path-in-repo: only sub/x.bin deleted (model.bin at the root is not under it)" \
    test "$(files alice/del2)" = ".gitattributes config.json keep.txt model.bin sub/c.txt"

# a branch the push creates starts as main: main's files are what --delete sees
push "$A" --repo alice/del3
push "$C" --repo alice/del3 --revision newbr --delete '*.bin'
check "new branch: exit 0" test "$RC" -eq 0
check "new branch: main's .bin files deleted on it" \
    test "$(files alice/del3 newbr)" = ".gitattributes c.txt config.json keep.txt"
check "new branch: main unchanged" \
    test "$(files alice/del3)" = ".gitattributes config.json keep.txt model.bin sub/x.bin"

# a new repo: nothing to delete, the push creates it
push "$B" --repo alice/fresh --delete '*.txt'
check "new repo with --delete: exit 0" test "$RC" -eq 0
check "new repo with --delete: the folder is there" \
    test "$(files alice/fresh)" = ".gitattributes model.bin new.txt"

# a single file: usage error
before=$(log_count 'True')
push "$B/new.txt" --repo alice/del --delete '*.bin'
check "--delete with a file: exit 2" test "$RC" -eq 2
check "--delete with a file: says why" grep -q "delete applies to a folder push" "$WORK/err"
check "--delete with a file: no request" test "$(log_count 'True')" -eq "$before"
check "the token never appears" no_token_anywhere
finish
