#!/usr/bin/env bash
# `hubsync status` and `hubsync finish` (the client side): exit 3 and a
# message naming the socket when no daemon answers; socket discovery from
# --config (state_dir, or $RUNTIME_DIRECTORY); usage errors (2) and config
# errors (78); the human rendering and --json of a status answer, and
# finish accepted (0) or refused (1), against the real control server.
set -u
bin=${HUBSYNC_BIN:?}
py=${HS_PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/hs-ctlcli-XXXXXX)
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
unset RUNTIME_DIRECTORY STATE_DIRECTORY
fail=0 pass=0
check() { # description expected actual
    if [ "$2" = "$3" ]; then pass=$((pass + 1)); else
        echo "FAIL: $1 (got '$3', expected '$2')"; fail=$((fail + 1)); fi
}
has() { # description needle haystack
    if grep -qF -- "$2" <<<"$3"; then pass=$((pass + 1)); else
        echo "FAIL: $1: '$2' not in: $3"; fail=$((fail + 1)); fi
}

# --- no daemon -------------------------------------------------------------
err=$("$bin" status --socket /nonexistent/hubsync.sock 2>&1); check "status, no daemon" 3 $?
has "status names the socket" "no hubsync daemon is answering on /nonexistent/hubsync.sock" "$err"
err=$("$bin" finish bert --socket /nonexistent/hubsync.sock 2>&1); check "finish, no daemon" 3 $?
has "finish names the socket" "no hubsync daemon is answering on /nonexistent/hubsync.sock" "$err"
: >"$work/stale.sock" # a regular file where a socket should be: refused connect
err=$("$bin" status --socket "$work/stale.sock" 2>&1); check "status, not a socket" 3 $?

cat >"$work/hubsync.json" <<JSON
{"state_dir": "$work/state",
 "jobs": [{"name": "bert", "watch": "$work/runs/bert", "hub_model_id": "alice/bert"}]}
JSON
err=$("$bin" status --config "$work/hubsync.json" 2>&1); check "status --config, no daemon" 3 $?
has "--config uses state_dir" "answering on $work/state/hubsync.sock" "$err"
err=$(RUNTIME_DIRECTORY="$work/run:/elsewhere" "$bin" finish bert --config "$work/hubsync.json" 2>&1)
check "finish --config under systemd, no daemon" 3 $?
has "--config uses RUNTIME_DIRECTORY" "answering on $work/run/hubsync.sock" "$err"
err=$(STATE_DIRECTORY="$work/sd" "$bin" status 2>&1); check "status with defaults" 3 $?
has "default state_dir is STATE_DIRECTORY" "answering on $work/sd/hubsync.sock" "$err"
err=$(HOME="$work/home" XDG_STATE_HOME= "$bin" status 2>&1); check "status, HOME default" 3 $?
has "default state_dir under HOME" "answering on $work/home/.local/state/hubsync/hubsync.sock" "$err"

# A config under /etc/hubsync without state_dir, as the units use it: the hint names the
# unit (hubsync@alice for alice.json, hubsync for hubsync.json). HUBSYNC_UNIT_ROOT stands
# for / (the test hook: <root>/etc/hubsync and <root>/run).
sys=$work/sys
mkdir -p "$sys/etc/hubsync" "$sys/run" "$work/home"
for n in alice hubsync; do
    printf '{"jobs": [{"name": "bert", "watch": "%s", "hub_model_id": "alice/bert"}]}\n' \
        "$work/runs/bert" >"$sys/etc/hubsync/$n.json"
done
unitenv=(env -u XDG_STATE_HOME HOME="$work/home" HUBSYNC_UNIT_ROOT="$sys")
err=$("${unitenv[@]}" "$bin" status --config "$sys/etc/hubsync/alice.json" 2>&1)
check "status --config alice.json, no daemon" 3 $?
has "hint names the template instance" "systemctl status hubsync@alice" "$err"
err=$("${unitenv[@]}" "$bin" finish bert --config "$sys/etc/hubsync/hubsync.json" 2>&1)
check "finish --config hubsync.json, no daemon" 3 $?
has "hint names hubsync.service" "systemctl status hubsync)" "$err"
err=$("${unitenv[@]}" "$bin" status --config "$work/hubsync.json" 2>&1)
has "a config elsewhere keeps the generic hint" "systemctl status hubsync or hubsync@USER" "$err"

