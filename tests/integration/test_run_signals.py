#!/usr/bin/env python3
"""`hubsync run`: each signal reaches CMD exactly once (docs/design.md "Binary
hubsync": SIGINT, SIGTERM, SIGUSR1 and SIGUSR2 are forwarded to CMD).

- Ctrl-C on a terminal: hubsync runs on a pseudo-terminal (its own session,
  the pty as controlling terminal) and ^C is typed on it; the terminal sends
  SIGINT to the whole foreground process group, CMD included, so hubsync must
  not send it a second time.
- A SIGINT sent to hubsync's process group without a terminal (setsid, then
  kill -INT -PGID, as batch tools do).
- A SIGINT sent to hubsync's pid alone (on the terminal): forwarded, once.

CMD counts the SIGINTs it gets (one line per signal in a file), waits a
second for a duplicate, then dies of SIGINT: hubsync must exit 130 (128+2)
after the final push, and the repo must hold the final commit."""

import os
import pty
import signal
import subprocess
import sys
import threading
import time

import itlib

COUNTER = r"""
import os, signal, sys, time
out = sys.argv[1]
# Every delivery of the signal writes one byte to the wakeup fd (CPython's C
# handler does it per delivery; the Python-level handler may run once for
# two signals that arrive close together).
r, w = os.pipe()
os.set_blocking(r, False)
os.set_blocking(w, False)
signal.signal(signal.SIGINT, lambda sig, frame: None)
signal.set_wakeup_fd(w)
n = 0
def poll():
    global n
    try:
        b = os.read(r, 64)
    except BlockingIOError:
        return
    k = b.count(bytes([signal.SIGINT]))
    n += k
    with open(out, "a") as f:
        f.write("SIGINT\n" * k)
with open(out + ".ready", "w") as f:
    f.write("%d %d\n" % (os.getpid(), os.getpgrp()))
end = time.monotonic() + 30
while not n and time.monotonic() < end:
    time.sleep(0.02)
    poll()
end = time.monotonic() + 1.0
while time.monotonic() < end:  # a second (forwarded) SIGINT would land here
    time.sleep(0.02)
    poll()
signal.set_wakeup_fd(-1)
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.kill(os.getpid(), signal.SIGINT)
time.sleep(5)
sys.exit(99)
"""


def setup(name):
    work = itlib.workdir(name)
    emu = itlib.Emu(work)
    out = os.path.join(work, "out")
    os.mkdir(out)
    with open(os.path.join(out, "config.json"), "w") as f:
        f.write('{"model_type": "bert"}\n')
    cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/" + name)])
    script = os.path.join(work, "counter.py")
    with open(script, "w") as f:
        f.write(COUNTER)
    return work, emu, cfg, script, os.path.join(work, "sigints")


def count(path):
    try:
        with open(path) as f:
            return f.read().count("SIGINT")
    except FileNotFoundError:
        return 0


def env():
    e = dict(os.environ)
    e.pop("HF_TOKEN", None)
    return e


def run_on_pty(cfg, script, counter, deliver):
    """hubsync run on a new pty (its own session, pty as controlling
    terminal); deliver(master_fd, hubsync_pid) once CMD is ready. Returns
    (exit status, terminal output)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(itlib.BIN, [itlib.BIN, "run", "--config", cfg, "--", itlib.PY, script,
                                  counter], env())
        finally:
            os._exit(127)
    chunks = []

    def drain():
        while True:
            try:
                b = os.read(fd, 4096)
            except OSError:
                return
            if not b:
                return
            chunks.append(b)

    th = threading.Thread(target=drain, daemon=True)
    th.start()
    try:
        if itlib.wait_for(lambda: os.path.exists(counter + ".ready"), 30):
            time.sleep(0.2)
            deliver(fd, pid)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            wpid, st = os.waitpid(pid, os.WNOHANG)
            if wpid:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            wpid, st = os.waitpid(pid, 0)
    finally:
        th.join(2)
        os.close(fd)
    return os.waitstatus_to_exitcode(st), b"".join(chunks).decode(errors="replace")


def test_ctrl_c_on_terminal(t):
    work, emu, cfg, script, counter = setup("ctrlc")
    try:
        rc, text = run_on_pty(cfg, script, counter, lambda fd, pid: os.write(fd, b"\x03"))
        n = count(counter)
        t.check(n == 1, "Ctrl-C on the terminal: CMD got %d SIGINT (want exactly 1)\n%s" %
                (n, text[-1500:]))
        t.check(rc == 130, "CMD died of SIGINT → hubsync exit %d (want 130)\n%s" %
                (rc, text[-1500:]))
        t.check("not forwarded" in text, "the log says the terminal's SIGINT was not forwarded")
        t.check("End of training" not in emu.commits("alice/ctrlc", missing_ok=True),
                "CMD killed by Ctrl-C: no End of training commit (as the Trainer)")
        t.check(itlib.ALICE not in text, "the token never appears in the output")
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_direct_kill_on_terminal(t):
    work, emu, cfg, script, counter = setup("direct")
    try:
        rc, text = run_on_pty(cfg, script, counter, lambda fd, pid: os.kill(pid, signal.SIGINT))
        n = count(counter)
        t.check(n == 1, "SIGINT to hubsync's pid: CMD got %d SIGINT (want 1: forwarded)\n%s" %
                (n, text[-1500:]))
        t.check(rc == 130, "exit %d (want 130)" % rc)
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_group_kill_without_terminal(t):
    work, emu, cfg, script, counter = setup("pgrp")
    try:
        log = open(os.path.join(work, "hubsync.log"), "w")
        p = subprocess.Popen([itlib.BIN, "run", "--config", cfg, "--", itlib.PY, script, counter],
                             env=env(), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        ready = itlib.wait_for(lambda: os.path.exists(counter + ".ready"), 30)
        t.check(ready, "CMD started")
        time.sleep(0.2)
        os.killpg(p.pid, signal.SIGINT)  # kill -INT -PGID
        try:
            rc = p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        log.close()
        text = open(log.name).read()
        n = count(counter)
        t.check(n == 1, "SIGINT to the process group: CMD got %d SIGINT (want 1)\n%s" %
                (n, text[-1500:]))
        t.check(rc == 130, "exit %d (want 130)\n%s" % (rc, text[-1000:]))
        with open(counter + ".ready") as f:
            cmd_pid, cmd_pgrp = map(int, f.read().split())
        t.check(cmd_pgrp != p.pid, "without a terminal CMD runs in its own process group")
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_run_signals")
    t.run(test_ctrl_c_on_terminal)
    t.run(test_direct_kill_on_terminal)
    t.run(test_group_kill_without_terminal)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
