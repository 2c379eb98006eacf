#!/usr/bin/env bash
# `hubsync check-config` end to end with the real binary: the plan of a valid
# multi-job config (exact text, plus the key facts asserted one by one), the
# token never printed, exit 78 with every problem listed, token sources and
# token-file permissions, offline mode, unreadable files, usage errors (2).
set -u
bin=${HUBSYNC_BIN:?}
data=${HS_SOURCE_DIR:?}/tests/config/data
work=$(mktemp -d /tmp/hs_check_config.XXXXXX)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
# expect DESC RC: compares $rc (set by run) with RC
expect_rc() { if [ "$rc" = "$2" ]; then ok; else bad "$1: exit $rc, expected $2"; cat "$work/err" >&2; fi; }
has() { # DESC FILE STRING  (fixed string)
    if grep -qF -- "$3" "$2"; then ok; else bad "$1: '$3' not in output"; sed 's/^/  | /' "$2"; fi
}
hasnt() { if grep -qF -- "$3" "$2"; then bad "$1: '$3' must not appear"; else ok; fi; }
# run ENV... -- ARGS: runs the binary in a clean environment from $work
run() {
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    (cd "$work" && env -i PATH=/usr/bin:/bin HOME="$work/home" "${envs[@]}" "$bin" check-config "$@" \
        >"$work/out" 2>"$work/err")
    rc=$?
}
mkdir -p "$work/home"
TOK=hf_never_printed_0123456789
cp "$data/multi.json" "$work/multi.json"

# 1. a valid multi-job config: the exact plan, and its key facts
run HF_ENDPOINT=http://127.0.0.1:5555/ HF_TOKEN=$TOK -- multi.json
expect_rc "valid config" 0
if diff -u "$data/multi.expected" "$work/out" >"$work/diff"; then ok; else bad "plan differs"; cat "$work/diff"; fi
o=$work/out
has plan "$o" "multi.json: 4 jobs"
has plan "$o" "endpoint:       http://127.0.0.1:5555 (from HF_ENDPOINT)"
has plan "$o" "token:          \$HF_TOKEN"
has plan "$o" "repo:         my-org/bert-finetuned-mrpc, revision main, public"
has plan "$o" "repo:         gpt-small (in the token owner's namespace), revision dev (created from main if missing), private"
has plan "$o" "save -> last-checkpoint/ (files absent from it deleted there)"
# deepspeed: the whole save at the root and under its own path, as strategy.c does
has plan "$o" "one commit: the whole save -> / , and the whole"
has plan "$o" "save -> its own path (as under the watch root) ;"
has plan "$o" 'message "Training in progress, step N"'
has plan "$o" 'message "End of training"'
has plan "$o" "each save:    nothing is uploaded"
has plan "$o" "+ README.md (model card) -> / ;"
has plan "$o" "exclude:      *.pt, runs/"
has plan "$o" "always: .hubsync/, .git/, .cache/huggingface/"
has plan "$o" "include:      *.safetensors, *.json, global_step*/"
has plan "$o" "spool:        /data/runs/gpt/.hubsync/spool (default; cap 50 GB)"
has plan "$o" "spool:        /scratch/spool (set in the config; no size cap)"
has plan "$o" "watch:        /data/runs/gpt (layout auto; watch mode poll; poll every 2.5s)"
has plan "$o" "world size 8 (set in the config)"
has plan "$o" "model card:   off (README.md is not generated)"
hasnt "token not printed" "$o" "$TOK"
hasnt "token not printed" "$work/err" "$TOK"
# the config wins over HF_ENDPOINT
sed 's|"state_dir"|"endpoint": "https://hub.example.org/", "state_dir"|' "$data/multi.json" >"$work/ep.json"
run HF_ENDPOINT=http://127.0.0.1:5555 HF_TOKEN=$TOK -- ep.json
expect_rc "endpoint in config" 0
has "config endpoint" "$work/out" "endpoint:       https://hub.example.org (set in the config)"

