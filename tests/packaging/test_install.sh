#!/usr/bin/env bash
# `cmake --install` of this build tree (into a DESTDIR, never the host): the binary, both
# units (their ExecStart naming the installed binary and config directory), sysusers.d,
# the compressed man pages, bash completion, examples, docs and the default config land
# in the GNUInstallDirs places; a second install keeps a locally edited config.
TEST_NAME=packaging_install
source "$(dirname "$0")/lib.sh"

cache=$HS_BUILD_DIR/CMakeCache.txt
val() { sed -n "s/^$1:[A-Z]*=//p" "$cache"; }
prefix=$(val CMAKE_INSTALL_PREFIX)
unitdir=$(val HUBSYNC_SYSTEMD_UNIT_DIR)
sysusersdir=$(val HUBSYNC_SYSUSERS_DIR)
[ -n "$prefix" ] && [ -n "$unitdir" ] && [ -n "$sysusersdir" ] || bad "install dirs not in $cache"
case $prefix in /usr) confdir=/etc/hubsync ;; *) confdir=$prefix/etc/hubsync ;; esac
D=$T/dest

out=$(DESTDIR=$D cmake --install "$HS_BUILD_DIR" 2>&1)
check_rc "cmake --install: $out" 0 $?

for f in "$prefix/bin/hubsync" "$unitdir/hubsync.service" "$unitdir/hubsync@.service" \
    "$sysusersdir/hubsync.conf" "$prefix/share/man/man1/hubsync.1.gz" \
    "$prefix/share/man/man5/hubsync.json.5.gz" "$prefix/share/bash-completion/completions/hubsync" \
    "$prefix/share/doc/hubsync/operations.md" "$prefix/share/doc/hubsync/examples/slurm-train.sbatch" \
    "$prefix/share/doc/hubsync/examples/single-finetune.json" \
    "$prefix/share/doc/hubsync/examples/multi-job-server.json" \
    "$prefix/share/doc/hubsync/examples/slurm-run.json" "$confdir/hubsync.json"; do
    [ -f "$D$f" ] || bad "not installed: $f"
done
[ -x "$D$prefix/bin/hubsync" ] || bad "binary not executable"
"$D$prefix/bin/hubsync" --version >/dev/null || bad "installed binary does not run"
grep -qx "ExecStart=$prefix/bin/hubsync daemon --config $confdir/%i.json" "$D$unitdir/hubsync@.service" ||
    bad "installed template ExecStart: $(grep ^ExecStart "$D$unitdir/hubsync@.service")"
grep -qx "ExecStart=$prefix/bin/hubsync daemon --config $confdir/hubsync.json" "$D$unitdir/hubsync.service" ||
    bad "installed unit ExecStart: $(grep ^ExecStart "$D$unitdir/hubsync.service")"
# Apart from those paths the installed units are the sources.
for u in hubsync.service hubsync@.service; do
    diff <(sed "s#$prefix/bin/hubsync#/usr/bin/hubsync#; s#$confdir/#/etc/hubsync/#" "$D$unitdir/$u") \
        "$PKG/systemd/$u" >/dev/null || bad "installed $u differs from the source beyond paths"
done
cmp -s <(zcat "$D$prefix/share/man/man1/hubsync.1.gz") "$PKG/man/hubsync.1" || bad "hubsync.1.gz content"
MANWIDTH=80 man -l "$D$prefix/share/man/man5/hubsync.json.5.gz" >/dev/null 2>&1 || bad "man -l hubsync.json.5.gz"

# An admin's edit of the config survives a re-install.
echo '{"edited": true}' >"$D$confdir/hubsync.json"
out=$(DESTDIR=$D cmake --install "$HS_BUILD_DIR" 2>&1)
check_rc "second cmake --install" 0 $?
grep -q edited "$D$confdir/hubsync.json" || bad "re-install overwrote $confdir/hubsync.json"
contains "re-install says it kept the config" "Keeping existing: $D$confdir/hubsync.json" "$out"
ok
finish
