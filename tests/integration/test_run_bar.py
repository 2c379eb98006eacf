#!/usr/bin/env python3
"""A progress bar on `run` only with -v on a terminal (issue 15 item 7).

In a pty at widths 60 and 120, `hubsync run -v` draws its pushes as one
line labelled "job NAME": every redraw is "\\r" + a line shorter than the
terminal (it never wraps) + erase-to-end, and what follows a drawn bar
starts with "\\r" (a log line or a redraw: never glued to the bar). Without
-v on the same terminal, and with -v but stderr not a terminal, no bar is
drawn. The token never appears."""

import os
import sys


import itlib


def run_in_pty(args, env, width):
    e = dict(os.environ, **env)
    e.pop("HF_TOKEN", None)
    return itlib.run_in_pty([itlib.BIN] + args, e, width, wait=90)


def bar_draws(text):
    return [x for x in text.split("\r") if x.startswith("job j: ") and x.endswith("\x1b[K")]


def test_bar(t):
    work = itlib.workdir("run-bar")
    emu = itlib.Emu(work)
    try:
        for n, width in enumerate((60, 120)):
            out = os.path.join(work, "out%d" % n)
            cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/bar%d" % n)],
                                     bandwidth_limit_mbps=24, state_dir=out + ".state")
            train = itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "20",
                                      "--save-steps", "10", "--step-time", "0.01",
                                      "--model-size", "4M")
            rc, text = run_in_pty(["run", "-v", "--config", cfg, "--"] + train, {}, width)
            t.check(rc == 0, "width %d: run -v exit %d\n%s" % (width, rc, text[-1500:]))
            draws = bar_draws(text)
            t.check(len(draws) >= 3, "width %d: the bar is drawn (%d times): %r" %
                    (width, len(draws), text[-800:]))
            long = [x for x in draws if len(x) - 3 >= width]
            t.check(not long, "width %d: no bar as wide as the terminal: %r" % (width, long[:2]))
            t.check(any("upload:" in x for x in draws),
                    "width %d: the upload phase is shown: %r" % (width, draws[-3:]))
            glued = [i for i in range(len(text)) if text.startswith("\x1b[K", i) and
                     i + 3 < len(text) and text[i + 3] not in "\r\n" and
                     text.rfind("\r", 0, i) >= 0 and
                     text[text.rfind("\r", 0, i) + 1:].startswith("job j: ")]
            t.check(not glued, "width %d: nothing is written after a bar without \\r first: %r" %
                    (width, [text[i - 40:i + 40] for i in glued[:2]]))
            t.check(itlib.ALICE not in text, "width %d: no token" % width)
        # the same terminal without -v: no bar
        out = os.path.join(work, "out-quiet")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/bar-novb")],
                                 bandwidth_limit_mbps=24, state_dir=out + ".state")
        train = itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "20",
                                  "--save-steps", "10", "--step-time", "0.01",
                                  "--model-size", "4M")
        rc, text = run_in_pty(["run", "--config", cfg, "--"] + train, {}, 120)
        t.check(rc == 0 and "pushing" in text, "without -v: run exit %d" % rc)
        t.check(not bar_draws(text) and "job j: upload:" not in text,
                "without -v: no bar: %r" % text[-600:])
        # -v without a terminal: no bar either
        out = os.path.join(work, "out-pipe")
        cfg = itlib.write_config(work, emu, [itlib.job("j", out, "alice/bar-pipe")],
                                 bandwidth_limit_mbps=24, state_dir=out + ".state")
        train = itlib.trainer_cmd(out, "--epochs", "1", "--steps-per-epoch", "20",
                                  "--save-steps", "10", "--step-time", "0.01",
                                  "--model-size", "4M")
        r = itlib.hubsync("run", "-v", "--config", cfg, "--", *train, timeout=120)
        t.check(r.returncode == 0 and " debug: " in r.stderr, "-v, not a terminal: exit %d" %
                r.returncode)
        t.check("job j: upload:" not in r.stderr and "\x1b[K" not in r.stderr,
                "-v, not a terminal: no bar: %r" % r.stderr[-600:])
    finally:
        emu.stop()
        itlib.cleanup(work)


def main():
    t = itlib.Suite("integration_run_bar")
    t.run(test_bar)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
