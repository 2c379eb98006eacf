#!/usr/bin/env python3
"""The finish commit's model card: when the Hub refuses the card's metadata
(400 for the whole commit) the model lands in a commit without README.md
and the error is reported; model_card mode "off" pushes no generated card;
a supersede: true job records the saves it skipped."""

import json
import os
import subprocess
import sys

import itlib


def run_job(work, emu, jobcfg, *trainer_args, pre=None):
    out = jobcfg["watch"]
    cfg = itlib.write_config(work, emu, [jobcfg])
    ev = os.path.join(work, "ev.jsonl")
    if pre:
        pre(out)
    r = itlib.hubsync("run", "--config", cfg, "--",
                      *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "20",
                                         "--save-steps", "10", "--step-time", "0.01",
                                         *trainer_args, events=ev))
    return r, cfg


def test_card_rejected(t):
    work = itlib.workdir("card400")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")

        def human_card(d):
            os.makedirs(d)
            with open(os.path.join(d, "README.md"), "w") as f:
                f.write("---\nlicense: mit\nmodel-index:\n- name: x\n---\n# Hello\n")

        r, _ = run_job(work, emu, itlib.job("j", out, "alice/card400"), "--eval-strategy", "no",
                       pre=human_card)
        t.check(r.returncode == 0, "the model was pushed: exit %d\n%s" % (r.returncode,
                                                                          r.stderr[-2000:]))
        t.check("refused the model card" in r.stderr and "model-index" in r.stderr,
                "the card's rejection is reported with the Hub's reason: %s" % r.stderr[-1500:])
        files = emu.files("alice/card400")
        t.check("README.md" not in files, "no README.md in the repo")
        t.check(files.get("model.safetensors") == itlib.sha256(os.path.join(out,
                                                                            "model.safetensors")),
                "the final model is there")
        commits = emu.commits("alice/card400")
        t.check(commits[-1] == "End of training" and commits.count("End of training") == 1,
                "one End of training commit: %s" % commits)
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_card_off_and_supersede(t):
    work = itlib.workdir("cardoff")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        # a slow link and supersede: true: saves queued behind a running push are superseded
        j = itlib.job("j", out, "alice/cardoff", supersede=True, model_card={"mode": "off"})
        cfg = itlib.write_config(work, emu, [j], bandwidth_limit_mbps=16)
        ev = os.path.join(work, "ev.jsonl")
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "60",
                                             "--save-steps", "10", "--step-time", "0.02",
                                             "--model-size", "3M", events=ev))
        t.check(r.returncode == 0, "run exit %d\n%s" % (r.returncode, r.stderr[-2000:]))
        files = emu.files("alice/cardoff")
        t.check("README.md" not in files, "model_card off: no card")
        commits = emu.commits("alice/cardoff")
        saves = [e for e in itlib.read_events(ev) if e["event"] == "save" and
                 e.get("kind") == "checkpoint"]
        progress = [c for c in commits if c.startswith("Training in progress")]
        superseded = r.stderr.count(" superseded by ")
        t.check(superseded >= 1, "some saves were superseded (%d)" % superseded)
        t.check(len(progress) + superseded == len(saves),
                "each save committed or recorded as superseded: %d + %d vs %d" %
                (len(progress), superseded, len(saves)))
        t.check(progress[-1] == "Training in progress, step %d" % saves[-1]["step"],
                "the newest save is never superseded: %s" % progress[-1:])
        js = os.path.join(work, "state")
        t.check(os.path.isdir(js), "journal kept")
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_card_framework_versions(t):
    """Under `run`, HUBSYNC_PYTORCH_VERSION & co. (the environment CMD gets)
    list Pytorch / Datasets / Tokenizers after Transformers, as the
    Trainer's card does; model_card.framework_versions wins (issue 15
    item 12)."""
    import urllib.request
    work = itlib.workdir("cardver")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        j = itlib.job("j", out, "alice/cardver",
                      model_card={"framework_versions": {"tokenizers": "0.15.2"}})
        cfg = itlib.write_config(work, emu, [j])
        env = {"HUBSYNC_PYTORCH_VERSION": "2.2.1+cu121", "HUBSYNC_TOKENIZERS_VERSION": "0.13.0"}
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "10",
                                             "--save-steps", "10", "--step-time", "0"),
                          env=env)
        t.check(r.returncode == 0, "run exit %d\n%s" % (r.returncode, r.stderr[-2000:]))
        req = urllib.request.Request("%s/alice/cardver/resolve/main/README.md" % emu.url,
                                     headers={"Authorization": "Bearer " + itlib.ALICE})
        with urllib.request.urlopen(req, timeout=30) as f:
            card = f.read().decode()
        tail = card[card.index("### Framework versions"):]
        t.check("\n- Pytorch 2.2.1+cu121\n- Tokenizers 0.15.2\n" in tail and
                "- Transformers " in tail.split("- Pytorch")[0] and "Datasets" not in tail,
                "Transformers, then Pytorch from the environment, Tokenizers from the config "
                "(it wins), no Datasets line: %r" % tail)
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_card")
    t.run(test_card_rejected)
    t.run(test_card_off_and_supersede)
    t.run(test_card_framework_versions)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
