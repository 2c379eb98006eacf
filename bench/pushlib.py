"""Shared helpers of bench/latency_bench.py and bench/interference_bench.py:
the Hub emulator and `hubsync daemon` as subprocesses, with every daemon log
line stamped with the wall clock (CLOCK_REALTIME, time.time()) as it arrives
on the pipe, so that it can be compared with the fake trainer's --events
times and the emulator's request-log "ts" (both time.time() too).
(bench/benchlib.py serves the idle/scale benchmarks with monotonic stamps.)

Standard library only (Debian's /usr/bin/python3). Environment: HUBSYNC_BIN
(default build/cli/hubsync), HS_PYTHON (/usr/bin/python3).
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402  (/proc measurements; itlib: the config writer)

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
BIN = os.environ.get("HUBSYNC_BIN", os.path.join(SRC, "build", "cli", "hubsync"))
PY = os.environ.get("HS_PYTHON", "/usr/bin/python3")
FT = os.path.join(SRC, "tests", "fake_trainer", "fake_trainer.py")
EMU = os.path.join(SRC, "tests", "hub_emulator", "hub_emulator.py")
ALICE = "hf_alice_write_0123456789abcdefghij"


class Emu:
    """The Hub emulator (JSON-lines request log at work/emu-log.jsonl)."""

    def __init__(self, work, *flags):
        os.makedirs(work, exist_ok=True)
        self.log = os.path.join(work, "emu-log.jsonl")
        self.err = open(os.path.join(work, "emu-stderr"), "w")
        self.p = subprocess.Popen(
            [PY, EMU, "--port", "0", "--data-dir", os.path.join(work, "emu-data"), "--log",
             self.log] + list(flags), stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.p.stdout.readline().split()
        if len(line) < 6 or line[0] != "hub_emulator":
            raise RuntimeError("emulator did not start: %r" % line)
        self.url = line[3]

    def requests(self):
        try:
            with open(self.log) as f:
                return [json.loads(x) for x in f if x.strip()]
        except FileNotFoundError:
            return []

    def create_repo(self, repo):
        import urllib.request
        ns, name = repo.split("/")
        req = urllib.request.Request(
            self.url + "/api/repos/create", method="POST",
            data=json.dumps({"name": name, "organization": ns}).encode(),
            headers={"Authorization": "Bearer " + ALICE, "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    def cpu_seconds(self):
        return benchlib.cpu_seconds(self.p.pid)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()


write_config = benchlib.itlib.write_config


class Daemon:
    """`hubsync daemon --config FILE`; self.lines = [(time.time(), line)]
    with the "hubsync: info: " prefix removed."""

    def __init__(self, config, env=None, prefix=()):
        e = dict(os.environ)
        e.pop("HF_TOKEN", None)
        e.pop("NOTIFY_SOCKET", None)
        e.update(env or {})
        self.lines = []
        self.cond = threading.Condition()
        self.p = subprocess.Popen(list(prefix) + [BIN, "daemon", "--config", config], env=e,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in iter(self.p.stderr.readline, b""):
            now = time.time()
            line = raw.decode(errors="replace").rstrip("\n")
            for pre in ("hubsync: info: ", "hubsync: "):
                if line.startswith(pre):
                    line = line[len(pre):]
                    break
            with self.cond:
                self.lines.append((now, line))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, pred, timeout):
        """First (time, line) matching pred, or None after timeout."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, line in self.lines:
                    if pred(line):
                        return t, line
                left = end - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self.t.is_alive()):
                    return None
                self.cond.wait(min(left, 0.5))

    def cpu_seconds(self):
        return benchlib.cpu_seconds(self.p.pid)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.t.join(5)
        return self.p.returncode

    def log_text(self):
        with self.cond:
            return "\n".join(line for _, line in self.lines)


def read_events(path):
    try:
        with open(path) as f:
            return [json.loads(x) for x in f if x.strip()]
    except FileNotFoundError:
        return []


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, -(-p * len(v) // 100) - 1))
    return v[int(k)]


def summary(values):
    return {"n": len(values), "median": statistics.median(values), "p90": pct(values, 90),
            "max": max(values)}


def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "%d vCPU %s, %.0f GiB RAM, Linux %s, load average %.1f at start" % (
        os.cpu_count(), model, mem, os.uname().release, os.getloadavg()[0])


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)
