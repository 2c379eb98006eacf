#!/usr/bin/env bash
# Install what hubsync needs to build and test on Debian 12 (run as root):
# the Debian packages, then the npm packages of the test suite (tests/js).
# With CI set (.ci/run), also clang for CI's clang build.
# Safe to run again; skips apt when every package is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(
  build-essential cmake pkg-config
  libuv1-dev libcurl4-openssl-dev libinotifytools0-dev libjansson-dev libzstd-dev libxxhash-dev
  libssl-dev libsystemd-dev libcmocka-dev
  python3 python3-yaml curl ca-certificates inotify-tools clang-format
  systemd man-db groff-base dpkg-dev
  openssl # a throwaway CA for the TLS test of uploader/http_loop.c (test_http_tls)
  btrfs-progs # mkfs.btrfs for the reflink (FICLONE) snapshot test on a loop mount (test_watcher_reflink)
)
# CI only (CI set, as .ci/run does): clang for its clang build step
[ -z "${CI:-}" ] || pkgs+=(clang)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ -f tests/js/package.json ]; then
  (cd tests/js && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; \
   else npm install --no-audit --no-fund --loglevel=error; fi)
fi
