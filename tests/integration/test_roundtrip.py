#!/usr/bin/env python3
"""Round trip (issue 16): a fake-trainer run pushed by `hubsync run` under
hub_strategy checkpoint and all_checkpoints, then `hubsync pull` into an empty
folder restores the newest checkpoint byte for byte (sha256 of every file
against the trainer's own record of the save), and, under all_checkpoints,
`--checkpoint N` an older one as well.
"""

import os
import sys

import itlib


def save_files(events, step):
    for e in events:
        if e.get("event") == "save" and e.get("kind") == "checkpoint" and e["step"] == step:
            pre = e["dir"] + "/"
            return {f["path"][len(pre):]: f["sha256"] for f in e["files"]}
    return None


def pulled(dest, step):
    return itlib.local_files(os.path.join(dest, "checkpoint-%d" % step), skip_top=())


def run_strategy(t, strategy):
    work = itlib.workdir("rt-" + strategy)
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/rt-" + strategy.replace("_", "-")
        ev = os.path.join(work, "ev.jsonl")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, strategy)])
        r = itlib.hubsync("run", "--config", cfg, "--", *itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", "30", "--save-steps", "10",
            "--step-time", "0.02", "--model-size", "2M", "--shards", "2",
            "--save-total-limit", "1", events=ev), timeout=180)
        t.check(r.returncode == 0, "%s: run exit %d: %s" % (strategy, r.returncode,
                                                            r.stderr[-2000:]))
        events = itlib.read_events(ev)
        env = {"HF_ENDPOINT": emu.url, "HF_TOKEN": itlib.ALICE}
        wants = [30] + ([10] if strategy == "all_checkpoints" else [])
        for step in wants:
            dest = os.path.join(work, "pull-%d" % step)
            os.mkdir(dest)
            args = ["pull", repo, "--to", dest]
            if step != 30:
                args += ["--checkpoint", str(step)]
            r = itlib.hubsync(*args, env=env, timeout=120)
            t.check(r.returncode == 0, "%s: pull %s: %s" % (strategy, step, r.stderr))
            exp = save_files(events, step)
            got = pulled(dest, step)
            t.check(exp and got == exp, "%s: checkpoint-%d pulled byte-identical: missing %s, "
                    "extra %s, differ %s" % (strategy, step, sorted(set(exp or {}) - set(got)),
                                             sorted(set(got) - set(exp or {})),
                                             sorted(k for k in got if (exp or {}).get(k, got[k])
                                                    != got[k])))
            print("%s: checkpoint-%d: %d files restored identical" % (strategy, step, len(got)))
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_roundtrip")
    for s in ("checkpoint", "all_checkpoints"):
        t.run(lambda t, s=s: run_strategy(t, s))
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
