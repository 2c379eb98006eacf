#!/usr/bin/env bash
# The binary's global contract: --help, --version, each subcommand's --help,
# usage errors with exit 2. Subcommands whose behaviour is not built yet must
# say so and exit 1 — never report a fake success.
set -u
bin=${HUBSYNC_BIN:?}
fail=0 pass=0
check() { # description expected_rc actual_rc
    if [ "$2" = "$3" ]; then pass=$((pass + 1)); else echo "FAIL: $1 (exit $3, expected $2)"; fail=$((fail + 1)); fi
}
out=$("$bin" --version); check "--version" 0 $?
[[ $out =~ ^hubsync\ [0-9]+\.[0-9]+\.[0-9]+$ ]]; check "--version prints 'hubsync X.Y.Z'" 0 $?
out=$("$bin" --help); check "--help" 0 $?
for c in push daemon run status finish check-config card; do
    grep -q "^  $c " <<<"$out"; check "--help lists $c" 0 $?
    h=$("$bin" "$c" --help); check "$c --help" 0 $?
    grep -q "^Usage: hubsync $c" <<<"$h"; check "$c --help prints its usage" 0 $?
done
"$bin" >/dev/null 2>&1; check "no command" 2 $?
err=$("$bin" frobnicate 2>&1); check "unknown command" 2 $?
grep -q "unknown command 'frobnicate'" <<<"$err"; check "unknown command message" 0 $?
# `run` passes --help after -- to CMD, not to hubsync.
for c in push daemon run status finish check-config card; do
    err=$("$bin" "$c" x 2>&1); rc=$?
    if grep -q "not available yet" <<<"$err"; then check "$c stub says so" 1 $rc; fi
done
echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
