# Helpers shared by the `hubsync push` script tests (sourced).
# shellcheck shell=bash
set -u
PASS=0
FAIL=0
TOKEN=hf_DISTINCTIVE_tok_q8Zr4Kp2Wm6Xv9Ns3Lc7
WORK=$(mktemp -d /tmp/hs-push-test.XXXXXX)
trap 'emu_stop >/dev/null 2>&1; rm -rf "$WORK"' EXIT
# shellcheck source=/dev/null
source "$HS_SOURCE_DIR/tests/hub_emulator/emulator.sh"
PY=${HS_PYTHON:-/usr/bin/python3}

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
nok() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { # check "description" command...
    local d=$1
    shift
    if "$@"; then ok "$d"; else nok "$d"; fi
}
finish() {
    echo "$TEST_NAME: $PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}

# An accounts file with a distinctive token for alice (so we can grep for it).
write_accounts() {
    cat >"$WORK/accounts.json" <<JSON
{"users": [
 {"name": "alice", "token": "$TOKEN", "role": "write", "orgs": {"acme": "write"}},
 {"name": "bob", "token": "hf_bob_read_0123456789abcdefghijkl", "role": "read", "orgs": {}},
 {"name": "carol", "token": "hf_carol_write_0123456789abcdefghi", "role": "write", "orgs": {}}
]}
JSON
}

# Deterministic pseudo-random file of N bytes.
mkfile() { head -c "$2" /dev/urandom >"$1"; }

# push DIR ARGS... → runs hubsync, stdout in $WORK/out, stderr in $WORK/err, rc in $RC
push() {
    env HF_TOKEN="${PUSH_TOKEN-$TOKEN}" XDG_CACHE_HOME="$WORK/cache" HF_HOME="$WORK/hfhome" \
        "$HUBSYNC_BIN" push "$@" >"$WORK/out" 2>"$WORK/err"
    RC=$?
}

# Number of commits on a branch (the initial commit included).
commits() { # repo [rev]
    curl -sf --retry 10 --retry-all-errors --retry-delay 1 --retry-max-time 30 -H "Authorization: Bearer $TOKEN" "$EMU_URL/api/models/$1/commits/${2:-main}" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# sha256 of a repo file downloaded through resolve (follows the storage redirect).
remote_sha() { # repo rev path
    local i rc=1
    for ((i = 0; i < 15 && rc != 0; i++)); do
        [ "$i" -gt 0 ] && sleep 0.3
        curl -sfL -H "Authorization: Bearer $TOKEN" -o "$WORK/dl" "$EMU_URL/$1/resolve/$2/$3"
        rc=$?
    done
    [ "$rc" -eq 0 ] || echo "  download of $3 failed (curl exit $rc)" >&2
    sha256sum <"$WORK/dl" | cut -d' ' -f1
}

# Every file under DIR (relative path) must be in REPO at REV (under PREFIX) with the same bytes.
same_content() { # dir repo rev [prefix]
    local dir=$1 repo=$2 rev=$3 prefix=${4:-} f rel bad=0
    while IFS= read -r f; do
        rel=${f#"$dir"/}
        [ -n "$prefix" ] && rel="$prefix/$rel"
        if [ "$(sha256sum <"$f" | cut -d' ' -f1)" != "$(remote_sha "$repo" "$rev" "$rel")" ]; then
            echo "  content differs: $rel" >&2
            bad=1
        fi
    done < <(find "$dir" -type f -not -path '*/.git/*' -not -path '*/.cache/huggingface/*' | sort)
    return $bad
}

http_code() { # repo rev path
    curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$EMU_URL/$1/resolve/$2/$3"
}

# Lines of the emulator log matching a Python predicate on `r` (one JSON record).
log_count() {
    "$PY" - "$EMU_LOG" "$1" <<'PYEOF'
import json, sys
pred = eval("lambda r: " + sys.argv[2])
n = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if line and pred(json.loads(line)):
        n += 1
print(n)
PYEOF
}

no_token_anywhere() {
    ! grep -rqa -- "$TOKEN" "$WORK/out" "$WORK/err" "$EMU_LOG" "$WORK/cache" 2>/dev/null
}
