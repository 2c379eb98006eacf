#!/usr/bin/env python3
"""SIGPIPE kills no hubsync command (issue 13 item 4): control clients that
send a request and close before reading the answer leave the daemon alive
and answering (a hang-up is a debug line, not a death with status 141);
`hubsync run ... 2>&1 | head -1` keeps going after its reader left: the
trainer finishes and the final push lands, exit 0."""

import json
import os
import socket
import subprocess
import sys
import time

import itlib


def status(sock):
    r = itlib.hubsync("status", "--socket", sock, "--json", timeout=20)
    return json.loads(r.stdout) if r.returncode == 0 else None


def test_client_hangs_up(t):
    work = itlib.workdir("hangup")
    emu = itlib.Emu(work)
    d = None
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/hangup")],
                                 log_level="debug")
        d = itlib.Daemon(cfg, os.path.join(work, "daemon.log"))
        d.start()
        sock = os.path.join(work, "state", "hubsync.sock")
        t.check(itlib.wait_for(lambda: status(sock), 20), "the daemon answers")
        big = json.dumps({"cmd": "status", "pad": "x" * 100}) + "\n"
        for _ in range(30):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            s.sendall(big.encode())
            s.close()  # before the answer: the daemon's write meets EPIPE
        time.sleep(0.5)  # let it write into the closed sockets
        t.check(d.p.poll() is None, "the daemon is alive (exit %r)" % d.p.poll())
        st = status(sock)
        t.check(st and st.get("pid") == d.p.pid, "and still answers")
        t.check(d.stop() == 0, "it stops cleanly")
        log = open(os.path.join(work, "daemon.log")).read()
        t.check("client hung up before reading its answer" in log,
                "a hang-up is a debug line:\n%s" % log[-1500:])
    finally:
        if d:
            d.close()
        emu.stop()
        itlib.cleanup(work)


def test_run_piped_to_head(t):
    work = itlib.workdir("headpipe")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/headpipe"
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo)])
        ev = os.path.join(work, "ev.jsonl")
        e = dict(os.environ)
        e.pop("HF_TOKEN", None)
        p = subprocess.Popen([itlib.BIN, "run", "--config", cfg, "--"] +
                             itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "20",
                                               "--save-steps", "10", "--step-time", "0.05",
                                               events=ev),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=e)
        first = p.stdout.readline()  # `| head -1`
        p.stdout.close()
        t.check(first, "hubsync wrote a first line: %r" % first)
        rc = p.wait(120)
        t.check(rc == 0, "hubsync run exits 0 after its reader left (got %d; 141 = SIGPIPE)" % rc)
        events = itlib.read_events(ev)
        t.check(any(x["event"] == "exit" for x in events) or
                any(x["event"] == "save" and x.get("step") == 20 for x in events),
                "the trainer ran to its end")
        t.check(emu.commits(repo, missing_ok=True)[-1:] == ["End of training"],
                "the final push landed: %s" % emu.commits(repo, missing_ok=True))
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_sigpipe")
    t.run(test_client_hangs_up)
    t.run(test_run_piped_to_head)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
