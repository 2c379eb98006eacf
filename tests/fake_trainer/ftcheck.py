"""Verification helpers for the fake-trainer tests (and usable by other tests):
an inotify recorder (ctypes, no third-party modules) that captures the real
order of close-write / rename events, and validators for safetensors files,
torch.save zip archives, TensorBoard event files, trainer_state.json and the
--events log.
"""

import ctypes
import ctypes.util
import hashlib
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_trainer.py")
PY = os.environ.get("HS_PYTHON", "/usr/bin/python3")

IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000


class Inotify:
    """Recursive-ish recorder: watches `root` and every directory created under
    it (directories the caller pre-creates are watched from the start, so no
    event is lost to the add-watch race). Records (mask, relpath[, cookie])."""

    def __init__(self, root):
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.root = root
        self.wds = {}
        self.events = []
        for r, ds, _ in os.walk(root):
            self.add(r)

    def add(self, path):
        mask = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
        wd = self.libc.inotify_add_watch(self.fd, path.encode(), mask)
        if wd >= 0:
            self.wds[wd] = path

    def drain(self, timeout=0.05):
        while True:
            r, _, _ = select.select([self.fd], [], [], timeout)
            if not r:
                return
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            off = 0
            while off < len(buf):
                wd, mask, cookie, ln = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16 : off + 16 + ln].rstrip(b"\0").decode()
                off += 16 + ln
                d = self.wds.get(wd)
                if d is None:
                    continue
                p = os.path.join(d, name)
                if mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
                    self.add(p)
                    for r2, _, _ in os.walk(p):
                        if r2 != p:
                            self.add(r2)
                self.events.append((mask, os.path.relpath(p, self.root), cookie))
            timeout = 0

    def run(self, cmd, **kw):
        """Run cmd while recording; returns the CompletedProcess-like tuple."""
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        while proc.poll() is None:
            self.drain(0.02)
        out, err = proc.communicate()
        self.drain(0.05)
        return proc.returncode, out.decode(), err.decode()

    def closed(self, prefix=""):
        return [p for m, p, _ in self.events if m & IN_CLOSE_WRITE and p.startswith(prefix)]

    def close(self):
        os.close(self.fd)


def run_fake(args, **kw):
    return subprocess.run([PY, FAKE] + args, capture_output=True, text=True, **kw)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


SIZES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1}


