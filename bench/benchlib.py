"""Process measurements for bench/idle_bench.py and bench/scale_bench.py
(the memory benchmark is bench/memory_bench.sh): what the machine is, what a process costs as seen
from /proc (CPU time of all threads, context switches summed over threads,
current and peak RSS, inotify watches held), `perf stat` attached to a
process, a daemon whose stderr lines are time-stamped as they arrive, the
emulator and config from tests/integration/itlib.py, limit checks and
Markdown tables. Standard library only (Debian's /usr/bin/python3).
"""

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.environ.get("HS_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("HS_SOURCE_DIR", SRC)
os.environ.setdefault("HUBSYNC_BIN", os.path.join(SRC, "build", "cli", "hubsync"))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import itlib  # noqa: E402  (the emulator, config writer and status helper)

PY = os.environ.get("HS_PYTHON", "/usr/bin/python3")
BIN = itlib.BIN
FT = itlib.FT
TICK = os.sysconf("SC_CLK_TCK")


def fs_type(path):
    """The filesystem type of the mount holding path, from /proc/mounts."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, typ = line.split()[:3]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, kind = mnt, typ
    return kind


def machine():
    """One line: CPUs, RAM, kernel, CPU model, filesystem of BENCH_DIR, load."""
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    bench_dir = os.environ.get("BENCH_DIR", "/tmp")
    load = open("/proc/loadavg").read().split()[:3]
    return "%d CPUs (%s), %.1f GiB RAM, Linux %s, %s on %s (%d GiB free), load average %s" % (
        os.cpu_count(), model, mem_kb / 2**20, platform.release(), bench_dir, fs_type(bench_dir),
        shutil.disk_usage(bench_dir).free // 2**30, " ".join(load))


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads, live and exited), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu(pid):
    """{tid: (comm, utime+stime seconds)} of each live thread."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        fields = s.rsplit(")", 1)[1].split()
        out[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / TICK)
    return out


def ctx_switches(pid):
    """(voluntary, involuntary) context switches summed over the live threads
    (/proc/PID/status counts the main thread only)."""
    v = nv = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        v += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        nv += int(line.split()[1])
        except OSError:
            continue
    return v, nv


def status_kb(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM…), or 0."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def inotify_watches(pid):
    """inotify watches held by the process: `inotify wd:` lines of its fdinfo."""
    n = 0
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                n += sum(1 for line in f if line.startswith("inotify wd:"))
        except OSError:
            continue
    return n


class Sample:
    """CPU time and context switches of a process, taken at once."""

    def __init__(self, pid):
        self.t = time.monotonic()
        self.cpu = cpu_seconds(pid)
        self.vcs, self.ivcs = ctx_switches(pid)


class Perf:
    """`perf stat -e task-clock,context-switches,cpu-migrations -p PID sleep S`,
    started now; result() waits and returns {event: value} (task-clock in ms;
    perf prints <not counted> for a task that never ran: 0)."""

    EVENTS = "task-clock,context-switches,cpu-migrations"

    def __init__(self, pid, seconds):
        self.ok = shutil.which("perf") is not None
        if self.ok:
            self.p = subprocess.Popen(["perf", "stat", "-x,", "-e", self.EVENTS, "-p", str(pid),
                                       "sleep", str(seconds)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def result(self):
        if not self.ok:
            return None
        err = self.p.communicate()[1]
        out = {}
        for line in err.splitlines():
            f = line.split(",")
            if len(f) >= 3 and f[2] in self.EVENTS.split(","):
                out[f[2]] = 0.0 if f[0].startswith("<not") else float(f[0])
        return out if len(out) == 3 else None


class Proc:
    """A process whose stderr (and stdout, merged) lines are read by a thread
    and kept with the monotonic time they arrived; wait_line() waits for a
    regular expression."""

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, env=env, cwd=cwd, bufsize=1)
        self.pid = self.p.pid
        self.lines = []
        self.cond = threading.Condition()
        self.log = open(log_path, "w")
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()

    def _read(self):
        for line in self.p.stdout:
            t = time.monotonic()
            self.log.write("%.3f %s" % (t - self.t0, line))
            self.log.flush()
            with self.cond:
                self.lines.append((t, line.rstrip("\n")))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, pattern, timeout):
        """Monotonic time of the first line matching pattern, or None."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, line in self.lines:
                    if rx.search(line):
                        return t
                left = end - time.monotonic()
                if left <= 0 or self.p.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.5))

    def stop(self, sig=15, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.th.join(5)
        self.log.close()
        return self.p.returncode


def hubsync_env():
    e = dict(os.environ)
    e.pop("HF_TOKEN", None)
    e.pop("NOTIFY_SOCKET", None)
    return e


def sanitized(binary=BIN):
    """True when binary is an AddressSanitizer build (links libasan): its
    memory, CPU and time figures are not the product's, so limits on them are
    reported but not applied."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    return "libasan" in r.stdout


class Checks:
    """ok/FAIL lines and the closing "<name>: N passed, M failed". A check
    made with limit=True is a performance limit: under a sanitizer build it
    is printed as "skip" and not counted."""

    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0
        self.sanitized = sanitized()
        if self.sanitized:
            print("note: %s is a sanitizer build: performance limits are reported, not applied"
                  % BIN, flush=True)

    def __call__(self, what, cond, limit=False):
        if limit and self.sanitized:
            print("skip - %s (%s)" % (what, "holds" if cond else "exceeded"), flush=True)
            return cond
        print("%s - %s" % ("ok" if cond else "FAIL", what), flush=True)
        if cond:
            self.passed += 1
        else:
            self.failed += 1
        return cond

    def finish(self):
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


def table(headers, rows, align=None):
    """A Markdown table; numbers right-aligned."""
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---" if (align and align[i] == "l") or i == 0 else "---:"
                          for i in range(len(headers))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def work_dir(prefix):
    """A fresh work directory under $BENCH_DIR (/tmp), removed by
    run_then_clean() unless HS_KEEP is set."""
    d = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("BENCH_DIR", "/tmp"))
    _WORK.append(d)
    return d


_WORK = []


def run_then_clean(main):
    """main(), then the work dirs removed — after the report, since deleting
    a large tree is slow (this machine's ext4 discards on every unlink)."""
    try:
        return main()
    finally:
        if not os.environ.get("HS_KEEP"):
            for d in _WORK:
                shutil.rmtree(d, ignore_errors=True)
