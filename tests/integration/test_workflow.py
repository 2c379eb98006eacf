#!/usr/bin/env python3
"""The ML engineer's workflow under `hubsync run` (issue 15):

- item 1: before CMD starts, `run` checks the token and each job's write
  access; a refused token or a repo it cannot write: exit 78 with the
  reason, CMD never started, nothing sent. `--no-hub-check` (or the config
  key check_hub_before_run false) starts CMD anyway, saying so.
- item 2: two configs without state_dir get distinct default state dirs,
  so two concurrent `run`s (a sweep) both push; a second process on the
  same config is still refused, naming the first; `status` without
  --config finds the only one running, and names them when there are two.
- item 4: a relative `watch` is resolved against `run`'s working
  directory; check-config shows it absolute and says it does not exist
  yet; the daemon refuses a relative one (78); check-config asks the Hub
  and says when the token is refused or cannot write a job's repo (78).
The token string never appears in any output."""

import json
import os
import signal
import sys

import itlib

BOB = "hf_bob_read_0123456789abcdefghijkl"
BAD = "hf_revoked_token_0000000000000000000"
FAST = {"HUBSYNC_RETRY_BASE_MS": "20", "HUBSYNC_JOB_RETRY_MS": "200"}


def config(work, emu, jobs, token, name="hubsync.json", **top):
    tok = os.path.join(work, name + ".token")
    with open(tok, "w") as f:
        f.write(token + "\n")
    os.chmod(tok, 0o600)
    cfg = {"endpoint": emu.url, "token_file": tok, "jobs": jobs}
    cfg.update(top)
    path = os.path.join(work, name)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    return path


def home_env(work):
    return dict(FAST, HOME=os.path.join(work, "home"), XDG_STATE_HOME="")


def short_train(out, *extra):
    return itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "10", "--save-steps",
                             "10", "--step-time", "0", *extra)


