#!/usr/bin/env python3
"""hub_strategy "checkpoint" on a repo whose last-checkpoint/ already holds
files of an earlier run (pushed with `hubsync push --path-in-repo
last-checkpoint`), with a fresh state_dir: the job's first commit lists
last-checkpoint/ (emulator at page size 2, so the listing takes several
pages through the Link header) and deletes every file there that the new
checkpoint does not have, in the same commit as the save. Afterwards
last-checkpoint/ holds exactly the last save's files (sha256), files outside
it are untouched, and the commits are the expected ones (no extra commit for
the deletions).

Cases: the job's revision is main; the job's revision "dev" does not exist
yet (created from main by the push: main's folder is listed); the first
listings fail (emulator fault tree5xx): no commit is made without the
listing, the job's retry lists again and the result is the same."""

import hashlib
import os
import sys

import itlib

STALE = {
    "optimizer.pt": b"old optimizer state " * 300,
    "stale.bin": b"stale\n",
    "global_step5/x": b"deepspeed shard of an earlier run\n",
    "global_step5/y": b"another\n",
    "trainer_state.json": b'{"global_step": 5}\n',
}
# outside last-checkpoint/: never touched by the listing
KEEP = {
    "last-checkpoint2/a.txt": b"not the synced folder\n",
    "notes.txt": b"written by hand\n",
}


def write_tree(root, files):
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)


def prepopulate(t, work, emu, repo, verify=True):
    """An earlier run's last-checkpoint/ plus files elsewhere: two pushes."""
    env = {"HF_TOKEN": itlib.ALICE, "HF_ENDPOINT": emu.url,
           "XDG_CACHE_HOME": os.path.join(work, "cache")}
    old = os.path.join(work, "old-ckpt")
    write_tree(old, STALE)
    r = itlib.hubsync("push", old, "--repo", repo, "--path-in-repo", "last-checkpoint",
                      "--message", "earlier run", env=env)
    t.check(r.returncode == 0, "push of the earlier checkpoint: exit %d %s" %
            (r.returncode, r.stderr[-800:]))
    other = os.path.join(work, "other")
    write_tree(other, KEEP)
    r = itlib.hubsync("push", other, "--repo", repo, "--message", "other files", env=env)
    t.check(r.returncode == 0, "push of the other files: exit %d %s" %
            (r.returncode, r.stderr[-800:]))
    if not verify:
        return  # (listing the repo here would take the emulator's tree faults)
    files = emu.files(repo)
    t.check(all("last-checkpoint/" + p in files for p in STALE),
            "the earlier checkpoint is in the repo: %s" % sorted(files))


def tree_requests(emu, repo, folder):
    return [q for q in emu.requests() if q.get("method") == "GET" and
            ("/api/models/%s/tree/" % repo) in q.get("path", "") and
            q["path"].split("?")[0].rstrip("/").endswith("/" + folder)]


def run_case(t, name, revision=None, faults=None):
    work = itlib.workdir("stale-" + name)
    flags = ["--page-size", "2"] + (["--faults", faults] if faults else [])
    emu = itlib.Emu(work, *flags)
    try:
        repo = "alice/stale-" + name
        prepopulate(t, work, emu, repo, verify=not faults)
        out = os.path.join(work, "out")
        extra = {"revision": revision} if revision else {}
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "checkpoint", **extra)])
        ev = os.path.join(work, "events.jsonl")
        env = {"HUBSYNC_RETRY_BASE_MS": "20", "HUBSYNC_JOB_RETRY_MS": "300"}
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "20",
                                             "--save-steps", "10", "--step-time", "0.02",
                                             events=ev), env=env, timeout=120)
        if not t.check(r.returncode == 0, "%s: hubsync run exit %d\n%s" %
                       (name, r.returncode, r.stderr[-3000:])):
            return
        rev = revision or "main"
        events = itlib.read_events(ev)
        saves = [e for e in events if e.get("event") == "save" and e.get("kind") == "checkpoint"]
        t.check(len(saves) == 2, "%s: two saves (%d)" % (name, len(saves)))
        last = saves[-1]
        want = {"last-checkpoint/" + f["path"][len(last["dir"]) + 1:]: f["sha256"]
                for f in last["files"]}
        got = {p: h for p, h in (
            (f["path"], f["sha256"]) for f in itlib.emu_inspect.list_files(emu.url, repo, rev))}
        in_folder = {p: h for p, h in got.items() if p.startswith("last-checkpoint/")}
        t.check(in_folder == want, "%s: last-checkpoint/ is exactly %s: missing %s, extra %s, "
                "other content %s" % (name, last["dir"], sorted(set(want) - set(in_folder)),
                                      sorted(set(in_folder) - set(want)),
                                      sorted(p for p in want if p in in_folder and
                                             in_folder[p] != want[p])))
        for rel, data in KEEP.items():
            t.check(got.get(rel) == hashlib.sha256(data).hexdigest(),
                    "%s: %s outside the folder is kept" % (name, rel))
        commits = [c["title"] for c in
                   reversed(itlib.emu_inspect.list_commits(emu.url, repo, rev))]
        msgs = ["Training in progress, step %d" % e["step"] for e in saves]
        t.check(commits == ["initial commit", "earlier run", "other files"] + msgs +
                ["End of training"], "%s: commits %s" % (name, commits))
        # the deletions are in the first save's commit: its tree has no stale file
        hist = itlib.emu_inspect.list_commits(emu.url, repo, rev)
        first = [c for c in hist if c["title"] == msgs[0]]
        if t.check(len(first) == 1, "%s: one commit of the first save" % name):
            at = {f["path"] for f in itlib.emu_inspect.list_files(emu.url, repo, first[0]["id"])}
            left = sorted(p for p in at if p.startswith("last-checkpoint/") and
                          p[len("last-checkpoint/"):] in STALE and p not in want)
            t.check(not left, "%s: stale files left after the first save's commit: %s" %
                    (name, left))
            t.check("last-checkpoint/trainer_state.json" in at and
                    "last-checkpoint2/a.txt" in at, "%s: first commit tree %s" % (name, sorted(at)))
        # one listing, at the first commit only, in 3 pages of 2 entries
        # (global_step5/ + 5 files; stale.bin is on the third page)
        trees = tree_requests(emu, repo, "last-checkpoint")
        ok = [q for q in trees if q.get("status") == 200]
        t.check(len(ok) == 3, "%s: one listing of last-checkpoint/ in 3 pages: %s" %
                (name, [(q["path"], q["status"]) for q in trees]))
        if revision:
            t.check(any("/tree/main/" in q["path"] for q in ok),
                    "%s: the missing revision's origin (main) was listed" % name)
        log = r.stderr
        t.check("last-checkpoint/stale.bin is stale: deleted in this commit" in log,
                "%s: the deletion is logged:\n%s" % (name, log[-2000:]))
        if faults:
            t.check("last-checkpoint/ is not known, not committing without it" in log and
                    "InjectedFault" in log and ("retrying in" in log or "next try in" in log),
                    "%s: the failed listing is reported and retried:\n%s" % (name, log[-3000:]))
            failed = [q for q in trees if q.get("status") == 503]
            t.check(len(failed) == 8, "%s: 8 refused listings (%d)" % (name, len(failed)))
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_stale_checkpoint")
    t.run(run_case, "main")
    t.run(run_case, "branch", "dev")
    # 8 refusals: more than the uploader's 6 attempts, so one job attempt fails
    t.run(run_case, "fault", None, "tree5xx=8")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
