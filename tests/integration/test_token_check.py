#!/usr/bin/env python3
"""The token check at start (docs/design.md: "At start it checks the token with
whoami-v2 and says clearly when it lacks write access to the namespace"),
against the emulator's default accounts (alice: write token, member of acme
with the write role; bob: read-only token; carol: write token, no orgs).

- A token the Hub refuses (401): `hubsync daemon` exits 78 naming where the
  token came from (token_file path, $HF_TOKEN); `hubsync run` exits 78
  before starting CMD (test_workflow.py); with --no-hub-check it runs CMD,
  then exits 1 (CMD's status when CMD failed) saying why nothing was pushed.
- Per job, a namespace the token cannot write (another user's, an org the
  user is not in, a read-only token): that job is held with the reason as
  its last_error in `hubsync status`, sends nothing to that repo, and its
  saves stay in the journal; the other jobs push. Fixing hub_model_id and
  SIGHUP pushes what waited.
- `run --no-hub-check` with bob's read-only token: exit 1 with the reason; the saves and
  the finish are journaled, and a daemon with a write token on the same
  state_dir pushes all of them later (nothing lost).
- A fine-grained token (emulator --accounts): repo.write on an org pushes,
  its own namespace with only repo.content.read is held.
- Hub unreachable at start: the daemon keeps running, warns, uploads go
  ahead once the Hub is back and the check succeeds on its retry.
The token string never appears in any output."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import itlib

BOB = "hf_bob_read_0123456789abcdefghijkl"
CAROL = "hf_carol_write_0123456789abcdefghi"
BAD = "hf_revoked_token_0000000000000000000"
SECRETS = (itlib.ALICE, BOB, CAROL, BAD)


def no_secret(t, text, what):
    leaked = [s for s in SECRETS if s in text]
    t.check(not leaked, "%s: no token in the output" % what)


def config(work, emu_url, jobs, token=None, name="hubsync.json"):
    cfg = {"endpoint": emu_url, "state_dir": os.path.join(work, "state"), "jobs": jobs}
    if token:
        tok = os.path.join(work, "token")
        with open(tok, "w") as f:
            f.write(token + "\n")
        os.chmod(tok, 0o600)
        cfg["token_file"] = tok
    path = os.path.join(work, name)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    return path


def train(out, steps=20, save=10):
    """One short fake Trainer run (checkpoints + final save) before the test."""
    subprocess.run(itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", str(steps),
                                     "--save-steps", str(save), "--step-time", "0"),
                   check=True, timeout=60)


FAST = {"HUBSYNC_RETRY_BASE_MS": "20", "HUBSYNC_JOB_RETRY_MS": "200",
        "HUBSYNC_WHOAMI_RETRY_SECONDS": "1"}


def test_refused_token(t):
    work = itlib.workdir("tok401")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        cfg = config(work, emu.url, [itlib.job("j", out, "alice/m")], token=BAD)
        start = time.monotonic()
        r = itlib.hubsync("daemon", "--config", cfg, env=FAST, timeout=30)
        t.check(r.returncode == 78, "daemon with a refused token: exit %d (want 78)\n%s" %
                (r.returncode, r.stderr[-1500:]))
        t.check(time.monotonic() - start < 10, "it stops at once")
        t.check("refused the token from token_file %s (401" % os.path.join(work, "token")
                in r.stderr and "invalid, expired or revoked" in r.stderr,
                "the message names the token_file and says what is wrong: %s" % r.stderr[-800:])
        no_secret(t, r.stdout + r.stderr, "daemon 401")
        # the same token from $HF_TOKEN (no token in the config)
        cfg2 = config(work, emu.url, [itlib.job("j", out, "alice/m")], name="env.json")
        r = itlib.hubsync("daemon", "--config", cfg2, env=dict(FAST, HF_TOKEN=BAD), timeout=30)
        t.check(r.returncode == 78 and "refused the token from $HF_TOKEN (401" in r.stderr,
                "HF_TOKEN named: exit %d\n%s" % (r.returncode, r.stderr[-800:]))
        no_secret(t, r.stdout + r.stderr, "daemon 401 HF_TOKEN")
        # run: CMD still runs; the final push cannot happen → 1, or CMD's status
        marker = os.path.join(work, "cmd-ran")
        r = itlib.hubsync("run", "--config", cfg, "--no-hub-check", "--", "/bin/sh", "-c",
                          "mkdir -p %s && echo x > %s/notes.txt && touch %s" % (out, out, marker),
                          env=FAST, timeout=60)
        t.check(os.path.exists(marker), "run: CMD ran despite the refused token")
        t.check(r.returncode == 1, "run, CMD ok, token refused: exit %d (want 1)\n%s" %
                (r.returncode, r.stderr[-1500:]))
        t.check("the final push failed" in r.stderr and "refused the token from token_file" in
                r.stderr, "run says why nothing was pushed: %s" % r.stderr[-800:])
        r = itlib.hubsync("run", "--config", cfg, "--no-hub-check", "--", "/bin/sh", "-c",
                          "exit 4", env=FAST,
                          timeout=60)
        t.check(r.returncode == 4, "run, CMD exit 4, token refused: exit %d (want 4)" %
                r.returncode)
        no_secret(t, r.stdout + r.stderr, "run 401")
        pushes = [q for q in emu.requests() if q["method"] == "POST"]
        t.check(not pushes, "nothing was sent to the Hub with the refused token: %s" %
                [q["path"] for q in pushes][:5])
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_namespaces(t):
    work = itlib.workdir("tokns")
    emu = itlib.Emu(work)
    p = None
    try:
        outs = {n: os.path.join(work, n) for n in ("mine", "org", "other", "noorg")}
        for o in outs.values():
            train(o, steps=10, save=10)
        repos = {"mine": "alice/mine", "org": "acme/org-model", "other": "carol/stolen",
                 "noorg": "nosuchorg/x"}
        jobs = [itlib.job(n, outs[n], repos[n]) for n in outs]
        cfg = config(work, emu.url, jobs, token=itlib.ALICE)
        log = open(os.path.join(work, "daemon.log"), "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, env=FAST, log=log)
        ok = itlib.wait_for(lambda: "Training in progress, step 10" in
                            emu.commits("alice/mine", missing_ok=True) and
                            "Training in progress, step 10" in
                            emu.commits("acme/org-model", missing_ok=True), 40)
        t.check(ok, "the jobs the token can write pushed their checkpoint")
        st = {n: itlib.job_status(cfg, n) for n in outs}
        t.check(all(st.values()), "status answers for every job")
        other, noorg = st["other"] or {}, st["noorg"] or {}
        t.check(other.get("state") == "held" and "carol/stolen" in (other.get("last_error") or "")
                and "namespace \"carol\" is neither the token's user \"alice\"" in
                other.get("last_error", ""),
                "another user's namespace: held, last_error says why: %s" % other)
        t.check(noorg.get("state") == "held" and "\"nosuchorg\"" in (noorg.get("last_error") or "")
                and "acme (write)" not in noorg.get("last_error", "") and "acme" in
                noorg.get("last_error", ""),
                "an org alice is not in: held, names her orgs: %s" % noorg)
        t.check(other.get("queued", 0) >= 1, "the held job's save is queued (journaled): %s" %
                other.get("queued"))
        t.check((st["mine"] or {}).get("last_error") is None, "the good job has no error")
        touched = [q["path"] for q in emu.requests() if "stolen" in q["path"] or
                   "nosuchorg" in q["path"] or "carol" in json.dumps(q.get("ops") or [])]
        t.check(not touched, "no request for the held repos: %s" % touched[:5])
        log.flush()
        text = open(log.name).read()
        t.check("token from token_file" in text and "user alice, write token" in text and
                "acme (write)" in text, "the log says who the token is")
        t.check("job other: cannot push to carol/stolen" in text, "the log names job and repo")
        # fix: point the job at alice's namespace and reload → the waiting save is pushed
        jobs[2]["hub_model_id"] = "alice/recovered"
        with open(cfg) as f:
            c = json.load(f)
        with open(cfg, "w") as f:
            json.dump(dict(c, jobs=jobs), f)
        p.send_signal(signal.SIGHUP)
        ok = itlib.wait_for(lambda: "Training in progress, step 10" in
                            emu.commits("alice/recovered", missing_ok=True), 40)
        t.check(ok, "after the fix and SIGHUP the journaled save is pushed")
        st = itlib.job_status(cfg, "other") or {}
        t.check(st.get("last_error") is None and st.get("state") != "held",
                "the error is cleared: %s" % st)
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(30) == 0, "SIGTERM: exit 0")
        log.close()
        no_secret(t, open(log.name).read(), "daemon namespaces")
    finally:
        if p and p.poll() is None:
            p.kill()
        emu.stop()
        itlib.cleanup(work)


def test_read_token_run(t):
    work = itlib.workdir("tokread")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        cfg = config(work, emu.url, [itlib.job("j", out, "bob/m")], token=BOB)
        r = itlib.hubsync("run", "--config", cfg, "--no-hub-check", "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "20",
                                             "--save-steps", "10", "--step-time", "0.02"),
                          env=FAST, timeout=90)
        t.check(r.returncode == 1, "run with a read-only token: exit %d (want 1)\n%s" %
                (r.returncode, r.stderr[-1500:]))
        t.check("user \"bob\" is read-only" in r.stderr and "cannot push to bob/m" in r.stderr,
                "says the token is read-only: %s" % r.stderr[-800:])
        no_secret(t, r.stdout + r.stderr, "run read token")
        t.check(not [q for q in emu.requests() if q["method"] in ("POST", "PUT")],
                "nothing was sent with the read token")
        # nothing lost: the same job with a write token on the same state_dir
        # pushes both saves and the finish from the journal
        cfg = config(work, emu.url, [itlib.job("j", out, "alice/m")], token=itlib.ALICE)
        p = itlib.popen_hubsync("daemon", "--config", cfg, env=FAST)
        want = ["Training in progress, step 10", "Training in progress, step 20",
                "End of training"]
        ok = itlib.wait_for(lambda: all(c in emu.commits("alice/m", missing_ok=True)
                                        for c in want), 60)
        t.check(ok, "a write token later pushes every journaled save and the finish: %s" %
                emu.commits("alice/m", missing_ok=True))
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    finally:
        emu.stop()
        itlib.cleanup(work)


DAVE = "hf_dave_finegrained_0123456789abcdef"


def test_fine_grained(t):
    """A fine-grained token (emulator --accounts): repo.write on org acme,
    only repo.content.read on the user's own namespace."""
    work = itlib.workdir("tokfg")
    acc = os.path.join(work, "accounts.json")
    with open(acc, "w") as f:
        json.dump({"users": [{"name": "alice", "token": itlib.ALICE, "role": "write",
                              "orgs": {"acme": "write"}},  # emu_inspect reads with it
                             {"name": "dave", "token": DAVE, "role": "fineGrained",
                              "orgs": {"acme": "write"},
                              "fineGrained": {"scoped": [
                                  {"entity": {"type": "user", "name": "dave"},
                                   "permissions": ["repo.content.read"]},
                                  {"entity": {"type": "org", "name": "acme"},
                                   "permissions": ["repo.content.read", "repo.write"]}]}}]}, f)
    emu = itlib.Emu(work, "--accounts", acc)
    p = None
    try:
        # the emulator itself enforces the scopes (what the check predicts)
        import urllib.request
        import urllib.error

        def create(ns):
            rq = urllib.request.Request(emu.url + "/api/repos/create", method="POST",
                                        data=json.dumps({"name": "probe", "organization": ns})
                                        .encode(), headers={"Authorization": "Bearer " + DAVE,
                                                            "Content-Type": "application/json"})
            try:
                return urllib.request.urlopen(rq, timeout=10).status
            except urllib.error.HTTPError as e:
                return e.code
        t.check((create("acme"), create("dave")) == (200, 403),
                "emulator: the fine-grained token writes acme, not its own namespace")
        outs = {n: os.path.join(work, n) for n in ("org", "own")}
        for o in outs.values():
            train(o, steps=10, save=10)
        jobs = [itlib.job("org", outs["org"], "acme/fg"), itlib.job("own", outs["own"], "dave/fg")]
        cfg = config(work, emu.url, jobs, token=DAVE)
        log = open(os.path.join(work, "daemon.log"), "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, env=FAST, log=log)
        ok = itlib.wait_for(lambda: "Training in progress, step 10" in
                            emu.commits("acme/fg", missing_ok=True), 40)
        t.check(ok, "fine-grained repo.write on acme: the job pushes")
        own = itlib.job_status(cfg, "own") or {}
        t.check(own.get("state") == "held" and
                "fine-grained token of user \"dave\" has no repo.write permission on \"dave\""
                in (own.get("last_error") or ""), "own namespace without repo.write: held: %s" %
                own)
        t.check(not [q for q in emu.requests() if "dave/fg" in q["path"]],
                "nothing was sent for dave/fg")
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(30) == 0, "SIGTERM: exit 0")
        log.close()
        text = open(log.name).read()
        t.check("user dave, fineGrained token" in text, "the log names the token's role")
        t.check(DAVE not in text, "fine-grained: no token in the output")
    finally:
        if p and p.poll() is None:
            p.kill()
        emu.stop()
        itlib.cleanup(work)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable(t):
    work = itlib.workdir("toknet")
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    emu = None
    p = None
    try:
        out = os.path.join(work, "out")
        train(out, steps=10, save=10)
        cfg = config(work, url, [itlib.job("j", out, "alice/net")], token=itlib.ALICE)
        log = open(os.path.join(work, "daemon.log"), "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, env=FAST, log=log)
        warned = itlib.wait_for(lambda: "cannot check the token now" in open(log.name).read(), 30)
        t.check(warned, "Hub unreachable: a warning, not an exit")
        t.check(p.poll() is None, "the daemon keeps running")
        st = itlib.job_status(cfg, "j") or {}
        t.check(st.get("state") != "held", "the job is not held without an answer: %s" %
                st.get("state"))
        # the Hub comes back on that port
        emu = itlib.Emu.__new__(itlib.Emu)
        emu.data, emu.log = os.path.join(work, "emu-data"), os.path.join(work, "emu-log.jsonl")
        emu.err = open(os.path.join(work, "emu-stderr"), "w")
        emu.flags = []
        emu._spawn(["--port", str(port)])
        ok = itlib.wait_for(lambda: "Training in progress, step 10" in
                            emu.commits("alice/net", missing_ok=True), 60)
        t.check(ok, "once the Hub is back the save is pushed")
        checked = itlib.wait_for(lambda: "user alice, write token" in open(log.name).read(), 20)
        t.check(checked, "and the token check succeeds on its retry")
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(30) == 0, "SIGTERM: exit 0")
        log.close()
        no_secret(t, open(log.name).read(), "unreachable")
    finally:
        if p and p.poll() is None:
            p.kill()
        if emu:
            emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_token_check")
    t.run(test_refused_token)
    t.run(test_namespaces)
    t.run(test_read_token_run)
    t.run(test_fine_grained)
    t.run(test_unreachable)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
