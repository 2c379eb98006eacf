#!/usr/bin/env python3
"""Time to Hub (issue 14): `hubsync push`, the Python huggingface_hub client,
the @huggingface/hub JS client and a floor pushing the same folders to the Hub
emulator (--discard: LFS bytes counted, basic PUTs hashed, nothing stored), run
interleaved A B C D A B C D … for --rounds rounds; min and median of wall, CPU
(user + sys) and peak RSS by /usr/bin/time. Results: bench/RESULTS.md.

Workloads (--workloads, comma-separated):
  shards  3 random safetensors shards of SIZE/3 + config.json
  big     one random file of SIZE
  10k     10,000 files of 10 KB
  100k    100,000 files of 1 KB
  3k-lfs  3,000 files of 100 KB named *.bin (LFS by the Hub's .gitattributes):
          one LFS object each; its floor is the small-file one
SIZE is --size-mib (4096). --smoke: tiny sizes, one round (the ctest).

Contenders (a missing one is skipped with the reason):
  hubsync   $HUBSYNC_BIN (build/daemon/hubsync)
  hubsync-base  $HUBSYNC_BENCH_BASE, another hubsync binary (e.g. the one before a change)
  python    bench/push_py.py: huggingface_hub from $HUBSYNC_BENCH_HFHUB (its
            source tree's src/, outside the repo), Xet off
  js        bench/push_js.mjs: @huggingface/hub from $HUBSYNC_BENCH_JS (a folder
            with node_modules), else tests/js
  floor     what no client can beat on this machine. LFS workloads: each file
            `openssl dgst -sha256`, then a plain `curl -T` of it to its storage
            URL, two files at a time (an LFS upload needs the digest first).
            Small files: `openssl dgst -sha256` of every file (2 processes)
            overlapped with one streaming `curl -T -` of all their bytes.
Files live under BENCH_DIR (/tmp); check `df` first (4 GiB workloads need
~9 GiB free). Standard library only.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
BIN = os.environ.get("HUBSYNC_BIN", os.path.join(SRC, "build", "daemon", "hubsync"))
EMU = os.path.join(SRC, "tests", "hub_emulator", "hub_emulator.py")
PY = os.environ.get("HS_PYTHON", "/usr/bin/python3")
TOKEN = "hf_alice_write_0123456789abcdefghij"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- workloads ----------------------------------------------------------------


def make_workload(name, root, size_mib, smoke):
    d = os.path.join(root, name)
    os.makedirs(d)
    if name in ("shards", "big"):
        total = (2 if smoke else size_mib) << 20
        n = 3 if name == "shards" else 1
        for i in range(n):
            fn = "model-%05d-of-%05d.safetensors" % (i + 1, n) if n > 1 else "model.safetensors"
            with open(os.path.join(d, fn), "wb") as f:
                left = total // n
                while left:
                    k = min(left, 8 << 20)
                    f.write(os.urandom(k))
                    left -= k
        if name == "shards":
            with open(os.path.join(d, "config.json"), "w") as f:
                f.write('{"architectures": ["BertForSequenceClassification"]}\n')
    else:
        count, size = {"10k": (10000, 10000), "100k": (100000, 1000), "3k-lfs": (3000, 100000)}[name]
        ext = ".bin" if name == "3k-lfs" else ".json"
        if smoke:
            count //= 100
        for i in range(count):
            sub = os.path.join(d, "part-%03d" % (i % 100))
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, "f%06d%s" % (i, ext)), "wb") as f:
                f.write(os.urandom(size))
    return d


def files_of(d):
    out = []
    for r, _, ns in os.walk(d):
        out += [os.path.join(r, n) for n in ns]
    return sorted(out)


def lfs_workload(name):
    return name in ("shards", "big")


# ---- the emulator ----------------------------------------------------------------


class Emulator:
    def __init__(self, work):
        self.dir = tempfile.mkdtemp(dir=work, prefix="emu.")
        self.p = subprocess.Popen(
            [PY, EMU, "--port", "0", "--data-dir", self.dir + "/data", "--log", self.dir + "/log",
             "--discard", "--multipart-threshold", str(1 << 40)],
            stdout=subprocess.PIPE, stderr=open(self.dir + "/stderr", "w"), text=True)
        line = self.p.stdout.readline()
        if not line.startswith("hub_emulator listening on "):
            raise SystemExit("emulator did not start: " + open(self.dir + "/stderr").read())
        self.url = line.split()[3]

    def api(self, path, body, ctype="application/json"):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + TOKEN, "Content-Type": ctype})
        return json.load(urllib.request.urlopen(req))

    def create(self, repo):
        self.api("/api/repos/create", {"name": repo, "organization": "alice"})

    def put_url(self, repo, oid, size):
        b = self.api("/alice/%s.git/info/lfs/objects/batch" % repo,
                     {"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]},
                     "application/vnd.git-lfs+json")
        return b["objects"][0]["actions"]["upload"]["href"]

    def stop(self):
        self.p.terminate()
        self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- contenders ----------------------------------------------------------------


def sha256_of(paths):
    h = hashlib.sha256()
    size = 0
    for p in paths:
        with open(p, "rb") as f:
            while True:
                b = f.read(8 << 20)
                if not b:
                    break
                h.update(b)
                size += len(b)
    return h.hexdigest(), size


def floor_cmd(emu, repo, d, name, work):
    """The floor's shell command; the storage URLs are asked for first (untimed)."""
    emu.create(repo)
    files = files_of(d)
    if lfs_workload(name):
        lines = []
        for p in files:
            if p.endswith(".json"):
                continue  # config.json: a few bytes in the commit
            oid, size = DIGESTS[p]
            lines.append("%s %s" % (p, emu.put_url(repo, oid, size)))
        lst = os.path.join(work, "floor.list")
        open(lst, "w").write("\n".join(lines) + "\n")
        return ["bash", "-c", "xargs -P 2 -L 1 sh -c 'openssl dgst -sha256 \"$0\" >/dev/null && "
                "curl -sf -T \"$0\" -o /dev/null \"$1\"' <%s" % lst]
    oid, size = DIGESTS[d]
    href = emu.put_url(repo, oid, size)
    lst = os.path.join(work, "floor.list0")
    open(lst, "wb").write(b"\0".join(p.encode() for p in files) + b"\0")
    return ["bash", "-c",
            "xargs -0 -n 2000 -P 2 openssl dgst -sha256 <%s >/dev/null & "
            "xargs -0 cat <%s | curl -sf -T - -H 'Transfer-Encoding:' -H 'Content-Length: %d' "
            "-o /dev/null '%s'; s=$?; wait $! && exit $s" % (lst, lst, size, href)]


