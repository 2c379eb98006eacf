#!/usr/bin/env python3
"""The Hub goes away mid-push (issue 8): the emulator is SIGKILLed while
`hubsync daemon` is in the middle of a large multipart upload and started
again a few seconds later on the same ports with the same data dir. The
emulator keeps repos, commits and stored objects on disk, but not its
multipart sessions nor its URL-signing key (both live in the process), so
after the restart every presigned part URL the daemon holds is refused
(403 SignatureDoesNotMatch) and completing an old upload id answers 404:
the daemon must ask the LFS batch API again and finish. (On the real Hub,
S3 keeps multipart uploads and presigned URLs stay valid until they
expire, so this is the harder case.) Checks: the daemon was uploading
when the Hub died, it did not crash, it retried through the outage and
completed; the repo holds exactly the expected files (sha256), one commit
per save with the expected messages, none twice; the journal has every
save committed; the bytes sent again are printed.

usage: test_emurestart.py [OUTAGE_SECONDS]   (default 3)
"""

import collections
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import itlib  # noqa: E402
import soak  # noqa: E402

OUTAGE = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
ENV = {"HUBSYNC_RETRY_BASE_MS": "200", "HUBSYNC_JOB_RETRY_MS": "500"}
SAVES = 2


def test_restart(t):
    work = itlib.workdir("emurestart")
    emu = itlib.Emu(work, "--multipart-threshold", "1000000", "--chunk-size", "1048576")
    d = None
    trainer = None
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        repo = "alice/emurestart"
        cfg = itlib.write_config(
            work, emu, [itlib.job("j", out, repo, "all_checkpoints", existing_checkpoints="all")],
            bandwidth_limit_mbps=80, max_parallel_uploads=4)
        d = itlib.Daemon(cfg, os.path.join(work, "daemon.log"), env=ENV)
        d.start()
        t.check(itlib.wait_for(lambda: itlib.job_status(cfg), 15), "daemon up")
        ev = os.path.join(work, "ev.jsonl")
        trainer = subprocess.Popen(itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", str(10 * SAVES), "--save-steps", "10",
            "--step-time", "0.02", "--model-size", "12M", "--seed", "21", events=ev))
        # wait until the first save's upload is well under way (>= 8 MB sent)

        def uploading():
            st = itlib.job_status(cfg) or {}
            return st if st.get("state") == "uploading" and st.get("bytes_done", 0) >= 8e6 else None
        st = itlib.wait_for(uploading, 60, 0.05)
        t.check(st, "the daemon is uploading when the Hub goes away: %s" % itlib.job_status(cfg))
        parts_before = sum(1 for q in emu.requests() if q.get("server") == "storage" and
                           q.get("method") == "PUT" and q.get("status") == 200)
        emu.kill()
        t_kill = time.time()
        print("emulator killed at %s of %s bytes (%s), %d storage PUTs done" % (
            (st or {}).get("bytes_done"), (st or {}).get("bytes_total"),
            (st or {}).get("checkpoint"), parts_before))
        time.sleep(OUTAGE)
        t.check(d.p.poll() is None, "the daemon survives the outage")
        st_out = itlib.job_status(cfg) or {}
        print("during the outage: state %s, last_error %r" % (st_out.get("state"),
                                                            st_out.get("last_error")))
        emu.restart()
        t_back = time.time()
        t.check(trainer.wait(60) == 0, "trainer completed")
        events = itlib.read_events(ev)
        msgs = ["Training in progress, step %d" % e["step"] for e in events
                if e.get("event") == "save" and e.get("kind") == "checkpoint"]
        t.check(len(msgs) == SAVES, "%d saves (got %d)" % (SAVES, len(msgs)))
        ok = itlib.wait_for(lambda: set(msgs) <= set(emu.commits(repo, missing_ok=True)), 90, 0.3)
        t.check(ok, "every save committed after the restart: %s" % emu.commits(repo, True))
        t_done = time.time()
        r = itlib.hubsync("finish", "j", "--config", cfg)
        t.check(r.returncode == 0, "finish accepted: %s" % r.stderr)
        t.check(itlib.wait_for(lambda: (itlib.job_status(cfg) or {}).get("state") == "finished",
                               60, 0.3), "finished: %s" % itlib.job_status(cfg))
        t.check(d.stop() == 0, "the daemon stops cleanly")
        commits = emu.commits(repo)
        dups = {m: n for m, n in collections.Counter(commits).items() if n > 1}
        t.check(not dups, "no duplicate commit: %s" % dups)
        t.check(commits[1:] == msgs + ["End of training"],
                "one commit per save, then the finish: %s" % commits)
        card = os.path.join(work, "state", "cards", "j.md")
        exp, _ = itlib.expected_repo("all_checkpoints", out, events, card)
        got = emu.files(repo)
        got.pop(".gitattributes", None)
        t.check(got == exp, "repo content: missing %s, extra %s, differ %s" % (
            sorted(set(exp) - set(got)), sorted(set(got) - set(exp)),
            sorted(k for k in exp if k in got and got[k] != exp[k])))
        j = soak.journal_dump(os.path.join(work, "state"))
        states = collections.Counter(s["state"] for s in j["saves"])
        t.check(dict(states) == {"committed": SAVES} and not j["corrupt"],
                "journal: every save committed: %s" % dict(states))
        reqs = emu.requests()
        after = [q for q in reqs if q["ts"] > t_back]
        refused = [q for q in after if q.get("server") == "storage" and q.get("status") == 403]
        nosuch = [q for q in after if "complete_multipart" in q.get("path", "") and
                  q.get("status") == 404]
        batches = [q for q in after if q.get("path", "").endswith("/objects/batch")]
        t.check(batches, "the daemon asked the batch API again after the restart")
        tr = itlib.storage_traffic(emu)
        print("emulator restart: outage %.1f s; after it %d storage PUTs refused (403, stale "
              "signature), %d completions of lost uploads (404), %d batch calls; all %d saves "
              "committed %.1f s after the restart; storage received %d bytes for %d LFS "
              "objects of %d bytes: %d bytes re-sent (%.0f%%)" % (
                  t_back - t_kill, len(refused), len(nosuch), len(batches), SAVES,
                  t_done - t_back, tr["sent"], tr["lfs_objects"], tr["lfs_bytes"],
                  tr["sent"] - tr["lfs_bytes"],
                  100.0 * (tr["sent"] - tr["lfs_bytes"]) / max(tr["lfs_bytes"], 1)))
    finally:
        if trainer and trainer.poll() is None:
            trainer.kill()
            trainer.wait()
        if d:
            d.close()
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("soak_emu_restart")
    t.run(test_restart)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
