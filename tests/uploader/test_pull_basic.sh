#!/usr/bin/env bash
# `hubsync pull` round trips: checkpoints pushed with `hubsync push` into the
# all_checkpoints (checkpoint-N/) and checkpoint (last-checkpoint/) layouts
# are restored byte-identical as DIR/checkpoint-N; the token never reaches
# the storage origin; --dry-run lists have/fetch; a second pull into the
# same place fetches nothing; a tag selects its own latest checkpoint.
TEST_NAME=test_pull_basic
source "$HS_SOURCE_DIR/tests/uploader/push_lib.sh"
source "$HS_SOURCE_DIR/tests/uploader/pull_lib.sh"
write_accounts
emu_start "$WORK/emu" --accounts "$WORK/accounts.json" --multipart-threshold 2097152 --chunk-size 1048576 || exit 1

# all_checkpoints: checkpoint-10/ and checkpoint-20/ (latest = 20)
mkckpt "$WORK/c10" 10
mkckpt "$WORK/c20" 20 5000000
push "$WORK/c10" --repo alice/allck --path-in-repo checkpoint-10
check "push checkpoint-10 (exit 0)" test "$RC" -eq 0
oid10=$(tail -n1 "$WORK/out" | sed 's#.*/commit/##')
push "$WORK/c20" --repo alice/allck --path-in-repo checkpoint-20
check "push checkpoint-20 (exit 0)" test "$RC" -eq 0

mkdir -p "$WORK/r1"
pull alice/allck --to "$WORK/r1" --dry-run
check "dry run exits 0" test "$PRC" -eq 0
check "dry run lists checkpoint-20 files as fetch" grep -q $'^checkpoint-20/model.safetensors\t5000000\tfetch$' "$WORK/pout"
check "dry run lists every file" test "$(wc -l <"$WORK/pout")" -eq 6
check "dry run fetched nothing" test -z "$(ls -A "$WORK/r1")"

: >"$EMU_LOG"
pull alice/allck --to "$WORK/r1"
check "pull latest exits 0" test "$PRC" -eq 0
check "it prints the restored folder" test "$(cat "$WORK/pout")" = "$WORK/r1/checkpoint-20"
check "checkpoint-20 is byte-identical (sha256 of every file)" same_tree "$WORK/c20" "$WORK/r1/checkpoint-20"
check "no staging folder left" test ! -e "$WORK/r1/.hubsync-pull"
check "progress on stderr" grep -q "hubsync: download: " "$WORK/perr"
check "LFS files came from the storage origin" test "$(storage_requests | grep -c ' 200$')" -ge 2
check "no storage request carried Authorization" test -z "$(storage_requests | grep ' True ')"
check "the token was not sent anywhere but the Hub" bash -c "! grep -q '$TOKEN' '$WORK/perr' '$WORK/pout'"

: >"$EMU_LOG"
pull alice/allck --to "$WORK/r1"
check "pull again: exit 0" test "$PRC" -eq 0
check "pull again: says already restored" grep -q "already restored" "$WORK/perr"
check "pull again: no storage download" test -z "$(storage_requests)"
pull alice/allck --to "$WORK/r1" --dry-run
check "dry run of a restored checkpoint says have" grep -q $'\thave$' "$WORK/pout"
check "... and no fetch" bash -c "! grep -q $'\tfetch' '$WORK/pout'"

mkdir -p "$WORK/r2/.hubsync-pull/checkpoint-10/sub"
echo "left by an older pull" >"$WORK/r2/.hubsync-pull/checkpoint-10/sub/stale.bin"
pull alice/allck --to "$WORK/r2" --checkpoint 10
check "pull --checkpoint 10 exits 0" test "$PRC" -eq 0
check "checkpoint-10 is byte-identical (a stale file in its staging folder was not kept)" same_tree "$WORK/c10" "$WORK/r2/checkpoint-10"

# a commit id as --revision: at that commit only checkpoint-10 existed
mkdir -p "$WORK/r5"
pull alice/allck --to "$WORK/r5" --revision "$oid10"
check "pull --revision <commit> exits 0" test "$PRC" -eq 0
check "... restores that commit's latest, checkpoint-10" same_tree "$WORK/c10" "$WORK/r5/checkpoint-10"

# checkpoint strategy: last-checkpoint/ holds step 30 → restored as checkpoint-30
mkckpt "$WORK/c30" 30
push "$WORK/c30" --repo alice/lastck --path-in-repo last-checkpoint
check "push last-checkpoint (exit 0)" test "$RC" -eq 0
# a tag on that commit, then last-checkpoint/ moves on to step 40
curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"tag": "v1"}' "$EMU_URL/api/models/alice/lastck/tag/main" >/dev/null
check "tag v1 created" test $? -eq 0
mkckpt "$WORK/c40" 40
push "$WORK/c40" --repo alice/lastck --path-in-repo last-checkpoint
check "push last-checkpoint step 40 (exit 0)" test "$RC" -eq 0

