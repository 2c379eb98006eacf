#!/usr/bin/env python3
"""Operations: rotation with save_total_limit=1 under a bandwidth-capped
uploader loses nothing (every checkpoint-N/ lands with the bytes it had);
SIGHUP with a broken config keeps the running one, SIGHUP with a changed
config adds and removes jobs; SIGTERM in the middle of an upload stops
promptly and a restart completes the commit exactly once."""

import json
import os
import signal
import subprocess
import sys
import time

import itlib


def status(cfg):
    sock = os.path.join(os.path.dirname(cfg), "state", "hubsync.sock")
    r = itlib.hubsync("status", "--socket", sock, "--json", timeout=20)
    return json.loads(r.stdout) if r.returncode == 0 else None


def jobs(cfg):
    return {j["name"]: j for j in (status(cfg) or {}).get("jobs", [])}


def test_rotation(t):
    work = itlib.workdir("rotation")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/rotation"
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "all_checkpoints")],
                                 bandwidth_limit_mbps=24)
        ev = os.path.join(work, "ev.jsonl")
        t0 = time.monotonic()
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "50",
                                             "--save-steps", "10", "--save-total-limit", "1",
                                             "--step-time", "0.01", "--model-size", "1M",
                                             events=ev), timeout=120)
        took = time.monotonic() - t0
        t.check(r.returncode == 0, "run exit %d\n%s" % (r.returncode, r.stderr[-2000:]))
        events = itlib.read_events(ev)
        deleted = [e for e in events if e["event"] == "delete"]
        t.check(len(deleted) >= 4, "rotation deleted %d checkpoints on disk" % len(deleted))
        card = os.path.join(work, "state", "cards", "j.md")
        exp, msgs = itlib.expected_repo("all_checkpoints", out, events, card)
        got = emu.files(repo)
        got.pop(".gitattributes", None)
        t.check(got == exp, "every rotated checkpoint is in the repo with its bytes: missing %s, "
                "differ %s" % (sorted(set(exp) - set(got))[:5],
                               sorted(k for k in exp if k in got and got[k] != exp[k])[:5]))
        t.check(emu.commits(repo) == ["initial commit"] + msgs + ["End of training"],
                "one commit per save: %s" % emu.commits(repo))
        lfs = sum(f["size"] for f in itlib.emu_inspect.list_files(emu.url, repo) if f["lfs"])
        print("rotation: %d saves, %d bytes of LFS objects at 24 Mbit/s in %.1f s" %
              (len(msgs), lfs, took))
        t.check(took >= lfs * 8 / 24e6 * 0.8, "the bandwidth cap held (%.1f s)" % took)
    finally:
        emu.stop()
        itlib.cleanup(work)