# 2. token sources (never the value)
run HUGGING_FACE_HUB_TOKEN=$TOK -- multi.json
expect_rc "legacy env token" 0
has "legacy token" "$work/out" "token:          \$HUGGING_FACE_HUB_TOKEN"
mkdir -p "$work/home/.cache/huggingface"
printf '%s\n' "$TOK" >"$work/home/.cache/huggingface/token"
run -- multi.json
expect_rc "token file of huggingface_hub" 0
has "hf token file" "$work/out" "token:          huggingface_hub token file $work/home/.cache/huggingface/token"
hasnt "token not printed" "$work/out" "$TOK"
rm "$work/home/.cache/huggingface/token"
run -- multi.json
expect_rc "no token" 78
has "no token" "$work/err" "multi.json: token: no Hub token: HF_TOKEN and HUGGING_FACE_HUB_TOKEN are unset or empty, and $work/home/.cache/huggingface/token does not exist. Log in with \`hf auth login\` (it writes that file), or set HF_TOKEN (or set \"token_file\" in the config)"
printf '%s\n' "$TOK" >"$work/tok" && chmod 0644 "$work/tok"
sed "s|\"state_dir\"|\"token_file\": \"$work/tok\", \"state_dir\"|" "$data/multi.json" >"$work/tf.json"
run HF_TOKEN=hf_other -- tf.json
expect_rc "world-readable token_file" 78
has "token_file mode" "$work/err" "tf.json: token: token file $work/tok is accessible to other users (mode 0644); run chmod o-rwx on it"
chmod 0640 "$work/tok"
run HF_TOKEN=hf_other -- tf.json
expect_rc "token_file 0640" 0
has "token_file wins over HF_TOKEN" "$work/out" "token:          token_file $work/tok"
# inline token: only in a file of mode 0600 or stricter
sed "s|\"state_dir\"|\"token\": \"$TOK\", \"state_dir\"|" "$data/multi.json" >"$work/inline.json"
chmod 0644 "$work/inline.json"
run -- inline.json
expect_rc "inline token, mode 0644" 78
has "inline token mode" "$work/err" "inline.json: token: an inline token needs the config file to be mode 0600 or stricter (it is 0644); run chmod 600 on it, or use \"token_file\""
hasnt "token not printed" "$work/err" "$TOK"
chmod 0600 "$work/inline.json"
run HF_TOKEN=hf_other -- inline.json
expect_rc "inline token, mode 0600" 0
has "inline token" "$work/out" "token:          inline in the config file"
hasnt "token not printed" "$work/out" "$TOK"

# 3. every problem at once, exit 78
cat >"$work/bad.json" <<'JSON'
{
  "endpont": "https://huggingface.co",
  "max_parallel_uploads": 100,
  "jobs": [
    {"name": "bert", "watch": "", "hub_model_id": "my-org/bert--x",
     "hub_strategy": "every-save", "settle_secs": 5},
    {"name": "bert", "watch": "/data/b", "hub_model_id": "o/b", "private": "yes"}
  ]
}
JSON
run HF_TOKEN=$TOK -- bad.json
expect_rc "bad config" 78
cat >"$work/want" <<'TXT'
bad.json: endpont: unknown key (did you mean "endpoint"?)
bad.json: max_parallel_uploads: 100 is out of range 1..64
bad.json: jobs[0].settle_secs: unknown key (did you mean "settle_seconds"?)
bad.json: jobs[0].watch: must not be empty
bad.json: jobs[0].hub_model_id: "my-org/bert--x" is not a valid repo id: it contains "--"
bad.json: jobs[0].hub_strategy: "every-save" is not one of end, every_save, checkpoint, all_checkpoints
bad.json: jobs[1].private: expected true or false, got a string
bad.json: jobs[1].name: "bert" is already the name of jobs[0]
bad.json: 8 problems found
TXT
if diff -u "$work/want" "$work/err" >"$work/diff"; then ok; else bad "problem list differs"; cat "$work/diff"; fi
[ -s "$work/out" ] && bad "nothing on stdout for an invalid config" || ok

# syntax error: file:line:col
printf '{\n  "jobs": [\n    {"name": "a",}\n  ]\n}\n' >"$work/syntax.json"
run -- syntax.json
expect_rc "syntax error" 78
has "syntax error" "$work/err" "syntax.json:3:18: string or '}' expected near '}'"

