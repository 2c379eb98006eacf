#!/usr/bin/env python3
"""The commit budget (docs/design.md: about 128 commits per repo and hour): with
a small budget (HUBSYNC_COMMIT_BUDGET) and saves queueing behind a slow
link, all_checkpoints coalesces queued saves into fewer commits that still
hold every checkpoint-N/ folder, and every_save supersedes the older queued
saves with a recorded reason; the Hub's own quota (emulator --commit-quota)
is never hit and status counts what was coalesced. The budget is kept in
the journal: a restart within the window still counts the commits made."""

import os
import sys
import time

import itlib

BUDGET = 4


def run(t, strategy):
    work = itlib.workdir("budget")
    emu = itlib.Emu(work, "--commit-quota", str(BUDGET + 2))
    try:
        out = os.path.join(work, "out")
        repo = "alice/budget-" + strategy.replace("_", "-")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, strategy)],
                                 bandwidth_limit_mbps=16)
        ev = os.path.join(work, "ev.jsonl")
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "80",
                                             "--save-steps", "10", "--step-time", "0.02",
                                             "--model-size", "1M", events=ev),
                          env={"HUBSYNC_COMMIT_BUDGET": str(BUDGET)}, timeout=120)
        t.check(r.returncode == 0, "%s: run exit %d\n%s" % (strategy, r.returncode,
                                                          r.stderr[-2000:]))
        events = itlib.read_events(ev)
        card = os.path.join(work, "state", "cards", "j.md")
        exp, msgs = itlib.expected_repo(strategy, out, events, card)
        got = emu.files(repo)
        got.pop(".gitattributes", None)
        t.check(got == exp, "%s: the repo holds every save's content: missing %s differ %s" %
                (strategy, sorted(set(exp) - set(got))[:6],
                 sorted(k for k in exp if k in got and got[k] != exp[k])[:6]))
        commits = emu.commits(repo)[1:]
        t.check(len(commits) <= BUDGET + 1, "%s: %d commits for %d saves + finish (budget %d): "
                "%s" % (strategy, len(commits), len(msgs), BUDGET, commits))
        t.check(commits[-1] == "End of training", "%s: the finish is committed" % strategy)
        progress = [c for c in commits if c.startswith("Training in progress")]
        if strategy == "all_checkpoints":
            t.check(msgs[-1] in progress, "the newest save's commit: %s" % progress)
        else:
            recorded = r.stderr.count(" coalesced into ")
            t.check(len(progress) + recorded == len(msgs),
                    "every save committed or recorded as coalesced: %d + %d vs %d" %
                    (len(progress), recorded, len(msgs)))
        t.check(not any(q.get("status") == 429 for q in emu.requests()),
                "%s: the Hub's quota was never hit" % strategy)
        t.check("coalesced" in r.stderr, "%s: the log says what was coalesced" % strategy)
        print("%s: %d saves in %d commits (budget %d)" % (strategy, len(msgs), len(commits),
                                                         BUDGET))
    finally:
        emu.stop()
        itlib.cleanup(work)


def restart(t):
    """The budget survives a restart: the journal records when each commit
    was confirmed, so a second `hubsync run` on the same state_dir within
    the window starts with the first run's commits counted (its saves wait
    and end up coalesced into the End of training commit); with a window
    that has passed, the same run commits every save."""
    work = itlib.workdir("budget-restart")
    emu = itlib.Emu(work)
    repo = "alice/budget-restart"
    budget = 3
    try:
        def one_run(name, window):
            out = os.path.join(work, name)
            os.mkdir(out)  # watched from the start: both saves are seen as they complete
            cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "every_save")])
            ev = os.path.join(work, name + ".jsonl")
            before = len(emu.commits(repo, missing_ok=True))
            r = itlib.hubsync("run", "--config", cfg, "--",
                              *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "4",
                                                 "--save-steps", "2", "--step-time", "0.05",
                                                 "--model-size", "64K", events=ev),
                              env={"HUBSYNC_COMMIT_BUDGET": str(budget),
                                   "HUBSYNC_COMMIT_WINDOW_SECONDS": str(window)}, timeout=90)
            t.check(r.returncode == 0, "%s: run exit %d\n%s" % (name, r.returncode,
                                                               r.stderr[-2000:]))
            saves = [e for e in itlib.read_events(ev)
                     if e.get("event") == "save" and e.get("kind") == "checkpoint"]
            t.check(len(saves) == 2, "%s: the trainer saved twice: %d" % (name, len(saves)))
            got = emu.commits(repo)[max(before, 1):]
            # the saves' commits (in any order: a scan may report them
            # newest first), then the finish
            return r, sorted(got[:-1]) + got[-1:]

        r1, c1 = one_run("run1", 3600)
        t.check(c1 == ["Training in progress, step 2", "Training in progress, step 4",
                       "End of training"], "first run: one commit per save + finish: %s" % c1)
        t.check("count against the commit budget" not in r1.stderr,
                "first run: nothing to restore:\n%s" % r1.stderr[-1500:])
        r2, c2 = one_run("run2", 3600)
        t.check("3 commits in the last 3600 s count against the commit budget of 3" in r2.stderr,
                "second run: the first run's commits are counted again:\n%s" % r2.stderr[-2000:])
        t.check(c2 == ["End of training"],
                "second run, budget spent before it started: only the finish commit: %s" % c2)
        t.check(r2.stderr.count(" coalesced into ") == 2 and
                "coalesced into the End of training commit" in r2.stderr,
                "second run: both saves recorded as coalesced:\n%s" % r2.stderr[-2000:])
        time.sleep(1.2)
        r3, c3 = one_run("run3", 1)
        t.check("count against the commit budget" not in r3.stderr,
                "third run: commits older than the window do not count:\n%s" %
                r3.stderr[-1500:])
        t.check(c3 == ["Training in progress, step 2", "Training in progress, step 4",
                       "End of training"], "third run: one commit per save again: %s" % c3)
        print("restart: %d, %d and %d commits in three runs (budget %d)" %
              (len(c1), len(c2), len(c3), budget))
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_budget")
    t.run(run, "all_checkpoints")
    t.run(run, "every_save")
    t.run(restart)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
