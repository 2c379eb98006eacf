#!/usr/bin/env python3
"""The token, whatever its source, appears in no object the emulator
stored, in no log line and in no status output (text or --json), and the
permission rule holds per source (issue 13 item 5): inline "token" (config
0600), token_file, HF_TOKEN, HUGGING_FACE_HUB_TOKEN, HF_TOKEN_PATH,
$HF_HOME/token and ~/.cache/huggingface/token. huggingface_hub's files at
mode 0644 are used with one warning naming the file and `chmod 600`; a 0644
token_file and a 0644 config with an inline token are refused (exit 78)."""

import json
import os
import sys

import itlib

TOK = itlib.ALICE


def stored_hits(root, needle):
    hits = []
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                if needle in f.read():
                    hits.append(p)
    return hits


def write_cfg(work, emu, out, repo, mode=0o600, **top):
    cfg = {"endpoint": emu.url, "state_dir": os.path.join(work, "state"),
           "jobs": [itlib.job("j", out, repo, "end")]}
    cfg.update(top)
    path = os.path.join(work, "hubsync.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    os.chmod(path, mode)
    return path


def put_token(path, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(TOK + "\n")
    os.chmod(path, mode)
    return path


def one_source(t, name, setup):
    work = itlib.workdir("tok-" + name)
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        home = os.path.join(work, "home")
        os.makedirs(home)
        repo = "alice/tok-" + name.lower().replace("_", "-")
        env = {"HOME": home}
        for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HOME",
                  "XDG_CACHE_HOME"):
            env[k] = ""
        cfg, warned = setup(work, emu, out, repo, home, env)
        sock = os.path.join(work, "state", "hubsync.sock")
        st_txt, st_json = os.path.join(work, "status.txt"), os.path.join(work, "status.json")
        trainer = " ".join(itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "10",
                                             "--save-steps", "10", "--step-time", "0.01"))
        # status asked while `run` is live, from inside its command
        cmd = "%s && %s status --socket %s > %s && %s status --json --socket %s > %s" % (
            trainer, itlib.BIN, sock, st_txt, itlib.BIN, sock, st_json)
        r = itlib.hubsync("run", "--config", cfg, "--", "/bin/sh", "-c", cmd, env=env)
        log = r.stdout + r.stderr
        t.check(r.returncode == 0, "%s: run exit %d\n%s" % (name, r.returncode, log[-1500:]))
        t.check(emu.commits(repo, missing_ok=True)[-1:] == ["End of training"],
                "%s: the push landed" % name)
        t.check(TOK not in log, "%s: the token is in no log line" % name)
        status = open(st_txt).read() + open(st_json).read()
        t.check(status and TOK not in status, "%s: nor in the status output" % name)
        t.check(not stored_hits(emu.data, TOK.encode()),
                "%s: nor in any stored object: %s" % (name, stored_hits(emu.data, TOK.encode())))
        want = "is accessible to other users (mode 0644): anyone on this machine can read the " \
               "token; run chmod 600 on it"
        if warned:
            t.check(log.count(want) == 1 and warned in log,
                    "%s: one warning naming %s:\n%s" % (name, warned, log[-1500:]))
        else:
            t.check(want not in log, "%s: no permission warning" % name)
    finally:
        emu.stop()
        itlib.cleanup(work)


def inline(work, emu, out, repo, home, env):
    return write_cfg(work, emu, out, repo, token=TOK), None


def token_file(work, emu, out, repo, home, env):
    tf = put_token(os.path.join(work, "tokfile"), 0o600)
    return write_cfg(work, emu, out, repo, token_file=tf), None


def hf_token(work, emu, out, repo, home, env):
    env["HF_TOKEN"] = TOK
    return write_cfg(work, emu, out, repo), None


def legacy(work, emu, out, repo, home, env):
    env["HUGGING_FACE_HUB_TOKEN"] = TOK
    return write_cfg(work, emu, out, repo), None


def token_path(work, emu, out, repo, home, env):
    env["HF_TOKEN_PATH"] = put_token(os.path.join(work, "elsewhere", "tok"), 0o644)
    return write_cfg(work, emu, out, repo), env["HF_TOKEN_PATH"]


def hf_home(work, emu, out, repo, home, env):
    env["HF_HOME"] = os.path.join(work, "hfhome")
    p = put_token(os.path.join(env["HF_HOME"], "token"), 0o644)
    return write_cfg(work, emu, out, repo), p


def cache(work, emu, out, repo, home, env):
    p = put_token(os.path.join(home, ".cache", "huggingface", "token"), 0o644)
    return write_cfg(work, emu, out, repo), p


def test_every_source(t):
    for name, setup in (("inline", inline), ("token_file", token_file), ("HF_TOKEN", hf_token),
                        ("HUGGING_FACE_HUB_TOKEN", legacy), ("HF_TOKEN_PATH", token_path),
                        ("HF_HOME", hf_home), ("cache", cache)):
        one_source(t, name, setup)


def test_refused(t):
    work = itlib.workdir("tok-refused")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        tf = put_token(os.path.join(work, "tokfile"), 0o644)
        cfg = write_cfg(work, emu, out, "alice/x", token_file=tf)
        r = itlib.hubsync("run", "--config", cfg, "--", "/bin/true")
        t.check(r.returncode == 78 and "token file %s is accessible to other users (mode 0644)"
                % tf in r.stderr, "a 0644 token_file is refused: %d %s" %
                (r.returncode, r.stderr[-500:]))
        cfg = write_cfg(work, emu, out, "alice/x", mode=0o644, token=TOK)
        r = itlib.hubsync("run", "--config", cfg, "--", "/bin/true")
        t.check(r.returncode == 78 and "mode 0600 or stricter" in r.stderr,
                "a 0644 config with an inline token is refused: %d %s" %
                (r.returncode, r.stderr[-500:]))
        t.check(TOK not in r.stdout + r.stderr, "the refusal does not show the token")
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_token_sources")
    t.run(test_every_source)
    t.run(test_refused)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