# offline mode refuses
run HF_HUB_OFFLINE=1 HF_TOKEN=$TOK -- multi.json
expect_rc "offline" 78
has "offline" "$work/err" "multi.json: HF_HUB_OFFLINE=1: offline mode is enabled, so nothing can be uploaded; unset it"

# 4. missing / unreadable file: 78 with a clear message
run -- nope.json
expect_rc "missing file" 78
has "missing file" "$work/err" "nope.json: cannot read: No such file or directory"
run -- .
expect_rc "a directory" 78
has "directory" "$work/err" ".: cannot read: Is a directory"
if [ "$(id -u)" != 0 ]; then
    cp "$data/multi.json" "$work/noread.json" && chmod 000 "$work/noread.json"
    run -- noread.json
    expect_rc "unreadable file" 78
    has "unreadable" "$work/err" "noread.json: cannot read: Permission denied"
fi

# 5. usage errors: 2
run --
expect_rc "no argument" 2
has "usage" "$work/err" "Usage: hubsync check-config [--no-hub] FILE"
run -- a.json b.json
expect_rc "two arguments" 2
run -- --frobnicate multi.json
expect_rc "unknown option" 2
has "unknown option" "$work/err" "hubsync check-config: unknown option '--frobnicate'"
run HF_TOKEN=$TOK -- -- multi.json
expect_rc "-- FILE" 0

# 6. the training command `run` would wrap (issue 15 item 6): a multi-process
# launcher with world size 1 is warned about with run's own sentence (exit
# unchanged), WORLD_SIZE from the environment silences it as under run, and
# --job picks the job CMD trains
cat >"$work/one.json" <<JSON
{"endpoint": "http://127.0.0.1:5555", "state_dir": "$work/st",
 "jobs": [{"name": "ft", "watch": "$work/runs/ft", "hub_model_id": "me/ft"},
          {"name": "big", "watch": "$work/runs/big", "hub_model_id": "me/big", "world_size": 8}]}
JSON
warn_ft="one.json: warning: job ft: the training command is started by torchrun, but the world size is 1: set \"world_size\" in the config or export WORLD_SIZE"
run HF_TOKEN=$TOK -- --no-hub one.json -- /opt/bin/torchrun --nproc_per_node=4 train.py
expect_rc "launcher, world size 1: still valid" 0
has "launcher warning" "$work/err" "$warn_ft"
hasnt "the job with world_size 8 is not warned about" "$work/err" "job big:"
has "the plan is printed" "$work/out" "one.json: 2 jobs"
run HF_TOKEN=$TOK -- --no-hub --config one.json --job ft -- python3 -m torch.distributed.run train.py
expect_rc "--config, --job, python -m torch.distributed.run" 0
has "python -m form" "$work/err" "job ft: the training command is started by torch.distributed.run, but the world size is 1"
run HF_TOKEN=$TOK WORLD_SIZE=4 -- --no-hub one.json -- torchrun train.py
expect_rc "WORLD_SIZE=4" 0
hasnt "WORLD_SIZE=4: no warning" "$work/err" "world size is 1"
has "WORLD_SIZE=4 reaches the plan as under run" "$work/out" "world size 4 (from WORLD_SIZE)"
run HF_TOKEN=$TOK -- --no-hub one.json -- python3 train.py
expect_rc "not a launcher" 0
hasnt "not a launcher: no warning" "$work/err" "warning: job"
run HF_TOKEN=$TOK WORLD_SIZE=two -- --no-hub one.json -- torchrun train.py
expect_rc "WORLD_SIZE=two" 78
has "WORLD_SIZE=two" "$work/err" 'one.json: WORLD_SIZE="two" is not an integer in 1..65536'
run HF_TOKEN=$TOK -- --no-hub one.json --job nope -- torchrun train.py
expect_rc "--job unknown" 78
has "--job unknown" "$work/err" 'one.json: --job: no job named "nope"'
run HF_TOKEN=$TOK -- --no-hub one.json --job ft
expect_rc "--job without CMD" 2
has "--job without CMD" "$work/err" "--job NAME goes with the training command"
run HF_TOKEN=$TOK -- --no-hub -- one.json -- srun python train.py
expect_rc "-- FILE -- CMD" 0
has "-- FILE -- CMD" "$work/err" "job ft: the training command is started by srun"

echo "check_config: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
