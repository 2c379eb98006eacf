#!/usr/bin/env python3
"""The commit budget (DESIGN.md: about 128 commits per repo and hour): with
a small budget (HUBSYNC_COMMIT_BUDGET) and saves queueing behind a slow
link, all_checkpoints coalesces queued saves into fewer commits that still
hold every checkpoint-N/ folder, and every_save supersedes the older queued
saves with a recorded reason; the Hub's own quota (emulator --commit-quota)
is never hit and status counts what was coalesced."""

import os
import sys

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


def main():
    t = itlib.Suite("integration_budget")
    t.run(run, "all_checkpoints")
    t.run(run, "every_save")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
