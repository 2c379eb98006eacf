#!/usr/bin/env python3
"""`hubsync run`'s pre-flight creates the repo (issue 15 item 1): as the
Trainer's create_repo(exist_ok=True) in its __init__, every job's repo
exists before CMD's first line runs, private when the job says "private";
a repo that exists already is fine (409). When it cannot be created, `run`
exits 78 with the reason naming the job and the repo, and CMD never starts:

- a fine-grained token with repo.write on the one repo (dave/only) passes
  the whoami check, but the Hub refuses to create a repo with it (403, and
  the repo does not exist: 404): exit 78, "cannot be created", the Hub's
  message;
- a read-only token (bob) and a repo that does not exist: exit 78, the
  reason ("read-only") and the repo, no create request.
The token string never appears in any output."""

import json
import os
import sys

import itlib

BOB = "hf_bob_read_0123456789abcdefghijkl"
DAVE = "hf_dave_finegrained_0123456789abcdef"
FAST = {"HUBSYNC_RETRY_BASE_MS": "20", "HUBSYNC_JOB_RETRY_MS": "200"}

# CMD's first line: ask the emulator about the repo, write what it said
PROBE = r"""
import json, os, sys, urllib.request, urllib.error
url, marker = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url, headers={"Authorization": "Bearer " + os.environ["PROBE_TOKEN"]})
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        out = {"status": r.status, "private": json.load(r).get("private")}
except urllib.error.HTTPError as e:
    out = {"status": e.code}
with open(marker, "w") as f:
    json.dump(out, f)
sys.exit(3)
"""


def config(work, emu, jobs, token, name):
    tok = os.path.join(work, name + ".token")
    with open(tok, "w") as f:
        f.write(token + "\n")
    os.chmod(tok, 0o600)
    path = os.path.join(work, name)
    with open(path, "w") as f:
        json.dump({"endpoint": emu.url, "token_file": tok, "jobs": jobs,
                   "state_dir": os.path.join(work, "state-" + name)}, f, indent=1)
    return path


def probe_cmd(emu, repo, marker):
    return [itlib.PY, "-c", PROBE, "%s/api/models/%s" % (emu.url, repo), marker]


def creates(emu):
    return [q for q in emu.requests() if q["method"] == "POST" and q["path"] == "/api/repos/create"]


def test_preflight_creates(t):
    work = itlib.workdir("pre-create")
    acc = os.path.join(work, "accounts.json")
    with open(acc, "w") as f:
        json.dump({"users": [
            {"name": "alice", "token": itlib.ALICE, "role": "write", "orgs": {}},
            {"name": "bob", "token": BOB, "role": "read", "orgs": {}},
            {"name": "dave", "token": DAVE, "role": "fineGrained", "orgs": {},
             "fineGrained": {"scoped": [{"entity": {"type": "model", "name": "dave/only"},
                                         "permissions": ["repo.content.read", "repo.write"]}]}}]},
                  f)
    emu = itlib.Emu(work, "--accounts", acc)
    try:
        env = dict(FAST, PROBE_TOKEN=itlib.ALICE)
        out = os.path.join(work, "out")
        marker = os.path.join(work, "marker")
        # a repo that does not exist: created (private) before CMD starts
        cfg = config(work, emu, [itlib.job("j", out, "alice/fresh", private=True)],
                     itlib.ALICE, "alice.json")
        r = itlib.hubsync("run", "--config", cfg, "--", *probe_cmd(emu, "alice/fresh", marker),
                          env=env, timeout=60)
        t.check(r.returncode == 3, "CMD's status: exit %d (want 3)\n%s" %
                (r.returncode, r.stderr[-1500:]))
        seen = json.load(open(marker)) if os.path.exists(marker) else None
        t.check(seen == {"status": 200, "private": True},
                "the repo existed, private, when CMD's first line ran: %s" % seen)
        t.check(len(creates(emu)) == 1, "one create request: %d" % len(creates(emu)))
        t.check(emu.commits("alice/fresh") == ["initial commit"],
                "nothing else was committed (CMD failed): %s" % emu.commits("alice/fresh"))
        # it exists now: 409, CMD starts as well
        os.unlink(marker)
        r = itlib.hubsync("run", "--config", cfg, "--", *probe_cmd(emu, "alice/fresh", marker),
                          env=env, timeout=60)
        t.check(r.returncode == 3 and os.path.exists(marker),
                "an existing repo: CMD ran, exit %d\n%s" % (r.returncode, r.stderr[-1500:]))
        os.unlink(marker)

        # whoami says it may write, the Hub refuses the creation
        cfg = config(work, emu, [itlib.job("d", out, "dave/only")], DAVE, "dave.json")
        r = itlib.hubsync("run", "--config", cfg, "--", *probe_cmd(emu, "dave/only", marker),
                          env=env, timeout=60)
        t.check(r.returncode == 78, "creation refused: exit %d (want 78)\n%s" %
                (r.returncode, r.stderr[-1500:]))
        t.check(not os.path.exists(marker), "creation refused: CMD did not start")
        t.check("not starting the training command: job d: the repo dave/only does not exist and "
                "cannot be created: creating repo dave/only: HTTP 403" in r.stderr,
                "names the job, the repo and the Hub's answer: %s" % r.stderr[-1200:])
        t.check("rights to create" in r.stderr, "the Hub's message: %s" % r.stderr[-800:])

        # a read-only token: the check says so, no creation is tried
        n = len(creates(emu))
        cfg = config(work, emu, [itlib.job("b", out, "bob/new")], BOB, "bob.json")
        r = itlib.hubsync("run", "--config", cfg, "--", *probe_cmd(emu, "bob/new", marker),
                          env=env, timeout=60)
        t.check(r.returncode == 78, "read-only: exit %d (want 78)\n%s" %
                (r.returncode, r.stderr[-1500:]))
        t.check(not os.path.exists(marker), "read-only: CMD did not start")
        t.check("job b: cannot push to bob/new" in r.stderr and "read-only" in r.stderr,
                "read-only: names the job, the repo and why: %s" % r.stderr[-1200:])
        t.check(len(creates(emu)) == n, "read-only: no create request")
        for s in (BOB, DAVE, itlib.ALICE):
            t.check(s not in r.stdout + r.stderr, "no token in the output")
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_run_preflight")
    t.run(test_preflight_creates)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