def test_preflight(t):
    work = itlib.workdir("wf-pre")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        marker = os.path.join(work, "cmd-ran")
        cmd = ["/bin/sh", "-c", "touch %s" % marker]
        env = home_env(work)
        cfg = config(work, emu, [itlib.job("j", out, "alice/m")], BAD, "bad.json")
        r = itlib.hubsync("run", "--config", cfg, "--", *cmd, env=env, timeout=60)
        t.check(r.returncode == 78, "refused token: exit %d (want 78)\n%s" %
                (r.returncode, r.stderr[-1500:]))
        t.check(not os.path.exists(marker), "refused token: CMD did not start")
        t.check("not starting the training command: the Hub refused the token from token_file "
                "%s (401" % os.path.join(work, "bad.json.token") in r.stderr,
                "says why, naming the token file: %s" % r.stderr[-800:])
        t.check("--no-hub-check" in r.stderr, "and how to start anyway")
        t.check("start failed" not in r.stderr, "no `start failed` line after the error")
        cfg = config(work, emu, [itlib.job("a", out, "alice/ok"),
                                 itlib.job("b", out + "2", "carol/theirs")],
                     itlib.ALICE, "other.json")
        r = itlib.hubsync("run", "--config", cfg, "--job", "a", "--", *cmd, env=env, timeout=60)
        t.check(r.returncode == 78 and not os.path.exists(marker),
                "a job's repo the token cannot write: exit %d, CMD not started\n%s" %
                (r.returncode, r.stderr[-1500:]))
        t.check("job b: cannot push to carol/theirs" in r.stderr,
                "names the job and the repo: %s" % r.stderr[-800:])
        cfg = config(work, emu, [itlib.job("j", out, "bob/m")], BOB, "read.json")
        r = itlib.hubsync("run", "--config", cfg, "--", *cmd, env=env, timeout=60)
        t.check(r.returncode == 78 and not os.path.exists(marker) and
                "read-only" in r.stderr, "read-only token: exit %d\n%s" %
                (r.returncode, r.stderr[-800:]))
        t.check(not [q for q in emu.requests() if q["method"] in ("POST", "PUT")],
                "nothing was sent to the Hub")
        # the offline start: the flag, then the config key
        r = itlib.hubsync("run", "--config", cfg, "--no-hub-check", "--", *cmd, env=env,
                          timeout=60)
        t.check(os.path.exists(marker), "--no-hub-check: CMD ran")
        t.check("without checking that the token can push (--no-hub-check)" in r.stderr,
                "--no-hub-check says so: %s" % r.stderr[-800:])
        t.check(r.returncode == 1, "then the final push fails: exit %d" % r.returncode)
        os.unlink(marker)
        cfg = config(work, emu, [itlib.job("j", out, "bob/m")], BOB, "key.json",
                     check_hub_before_run=False)
        r = itlib.hubsync("run", "--config", cfg, "--", *cmd, env=env, timeout=60)
        t.check(os.path.exists(marker) and "check_hub_before_run is false" in r.stderr,
                "check_hub_before_run false: CMD ran, said so: %s" % r.stderr[-800:])
        # a good token: CMD starts and pushes
        os.unlink(marker)
        cfg = config(work, emu, [itlib.job("j", out, "alice/good")], itlib.ALICE, "good.json")
        r = itlib.hubsync("run", "--config", cfg, "--", *short_train(out), env=env, timeout=90)
        t.check(r.returncode == 0, "a write token: exit %d\n%s" % (r.returncode, r.stderr[-1500:]))
        t.check("End of training" in emu.commits("alice/good"), "and it pushed")
        t.check(" bytes sent" not in r.stderr and " bytes, " not in r.stderr and
                "MiB sent" in r.stderr and " files, 6.1 MiB, " in r.stderr,
                "sizes in binary units (issue 15 item 10): %s" % r.stderr[-1500:])
        for s in (BAD, BOB, itlib.ALICE):
            t.check(s not in r.stdout + r.stderr, "no token in the output")
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_sweep(t):
    work = itlib.workdir("wf-sweep")
    emu = itlib.Emu(work)
    procs = []
    try:
        env = home_env(work)
        outs = [os.path.join(work, "lr%d" % i) for i in (1, 2)]
        cfgs = [config(work, emu, [itlib.job("sweep", o, "alice/" + os.path.basename(o))],
                       itlib.ALICE, "%s.json" % os.path.basename(o)) for o in outs]
        evs = [os.path.join(work, "ev%d" % i) for i in (1, 2)]
        logs = [open(os.path.join(work, "log%d" % i), "w") for i in (1, 2)]
        for c, o, ev, lg in zip(cfgs, outs, evs, logs):
            procs.append(itlib.popen_hubsync(
                "run", "--config", c, "--",
                *itlib.trainer_cmd(o, "--epochs", "1", "--steps-per-epoch", "400",
                                   "--save-steps", "10", "--step-time", "0.02", events=ev),
                env=env, log=lg))
        started = itlib.wait_for(lambda: all(os.path.exists(e) for e in evs), 30)
        t.check(started, "both runs started their trainer")
        t.check(all(p.poll() is None for p in procs), "neither was refused")
        bases = os.listdir(os.path.join(work, "home", ".local", "state", "hubsync"))
        t.check(sorted(b.rsplit("-", 1)[0] for b in bases) == ["lr1", "lr2"],
                "one default state dir per config: %s" % bases)
        r = itlib.hubsync("run", "--config", cfgs[0], "--", "/bin/true", env=env, timeout=30)
        t.check(r.returncode == 1 and ("in use by hubsync process %d" % procs[0].pid) in r.stderr,
                "the same config again is refused, naming the first: %d %s" %
                (r.returncode, r.stderr[-500:]))
        r = itlib.hubsync("status", env=env, timeout=30)
        t.check(r.returncode == 2 and "2 hubsync processes" in r.stderr and
                "--config FILE" in r.stderr, "status without --config names both: %d %s" %
                (r.returncode, r.stderr[-500:]))
        st = [itlib.hubsync("status", "--config", c, "--json", env=env, timeout=30) for c in cfgs]
        t.check(all(s.returncode == 0 for s in st), "status --config answers for each")
        for p in procs:
            p.send_signal(signal.SIGTERM)  # reaches the trainer, which stops
        for p in procs:
            p.wait(60)
        for lg in logs:
            lg.close()
        for o in outs:
            repo = "alice/" + os.path.basename(o)
            t.check("Training in progress, step 10" in emu.commits(repo, missing_ok=True),
                    "%s got its saves: %s" % (repo, emu.commits(repo, missing_ok=True)))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        emu.stop()
        itlib.cleanup(work)