DIGESTS = {}


def contenders():
    out, skipped = [], []
    if os.access(BIN, os.X_OK):
        out.append("hubsync")
    else:
        skipped.append("hubsync: no binary at %s (HUBSYNC_BIN)" % BIN)
    base = os.environ.get("HUBSYNC_BENCH_BASE")
    if base:
        out.append("hubsync-base")
    hf = os.environ.get("HUBSYNC_BENCH_HFHUB")
    if not hf:
        skipped.append("python: HUBSYNC_BENCH_HFHUB unset (huggingface_hub's src/, e.g. /work/hfhub-src/src)")
    else:
        r = subprocess.run([PY, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from huggingface_hub import HfApi", hf],
                           capture_output=True, text=True)
        if r.returncode == 0:
            out.append("python")
        else:
            skipped.append("python: cannot import huggingface_hub from %s: %s" % (hf, r.stderr.strip().splitlines()[-1:]))
    js = os.environ.get("HUBSYNC_BENCH_JS", os.path.join(SRC, "tests", "js"))
    if shutil.which("node") and os.path.isdir(os.path.join(js, "node_modules", "@huggingface", "hub")):
        out.append("js")
    else:
        skipped.append("js: no node or no %s/node_modules/@huggingface/hub (HUBSYNC_BENCH_JS; npm ci in tests/js)" % js)
    out.append("floor")
    return out, skipped


def command(who, emu, repo, d, name, work):
    env = dict(os.environ, HF_TOKEN=TOKEN, XDG_CACHE_HOME=os.path.join(work, "cache-" + repo),
               HF_HOME=os.path.join(work, "hf-" + repo), HF_HUB_DISABLE_XET="1", HF_ENDPOINT=emu.url)
    if who in ("hubsync", "hubsync-base"):
        b = BIN if who == "hubsync" else os.environ["HUBSYNC_BENCH_BASE"]
        return [b, "push", d, "--repo", "alice/" + repo], env
    if who == "python":
        return [PY, os.path.join(HERE, "push_py.py"), emu.url, TOKEN, "alice/" + repo, d], env
    if who == "js":
        emu.create(repo)
        return ["node", os.path.join(HERE, "push_js.mjs"), emu.url, TOKEN, "alice/" + repo, d], env
    return floor_cmd(emu, repo, d, name, work), env


def measure(cmd, env, work):
    tf = os.path.join(work, "time")
    with open(os.path.join(work, "out"), "w") as out, open(os.path.join(work, "err"), "w") as err:
        rc = subprocess.call(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf] + cmd, env=env, stdout=out,
                             stderr=err)
    if rc != 0:
        raise RuntimeError("exit %d: %s" % (rc, open(os.path.join(work, "err")).read()[-600:]))
    wall, user, sys_, rss = open(tf).read().split()[-4:]
    return {"wall": float(wall), "cpu": float(user) + float(sys_), "rss": int(rss) / 1024}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workloads", default="shards,big,10k,100k")
    ap.add_argument("--size-mib", type=int, default=4096)
    ap.add_argument("--only", help="comma-separated contenders to run (default: all available)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one round")
    ap.add_argument("--json", help="write every measurement to this file")
    a = ap.parse_args()
    if a.smoke:
        a.rounds = 1
    who_all, skipped = contenders()
    if a.only:
        who_all = [w for w in who_all if w in a.only.split(",")]
    for s in skipped:
        log("skipped " + s)
    root = tempfile.mkdtemp(dir=os.environ.get("BENCH_DIR", "/tmp"), prefix="hs-pipeline-bench.")
    results = {}
    try:
        for name in a.workloads.split(","):
            log("== %s: generating" % name)
            d = make_workload(name, root, a.size_mib, a.smoke)
            files = files_of(d)
            for p in files if lfs_workload(name) else []:
                DIGESTS[p] = sha256_of([p])
            if not lfs_workload(name):
                DIGESTS[d] = sha256_of(files)
            nbytes = sum(os.path.getsize(p) for p in files)
            for p in files:  # page cache: every contender reads from memory
                with open(p, "rb") as f:
                    while f.read(8 << 20):
                        pass
            for rnd in range(a.rounds):
                for who in who_all:
                    emu = Emulator(root)
                    work = tempfile.mkdtemp(dir=root, prefix="run.")
                    repo = "%s-%s-%d" % (name, who, rnd)
                    try:
                        cmd, env = command(who, emu, repo, d, name, work)
                        m = measure(cmd, env, work)
                    finally:
                        emu.stop()
                        shutil.rmtree(work, ignore_errors=True)
                    results.setdefault(name, {}).setdefault(who, []).append(m)
                    log("%s round %d %s: wall %.2f s, CPU %.2f s, RSS %.1f MiB"
                        % (name, rnd + 1, who, m["wall"], m["cpu"], m["rss"]))
            results[name]["_bytes"] = nbytes
            results[name]["_files"] = len(files)
            shutil.rmtree(d)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if a.json:
        json.dump(results, open(a.json, "w"), indent=1)
    for name, per in results.items():
        print("\n### %s: %d files, %d bytes, %d round(s)\n" % (name, per["_files"], per["_bytes"], a.rounds))
        print("| contender | wall min | wall median | CPU min | CPU median | peak RSS median MiB |")
        print("|---|---:|---:|---:|---:|---:|")
        for who in who_all:
            ms = per.get(who, [])
            if not ms:
                continue
            w = [m["wall"] for m in ms]
            c = [m["cpu"] for m in ms]
            r = [m["rss"] for m in ms]
            print("| %s | %.2f | %.2f | %.2f | %.2f | %.1f |"
                  % (who, min(w), statistics.median(w), min(c), statistics.median(c), statistics.median(r)))
    print_targets(results)
    for s in skipped:
        print("\n(skipped %s)" % s)


