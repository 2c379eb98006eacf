#!/usr/bin/env python3
"""`hubsync daemon` end to end: a trainer runs on its own, the daemon pushes
each save; `hubsync status --json` reports the job (state, checkpoint,
bytes, last commit URL, counts); `hubsync finish JOB` makes the "End of
training" commit with the card; unknown jobs are refused; SIGTERM stops the
daemon promptly and `status` then exits 3. A second job in the same daemon
with hub_strategy all_checkpoints and supersede true shows that all
checkpoints are kept there."""

import json
import os
import signal
import stat
import subprocess
import sys
import time

import itlib


def status(cfg):
    r = itlib.hubsync("status", "--config", cfg, "--json", timeout=20)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def job_status(cfg, name):
    st = status(cfg)
    for j in (st or {}).get("jobs", []):
        if j["name"] == name:
            return j
    return None


def test_daemon(t):
    work = itlib.workdir("daemon")
    emu = itlib.Emu(work)
    p = None
    try:
        out_a = os.path.join(work, "out-a")
        out_b = os.path.join(work, "out-b")
        cfg = itlib.write_config(work, emu, [
            itlib.job("a", out_a, "alice/daemon-a", "every_save"),
            itlib.job("b", out_b, "acme/daemon-b", "all_checkpoints", supersede=True)])
        # Both roots exist before the start: the watcher shares one anchor
        # watch between missing roots of the same parent and then wakes only
        # the last one (reported to the watcher's owner).
        os.mkdir(out_a)
        os.mkdir(out_b)
        log = open(os.path.join(work, "daemon.log"), "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=log)
        up = itlib.wait_for(lambda: status(cfg), 20)
        t.check(up and up.get("pid") == p.pid, "status answers with the daemon's pid")
        sock = os.path.join(work, "state", "hubsync.sock")
        t.check(os.path.exists(sock) and stat.S_IMODE(os.stat(sock).st_mode) == 0o660,
                "control socket is mode 0660")
        ev_a, ev_b = os.path.join(work, "ev-a.jsonl"), os.path.join(work, "ev-b.jsonl")
        args = ["--epochs", "1", "--steps-per-epoch", "30", "--save-steps", "10", "--step-time",
                "0.02"]
        ta = subprocess.Popen(itlib.trainer_cmd(out_a, *args, events=ev_a))
        tb = subprocess.Popen(itlib.trainer_cmd(out_b, *args, "--seed", "7", events=ev_b))
        t.check(ta.wait(60) == 0 and tb.wait(60) == 0, "trainers ran")
        done = itlib.wait_for(lambda: (job_status(cfg, "a") or {}).get("committed") == 3 and
                              (job_status(cfg, "b") or {}).get("committed") == 3, 30)
        t.check(done, "both jobs committed their 3 saves: %s" % json.dumps(status(cfg))[:800])
        ja = job_status(cfg, "a")
        for key in ("state", "checkpoint", "bytes_done", "bytes_total", "rate_bytes_per_sec",
                    "eta_seconds", "last_commit_url", "last_error", "queued", "superseded",
                    "notes"):
            t.check(key in ja, "status job field %s" % key)
        t.check(ja["state"] == "idle" and ja["last_error"] is None and
                "/alice/daemon-a/commit/" in (ja["last_commit_url"] or ""),
                "job a idle with its last commit URL: %s" % ja)
        human = itlib.hubsync("status", "--config", cfg)
        t.check(human.returncode == 0 and "alice/daemon-a" in human.stdout,
                "human status names the jobs: %s" % human.stdout[:500])
        r = itlib.hubsync("finish", "nope", "--config", cfg)
        t.check(r.returncode == 1 and 'no job named "nope"' in r.stderr,
                "finish of an unknown job refused (%d): %s" % (r.returncode, r.stderr))
        r = itlib.hubsync("finish", "a", "--config", cfg)
        t.check(r.returncode == 0, "finish a: exit %d %s" % (r.returncode, r.stderr))
        fin = itlib.wait_for(lambda: (job_status(cfg, "a") or {}).get("state") == "finished", 30)
        t.check(fin, "job a finished: %s" % job_status(cfg, "a"))
        card = os.path.join(work, "state", "cards", "a.md")
        exp, msgs = itlib.expected_repo("every_save", out_a, itlib.read_events(ev_a), card)
        got = emu.files("alice/daemon-a")
        got.pop(".gitattributes", None)
        t.check(got == exp, "repo a holds exactly the expected files: missing %s extra %s" %
                (sorted(set(exp) - set(got)), sorted(set(got) - set(exp))))
        t.check(emu.commits("alice/daemon-a") == ["initial commit"] + msgs + ["End of training"],
                "repo a commits: %s" % emu.commits("alice/daemon-a"))
        # b: not finished yet, all checkpoints kept (supersede does not apply)
        files_b = emu.files("acme/daemon-b")
        t.check(all("checkpoint-%d/trainer_state.json" % s in files_b for s in (10, 20, 30)),
                "all_checkpoints keeps every checkpoint folder")
        t.check("README.md" not in files_b, "job b has no card before its finish")
        t.check((job_status(cfg, "b") or {}).get("superseded") == 0, "nothing superseded in b")
        # SIGTERM: clean and prompt
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(15)
        t.check(rc == 0, "daemon exits 0 on SIGTERM (got %s)" % rc)
        t.check(time.monotonic() - t0 < 5, "SIGTERM stop within 5 s")
        t.check(not os.path.exists(sock), "socket removed at stop")
        r = itlib.hubsync("status", "--config", cfg)
        t.check(r.returncode == 3, "status without a daemon: exit %d" % r.returncode)
        log.close()
    finally:
        if p and p.poll() is None:
            p.kill()
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_daemon_finish")
    t.run(test_daemon)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
