#!/usr/bin/env python3
"""Every save is accounted for and the queue never wedges (issue 12).

- A save whose snapshot cannot be taken (the spool cannot be created) is
  lost: a warning naming it and why, `hubsync run` exits 1 and says so
  (exit 0 with lost_saves_fail_run false), the final push still lands; in
  the daemon `status --json` counts it and shows the last one (human status
  too), and after a restart the last lost save comes from the journal.
- Restart with <watch>/.hubsync deleted while hubsync was down (checkpoints
  still on disk): the queued saves are snapshotted again from disk and
  committed (bytes hashed against the trainer's), nothing is lost.
- Restart after the output dir was wiped by a new run: the old queued saves
  are lost ("not the file that was saved" / "gone"), the new run's save and
  the final push land.
- A name the Hub cannot store (a backslash) is skipped with a warning and
  the save commits; a path the Hub refuses for good (emulator fault
  refuse_path, 400): that save is lost with the Hub's message, the later
  save and the final push land.
"""

import os
import re
import shutil
import subprocess
import sys

import itlib

FAST = {"HUBSYNC_RETRY_BASE_MS": "20", "HUBSYNC_JOB_RETRY_MS": "200"}
TRAIN = ["--epochs", "1", "--steps-per-epoch", "30", "--save-steps", "10", "--step-time", "0.01"]


def saves_of(events):
    return [e for e in events if e.get("event") == "save" and e.get("kind") == "checkpoint"]


def root_model_files(save):
    out = {}
    for f in save["files"]:
        rel = f["path"][len(save["dir"]) + 1:]
        if "/" not in rel and rel in itlib.MODEL_FILES:
            out[rel] = f["sha256"]
    return out


def broken_spool(work):
    """A spool_dir that cannot be created: its parent is a regular file."""
    block = os.path.join(work, "not-a-dir")
    with open(block, "w") as f:
        f.write("x\n")
    return os.path.join(block, "spool")


def test_lost_in_run(t):
    work = itlib.workdir("lost-run")
    emu = itlib.Emu(work)
    try:
        for fail_run in (True, False):
            out = os.path.join(work, "out-%d" % fail_run)
            repo = "alice/lost-run-%d" % fail_run
            cfg = itlib.write_config(work, emu, [itlib.job(
                "j", out, repo, "every_save", spool_dir=broken_spool(work),
                lost_saves_fail_run=fail_run)])
            ev = os.path.join(work, "ev-%d.jsonl" % fail_run)
            r = itlib.hubsync("run", "--config", cfg, "--",
                              *itlib.trainer_cmd(out, *TRAIN, events=ev), env=FAST, timeout=120)
            label = "lost_saves_fail_run %s" % str(fail_run).lower()
            want = 1 if fail_run else 0
            t.check(r.returncode == want, "%s: exit %d, want %d\n%s" %
                    (label, r.returncode, want, r.stderr[-2000:]))
            t.check("hubsync: error: 3 saves lost (never committed); the last: checkpoint-30: "
                    "snapshot failed" in r.stderr,
                    "%s: run says how many saves were lost and the last: %s" %
                    (label, r.stderr[-1500:]))
            for n in (10, 20, 30):
                t.check("job j: checkpoint-%d lost: snapshot failed" % n in r.stderr,
                        "%s: a warning names checkpoint-%d and why" % (label, n))
            if not fail_run:
                t.check("lost_saves_fail_run is false" in r.stderr,
                        "%s: says the exit status ignores it" % label)
            commits = emu.commits(repo)
            t.check(commits == ["initial commit", "End of training"],
                    "%s: the final push landed, no save commit: %s" % (label, commits))
            got = emu.files(repo)
            exp = itlib.local_files(out)
            t.check(all(got.get(k) == v for k, v in exp.items()),
                    "%s: the output dir's files are in the repo (sha256)" % label)
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_lost_in_status(t):
    work = itlib.workdir("lost-status")
    emu = itlib.Emu(work)
    d = None
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        # existing_checkpoints none: after the restart nothing is taken again,
        # so the last lost save shown can only come from the journal
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/lost-status",
                                                       spool_dir=broken_spool(work),
                                                       existing_checkpoints="none")])
        d = itlib.Daemon(cfg, os.path.join(work, "daemon.log"), env=FAST)
        d.start()
        t.check(itlib.wait_for(lambda: itlib.job_status(cfg), 20), "daemon answers")
        subprocess.run(itlib.trainer_cmd(out, *TRAIN), check=True, timeout=60)
        st = itlib.wait_for(lambda: (lambda j: j if j and j.get("lost") == 3 else None)(
            itlib.job_status(cfg)), 30)
        t.check(st is not None, "status counts 3 lost saves: %s" % itlib.job_status(cfg))
        if st:
            ll = st.get("last_lost") or {}
            t.check(ll.get("checkpoint") == "checkpoint-30" and
                    "snapshot failed" in ll.get("reason", ""),
                    "status names the last lost save and why: %r" % ll)
            t.check(st.get("committed") == 0 and st.get("queued") == 0,
                    "nothing committed or queued: %r" % st)
        h = itlib.hubsync("status", "--config", cfg, timeout=20)
        t.check(re.search(r"^  lost +3 saves \(never committed\)$", h.stdout, re.M) and
                re.search(r"^  last lost +checkpoint-30: snapshot failed: ", h.stdout, re.M),
                "human status shows the lost saves: %s" % h.stdout)
        # the journal keeps the last lost save across a restart
        t.check(d.stop() == 0, "daemon stops on SIGTERM")
        d.start()
        st = itlib.wait_for(lambda: itlib.job_status(cfg), 20)
        t.check(st and st.get("lost") == 0 and
                (st.get("last_lost") or {}).get("checkpoint") == "checkpoint-30",
                "after a restart the last lost save comes from the journal: %r" % st)
    finally:
        if d:
            d.stop()
            d.close()
        emu.stop()
        itlib.cleanup(work)