# --- usage and config errors -------------------------------------------------
"$bin" status extra >/dev/null 2>&1; check "status with an argument" 2 $?
"$bin" finish >/dev/null 2>&1; check "finish without JOB" 2 $?
"$bin" finish a b >/dev/null 2>&1; check "finish with two JOBs" 2 $?
"$bin" finish --json a >/dev/null 2>&1; check "finish --json" 2 $?
err=$("$bin" status --socket x --config y 2>&1); check "--socket and --config" 2 $?
has "both options message" "give --config or --socket, not both" "$err"
"$bin" status --socket >/dev/null 2>&1; check "--socket without value" 2 $?
echo '{"jobs": [], "bogus": 1}' >"$work/bad.json"
err=$("$bin" status --config "$work/bad.json" 2>&1); check "status with a bad config" 78 $?
has "bad config message names the file" "bad.json" "$err"
err=$("$bin" status --config "$work/missing.json" 2>&1); check "status with a missing config" 78 $?

# --- against the real control server (ctl_server_fixture) -----------------
# Under systemd the socket is in $RUNTIME_DIRECTORY and the daemon links
# <state_dir>/hubsync.sock to it: --config must find it either way.
fixture=${1:?usage: test_ctl_cli.sh CTL_SERVER_FIXTURE}
mkdir -p "$work/state" "$work/run"
sock="$work/run/hubsync.sock"
exec 3< <(exec "$fixture" "$sock" "$work/state/hubsync.sock")
srv=$!
read -r -t 10 ready <&3; check "control server started" ready "${ready:-}"
mode=$(stat -c %a "$sock"); check "socket mode" 660 "$mode"

out=$("$bin" status --socket "$sock"); check "status" 0 $?
expected="hubsync daemon (pid 4242, version 0.1.0, up 2h03m)
job bert: uploading checkpoint-500
  progress     1.2 GiB of 3.4 GiB (35%), 12.3 MiB/s, ETA 3m05s
  queued       2 saves
  saves        4 committed, 1 superseded, 2 coalesced, 5.0 GiB sent
  last commit  https://huggingface.co/acme/bert/commit/abc123
  last error   none
  note         checkpoint-400 superseded by checkpoint-500
job gpt: idle
  last commit  none yet
  last error   HTTP 429?injected"
check "status human output" "$expected" "$out"
out2=$("$bin" status --config "$work/hubsync.json"); check "status --config" 0 $?
check "status --config finds the same daemon" "$expected" "$out2"
# The instance's RuntimeDirectory (/run/hubsync-users/alice, /run/hubsync) is found when
# the config has no state_dir and nothing answers at the config-derived path.
mkdir -p "$sys/run/hubsync-users/alice" "$sys/run/hubsync"
ln -s "$sock" "$sys/run/hubsync-users/alice/hubsync.sock"
ln -s "$sock" "$sys/run/hubsync/hubsync.sock"
out3=$("${unitenv[@]}" "$bin" status --config "$sys/etc/hubsync/alice.json"); check "status --config alice.json" 0 $?
check "status finds hubsync@alice's socket" "$expected" "$out3"
err=$("${unitenv[@]}" "$bin" finish bert --config "$sys/etc/hubsync/hubsync.json" 2>&1)
check "finish finds hubsync.service's socket" 0 $?
json=$("$bin" status --json --socket "$sock"); check "status --json" 0 $?
name=$("$py" -c 'import json,sys; d=json.load(sys.stdin); print(d["jobs"][0]["name"], d["jobs"][0]["bytes_total"], d["ok"])' <<<"$json")
check "status --json content" "bert 3650722201 True" "$name"
err=$("$bin" finish bert --socket "$sock" 2>&1); check "finish bert" 0 $?
has "finish message" "job bert: finishing (final push queued)" "$err"
err=$("$bin" finish nope --config "$work/hubsync.json" 2>&1); check "finish unknown job" 1 $?
has "finish refusal message" "no job named 'nope'" "$err"

kill -TERM "$srv"; wait "$srv" 2>/dev/null; srv=
[ ! -e "$sock" ] && [ ! -L "$work/state/hubsync.sock" ]; check "socket and link removed at stop" 0 $?
err=$("$bin" status --socket "$sock" 2>&1); check "status after the daemon stopped" 3 $?
has "after stop: message" "no hubsync daemon is answering on $sock" "$err"

echo "ctl_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
