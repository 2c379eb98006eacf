#!/usr/bin/env python3
"""`hubsync run` exit statuses and signals (docs/design.md "Binary hubsync"):
a failing trainer's status is returned after what it saved was pushed (and
the card says so); a command that does not exist gives 127; SIGUSR1/SIGUSR2
and SIGTERM reach the trainer and a trainer killed by SIGTERM gives 143; a
second process on the same state_dir is refused with exit 1 naming the
holder."""

import os
import signal
import subprocess
import sys
import time

import itlib


def test_failing_trainer(t):
    """A failed CMD (issue 15 item 3): as the Trainer, the saves that
    completed are committed, no "End of training" commit, no card (the repo's
    README stays); finish_failed_runs: true finishes anyway, the card saying
    the command failed."""
    work = itlib.workdir("exit3")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        out2 = os.path.join(work, "out2")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/exit3")])
        ev = os.path.join(work, "ev.jsonl")
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "20",
                                             "--save-steps", "10", "--exit-code", "3",
                                             "--step-time", "0.01", events=ev))
        t.check(r.returncode == 3, "trainer exit 3 → hubsync exit %d (want 3)\n%s" %
                (r.returncode, r.stderr[-2000:]))
        commits = emu.commits("alice/exit3")
        t.check(commits == ["initial commit", "Training in progress, step 10",
                            "Training in progress, step 20"],
                "the completed saves are pushed, no End of training: %s" % commits)
        t.check("README.md" not in emu.files("alice/exit3"), "no card was pushed")
        t.check("no End of training commit and no model card (finish_failed_runs: true pushes "
                "them)" in r.stderr, "says why there is no finish: %s" % r.stderr[-1500:])
        cfg = itlib.write_config(work, emu, [itlib.job("j", out2, "alice/exit3b",
                                                       finish_failed_runs=True)])
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out2, "--epochs", "1", "--steps-per-epoch", "20",
                                             "--save-steps", "10", "--exit-code", "3",
                                             "--step-time", "0.01"))
        t.check(r.returncode == 3, "finish_failed_runs: exit %d (want 3)" % r.returncode)
        commits = emu.commits("alice/exit3b")
        t.check(commits == ["initial commit", "Training in progress, step 10",
                            "Training in progress, step 20", "End of training"],
                "finish_failed_runs: true finishes anyway: %s" % commits)
        card = open(os.path.join(work, "state", "cards", "j.md")).read()
        t.check("exited with status 3" in card, "the card says the command failed")
        t.check(emu.files("alice/exit3b").get("README.md") == itlib.sha256(
                    os.path.join(work, "state", "cards", "j.md")), "that card is in the repo")
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_not_found(t):
    work = itlib.workdir("enoent")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/enoent")])
        r = itlib.hubsync("run", "--config", cfg, "--", os.path.join(work, "no-such-trainer"), "x")
        t.check(r.returncode == 127, "missing command → exit %d (want 127)" % r.returncode)
        t.check("command not found" in r.stderr, "says the command was not found: %s" %
                r.stderr[-500:])
        r = itlib.hubsync("run", "--config", cfg, "--", "/bin/sh", "-c", "exit 0")
        t.check(r.returncode == 1 and ("does not exist" in r.stderr or "No such file" in r.stderr),
                "a command that creates no output dir: the final push fails → exit %d\n%s" %
                (r.returncode, r.stderr[-1500:]))
        r = itlib.hubsync("run", "--config", cfg, "--", "/bin/sh", "-c", "exit 5")
        t.check(r.returncode == 5, "command status 5 wins over the failed final push: %d" %
                r.returncode)
        os.mkdir(out)
        with open(os.path.join(out, "notes.txt"), "w") as f:
            f.write("hello\n")
        r = itlib.hubsync("run", "--config", cfg, "--", "/bin/sh", "-c", "exit 0")
        t.check(r.returncode == 0, "a command that saves no checkpoint: exit %d\n%s" %
                (r.returncode, r.stderr[-1500:]))
        t.check(emu.commits("alice/enoent")[-1] == "End of training" and
                "notes.txt" in emu.files("alice/enoent"), "its output dir was pushed")
        r = itlib.hubsync("run", "--config", cfg, "--", "/bin/sh", "-c", "kill -KILL $$")
        t.check(r.returncode == 128 + 9, "command killed by SIGKILL → exit %d (want 137)" %
                r.returncode)
        r = itlib.hubsync("run", "--config", cfg)
        t.check(r.returncode == 2, "no command → usage exit %d" % r.returncode)
        r = itlib.hubsync("run", "--config", cfg, "--job", "nope", "--", "/bin/true")
        t.check(r.returncode == 78 and "no job named" in r.stderr,
                "unknown --job → 78 (%d): %s" % (r.returncode, r.stderr[-300:]))
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_signals_and_lock(t):
    work = itlib.workdir("signals")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/sig")])
        ev = os.path.join(work, "ev.jsonl")
        log = open(os.path.join(work, "hubsync.log"), "w")
        p = itlib.popen_hubsync("run", "--config", cfg, "--",
                                *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch",
                                                   "1000", "--save-steps", "10", "--step-time",
                                                   "0.02", "--catch-usr", events=ev), log=log)
        first = itlib.wait_for(lambda: os.path.exists(ev) and any(
            e["event"] == "save" for e in itlib.read_events(ev)), 20)
        t.check(first, "the trainer saved under hubsync run")
        # a second process on the same state_dir is refused and names the holder
        r = itlib.hubsync("daemon", "--config", cfg, timeout=20)
        t.check(r.returncode == 1, "second process on the state_dir: exit %d (want 1)" %
                r.returncode)
        t.check(("in use by hubsync process %d" % p.pid) in r.stderr,
                "the refusal names the holder %d: %s" % (p.pid, r.stderr[-400:]))
        r = itlib.hubsync("run", "--config", cfg, "--", "/bin/true", timeout=20)
        t.check(r.returncode == 1 and str(p.pid) in r.stderr,
                "second `run` refused too (%d): %s" % (r.returncode, r.stderr[-300:]))
        for sig in (signal.SIGUSR1, signal.SIGUSR2):
            p.send_signal(sig)
            got = itlib.wait_for(lambda: any(e["event"] == "signal" and e["signal"] == sig
                                             for e in itlib.read_events(ev)), 10)
            t.check(got, "%s reached the trainer" % sig.name)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(60)
        t.check(rc == 128 + 15, "trainer killed by the forwarded SIGTERM → exit %d (want 143)" % rc)
        evs = itlib.read_events(ev)
        t.check(any(e["event"] == "signal" and e["signal"] == signal.SIGTERM for e in evs),
                "the trainer saw SIGTERM")
        commits = emu.commits("alice/sig")
        saves = ["Training in progress, step %d" % e["step"] for e in evs
                 if e["event"] == "save" and e.get("kind") == "checkpoint"]
        t.check("End of training" not in commits and all(s in commits for s in saves),
                "every save, and no finish for a killed trainer, was pushed before exiting "
                "(%d saves, commits %s)" %
                (len(saves), commits[-3:]))
        log.close()
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_run_exit")
    t.run(test_failing_trainer)
    t.run(test_not_found)
    t.run(test_signals_and_lock)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
