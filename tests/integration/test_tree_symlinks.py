#!/usr/bin/env python3
"""Symlinks planted in the output root are never followed (issue 13 items
1-2): README.md -> the huggingface token file and all_results.json -> a
secret text file, planted after the trainer's last write and before the
finish. The finish commit lands, each link is named in a warning, and no
byte of either target is in any object the emulator stored, in the repo or
in hubsync's log."""

import os
import sys

import itlib

TOKEN = "hf_PlantedTokenFile0123456789abcdefXYZ"
SECRET_WORD = "CorrectHorseBatteryStaple"


def stored_bytes_contain(root, needle):
    """Every file the emulator wrote (objects, repo trees, logs) searched."""
    hits = []
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            try:
                with open(p, "rb") as f:
                    if needle in f.read():
                        hits.append(p)
            except OSError:
                pass
    return hits


def test_root_symlinks(t):
    work = itlib.workdir("treelinks")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        home = os.path.join(work, "home")
        os.makedirs(os.path.join(home, ".cache", "huggingface"))
        tok = os.path.join(home, ".cache", "huggingface", "token")
        with open(tok, "w") as f:
            f.write(TOKEN + "\n")
        secret = os.path.join(work, "secret.txt")
        with open(secret, "w") as f:
            f.write(SECRET_WORD + " and the rest of the secret\n")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/treelinks",
                                                       hub_strategy="end")])
        ev = os.path.join(work, "ev.jsonl")
        trainer = " ".join(itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "10",
                                             "--save-steps", "10", "--step-time", "0.01",
                                             events=ev))
        # the links appear after the trainer's last write (it would write
        # through them otherwise), before hubsync's finish reads the root
        # (eval_results.json goes too, so the card would read all_results.json)
        plant = ("%s && rm -f %s/all_results.json %s/eval_results.json %s/README.md && "
                 "ln -s %s %s/all_results.json && ln -s %s %s/README.md" %
                 (trainer, out, out, out, secret, out, tok, out))
        r = itlib.hubsync("run", "--config", cfg, "--", "/bin/sh", "-c", plant,
                          env={"HOME": home})
        log = r.stdout + r.stderr
        t.check(r.returncode == 0, "run exit %d\n%s" % (r.returncode, log[-2000:]))
        files = emu.files("alice/treelinks")
        t.check("End of training" in emu.commits("alice/treelinks"), "the finish commit landed")
        t.check("README.md" in files, "a generated card is in the repo: %s" % sorted(files))
        t.check("all_results.json" not in files, "the symlinked results file is not uploaded")
        for needle in (TOKEN, SECRET_WORD):
            hits = stored_bytes_contain(emu.data, needle.encode())
            t.check(not hits, "%s is in no stored object: %s" % (needle[:8], hits))
            t.check(needle not in log, "%s is not in the log" % needle[:8])
        card = open(os.path.join(work, "state", "cards", "j.md")).read()
        t.check(TOKEN not in card and SECRET_WORD not in card, "nor in the rendered card")
        t.check("README.md: ignored: a symbolic link" in log,
                "the symlinked README.md is named in a warning:\n%s" % log[-2000:])
        t.check("all_results.json: ignored: a symbolic link" in log,
                "the symlinked all_results.json is named in a warning")
        t.check("all_results.json is a symbolic link: not followed, not uploaded" in log,
                "the listing names the link it skips")
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_tree_symlinks")
    t.run(test_root_symlinks)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
