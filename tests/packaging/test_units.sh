#!/usr/bin/env bash
# The systemd units: `systemd-analyze verify` passes (ExecStart pointed at the built
# binary, Documentation= resolved against our man pages), the exposure score of
# `systemd-analyze security --offline=yes` stays at or below 2.0 for both units, and the
# settings the service contract relies on are present (docs/design.md, Running as a service).
TEST_NAME=packaging_units
source "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
units=$PKG/systemd

# Man pages for Documentation=man:... : the built, compressed pages of this build tree.
mkdir -p "$T/man/man1" "$T/man/man5"
cp "$PKG/man/hubsync.1" "$T/man/man1/" && cp "$PKG/man/hubsync.json.5" "$T/man/man5/"

# Verify copies whose ExecStart names the binary of this build; the template is verified
# through an instance named after an existing user (root: verify checks nothing about it).
mkdir -p "$T/units"
sed "s#/usr/bin/hubsync#$HUBSYNC_BIN#" "$units/hubsync.service" >"$T/units/hubsync.service"
sed "s#/usr/bin/hubsync#$HUBSYNC_BIN#" "$units/hubsync@.service" >"$T/units/hubsync@root.service"
for u in hubsync.service hubsync@root.service; do
    out=$(cd "$T/units" && MANPATH=$T/man systemd-analyze verify "$T/units/$u" 2>&1)
    rc=$?
    check_rc "systemd-analyze verify $u" 0 $rc
    [ -z "$out" ] || bad "systemd-analyze verify $u printed: $out"
done
# The example drop-in (ReadWritePaths= for the training directories) applies cleanly; a
# misspelt key would be reported ("Unknown key"), so any output is a failure.
mkdir -p "$T/units/hubsync@root.service.d"
cp "$PKG/examples/dropin-readwrite.conf" "$T/units/hubsync@root.service.d/"
out=$(cd "$T/units" && MANPATH=$T/man systemd-analyze verify "$T/units/hubsync@root.service" 2>&1)
check_rc "verify with the example drop-in" 0 $?
[ -z "$out" ] || bad "verify with the example drop-in printed: $out"
sed 's/^ReadWritePaths=/ReadWritePath=/' "$PKG/examples/dropin-readwrite.conf" \
    >"$T/units/hubsync@root.service.d/dropin-readwrite.conf"
out=$(cd "$T/units" && MANPATH=$T/man systemd-analyze verify "$T/units/hubsync@root.service" 2>&1)
grep -q "Unknown key" <<<"$out" || bad "verify does not report a misspelt drop-in key: $out"
rm -r "$T/units/hubsync@root.service.d"
# A unit that points at a missing binary must fail verify (the check above can fail).
sed 's#^ExecStart=.*#ExecStart=/nonexistent/hubsync daemon#' "$units/hubsync.service" >"$T/units/broken.service"
(cd "$T/units" && MANPATH=$T/man systemd-analyze verify "$T/units/broken.service" >/dev/null 2>&1)
check_rc "verify fails on a missing binary" 1 $?

# Exposure score (0 = locked down, 10 = unprotected). Offline mode reads the files only.
cp "$units/hubsync.service" "$T/units/"
cp "$units/hubsync@.service" "$T/units/hubsync@alice.service"
for u in hubsync.service hubsync@alice.service; do
    out=$(systemd-analyze security --offline=yes --threshold=20 "$T/units/$u" 2>&1)
    rc=$?
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
    echo "exposure $u: ${score:-?}"
    check_rc "security score of $u at most 2.0 (got ${score:-none})" 0 $rc
    [ -n "$score" ] || bad "no exposure score for $u"
    # No capability, no privilege escalation, no exotic sockets.
    for line in "NoNewPrivileges=" "CapabilityBoundingSet=~CAP_SYS_ADMIN" "RestrictAddressFamilies=~AF_PACKET" \
        "SystemCallFilter=~@mount" "ProtectSystem=" "PrivateTmp=" "MemoryDenyWriteExecute="; do
        grep -q "^✓ $line" <<<"$out" || bad "$u: security check '$line' not passed"
    done
