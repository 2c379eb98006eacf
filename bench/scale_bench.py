"""Scale benchmark (the proof issue): one job watching a tree of FILES files
in DIRS directories (default 100,000 in 10,000), with inotify and with
polling, next to inotifywait and a naive polling loop on the same tree.

The watch root is a fake-trainer output dir (one checkpoint, marked complete
long ago) plus `data/`: sqrt(DIRS) folders of (DIRS - sqrt(DIRS)) / sqrt(DIRS)
folders each, FILES 64-byte files spread over the leaves. The tree is created
just before, so it is in the dentry/inode cache for every contender.

  hubsync inotify   start-up = from exec to the daemon's "checkpoint-N ready"
                    line, which it prints only after the first full scan of the
                    tree (the existing save is found by that scan); also the
                    time when the inotify watches held (`inotify wd:` lines in
                    /proc/PID/fdinfo) first reached their final count; watches,
                    CPU time spent to get there, and peak RSS (VmHWM) after the
                    checkpoint's push.
  hubsync poll      the same start-up signal (first walk); then PASSES more
                    passes at POLL seconds: CPU per pass (schedstat run time of
                    all threads) and wall per pass (span of run-time growth
                    sampled every 5 ms; growth less than half an interval apart
                    is one pass).
  inotifywait -m -r start-up = until "Watches established."; watches, peak RSS.
  naive poll        bench/naive_poll.py at the same interval: first walk,
                    then CPU per pass and its own timing of a walk.
Checks: every directory watched (watches = directories, give or take the
daemon's own .hubsync/ folder), peak RSS < 64 MiB in both modes, start-up
within START_LIMIT seconds, and a poll pass within 5 % of one CPU at POLL.

    /usr/bin/python3 bench/scale_bench.py [--quick] [--files N] [--dirs N] [--poll-interval S] [--passes K]
    --quick: 2,000 files in 200 directories, poll interval 1 s, 2 passes (ctest smoke run)
    env: HUBSYNC_BIN, HS_SOURCE_DIR, BENCH_DIR (/tmp), HS_KEEP=1 keeps the work dir
"""

import argparse
import math
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as P  # noqa: E402

RSS_LIMIT_MIB = 64
START_LIMIT = 30.0  # seconds, start-up of a 100k-file tree (either mode)
POLL_CPU_LIMIT = 0.05  # share of one CPU a poll pass may take at the interval
READY_RX = r"job \S+: checkpoint-\d+ ready \("


