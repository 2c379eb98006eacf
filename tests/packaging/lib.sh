# lib.sh — shared helpers of the packaging tests (sourced): pass/fail counting with the
# "<name>: N passed, M failed" summary, a temp dir removed on exit, and the paths every
# test needs. Each test script sets TEST_NAME before sourcing this file.
set -u
: "${HUBSYNC_BIN:?}" "${HS_SOURCE_DIR:?}" "${HS_BUILD_DIR:?}"
PKG=$HS_SOURCE_DIR/packaging
pass=0 fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/hs-pkgtest.XXXXXX")
trap 'rm -rf "$T"' EXIT

ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
# check DESCRIPTION CMD...: the command must succeed.
check() { local d=$1; shift; if "$@"; then ok; else bad "$d"; fi; }
# check_rc DESCRIPTION EXPECTED ACTUAL
check_rc() { if [ "$2" = "$3" ]; then ok; else bad "$1 (exit $3, expected $2)"; fi; }
# contains DESCRIPTION NEEDLE HAYSTACK (fixed string)
contains() { if grep -qF -- "$2" <<<"$3"; then ok; else bad "$1: '$2' not found"; fi; }
finish() {
    echo "$TEST_NAME: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
# skip MESSAGE: exit 77, which ctest reports as skipped (SKIP_RETURN_CODE).
skip() {
    echo "$TEST_NAME: SKIPPED: $*"
    exit 77
}

# Subcommands and their options, read from the binary's own --help texts.
hs_commands() { "$HUBSYNC_BIN" --help | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p'; }
hs_options() { "$HUBSYNC_BIN" "$1" --help | grep -o -- '--[a-z][a-z-]*' | sort -u; }

# check_config_example BIN FILE: run `BIN check-config` on FILE as a fresh user would on
# this machine. Example configs name token files that exist only on a real server
# (/etc/hubsync/token), so a copy points "token_file" at a test token (mode 0600); every
# other key is validated as written. Sets CC_OUT and returns check-config's exit status.
check_config_example() {
    local bin=$1 f=$2 copy
    mkdir -p "$T/cc" "$T/cc-home"
    [ -f "$T/cc/token" ] || { printf 'hf_packaging_test_token_0123456789\n' >"$T/cc/token"; chmod 600 "$T/cc/token"; }
    copy=$T/cc/$(basename "$f")
    sed "s#\"token_file\": \"[^\"]*\"#\"token_file\": \"$T/cc/token\"#" "$f" >"$copy"
    CC_OUT=$(env -u HF_TOKEN_PATH -u HF_HOME -u HF_ENDPOINT -u HUGGING_FACE_HUB_TOKEN \
        -u HF_HUB_OFFLINE -u TRANSFORMERS_OFFLINE -u STATE_DIRECTORY -u RUNTIME_DIRECTORY \
        HF_TOKEN=hf_packaging_env_token_0123456789 HOME="$T/cc-home" \
        XDG_STATE_HOME="$T/cc-home/state" XDG_CACHE_HOME="$T/cc-home/cache" \
        "$bin" check-config "$copy" 2>&1)
}