def queue_while_down(t, work, emu, out, repo, ev):
    """Daemon up, Hub down, a whole run trained: 3 saves queued, then kill -9."""
    cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "every_save")])
    os.makedirs(out, exist_ok=True)
    d = itlib.Daemon(cfg, os.path.join(work, "daemon.log"), env=FAST)
    d.start()
    t.check(itlib.wait_for(lambda: itlib.job_status(cfg), 20), "daemon answers")
    emu.kill()
    subprocess.run(itlib.trainer_cmd(out, *TRAIN, events=ev), check=True, timeout=60)
    q = itlib.wait_for(lambda: (lambda j: j if j and j.get("queued") == 3 else None)(
        itlib.job_status(cfg)), 30)
    t.check(q is not None, "3 saves queued while the Hub is down: %s" % itlib.job_status(cfg))
    d.kill()
    return cfg, d


def test_restart_spool_deleted(t):
    work = itlib.workdir("spool-gone")
    emu = itlib.Emu(work)
    d = None
    try:
        out = os.path.join(work, "out")
        repo = "alice/spool-gone"
        ev = os.path.join(work, "ev.jsonl")
        cfg, d = queue_while_down(t, work, emu, out, repo, ev)
        shutil.rmtree(os.path.join(out, ".hubsync"))
        emu.restart()
        d.start()
        st = itlib.wait_for(lambda: (lambda j: j if j and j.get("committed") == 3 else None)(
            itlib.job_status(cfg)), 60)
        t.check(st is not None and st.get("lost") == 0,
                "the 3 saves are committed after the restart, none lost: %s" %
                itlib.job_status(cfg))
        r = itlib.hubsync("finish", "j", "--config", cfg, timeout=20)
        t.check(r.returncode == 0, "finish accepted: %s" % r.stderr)
        t.check(itlib.wait_for(lambda: "End of training" in emu.commits(repo), 60),
                "the final push landed")
        saves = saves_of(itlib.read_events(ev))
        commits = emu.commits(repo)
        want = ["initial commit"] + ["Training in progress, step %d" % s["step"] for s in saves] \
            + ["End of training"]
        t.check(commits == want, "commits %s, want %s" % (commits, want))
        log = open(os.path.join(work, "daemon.log")).read()
        t.check(log.count("spool entry taken again") == 3,
                "each save's spool entry was taken again from disk")
        got = emu.files(repo)
        exp, _ = itlib.expected_repo("every_save", out, itlib.read_events(ev),
                                     os.path.join(work, "state", "cards", "j.md"))
        t.check(got.get("README.md") and all(got.get(k) == v for k, v in exp.items()
                                             if k != "README.md"),
                "the repo holds the expected files (sha256)")
    finally:
        if d:
            d.stop()
            d.close()
        emu.stop()
        itlib.cleanup(work)