done

# The service contract.
for f in hubsync.service hubsync@.service; do
    u=$units/$f
    for kv in Type=notify NotifyAccess=main "ExecReload=/bin/sh -c 'kill -HUP \"\$MAINPID\"'" Restart=on-failure \
        RestartPreventExitStatus=78 StartLimitBurst=5 StartLimitIntervalSec=10min WatchdogSec=60s \
        RuntimeDirectoryMode=0750 NoNewPrivileges=yes ProtectSystem=strict ProtectHome=read-only \
        PrivateTmp=yes "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
        SystemCallFilter=@system-service CapabilityBoundingSet= LockPersonality=yes \
        MemoryDenyWriteExecute=yes RestrictNamespaces=yes ProtectKernelTunables=yes \
        ProtectKernelModules=yes ProtectKernelLogs=yes; do
        grep -qxF -- "$kv" "$u" || bad "$f lacks '$kv'"
    done
done
grep -qx 'User=%i' "$units/hubsync@.service" || bad "template does not run as %i"
# Reload validates the config before the SIGHUP, so a broken one fails `systemctl reload`.
grep -qx 'ExecReload=/usr/bin/hubsync check-config /etc/hubsync/%i.json' "$units/hubsync@.service" ||
    bad "template ExecReload does not check the config first"
grep -qx 'ExecReload=/usr/bin/hubsync check-config /etc/hubsync/hubsync.json' "$units/hubsync.service" ||
    bad "hubsync.service ExecReload does not check the config first"
for f in hubsync.service hubsync@.service; do
    [ "$(grep -n '^ExecReload=' "$units/$f" | head -1 | grep -c check-config)" = 1 ] ||
        bad "$f: check-config is not the first ExecReload"
done
# RemoveIPC=yes would delete the training user's shm/SysV IPC when the instance stops.
grep -qx 'RemoveIPC=no' "$units/hubsync@.service" || bad "template does not set RemoveIPC=no"
grep -q '^RemoveIPC=yes' "$units/hubsync@.service" && bad "template sets RemoveIPC=yes"
grep -qx 'RemoveIPC=yes' "$units/hubsync.service" || bad "hubsync.service lost RemoveIPC=yes"
grep -qx 'ExecStart=/usr/bin/hubsync daemon --config /etc/hubsync/%i.json' "$units/hubsync@.service" ||
    bad "template ExecStart is not the per-user config"
grep -qx 'StateDirectory=hubsync-users/%i' "$units/hubsync@.service" || bad "template StateDirectory"
grep -qx 'RuntimeDirectory=hubsync-users/%i' "$units/hubsync@.service" || bad "template RuntimeDirectory"
grep -qx 'User=hubsync' "$units/hubsync.service" || bad "hubsync.service does not run as hubsync"
grep -qx 'ExecStart=/usr/bin/hubsync daemon --config /etc/hubsync/hubsync.json' "$units/hubsync.service" ||
    bad "hubsync.service ExecStart"
grep -qx 'StateDirectory=hubsync' "$units/hubsync.service" || bad "hubsync.service StateDirectory"
grep -qx 'RuntimeDirectory=hubsync' "$units/hubsync.service" || bad "hubsync.service RuntimeDirectory"
# The sysusers.d snippet creates the user hubsync.service runs as.
grep -q '^u hubsync ' "$PKG/sysusers.d/hubsync.conf" || bad "sysusers.d does not create user hubsync"
if command -v systemd-sysusers >/dev/null; then
    mkdir -p "$T/root/etc"
    out=$(systemd-sysusers --root="$T/root" "$PKG/sysusers.d/hubsync.conf" 2>&1)
    check_rc "systemd-sysusers accepts the snippet ($out)" 0 $?
    grep -q '^hubsync:x:[0-9]*:[0-9]*:.*:/var/lib/hubsync:' "$T/root/etc/passwd" || bad "sysusers did not create hubsync"
fi
ok
finish
