#!/usr/bin/env python3
"""log_file under `hubsync run` (docs/design.md: zstd compresses the rotated log
files): with a small rotation size the log directory ends up with
hubsync.log plus hubsync.log.N.zst files; the `zstd` CLI decompresses each,
and together (oldest first) they hold the run's log lines in order, the
token never among them."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import itlib  # noqa: E402

MAX = 400


def run(t):
    work = itlib.workdir("logfile")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)  # watched from the start
        logdir = os.path.join(work, "logs")
        os.mkdir(logdir)
        log = os.path.join(logdir, "hubsync.log")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/logfile")],
                                 log_file=log, log_level="debug")
        r = itlib.hubsync("run", "--config", cfg, "--",
                          *itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "4",
                                             "--save-steps", "2", "--step-time", "0.05",
                                             "--model-size", "64K"),
                          env={"HUBSYNC_LOG_MAX_BYTES": str(MAX), "HUBSYNC_LOG_KEEP": "100"},
                          timeout=90)
        t.check(r.returncode == 0, "run exit %d\n%s" % (r.returncode, r.stderr[-2000:]))
        names = sorted(os.listdir(logdir))
        zst = sorted((n for n in names if re.fullmatch(r"hubsync\.log\.\d+\.zst", n)),
                     key=lambda n: -int(n.split(".")[2]))
        t.check(len(zst) >= 2, "rotated and compressed files: %s" % names)
        t.check(set(names) == set(zst) | {"hubsync.log"}, "nothing else left: %s" % names)
        numbers = sorted(int(n.split(".")[2]) for n in zst)
        t.check(numbers == list(range(1, len(zst) + 1)), "numbered 1..N: %s" % numbers)
        text = []
        for n in zst:
            p = subprocess.run(["zstd", "-q", "-dc", os.path.join(logdir, n)],
                               capture_output=True, text=True)
            t.check(p.returncode == 0, "zstd -dc %s: %s" % (n, p.stderr))
            t.check(0 < len(p.stdout) <= MAX + 4096, "%s holds one rotation's worth: %d bytes" %
                    (n, len(p.stdout)))
            text.append(p.stdout)
        with open(log) as f:
            text.append(f.read())
        whole = "".join(text)
        lines = whole.splitlines()
        t.check(all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (error|warn|info|debug): ", x)
                    for x in lines), "every line timestamped")
        # (the two saves' lines may come in either order: a save seen by a
        # scan waits marker_quiet, a later one seen live does not)
        order = ["hubsync 0.1.0: 1 job", "job j: checkpoint-2 ready", "job j: checkpoint-4 ready",
                 "End of training committed", "final push done"]
        pos = [whole.find(x) for x in order]
        t.check(all(p >= 0 for p in pos) and pos[0] < min(pos[1:3]) and
                max(pos[1:3]) < pos[3] < pos[4],
                "the run's lines, in order, across the files: %s" % list(zip(order, pos)))
        t.check(itlib.ALICE not in whole, "the token is not in the log")
        print("logfile: %d lines in %d compressed files + the live one" % (len(lines), len(zst)))
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("logfile_run")
    t.run(run)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
