#!/bin/sh
# run-libfuzzer.sh NAME SECONDS [extra libFuzzer args...]
#
# Build tests/fuzz/fuzz_NAME.c with clang -fsanitize=fuzzer,address,undefined
# (libraries with -fsanitize=fuzzer-no-link; CMake, -DHUBSYNC_FUZZ=ON -DHUBSYNC_SANITIZE=ON, build dir $FUZZ_BUILD,
# default <source>/build-libfuzzer) and run it for SECONDS on a scratch copy
# of the seed corpus (tests/fuzz/corpus/NAME, never modified) with the
# target's dictionary. One job (-jobs=1 semantics: a single process).
# Crash inputs land in $FUZZ_OUT (default /tmp/hs-fuzz-NAME) as crash-*;
# the last lines of libFuzzer's output carry exec/s, cov: and ft:.
# Needs clang (apt-get install -y clang); CI does not run this.
set -eu
if [ $# -lt 2 ]; then
    echo "usage: $0 NAME SECONDS [libFuzzer args...]" >&2
    exit 2
fi
name=$1
secs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD:-$src/build-libfuzzer}
out=${FUZZ_OUT:-/tmp/hs-fuzz-$name}
command -v clang >/dev/null || { echo "$0: clang not found (apt-get install -y clang)" >&2; exit 1; }
[ -f "$here/fuzz_$name.c" ] || { echo "$0: no target tests/fuzz/fuzz_$name.c" >&2; exit 2; }
seeds=$here/corpus/$name
# the pickle target's seeds are the model card fixtures
[ "$name" = pickle ] && seeds=$src/tests/modelcard/data/pickles

# fuzzer-no-link: coverage instrumentation for the libraries too, not
# only for the target file (which gets -fsanitize=fuzzer from CMake).
cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DHUBSYNC_FUZZ=ON -DHUBSYNC_SANITIZE=ON >/dev/null
cmake --build "$build" -j2 --target "fuzz_$name" >/dev/null

rm -rf "$out"
mkdir -p "$out/corpus" "$out/artifacts"
cp "$seeds/"* "$out/corpus/"
dict=
[ -f "$here/dict/$name.dict" ] && dict="-dict=$here/dict/$name.dict"
bin=$(find "$build/tests" -name "fuzz_$name" -type f -perm -u+x | head -n 1)
echo "run-libfuzzer: $bin $out/corpus -max_total_time=$secs -max_len=65536 $dict $*"
# shellcheck disable=SC2086
exec "$bin" "$out/corpus" -max_total_time="$secs" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts/" $dict "$@"