mkdir -p "$WORK/r3"
pull alice/lastck --to "$WORK/r3" --dry-run
check "dry run of last-checkpoint/ exits 0" test "$PRC" -eq 0
check "... lists last-checkpoint/ files" grep -q $'^last-checkpoint/model.safetensors\t3145728\tfetch$' "$WORK/pout"
check "... and leaves nothing behind" test -z "$(ls -A "$WORK/r3")"
mkdir -p "$WORK/r3/.hubsync-pull"
flock "$WORK/r3/.hubsync-pull/lock" -c "env HF_TOKEN=$TOKEN HF_HOME=$WORK/hfhome $HUBSYNC_BIN pull alice/lastck --to $WORK/r3 >$WORK/pout 2>$WORK/perr"
check "a pull while another holds the folder's lock: exit 1" test $? -eq 1
check "... says another pull is restoring there" grep -q "another hubsync pull is restoring into" "$WORK/perr"
pull alice/lastck --to "$WORK/r3"
check "pull last-checkpoint exits 0" test "$PRC" -eq 0
check "restored as checkpoint-40 (global_step of its trainer_state.json)" test -d "$WORK/r3/checkpoint-40"
# push (like upload_folder) only adds: step 30's global_step30/ stays in last-checkpoint/
mkdir -p "$WORK/x40" && cp -r "$WORK/c40/." "$WORK/x40/" && cp -r "$WORK/c30/global_step30" "$WORK/x40/"
check "checkpoint-40 is byte-identical to last-checkpoint/ (its stale global_step30/ included)" same_tree "$WORK/x40" "$WORK/r3/checkpoint-40"
pull alice/lastck --to "$WORK/r3" --checkpoint v1
check "pull --checkpoint v1 (a tag) exits 0" test "$PRC" -eq 0
check "the tag's checkpoint-30 is byte-identical" same_tree "$WORK/c30" "$WORK/r3/checkpoint-30"

# a public repo needs no token
push "$WORK/c10" --repo alice/pubck --path-in-repo checkpoint-10
mkdir -p "$WORK/r4"
PULL_TOKEN= pull alice/pubck --to "$WORK/r4"
check "anonymous pull of a public repo exits 0" test "$PRC" -eq 0
check "anonymous pull is byte-identical" same_tree "$WORK/c10" "$WORK/r4/checkpoint-10"

# bounded memory: a 48 MiB file is streamed to disk, never held (the loop
# would keep up to 64 MiB of a body in memory)
mkdir -p "$WORK/c48" "$WORK/r6"
printf '{"global_step": 48}\n' >"$WORK/c48/trainer_state.json"
mkfile "$WORK/c48/model.safetensors" 50331648
push "$WORK/c48" --repo alice/bigck --path-in-repo checkpoint-48
check "push a 48 MiB checkpoint (exit 0)" test "$RC" -eq 0
# peak RSS (KiB) of a pull, from getrusage: peak_rss FILE ARGS...
peak_rss() {
	HF_TOKEN="$TOKEN" HF_HOME="$WORK/hfhome" "$PY" -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1] + ".err", "w"))
open(sys.argv[1], "w").write("%d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$@"
}
# the peer in the same run: a pull of a checkpoint of a few bytes
mkdir -p "$WORK/c1" "$WORK/r7"
printf '{"global_step": 1}\n' >"$WORK/c1/trainer_state.json"
mkfile "$WORK/c1/model.safetensors" 4096
push "$WORK/c1" --repo alice/smallck --path-in-repo checkpoint-1
check "push a 4 KiB checkpoint (exit 0)" test "$RC" -eq 0
peak_rss "$WORK/rss-small" "$HUBSYNC_BIN" pull alice/smallck --to "$WORK/r7"
check "pull of the 4 KiB checkpoint exits 0" test $? -eq 0
peak_rss "$WORK/rss" "$HUBSYNC_BIN" pull alice/bigck --to "$WORK/r6"
check "pull of the 48 MiB checkpoint exits 0" test $? -eq 0
check "... byte-identical" same_tree "$WORK/c48" "$WORK/r6/checkpoint-48"
small=$(cat "$WORK/rss-small") big=$(cat "$WORK/rss")
echo "  peak RSS of the pull: 48 MiB file $big KiB, 4 KiB file $small KiB"
# holding the body would add 48 MiB; streaming adds buffers only (sanitizer
# builds included, where the absolute figure is larger for both)
check "... the 48 MiB pull peaks under 16 MiB above the 4 KiB pull" test $((big - small)) -lt 16384
finish