# Issue 14's targets, as ratios of medians from this run: (workload, what,
# numerator, denominator, limit). "rss" is absolute (MiB), denominator None.
TARGETS = [
    ("shards", "wall", "hubsync", "floor", 1.15),
    ("shards", "cpu", "hubsync", "python", 0.5),
    ("big", "wall", "hubsync", "floor", 1.15),
    ("10k", "cpu", "hubsync", "python", 0.5),
    ("10k", "wall", "hubsync", "python", 0.8),
    ("10k", "rss", "hubsync", None, 64),
    ("100k", "cpu", "hubsync", "python", 0.5),
    ("100k", "wall", "hubsync", "python", 0.8),
    ("100k", "rss", "hubsync", None, 64),
]


def print_targets(results):
    rows = []
    for name, what, num, den, limit in TARGETS:
        per = results.get(name, {})
        if not per.get(num) or (den and not per.get(den)):
            continue
        a = statistics.median(m[what] for m in per[num])
        if den:
            b = statistics.median(m[what] for m in per[den])
            val, label = a / b, "%s / %s %s" % (num, den, what)
        else:
            val, label = a, "%s peak RSS MiB" % num
        rows.append("| %s | %s | %.2f | %s %g | %s |" % (name, label, val, "<" if not den else "≤", limit,
                                                       "met" if (val < limit if not den else val <= limit)
                                                       else "missed"))
    if rows:
        print("\n### Targets (medians of this run)\n")
        print("| workload | ratio | value | target | |")
        print("|---|---|---:|---|---|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