def make_tree(work, n_files, n_dirs):
    out = os.path.join(work, "out")
    subprocess.run([P.PY, P.FT, "--out", out, "--quiet", "--epochs", "1", "--model-size", "256K",
                    "--tokenizer-size", "4K", "--no-tensorboard"], check=True)
    past = time.time() - 3600
    for r, ds, fs in os.walk(out):
        for x in ds + fs:
            os.utime(os.path.join(r, x), (past, past), follow_symlinks=False)
    mids = max(1, int(math.sqrt(n_dirs)))
    per_mid = max(1, (n_dirs - mids) // mids)
    leaves = []
    data = os.path.join(out, "data")
    os.mkdir(data)
    for m in range(mids):
        md = os.path.join(data, "shard%04d" % m)
        os.mkdir(md)
        for k in range(per_mid):
            ld = os.path.join(md, "part%04d" % k)
            os.mkdir(ld)
            leaves.append(ld)
    body = b"x" * 63 + b"\n"
    for i in range(n_files):
        with open(os.path.join(leaves[i % len(leaves)], "sample%06d.json" % i), "wb") as f:
            f.write(body)
    return out


def count_tree(root, skip=".hubsync"):
    dirs, files = 1, 0
    for r, ds, fs in os.walk(root):
        if r == root:
            ds[:] = [d for d in ds if d != skip]
        dirs += len(ds)
        files += len(fs)
    return dirs, files


def schedstat_ns(pid):
    """Run time (ns) of all live threads, from /proc/PID/task/*/schedstat."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            continue
    return total


def watch_until_stable(proc, deadline):
    """Sample the watch count every 20 ms until the ready line (or deadline):
    returns (time the count first reached its last value, last value)."""
    last, t_last = -1, None
    while time.monotonic() < deadline and proc.p.poll() is None:
        try:
            n = P.inotify_watches(proc.pid)
        except OSError:
            break
        if n != last:
            last, t_last = n, time.monotonic()
        with proc.cond:
            done = any(__import__("re").search(READY_RX, ln) for _, ln in proc.lines)
        if done:
            break
        time.sleep(0.02)
    return t_last, last


def daemon(work, emu, out, mode, args):
    sub = os.path.join(work, "daemon-" + mode)
    os.makedirs(sub)
    j = {"name": "big", "watch": out, "hub_model_id": "alice/scale-" + mode, "watch_mode": mode}
    if mode == "poll":
        j["poll_interval_seconds"] = args.poll_interval
    cfg = P.itlib.write_config(sub, emu, [j])
    d = P.Proc([P.BIN, "daemon", "--config", cfg], os.path.join(sub, "daemon.log"),
               env=P.hubsync_env())
    r = {"label": "hubsync " + mode}
    try:
        t_w, n_w = (None, 0)
        if mode == "inotify":
            t_w, n_w = watch_until_stable(d, d.t0 + 120)
        t_ready = d.wait_line(READY_RX, 300)
        if t_ready is None:
            raise RuntimeError("%s: no ready line; see %s" % (r["label"], d.log.name))
        r["start"] = t_ready - d.t0
        r["cpu_start"] = P.cpu_seconds(d.pid)
        r["watches_at"] = (t_w - d.t0) if t_w else None
        if d.wait_line(r"checkpoint-\d+ committed", 120) is None:
            raise RuntimeError("%s: the existing checkpoint was not pushed" % r["label"])
        r["watches"] = P.inotify_watches(d.pid)
        if mode == "poll":
            r.update(poll_passes(d.pid, args))
        r["hwm_kb"] = P.status_kb(d.pid, "VmHWM")
        r["rss_kb"] = P.status_kb(d.pid, "VmRSS")
        r["dirs_now"] = count_tree(out, skip="")[0]
    finally:
        rc = d.stop()
        if rc not in (0, None):
            print("%s: daemon exited %s" % (r["label"], rc), file=sys.stderr)
    return r


def poll_passes(pid, args):
    """CPU and wall of PASSES poll passes, sampling run time every 5 ms."""
    t_end = time.monotonic() + args.passes * args.poll_interval + 0.5
    s0, c0 = schedstat_ns(pid), time.monotonic()
    bursts, prev, cur = [], s0, None
    while time.monotonic() < t_end:
        time.sleep(0.005)
        now, t = schedstat_ns(pid), time.monotonic()
        if now > prev:
            if cur and t - cur[1] < args.poll_interval / 2:  # one pass, even if preempted
                cur[1] = t
            else:
                cur = [t, t]
                bursts.append(cur)
        prev = now
    cpu = (prev - s0) / 1e9
    walls = [b[1] - b[0] for b in bursts]
    n = max(1, len(bursts))
    return {"passes": len(bursts), "cpu_per_pass": cpu / n, "wall_per_pass": max(walls or [0]),
            "window": time.monotonic() - c0}


def peer_inotifywait(work, out):
    d = P.Proc(["inotifywait", "-m", "-r", "-o", "/dev/null", out],
               os.path.join(work, "inotifywait.log"))
    try:
        t = d.wait_line("Watches established", 300)
        if t is None:
            raise RuntimeError("inotifywait did not establish its watches")
        return {"label": "inotifywait -m -r", "start": t - d.t0, "watches": P.inotify_watches(d.pid),
                "hwm_kb": P.status_kb(d.pid, "VmHWM"), "cpu_start": P.cpu_seconds(d.pid)}
    finally:
        d.stop()


def peer_naive(work, out, args):
    here = os.path.dirname(os.path.abspath(__file__))
    d = P.Proc([P.PY, os.path.join(here, "naive_poll.py"), str(args.poll_interval), out],
               os.path.join(work, "naive_poll.log"))
    try:
        t = d.wait_line("^ready", 300)
        if t is None:
            raise RuntimeError("naive_poll did not finish its first walk")
        r = {"label": "naive poll", "start": t - d.t0, "watches": 0,
             "cpu_start": P.cpu_seconds(d.pid)}
        time.sleep(0.2)
        r.update(poll_passes(d.pid, args))
        r["hwm_kb"] = P.status_kb(d.pid, "VmHWM")
    finally:
        d.stop()
    for _, line in d.lines:
        if line.startswith("walked"):  # "walked N entries in S s": its own timing of the last walk
            r["wall_per_pass"] = float(line.split()[4])
    return r




def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--files", type=int)
    ap.add_argument("--dirs", type=int)
    ap.add_argument("--poll-interval", type=float)
    ap.add_argument("--passes", type=int)
    args = ap.parse_args()
    args.files = args.files or (2000 if args.quick else 100000)
    args.dirs = args.dirs or (200 if args.quick else 10000)
    args.poll_interval = args.poll_interval or (1 if args.quick else 10)
    args.passes = args.passes or (2 if args.quick else 3)
    if not os.access(P.BIN, os.X_OK):
        sys.exit("scale_bench: %s is not executable (set HUBSYNC_BIN)" % P.BIN)
    chk = P.Checks("scale_bench")
    work = P.work_dir("hs-scalebench.")
    print("machine:", P.machine())
    print("hubsync:", P.BIN, flush=True)
    emu = P.itlib.Emu(work)
    rows = []
    try:
        t = time.monotonic()
        out = make_tree(work, args.files, args.dirs)
        dirs, files = count_tree(out)
        print("tree: %d directories, %d files (made in %.1f s)" % (dirs, files,
                                                                  time.monotonic() - t), flush=True)
        rows.append(daemon(work, emu, out, "inotify", args))
        rows.append(daemon(work, emu, out, "poll", args))
        if shutil.which("inotifywait"):
            rows.append(peer_inotifywait(work, out))
        rows.append(peer_naive(work, out, args))
    finally:
        emu.stop()

    def f(v, fmt):
        return fmt % v if v is not None else "-"

    print()
    print(P.table(["contender", "start-up s", "watches complete at s", "CPU s to start",
                   "inotify watches", "peak RSS MiB"],
                  [[r["label"], f(r["start"], "%.2f"), f(r.get("watches_at"), "%.2f"),
                    f(r["cpu_start"], "%.2f"), r["watches"], f(r["hwm_kb"] / 1024, "%.1f")]
                   for r in rows]))
    print()
    print(P.table(["poller", "interval s", "passes seen", "CPU per pass ms", "wall per pass ms (max)",
                   "CPU % at interval"],
                  [[r["label"], "%g" % args.poll_interval, r["passes"],
                    "%.0f" % (r["cpu_per_pass"] * 1000), "%.0f" % (r["wall_per_pass"] * 1000),
                    "%.2f%%" % (100 * r["cpu_per_pass"] / args.poll_interval)]
                   for r in rows if "passes" in r]))
    print()
    by = {r["label"]: r for r in rows}
    ino, poll = by["hubsync inotify"], by["hubsync poll"]
    if "inotifywait -m -r" in by:
        iw = by["inotifywait -m -r"]
        print("- start-up: hubsync inotify / inotifywait = %.2fx; peak RSS hubsync %.1f MiB, "
              "inotifywait %.1f MiB" % (ino["start"] / iw["start"], ino["hwm_kb"] / 1024,
                                        iw["hwm_kb"] / 1024))
    nv = by["naive poll"]
    print("- poll pass CPU: naive poll / hubsync poll = %.2fx" % (
        nv["cpu_per_pass"] / poll["cpu_per_pass"] if poll["cpu_per_pass"] else float("inf")))
    chk("hubsync inotify watches every directory: %d watches for %d directories "
        "(%d with the daemon's .hubsync/)" % (ino["watches"], dirs, ino["dirs_now"]),
        dirs <= ino["watches"] <= ino["dirs_now"] + 1)
    limit = START_LIMIT * max(args.files / 100000, 0.1)
    for r in (ino, poll):
        chk("%s: peak RSS %.1f MiB < %d MiB" % (r["label"], r["hwm_kb"] / 1024, RSS_LIMIT_MIB),
            r["hwm_kb"] < RSS_LIMIT_MIB * 1024, limit=True)
        chk("%s: start-up %.2f s <= %.1f s" % (r["label"], r["start"], limit), r["start"] <= limit, limit=True)
    chk("hubsync poll: %d passes seen in %.1f s (interval %g s)" % (
        poll["passes"], poll["window"], args.poll_interval), poll["passes"] >= 1)
    chk("hubsync poll: a pass takes %.0f ms of CPU <= %.0f%% of the interval" % (
        poll["cpu_per_pass"] * 1000, POLL_CPU_LIMIT * 100),
        poll["cpu_per_pass"] <= POLL_CPU_LIMIT * args.poll_interval, limit=True)
    return chk.finish()


if __name__ == "__main__":
    sys.exit(P.run_then_clean(main))