def test_restart_output_wiped(t):
    work = itlib.workdir("wiped")
    emu = itlib.Emu(work)
    d = None
    try:
        out = os.path.join(work, "out")
        repo = "alice/wiped"
        cfg, d = queue_while_down(t, work, emu, out, repo, os.path.join(work, "ev1.jsonl"))
        shutil.rmtree(out)
        ev2 = os.path.join(work, "ev2.jsonl")
        subprocess.run(itlib.trainer_cmd(out, *TRAIN, "--seed", "7", events=ev2), check=True,
                       timeout=60)
        emu.restart()
        d.start()
        st = itlib.wait_for(lambda: (lambda j: j if j and j.get("lost") == 3 and
                                     j.get("committed") == 1 else None)(itlib.job_status(cfg)), 60)
        t.check(st is not None, "3 old saves lost, the new run's latest committed: %s" %
                itlib.job_status(cfg))
        if st:
            reason = (st.get("last_lost") or {}).get("reason", "")
            t.check("spool entry" in reason and ("gone" in reason or
                                                 "not the file that was saved" in reason),
                    "the reason says the spool and the checkpoint are gone: %s" % reason)
        r = itlib.hubsync("finish", "j", "--config", cfg, timeout=20)
        t.check(r.returncode == 0, "finish accepted: %s" % r.stderr)
        t.check(itlib.wait_for(lambda: "End of training" in emu.commits(repo), 60),
                "the final push landed")
        commits = emu.commits(repo)
        t.check(commits == ["initial commit", "Training in progress, step 30", "End of training"],
                "commits: %s" % commits)
        new = saves_of(itlib.read_events(ev2))[-1]
        got = emu.files(repo)
        loc = itlib.local_files(out)
        t.check(all(got.get(k) == v for k, v in loc.items()),
                "the new run's output dir is in the repo (sha256)")
        t.check(any(got.get(k) == v for k, v in root_model_files(new).items()),
                "the new run's checkpoint-30 model files reached the repo")
    finally:
        if d:
            d.stop()
            d.close()
        emu.stop()
        itlib.cleanup(work)


def refused_run(t, name, planted, emu_flags, expect_lost):
    """checkpoint-10 carries one planted file, checkpoint-20 does not; the
    checkpoint strategy puts both into last-checkpoint/. Returns the log."""
    work = itlib.workdir(name)
    emu = itlib.Emu(work, *emu_flags)
    d = None
    try:
        out = os.path.join(work, "out")
        repo = "alice/" + name
        ev = os.path.join(work, "ev.jsonl")
        subprocess.run(itlib.trainer_cmd(out, "--max-steps", "20", "--save-steps", "10",
                                         "--no-final-save", events=ev), check=True, timeout=60)
        with open(os.path.join(out, "checkpoint-10", planted), "w") as f:
            f.write("planted file\n")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "checkpoint",
                                                       existing_checkpoints="all")])
        log = os.path.join(work, "daemon.log")
        d = itlib.Daemon(cfg, log, env=FAST)
        d.start()
        want_c = 1 if expect_lost else 2
        want_l = 1 if expect_lost else 0
        st = itlib.wait_for(lambda: (lambda j: j if j and j.get("lost", 0) == want_l and
                                     j.get("committed") == want_c else None)(
                                         itlib.job_status(cfg)), 60)
        t.check(st is not None, "%s: %d committed, %d lost: %s" %
                (name, want_c, want_l, itlib.job_status(cfg)))
        if st and expect_lost:
            ll = st.get("last_lost") or {}
            t.check(ll.get("checkpoint") == "checkpoint-10" and "refused" in
                    ll.get("reason", "") and "Invalid path" in ll.get("reason", ""),
                    "%s: the reason carries the Hub's message: %r" % (name, ll))
        r = itlib.hubsync("finish", "j", "--config", cfg, timeout=20)
        t.check(r.returncode == 0, "finish accepted: %s" % r.stderr)
        t.check(itlib.wait_for(lambda: "End of training" in emu.commits(repo), 60),
                "%s: the final push landed" % name)
        got = emu.files(repo)
        c20 = saves_of(itlib.read_events(ev))[-1]
        want = {"last-checkpoint/" + f["path"][len(c20["dir"]) + 1:]: f["sha256"]
                for f in c20["files"]}
        t.check(all(got.get(k) == v for k, v in want.items()),
                "%s: last-checkpoint/ holds checkpoint-20 (sha256)" % name)
        t.check(not any(planted in k for k in got), "%s: the planted file is not in the repo: %s"
                % (name, sorted(k for k in got if planted in k)))
        d.stop()
        d.close()
        d = None
        with open(log, errors="replace") as f:
            return f.read()
    finally:
        if d:
            d.stop()
            d.close()
        emu.stop()
        itlib.cleanup(work)


def test_refused_path(t):
    # a name the Hub cannot store: skipped with a warning, the save commits
    text = refused_run(t, "unstorable", "back\\slash.txt", [], expect_lost=False)
    warned = [x for x in text.splitlines() if "slash.txt" in x and "warn" in x]
    t.check(len(warned) >= 1, "a warning names the skipped file: %s" %
            [x for x in text.splitlines() if "slash" in x][:3])
    # a path the Hub refuses for good (400): that save is lost, the next lands
    refused_run(t, "refused", "refuse-me.txt",
                ["--faults", "refuse_path=*refuse-me.txt:400"], expect_lost=True)


def main():
    t = itlib.Suite("integration_lost_saves")
    names = sys.argv[1:]
    for fn in (test_lost_in_run, test_lost_in_status, test_restart_spool_deleted,
               test_restart_output_wiped, test_refused_path):
        if not names or fn.__name__ in names:
            t.run(fn)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