def check_safetensors(path):
    """Raise AssertionError unless path is a valid safetensors file. Returns the
    header dict (without __metadata__) and the metadata."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        assert 0 < n <= size - 8, "%s: header length %d vs file size %d" % (path, n, size)
        hdr = json.loads(f.read(n).decode("utf-8"))
    meta = hdr.pop("__metadata__", None)
    assert meta == {"format": "pt"}, "%s: __metadata__ %r" % (path, meta)
    spans = []
    for name, t in hdr.items():
        assert t["dtype"] in SIZES, name
        want = SIZES[t["dtype"]]
        for d in t["shape"]:
            want *= d
        b, e = t["data_offsets"]
        assert e - b == want, "%s: %s declares %d bytes, shape says %d" % (path, name, e - b, want)
        spans.append((b, e))
    spans.sort()
    pos = 0
    for b, e in spans:
        assert b == pos, "%s: data gap/overlap at %d" % (path, b)
        pos = e
    assert 8 + n + pos == size, "%s: file is %d bytes, header promises %d" % (path, size, 8 + n + pos)
    assert (8 + n) % 8 == 0, "%s: header not padded to 8" % path
    return hdr, meta


class _Any:
    def __init__(self, *a, **k):
        self.args = a

    def __setstate__(self, st):
        self.__dict__.update(st if isinstance(st, dict) else {"state": st})


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("transformers"):
            if name == "TrainingArguments":
                return type(name, (_Any,), {})
            return lambda *a: a[0] if a else None  # enums -> their value
        if module in ("builtins", "__builtin__") and name == "getattr":
            return lambda cls, attr: attr.lower()
        return super().find_class(module, name)


def check_torch_zip(path):
    """A torch.save archive: one top folder with data.pkl (unpicklable), byteorder,
    version; stored records aligned to 64 bytes. Returns the unpickled object."""
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None, path
        names = z.namelist()
        top = names[0].split("/")[0]
        assert all(n.split("/")[0] == top for n in names), names
        for need in ("data.pkl", "byteorder", "version"):
            assert top + "/" + need in names, "%s: missing %s" % (path, need)
        for zi in z.infolist():
            assert zi.compress_type == zipfile.ZIP_STORED
            if "/data/" in zi.filename:
                with open(path, "rb") as f:
                    f.seek(zi.header_offset + 26)
                    nl, el = struct.unpack("<HH", f.read(4))
                assert (zi.header_offset + 30 + nl + el) % 64 == 0, "%s: %s not 64-aligned" % (path, zi.filename)
        return _Unpickler(z.open(top + "/data.pkl")).load()


def _crc32c(data, _t=[]):
    if not _t:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            _t.append(c)
    c = 0xFFFFFFFF
    for b in data:
        c = _t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def check_tfevents(path):
    """TFRecord framing with masked CRC32C; the first record holds file_version.
    Returns the number of records."""
    data = open(path, "rb").read()
    off = n = 0
    while off < len(data):
        ln = struct.unpack_from("<Q", data, off)[0]
        assert struct.unpack_from("<I", data, off + 8)[0] == _masked(_crc32c(data[off : off + 8])), "length crc"
        payload = data[off + 12 : off + 12 + ln]
        assert struct.unpack_from("<I", data, off + 12 + ln)[0] == _masked(_crc32c(payload)), "data crc"
        if n == 0:
            assert b"brain.Event:2" in payload
        off += 16 + ln
        n += 1
    assert off == len(data)
    return n


def load_state(path):
    """trainer_state.json as the Trainer writes it (NaN/Infinity literals allowed)."""
    with open(path) as f:
        text = f.read()
    return json.loads(text), text


def strict_json_ok(text):
    def bad(c):
        raise ValueError(c)

    try:
        json.loads(text, parse_constant=bad)
        return True
    except ValueError:
        return False


def read_events(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def tree(root):
    return sorted(os.path.relpath(os.path.join(r, f), root) for r, ds, fs in os.walk(root) for f in fs + [d for d in ds if os.path.islink(os.path.join(r, d))])


def check_events_match_disk(root, events):
    """Every save event's files that still exist have the recorded size and
    sha256; every missing one was deleted by a later delete event or superseded
    by a later save of the same path."""
    deleted = [e["path"] for e in events if e["event"] == "delete"]
    last_record = {}
    for e in events:
        if e["event"] == "save":
            for f in e["files"]:
                last_record[f["path"]] = f
    n = 0
    for path, f in last_record.items():
        full = os.path.join(root, path)
        if "symlink" in f:
            assert os.readlink(full) == f["symlink"], path
            continue
        if not os.path.exists(full):
            assert any(path == d or path.startswith(d + "/") for d in deleted), "%s vanished without a delete event" % path
            continue
        assert os.path.getsize(full) == f["size"], path
        assert sha256(full) == f["sha256"], "%s: sha256 differs from the events file" % path
        n += 1
    return n


class Suite:
    """Minimal runner: named checks, 'name: N passed, M failed' at the end."""

    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: " + what, flush=True)
        return cond

    def run(self, fn, *a):
        try:
            fn(self, *a)
        except Exception as e:  # an exception is a failed check, reported with context
            import traceback

            self.failed += 1
            print("FAIL: %s raised %s: %s" % (fn.__name__, type(e).__name__, e), flush=True)
            traceback.print_exc(file=sys.stdout)

    def finish(self):
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed), flush=True)
        return 1 if self.failed or not self.passed else 0