def test_relative_watch(t):
    work = itlib.workdir("wf-rel")
    emu = itlib.Emu(work)
    try:
        env = home_env(work)
        cfg = config(work, emu, [itlib.job("j", "runs/x", "alice/rel")], itlib.ALICE)
        r = itlib.hubsync("check-config", cfg, env=env, cwd=work, timeout=30)
        absw = os.path.join(work, "runs", "x")
        t.check(r.returncode == 0 and ("watch:        %s (" % absw) in r.stdout,
                "check-config shows the relative watch absolute: %d\n%s%s" %
                (r.returncode, r.stdout[:800], r.stderr[-500:]))
        t.check("does not exist yet: hubsync waits for it to appear" in r.stdout,
                "and says it does not exist yet")
        t.check("written relative" in r.stdout, "and that it was written relative")
        r = itlib.hubsync("daemon", "--config", cfg, env=env, cwd=work, timeout=30)
        t.check(r.returncode == 78 and "jobs[0].watch is relative" in r.stderr,
                "the daemon refuses a relative watch: %d %s" % (r.returncode, r.stderr[-500:]))
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd("runs/x", "--epochs", "1", "--steps-per-epoch", "10",
                                             "--save-steps", "10", "--step-time", "0"),
                          env=env, cwd=work, timeout=90)
        t.check(r.returncode == 0, "run with a relative watch: exit %d\n%s" %
                (r.returncode, r.stderr[-1500:]))
        t.check(emu.commits("alice/rel", missing_ok=True)[-1:] == ["End of training"],
                "it pushed what the trainer wrote to runs/x: %s" %
                emu.commits("alice/rel", missing_ok=True))
        r = itlib.hubsync("check-config", cfg, env=env, cwd=work, timeout=30)
        t.check("does not exist yet" not in r.stdout, "once it exists, no such note")
        # check-config asks the Hub whether the token can write
        cfg = config(work, emu, [itlib.job("j", "/w1", "bob/m")], BOB, "read.json")
        r = itlib.hubsync("check-config", cfg, env=env, timeout=30)
        t.check(r.returncode == 78 and "jobs[0].hub_model_id: the token cannot push to bob/m: "
                "the token of user \"bob\" is read-only" in r.stderr,
                "check-config: a read-only token is a problem: %d %s" %
                (r.returncode, r.stderr[-600:]))
        cfg = config(work, emu, [itlib.job("j", "/w1", "alice/m")], BAD, "bad.json")
        r = itlib.hubsync("check-config", cfg, env=env, timeout=30)
        t.check(r.returncode == 78 and "refused it (401 Unauthorized)" in r.stderr,
                "check-config: a refused token is a problem: %d %s" %
                (r.returncode, r.stderr[-600:]))
        r = itlib.hubsync("check-config", "--no-hub", cfg, env=env, timeout=30)
        t.check(r.returncode == 0, "--no-hub does not ask: %d" % r.returncode)
        cfg = config(work, emu, [itlib.job("j", "/w1", "alice/m")], itlib.ALICE, "ok.json")
        r = itlib.hubsync("check-config", cfg, env=env, timeout=30)
        t.check(r.returncode == 0 and not r.stderr, "a write token: exit %d %s" %
                (r.returncode, r.stderr[-300:]))
        for x in (BAD, BOB, itlib.ALICE):
            t.check(x not in r.stdout + r.stderr, "no token in check-config's output")
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_status(t):
    """item 9: status names the repo, the watch path, the watch mode and why;
    a missing watch reads "waiting for <watch> to appear"; a save between
    attempts reads "retrying (attempt N, next in Ns): <last error>"; the JSON
    carries the config's absolute path; `finish JOB --wait` returns once the
    End of training commit is made."""
    work = itlib.workdir("wf-status")
    emu = itlib.Emu(work)
    p = None
    try:
        out = os.path.join(work, "out")
        config(work, emu, [itlib.job("j", out, "alice/st")], itlib.ALICE)
        env = dict(home_env(work), HUBSYNC_JOB_RETRY_MS="4000")
        log = open(os.path.join(work, "daemon.log"), "w")
        p = itlib.popen_hubsync("daemon", "--config", "hubsync.json", env=env, log=log, cwd=work)

        def status(*a):
            return itlib.hubsync("status", "--config", os.path.join(work, "hubsync.json"), *a,
                                 env=env, timeout=30)
        ok = itlib.wait_for(lambda: "waiting for %s to appear" % out in status().stdout, 20)
        r = status()
        t.check(ok, "a missing watch: waiting for it to appear:\n%s%s" % (r.stdout, r.stderr))
        t.check("  repo         alice/st\n" in r.stdout and ("  watch        %s\n" % out)
                in r.stdout, "status names the repo and the watch path:\n%s" % r.stdout)
        t.check("  watch mode   waiting (the folder does not exist yet)" in r.stdout,
                "and the watch mode with why")
        j = json.loads(status("--json").stdout)
        t.check(j.get("config") == os.path.join(work, "hubsync.json"),
                "the JSON has the config's absolute path: %s" % j.get("config"))
        emu.kill()
        import subprocess
        subprocess.run(short_train(out), check=True, timeout=60)
        ok = itlib.wait_for(lambda: "retrying (attempt " in status().stdout, 40)
        r = status()
        t.check(ok and "next in " in r.stdout, "a failed push reads retrying (attempt N, next "
                "in Ns):\n%s" % r.stdout)
        line = [x for x in r.stdout.splitlines() if x.startswith("job j: retrying")]
        t.check(line and "): " in line[0] and not line[0].endswith("none"),
                "with the last error: %s" % line)
        t.check("watch mode   inotify (watch_mode auto on " in r.stdout,
                "once it exists, the mode and the filesystem:\n%s" % r.stdout)
        emu.restart()
        r = itlib.hubsync("finish", "j", "--config", os.path.join(work, "hubsync.json"),
                          "--wait", env=env, timeout=90)
        t.check(r.returncode == 0 and "End of training committed: " in r.stderr,
                "finish --wait returns once the finish is committed: %d %s" %
                (r.returncode, r.stderr[-800:]))
        t.check(emu.commits("alice/st")[-1] == "End of training", "and it is in the repo")
        r = itlib.hubsync("finish", "nope", "--config", os.path.join(work, "hubsync.json"),
                          "--wait", env=env, timeout=30)
        t.check(r.returncode == 1, "finish --wait of an unknown job: exit %d" % r.returncode)
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        log.close()
    finally:
        if p and p.poll() is None:
            p.kill()
        emu.stop()
        itlib.cleanup(work)


