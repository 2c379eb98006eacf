#!/usr/bin/env python3
"""The Hub as a checkpoint store (issue 16): tag_saves and hub_keep_checkpoints.

- tags_kills: `hubsync daemon` with tag_saves is killed with SIGKILL KILLS
  times (default 10) while the fake trainer saves, each kill at a seeded
  choice of moment: right after the emulator answered a commit, right after
  it answered a tag, or after a random delay;
  afterwards the repo has exactly one tag step-N per save, each on the commit
  "Training in progress, step N", and every save was committed once. A kill
  between a commit and its tag leaves the tag pending in the journal (the
  READY record's "tag"); the restart tags it, or finds its own earlier tag
  (409 on the same commit) and records it done.
- tag_elsewhere: a tag that already exists on another commit is a warning
  (log, and a note in `status`); the save stays committed.
- tag_refused: a tag the Hub refuses (400) is a warning, recorded, not retried.
- retention: all_checkpoints with hub_keep_checkpoints 2 over 6 saves and a
  best checkpoint → the repo holds exactly the two newest checkpoint-N/ plus
  the best one, one commit per save, deletions inside those commits; and with
  an earlier run's higher-step folders in the repo, this run's newest are kept.
- bad_input: hub_keep_checkpoints with another strategy (exit 78, message),
  a bad tag_saves pattern, `pull --checkpoint` of a tag that does not exist,
  and a pull from a repo that has no checkpoints.

usage: test_tags.py [KILLS] [SEED]
"""

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request

import itlib

KILLS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def refs(emu, repo):
    req = urllib.request.Request("%s/api/models/%s/refs" % (emu.url, repo),
                                 headers={"Authorization": "Bearer " + itlib.ALICE})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def commit_ids(emu, repo):
    """title → [commit id], oldest first."""
    out = collections.defaultdict(list)
    for c in reversed(itlib.emu_inspect.list_commits(emu.url, repo)):
        out[c["title"]].append(c["id"])
    return out


def job_state(cfg):
    r = itlib.hubsync("status", "--config", cfg, "--json", timeout=20)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)["jobs"][0]


