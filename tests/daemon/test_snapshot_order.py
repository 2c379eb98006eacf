#!/usr/bin/env python3
"""Snapshots run on the thread pool, READY records keep the watcher's order.
A generic-layout job whose spool is on another filesystem (/dev/shm: every
snapshot is a copy) gets a large save `aN` and, right after, a small save
`bN`: b's copy finishes while a's is still running, yet the journal records
(log "X ready") and the commits follow the order the watcher reported the
saves ("X complete"). Repeated until such an overtaking was seen (it is what
makes the check meaningful); the daemon log shows it with "an older save's
snapshot is still running"."""

import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import itlib  # noqa: E402

BIG = 128 << 20  # a copy long enough for the small one to overtake it


def run(t):
    if not os.path.isdir("/dev/shm"):
        print("snapshot_order: no /dev/shm, skipped")
        return
    work = itlib.workdir("snaporder")
    spool = tempfile.mkdtemp(prefix="hs-snaporder-", dir="/dev/shm")
    emu = itlib.Emu(work)
    d = None
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        cfg = itlib.write_config(
            work, emu, [itlib.job("j", out, "alice/snaporder", "every_save", layout="generic",
                                  settle_seconds=0.5, spool_dir=spool)],
            log_level="debug")
        logp = os.path.join(work, "daemon.log")
        d = itlib.Daemon(cfg, logp)
        d.start()
        t.check(itlib.wait_for(lambda: itlib.job_status(cfg), 20), "daemon up")
        overtaken = 0
        for rnd in range(5):
            a, b = "a%d" % rnd, "b%d" % rnd
            # each save appears whole (a rename of a hidden dir, ignored
            # while it is written), the large one first
            for name, fname, data in ((a, "big.bin", os.urandom(1 << 20) * (BIG >> 20)),
                                      (b, "small.bin", b"small save %d\n" % rnd)):
                tmp = os.path.join(out, "." + name)
                os.mkdir(tmp)
                with open(os.path.join(tmp, fname), "wb") as f:
                    f.write(data)
            os.rename(os.path.join(out, "." + a), os.path.join(out, a))
            time.sleep(0.01)
            os.rename(os.path.join(out, "." + b), os.path.join(out, b))
            done = itlib.wait_for(lambda: (itlib.job_status(cfg) or {}).get("committed", 0) >=
                                  2 * (rnd + 1), 60, 0.1)
            t.check(done, "round %d: both saves committed: %s" % (rnd, itlib.job_status(cfg)))
            with open(logp) as f:
                log = f.read()
            started = re.findall(r"job j: ([ab]%d) complete: snapshot started" % rnd, log)
            ready = re.findall(r"job j: ([ab]%d) ready \(" % rnd, log)
            snapped = re.findall(r"job j: snapshot of ([ab]%d) done" % rnd, log)
            t.check(sorted(started) == [a, b] and sorted(ready) == [a, b],
                    "round %d: both started and recorded: %s %s" % (rnd, started, ready))
            t.check(ready == started, "round %d: READY records in the watcher's order: "
                    "started %s, snapshots done %s, recorded %s" % (rnd, started, snapped, ready))
            if snapped and started and snapped != started:
                overtaken += 1
            if overtaken:
                break
        t.check(overtaken > 0, "a small save's snapshot finished before a large one's "
                "(the order the FIFO has to restore)")
        with open(logp) as f:
            log = f.read()
        t.check("an older save's snapshot is still running" in log, "the log says so")
        print("snapshot_order: %d round(s), overtaking seen %d time(s)" % (rnd + 1, overtaken))
        t.check(d.stop() == 0, "clean stop")
    finally:
        if d:
            d.close()
        emu.stop()
        shutil.rmtree(spool, ignore_errors=True)
        itlib.cleanup(work)


def main():
    t = itlib.Suite("snapshot_order")
    t.run(run)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
