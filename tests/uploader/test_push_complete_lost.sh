#!/usr/bin/env bash
# A multipart completion that the Hub applied but whose answer was lost (a ^C
# or a dead connection after the POST; emulator fault complete_lost=1): the
# next completion of that upload id answers 404 NoSuchUpload. hubsync then
# asks the LFS batch whether the object exists — it does — and commits
# without uploading a byte of it again; the same in a re-run that resumes
# from the state saved with every part's ETag.
TEST_NAME=test_push_complete_lost
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --multipart-threshold 4194304 \
    --chunk-size 1048576 --faults complete_lost=1 || exit 1

D=$WORK/ckpt
mkdir -p "$D"
mkfile "$D/model.safetensors" 6291456 # 6 parts of 1 MiB
echo '{"a": 1}' >"$D/config.json"
push "$D" --repo alice/cl
sed 's/^/  stderr: /' "$WORK/err" | tail -n 3
if [ "$RC" -ne 0 ]; then # the lost answer failed this run: the re-run resumes
    check "the failed run names the completion" grep -q "completing the multipart upload" "$WORK/err"
    push "$D" --repo alice/cl
fi
check "the push completes (exit 0)" test "$RC" -eq 0
check "the completion was applied once with its answer lost" \
    test "$(log_count '"complete" in r["path"] and r.get("fault")=="complete_lost"')" -eq 1
check "completing it again answered 404" \
    test "$(log_count '"complete" in r["path"] and r["status"]==404')" -ge 1
check "the LFS batch was asked again after the 404" "$PY" - "$EMU_LOG" <<'PYEOF'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
i = max(k for k, r in enumerate(rs) if "complete" in r["path"] and r["status"] == 404)
sys.exit(0 if any("/info/lfs/objects/batch" in r["path"] for r in rs[i + 1:]) else 1)
PYEOF
check "no part was uploaded twice (6 part PUTs)" \
    test "$(log_count 'r["server"]=="storage" and r["method"]=="PUT" and r["status"]==200')" -eq 6
check "exactly one commit" test "$(commits alice/cl)" -eq 2
check "the files download back identical" same_content "$D" alice/cl main
finish
