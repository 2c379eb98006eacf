#!/usr/bin/env python3
"""Crash test (issue 5): a training run with many checkpoints while
`hubsync daemon` is killed with SIGKILL at seeded random moments (during
training and during the finish) and restarted each time. Afterwards the
repo holds exactly what a crash-free run leaves (every save's model files,
the output dir and the card; paths and sha256), every save was committed
exactly once (commit messages counted in the emulator), and the bytes sent
to storage beyond the unique objects (re-sent after kills) are reported.

usage: test_crash.py [KILLS] [SEED] [STRATEGY]   (defaults 20, 5, every_save;
HS_CRASH_KILLS overrides KILLS)
"""

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time

import itlib

KILLS = int(os.environ.get("HS_CRASH_KILLS", sys.argv[1] if len(sys.argv) > 1 else 20))
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 5
STRATEGY = sys.argv[3] if len(sys.argv) > 3 else "every_save"


def job_state(cfg):
    r = itlib.hubsync("status", "--config", cfg, "--json", timeout=20)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)["jobs"][0]


def test_crash(t):
    rnd = random.Random(SEED)
    work = itlib.workdir("crash")
    # multipart for the weights, so a kill mid-object resumes from its parts
    emu = itlib.Emu(work, "--multipart-threshold", "1000000", "--chunk-size", "524288")
    p = None
    logf = open(os.path.join(work, "daemon.log"), "w")
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        repo = "alice/crash-" + STRATEGY.replace("_", "-")
        cfg = itlib.write_config(
            work, emu,
            [itlib.job("j", out, repo, STRATEGY, existing_checkpoints="all")],
            bandwidth_limit_mbps=40, max_parallel_uploads=4)
        ev = os.path.join(work, "ev.jsonl")
        trainer = subprocess.Popen(itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", "120", "--save-steps", "10",
            "--step-time", "0.08", "--model-size", "3M", "--seed", str(SEED), events=ev))

        def start():
            logf.write("---- start\n")
            logf.flush()
            return itlib.popen_hubsync("daemon", "--config", cfg, log=logf)

        p = start()
        kills = 0
        kill_times = []
        finish_asked = False
        while kills < KILLS:
            time.sleep(rnd.uniform(0.15, 0.9))
            if trainer.poll() is not None and not finish_asked and kills >= KILLS - 4:
                # the last few kills land during the finish
                itlib.wait_for(lambda: job_state(cfg) is not None, 10)
                r = itlib.hubsync("finish", "j", "--config", cfg)
                finish_asked = r.returncode == 0
                time.sleep(rnd.uniform(0.05, 0.4))
            p.send_signal(signal.SIGKILL)
            kill_times.append(time.time())
            p.wait()
            kills += 1
            p = start()
        t.check(trainer.wait(120) == 0, "trainer completed")
        if not finish_asked:
            itlib.wait_for(lambda: job_state(cfg) is not None, 10)
            r = itlib.hubsync("finish", "j", "--config", cfg)
            t.check(r.returncode == 0, "finish accepted: %s" % r.stderr)
        done = itlib.wait_for(lambda: (job_state(cfg) or {}).get("state") == "finished", 60, 0.3)
        t.check(done, "the job finished after %d kills: %s" % (kills, job_state(cfg)))
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(15) == 0, "daemon stops cleanly at the end")
        p = None

        events = itlib.read_events(ev)
        card = os.path.join(work, "state", "cards", "j.md")
        exp, msgs = itlib.expected_repo(STRATEGY, out, events, card)
        got = emu.files(repo)
        got.pop(".gitattributes", None)
        t.check(got == exp, "repo content as a crash-free run: missing %s, extra %s, differ %s" %
                (sorted(set(exp) - set(got)), sorted(set(got) - set(exp)),
                 sorted(k for k in exp if k in got and got[k] != exp[k])))
        commits = emu.commits(repo)
        count = collections.Counter(commits)
        dups = {m: n for m, n in count.items() if n > 1}
        t.check(not dups, "no duplicate commit: %s" % dups)
        t.check(len(msgs) == 12, "12 saves (got %d)" % len(msgs))
        missing = [m for m in msgs if m not in count]
        t.check(not missing, "every save committed: missing %s" % missing)
        t.check(commits[-1] == "End of training", "the finish commit is last: %s" % commits[-3:])
        # bytes: storage PUTs against the objects they delivered
        puts = [q for q in emu.requests() if q.get("server") == "storage" and
                q.get("method") == "PUT"]
        sent = sum(q.get("req_bytes", 0) for q in puts)
        delivered = {}
        for q in puts:
            if q.get("status") == 200 and q["path"] not in delivered:
                delivered[q["path"]] = q.get("req_bytes", 0)
        unique = sum(delivered.values())
        print("crash test (%s): %d kills (seed %d), %d commits; storage received %d bytes for %d "
              "objects or parts of %d bytes: %d bytes re-sent (%.0f%%: parts in flight at a kill)" %
              (STRATEGY, kills, SEED, len(commits), sent, len(delivered), unique, sent - unique,
               100.0 * (sent - unique) / max(unique, 1)))
        # An object may reach storage twice only when it was in flight at a
        # kill: the dead process's last bytes still arrive after the next
        # process asked the batch API (the first delivery ends right after
        # a kill).
        first = {}
        odd = []
        for q in puts:
            if q.get("status") != 200:
                continue
            if q["path"] in first:
                t_end = first[q["path"]]
                if not any(k - 0.2 <= t_end <= k + 3 for k in kill_times):
                    odd.append(q["path"])
            else:
                first[q["path"]] = q["ts"]
        t.check(not odd, "objects delivered twice without a kill in flight: %s" % odd)
        t.check(kills >= KILLS, "%d kills done" % kills)
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        logf.close()
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_crash_" + STRATEGY)
    t.run(test_crash)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
