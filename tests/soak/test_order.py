#!/usr/bin/env python3
"""Saves seen late are recorded in save order (issue 8 finding). The daemon
is paused (SIGSTOP, as a loop that is busy or starved would be) while the
trainer completes several saves, then resumed: the watcher then finds
several saves due at once. They must become READY in the journal oldest
first, and under every_save with supersede on, a save may only be
superseded by a newer one (an older save recorded after a newer one would
supersede the newest checkpoint).

Registered as soak_order. It failed ([1, 6, 2, 3, 4, 5, 7, 12, 8, ...])
until watcher/detect.c checked saves with a completion marker oldest first
(next_save): the saves written while the daemon was stopped are found by
the scan of their new folder and wait marker_quiet, while the first save
written after SIGCONT is seen live and was due at once. Run by hand:
  HUBSYNC_BIN=build/cli/hubsync HS_SOURCE_DIR=. HS_BUILD_DIR=build \\
      /usr/bin/python3 tests/soak/test_order.py
"""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import itlib  # noqa: E402
import soak  # noqa: E402


def step(name):
    return int(re.search(r"(\d+)$", name).group(1))


def test_order(t):
    work = itlib.workdir("order")
    emu = itlib.Emu(work)
    d = None
    try:
        out = os.path.join(work, "out")
        os.mkdir(out)
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/order", "every_save",
                                                       supersede=True)])
        d = itlib.Daemon(cfg, os.path.join(work, "daemon.log"))
        d.start()
        t.check(itlib.wait_for(lambda: itlib.job_status(cfg), 15), "daemon up")
        tr = subprocess.Popen(itlib.trainer_cmd(
            out, "--epochs", "1", "--steps-per-epoch", "12", "--save-steps", "1",
            "--step-time", "0.25", "--model-size", "64K", "--optimizer-factor", "0.5",
            "--no-tokenizer"))
        for _ in range(3):
            time.sleep(0.6)
            d.p.send_signal(signal.SIGSTOP)
            time.sleep(1.0)
            d.p.send_signal(signal.SIGCONT)
        t.check(tr.wait(60) == 0, "trainer completed")
        time.sleep(2)
        t.check(d.stop() == 0, "daemon stops cleanly")
        saves = soak.journal_dump(os.path.join(work, "state"))["saves"]
        order = [step(s["name"]) for s in saves]
        t.check(order == sorted(order), "READY in save order: %s" % order)
        by_id = {s["save"]: step(s["name"]) for s in saves}
        bad = ["%d by %d" % (step(s["name"]), by_id.get(s["by"], -1)) for s in saves
               if s["state"] == "superseded" and by_id.get(s["by"], 1 << 30) < step(s["name"])]
        t.check(not bad, "no save superseded by an older one: %s" % bad)
    finally:
        if d:
            d.close()
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("soak_order")
    t.run(test_order)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
