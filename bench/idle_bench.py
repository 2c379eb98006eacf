"""Idle benchmark (the proof issue): what an idle `hubsync daemon` watching
JOBS jobs costs over a window of SECONDS, next to two peers watching the same
directories in the same run.

Each job watches its own output dir, already written by the fake trainer
(transformers Trainer layout, 3 checkpoints; 1 with --quick). The daemon starts, pushes the
newest existing checkpoint of each job to the Hub emulator
(existing_checkpoints "latest"), and once `hubsync status --json` shows every
job idle with one commit, it is left alone for a moment and then measured for
the window: CPU time (utime + stime of all threads, /proc/PID/stat),
voluntary + involuntary context switches summed over its threads
(/proc/PID/task/*/status), and `perf stat -e task-clock,context-switches,
cpu-migrations -p PID sleep SECONDS` over the same window. Contenders, one
after the other:
  hubsync inotify        watch_mode "inotify"
  hubsync poll           watch_mode "poll", poll_interval_seconds POLL (10)
  inotifywait -m -r      inotify-tools on the same dirs (events to /dev/null)
  naive poll (1 s)       bench/naive_poll.py: os.scandir + stat of every
                         entry every second, what a watcher without inotify does
Checks (full and --quick runs): the inotify daemon uses at most 0.1 % of one
CPU and wakes up at most once per second on average (context switches /
window); the poll daemon at most 1 % of one CPU.

    /usr/bin/python3 bench/idle_bench.py [--quick] [--seconds S] [--jobs N] [--poll-interval P]
    --quick: 2 jobs, 2 s windows, poll interval 1 s (the ctest smoke run)
    env: HUBSYNC_BIN, HS_SOURCE_DIR, BENCH_DIR (/tmp), HS_KEEP=1 keeps the work dir
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as P  # noqa: E402

IDLE_CPU_LIMIT = 0.001  # share of one CPU, inotify daemon
IDLE_WAKE_LIMIT = 1.0  # context switches per second, inotify daemon
POLL_CPU_LIMIT = 0.01  # share of one CPU, poll daemon


def make_outputs(work, n, epochs):
    dirs = []
    for i in range(n):
        d = os.path.join(work, "runs", "job%02d" % i)
        subprocess.run([P.PY, P.FT, "--out", d, "--quiet", "--seed", str(i), "--model-size", "256K",
                        "--tokenizer-size", "4K", "--epochs", str(epochs)], check=True)
        dirs.append(d)
    # old enough that the existing saves are complete at once (marker quiet time)
    past = time.time() - 60
    for d in dirs:
        for r, ds, fs in os.walk(d):
            for x in ds + fs:
                os.utime(os.path.join(r, x), (past, past), follow_symlinks=False)
    return dirs


def measure(pid, seconds):
    s0 = P.Sample(pid)
    perf = P.Perf(pid, seconds)
    if perf.ok:
        pr = perf.result()
    else:
        time.sleep(seconds)
        pr = None
    s1 = P.Sample(pid)
    return {"window": s1.t - s0.t, "cpu_ms": (s1.cpu - s0.cpu) * 1000, "vcs": s1.vcs - s0.vcs,
            "ivcs": s1.ivcs - s0.ivcs, "perf": pr, "rss_kb": P.status_kb(pid, "VmRSS"),
            "threads": len(os.listdir("/proc/%d/task" % pid))}


def run_daemon(work, emu, dirs, mode, args, label):
    jobs = []
    for i, d in enumerate(dirs):
        j = {"name": "job%02d" % i, "watch": d, "hub_model_id": "alice/idle-%s-%02d" % (mode, i),
             "watch_mode": mode}
        if mode == "poll":
            j["poll_interval_seconds"] = args.poll_interval
        jobs.append(j)
    sub = os.path.join(work, "daemon-" + mode)
    os.makedirs(sub)
    cfg = P.itlib.write_config(sub, emu, jobs)
    d = P.Proc([P.BIN, "daemon", "--config", cfg], os.path.join(sub, "daemon.log"),
               env=P.hubsync_env())
    try:
        ok = P.itlib.wait_for(lambda: all_pushed(cfg, len(dirs)), 120, 0.25)
        if not ok:
            raise RuntimeError("%s: the daemon did not push the existing checkpoints; see %s" %
                               (label, os.path.join(sub, "daemon.log")))
        time.sleep(args.settle)
        n0 = len(d.lines)
        m = measure(d.pid, args.seconds)
        m["log_lines"] = len(d.lines) - n0  # an idle daemon has nothing to say
        return m
    finally:
        rc = d.stop()
        if rc not in (0, None):
            print("%s: daemon exited %s" % (label, rc), file=sys.stderr)


def all_pushed(cfg, n):
    r = P.itlib.hubsync("status", "--config", cfg, "--json", timeout=20)
    if r.returncode != 0:
        return False
    jobs = json.loads(r.stdout)["jobs"]
    return len(jobs) == n and all(j["committed"] >= 1 and j["state"] == "idle" for j in jobs)


def run_peer(work, argv, ready_rx, label, args):
    d = P.Proc(argv, os.path.join(work, label.replace(" ", "_") + ".log"))
    try:
        if d.wait_line(ready_rx, 120) is None:
            raise RuntimeError("%s did not get ready" % label)
        time.sleep(args.settle)
        return measure(d.pid, args.seconds)
    finally:
        d.stop()


def fmt_row(label, m):
    pr = m["perf"] or {}
    w = m["window"]
    cs = m["vcs"] + m["ivcs"]
    return [label, "%.1f" % w, "%.0f" % m["cpu_ms"], "%.3f%%" % (m["cpu_ms"] / 10 / w),
            "%d + %d" % (m["vcs"], m["ivcs"]), "%.2f" % (cs / w),
            "%.2f" % pr["task-clock"] if pr else "-",
            "%d" % pr["context-switches"] if pr else "-",
            "%d" % pr["cpu-migrations"] if pr else "-", "%d" % m["threads"],
            "%.1f" % (m["rss_kb"] / 1024)]


def ratio(a, b):
    if b > 0:
        return "%.0fx" % (a / b)
    return "%g vs 0 (hubsync)" % a if a > 0 else "both 0"




def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--jobs", type=int)
    ap.add_argument("--poll-interval", type=float)
    ap.add_argument("--settle", type=float,
                    help="seconds left alone before a window (default 2; --quick 1)")
    args = ap.parse_args()
    args.seconds = args.seconds or (2 if args.quick else 60)
    args.settle = args.settle if args.settle is not None else (1 if args.quick else 2)
    args.jobs = args.jobs or (2 if args.quick else 10)
    args.poll_interval = args.poll_interval or (1 if args.quick else 10)
    if not os.access(P.BIN, os.X_OK):
        sys.exit("idle_bench: %s is not executable (set HUBSYNC_BIN)" % P.BIN)
    chk = P.Checks("idle_bench")
    work = P.work_dir("hs-idlebench.")
    print("machine:", P.machine())
    print("hubsync:", P.BIN)
    print("jobs: %d, window: %.0f s, poll interval: %g s" % (args.jobs, args.seconds,
                                                           args.poll_interval), flush=True)
    emu = P.itlib.Emu(work)
    rows = {}
    try:
        dirs = make_outputs(work, args.jobs, 1 if args.quick else 3)
        n_entries = sum(len(ds) + len(fs) for d in dirs for _, ds, fs in os.walk(d))
        print("watched: %d dirs holding %d entries" % (len(dirs), n_entries), flush=True)
        rows["hubsync inotify"] = run_daemon(work, emu, dirs, "inotify", args, "hubsync inotify")
        rows["hubsync poll (%gs)" % args.poll_interval] = run_daemon(work, emu, dirs, "poll", args,
                                                                     "hubsync poll")
        if shutil.which("inotifywait"):
            rows["inotifywait -m -r"] = run_peer(
                work, ["inotifywait", "-m", "-r", "-o", "/dev/null"] + dirs,
                "Watches established", "inotifywait -m -r", args)
        rows["naive poll (1s)"] = run_peer(work, [P.PY, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "naive_poll.py"), "1"] + dirs, "^ready", "naive poll", args)
    finally:
        emu.stop()
    print()
    print(P.table(["process", "window s", "CPU ms", "CPU %", "ctx sw vol + invol",
                   "ctx sw / s", "perf task-clock ms", "perf ctx sw", "perf migr", "threads",
                   "RSS MiB"], [fmt_row(k, v) for k, v in rows.items()]))
    print()
    ino = rows["hubsync inotify"]
    poll = [v for k, v in rows.items() if k.startswith("hubsync poll")][0]

    def cpu_ms(m):  # perf's task-clock when there, else /proc's ticks
        return m["perf"]["task-clock"] if m["perf"] else m["cpu_ms"]

    for k, v in rows.items():
        if not k.startswith("hubsync"):
            print("- %s / hubsync inotify: CPU %s, context switches %s" % (
                k, ratio(cpu_ms(v), cpu_ms(ino)),
                ratio(v["vcs"] + v["ivcs"], ino["vcs"] + ino["ivcs"])))
    np_ = rows["naive poll (1s)"]
    print("- naive poll (1s) / hubsync poll (%gs): CPU %s, context switches %s" % (
        args.poll_interval, ratio(cpu_ms(np_), cpu_ms(poll)),
        ratio(np_["vcs"] + np_["ivcs"], poll["vcs"] + poll["ivcs"])))
    w = ino["window"]
    chk("hubsync inotify: CPU %.2f ms in %.1f s <= %.1f%% of a CPU" % (
        cpu_ms(ino), w, IDLE_CPU_LIMIT * 100), cpu_ms(ino) <= IDLE_CPU_LIMIT * w * 1000, limit=True)
    cs = ino["vcs"] + ino["ivcs"]
    chk("hubsync inotify: %d context switches in %.1f s <= %.0f/s" % (cs, w, IDLE_WAKE_LIMIT),
        cs <= IDLE_WAKE_LIMIT * w)  # behaviour (no timer while idle): applied under ASan too
    chk("hubsync inotify: %d log lines in the window" % ino["log_lines"], ino["log_lines"] == 0)
    chk("hubsync poll: CPU %.2f ms in %.1f s <= %.0f%% of a CPU" % (
        cpu_ms(poll), poll["window"], POLL_CPU_LIMIT * 100),
        cpu_ms(poll) <= POLL_CPU_LIMIT * poll["window"] * 1000, limit=True)
    return chk.finish()


if __name__ == "__main__":
    sys.exit(P.run_then_clean(main))
