#!/usr/bin/env python3
"""The service's edges: bad configs give exit 78 with every problem named
(daemon and run alike); systemd notifications (READY=1, STATUS=,
WATCHDOG=1 at WATCHDOG_USEC/2, RELOADING=1 then READY=1 on SIGHUP,
STOPPING=1 on SIGTERM) through a NOTIFY_SOCKET the test listens on; and
SIGHUP with a changed job (hub_model_id) sends the next commit to the new
repo without restarting the daemon."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import itlib

BAD = [
    # (name, config patch, expected message part)
    ("unknown key", lambda c: c.update(bogus=1), "bogus"),
    ("bad strategy", lambda c: c["jobs"][0].update(hub_strategy="every-save"),
     'jobs[0].hub_strategy: "every-save" is not one of'),
    ("relative watch", lambda c: c["jobs"][0].update(watch="../dir"), "jobs[0].watch"),
    ("no jobs", lambda c: c.update(jobs=[]), "jobs"),
    ("bad repo id", lambda c: c["jobs"][0].update(hub_model_id="a/b/c"), "hub_model_id"),
]


def test_bad_configs(t):
    work = itlib.workdir("badcfg")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        good = json.load(open(itlib.write_config(work, emu, [itlib.job("j", out, "alice/x")])))
        for name, patch, want in BAD:
            c = json.loads(json.dumps(good))
            patch(c)
            path = os.path.join(work, "bad.json")
            with open(path, "w") as f:
                json.dump(c, f, indent=1)
            for cmd in (["daemon", "--config", path], ["run", "--config", path, "--", "/bin/true"]):
                r = itlib.hubsync(*cmd, timeout=20)
                t.check(r.returncode == 78 and want in r.stderr,
                        "%s: %s → exit %d, message %r" % (name, cmd[0], r.returncode,
                                                          r.stderr[-300:]))
        with open(os.path.join(work, "broken.json"), "w") as f:
            f.write('{"jobs": [\n')
        r = itlib.hubsync("daemon", "--config", os.path.join(work, "broken.json"))
        t.check(r.returncode == 78 and "broken.json:" in r.stderr,
                "syntax error: exit %d %r" % (r.returncode, r.stderr[-200:]))
        r = itlib.hubsync("daemon", "--config", os.path.join(work, "missing.json"))
        t.check(r.returncode == 78 and "missing.json" in r.stderr,
                "missing file: exit %d %r" % (r.returncode, r.stderr[-200:]))
        # no token anywhere: a configuration error too
        c = json.loads(json.dumps(good))
        del c["token_file"]
        path = os.path.join(work, "notoken.json")
        json.dump(c, open(path, "w"))
        home = os.path.join(work, "home")
        os.mkdir(home)
        r = itlib.hubsync("daemon", "--config", path, env={"HOME": home, "HF_HOME": home,
                                                           "XDG_CACHE_HOME": home})
        t.check(r.returncode == 78 and "hf_" not in r.stderr.replace("hf_***", ""),
                "no token: exit %d %r" % (r.returncode, r.stderr[-300:]))
        r = itlib.hubsync("daemon")
        t.check(r.returncode == 2, "daemon without --config: usage exit %d" % r.returncode)
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_notify_and_changed_job(t):
    work = itlib.workdir("notify")
    emu = itlib.Emu(work)
    p = None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stop = threading.Event()
    try:
        npath = os.path.join(work, "notify.sock")
        sock.bind(npath)
        sock.settimeout(0.2)
        msgs = []

        # A reader thread drains the socket all the time, as systemd does:
        # the daemon's sd_notify blocks when the datagram queue is full
        # (net.unix.max_dgram_qlen is 10 here).
        def reader():
            while not stop.is_set():
                try:
                    msgs.append(sock.recv(4096).decode())
                except socket.timeout:
                    pass
                except OSError:
                    return

        th = threading.Thread(target=reader, daemon=True)
        th.start()

        def drain(until=None, timeout=10):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if until and any(until in m for m in list(msgs)):
                    return True
                time.sleep(0.05)
            return until is None

        out = os.path.join(work, "out")
        os.mkdir(out)
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/first")])
        log = open(os.path.join(work, "daemon.log"), "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=log,
                                env={"NOTIFY_SOCKET": npath, "WATCHDOG_USEC": "200000"})
        t.check(drain("READY=1"), "READY=1 sent: %s" % msgs)
        t.check(drain("WATCHDOG=1", 2), "watchdog pings at WATCHDOG_USEC/2")
        t.check(any("STATUS=" in m for m in msgs), "a STATUS= line")
        ev = os.path.join(work, "ev.jsonl")
        args = ["--epochs", "1", "--steps-per-epoch", "10", "--save-steps", "10",
                "--no-final-save"]
        subprocess.run(itlib.trainer_cmd(out, *args, events=ev), timeout=60, check=True)
        t.check(itlib.wait_for(lambda: emu.commits("alice/first", True)[-1:] ==
                               ["Training in progress, step 10"], 20), "first repo got step 10")
        # the job now pushes to another repo
        c = json.load(open(cfg))
        c["jobs"][0]["hub_model_id"] = "acme/second"
        json.dump(c, open(cfg, "w"))
        msgs.clear()
        p.send_signal(signal.SIGHUP)
        t.check(drain("RELOADING=1", 5) and drain("READY=1", 5),
                "RELOADING=1 then READY=1 on SIGHUP: %s" % msgs)
        subprocess.run(itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "20",
                                         "--save-steps", "20", "--no-final-save", "--seed", "9",
                                         events=ev), timeout=60, check=True)
        got = itlib.wait_for(lambda: (emu.commits("acme/second", True) or [None])[-1] ==
                             "Training in progress, step 20", 20)
        t.check(got, "after the reload the next save goes to the new repo")
        t.check(emu.commits("alice/first")[-1] == "Training in progress, step 10",
                "the old repo is left alone")
        msgs.clear()
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(15) == 0, "clean stop")
        drain(None, 0.5)
        t.check(any("STOPPING=1" in m for m in msgs), "STOPPING=1 on SIGTERM: %s" % msgs)
        log.close()
    finally:
        if p and p.poll() is None:
            p.kill()
        stop.set()
        sock.close()
        emu.stop()
        itlib.cleanup(work)


def test_status_shows_last_error(t):
    """STATUS= (systemctl status) carries the job's last error while its saves fail,
    instead of reading like an idle, healthy job."""
    work = itlib.workdir("notify-err")
    emu = itlib.Emu(work)
    p = None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        npath = os.path.join(work, "notify.sock")
        sock.bind(npath)
        sock.settimeout(0.2)
        out = os.path.join(work, "out")
        os.mkdir(out)
        # alice's token cannot write to bob's namespace: every save is refused (403).
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "bob/not-alices")])
        log = open(os.path.join(work, "daemon.log"), "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=log,
                                env={"NOTIFY_SOCKET": npath})
        subprocess.run(itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "10",
                                         "--save-steps", "10", "--no-final-save"),
                       timeout=60, check=True)
        msgs, end = [], time.monotonic() + 30
        while time.monotonic() < end and not any("last error" in m for m in msgs):
            try:
                msgs.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
        st = [m for m in msgs if "STATUS=" in m]
        t.check(any("STATUS=" in m and "last error: " in m for m in msgs),
                "STATUS= names the last error: %s" % st[-3:])
    finally:
        if p:
            p.terminate()
            p.wait(timeout=30)
        sock.close()
        emu.stop()
        itlib.cleanup(work)


def test_log_file(t):
    work = itlib.workdir("logfile")
    emu = itlib.Emu(work)
    p = None
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        logf = os.path.join(work, "hubsync.log")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/logged")], log_file=logf)
        err = open(os.path.join(work, "stderr"), "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=err)
        t.check(itlib.wait_for(lambda: os.path.exists(logf) and "control socket" in
                               open(logf).read(), 20), "log lines go to log_file")
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(15) == 0, "clean stop")
        text = open(logf).read()
        t.check(text and all(line[:4].isdigit() and any(
            x in line for x in (" info: ", " warn: ", " error: ")) for line in text.splitlines()),
                "timestamped lines with their level: %r" % text[:300])
        t.check("stopping on SIGTERM" in text, "the stop is logged there too")
        t.check(itlib.ALICE not in text, "the token never appears")
        err.close()
        t.check("hubsync: info:" not in open(os.path.join(work, "stderr")).read(),
                "nothing logged to stderr instead")
    finally:
        if p and p.poll() is None:
            p.kill()
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_service")
    t.run(test_bad_configs)
    t.run(test_notify_and_changed_job)
    t.run(test_status_shows_last_error)
    t.run(test_log_file)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
