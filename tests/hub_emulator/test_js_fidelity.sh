#!/usr/bin/env bash
# Fidelity test: the real @huggingface/hub npm client (tests/js/fidelity.mjs) against the
# emulator with a 1 MiB multipart chunk size, then checks of the emulator's request log:
# the client really used basic and multipart storage uploads and storage downloads, and
# no storage request carried an Authorization header.
set -u
src=${HS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/hs-js-fidelity.XXXXXX)
# shellcheck source=emulator.sh
source "$src/tests/hub_emulator/emulator.sh"
trap 'emu_stop; rm -rf "$work"' EXIT
if [ ! -d "$src/tests/js/node_modules/@huggingface/hub" ]; then
    echo "js_fidelity: tests/js/node_modules missing: run scripts/deps.sh (npm ci in tests/js)" >&2
    exit 1
fi
emu_start "$work" --chunk-size 1048576 --multipart-threshold 2097152 || exit 1
node "$src/tests/js/fidelity.mjs" | tee "$work/node.out"
rc=${PIPESTATUS[0]}
pass=0 fail=0
read -r npass nfail < <(sed -n 's/^js_fidelity: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$work/node.out")
pass=$((pass + ${npass:-0})) fail=$((fail + ${nfail:-1}))
"${HS_PYTHON:-/usr/bin/python3}" - "$EMU_LOG" <<'PY' || rc=1
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
st = [r for r in recs if r["server"] == "storage"]
fails = []
def check(cond, what):
    if not cond:
        fails.append(what)
check(len(st) > 0, "storage requests were logged")
check(all(r["auth"] is False for r in st), "no storage request carried Authorization: %s" %
      [r["path"] for r in st if r["auth"]])
parts = [r for r in st if r["method"] == "PUT" and r["path"].startswith("/upload/") and r["status"] == 200]
basic = [r for r in st if r["method"] == "PUT" and r["path"].startswith("/lfs/") and r["status"] == 200]
gets = [r for r in st if r["method"] == "GET" and r["path"].startswith("/download/")]
check(len(parts) >= 2 * 6, "multipart part PUTs (6 parts per repo): %d" % len(parts))
check(len(basic) >= 2, "basic PUTs: %d" % len(basic))
check(len(gets) >= 2, "storage downloads: %d" % len(gets))
done = [r for r in recs if r["path"] == "/api/complete_multipart" and r["status"] == 200]
check(len(done) == 2, "one multipart completion per repo: %d" % len(done))
check(not any(r["auth"] for r in done), "completion calls carry no Authorization")
commits = [r for r in recs if r["path"].endswith("/commit/main") and r["method"] == "POST"]
check(any(o["op"] == "lfsFile" for r in commits for o in r.get("ops", [])), "commit ops logged (lfsFile)")
check(any(o["op"] == "deletedFile" for r in commits for o in r.get("ops", [])), "commit ops logged (deletedFile)")
check(any(r["status"] == 412 for r in commits), "412 logged")
for f in fails:
    print("FAIL: log: " + f)
print("js_fidelity log checks: %d failed" % len(fails))
sys.exit(1 if fails else 0)
PY
[ "$rc" = 0 ] && pass=$((pass + 1)) || fail=$((fail + 1))
# The storage endpoint rejects a request carrying a token, and stores nothing.
tok=hf_alice_write_0123456789abcdefghij
printf 'tiny object' >"$work/obj"
oid=$(sha256sum "$work/obj" | cut -d' ' -f1)
href=$(curl -sf -H "Authorization: Bearer $tok" -H 'Content-Type: application/vnd.git-lfs+json' \
    -d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$oid\",\"size\":11}]}" \
    "$EMU_URL/alice/fidelity-user.git/info/lfs/objects/batch" |
    "${HS_PYTHON:-/usr/bin/python3}" -c 'import json,sys; print(json.load(sys.stdin)["objects"][0]["actions"]["upload"]["href"])')
code=$(curl -s -o "$work/resp" -w '%{http_code}' -T "$work/obj" -H "Authorization: Bearer $tok" "$href")
if [ "$code" = 400 ] && grep -q 'InvalidArgument' "$work/resp"; then pass=$((pass + 1)); else
    echo "FAIL: storage PUT with Authorization answered $code: $(cat "$work/resp")"; fail=$((fail + 1)); fi
again=$(curl -sf -H "Authorization: Bearer $tok" -H 'Content-Type: application/vnd.git-lfs+json' \
    -d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$oid\",\"size\":11}]}" \
    "$EMU_URL/alice/fidelity-user.git/info/lfs/objects/batch")
if grep -q '"actions"' <<<"$again"; then pass=$((pass + 1)); else
    echo "FAIL: the rejected PUT stored the object: $again"; fail=$((fail + 1)); fi
code=$(curl -s -o /dev/null -w '%{http_code}' -T "$work/obj" "$href")
if [ "$code" = 200 ]; then pass=$((pass + 1)); else
    echo "FAIL: the same PUT without Authorization answered $code (the rejected one must not count)"; fail=$((fail + 1)); fi
echo "js_fidelity: $pass passed, $fail failed"
[ $fail -eq 0 ]
