# Bash helper for test scripts: start/stop the Hub emulator.
#   source "$HS_SOURCE_DIR/tests/hub_emulator/emulator.sh"
#   emu_start WORKDIR [extra hub_emulator.py flags...]
#     → exports EMU_URL EMU_STORAGE_URL EMU_PID EMU_LOG EMU_DATA HF_ENDPOINT
#   emu_stop
# Uses $HS_PYTHON when set (CMake passes /usr/bin/python3), else /usr/bin/python3.
# shellcheck shell=bash

_EMU_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

emu_start() {
    local work=${1:?emu_start WORKDIR [flags...]}
    shift
    mkdir -p "$work" || return 1
    export EMU_DATA="$work/emu-data" EMU_LOG="$work/emu-log.jsonl"
    local out="$work/emu-stdout" err="$work/emu-stderr"
    : >"$out"
    "${HS_PYTHON:-/usr/bin/python3}" "$_EMU_DIR/hub_emulator.py" --port 0 --data-dir "$EMU_DATA" \
        --log "$EMU_LOG" "$@" >"$out" 2>"$err" &
    export EMU_PID=$!
    local i line=
    for ((i = 0; i < 200; i++)); do
        line=$(head -n1 "$out" 2>/dev/null)
        [[ $line == "hub_emulator listening on "* ]] && break
        if ! kill -0 "$EMU_PID" 2>/dev/null; then
            echo "emu_start: emulator exited early:" >&2
            cat "$err" >&2
            return 1
        fi
        sleep 0.05
    done
    if [[ $line != "hub_emulator listening on "* ]]; then
        echo "emu_start: emulator did not start in 10 s" >&2
        cat "$err" >&2
        kill "$EMU_PID" 2>/dev/null
        return 1
    fi
    # "hub_emulator listening on http://127.0.0.1:P storage http://127.0.0.1:P2"
    read -r _ _ _ EMU_URL _ EMU_STORAGE_URL <<<"$line"
    export EMU_URL EMU_STORAGE_URL HF_ENDPOINT="$EMU_URL"
}

emu_stop() {
    [ -n "${EMU_PID:-}" ] || return 0
    kill -TERM "$EMU_PID" 2>/dev/null
    local rc=0
    wait "$EMU_PID" 2>/dev/null || rc=$?
    unset EMU_PID
    return $rc
}
