#!/usr/bin/env bash
# The built package under a real systemd: a debootstrapped Debian 12 booted with
# `systemd-nspawn --boot` (--register=no, in a private mount namespace with a tmpfs on
# /run, as root). The Hub emulator runs on the host (the container shares its network).
# Checks: install, hubsync@alice start -> READY (active) with a STATUS= line, a save pushed
# from /home/alice/runs (bytes compared), `hubsync status --config` as alice, stop
# mid-upload and start (pushed once, bytes compared),
# reload with a good and a broken config, kill -9
# -> restart -> still one commit per save, remove while the unit waits to restart (no
# failed unit left), purge (no enablement links left).
# Skips (77, with the reason) when not root, without systemd-nspawn/debootstrap/unshare, or
# when the root cannot be created or booted. The base root is cached in
# /var/cache/hubsync-test/ (HS_SYSTEMD_CACHE), so a second run needs no download.
TEST_NAME=packaging_systemd
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "not root (systemd-nspawn --boot needs root)"
for t in systemd-nspawn unshare nsenter dpkg-deb; do
    command -v $t >/dev/null || skip "$t not installed (apt-get install systemd-container debootstrap)"
done
py=${HS_PYTHON:-/usr/bin/python3}
cache=${HS_SYSTEMD_CACHE:-/var/cache/hubsync-test}
base=$cache/bookworm
start=$(date +%s)

# ---- the base root (cached) ----
if [ ! -x "$base/lib/systemd/systemd" ]; then
    command -v debootstrap >/dev/null || skip "debootstrap not installed and no cached root in $base"
    mkdir -p "$cache" || skip "cannot create $cache"
    rm -rf "$base.tmp"
    if ! timeout 600 debootstrap --variant=minbase \
        --include=systemd,systemd-sysv,dbus,python3,libuv1,libcurl4,libjansson4,libzstd1,libxxhash0,libinotifytools0,libssl3 \
        bookworm "$base.tmp" http://deb.debian.org/debian >"$T/debootstrap.log" 2>&1; then
        tail -5 "$T/debootstrap.log"
        skip "debootstrap of Debian 12 failed (no mirror?)"
    fi
    mv "$base.tmp" "$base"
fi

# ---- the package ----
deb_build=${HS_DEB_BUILD_DIR:-$HS_SOURCE_DIR/build-deb}
mkdir -p "$deb_build" 2>/dev/null && [ -w "$deb_build" ] || deb_build=$HS_BUILD_DIR/packaging-deb
deb=$("$PKG/build-deb.sh" "$T/out" "$deb_build") || { bad "build-deb.sh failed"; finish; exit 1; }

# ---- a throwaway copy of the root, prepared offline ----
R=$T/root
cp -a --reflink=auto "$base" "$R"
cp "$deb" "$R/tmp/hubsync.deb"
cp -a "$HS_SOURCE_DIR/tests/fake_trainer" "$R/opt/fake_trainer"
inroot() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@" </dev/null; }
out=$(inroot sh -c 'dpkg -i /tmp/hubsync.deb && useradd -m -U alice && mkdir -p /home/alice/runs/bert && chown -R alice: /home/alice/runs' 2>&1)
check_rc "dpkg -i in the root: $out" 0 $?

# The emulator on the host; alice's config and token; the drop-in for the run directory.
emu_data=$T/emu
"$py" "$HS_SOURCE_DIR/tests/hub_emulator/hub_emulator.py" --port 0 --data-dir "$emu_data" \
    --log "$T/emu.jsonl" >"$T/emu.out" 2>"$T/emu.err" &
emu_pid=$!
for _ in $(seq 100); do [ -s "$T/emu.out" ] && break; sleep 0.1; done
emu_url=$(awk '{print $4; exit}' "$T/emu.out")
[ -n "$emu_url" ] || { bad "emulator did not start: $(cat "$T/emu.err")"; finish; exit 1; }
alice_token=$(sed -n 's/^ALICE = "\(.*\)"/\1/p' "$HS_SOURCE_DIR/tests/integration/itlib.py")
printf '%s\n' "$alice_token" >"$R/etc/hubsync/alice.token"
inroot sh -c 'chown alice /etc/hubsync/alice.token && chmod 600 /etc/hubsync/alice.token'
write_config() { # REPO
    cat >"$R/etc/hubsync/alice.json" <<JSON
{"endpoint": "$emu_url", "token_file": "/etc/hubsync/alice.token",
 "jobs": [{"name": "bert", "watch": "/home/alice/runs/bert", "hub_model_id": "$1",
           "hub_strategy": "every_save", "supersede": false, "settle_seconds": 1,
           "marker_quiet_seconds": 0.3}],
 "bandwidth_limit_mbps": 8}
JSON
}
write_config alice/bert-systemd
mkdir -p "$R/etc/systemd/system/hubsync@alice.service.d"
cp "$PKG/examples/dropin-readwrite.conf" "$R/etc/systemd/system/hubsync@alice.service.d/"
printf '[Service]\nReadWritePaths=-/home/alice/runs\nRestartSec=1s\n' \
    >"$R/etc/systemd/system/hubsync@alice.service.d/test.conf"

