"""Save-to-Hub latency benchmark (issue 14, "hash while written"): a writer
writes one big checkpoint at a set rate, then its completion marker; how
long after the marker is the commit confirmed, with the daemon hashing the
files while they are written (HUBSYNC_PREHASH=1, the default) and without
(HUBSYNC_PREHASH=0: hashed at READY, the behaviour before), against the
upload alone.

Per round and mode (interleaved: prehash, off, prehash, off, ...), a fresh Hub
emulator (`--discard`: bytes hashed and dropped, request log) and a fresh
`hubsync daemon` (job hub_strategy checkpoint: the whole folder as
last-checkpoint/ and the weights at the root, marker_quiet 2 s default,
inotify) watch an empty output dir. The writer (this script) creates
checkpoint-10/, writes model.safetensors (MIB MiB, 8 MiB writes paced to
RATE MB/s, from a random block so nothing compresses; with --shards N, N
files of MIB/N MiB one after the other), closes it, writes
config.json, then trainer_state.json (global_step 10): its close is the
marker. With --trainer the fake trainer writes a Trainer save instead
(weights MIB/3 MiB, optimizer.pt twice that, scheduler, RNG state,
trainer_state.json) as fast as it can, and its --events give the marker. Times (time.time(), one machine):
  ready   = the daemon's "job lat: checkpoint-10 ready" stderr line − marker
  first   = ts of the first emulator request after the marker − marker
  commit  = end (ts + dur_ms) of the emulator's commit request − marker
  confirm = the daemon's "checkpoint-10 committed" line − marker
  upload only = one `curl --upload-file` of a file of the same size (× N
            shards) to the
            same emulator (a basic LFS PUT; the emulator hashes it as it
            arrives), after the commit, the file in the page cache: what
            sending the bytes costs with no hashing at all
The emulator runs with --multipart-threshold 1 TiB, so the daemon's upload is
one basic PUT too: the same transfer as the reference.
The target (issue 14): commit ≤ 1.1 × upload only for a save written at
≤ 500 MB/s.

    /usr/bin/python3 bench/save_latency_bench.py [--mib N] [--rate MBps]
        [--rounds N] [--modes prehash,off] [--before-bin HUBSYNC] [--trainer]
        [--shards N] [--json FILE] [--quick]
--quick (smoke, a few seconds): 32 MiB, one round per mode; exits non-zero
unless each mode committed and a time was measured.
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

CHUNK = 8 << 20
OWN_BIN = B.BIN
BEFORE_BIN = None  # --before-bin: mode "before" runs that binary


def write_paced(path, mib, rate_mbps, block):
    """Write mib MiB to path in CHUNK writes, none ahead of rate (MB/s)."""
    total = mib << 20
    t0 = time.time()
    done = 0
    with open(path, "wb") as f:
        while done < total:
            n = min(CHUNK, total - done)
            f.write(os.urandom(16) + block[:n - 16])
            done += n
            ahead = t0 + done / (rate_mbps * 1e6) - time.time()
            if ahead > 0:
                time.sleep(ahead)
    return time.time() - t0


def upload_only(emu, path, repo, block):
    """Wall seconds of one basic PUT of a file like path (same size, other
    random bytes: the emulator already holds path's object) to the
    emulator's storage, the file in the page cache."""
    import hashlib
    import urllib.request
    other = path + ".floor"
    write_paced(other, os.path.getsize(path) >> 20, 1e6, block)
    path = other
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    size = os.path.getsize(path)
    emu.create_repo(repo)
    body = json.dumps({"operation": "upload", "transfers": ["basic"],
                       "objects": [{"oid": h.hexdigest(), "size": size}]}).encode()
    req = urllib.request.Request(
        "%s/%s.git/info/lfs/objects/batch" % (emu.url, repo), data=body, method="POST",
        headers={"Authorization": "Bearer " + B.ALICE,
                 "Content-Type": "application/vnd.git-lfs+json"})
    ans = json.load(urllib.request.urlopen(req, timeout=30))
    href = ans["objects"][0]["actions"]["upload"]["href"]
    t0 = time.time()
    subprocess.run(["curl", "-sf", "--upload-file", path, "-o", "/dev/null", href], check=True)
    took = time.time() - t0
    os.unlink(path)
    return took


def cache_status(cfg):
    r = subprocess.run([B.BIN, "status", "--config", cfg, "--json"], capture_output=True,
                       text=True, timeout=20)
    return json.loads(r.stdout).get("hash_cache") if r.returncode == 0 else None


def one_round(work, mode, mib, rate, block, shards, trainer, max_parallel=None):
    emu = B.Emu(os.path.join(work, "emu"), "--discard", "--multipart-threshold",
                str(1 << 40))
    out = os.path.join(work, "out")
    os.makedirs(out)
    job = {"name": "lat", "watch": out, "hub_model_id": "alice/lat", "hub_strategy": "checkpoint",
           "supersede": False, "existing_checkpoints": "none"}
    top = {"max_parallel_uploads": max_parallel} if max_parallel else {}
    cfg = B.write_config(work, emu, [job], **top)
    B.BIN = BEFORE_BIN if mode == "before" else OWN_BIN
    d = B.Daemon(cfg, env={"HUBSYNC_PREHASH": "1" if mode == "prehash" else "0"})
    try:
        if not d.wait_line(lambda s: "control socket" in s, 20):
            raise RuntimeError("daemon did not start:\n" + d.log_text())
        ck = os.path.join(out, "checkpoint-10")
        if trainer:
            # the fake trainer's save: weights, then optimizer.pt (2x), scheduler,
            # RNG state, trainer_state.json, as fast as it writes
            ev = os.path.join(work, "events.jsonl")
            t0 = time.time()
            subprocess.run([B.PY, B.FT, "--out", out, "--quiet", "--events", ev, "--epochs", "1",
                            "--steps-per-epoch", "10", "--save-steps", "10", "--step-time", "0",
                            "--no-final-save", "--model-size", "%dM" % max(1, mib // 3)],
                           check=True, capture_output=True, timeout=600)
            saves = [e for e in B.read_events(ev) if e.get("event") == "save"]
            marker = saves[0]["marker_time"]
            write_s = marker - t0
            model = max((os.path.join(ck, n) for n in os.listdir(ck)), key=os.path.getsize)
            mib = sum(os.path.getsize(os.path.join(ck, n)) for n in os.listdir(ck)) >> 20
        else:
            os.mkdir(ck)
            names = (["model.safetensors"] if shards == 1 else
                     ["model-%05d-of-%05d.safetensors" % (i + 1, shards) for i in range(shards)])
            write_s = 0.0
            for n in names:  # one after the other, as a trainer writes its shards
                model = os.path.join(ck, n)
                write_s += write_paced(model, mib // shards, rate, block)
            with open(os.path.join(ck, "config.json"), "w") as f:
                f.write('{"model_type": "bench"}')
            with open(os.path.join(ck, "trainer_state.json"), "w") as f:
                json.dump({"global_step": 10, "epoch": 1.0, "log_history": []}, f)
            marker = time.time()
        got = d.wait_line(lambda s: "checkpoint-10 committed" in s, 600)
        if not got:
            raise RuntimeError("no commit:\n" + d.log_text()[-3000:])
        confirm = got[0]
        ready = d.wait_line(lambda s: "checkpoint-10 ready" in s, 1)
        # the emulator logs a request once it has answered it: the daemon may
        # have read the commit's answer before that line is written
        end = time.monotonic() + 20
        while True:
            reqs = sorted(emu.requests(), key=lambda r: r["ts"])
            commit = [r for r in reqs if r["server"] == "hub" and r.get("method") == "POST" and
                      "/commit/" in r.get("path", "") and r.get("status") == 200]
            if commit or time.monotonic() > end:
                break
            time.sleep(0.05)
        first = next((r for r in reqs if r["ts"] >= marker and r["server"] == "hub"), None)
        commit_end = commit[-1]["ts"] + commit[-1]["dur_ms"] / 1000 if commit else None
        # the weights really are in the commit (distinct LFS objects)
        oids = {op["oid"]: op.get("size", 0) for r in commit for op in (r.get("ops") or [])
                if op.get("op") == "lfsFile"}
        if sum(oids.values()) < (mib << 20) * 9 // 10:
            raise RuntimeError("the commit holds %d LFS bytes, not the %d MiB written" %
                               (sum(oids.values()), mib))
        hc = cache_status(cfg)
        up = upload_only(emu, model, "alice/floor", block) * (
            mib / (os.path.getsize(model) >> 20) if trainer else shards)
        return {"mode": mode, "mib": mib, "shards": shards, "rate_mbps": rate, "write_s": write_s,
                "hash_cache": hc,
                "ready_s": ready[0] - marker if ready else None,
                "first_s": first["ts"] - marker if first else None,
                "commit_s": commit_end - marker if commit_end else None,
                "confirm_s": confirm - marker, "upload_only_s": up}
    finally:
        d.stop()
        emu.stop()


def fmt(v):
    return "-" if v is None else "%.3f" % v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=2048)
    ap.add_argument("--rate", type=float, default=400.0, help="write rate, MB/s")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shards", type=int, default=1, help="weights in N files written in turn")
    ap.add_argument("--trainer", action="store_true",
                    help="the fake trainer writes the save (weights MIB/3, optimizer 2x, ...) "
                    "as fast as it can; --rate and --shards do not apply")
    ap.add_argument("--modes", default="prehash,off")
    ap.add_argument("--before-bin", help="another hubsync binary (e.g. a build of the commit "
                    "before this feature), run as mode 'before'")
    ap.add_argument("--max-parallel", type=int,
                    help="the daemon's max_parallel_uploads (default: its own, 8); 1 sends the "
                    "shards one after the other, as the upload-only reference does")
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.mib, a.rounds = 32, 1
    modes = a.modes.split(",")
    global BEFORE_BIN
    if a.before_bin:
        BEFORE_BIN = a.before_bin
        modes.append("before")
    block = os.urandom(CHUNK)
    samples = []
    base = os.environ.get("BENCH_DIR", tempfile.gettempdir())
    for r in range(a.rounds):
        for m in modes:
            work = tempfile.mkdtemp(prefix="hs-savelat-", dir=base)
            try:
                s = one_round(work, m, a.mib, a.rate, block, a.shards, a.trainer, a.max_parallel)
                s["round"] = r
                samples.append(s)
                print("round %d %-7s write %.2f s  ready %s  first %s  commit %s  confirm %s  "
                      "upload-only %s  cache %s" % (r, m, s["write_s"], fmt(s["ready_s"]),
                                                    fmt(s["first_s"]), fmt(s["commit_s"]),
                                                    fmt(s["confirm_s"]), fmt(s["upload_only_s"]),
                                                    s["hash_cache"]),
                      file=sys.stderr)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    print("%d MiB in %d file(s) at %.0f MB/s, %d round(s); %s" % (a.mib, a.shards, a.rate, a.rounds,
                                                                   B.machine()))
    print()
    print("| mode | marker → READY s | marker → first request s | marker → commit s "
          "| upload only s | commit / upload only | write s |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for m in modes:
        ss = [s for s in samples if s["mode"] == m]
        ok = ok and len(ss) == a.rounds and all(s["commit_s"] is not None for s in ss)

        def med(k):
            v = [s[k] for s in ss if s[k] is not None]
            return "%.3f (min %.3f)" % (statistics.median(v), min(v)) if v else "-"
        ratio = [s["commit_s"] / s["upload_only_s"] for s in ss
                 if s["commit_s"] is not None and s["upload_only_s"]]
        print("| %s | %s | %s | %s | %s | %s | %s |" % (
            {"prehash": "hash while written", "off": "hash at READY (HUBSYNC_PREHASH=0)",
             "before": "before (%s)" % BEFORE_BIN}[m],
            med("ready_s"), med("first_s"), med("commit_s"), med("upload_only_s"),
            "%.2f" % statistics.median(ratio) if ratio else "-", med("write_s")))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(samples, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
