#!/usr/bin/env python3
"""The Trainer's end of training under every strategy (issue 12): with
save_total_limit 1 and load_best_model_at_end (best = an early checkpoint),
every checkpoint except the best is deleted within 100 ms of the last
trainer_state.json (docs/trainer-layouts.md). The last save must still be
committed (its bytes hashed against the repo's), and the final push lands.
Also with the tmp-checkpoint-N → checkpoint-N rename (transformers
4.36–4.38).

Where a save could not be protected it must be reported: `run` exits 1 iff
it says "N saves lost", and a lost last save is not committed. With files
protected as soon as they are closed (watcher/protect.c) the last save is
committed although the trainer deleted its folder ~100 ms after writing it."""

import os
import re
import sys

import itlib

BEST = ["--save-total-limit", "1", "--load-best-model-at-end", "--metric-for-best-model",
        "accuracy", "--greater-is-better", "false"]


def case(t, strategy, extra=()):
    label = strategy + (" " + " ".join(extra) if extra else "")
    work = itlib.workdir("endrot-" + strategy)
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/endrot-" + strategy.replace("_", "-")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, strategy)])
        ev = os.path.join(work, "ev.jsonl")
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "3", "--steps-per-epoch", "10",
                                             "--save-steps", "10", "--step-time", "0.05",
                                             *BEST, *extra, events=ev),
                          env={"HUBSYNC_JOB_RETRY_MS": "200"}, timeout=180)
        events = itlib.read_events(ev)
        saves = [e for e in events if e.get("event") == "save" and e.get("kind") == "checkpoint"]
        last = saves[-1]
        gone = [e for e in events if e.get("event") == "delete" and e["path"] == last["dir"]]
        t.check(gone, "%s: the trainer deleted the last checkpoint at the end" % label)
        commits = emu.commits(repo)
        t.check(commits and commits[-1] == "End of training",
                "%s: the final push landed: %s" % (label, commits))
        got = emu.files(repo)
        loc = itlib.local_files(out)
        t.check(all(got.get(k) == v for k, v in loc.items()),
                "%s: the output dir's final files are in the repo (sha256)" % label)
        m = re.search(r"hubsync: error: (\d+) saves? lost", r.stderr)
        lost_last = "job j: %s lost: " % last["dir"] in r.stderr
        t.check((r.returncode == 1) == bool(m), "%s: exit %d iff saves are reported lost\n%s" %
                (label, r.returncode, r.stderr[-2000:]))
        if strategy == "end":
            t.check(r.returncode == 0 and not m, "%s: nothing per save, exit 0: %d" %
                    (label, r.returncode))
            return
        msg = "Training in progress, step %d" % last["step"]
        committed = msg in commits
        if lost_last:
            t.check(not committed and r.returncode == 1,
                    "%s: a lost last save is not committed and fails run" % label)
        t.check(committed and r.returncode == 0 and not m,
                "%s: the last save is committed, nothing lost (exit %d): %s\n%s" %
                (label, r.returncode, commits, r.stderr[-1500:]))
        files = {f["path"][len(last["dir"]) + 1:]: f["sha256"] for f in last["files"]}
        if strategy == "checkpoint":
            want = {"last-checkpoint/" + k: v for k, v in files.items()}
        elif strategy == "all_checkpoints":
            want = {last["dir"] + "/" + k: v for k, v in files.items()}
        else:  # every_save: the root model files, until the finish replaced them
            want = {}
        t.check(all(got.get(k) == v for k, v in want.items()),
                "%s: %s's bytes are in the repo (sha256)" % (label, last["dir"]))
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_end_rotation")
    for s in ("every_save", "checkpoint", "all_checkpoints", "end"):
        t.run(case, s)
    t.run(case, "checkpoint", ("--tmp-checkpoint", "fixed"))
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
