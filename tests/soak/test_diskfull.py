#!/usr/bin/env python3
"""Disk full (issue 8): a small tmpfs (root only; exit 77 = ctest SKIP
otherwise) holds the daemon's state_dir, or the job's spool_dir, and is
filled to the last byte while `hubsync daemon` runs and the trainer keeps
saving. The daemon must not crash, must say why it stopped (a log line and
`hubsync status` last_error naming ENOSPC / "No space left on device" and
the directory), must commit nothing while full and keep its journal
undamaged; once the filler is removed it resumes on its own and every save
ends up committed exactly once (tree + sha256, commit messages, the
journal's save states), then the finish commit.

usage: test_diskfull.py [state|spool ...]   (default both)
"""

import collections
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import itlib  # noqa: E402
import soak  # noqa: E402

SKIP = 77
ENV = {"HUBSYNC_RETRY_BASE_MS": "200", "HUBSYNC_JOB_RETRY_MS": "300"}
SAVES = 6


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", path],
                       capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip()


def umount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)


def fill(path):
    """Write a filler file until ENOSPC; returns its path and size."""
    f = os.path.join(path, "filler")
    n = 0
    with open(f, "wb", buffering=0) as fh:
        block = b"\0" * 65536
        try:
            while True:
                n += fh.write(block)
        except OSError:
            pass
        try:
            while True:  # the last partial page
                n += fh.write(b"\0" * 512)
        except OSError:
            pass
    return f, n


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def case(t, kind):
    work = itlib.workdir("diskfull-" + kind)
    mnt = os.path.join(work, "mnt")
    ok, why = mount_tmpfs(mnt, "4m" if kind == "state" else "8m")
    if not ok:
        itlib.cleanup(work)
        return "cannot mount a tmpfs (%s)" % why
    emu = itlib.Emu(work, *soak.EMU_FLAGS)
    d = None
    trainer = None
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        repo = "alice/diskfull-" + kind
        extra = {} if kind == "state" else {"spool_dir": os.path.join(mnt, "spool")}
        top = {"state_dir": os.path.join(mnt, "state")} if kind == "state" else {}
        full_dir = os.path.join(mnt, "state" if kind == "state" else "spool")
        cfg = itlib.write_config(
            work, emu,
            [itlib.job("j", out, repo, "all_checkpoints", existing_checkpoints="all", **extra)],
            **top)
        d = itlib.Daemon(cfg, os.path.join(work, "daemon.log"), env=ENV)
        d.start()
        t.check(itlib.wait_for(lambda: itlib.job_status(cfg), 15), "%s: daemon up" % kind)
        ev = os.path.join(work, "ev.jsonl")
        # save 1 lands while there is room; the trainer is stopped (SIGSTOP in
        # the pause after that save) until the disk is full, then saves 2..N
        trainer = subprocess.Popen(itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", str(10 * SAVES), "--save-steps", "10",
            "--step-time", "0.03", "--save-pause", "1.5", "--model-size", "1M", "--seed", "11",
            events=ev))
        t.check(itlib.wait_for(lambda: os.path.exists(ev) and itlib.read_events(ev), 30, 0.05),
                "%s: first save written" % kind)
        trainer.send_signal(signal.SIGSTOP)
        first = itlib.wait_for(lambda: "Training in progress, step 10" in emu.commits(
            repo, missing_ok=True), 30, 0.2)
        t.check(first, "%s: the first save is committed before the disk fills" % kind)
        if kind == "spool":
            # its spool entry goes once the commit's record is durable (the
            # journal syncs on the thread pool): fill only after that
            # (the spool's marker file stays: it says the folder is hubsync's)
            entries = lambda: [n for n in os.listdir(full_dir) if n != ".hubsync-spool"]
            t.check(itlib.wait_for(lambda: not entries(), 15, 0.05),
                    "spool: the committed save's entry is removed: %s" % entries())
        filler, nfill = fill(mnt)
        t.check(free_bytes(mnt) < 64 << 10, "%s: tmpfs full (%d bytes free, filler %d)" % (
            kind, free_bytes(mnt), nfill))
        n_commits = len(emu.commits(repo))
        trainer.send_signal(signal.SIGCONT)
        t.check(trainer.wait(60) == 0, "%s: the trainer completed with the %s disk full" % (
            kind, kind))
        err = itlib.wait_for(lambda: ((itlib.job_status(cfg) or {}).get("last_error") or ""), 20)
        time.sleep(2)  # retries run; nothing may get through
        st = itlib.job_status(cfg)
        t.check(d.p.poll() is None, "%s: the daemon is still running while full" % kind)
        t.check(st is not None, "%s: status answers while full" % kind)
        err = (st or {}).get("last_error") or err or ""
        t.check(("ENOSPC" in err or "No space left on device" in err) and full_dir in err,
                "%s: last_error names ENOSPC and %s: %r" % (kind, full_dir, err))
        with open(d.logf.name) as f:
            log = f.read()
        t.check(any(("No space left on device" in ln or "ENOSPC" in ln) and full_dir in ln
                    for ln in log.splitlines()),
                "%s: a log line says the disk is full and where" % kind)
        t.check(len(emu.commits(repo)) == n_commits,
                "%s: no commit while full (%d → %d)" % (kind, n_commits, len(emu.commits(repo))))
        print("%s full: last_error %r" % (kind, err))
        # space returns: the daemon resumes by itself
        os.unlink(filler)
        events = itlib.read_events(ev)
        msgs = ["Training in progress, step %d" % e["step"] for e in events
                if e.get("event") == "save" and e.get("kind") == "checkpoint"]
        t0 = time.monotonic()
        resumed = itlib.wait_for(lambda: set(msgs) <= set(emu.commits(repo)), 60, 0.3)
        t.check(resumed, "%s: every save committed after space returned: missing %s" % (
            kind, sorted(set(msgs) - set(emu.commits(repo)))))
        print("%s: resumed, %d saves committed %.1f s after the filler was removed" % (
            kind, len(msgs), time.monotonic() - t0))
        r = itlib.hubsync("finish", "j", "--config", cfg)
        t.check(r.returncode == 0, "%s: finish accepted: %s" % (kind, r.stderr))
        done = itlib.wait_for(
            lambda: (itlib.job_status(cfg) or {}).get("state") == "finished", 60, 0.3)
        t.check(done, "%s: finished: %s" % (kind, itlib.job_status(cfg)))
        t.check(d.stop() == 0, "%s: the daemon stops cleanly" % kind)
        commits = emu.commits(repo)
        dups = {m: n for m, n in collections.Counter(commits).items() if n > 1}
        t.check(not dups, "%s: no duplicate commit: %s" % (kind, dups))
        t.check(len(msgs) == SAVES and commits[1:] == msgs + ["End of training"],
                "%s: one commit per save, in order, then the finish: %s" % (kind, commits))
        state = os.path.join(mnt, "state") if kind == "state" else os.path.join(work, "state")
        card = os.path.join(state, "cards", "j.md")
        exp, _ = itlib.expected_repo("all_checkpoints", out, events, card)
        got = emu.files(repo)
        got.pop(".gitattributes", None)
        t.check(got == exp, "%s: repo content: missing %s, extra %s, differ %s" % (
            kind, sorted(set(exp) - set(got)), sorted(set(got) - set(exp)),
            sorted(k for k in exp if k in got and got[k] != exp[k])))
        j = soak.journal_dump(state)
        states = collections.Counter(s["state"] for s in j["saves"])
        t.check(dict(states) == {"committed": SAVES} and not j["corrupt"] and
                not j["torn_bytes"], "%s: journal intact, every save committed once: %s" % (
                    kind, dict(states)))
    finally:
        if trainer and trainer.poll() is None:
            trainer.kill()
            trainer.wait()
        if d:
            d.close()
        emu.stop()
        umount(mnt)
        itlib.cleanup(work)
    return None


def main():
    kinds = sys.argv[1:] or ["state", "spool"]
    t = itlib.Suite("soak_diskfull")
    if os.geteuid() != 0:
        print("SKIP: soak_diskfull needs root to mount a small tmpfs (uid %d)" % os.geteuid())
        return SKIP
    for k in kinds:
        skip = []
        t.run(lambda t: skip.append(case(t, k)))
        if skip and skip[0]:
            print("SKIP: soak_diskfull: %s" % skip[0])
            return SKIP
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
