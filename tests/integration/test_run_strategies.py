#!/usr/bin/env python3
"""`hubsync run --config job.json -- fake_trainer ...` for each hub_strategy
(supersede: false): afterwards the emulator's repo holds exactly the files
transformers would have pushed (paths and sha256 against the trainer's
events and the output dir), the expected commits with the expected messages,
and a README.md whose YAML front matter parses."""

import os
import sys

import itlib

STRATEGIES = sys.argv[1:] or ["every_save", "checkpoint", "all_checkpoints", "end"]


def run_strategy(t, strategy):
    work = itlib.workdir(strategy)
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/run-" + strategy.replace("_", "-")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, strategy)])
        ev = os.path.join(work, "events.jsonl")
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "30",
                                             "--save-steps", "10", "--step-time", "0.02",
                                             events=ev))
        if not t.check(r.returncode == 0, "%s: hubsync run exit %d\n%s" % (strategy, r.returncode,
                                                                          r.stderr[-3000:])):
            return
        events = itlib.read_events(ev)
        card = os.path.join(work, "state", "cards", "j.md")
        t.check(os.path.exists(card), "%s: the rendered card is kept in the state dir" % strategy)
        exp, msgs = itlib.expected_repo(strategy, out, events, card)
        got = emu.files(repo)
        got.pop(".gitattributes", None)
        missing = sorted(set(exp) - set(got))
        extra = sorted(set(got) - set(exp))
        wrong = sorted(p for p in exp if p in got and got[p] != exp[p])
        t.check(not missing, "%s: files missing from the repo: %s" % (strategy, missing))
        t.check(not extra, "%s: unexpected files in the repo: %s" % (strategy, extra))
        t.check(not wrong, "%s: files with other content: %s" % (strategy, wrong))
        commits = emu.commits(repo)
        want = ["initial commit"] + ([] if strategy == "end" else msgs) + ["End of training"]
        t.check(commits == want, "%s: commits %s, want %s" % (strategy, commits, want))
        if strategy != "end":
            t.check(len(msgs) == 3, "%s: three saves (got %d)" % (strategy, len(msgs)))
        ok, meta = itlib.readme_yaml_ok(emu, repo)
        t.check(ok, "%s: README.md YAML front matter parses: %r" % (strategy, meta))
        if ok:
            t.check(meta.get("model-index", [{}])[0].get("name") == repo.split("/")[1],
                    "%s: card names the model: %r" % (strategy, meta.get("model-index")))
        # one commit per save: the request log has no commit POST beyond those
        posts = [q for q in emu.requests() if q.get("method") == "POST" and "/commit/" in q["path"]
                 and q.get("status") == 200]
        t.check(len(posts) == len(want) - 1, "%s: %d commit requests, want %d" %
                (strategy, len(posts), len(want) - 1))
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_epoch_and_patterns(t):
    """save_strategy epoch → "Training in progress, epoch E" (read from
    training_args.bin); `_*` at the top of the output dir and the job's
    exclude patterns stay out of every commit."""
    work = itlib.workdir("epoch")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/epoch-patterns"
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "checkpoint",
                                                       exclude=["*.pt", "runs/"])])
        os.makedirs(out)
        with open(os.path.join(out, "_scratch.txt"), "w") as f:
            f.write("private\n")
        ev = os.path.join(work, "ev.jsonl")
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "2", "--steps-per-epoch", "10",
                                             "--save-strategy", "epoch", "--step-time", "0.01",
                                             events=ev))
        t.check(r.returncode == 0, "run exit %d\n%s" % (r.returncode, r.stderr[-1500:]))
        commits = emu.commits(repo)
        t.check(commits == ["initial commit", "Training in progress, epoch 1",
                            "Training in progress, epoch 2", "End of training"],
                "per-epoch messages: %s" % commits)
        files = emu.files(repo)
        t.check(not any(p.endswith(".pt") for p in files), "exclude *.pt: %s" %
                [p for p in files if p.endswith(".pt")])
        t.check(not any(p.startswith("runs/") for p in files), "exclude runs/")
        t.check("_scratch.txt" not in files, "_* at the top is not pushed")
        t.check("last-checkpoint/trainer_state.json" in files and
                "last-checkpoint/rng_state.pth" in files, "the rest of the checkpoint is there")
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_world_size_from_env(t):
    """`run` takes world_size from WORLD_SIZE in CMD's environment: a save
    whose other ranks write after rank 0's marker is complete only with
    every rank's files."""
    work = itlib.workdir("world")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/world"
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "checkpoint")])
        ev = os.path.join(work, "ev.jsonl")
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "10",
                                             "--save-steps", "10", "--rank-files", "late",
                                             "--late-rank-delay", "1.0", events=ev),
                          env={"WORLD_SIZE": "2"})
        t.check(r.returncode == 0, "run exit %d\n%s" % (r.returncode, r.stderr[-1500:]))
        files = emu.files(repo)
        t.check("last-checkpoint/rng_state_0.pth" in files and
                "last-checkpoint/rng_state_1.pth" in files,
                "both ranks' files in the checkpoint commit: %s" %
                sorted(p for p in files if "rng" in p))
        r = itlib.hubsync("run", "--config", cfg, "--", "/bin/true", env={"WORLD_SIZE": "two"})
        t.check(r.returncode == 78 and "WORLD_SIZE" in r.stderr,
                "a bad WORLD_SIZE is a configuration error (%d): %s" % (r.returncode,
                                                                      r.stderr[-300:]))
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_nan_state(t):
    """trainer_state.json with "epoch": NaN at the top level and NaN /
    Infinity in log_history (issue 12, finding 5): every save is committed
    (never "out of memory", never dropped) and the card renders."""
    work = itlib.workdir("nan")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/nan-state"
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "checkpoint")])
        ev = os.path.join(work, "ev.jsonl")
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "30",
                                             "--save-steps", "10", "--nan-epoch",
                                             "--nan-grad-norm", "--nan-eval-loss", "1",
                                             events=ev))
        t.check(r.returncode == 0 and "out of memory" not in r.stderr and " lost" not in r.stderr,
                "nan: exit %d\n%s" % (r.returncode, r.stderr[-2000:]))
        with open(os.path.join(out, "checkpoint-30", "trainer_state.json")) as f:
            t.check('"epoch": NaN' in f.read(), "nan: the trainer wrote a NaN epoch")
        card = os.path.join(work, "state", "cards", "j.md")
        exp, msgs = itlib.expected_repo("checkpoint", out, itlib.read_events(ev), card)
        got = emu.files(repo)
        t.check(all(got.get(k) == v for k, v in exp.items()),
                "nan: the repo holds every expected file (sha256): missing or different %s" %
                sorted(k for k, v in exp.items() if got.get(k) != v))
        commits = emu.commits(repo)
        t.check(commits == ["initial commit"] + msgs + ["End of training"] and len(msgs) == 3,
                "nan: every save committed: %s" % commits)
        ok, meta = itlib.readme_yaml_ok(emu, repo)
        t.check(ok, "nan: README.md YAML front matter parses: %r" % (meta,))
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_run_strategies")
    for s in STRATEGIES:
        t.run(run_strategy, s)
    if len(sys.argv) == 1:
        t.run(test_epoch_and_patterns)
        t.run(test_world_size_from_env)
        t.run(test_nan_state)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