def test_tags_kills(t):
    rnd = random.Random(SEED)
    work = itlib.workdir("tags")
    emu = itlib.Emu(work)
    p = None
    logf = open(os.path.join(work, "daemon.log"), "w")
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        repo = "alice/tags-kills"
        cfg = itlib.write_config(
            work, emu, [itlib.job("j", out, repo, "checkpoint", existing_checkpoints="all",
                                  tag_saves=True)])
        ev = os.path.join(work, "ev.jsonl")
        trainer = subprocess.Popen(itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", "80", "--save-steps", "10",
            "--step-time", "0.06", "--model-size", "300K", "--seed", str(SEED), events=ev))

        def start():
            logf.write("---- start\n")
            logf.flush()
            return itlib.popen_hubsync("daemon", "--config", cfg, log=logf)

        def answered(kind):
            return sum(1 for q in emu.requests() if q.get("method") == "POST" and
                       ("/commit/" if kind == "commit" else "/tag/") in q["path"] and
                       q.get("status") in (200, 409))

        # Each kill lands at a seeded moment: right after the emulator answered
        # a commit (the window between a commit and its tag), right after it
        # answered a tag (before JREC_TAG_DONE is durable), or after a random
        # delay. The emulator logs a request once it has answered it.
        p = start()
        modes = collections.Counter()
        for _ in range(KILLS):
            mode = rnd.choice(("commit", "tag", "random"))
            if mode == "random" or trainer.poll() is not None and mode == "commit":
                time.sleep(rnd.uniform(0.1, 0.7))
                mode = "random"
            else:
                seen = answered(mode)
                if not itlib.wait_for(lambda: answered(mode) > seen, 10, 0.01):
                    mode = "timeout"
            modes[mode] += 1
            p.send_signal(signal.SIGKILL)
            p.wait()
            p = start()
        t.check(trainer.wait(120) == 0, "trainer completed")
        itlib.wait_for(lambda: job_state(cfg) is not None, 10)
        saves = [e["step"] for e in itlib.read_events(ev) if e.get("event") == "save" and e.get("kind") == "checkpoint"]
        want = sorted("step-%d" % s for s in saves)

        def all_tagged():
            st = job_state(cfg) or {}
            return st.get("queued") == 0 and st.get("tags_pending") == 0 and \
                len(refs(emu, repo)["tags"]) >= len(want)
        t.check(itlib.wait_for(all_tagged, 90, 0.3), "every save tagged: %s" % job_state(cfg))
        tags = {x["name"]: x["targetCommit"] for x in refs(emu, repo)["tags"]}
        t.check(sorted(tags) == want, "one tag per save: %s, want %s" % (sorted(tags), want))
        ids = commit_ids(emu, repo)
        for s in saves:
            title = "Training in progress, step %d" % s
            t.check(len(ids.get(title, [])) == 1, "%s committed once: %s" % (title, ids.get(title)))
            t.check(tags.get("step-%d" % s) in ids.get(title, []),
                    "step-%d is on the commit %r" % (s, title))
        posts = [q for q in emu.requests() if q.get("method") == "POST" and "/tag/" in q["path"]]
        created = [q for q in posts if q.get("status") == 200]
        t.check(len(created) == len(want), "%d tags created, %d requests (%d answered 409)" %
                (len(created), len(posts), sum(q.get("status") == 409 for q in posts)))
        t.check(all(q.get("status") in (200, 409) for q in posts),
                "every tag request was answered 200 or 409: %s" % [q.get("status") for q in posts])
        # a pulled tag is that save's checkpoint, byte for byte
        last = max(saves)
        dest = os.path.join(work, "pulled")
        os.mkdir(dest)
        r = itlib.hubsync("pull", repo, "--checkpoint", "step-%d" % last, "--to", dest,
                          env={"HF_ENDPOINT": emu.url, "HF_TOKEN": itlib.ALICE}, timeout=120)
        t.check(r.returncode == 0, "pull --checkpoint step-%d: %s" % (last, r.stderr))
        got = itlib.local_files(os.path.join(dest, "checkpoint-%d" % last), skip_top=())
        exp = {k[len("last-checkpoint/"):]: v for k, v in emu.files(repo).items()
               if k.startswith("last-checkpoint/")}
        t.check(got == exp, "pulled step-%d = last-checkpoint/: %s" %
                (last, sorted(set(got) ^ set(exp))))
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(15) == 0, "daemon stops cleanly")
        p = None
        print("tags: %d kills (seed %d; after a commit %d, after a tag %d, random %d, "
              "waited in vain %d), %d saves, %d tag requests (%d answered 409)" %
              (KILLS, SEED, modes["commit"], modes["tag"], modes["random"], modes["timeout"],
               len(saves), len(posts), sum(q.get("status") == 409 for q in posts)))
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        logf.close()
        emu.stop()
        itlib.cleanup(work)


def test_tag_lost_kill(t):
    """The Hub made the tag but its answer never came (fault tag_lost=1), and
    the daemon is killed right then: after the restart the pending tag meets
    409 on the same commit, is recorded done, and nothing is duplicated."""
    work = itlib.workdir("tags-lost")
    emu = itlib.Emu(work, "--faults", "tag_lost=1")
    p = None
    logf = open(os.path.join(work, "daemon.log"), "w")
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        repo = "alice/tags-lost"
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "every_save",
                                                       existing_checkpoints="all",
                                                       tag_saves="ckpt-{step}")])
        r = subprocess.run(itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "10",
                                             "--save-steps", "10", "--step-time", "0",
                                             "--model-size", "100K", "--no-final-save"))
        t.check(r.returncode == 0, "trainer")
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=logf)

        def lost_seen():
            return any(q.get("fault") == "tag_lost" for q in emu.requests())
        t.check(itlib.wait_for(lost_seen, 60, 0.02), "the tag request met tag_lost")
        p.send_signal(signal.SIGKILL)  # before the uploader's retry (1 s backoff)
        p.wait()
        before = len([q for q in emu.requests() if "/tag/" in q["path"]])
        # (the uploader's retry comes 0.5-1 s later; should a loaded machine let
        # it through first, its 409 is handled in-process and the rest holds)
        print("tag_lost: %d tag request(s) before the kill" % before)
        logf.write("---- restart\n")
        logf.flush()
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=logf)
        t.check(itlib.wait_for(lambda: (job_state(cfg) or {}).get("tags_pending") == 0, 60, 0.2),
                "tag done after the restart: %s" % job_state(cfg))
        tags = {x["name"]: x["targetCommit"] for x in refs(emu, repo)["tags"]}
        ids = commit_ids(emu, repo)
        t.check(list(tags) == ["ckpt-10"] and tags["ckpt-10"] in
                ids.get("Training in progress, step 10", []), "one tag on the commit: %s" % tags)
        t.check(len(ids.get("Training in progress, step 10", [])) == 1, "committed once")
        posts = [q for q in emu.requests() if "/tag/" in q["path"]]
        t.check(len(posts) >= 2 and all(q.get("status") == 409 for q in posts[1:]),
                "the restart met its own tag: %s" % [q.get("status") for q in posts])
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(15) == 0, "daemon stops cleanly")
        p = None
        logf.close()
        with open(os.path.join(work, "daemon.log")) as f:
            log = f.read()
        t.check("tag ckpt-10 was already on commit" in log, "the log says it was done")
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        if not logf.closed:
            logf.close()
        emu.stop()
        itlib.cleanup(work)


