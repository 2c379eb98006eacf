#!/usr/bin/env bash
# build-deb.sh — build the Debian package of hubsync from this source tree.
#
#   packaging/build-deb.sh OUTDIR [BUILD_DIR]
#
# Configures a release build (prefix /usr, no tests, no sanitizers) in BUILD_DIR (default:
# a temporary directory, removed afterwards; pass a directory to make rebuilds incremental;
# concurrent runs on one BUILD_DIR are serialised with flock),
# builds it with -j${HUBSYNC_JOBS:-2}, runs CPack's DEB generator (runtime dependencies from
# dpkg-shlibdeps) and writes exactly one hubsync_<version>_<arch>.deb into OUTDIR. Prints
# the path of the package on stdout. Needs cmake, dpkg-dev; no network.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR [BUILD_DIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
case $1 in -h | --help) usage ;; esac

src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
for tool in cmake cpack dpkg-deb dpkg-shlibdeps; do
    command -v "$tool" >/dev/null || { echo "build-deb: $tool not found (apt-get install cmake dpkg-dev)" >&2; exit 1; }
done

if [ $# -eq 2 ]; then
    mkdir -p "$2"
    build=$(cd "$2" && pwd)
    # Two runs sharing BUILD_DIR (e.g. two test suites at once) take turns.
    if command -v flock >/dev/null; then
        exec 9>"$build/.build-deb.lock"
        flock 9
    fi
else
    build=$(mktemp -d "${TMPDIR:-/tmp}/hubsync-deb.XXXXXX")
    trap 'rm -rf "$build"' EXIT
fi

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DHUBSYNC_TESTS=OFF -DHUBSYNC_SANITIZE=OFF >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" -j"${HUBSYNC_JOBS:-2}" >"$build/build.log" 2>&1 ||
    { tail -n 50 "$build/build.log" >&2; exit 1; }

rm -rf "$build/deb"
(cd "$build" && cpack -G DEB -B "$build/deb" >"$build/cpack.log" 2>&1) ||
    { cat "$build/cpack.log" >&2; exit 1; }

shopt -s nullglob
debs=("$build"/deb/hubsync_*.deb)
if [ ${#debs[@]} -ne 1 ]; then
    echo "build-deb: expected one package, cpack produced ${#debs[@]}:" >&2
    ls -l "$build/deb" >&2
    exit 1
fi
name=$(basename "${debs[0]}")
if ! [[ $name =~ ^hubsync_[0-9][^_]*_[a-z0-9]+\.deb$ ]]; then
    echo "build-deb: unexpected package name $name" >&2
    exit 1
fi
rm -f "$out"/hubsync_*.deb
cp "${debs[0]}" "$out/$name"
echo "$out/$name"
