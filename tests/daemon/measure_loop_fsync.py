#!/usr/bin/env python3
"""Measurement (not a ctest test): how long the loop thread of `hubsync run`
spends in fsync/fdatasync per checkpoint save (journal records and the
push resume state), from strace -T of a fake Trainer run against the
emulator. Usage: HUBSYNC_BIN=build/cli/hubsync measure_loop_fsync.py
[SAVES] [STRATEGY]. Prints per-call counts and times of the main (loop)
thread and of the other threads."""

import collections
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import itlib  # noqa: E402


def main():
    saves = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    strategy = sys.argv[2] if len(sys.argv) > 2 else "checkpoint"
    work = itlib.workdir("fsync")
    emu = itlib.Emu(work)
    try:
        out = os.path.join(work, "out")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/fsync", strategy)])
        trace = os.path.join(work, "strace.txt")
        cmd = ["strace", "-f", "-T", "-y", "-e", "trace=fsync,fdatasync", "-o", trace, itlib.BIN,
               "run", "--config", cfg, "--"] + itlib.trainer_cmd(
                   out, "--epochs", "1", "--steps-per-epoch", str(2 * saves), "--save-steps",
                   "2", "--step-time", "0.05", "--model-size", "256K")
        env = dict(os.environ)
        env.pop("HF_TOKEN", None)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            print(r.stderr[-3000:])
            return 1
        lines = open(trace).read().splitlines()
        main_pid = int(lines[0].split()[0]) if lines else 0
        stats = collections.defaultdict(list)
        pids = set()
        for x in lines:
            m = re.match(r"(\d+)\s+(fsync|fdatasync)\(\d+<([^>]*)>\)\s+=\s+0\s+<([\d.]+)>", x)
            if not m:
                continue
            pid, call, path, t = int(m.group(1)), m.group(2), m.group(3), float(m.group(4))
            pids.add(pid)
            what = ("journal" if "/journal/log-" in path else
                    "resume state" if "/push/" in path and ".json.tmp" in path else
                    "directory" if os.path.isdir(path) or path.endswith("/push") else
                    "other " + os.path.basename(path))
            stats[("loop" if pid == main_pid else "other", what, call)].append(t)
        total = 0.0
        for (thread, what, call), v in sorted(stats.items()):
            v.sort()
            total += sum(v) if thread == "loop" else 0
            print("%-5s %-14s %-9s n=%4d  total %7.1f ms  median %6.0f us  p90 %6.0f us"
                  "  max %6.0f us  per save %4.1f calls, %5.2f ms" %
                  (thread, what, call, len(v), sum(v) * 1e3, v[len(v) // 2] * 1e6,
                   v[int(len(v) * 0.9)] * 1e6, v[-1] * 1e6, len(v) / saves,
                   sum(v) * 1e3 / saves))
        print("saves: %d, strategy %s; loop thread in fsync/fdatasync: %.1f ms per save; "
              "threads that synced: %d" % (saves, strategy, total * 1e3 / saves, len(pids)))
    finally:
        emu.stop()
        itlib.cleanup(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