def test_tag_elsewhere(t):
    work = itlib.workdir("tags-else")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/tags-else"
        # the repo exists with a tag step-10 on its first commit
        r = itlib.hubsync("push", os.path.join(itlib.SRC, "tests", "fake_trainer", "ftlib"),
                          "--repo", repo, "--include", "__init__.py",
                          env={"HF_ENDPOINT": emu.url, "HF_TOKEN": itlib.ALICE})
        t.check(r.returncode == 0, "seed push: %s" % r.stderr)
        first = commit_ids(emu, repo)
        head = [v[0] for v in first.values()][-1]
        req = urllib.request.Request(
            "%s/api/models/%s/tag/%s" % (emu.url, repo, head), data=b'{"tag":"step-10"}',
            headers={"Authorization": "Bearer " + itlib.ALICE,
                     "Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=30).read()
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "every_save",
                                                       tag_saves="step-{step}")])
        r = itlib.hubsync("run", "--config", cfg, "--", *itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", "20", "--save-steps", "10",
            "--step-time", "0.02", "--model-size", "100K"), timeout=120)
        t.check(r.returncode == 0, "run exit %d: %s" % (r.returncode, r.stderr[-2000:]))
        tags = {x["name"]: x["targetCommit"] for x in refs(emu, repo)["tags"]}
        ids = commit_ids(emu, repo)
        t.check(tags.get("step-10") == head, "step-10 left on the old commit: %s" % tags)
        t.check(tags.get("step-20") in ids.get("Training in progress, step 20", []),
                "step-20 tagged: %s" % tags)
        t.check(len(ids.get("Training in progress, step 10", [])) == 1, "step 10 committed")
        t.check("already has that tag on another commit" in r.stderr,
                "the warning says so: %s" % r.stderr[-1500:])
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_tag_refused(t):
    """A tag the Hub refuses (the emulator answers 400 for a name with "+",
    which git allows) is a warning naming the Hub's answer, recorded, and not
    retried; the saves stay committed and `run` exits 0."""
    work = itlib.workdir("tags-refused")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/tags-refused"
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "checkpoint",
                                                       tag_saves="run+{step}")])
        r = itlib.hubsync("run", "--config", cfg, "--", *itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", "20", "--save-steps", "10",
            "--step-time", "0.02", "--model-size", "100K"), timeout=120)
        t.check(r.returncode == 0, "run exit %d: %s" % (r.returncode, r.stderr[-2000:]))
        t.check("the Hub refused its tag run+10" in r.stderr and "400" in r.stderr,
                "the warning names the refusal: %s" % r.stderr[-1500:])
        posts = [q for q in emu.requests() if "/tag/" in q["path"]]
        t.check([q.get("status") for q in posts] == [400, 400], "one request per save, not "
                "retried: %s" % [q.get("status") for q in posts])
        ids = commit_ids(emu, repo)
        t.check(all(len(ids.get("Training in progress, step %d" % n, [])) == 1 for n in (10, 20)),
                "both saves committed: %s" % dict(ids))
        t.check(refs(emu, repo)["tags"] == [], "no tag")
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_retention(t):
    work = itlib.workdir("keep")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/keep"
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "all_checkpoints",
                                                       hub_keep_checkpoints=2)])
        r = itlib.hubsync("check-config", cfg)
        t.check(r.returncode == 0 and "newest 2 (hub_keep_checkpoints)" in r.stdout,
                "check-config prints the retention: %s" % r.stdout)
        # eval_loss of this seed is lowest early on: the best is an old checkpoint
        r = itlib.hubsync("run", "--config", cfg, "--", *itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", "60", "--save-steps", "10",
            "--eval-strategy", "steps", "--eval-steps", "10", "--metric-for-best-model",
            "eval_loss", "--greater-is-better", "false", "--seed", "1", "--step-time", "0.02",
            "--model-size", "100K"), timeout=180)
        t.check(r.returncode == 0, "run exit %d: %s" % (r.returncode, r.stderr[-2000:]))
        with open(os.path.join(out, "trainer_state.json")) as f:
            best = os.path.basename(json.load(f)["best_model_checkpoint"])
        t.check(best not in ("checkpoint-50", "checkpoint-60"), "the best (%s) is older" % best)
        files = emu.files(repo)
        folders = sorted({k.split("/")[0] for k in files if k.startswith("checkpoint-")})
        want = sorted({"checkpoint-50", "checkpoint-60", best})
        t.check(folders == want, "checkpoint folders %s, want the newest two plus the best %s" %
                (folders, want))
        ids = commit_ids(emu, repo)
        steps = [k for k in ids if k.startswith("Training in progress")]
        t.check(len(steps) == 6 and all(len(ids[k]) == 1 for k in steps),
                "one commit per save: %s" % dict(ids))
        print("retention: best %s, repo holds %s" % (best, folders))
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_retention_earlier_run(t):
    """The repo already holds checkpoint-100/ and checkpoint-200/ of an earlier
    run (pushed from elsewhere): with K=2 a new run of 3 saves ends with its
    own two newest; the earlier run's folders are older whatever their step."""
    work = itlib.workdir("keep-old")
    emu = itlib.Emu(work)
    try:
        repo = "alice/keep-old"
        old = os.path.join(work, "old")
        for n in (100, 200):
            os.makedirs(os.path.join(old, "checkpoint-%d" % n))
            with open(os.path.join(old, "checkpoint-%d" % n, "trainer_state.json"), "w") as f:
                f.write('{"global_step": %d}' % n)
        r = itlib.hubsync("push", old, "--repo", repo,
                          env={"HF_ENDPOINT": emu.url, "HF_TOKEN": itlib.ALICE})
        t.check(r.returncode == 0, "seed push: %s" % r.stderr)
        out = os.path.join(work, "out")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "all_checkpoints",
                                                       hub_keep_checkpoints=2)])
        r = itlib.hubsync("run", "--config", cfg, "--", *itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", "30", "--save-steps", "10",
            "--step-time", "0.02", "--model-size", "100K"), timeout=180)
        t.check(r.returncode == 0, "run exit %d: %s" % (r.returncode, r.stderr[-2000:]))
        folders = sorted({k.split("/")[0] for k in emu.files(repo) if k.startswith("checkpoint-")})
        t.check(folders == ["checkpoint-20", "checkpoint-30"],
                "this run's two newest are kept: %s" % folders)
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_resume_warning(t):
    """checkpoint strategy: an exclude pattern that leaves optimizer.pt out, and a
    best_model_checkpoint other than the save, make last-checkpoint/ not enough
    to resume: a warning in the log and in `status` (human and --json)."""
    work = itlib.workdir("tags-resume")
    emu = itlib.Emu(work)
    p = None
    logf = open(os.path.join(work, "daemon.log"), "w")
    try:
        out = os.path.join(work, "out")
        r = subprocess.run(itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", "60", "--save-steps", "10",
            "--eval-strategy", "steps", "--eval-steps", "10", "--metric-for-best-model",
            "eval_loss", "--greater-is-better", "false", "--seed", "1", "--step-time", "0",
            "--model-size", "100K", "--no-final-save"))
        t.check(r.returncode == 0, "trainer")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/resume", "checkpoint",
                                                       exclude=["*optimizer.pt"])])
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=logf)
        t.check(itlib.wait_for(lambda: (job_state(cfg) or {}).get("committed") == 1, 60, 0.2),
                "the newest checkpoint committed: %s" % job_state(cfg))
        w = (job_state(cfg) or {}).get("resume_warning") or ""
        t.check("optimizer.pt" in w and "best_model_checkpoint is checkpoint-40" in w,
                "status --json says why: %r" % w)
        r = itlib.hubsync("status", "--config", cfg)
        t.check("resume:" in r.stdout and "optimizer.pt" in r.stdout,
                "human status too: %s" % r.stdout)
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(15) == 0, "daemon stops cleanly")
        p = None
        logf.close()
        with open(os.path.join(work, "daemon.log")) as f:
            log = f.read()
        t.check("last-checkpoint/ is not enough to resume" in log, "logged as a warning")
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        if not logf.closed:
            logf.close()
        emu.stop()
        itlib.cleanup(work)


