#!/usr/bin/env bash
# The man pages: groff reports no warning, `man -l` renders them without warnings, the
# version in .TH is the binary's, hubsync.1 documents every subcommand and every option
# the binary's --help texts list plus every exit code, and hubsync.json.5 documents every
# config key of docs/design.md with its type and default.
TEST_NAME=packaging_man
source "$(dirname "$0")/lib.sh"

man1=$PKG/man/hubsync.1 man5=$PKG/man/hubsync.json.5
version=$("$HUBSYNC_BIN" --version | awk '{print $2}')

for page in "$man1" "$man5"; do
    n=$(basename "$page")
    LC_ALL=C grep -q -P '[^\x00-\x7f]' "$page" && bad "$n has non-ASCII bytes (use groff escapes)"
    if command -v groff >/dev/null; then
        out=$(groff -man -ww -z "$page" 2>&1)
        check_rc "groff -ww $n" 0 $?
        [ -z "$out" ] || bad "groff warnings in $n: $out"
    fi
    out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >"$T/$n.txt")
    check_rc "man -l $n" 0 $?
    [ -z "$out" ] || bad "man -l warnings in $n: $out"
    [ "$(wc -l <"$T/$n.txt")" -gt 50 ] || bad "$n renders to almost nothing"
    grep -q "^\.TH [A-Z.]* [15] \"[0-9-]*\" \"hubsync $version\"" "$page" ||
        bad "$n: .TH does not carry the version of the binary ($version)"
done
# The compressed copies of this build are the same text.
for n in man1/hubsync.1 man5/hubsync.json.5; do
    gz=$HS_BUILD_DIR/packaging/man/$(basename $n).gz
    if [ -f "$gz" ]; then
        cmp -s <(zcat "$gz") "$PKG/man/$(basename $n)" || bad "$gz is stale"
    else
        bad "$gz not built"
    fi
done

text1=$(cat "$T/hubsync.1.txt")
for c in $(hs_commands); do
    grep -qE "^       (hubsync )?$c( |$)" "$T/hubsync.1.txt" || bad "hubsync.1 does not document command $c"
    for o in $(hs_options "$c"); do
        contains "hubsync.1 documents $c $o" "$o" "$text1"
    done
done
for rc in 0 1 2 3 78; do
    grep -qE "^       $rc +[A-Z]" "$T/hubsync.1.txt" || bad "hubsync.1 EXIT STATUS lacks $rc"
done
for e in HF_ENDPOINT HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_TOKEN_PATH HF_HOME XDG_CACHE_HOME \
    XDG_STATE_HOME STATE_DIRECTORY RUNTIME_DIRECTORY; do
    contains "hubsync.1 ENVIRONMENT" "$e" "$text1"
done
for s in NAME SYNOPSIS DESCRIPTION COMMANDS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO"; do
    grep -qx "$s" "$T/hubsync.1.txt" || bad "hubsync.1 lacks section $s"
done

# Every config key (docs/design.md, "Config file") as a tagged paragraph "key (type...)".
top_keys="endpoint token token_file state_dir ca_file max_parallel_uploads bandwidth_limit_mbps
  log_level log_file jobs"
job_keys="name watch hub_model_id hub_strategy private revision layout watch_mode
  poll_interval_seconds settle_seconds marker_quiet_seconds world_size include exclude supersede
  spool_dir spool_max_gb pid pid_file finish_after_idle_seconds existing_checkpoints model_card"
card_keys="mode model_name base_model datasets dataset_name language license tags task metrics_order"
for k in $top_keys $job_keys $card_keys; do
    grep -qE "^ +$k \((string|integer|number|boolean|array|object)" "$T/hubsync.json.5.txt" ||
        bad "hubsync.json.5 does not document key $k with its type"
done
# Defaults named in docs/design.md.
for d in "Default: 8." "Default: 0." "Default: every_save." "Default: main." "Default: auto." \
    "Default: 10." "Default: 30." "Default: 2." "Default: latest." "Default: merge." \
    "Default: info." "Default: true." "Default: false."; do
    contains "hubsync.json.5 default" "$d" "$(tr -s ' \n' ' ' <"$T/hubsync.json.5.txt")"
done
for v in end every_save checkpoint all_checkpoints trainer accelerate lightning deepspeed generic \
    inotify poll overwrite; do
    grep -qw -- "$v" "$T/hubsync.json.5.txt" || bad "hubsync.json.5 does not mention value $v"
done
ok
finish
