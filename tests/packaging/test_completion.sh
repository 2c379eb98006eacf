#!/usr/bin/env bash
# Bash completion: it offers exactly the subcommands `hubsync --help` lists, for each
# subcommand exactly the options its --help lists, job names read from --config, the
# training command after `run ... --`, and JSON files for check-config. Runs the completion
# function directly (COMP_WORDS/COMP_CWORD), without the bash-completion package.
TEST_NAME=packaging_completion
source "$(dirname "$0")/lib.sh"

comp=$PKG/completion/hubsync.bash
bash -n "$comp" || bad "syntax error in $comp"

# complete WORDS...: the candidates for the last word, sorted, one per line.
complete_words() {
    (cd "$T" && bash --norc -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
        _hubsync
        printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@") | sed '/^$/d' | sort -u
}

got=$(complete_words hubsync "")
want=$( (hs_commands; echo --help; echo --version) | sort -u)
[ "$got" = "$want" ] || bad "subcommands: got [$(echo $got)] want [$(echo $want)]"
got=$(complete_words hubsync ch)
[ "$got" = check-config ] || bad "'ch' completes to [$got]"

for c in $(hs_commands); do
    got=$(complete_words hubsync "$c" --)
    want=$(hs_options "$c")
    [ "$c" = run ] && want=$( (echo "$want"; echo --) | sort -u)
    [ "$got" = "$want" ] || bad "$c options: got [$(echo $got)] want [$(echo $want)]"
    ok
done

cat >"$T/cfg.json" <<'JSON'
{ "jobs": [ { "name": "bert-mrpc", "watch": "/x", "hub_model_id": "a/b",
              "model_card": { "model_name": "not-a-job" } },
            { "name": "t5.small_v2", "watch": "/y", "hub_model_id": "a/c" } ] }
JSON
got=$(complete_words hubsync run --config "$T/cfg.json" --job "")
[ "$got" = "$(printf 'bert-mrpc\nt5.small_v2')" ] || bad "--job names: [$(echo $got)]"
got=$(complete_words hubsync finish --config "$T/cfg.json" b)
[ "$got" = bert-mrpc ] || bad "finish JOB: [$(echo $got)]"

mkdir -p "$T/sub"
touch "$T/a.json" "$T/b.txt"
got=$(complete_words hubsync check-config "")
[ "$got" = "$(printf 'a.json\ncfg.json\nsub')" ] || bad "check-config FILE: [$(echo $got)]"
got=$(complete_words hubsync daemon --config "")
[ "$got" = "$(printf 'a.json\ncfg.json\nsub')" ] || bad "--config FILE: [$(echo $got)]"
got=$(complete_words hubsync push "")
[ "$got" = sub ] || bad "push DIR: [$(echo $got)]"
got=$(complete_words hubsync push --repo "")
[ -z "$got" ] || bad "--repo ID should offer nothing, got [$got]"

got=$(complete_words hubsync run --config a.json -- bas)
grep -qx bash <<<"$got" || bad "run -- CMD does not offer commands: [$(echo $got)]"
got=$(complete_words hubsync run --config a.json -- python b.)
[ "$got" = b.txt ] || bad "run -- CMD ARG does not offer files: [$(echo $got)]"
ok
finish
