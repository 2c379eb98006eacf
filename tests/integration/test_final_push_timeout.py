#!/usr/bin/env python3
"""`hubsync run`'s final push rides out an outage (issue 12, finding 7).

The training command kills the emulator (SIGKILL) just before it exits, so
the final push starts while the Hub is unreachable:
- with final_push_timeout_minutes 2 the emulator comes back after ~6 s:
  `run` said it is retrying ("final push: … retrying for another …"), the
  End of training commit lands (the output dir's bytes hashed against the
  repo's) and `run` exits 0;
- with final_push_timeout_minutes 0.1 (6 s) and the emulator never back:
  `run` exits 1 after about that long and says how to finish
  (`hubsync daemon --config …`, or `hubsync run` again)."""

import os
import sys
import threading
import time

import itlib

FAST = {"HUBSYNC_RETRY_BASE_MS": "20", "HUBSYNC_JOB_RETRY_MS": "200"}

# CMD: train, then kill the Hub emulator, then exit 0
KILLER = r"""
import os, signal, subprocess, sys
rc = subprocess.call(sys.argv[2:])
os.kill(int(sys.argv[1]), signal.SIGKILL)
sys.exit(rc)
"""


def run_case(t, timeout_min, back_after):
    label = "timeout %g min" % timeout_min
    work = itlib.workdir("finalpush")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        repo = "alice/final-push-%s" % ("back" if back_after is not None else "never")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "end",
                                                       final_push_timeout_minutes=timeout_min)])
        killer = os.path.join(work, "killer.py")
        with open(killer, "w") as f:
            f.write(KILLER)
        cmd = [itlib.PY, killer, str(emu.p.pid)] + itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", "10", "--save-steps", "10")

        def bring_back():
            while emu.p.poll() is None:
                time.sleep(0.05)
            emu.kill()  # reap it
            time.sleep(back_after)
            emu.restart()

        th = None
        if back_after is not None:
            th = threading.Thread(target=bring_back, daemon=True)
            th.start()
        start = time.monotonic()
        r = itlib.hubsync("run", "--config", cfg, "--", *cmd, env=FAST, timeout=240)
        took = time.monotonic() - start
        if th:
            th.join(30)
        t.check("final push:" in r.stderr and "retrying for another" in r.stderr,
                "%s: run says it keeps retrying: %s" % (label, r.stderr[-1500:]))
        if back_after is not None:
            t.check(r.returncode == 0, "%s: exit %d, want 0\n%s" % (label, r.returncode,
                                                                     r.stderr[-2500:]))
            commits = emu.commits(repo)
            t.check(commits == ["initial commit", "End of training"],
                    "%s: the final push landed once the Hub was back: %s" % (label, commits))
            got = emu.files(repo)
            exp = itlib.local_files(out)
            t.check(exp and all(got.get(k) == v for k, v in exp.items()),
                    "%s: the output dir's files are in the repo (sha256)" % label)
        else:
            t.check(r.returncode == 1, "%s: exit %d, want 1\n%s" % (label, r.returncode,
                                                                     r.stderr[-2500:]))
            t.check("final_push_timeout_minutes" in r.stderr and
                    "`hubsync daemon --config %s` completes it, or `hubsync run` again" % cfg
                    in r.stderr, "%s: says how to finish: %s" % (label, r.stderr[-1500:]))
            t.check(5 <= took < 60, "%s: gave up after about the timeout (%.1f s)" % (label, took))
    finally:
        if emu.p.poll() is None:
            emu.stop()
        else:
            emu.err.close()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_final_push_timeout")
    t.run(run_case, 2, 6)
    t.run(run_case, 0.1, None)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