def test_reload(t):
    work = itlib.workdir("reload")
    emu = itlib.Emu(work)
    p = None
    try:
        out_a, out_b = os.path.join(work, "a"), os.path.join(work, "b")
        os.mkdir(out_a)
        os.mkdir(out_b)
        ja = itlib.job("a", out_a, "alice/reload-a")
        cfg = itlib.write_config(work, emu, [ja])
        good = open(cfg).read()
        log = open(os.path.join(work, "daemon.log"), "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=log)
        t.check(itlib.wait_for(lambda: status(cfg), 20), "daemon up")
        with open(cfg, "w") as f:
            f.write(good.replace('"hub_strategy": "every_save"', '"hub_strategy": "every-save"'))
        p.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        t.check(p.poll() is None and list(jobs(cfg)) == ["a"],
                "a broken config is refused and the old one kept: %s" % list(jobs(cfg)))
        text = open(os.path.join(work, "daemon.log")).read()
        t.check("config reload refused" in text and "every-save" in text,
                "the refusal and the problem are logged")
        # changed: job b added (and a keeps running)
        cfg2 = json.loads(good)
        cfg2["jobs"].append(itlib.job("b", out_b, "alice/reload-b", "checkpoint"))
        with open(cfg, "w") as f:
            json.dump(cfg2, f)
        p.send_signal(signal.SIGHUP)
        t.check(itlib.wait_for(lambda: sorted(jobs(cfg)) == ["a", "b"], 10),
                "job b added by SIGHUP: %s" % list(jobs(cfg)))
        ev = os.path.join(work, "ev.jsonl")
        tr = subprocess.run(itlib.trainer_cmd(out_b, "--epochs", "1", "--steps-per-epoch", "20",
                                              "--save-steps", "10", "--step-time", "0.01",
                                              events=ev), timeout=60)
        t.check(tr.returncode == 0, "trainer b ran")
        t.check(itlib.wait_for(lambda: jobs(cfg).get("b", {}).get("committed") == 2, 20),
                "the added job pushes: %s" % jobs(cfg).get("b"))
        files = emu.files("alice/reload-b")
        t.check("last-checkpoint/trainer_state.json" in files, "checkpoint strategy of b")
        # removed: a goes away, b stays
        cfg3 = json.loads(good)
        cfg3["jobs"] = [cfg2["jobs"][1]]
        with open(cfg, "w") as f:
            json.dump(cfg3, f)
        p.send_signal(signal.SIGHUP)
        t.check(itlib.wait_for(lambda: sorted(jobs(cfg)) == ["b"], 10),
                "job a removed by SIGHUP: %s" % list(jobs(cfg)))
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(15) == 0, "clean stop")
        log.close()
    finally:
        if p and p.poll() is None:
            p.kill()
        emu.stop()
        itlib.cleanup(work)


def test_sigterm_mid_upload(t):
    work = itlib.workdir("sigterm")
    # multipart, so that the acknowledged bytes grow while the object is sent
    emu = itlib.Emu(work, "--multipart-threshold", "1000000", "--chunk-size", "524288")
    p = None
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        repo = "alice/sigterm"
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo)], bandwidth_limit_mbps=16)
        ev = os.path.join(work, "ev.jsonl")
        tr = subprocess.run(itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "10",
                                              "--save-steps", "10", "--model-size", "6M",
                                              "--no-final-save", events=ev), timeout=60)
        t.check(tr.returncode == 0, "trainer ran")
        log = open(os.path.join(work, "daemon.log"), "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=log)
        mid = itlib.wait_for(lambda: (jobs(cfg).get("j") or {}).get("bytes_done", 0) > 500000, 20,
                             0.05)
        t.check(mid, "an upload is in progress: %s" % jobs(cfg).get("j"))
        st = jobs(cfg).get("j") or {}
        t.check(st.get("state") == "uploading" and "uploading" in st.get("stages", []),
                "mid-upload: state uploading, stages %s" % st.get("stages"))
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(15)
        t.check(rc == 0 and time.monotonic() - t0 < 3, "SIGTERM mid-upload: exit %d in %.2f s" %
                (rc, time.monotonic() - t0))
        t.check(emu.commits(repo) in (["initial commit"], []), "nothing committed yet")
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=log)
        t.check(itlib.wait_for(lambda: (jobs(cfg).get("j") or {}).get("committed") == 1, 30),
                "the restart completes the commit: %s" % jobs(cfg).get("j"))
        sent = (jobs(cfg).get("j") or {}).get("bytes_sent", 0)
        t.check(0 < sent < 6 * 1024 * 1024, "the restart sent only the parts not done before "
                "(%d bytes of the 6 MiB weights)" % sent)
        print("sigterm mid-upload: the restart sent %d bytes" % sent)
        t.check(emu.commits(repo) == ["initial commit", "Training in progress, step 10"],
                "committed once: %s" % emu.commits(repo))
        e = [x for x in itlib.read_events(ev) if x["event"] == "save"][0]
        got = emu.files(repo)
        want = {f["path"].split("/", 1)[1]: f["sha256"] for f in e["files"]
                if f["path"].split("/", 1)[1] in itlib.MODEL_FILES}
        t.check(all(got.get(k) == v for k, v in want.items()), "with the right bytes")
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(15) == 0, "clean stop")
        log.close()
    finally:
        if p and p.poll() is None:
            p.kill()
        emu.stop()
        itlib.cleanup(work)


