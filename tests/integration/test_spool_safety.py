#!/usr/bin/env python3
"""The spool is hubsync's alone (issue 13 item 3): a planted
`<watch>/.hubsync -> victim`, a planted `<watch>/.hubsync/spool -> victim`
and a spool_dir set to an existing non-empty folder leave every victim file
byte for byte as it was (hashed before and after) through a whole `hubsync
run`, with a clear message; check-config refuses such a spool_dir (exit
78) and prints an endpoint's user:password redacted (item 5)."""

import json
import os
import sys

import itlib


def tree_hashes(root):
    out = {}
    for d, dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = itlib.sha256(p)
    return out


def make_victim(work):
    v = os.path.join(work, "victim")
    # names that look like hubsync's own spool entries, and plain files
    os.makedirs(os.path.join(v, "checkpoint-10-1"))
    with open(os.path.join(v, "checkpoint-10-1", "model.safetensors"), "wb") as f:
        f.write(os.urandom(4096))
    with open(os.path.join(v, "thesis.tex"), "w") as f:
        f.write("years of work\n")
    return v


def run_once(t, name, plant, spool_dir=None, want_msg=None):
    work = itlib.workdir("spool-" + name)
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        os.makedirs(out)
        victim = make_victim(work)
        plant(out, victim)
        before = tree_hashes(victim)
        kw = {"spool_dir": victim} if spool_dir else {}
        repo = "alice/spool-" + name
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, **kw)])
        r = itlib.hubsync("check-config", cfg)
        t.check(r.returncode == 78 and want_msg in r.stderr,
                "%s: check-config refuses (exit %d): %s" % (name, r.returncode, r.stderr[-800:]))
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "20",
                                             "--save-steps", "10", "--step-time", "0.01"))
        log = r.stderr
        after = tree_hashes(victim)
        t.check(after == before, "%s: the victim is untouched: before %s after %s\n%s" %
                (name, sorted(before), sorted(after), log[-2500:]))
        t.check(want_msg in log, "%s: the run says why:\n%s" % (name, log[-1500:]))
        t.check("removed stale spool entry" not in log, "%s: nothing removed" % name)
        t.check(emu.commits(repo, missing_ok=True)[-1:] == ["End of training"],
                "%s: the final push still lands" % name)
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_planted_hubsync(t):
    run_once(t, "hubsync", lambda out, v: os.symlink(v, os.path.join(out, ".hubsync")),
             want_msg="/out/.hubsync is a symbolic link: refusing to use it for the spool")


def test_planted_spool(t):
    def plant(out, v):
        os.mkdir(os.path.join(out, ".hubsync"), 0o700)
        os.symlink(v, os.path.join(out, ".hubsync", "spool"))
    run_once(t, "spool", plant,
             want_msg="/out/.hubsync/spool is a symbolic link: refusing to use it for the spool")


def test_existing_folder(t):
    run_once(t, "existing", lambda out, v: None, spool_dir=True,
             want_msg="/victim exists and is not a hubsync spool")


def test_check_config_redacts(t):
    work = itlib.workdir("redact")
    try:
        cfgp = os.path.join(work, "c.json")
        tok = os.path.join(work, "token")
        with open(tok, "w") as f:
            f.write(itlib.ALICE + "\n")
        os.chmod(tok, 0o600)
        with open(cfgp, "w") as f:
            json.dump({"endpoint": "https://hubuser:S3cretPassw0rd@hub.example", "token_file": tok,
                       "state_dir": os.path.join(work, "state"),
                       "jobs": [itlib.job("j", os.path.join(work, "out"), "alice/x")]}, f)
        r = itlib.hubsync("check-config", cfgp)
        t.check(r.returncode == 0, "valid: %d %s" % (r.returncode, r.stderr[-500:]))
        t.check("https://hubuser:***@hub.example" in r.stdout, "the endpoint is shown redacted:\n%s"
                % r.stdout[-800:])
        t.check("S3cretPassw0rd" not in r.stdout + r.stderr, "the password is printed nowhere")
        with open(cfgp, "w") as f:
            json.dump({"endpoint": "ftp://hubuser:S3cretPassw0rd@hub.example", "token_file": tok,
                       "jobs": [itlib.job("j", os.path.join(work, "out"), "alice/x")]}, f)
        r = itlib.hubsync("check-config", cfgp)
        t.check(r.returncode == 78 and "ftp://hubuser:***@hub.example" in r.stderr and
                "S3cretPassw0rd" not in r.stdout + r.stderr,
                "a refused endpoint is named redacted: %s" % r.stderr[-500:])
    finally:
        itlib.cleanup(work)


def test_symlinked_watch(t):
    work = itlib.workdir("watchlink")
    emu = itlib.Emu(work)
    try:
        real = os.path.join(work, "real")
        os.mkdir(real)
        link = os.path.join(work, "out")
        os.symlink(real, link)
        cfg = itlib.write_config(work, emu, [itlib.job("j", link, "alice/watchlink")])
        r = itlib.hubsync("check-config", cfg)
        t.check(r.returncode == 78 and "jobs[0].watch: %s is a symbolic link: name the real "
                "folder" % link in r.stderr, "check-config names a symlinked watch: %d %s" %
                (r.returncode, r.stderr[-500:]))
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_spool_safety")
    t.run(test_planted_hubsync)
    t.run(test_planted_spool)
    t.run(test_existing_folder)
    t.run(test_check_config_redacts)
    t.run(test_symlinked_watch)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