def test_bad_input(t):
    work = itlib.workdir("tags-bad")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/x", "checkpoint",
                                                       hub_keep_checkpoints=3)])
        r = itlib.hubsync("check-config", cfg)
        t.check(r.returncode == 78 and "jobs[0].hub_keep_checkpoints: applies to hub_strategy "
                "\"all_checkpoints\" only" in r.stderr, "K with checkpoint: exit %d %s" %
                (r.returncode, r.stderr))
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/x", "checkpoint",
                                                       tag_saves="release")])
        r = itlib.hubsync("check-config", cfg)
        t.check(r.returncode == 78 and "has no \"{step}\"" in r.stderr,
                "tag pattern without {step}: exit %d %s" % (r.returncode, r.stderr))
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/x", "checkpoint",
                                                       tag_saves="a..{step}")])
        r = itlib.hubsync("check-config", cfg)
        t.check(r.returncode == 78 and "does not make a valid tag" in r.stderr,
                "bad tag pattern: exit %d %s" % (r.returncode, r.stderr))
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/x", "checkpoint",
                                                       tag_saves=True)])
        r = itlib.hubsync("check-config", cfg)
        t.check(r.returncode == 0 and 'tagged "step-{step}" (e.g. step-500 for step 500)' in
                r.stdout, "check-config prints the tags: %s" % r.stdout)
        env = {"HF_ENDPOINT": emu.url, "HF_TOKEN": itlib.ALICE}
        src = os.path.join(work, "src")
        os.makedirs(os.path.join(src, "checkpoint-5"))
        with open(os.path.join(src, "checkpoint-5", "trainer_state.json"), "w") as f:
            f.write('{"global_step": 5}')
        r = itlib.hubsync("push", src, "--repo", "alice/plain", "--include", "checkpoint-5/*",
                          env=env)
        t.check(r.returncode == 0, "seed push: %s" % r.stderr)
        for d in ("d1", "d2"):
            os.mkdir(os.path.join(work, d))
        r = itlib.hubsync("pull", "alice/plain", "--checkpoint", "step-99", "--to",
                          os.path.join(work, "d1"), env=env)
        t.check(r.returncode != 0 and "step-99" in r.stderr,
                "pull of a missing tag: exit %d %s" % (r.returncode, r.stderr))
        with open(os.path.join(src, "README.md"), "w") as f:
            f.write("no checkpoints here\n")
        r = itlib.hubsync("push", src, "--repo", "alice/nockpt", "--include", "README.md",
                          env=env)
        t.check(r.returncode == 0, "seed push: %s" % r.stderr)
        r = itlib.hubsync("pull", "alice/nockpt", "--to", os.path.join(work, "d2"), env=env)
        t.check(r.returncode != 0 and "checkpoint" in r.stderr,
                "pull from a repo without checkpoints: exit %d %s" % (r.returncode, r.stderr))
        print("bad input messages:\n  " + "\n  ".join(
            x for x in r.stderr.splitlines() if x.strip()))
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_tags")
    only = os.environ.get("HS_TAGS_ONLY")
    for f in (test_bad_input, test_retention, test_retention_earlier_run, test_resume_warning,
              test_tag_elsewhere, test_tag_refused, test_tag_lost_kill, test_tags_kills):
        if not only or only in f.__name__:
            t.run(f)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
