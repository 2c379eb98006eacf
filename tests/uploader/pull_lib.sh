# Helpers shared by the `hubsync pull` script tests (sourced after push_lib.sh).
# shellcheck shell=bash

# A fake Trainer checkpoint of step N in DIR: LFS weights (multipart when
# large), an optimizer, a nested DeepSpeed-like folder and small regular files.
mkckpt() { # dir step [weights_bytes]
    local d=$1 n=$2 w=${3:-3145728}
    mkdir -p "$d/global_step$n"
    printf '{"global_step": %s, "best_model_checkpoint": null, "log_history": [{"loss": NaN}]}\n' "$n" >"$d/trainer_state.json"
    echo '{"architectures": ["Bert"]}' >"$d/config.json"
    mkfile "$d/model.safetensors" "$w"
    mkfile "$d/optimizer.pt" 1200000
    mkfile "$d/global_step$n/mp_rank_00_model_states.pt" 70000
    : >"$d/empty.txt"
}

# pull ARGS... → stdout $WORK/pout, stderr $WORK/perr, rc $PRC
pull() {
    env HF_TOKEN="${PULL_TOKEN-$TOKEN}" HF_HOME="$WORK/hfhome" HUBSYNC_PROGRESS_INTERVAL_MS=200 \
        "$HUBSYNC_BIN" pull "$@" >"$WORK/pout" 2>"$WORK/perr"
    PRC=$?
}

# Same files, same bytes (sha256 of every file, relative paths).
same_tree() { # a b
    diff <(cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
        <(cd "$2" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >&2
}

# Storage requests of the log (one JSON object per line) as "method path range auth status".
storage_requests() {
    "$PY" - "$EMU_LOG" <<'PYEOF'
import json, sys
for l in open(sys.argv[1]):
    if l.strip():
        r = json.loads(l)
        if r["server"] == "storage" and r["method"] == "GET":
            print(r["path"], r.get("range") or "-", r["auth"], r["status"])
PYEOF
}