# ---- boot ----
unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run &&
    exec systemd-nspawn -q --register=no --keep-unit --boot -D "$0" --console=pipe' "$R" \
    >"$T/boot.log" 2>&1 &
boot_pid=$!
cleanup_boot() {
    [ -n "${leader:-}" ] && kill -RTMIN+4 "$leader" 2>/dev/null # systemd: poweroff
    for _ in $(seq 100); do kill -0 "$boot_pid" 2>/dev/null || break; sleep 0.1; done
    kill "$boot_pid" 2>/dev/null
    kill "$emu_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup_boot EXIT
# The container's PID 1: the process named systemd among nspawn's descendants.
leader=
for _ in $(seq 200); do
    kids=$(pgrep -P "$boot_pid" || true)
    for k in $kids $(for k in $kids; do pgrep -P "$k"; done); do
        [ "$(cat /proc/"$k"/comm 2>/dev/null)" = systemd ] && leader=$k
    done
    [ -n "$leader" ] && break
    kill -0 "$boot_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$leader" ] || skip "systemd-nspawn --boot did not start systemd: $(tail -5 "$T/boot.log")"
ct() { nsenter -t "$leader" -m -u -i -n -p -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
# Until its manager listens, systemctl says "Failed to connect to bus": ask again.
for _ in $(seq 300); do
    state=$(ct timeout 90 systemctl is-system-running --wait 2>&1)
    case $state in *"Failed to connect"*) sleep 0.2 ;; *) break ;; esac
done
echo "container: $state ($(($(date +%s) - start)) s since start)"
case $state in running | degraded) ok ;; *) skip "the container's systemd did not come up: $state" ;; esac

commits() { "$py" "$HS_SOURCE_DIR/tests/hub_emulator/emu_inspect.py" commits --url "$emu_url" \
    --repo "$1" 2>/dev/null | grep -c 'Training in progress, step' || true; }
wait_for() { # SECONDS CMD...
    local end=$(($(date +%s) + $1)); shift
    until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.3; done
}
prop() { ct systemctl show -P "$1" hubsync@alice.service; }

# ---- start -> READY ----
out=$(ct systemctl enable --now hubsync@alice.service 2>&1)
check_rc "enable --now hubsync@alice: $out" 0 $?
check "hubsync@alice active (READY=1 received)" [ "$(prop ActiveState)" = active ]
contains "STATUS= line" "bert" "$(prop StatusText)"

# ---- a save pushed from /home/alice/runs ----
ct runuser -u alice -- python3 /opt/fake_trainer/fake_trainer.py --out /home/alice/runs/bert \
    --quiet --epochs 1 --steps-per-epoch 10 --save-steps 10 --no-final-save
check_rc "fake trainer as alice" 0 $?
has_one() { [ "$(commits alice/bert-systemd)" = 1 ]; }
check "the save reached the Hub as one commit" wait_for 60 has_one
# Every file of checkpoint-10 is on the Hub with the same bytes (sha256 of the download).
ck=$R/home/alice/runs/bert/checkpoint-10
"$py" "$HS_SOURCE_DIR/tests/hub_emulator/emu_inspect.py" files --download --url "$emu_url" \
    --repo alice/bert-systemd >"$T/files.jsonl" 2>&1
check_rc "list the repo: $(head -c 300 "$T/files.jsonl")" 0 $?
# every_save pushes the model files of each save (push_to_hub semantics): compare those.
for f in config.json model.safetensors; do
    want=$(sha256sum <"$ck/$f" | cut -d' ' -f1)
    grep -q "\"path\": \"$f\".*\"sha256\": \"$want\"" "$T/files.jsonl" ||
        bad "$f of checkpoint-10 not on the Hub with its bytes: $(grep -F "$f" "$T/files.jsonl")"
done

