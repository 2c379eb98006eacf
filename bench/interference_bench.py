"""Training-interference benchmark (issue 8): how much a push slows down a
CPU- and I/O-bound training stand-in (bench/standin.py: one worker per CPU,
each streaming a data file from disk and doing fixed integer work) running
beside it, for
  alone       the stand-in by itself;
  hubsync     `hubsync daemon` with its defaults (since 0c71bc8 it lowers its
              own priority: nice +10, I/O best-effort 7) pushing a checkpoint
              the fake trainer wrote (existing_checkpoints: latest, so the
              push starts at daemon start; the stand-in starts at READY);
  hubsync-same the same daemon at the stand-in's priority
              (HUBSYNC_NICE=0 HUBSYNC_IO_PRIORITY=unchanged: the defaults
              before 0c71bc8);
  js          the @huggingface/hub client (bench/push_js.mjs) uploading the
              same checkpoint folder; the stand-in starts with it.
Each push goes to a fresh Hub emulator (--discard, so nothing is deduplicated
and the disk holds no copy). Repetitions are interleaved (alone, hubsync,
hubsync-same, js, alone, ...) so that drifting machine load hits all alike;
slowdown = median stand-in wall time beside a push / median alone.

--boost N runs the whole measurement (stand-in, daemon, emulator, node) at
nice -N (root only) so that on a shared machine the other users' load does
not hide the interference; the priorities *between* stand-in and pusher stay
as in production (hubsync's nice is an increment).

    /usr/bin/python3 bench/interference_bench.py [--quick] [--size-mib 2048]
        [--reps 3] [--iters N] [--boost N] [--no-js] [--json FILE] [--keep]
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pushlib as B  # noqa: E402

STANDIN = os.path.join(B.HERE, "standin.py")
PUSH_JS = os.path.join(B.HERE, "push_js.mjs")


def make_checkpoint(work, size_mib):
    out = os.path.join(work, "out")
    cmd = [B.PY, B.FT, "--out", out, "--quiet", "--layout", "trainer", "--model-size",
           "%dM" % size_mib, "--shards", "2", "--optimizer-factor", "0", "--save-only-model",
           "--epochs", "1", "--steps-per-epoch", "10", "--save-steps", "10", "--no-final-save",
           "--eval-strategy", "no"]
    subprocess.run(cmd, check=True, timeout=1800)
    ck = os.path.join(out, "checkpoint-10")
    total = sum(os.path.getsize(os.path.join(ck, f)) for f in os.listdir(ck))
    return out, ck, total


def standin(args_si):
    p = subprocess.Popen([B.PY, STANDIN] + args_si, stdout=subprocess.PIPE, text=True)
    return p


def standin_result(p):
    out = p.communicate()[0]
    if p.returncode != 0:
        raise RuntimeError("stand-in failed (%s)" % p.returncode)
    return json.loads(out.strip().splitlines()[-1])


def run_alone(args_si):
    return {"wall": standin_result(standin(args_si))["wall"]}


def run_hubsync(work, out, args_si, binary, prefix=(), env=None):
    emu = B.Emu(os.path.join(work, "emu"), "--discard")
    job = {"name": "big", "watch": out, "hub_model_id": "alice/big",
           "hub_strategy": "every_save", "existing_checkpoints": "latest"}
    cfg = B.write_config(work, emu, [job])
    saved = B.BIN
    B.BIN = binary
    try:
        d = B.Daemon(cfg, env=env, prefix=prefix)
    finally:
        B.BIN = saved
    res = {}
    try:
        r = d.wait_line(lambda s: " ready (" in s, 120)
        if not r:
            raise RuntimeError("no READY:\n" + d.log_text())
        si = standin(args_si)
        t_si = time.time()
        res["wall"] = standin_result(si)["wall"]
        c = d.wait_line(lambda s: " committed: " in s, 900)
        if not c:
            raise RuntimeError("no commit:\n" + d.log_text())
        res["push_s"] = c[0] - r[0]
        res["push_after_standin_s"] = c[0] - (t_si + res["wall"])
        res["pusher_cpu"] = d.cpu_seconds()
        res["emu_cpu"] = emu.cpu_seconds()
        res["priority_line"] = next((s for _, s in d.lines if "priority" in s), "")
    finally:
        rc = d.stop()
        emu.stop()
    if rc not in (0, None):
        raise RuntimeError("daemon exited %s" % rc)
    return res


def run_js(work, ck, args_si):
    emu = B.Emu(os.path.join(work, "emu"), "--discard")
    res = {}
    try:
        emu.create_repo("alice/big-js")
        t0 = time.time()
        node = subprocess.Popen(["node", PUSH_JS, emu.url, B.ALICE, "alice/big-js", ck],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        si = standin(args_si)
        res["wall"] = standin_result(si)["wall"]
        t_si_end = time.time()
        _, status, ru = os.wait4(node.pid, 0)
        node.returncode = os.waitstatus_to_exitcode(status)
        t1 = time.time()
        err = node.stderr.read().decode(errors="replace")
        if node.returncode != 0:
            raise RuntimeError("push_js.mjs failed: %s" % err[-500:])
        res["push_s"] = t1 - t0
        res["push_after_standin_s"] = t1 - t_si_end
        res["pusher_cpu"] = ru.ru_utime + ru.ru_stime
        res["emu_cpu"] = emu.cpu_seconds()
    finally:
        emu.stop()
    return res


def js_available():
    if not shutil.which("node"):
        return False
    return os.path.isdir(os.path.join(B.SRC, "tests", "js", "node_modules", "@huggingface", "hub"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="64 MiB, short stand-in, 1 repetition")
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--iters", type=int, default=100, help="stand-in iterations per worker")
    ap.add_argument("--work", type=int, default=60000, help="stand-in LCG rounds per iteration")
    ap.add_argument("--chunk", type=int, default=262144, help="stand-in bytes read per iteration")
    ap.add_argument("--boost", type=int, default=0, help="run everything at nice -N (root)")
    ap.add_argument("--no-js", action="store_true")
    ap.add_argument("--fsync-probe", action="store_true",
                    help="also hubsync with fsync/fdatasync made no-ops (bench/nofsync.c)")
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.size_mib, a.reps, a.iters, a.work = 64, 1, 20, 30000
    if a.boost:
        os.nice(-a.boost)
    print("machine: " + B.machine(), flush=True)
    contenders = ["alone", "hubsync", "hubsync-same"]
    if not a.no_js:
        if js_available():
            contenders.append("js")
        else:
            print("js: skipped (node or tests/js/node_modules/@huggingface/hub missing)")
    if a.fsync_probe:
        contenders.insert(2, "hubsync-nofsync")
    labels = {
        "alone": "stand-in alone",
        "hubsync": "beside hubsync daemon (defaults: nice +10, I/O best-effort 7)",
        "hubsync-same": "beside hubsync daemon at the stand-in's priority (HUBSYNC_NICE=0)",
        "js": "beside @huggingface/hub uploadFiles",
        "hubsync-nofsync": "beside hubsync daemon, current defaults, fsync made a no-op (probe)",
    }
    root = tempfile.mkdtemp(prefix="hs-interf-", dir=os.environ.get("BENCH_DIR", "/tmp"))
    nofsync = os.path.join(root, "nofsync.so")
    if a.fsync_probe:
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", nofsync,
                        os.path.join(B.HERE, "nofsync.c")], check=True)
    data = os.path.join(root, "data.bin")
    subprocess.run([B.PY, STANDIN, "--make-data", data, "--size", "64" if a.quick else "512"],
                   check=True)
    out, ck, total = make_checkpoint(root, a.size_mib)
    print("checkpoint: %s, %d bytes; stand-in: %d workers x %d iterations (%d KiB read + %d "
          "rounds)" % (ck, total, os.cpu_count(), a.iters, a.chunk >> 10, a.work), flush=True)
    os.sync()  # the checkpoint's writeback is not part of any run
    args_si = ["--data", data, "--iters", str(a.iters), "--work", str(a.work), "--chunk",
               str(a.chunk)]
    runs = {c: [] for c in contenders}
    bad = []
    n = 0
    for rep in range(a.reps):
        for c in contenders:
            work = os.path.join(root, "run%d" % n)
            n += 1
            os.makedirs(work)
            try:
                if c == "alone":
                    r = run_alone(args_si)
                elif c == "hubsync":
                    r = run_hubsync(work, out, args_si, B.BIN)
                elif c == "hubsync-nofsync":
                    r = run_hubsync(work, out, args_si, B.BIN, env={"LD_PRELOAD": nofsync})
                elif c == "hubsync-same":
                    r = run_hubsync(work, out, args_si, B.BIN,
                                    env={"HUBSYNC_NICE": "0", "HUBSYNC_IO_PRIORITY": "unchanged"})
                else:
                    r = run_js(work, ck, args_si)
            except Exception as e:  # noqa: BLE001 — record and go on
                bad.append("%s (rep %d): %s" % (c, rep + 1, e))
                print("FAILED %s: %s" % (c, e), file=sys.stderr, flush=True)
                continue
            r["load"] = os.getloadavg()[0]
            runs[c].append(r)
            print("  rep %d %-12s stand-in %.2f s%s" % (
                rep + 1, c, r["wall"], "" if c == "alone" else
                ", push %.1f s (ended %+.1f s after the stand-in), pusher CPU %.1f s, emulator "
                "CPU %.1f s" % (r["push_s"], r["push_after_standin_s"], r["pusher_cpu"],
                                r["emu_cpu"])), flush=True)
            shutil.rmtree(work, ignore_errors=True)
    base = statistics.median([r["wall"] for r in runs["alone"]]) if runs["alone"] else None
    print()
    print("| run | stand-in wall s (median of %d) | slowdown | push wall s | pusher CPU s |"
          " emulator CPU s | push outlasted the stand-in |" % a.reps)
    print("|---|---:|---:|---:|---:|---:|---|")
    for c in contenders:
        rs = runs[c]
        if not rs:
            print("| %s | — | — | — | — | — | — |" % labels[c])
            continue
        w = statistics.median([r["wall"] for r in rs])
        if c == "alone":
            print("| %s | %.2f | 1.00 | — | — | — | — |" % (labels[c], w))
            continue
        med = lambda k: statistics.median([r[k] for r in rs])  # noqa: E731
        outl = sum(1 for r in rs if r["push_after_standin_s"] >= 0)
        print("| %s | %.2f | %.2fx | %.1f | %.1f | %.1f | %d of %d |" % (
            labels[c], w, w / base if base else float("nan"), med("push_s"), med("pusher_cpu"),
            med("emu_cpu"), outl, len(rs)))
    print()
    print("- pushed: %d bytes (%d MiB of weights in 2 shards + small files); load average "
          "during the runs %.1f–%.1f" % (total, a.size_mib, min(r["load"] for v in runs.values()
                                                             for r in v) if n else 0,
                                         max(r["load"] for v in runs.values() for r in v) if n
                                         else 0))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"bytes": total, "runs": runs}, f, indent=1)
    # sanity checks (the --quick smoke test)
    for c in contenders:
        if len(runs[c]) != a.reps:
            bad.append("%s: %d of %d runs completed" % (c, len(runs[c]), a.reps))
        for r in runs[c]:
            if not (r["wall"] > 0):
                bad.append("%s: stand-in wall %r" % (c, r["wall"]))
            if c != "alone" and not (r["pusher_cpu"] > 0 and r["push_s"] > 0):
                bad.append("%s: push not measured" % c)
    if a.keep or bad:
        print("work directory kept: %s" % root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    print("interference_bench: %d passed, %d failed" % (
        sum(len(v) for v in runs.values()), len(bad)))
    for b in bad:
        print("  " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