def test_stale_last_checkpoint(t):
    """checkpoint strategy: files absent from the new save are deleted in
    last-checkpoint/ (a run restarted with fewer ranks)."""
    work = itlib.workdir("stale")
    emu = itlib.Emu(work)
    p = None
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        repo = "alice/stale"
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "checkpoint")])
        log = open(os.path.join(work, "daemon.log"), "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=log)
        t.check(itlib.wait_for(lambda: status(cfg), 20), "daemon up")
        ev = os.path.join(work, "ev.jsonl")
        subprocess.run(itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "10",
                                         "--save-steps", "10", "--world-size", "2",
                                         "--no-final-save", events=ev), timeout=60, check=True)
        t.check(itlib.wait_for(lambda: jobs(cfg).get("j", {}).get("committed") == 1, 20),
                "first save committed")
        before = emu.files(repo)
        t.check("last-checkpoint/rng_state_1.pth" in before, "two ranks' files at first")
        subprocess.run(itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "20",
                                         "--save-steps", "20", "--world-size", "1", "--seed", "3",
                                         "--no-final-save", events=ev), timeout=60, check=True)
        t.check(itlib.wait_for(lambda: jobs(cfg).get("j", {}).get("committed") == 2, 20),
                "second save committed: %s" % jobs(cfg).get("j"))
        save = [e for e in itlib.read_events(ev) if e["event"] == "save" and
                e.get("kind") == "checkpoint"][-1]
        want = {"last-checkpoint/" + f["path"].split("/", 1)[1]: f["sha256"]
                for f in save["files"]}
        got = {k: v for k, v in emu.files(repo).items() if k.startswith("last-checkpoint/")}
        t.check(got == want, "last-checkpoint/ is exactly the new save: stale %s, missing %s" %
                (sorted(set(got) - set(want)), sorted(set(want) - set(got))))
        ops = [q.get("ops") for q in emu.requests() if q.get("ops")]
        t.check(any(any(o.get("op") == "deletedFile" for o in (x or [])) for x in ops),
                "deletedFile operations in the commit")
        t.check(len(emu.commits(repo)) == 3, "one commit per save: %s" % emu.commits(repo))
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(15) == 0, "clean stop")
        log.close()
    finally:
        if p and p.poll() is None:
            p.kill()
        emu.stop()
        itlib.cleanup(work)


def test_spool_budget(t):
    """spool_max_gb: past the budget, queued saves are superseded by the new
    one (recorded), never silently dropped; the newest save is committed."""
    work = itlib.workdir("spool")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/spool"
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, spool_max_gb=0.0075)],
                                 bandwidth_limit_mbps=16)
        ev = os.path.join(work, "ev.jsonl")
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "60",
                                             "--save-steps", "10", "--step-time", "0.02",
                                             "--model-size", "1M", events=ev), timeout=120)
        t.check(r.returncode == 0, "run exit %d\n%s" % (r.returncode, r.stderr[-1500:]))
        saves = [e for e in itlib.read_events(ev) if e["event"] == "save" and
                 e.get("kind") == "checkpoint"]
        progress = [c for c in emu.commits(repo) if c.startswith("Training in progress")]
        spooled = r.stderr.count("(spool budget reached)")
        t.check(spooled >= 1, "the spool budget superseded queued saves (%d)" % spooled)
        t.check(len(progress) + spooled == len(saves),
                "each save committed or recorded: %d + %d vs %d" % (len(progress), spooled,
                                                                  len(saves)))
        t.check("not queued" not in r.stderr, "no save refused outright")
        t.check(progress[-1] == "Training in progress, step %d" % saves[-1]["step"],
                "the newest save is committed: %s" % progress[-1:])
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_ops")
    t.run(test_rotation)
    t.run(test_reload)
    t.run(test_sigterm_mid_upload)
    t.run(test_stale_last_checkpoint)
    t.run(test_spool_budget)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
