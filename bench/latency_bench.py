"""Detection-latency benchmark (issue 8): from a trainer's completion marker
to the daemon's READY and to the upload start, per layout, with the default
marker_quiet_seconds / settle_seconds and with tuned values.

For each scenario a fresh Hub emulator (request log) and a fresh `hubsync
daemon` (hub_strategy every_save, supersede off) watch an empty output dir;
the fake trainer then writes SAVES checkpoints, GAP seconds apart (longer
than detection + push, so one save is pushed before the next completes),
with --events logging each save's marker time. Per save:
  ready  = time of the daemon's "job J: ID ready" stderr line (stamped by
           pushlib.Daemon when its reader thread gets it: an upper bound, a few
           ms late, tens of ms on a loaded machine) − the event's marker_time;
  upload = ts of the first emulator request after the marker − marker_time
           (the emulator logs when it began handling the request).
The generic layout has no marker: there the reference is the save's last
byte (the event's "time"). All clocks are time.time() (CLOCK_REALTIME) on one
machine. Printed: a Markdown table; --json FILE writes every sample.

    /usr/bin/python3 bench/latency_bench.py [--quick] [--saves N] [--json FILE]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pushlib as B  # noqa: E402

# name, fake trainer args, job keys, reference ("marker" or "last byte")
LAYOUTS = [
    ("trainer, 1 rank", ["--layout", "trainer", "--world-size", "1"], {"world_size": 1}),
    ("trainer, 2 ranks", ["--layout", "trainer", "--world-size", "2"], {"world_size": 2}),
    ("accelerate", ["--layout", "accelerate", "--world-size", "1"], {"world_size": 1}),
    ("lightning", ["--layout", "lightning", "--save-top-k", "-1"], {}),
    ("deepspeed", ["--layout", "deepspeed", "--world-size", "1"], {"world_size": 1}),
    ("generic (settle)", ["--layout", "accelerate", "--accelerate-naming", "step",
                          "--world-size", "1"], {"layout": "generic"}),
]
DEFAULTS = {"marker_quiet": 2.0, "settle": 30.0}  # docs/design.md job key defaults


def run_scenario(work, name, ft_args, job_keys, timing, saves, gap):
    """One daemon + one fake-trainer run; returns a list of per-save samples."""
    generic = job_keys.get("layout") == "generic"
    emu = B.Emu(os.path.join(work, "emu"), "--discard")
    out = os.path.join(work, "out")
    os.makedirs(out)
    job = {"name": "lat", "watch": out, "hub_model_id": "alice/lat", "hub_strategy": "every_save",
           "supersede": False, "existing_checkpoints": "none"}
    job.update(job_keys)
    if timing:
        job.update(timing)
    cfg = B.write_config(work, emu, [job])
    d = B.Daemon(cfg)
    samples = []
    try:
        if not d.wait_line(lambda s: "control socket" in s, 20):
            raise RuntimeError("daemon did not start:\n" + d.log_text())
        ev = os.path.join(work, "events.jsonl")
        quiet = timing.get("marker_quiet_seconds", DEFAULTS["marker_quiet"]) if timing else \
            DEFAULTS["marker_quiet"]
        settle = timing.get("settle_seconds", DEFAULTS["settle"]) if timing else DEFAULTS["settle"]
        # steps of GAP/10 s, a save every 10 steps, one epoch per save
        cmd = [B.PY, B.FT, "--out", out, "--quiet", "--events", ev, "--epochs", str(saves),
               "--steps-per-epoch", "10", "--save-steps", "10", "--step-time", "%.3f" % (gap / 10),
               "--no-final-save", "--start-delay", "0.2"] + ft_args
        ft = subprocess.run(cmd, capture_output=True, text=True, timeout=saves * gap + 120)
        if ft.returncode != 0:
            raise RuntimeError("fake trainer failed: %s" % ft.stderr)
        events = [e for e in B.read_events(ev) if e.get("event") == "save" and
                  e.get("kind") == "checkpoint"]
        if len(events) != saves:
            raise RuntimeError("%d saves written, %d expected" % (len(events), saves))
        # wait for every save's commit (or give up after the latency bound)
        bound = (settle if generic else quiet) + 30
        for e in events:
            base = os.path.basename(e.get("dir") or e["name"])
            d.wait_line(lambda s, b=base: " committed" in s and b in s, bound)
        reqs = sorted(emu.requests(), key=lambda r: r["ts"])
        for i, e in enumerate(events):
            base = os.path.basename(e.get("dir") or e["name"])
            ref = e["time"] if generic else e["marker_time"]
            nxt = events[i + 1]["time"] if i + 1 < len(events) else float("inf")
            ready = next((t for t, s in d.lines if " ready (" in s and base in s.split(" ready (")[0]),
                         None)
            committed = next((t for t, s in d.lines if " committed" in s and base in s), None)
            first = next((r for r in reqs if ref <= r["ts"] < nxt and r["server"] == "hub"), None)
            samples.append({
                "layout": name, "save": e.get("dir") or e["name"], "ref": ref,
                "ready_s": None if ready is None else ready - ref,
                "upload_s": None if first is None else first["ts"] - ref,
                "first_request": None if first is None else "%s %s" % (first["method"],
                                                                       first["path"]),
                "committed_s": None if committed is None else committed - ref,
            })
    finally:
        rc = d.stop()
        emu.stop()
        with open(os.path.join(work, "daemon.log"), "w") as f:
            f.write(d.log_text())
    if rc not in (0, None):
        raise RuntimeError("daemon exited %s:\n%s" % (rc, d.log_text()[-2000:]))
    return samples


def peer_blocking(root, mib, reps):
    """Wall time of `hubsync push` of one fake-trainer checkpoint (MIB of weights) to a
    fresh emulator repo: what a synchronous push at save time (transformers'
    blocking push_to_hub) would hold the training loop for."""
    work = os.path.join(root, "peer")
    out = os.path.join(work, "out")
    subprocess.run([B.PY, B.FT, "--out", out, "--quiet", "--model-size", "%dM" % mib,
                    "--epochs", "1", "--steps-per-epoch", "10", "--save-steps", "10",
                    "--no-final-save", "--eval-strategy", "no"], check=True, timeout=600)
    ck = os.path.join(out, "checkpoint-10")
    size = sum(os.path.getsize(os.path.join(ck, f)) for f in os.listdir(ck))
    walls = []
    for i in range(reps):
        emu = B.Emu(os.path.join(work, "emu%d" % i), "--discard")
        try:
            env = dict(os.environ, HF_TOKEN=B.ALICE, HF_ENDPOINT=emu.url,
                       XDG_CACHE_HOME=os.path.join(work, "cache%d" % i))
            t0 = time.monotonic()
            r = subprocess.run([B.BIN, "push", ck, "--repo", "alice/peer"], env=env,
                               capture_output=True, text=True, timeout=600)
            walls.append(time.monotonic() - t0)
            if r.returncode != 0:
                raise RuntimeError("hubsync push failed: %s" % r.stderr[-500:])
        finally:
            emu.stop()
    return size, walls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tuned values only, 2 saves each")
    ap.add_argument("--saves", type=int, default=8, help="saves per scenario (default 8)")
    ap.add_argument("--json", help="write every sample to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work directories")
    ap.add_argument("--peer-only", action="store_true", help="only the synchronous-push peer")
    ap.add_argument("--peer-mib", type=int, default=512,
                    help="weights of the checkpoint pushed synchronously (peer; 0 = skip)")
    a = ap.parse_args()
    if not os.access(B.BIN, os.X_OK):
        B.die("latency_bench: %s is not executable (set HUBSYNC_BIN)" % B.BIN)

    tuned = {"marker_quiet_seconds": 0.5, "settle_seconds": 5}
    if a.quick:
        settings = [("tuned (quick)", {"marker_quiet_seconds": 0.3, "settle_seconds": 1})]
        saves = {n: 2 for n, _, _ in LAYOUTS}
    else:
        settings = [("default (marker_quiet 2 s, settle 30 s)", None),
                    ("tuned (marker_quiet 0.5 s, settle 5 s)", tuned)]
        saves = {n: a.saves for n, _, _ in LAYOUTS}
    print("machine: " + B.machine(), flush=True)
    print("hubsync: " + B.BIN, flush=True)
    root = tempfile.mkdtemp(prefix="hs-latency-", dir=os.environ.get("BENCH_DIR", "/tmp"))
    allsamples = []
    failed = []
    rows = []
    for sname, timing in [] if a.peer_only else settings:
        for name, ft_args, job_keys in LAYOUTS:
            generic = job_keys.get("layout") == "generic"
            t = timing or {}
            quiet = t.get("marker_quiet_seconds", DEFAULTS["marker_quiet"])
            settle = t.get("settle_seconds", DEFAULTS["settle"])
            n = saves[name]
            if generic and timing is None:
                n = max(2, n // 2)  # 30 s each
            gap = (settle if generic else quiet) + (1.0 if a.quick else 2.0)
            work = os.path.join(root, "%d" % len(rows))
            os.makedirs(work)
            try:
                s = run_scenario(work, name, ft_args, job_keys, timing, n, gap)
            except Exception as e:  # noqa: BLE001 — report and go on with the next layout
                failed.append("%s / %s: %s" % (sname, name, e))
                rows.append((sname, name, None, None, 0, n))
                print("FAILED %s / %s: %s" % (sname, name, e), file=sys.stderr, flush=True)
                continue
            for x in s:
                x["setting"] = sname
            allsamples += s
            ready = [x["ready_s"] for x in s if x["ready_s"] is not None]
            up = [x["upload_s"] for x in s if x["upload_s"] is not None]
            rows.append((sname, name, B.summary(ready) if ready else None,
                         B.summary(up) if up else None, len(ready), n))
            print("  %s / %s: %d/%d READY measured" % (sname, name, len(ready), n), flush=True)
    print()
    print("| settings | layout | saves | READY median / p90 / max (s) |"
          " upload start median / p90 / max (s) |")
    print("|---|---|---:|---|---|")
    for sname, name, r, u, got, n in rows:
        def f(x):
            return "%.3f / %.3f / %.3f" % (x["median"], x["p90"], x["max"]) if x else "—"
        print("| %s | %s | %d/%d | %s | %s |" % (sname, name, got, n, f(r), f(u)))
    if a.quick:
        a.peer_mib = min(a.peer_mib, 16)
    if a.peer_mib:
        try:
            size, walls = peer_blocking(root, a.peer_mib, 1 if a.quick else 3)
            print()
            print("peer (synchronous push at save, as transformers' blocking push_to_hub): upload "
                  "starts at 0 s but `hubsync push` of one checkpoint (%d bytes) holds the caller "
                  "for %s s (median %.2f s)" % (size, ", ".join("%.2f" % w for w in walls),
                                                statistics.median(walls)))
        except Exception as e:  # noqa: BLE001
            failed.append("peer: %s" % e)
    firsts = sorted({x["first_request"] for x in allsamples if x["first_request"]})
    print()
    print("first request of a save's push: %s" % ", ".join(firsts))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(allsamples, f, indent=1)
    if not a.keep and not failed:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("work directories kept in %s" % root)
    # sanity: every layout gave a READY latency for every save, within its bound
    bad = list(failed)
    for sname, name, r, u, got, n in rows:
        if got != n:
            bad.append("%s / %s: READY measured for %d of %d saves" % (sname, name, got, n))
    for x in allsamples:
        if x["ready_s"] is None:
            continue
        if x["ready_s"] < 0:
            bad.append("%s: READY before the marker (%.3f s)" % (x["save"], x["ready_s"]))
        if x["upload_s"] is None:
            bad.append("%s / %s: no upload request after the marker" % (x["layout"], x["save"]))
        elif x["upload_s"] < x["ready_s"] - 0.1:
            # the READY stamp is when the reader thread got the line: under load it can lag
            # the request by tens of milliseconds, not more
            bad.append("%s: upload %.3f s before READY" % (x["save"], x["ready_s"] - x["upload_s"]))
    ok = sum(1 for r in rows if r[4] == r[5] and not any(b.startswith(r[0] + " / " + r[1])
                                                          for b in bad))
    print("latency_bench: %d passed, %d failed" % (ok, len(bad)))
    for b in bad:
        print("  " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
