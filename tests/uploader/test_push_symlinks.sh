#!/usr/bin/env bash
# `hubsync push DIR` and symbolic links (issue 13 item 2): a folder holding a
# link to a secret outside it and a link to a file inside it.
# - default: every link is skipped with one notice naming it; the regular
#   files commit; the secret's bytes are nowhere in the emulator;
# - --follow-symlinks with the outside link present: refused before any
#   request (exit 1, the message names the link and where it leads), nothing
#   committed, nothing of the secret sent;
# - --follow-symlinks without it: the inside link is pushed with its target's
#   bytes; a link to a folder is never followed.
TEST_NAME=test_push_symlinks
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" || exit 1
mkdir -p "$WORK/outside" "$WORK/d/sub"
SECRET_MARK=SECRET-$RANDOM-Wm6Xv9Ns
echo "$SECRET_MARK" >"$WORK/outside/secret.txt"
echo '{"a": 1}' >"$WORK/d/config.json"
echo 'inside' >"$WORK/d/sub/real.txt"
ln -s "$WORK/outside/secret.txt" "$WORK/d/leak.txt"
ln -s sub/real.txt "$WORK/d/alias.txt"
ln -s "$WORK/outside" "$WORK/d/outdir"
secret_nowhere() { ! grep -rqa -- "$SECRET_MARK" "$EMU_DATA" "$EMU_LOG"; }
repo_files() {
    "$PY" "$HS_SOURCE_DIR/tests/hub_emulator/emu_inspect.py" files --url "$EMU_URL" --repo "$1" --token "$TOKEN" |
        "$PY" -c 'import json,sys; print(" ".join(sorted(json.loads(l)["path"] for l in sys.stdin)))'
}

push "$WORK/d" --repo alice/links
sed 's/^/  err: /' "$WORK/err" | grep -i "link" | head -n 5
check "default: exit 0" test "$RC" -eq 0
check "default: one notice per link (3)" test "$(grep -c 'skipped the symbolic link' "$WORK/err")" -eq 3
check "default: the notice names the link" grep -q "skipped the symbolic link leak.txt (not followed" "$WORK/err"
check "default: only the regular files were committed" \
    test "$(repo_files alice/links)" = ".gitattributes config.json sub/real.txt"
check "default: the secret is nowhere in the emulator" secret_nowhere

push "$WORK/d" --repo alice/links2 --follow-symlinks
sed 's/^/  err: /' "$WORK/err" | grep -i "link" | head -n 3
check "follow, link outside: exit 1" test "$RC" -eq 1
check "follow, link outside: the message names the link and its target" \
    grep -q "$WORK/d/leak.txt is a symbolic link to $WORK/outside/secret.txt, outside $WORK/d: refusing" "$WORK/err"
check "follow, link outside: no request reached the Hub" \
    test "$(log_count '"links2" in r["path"]')" -eq 0
check "follow, link outside: the secret is nowhere in the emulator" secret_nowhere

rm "$WORK/d/leak.txt"
push "$WORK/d" --repo alice/links3 --follow-symlinks
sed 's/^/  err: /' "$WORK/err" | grep -i "link" | head -n 3
check "follow, links inside: exit 0" test "$RC" -eq 0
check "follow, links inside: the file link is pushed, the folder link is not" \
    test "$(repo_files alice/links3)" = ".gitattributes alias.txt config.json sub/real.txt"
check "follow, links inside: the folder link got a notice" \
    grep -q "skipped the symbolic link outdir" "$WORK/err"
check "follow, links inside: alias.txt holds its target's bytes" \
    test "$(remote_sha alice/links3 main alias.txt)" = "$(sha256sum <"$WORK/d/sub/real.txt" | cut -d' ' -f1)"
check "the secret is nowhere in the emulator" secret_nowhere
emu_stop
finish
