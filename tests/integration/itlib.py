"""Shared helpers of the integration tests: the real `hubsync` binary against
the Hub emulator, with the fake trainer writing the output directory.

Environment (set by ctest): HUBSYNC_BIN, HS_SOURCE_DIR, HS_PYTHON.
Everything here uses /usr/bin/python3's stdlib + yaml only.
"""

import collections
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("HS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("HUBSYNC_BIN", os.path.join(SRC, "build", "cli", "hubsync"))
PY = os.environ.get("HS_PYTHON", "/usr/bin/python3")
FT = os.path.join(SRC, "tests", "fake_trainer", "fake_trainer.py")
sys.path.insert(0, os.path.join(SRC, "tests", "hub_emulator"))
sys.path.insert(0, os.path.join(SRC, "tests", "fake_trainer"))
import emu_inspect  # noqa: E402
from ftcheck import Suite, read_events  # noqa: E402,F401

ALICE = "hf_alice_write_0123456789abcdefghij"


# strategy.c's model files (what transformers copies to the output dir root)
MODEL_FILES = {
    "config.json", "pytorch_model.bin", "model.safetensors", "model.safetensors.index.json",
    "pytorch_model.bin.index.json", "adapter_config.json", "adapter_model.bin",
    "adapter_model.safetensors", "training_args.bin", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt",
    "spiece.model", "sentencepiece.bpe.model", "tokenizer.model", "chat_template.jinja",
    "chat_template.json", "preprocessor_config.json", "processor_config.json",
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def workdir(name):
    d = tempfile.mkdtemp(prefix="hs-it-%s-" % name)
    return d


class Emu:
    """The Hub emulator as a subprocess (emulator.sh's emu_start in Python)."""

    def __init__(self, work, *flags):
        self.data = os.path.join(work, "emu-data")
        self.log = os.path.join(work, "emu-log.jsonl")
        self.err = open(os.path.join(work, "emu-stderr"), "w")
        self.flags = list(flags)
        self._spawn(["--port", "0"])

    def _spawn(self, ports):
        self.p = subprocess.Popen(
            [PY, os.path.join(SRC, "tests", "hub_emulator", "hub_emulator.py")] + ports +
            ["--data-dir", self.data, "--log", self.log] + self.flags,
            stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.p.stdout.readline().split()
        if len(line) < 6 or line[0] != "hub_emulator":
            raise RuntimeError("emulator did not start: %r" % line)
        self.url, self.storage = line[3], line[5]

    def kill(self):
        """SIGKILL the emulator (no clean shutdown); restart() brings it back."""
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(10)
        self.p.stdout.close()

    def restart(self, tries=50):
        """Start it again on the same two ports with the same data dir, log and
        flags (after kill() or stop()); retries while the ports are still busy."""
        ports = ["--port", self.url.rsplit(":", 1)[1],
                 "--storage-port", self.storage.rsplit(":", 1)[1]]
        if self.err.closed:
            self.err = open(self.err.name, "a")
        for i in range(tries):
            try:
                return self._spawn(ports)
            except RuntimeError:
                if i == tries - 1:
                    raise
                time.sleep(0.1)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(10)
        self.err.close()

    def requests(self):
        try:
            with open(self.log) as f:
                # a line still being written (no newline yet) is not read
                return [json.loads(x) for x in f if x.strip() and x.endswith("\n")]
        except FileNotFoundError:
            return []

    def files(self, repo):
        return {f["path"]: f["sha256"] for f in emu_inspect.list_files(self.url, repo)}

    def commits(self, repo, missing_ok=False):
        """Commit titles, oldest first ([] for a missing repo with missing_ok)."""
        try:
            return [c["title"] for c in reversed(emu_inspect.list_commits(self.url, repo))]
        except RuntimeError as e:
            if missing_ok and "404" in str(e):
                return []
            raise


def write_config(work, emu, jobs, **top):
    tok = os.path.join(work, "token")
    with open(tok, "w") as f:
        f.write(ALICE + "\n")
    os.chmod(tok, 0o600)
    cfg = {"endpoint": emu.url, "token_file": tok, "state_dir": os.path.join(work, "state")}
    cfg.update(top)
    cfg["jobs"] = jobs
    path = os.path.join(work, "hubsync.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    return path


def job(name, watch, repo, strategy="every_save", **kw):
    j = {"name": name, "watch": watch, "hub_model_id": repo, "hub_strategy": strategy,
         "supersede": False, "settle_seconds": 1, "marker_quiet_seconds": 0.3}
    j.update(kw)
    return j


def trainer_cmd(out, *args, events=None):
    cmd = [PY, FT, "--out", out, "--quiet"]
    if events:
        cmd += ["--events", events]
    return cmd + list(args)


def hubsync(*args, env=None, timeout=60, **kw):
    e = dict(os.environ)
    e.pop("HF_TOKEN", None)
    e.update(env or {})
    return subprocess.run([BIN] + list(args), env=e, timeout=timeout, capture_output=True,
                          text=True, **kw)


def popen_hubsync(*args, env=None, log=None, **kw):
    e = dict(os.environ)
    e.pop("HF_TOKEN", None)
    e.update(env or {})
    return subprocess.Popen([BIN] + list(args), env=e, stdout=log or subprocess.DEVNULL,
                            stderr=log or subprocess.DEVNULL, **kw)


def local_files(root, skip_top=("checkpoint-", "tmp-checkpoint-", "_", ".hubsync")):
    """Files of the output dir that the finish commit carries: {rel: sha256}."""
    out = {}
    for r, ds, fs in os.walk(root):
        rel_dir = os.path.relpath(r, root)
        if rel_dir == ".":
            ds[:] = [d for d in ds if not d.startswith(skip_top)]
        for f in fs:
            rel = f if rel_dir == "." else os.path.join(rel_dir, f)
            if rel_dir == "." and f.startswith(skip_top):
                continue
            out[rel] = sha256(os.path.join(r, f))
    return out


def expected_repo(strategy, out_dir, events, card_path):
    """What the repo must hold after the run (docs/trainer-layouts.md §1.4),
    from the trainer's events (what each save held) and the output dir."""
    saves = [e for e in events if e.get("event") == "save" and e.get("kind") == "checkpoint"]
    exp = {}
    if strategy != "end":
        for e in saves:
            name = e["dir"]
            for f in e["files"]:
                rel = f["path"][len(name) + 1:]
                if "/" not in rel and rel in MODEL_FILES:
                    exp[rel] = f["sha256"]
        if strategy == "checkpoint" and saves:
            e = saves[-1]
            for f in e["files"]:
                exp["last-checkpoint/" + f["path"][len(e["dir"]) + 1:]] = f["sha256"]
        if strategy == "all_checkpoints":
            for e in saves:
                for f in e["files"]:
                    exp[f["path"]] = f["sha256"]
    exp.update(local_files(out_dir))
    exp["README.md"] = sha256(card_path)
    return exp, ["Training in progress, step %d" % e["step"] for e in saves]


def readme_yaml_ok(emu, repo):
    import yaml

    body, _ = emu_inspect._get("%s/%s/resolve/main/README.md" % (emu.url, repo), ALICE)
    text = body.decode()
    if not text.startswith("---\n"):
        return False, "no front matter"
    meta = yaml.safe_load(text.split("---\n")[1])
    return isinstance(meta, dict), meta


def wait_for(cond, timeout, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def cleanup(work):
    if not os.environ.get("HS_KEEP"):
        shutil.rmtree(work, ignore_errors=True)


def job_status(cfg, name=None):
    """The job's entry of `hubsync status --json` (the first job without a
    name), or None when no daemon answers."""
    r = hubsync("status", "--config", cfg, "--json", timeout=20)
    if r.returncode != 0:
        return None
    jobs = json.loads(r.stdout)["jobs"]
    for j in jobs:
        if name is None or j.get("name") == name:
            return j
    return None


def storage_traffic(emu):
    """What storage received, from the emulator's request log: bytes of every
    PUT (parts and basic objects, failed ones included), the distinct paths
    delivered with 200 and their bytes, so sent - unique is what was re-sent
    (parts in flight at a kill, PUTs cut by faults or timeouts)."""
    puts = [q for q in emu.requests() if q.get("server") == "storage" and
            q.get("method") == "PUT"]
    delivered = {}
    for q in puts:
        if q.get("status") == 200 and q["path"] not in delivered:
            delivered[q["path"]] = q.get("req_bytes", 0)
    sent = sum(q.get("req_bytes", 0) for q in puts)
    unique = sum(delivered.values())
    # the LFS objects the commits refer to (each once): what had to be sent at
    # least; an upload started again under a new upload id re-sends parts
    # that `unique` counts twice (other paths)
    oids = {}
    for q in emu.requests():
        if q.get("server") == "hub" and q.get("status") == 200 and q.get("ops"):
            for op in q["ops"]:
                if op.get("op") == "lfsFile":
                    oids[op["oid"]] = op.get("size", 0)
    return {"sent": sent, "unique": unique, "resent": sent - unique, "objects": len(delivered),
            "lfs_bytes": sum(oids.values()), "lfs_objects": len(oids),
            "puts": len(puts), "failed_puts": sum(1 for q in puts if q.get("status") != 200),
            "faults": collections.Counter(
                f for q in emu.requests() for f in (q.get("fault") or "").split(",") if f)}


class Daemon:
    """`hubsync daemon --config CFG` that a test kills (SIGKILL) and starts
    again; every start appends to one log file, kill times are kept."""

    def __init__(self, cfg, log_path, env=None):
        self.cfg, self.env = cfg, env
        self.logf = open(log_path, "a")
        self.p = None
        self.starts = 0
        self.kill_times = []

    def start(self):
        self.logf.write("---- start %d\n" % self.starts)
        self.logf.flush()
        self.starts += 1
        self.p = popen_hubsync("daemon", "--config", self.cfg, env=self.env, log=self.logf)
        return self.p

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.kill_times.append(time.time())
        return self.p.wait()

    def stop(self, timeout=15):
        """SIGTERM; the exit status (None when it had to be killed)."""
        if not self.p or self.p.poll() is not None:
            return self.p.returncode if self.p else None
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None

    def close(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.logf.close()


def run_in_pty(argv, env, width, wait=90, tick=None):
    """Run argv with stdin, stdout and stderr on a new pty WIDTH columns wide
    (its own session), env as given; read until EOF or WAIT seconds without
    output. TICK, if given, is called with the Popen about every 0.1 s while
    reading (to act on the process mid-run). Returns (exit status, everything
    written, decoded)."""
    import fcntl
    import select
    import struct
    import termios
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, width, 0, 0))
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                         start_new_session=True)
    os.close(slave)
    chunks = []
    last = time.monotonic()
    while True:
        if tick:
            tick(p)
        if not select.select([master], [], [], 0.1 if tick else wait)[0]:
            if tick and time.monotonic() - last < wait:
                continue
            break
        try:
            b = os.read(master, 65536)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
        last = time.monotonic()
    rc = p.wait(60)
    os.close(master)
    return rc, b"".join(chunks).decode(errors="replace")
