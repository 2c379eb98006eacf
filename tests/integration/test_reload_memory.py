#!/usr/bin/env python3
"""SIGHUP does not grow memory: 200 reloads of a config whose jobs carry
large include lists (about 0.3 MB per loaded config), a job removed and
added again at every other reload, leave the daemon's RSS where 20 reloads
left it. The service frees a replaced config once nothing of a stopped job
points into it, and a removed job once its handles are closed and nothing
of it is in flight (before: every config and removed job was kept until
exit, ~60 MB here). Each SIGHUP is waited for ("config reloaded" in the log)
before the next."""

import json
import os
import signal
import sys

import itlib

PATTERNS = ["run-%04d-abcdefghijklmnopqrstuvwxyz/*.bin" % i for i in range(3000)]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_reload_memory(t):
    work = itlib.workdir("reload-mem")
    emu = itlib.Emu(work)
    p = None
    try:
        outs = [os.path.join(work, n) for n in ("out-a", "out-b")]
        for o in outs:
            os.makedirs(o)
        both = [itlib.job("a", outs[0], "alice/a", include=PATTERNS),
                itlib.job("b", outs[1], "alice/b", include=PATTERNS)]
        cfg = itlib.write_config(work, emu, both)
        configs = []
        for jobs in (both, both[:1]):
            c = json.load(open(cfg))
            c["jobs"] = jobs
            configs.append(c)
        logp = os.path.join(work, "log")
        log = open(logp, "w")
        p = itlib.popen_hubsync("daemon", "--config", cfg, log=log)
        t.check(itlib.wait_for(lambda: "hubsync " in open(logp).read(), 20), "daemon started")
        done = 0

        def hup(n):
            nonlocal done
            for _ in range(n):
                with open(cfg + ".tmp", "w") as f:
                    json.dump(configs[done % 2 == 0], f)
                os.rename(cfg + ".tmp", cfg)
                p.send_signal(signal.SIGHUP)
                done += 1
                if not itlib.wait_for(lambda: open(logp).read().count("config reloaded:") >= done, 20, 0.01):
                    return False
            return True

        t.check(hup(20), "20 reloads logged")
        before = rss_kib(p.pid)
        t.check(hup(200), "200 more reloads logged")
        after = rss_kib(p.pid)
        text = open(logp).read()
        t.check(text.count("job b removed") >= 100 and text.count("job b added") >= 100,
                "job b removed and added again at every other reload")
        t.check(after - before < 8 * 1024,
                "RSS flat over 200 reloads: %d KiB after 20, %d KiB after 220" % (before, after))
        print("RSS after 20 reloads %d KiB, after 220 %d KiB" % (before, after))
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(15) == 0, "clean stop")
        log.close()
    finally:
        if p and p.poll() is None:
            p.kill()
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_reload_memory")
    t.run(test_reload_memory)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