def test_output(t):
    """item 5: `run`'s lines are whole, time-stamped, all "hubsync: LEVEL: ";
    on a terminal each starts by clearing the line (a trainer's tqdm bar left
    without a newline is not glued to it); -q, -v and HUBSYNC_LOG_LEVEL set
    the level without editing the config."""
    import re
    import subprocess
    import time
    work = itlib.workdir("wf-out")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        cfg = config(work, emu, [itlib.job("j", out, "alice/out")], itlib.ALICE)
        env = home_env(work)
        r = itlib.hubsync("run", "--config", cfg, "--", *short_train(out), env=env, timeout=90)
        lines = r.stderr.splitlines()
        bad = [x for x in lines
               if not re.match(r"^\d\d:\d\d:\d\d hubsync: (info|warning|error|debug): ", x)]
        t.check(r.returncode == 0 and lines and not bad,
                "every line time-stamped, one prefix style: %s" % bad[:3])
        r = itlib.hubsync("run", "--config", cfg, "-q", "--", "/bin/true", env=env, timeout=60)
        t.check(r.returncode == 0 and " info: " not in r.stderr,
                "-q: no info lines: %s" % r.stderr[-500:])
        r = itlib.hubsync("run", "--config", cfg, "--", "/bin/true", timeout=60,
                          env=dict(env, HUBSYNC_LOG_LEVEL="warn"))
        t.check(r.returncode == 0 and " info: " not in r.stderr, "HUBSYNC_LOG_LEVEL=warn")
        r = itlib.hubsync("run", "--config", cfg, "-v", "--", "/bin/true", env=env, timeout=60)
        t.check(" debug: " in r.stderr, "-v: debug lines: %s" % r.stderr[-500:])
        # item 6: a launcher with world size 1 is named, WORLD_SIZE silences it
        tr = os.path.join(work, "torchrun")
        with open(tr, "w") as fh:
            fh.write("#!/bin/sh\nexit 0\n")
        os.chmod(tr, 0o755)
        r = itlib.hubsync("run", "--config", cfg, "--", tr, "--nproc_per_node=4", "x.py",
                          env=env, timeout=60)
        t.check("started by torchrun, but the world size is 1" in r.stderr,
                "a wrapped launcher with world size 1 is warned about: %s" % r.stderr[-600:])
        r = itlib.hubsync("run", "--config", cfg, "--", tr, env=dict(env, WORLD_SIZE="4"),
                          timeout=60)
        t.check("world size is 1" not in r.stderr, "WORLD_SIZE=4: no warning")
        # on a terminal, beside a bar the trainer left without a newline
        e = dict(os.environ, **env)
        e.pop("HF_TOKEN", None)
        mark = os.path.join(work, "bar-shown")
        bar = ("trap : USR1; printf 'train  42%%%%|####      | 42/100'; touch %s; sleep 3; "
               "printf '\\n'" % mark)
        sent = []

        def signal_mid_bar(p):
            if not sent and os.path.exists(mark):
                time.sleep(0.2)
                p.send_signal(signal.SIGUSR1)  # hubsync logs that it forwards it: mid-bar
                sent.append(True)

        _, text = itlib.run_in_pty([itlib.BIN, "run", "--config", cfg, "-v", "--", "/bin/sh",
                                    "-c", bar], e, 80, wait=60, tick=signal_mid_bar)
        glued = re.search(r"42/100[^\r\n]*hubsync:", text)
        t.check("42/100" in text and not glued, "no hubsync line glued to the bar: %r" %
                text[-600:])
        t.check(re.search(r"42/100\r\x1b\[K\d\d:\d\d:\d\d hubsync: ", text) is not None,
                "the next line clears the bar's line first: %r" % text[-600:])
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_push_parity(t):
    """item 8: `push` as `hf upload`: REPO PATH [PATH_IN_REPO] beside PATH --repo, one
    file or a folder, --repo-type, --commit-message / --commit-description,
    --quiet; a small file committed inline says so (not "0 B sent")."""
    work = itlib.workdir("wf-push")
    emu = itlib.Emu(work)
    try:
        env = dict(home_env(work), HF_ENDPOINT=emu.url, HF_TOKEN=itlib.ALICE)
        f = os.path.join(work, "notes.txt")
        with open(f, "w") as fh:
            fh.write("hello\n")
        d = os.path.join(work, "folder")
        os.makedirs(d)
        with open(os.path.join(d, "a.json"), "w") as fh:
            fh.write("{}\n")
        r = itlib.hubsync("push", "alice/pp", f, env=env, timeout=60)
        t.check(r.returncode == 0 and emu.files("alice/pp").get("notes.txt") == itlib.sha256(f),
                "push REPO FILE: the file at its name: %d %s" % (r.returncode, r.stderr[-500:]))
        t.check("committed 1 file inline" in r.stderr and "0 B sent" not in r.stderr,
                "a small file is reported inline: %s" % r.stderr[-300:])
        r = itlib.hubsync("push", "alice/pp", f, "docs/n.txt", env=env, timeout=60)
        t.check(r.returncode == 0 and "docs/n.txt" in emu.files("alice/pp"),
                "push REPO FILE PATH_IN_REPO: %d %s" % (r.returncode, r.stderr[-300:]))
        r = itlib.hubsync("push", "alice/pp", d, "sub", "--commit-message", "my title",
                          "--commit-description", "why", "--quiet", env=env, timeout=60)
        t.check(r.returncode == 0 and r.stderr == "" and
                r.stdout.strip().startswith(emu.url) and len(r.stdout.splitlines()) == 1,
                "--quiet: only the URL: %r %r" % (r.stdout, r.stderr))
        t.check("sub/a.json" in emu.files("alice/pp") and
                emu.commits("alice/pp")[-1] == "my title", "--commit-message: %s" %
                emu.commits("alice/pp")[-1:])
        r = itlib.hubsync("push", d, "--repo", "alice/ds", "--repo-type", "dataset", env=env,
                          timeout=60)
        files = {x["path"] for x in itlib.emu_inspect.list_files(emu.url, "alice/ds",
                                                                   rtype="dataset")}
        t.check(r.returncode == 0 and "a.json" in files, "--repo-type dataset: %d %s %s" %
                (r.returncode, files, r.stderr[-300:]))
        r = itlib.hubsync("push", d, "--repo", "alice/ds", "--repo-type", "bucket", env=env)
        t.check(r.returncode == 2 and "model, dataset or space" in r.stderr,
                "a bad --repo-type: %d %s" % (r.returncode, r.stderr[-200:]))
        r = itlib.hubsync("push", "alice/pp", env=env)
        t.check(r.returncode == 2 and "missing --repo ID (or give REPO PATH)" in r.stderr,
                "one positional without --repo: %d %s" % (r.returncode, r.stderr[-200:]))
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_progress_bar(t):
    """item 7: `push`'s bar in a pty at widths 60 and 120: every redraw is
    "\\r" + a line shorter than the width (it never wraps) + erase-to-end
    (no stale characters after a shorter line); no ETA at 0 %; elapsed time
    and the files; a visible step when the multipart uploads complete.
    Without a terminal: lines at the interval, never one saying nothing new."""
    import re
    work = itlib.workdir("wf-bar")
    emu = itlib.Emu(work)
    try:
        env = dict(home_env(work), HF_ENDPOINT=emu.url, HF_TOKEN=itlib.ALICE,
                   HUBSYNC_BANDWIDTH_MBPS="80", HUBSYNC_PROGRESS_INTERVAL_MS="300")
        d = os.path.join(work, "model")
        os.makedirs(d)
        with open(os.path.join(d, "model.safetensors"), "wb") as fh:
            fh.write(os.urandom(24 << 20))
        with open(os.path.join(d, "config.json"), "w") as fh:
            fh.write("{}\n")
        for n, width in enumerate((60, 120)):
            e = dict(os.environ, **env)
            e["HF_TOKEN"] = itlib.ALICE
            rc, text = itlib.run_in_pty([itlib.BIN, "push", d, "--repo", "alice/bar%d" % n], e,
                                        width, wait=60)
            t.check(rc == 0, "width %d: push ok (%d)" % (width, rc))
            draws = [x for x in text.split("\r") if x.endswith("\x1b[K")]
            t.check(len(draws) >= 3, "width %d: the bar is redrawn (%d times)" %
                    (width, len(draws)))
            long = [x for x in draws if len(x) - 3 >= width]
            t.check(not long, "width %d: no line as wide as the terminal: %r" %
                    (width, long[:2]))
            up = [x for x in draws if x.startswith("upload:")]
            t.check(up and all(("ETA" not in x) for x in up if " 0% " in x),
                    "width %d: no ETA at 0 %%: %r" % (width, [x for x in up if " 0% " in x][:2]))
            t.check(any(re.search(r" \d+:\d\d", x) for x in up) and
                    any("files changed" in x for x in draws),
                    "width %d: elapsed time and files: %r" % (width, draws[-3:]))
            if width == 120:
                t.check(any("[" in x and "]" in x for x in up), "width 120: a bar")
                t.check(any(x.startswith("completing uploads") for x in draws) or
                        any(x.startswith("commit") for x in draws),
                        "a visible step after the bytes are sent: %r" % draws[-4:])
        r = itlib.hubsync("push", d, "--repo", "alice/bar2", env=env, timeout=90)
        lines = [x for x in r.stderr.splitlines() if x.startswith("hubsync: upload:")]
        keys = [re.sub(r" [\d.]+ [KMG]?i?B/s| ETA [\d:]+| \d+:\d\d", "", x) for x in lines]
        t.check(r.returncode == 0 and lines and len(keys) == len(set(keys)),
                "no terminal: upload lines, none repeated: %s" % lines)
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_workflow")
    t.run(test_preflight)
    t.run(test_sweep)
    t.run(test_relative_watch)
    t.run(test_status)
    t.run(test_output)
    t.run(test_push_parity)
    t.run(test_progress_bar)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
