# bash completion for hubsync(1): subcommands, their options, files for path arguments,
# job names read from the --config file, and the command after `run ... --`.
# Works with or without the bash-completion package (uses _filedir when it is there).
# Installed as /usr/share/bash-completion/completions/hubsync.

_hubsync_files() # [EXT]: complete file names (directories always), EXT like json
{
    local cur=$1 ext=${2:-}
    if declare -F _filedir >/dev/null 2>&1; then
        if [[ -n $ext ]]; then _filedir "$ext"; else _filedir; fi
        return
    fi
    local IFS=$'\n' f
    compopt -o filenames 2>/dev/null
    for f in $(compgen -f -- "$cur"); do
        if [[ -d $f || -z $ext || $f == *.$ext ]]; then COMPREPLY+=("$f"); fi
    done
}

_hubsync_dirs()
{
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    COMPREPLY+=($(compgen -d -- "$1"))
}

# Job names of the config given with --config earlier on the line.
_hubsync_jobs()
{
    local cur=$1 cfg= i
    for ((i = 2; i < COMP_CWORD; i++)); do
        [[ ${COMP_WORDS[i - 1]} == --config ]] && cfg=${COMP_WORDS[i]}
    done
    cfg=${cfg/#\~/$HOME}
    [[ -n $cfg && -r $cfg ]] || return
    local names
    names=$(sed -n 's/.*"name"[[:space:]]*:[[:space:]]*"\([A-Za-z0-9._-]*\)".*/\1/p' "$cfg")
    COMPREPLY+=($(compgen -W "$names" -- "$cur"))
}

_hubsync()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local commands="push pull daemon run status finish check-config card"
    COMPREPLY=()

    if ((COMP_CWORD == 1)); then
        COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
        return
    fi

    local cmd=${COMP_WORDS[1]} i
    # `run ... -- CMD ARGS`: complete the training command, then its files.
    if [[ $cmd == run ]]; then
        for ((i = 2; i < COMP_CWORD; i++)); do
            if [[ ${COMP_WORDS[i]} == -- ]]; then
                if ((COMP_CWORD == i + 1)); then
                    COMPREPLY=($(compgen -c -- "$cur"))
                else
                    _hubsync_files "$cur"
                fi
                return
            fi
        done
    fi

    case $prev in
    --config) _hubsync_files "$cur" json; return ;;
    --socket | --out) _hubsync_files "$cur"; return ;;
    --job) _hubsync_jobs "$cur"; return ;;
    --to) _hubsync_dirs "$cur"; return ;;
    --repo | --revision | --path-in-repo | --message | --include | --exclude | --delete | --checkpoint) return ;;
    esac

    local opts
    case $cmd in
    push) opts="--repo --repo-type --revision --path-in-repo --message --commit-message --commit-description --quiet --private --follow-symlinks --include --exclude --delete --help" ;;
    pull) opts="--revision --checkpoint --to --dry-run --help" ;;
    daemon) opts="--config -q -v --quiet --verbose --help" ;;
    run) opts="--config --job --no-hub-check -q -v --quiet --verbose -- --help" ;;
    status) opts="--config --socket --json --help" ;;
    finish) opts="--config --socket --wait --help" ;;
    check-config) opts="--config --no-hub --job --help" ;;
    card) opts="--config --job --out --help" ;;
    *) return ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    # Positional arguments.
    case $cmd in
    push | card) _hubsync_dirs "$cur" ;;
    check-config) _hubsync_files "$cur" json ;;
    finish) _hubsync_jobs "$cur" ;;
    esac
}

complete -F _hubsync hubsync
