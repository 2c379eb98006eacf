#!/usr/bin/env bash
# A push of many small LFS objects (issue 14: flat in the number of files)
# writes its resume state a bounded number of times: an object stored is
# recorded with the next write (at most every second, and when the push
# fails), because a lost record costs nothing — the next batch answer says the
# Hub has the object. Before, every stored object rewrote the whole state
# (O(files) each time): 3,000 objects of 100 KB took 39 s and 4,803 writes,
# now 11 s and 13. A part's ETag is still written at once (test_push_resume).
TEST_NAME=test_push_many_objects
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" || exit 1

D=$WORK/objs
mkdir -p "$D"
"$PY" - "$D" <<'PYEOF'
import os, sys
for i in range(400):  # *.bin: LFS by the Hub's default .gitattributes
    with open(os.path.join(sys.argv[1], "w%04d.bin" % i), "wb") as f:
        f.write(os.urandom(20000))
PYEOF
HUBSYNC_LOG_LEVEL=debug push "$D" --repo alice/objs
check "the push succeeds" test "$RC" -eq 0 || { tail -3 "$WORK/err"; finish; }
n=$(sed -n 's/.*push: resume state written \([0-9]*\) time.*/\1/p' "$WORK/err")
echo "  resume state written ${n:-?} times for 400 objects"
check "the log says how often the resume state was written" test -n "$n"
check "400 objects: the resume state written at most 20 times (was once per object)" test "${n:-999}" -le 20
check "400 LFS objects were uploaded" test "$(log_count "r[\"server\"] == \"storage\" and r.get(\"method\") == \"PUT\"")" -ge 400
check "content identical" same_content "$D" alice/objs main
finish