# `hubsync status --config` as alice (the README's line): finds the unit's socket in
# /run/hubsync-users/alice although the config sets no state_dir.
out=$(ct runuser -u alice -- hubsync status --config /etc/hubsync/alice.json 2>&1)
check_rc "status --config /etc/hubsync/alice.json as alice: $out" 0 $?
contains "status shows the job" "job bert:" "$out"

# ---- stop mid-upload, start, the save is pushed once ----
# bandwidth_limit_mbps 8 (1 MB/s): the 12 MiB weights of checkpoint-20 take ~12 s.
ct runuser -u alice -- python3 /opt/fake_trainer/fake_trainer.py --out /home/alice/runs/bert \
    --quiet --epochs 1 --steps-per-epoch 20 --save-steps 20 --no-final-save --seed 9 \
    --model-size 12M
check_rc "fake trainer, second run" 0 $?
uploading() { ct runuser -u alice -- hubsync status --config /etc/hubsync/alice.json 2>/dev/null |
    grep -q 'uploading checkpoint-20'; }
check "checkpoint-20 is uploading" wait_for 60 uploading
out=$(ct systemctl stop hubsync@alice.service 2>&1)
check_rc "stop mid-upload: $out" 0 $?
check_rc "no commit of checkpoint-20 before the restart" 1 "$(commits alice/bert-systemd)"
ct systemctl start hubsync@alice.service
has_two() { [ "$(commits alice/bert-systemd)" = 2 ]; }
check "checkpoint-20 pushed after the restart" wait_for 90 has_two
"$py" "$HS_SOURCE_DIR/tests/hub_emulator/emu_inspect.py" files --download --url "$emu_url" \
    --repo alice/bert-systemd >"$T/files2.jsonl" 2>&1
want=$(sha256sum <"$R/home/alice/runs/bert/checkpoint-20/model.safetensors" | cut -d' ' -f1)
grep -q "\"path\": \"model.safetensors\".*\"sha256\": \"$want\"" "$T/files2.jsonl" ||
    bad "resumed model.safetensors differs on the Hub"

# ---- reload: good, then broken ----
out=$(ct systemctl reload hubsync@alice.service 2>&1)
rc=$?
check_rc "reload with a good config: $out" 0 $rc
[ $rc = 0 ] || ct journalctl -u hubsync@alice.service --no-pager -n 15
good=$(cat "$R/etc/hubsync/alice.json")
echo '{"jobs": [], "bogus": 1}' >"$R/etc/hubsync/alice.json"
out=$(ct systemctl reload hubsync@alice.service 2>&1)
rc=$?
[ "$rc" != 0 ] && ok || bad "reload with a broken config returned 0"
check "still active after the refused reload" [ "$(prop ActiveState)" = active ]
printf '%s\n' "$good" >"$R/etc/hubsync/alice.json"

# ---- kill -9 -> restart -> no second commit of the same save ----
pid1=$(prop MainPID)
ct systemctl kill -s KILL hubsync@alice.service
restarted() { [ "$(prop ActiveState)" = active ] && [ "$(prop MainPID)" != "$pid1" ] && [ "$(prop MainPID)" != 0 ]; }
check "restarted after kill -9" wait_for 60 restarted
sleep 3 # a replayed duplicate would be committed within the settle time
check_rc "no second commit of a save after kill -9" 2 "$(commits alice/bert-systemd)"

# ---- remove while the unit waits to restart; then purge ----
printf '[Service]\nRestartSec=1h\n' >"$R/etc/systemd/system/hubsync@alice.service.d/zz-wait.conf"
ct systemctl daemon-reload
ct systemctl kill -s KILL hubsync@alice.service
waiting() { [ "$(prop SubState)" = auto-restart ]; }
check "unit waits to restart after kill -9" wait_for 30 waiting
out=$(ct dpkg -r hubsync 2>&1)
check_rc "dpkg -r: $out" 0 $?
failed=$(ct systemctl list-units --all --plain --no-legend 'hubsync*' 2>&1 | grep -E 'failed|auto-restart|activating')
[ -z "$failed" ] && ok || bad "dpkg -r left: $failed"
out=$(ct dpkg -P hubsync 2>&1)
check_rc "dpkg -P: $out" 0 $?
links=$(ls "$R"/etc/systemd/system/*.wants/ 2>/dev/null | grep hubsync)
[ -z "$links" ] && ok || bad "purge left enablement links: $links"
echo "packaging_systemd: $(($(date +%s) - start)) s"
finish
