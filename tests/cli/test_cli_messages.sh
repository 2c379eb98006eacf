#!/usr/bin/env bash
# Messages a user meets on the command line (issue 15 item 10), by text and
# exit code: a help flag only where it is an option (`push --message -h`
# commits "-h", it prints no help), a missing token says what to do (`hf
# auth login`, HF_TOKEN) without stuttering, no `start failed` line after a
# start error, and `run`'s "completes it" hint only when running again can.
set -u
bin=${HUBSYNC_BIN:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0 pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
rc_is() { [ "$2" = "$3" ] && ok || bad "$1 (exit $3, expected $2)"; }
has() { grep -qF -- "$3" <<<"$2" && ok || { bad "$1: '$3' not in: ${2: -600}"; }; }
hasnt() { grep -qF -- "$3" <<<"$2" && bad "$1: '$3' in: ${2: -600}" || ok; }
clean=(env -i PATH=/usr/bin:/bin HOME="$work/home")
mkdir -p "$work/home" "$work/dir"
echo hi >"$work/dir/a.txt"

# a help flag as an option's value is that value
err=$("${clean[@]}" "$bin" push "$work/dir" --repo alice/x --message -h 2>&1); rc=$?
hasnt "--message -h is the message" "$err" "Usage: hubsync push"
rc_is "push without a token" 78 $rc
has "no token: what to do" "$err" 'Log in with `hf auth login` (it writes that file), or set HF_TOKEN'
has "no token: one prefix" "$err" "no Hub token: HF_TOKEN and HUGGING_FACE_HUB_TOKEN are unset"
hasnt "no stutter" "$err" "no Hub token: no token"
hasnt "push has no config" "$err" "in the config"
out=$("${clean[@]}" "$bin" push -h 2>&1); rc=$?
rc_is "push -h" 0 $rc
has "push -h prints the usage" "$out" "Usage: hubsync push"
out=$("${clean[@]}" "$bin" run --config x.json -- /bin/echo -h 2>&1)
hasnt "run: -h after -- is CMD's" "$out" "Usage: hubsync run"

# a start error is not followed by an info line saying "start failed"
printf '{"jobs": [{"name": "j", "watch": "%s/out", "hub_model_id": "alice/x"}]}\n' "$work" \
    >"$work/notoken.json"
err=$("${clean[@]}" "$bin" daemon --config "$work/notoken.json" 2>&1); rc=$?
rc_is "daemon without a token" 78 $rc
has "daemon: the reason" "$err" "no Hub token"
has "daemon: config-specific hint" "$err" '(or set "token_file" in the config)'
hasnt "daemon: no start failed line" "$err" "start failed"

# run whose command made no output dir: no "completes it" (nothing will)
echo hf_unused_token_0123456789abcdef >"$work/token"
chmod 600 "$work/token"
printf '{"endpoint": "http://127.0.0.1:9", "token_file": "%s/token", "state_dir": "%s/state",
 "jobs": [{"name": "j", "watch": "%s/never", "hub_model_id": "alice/x"}]}\n' \
    "$work" "$work" "$work" >"$work/run.json"
err=$("${clean[@]}" HUBSYNC_RETRY_BASE_MS=10 "$bin" run --config "$work/run.json" --no-hub-check \
    -- /bin/true 2>&1); rc=$?
rc_is "run, no output dir" 1 $rc
has "run: says why" "$err" "nothing to push (check \"watch\")"
hasnt "run: no completes-it hint when nothing can complete it" "$err" "completes it"
hasnt "run: no start failed" "$err" "start failed"
echo "cli_messages: $pass passed, $fail failed"
[ $fail -eq 0 ]
