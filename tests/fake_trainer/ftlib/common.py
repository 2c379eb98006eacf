"""Shared machinery of the fake trainers: deterministic fast content, paced writes,
valid safetensors files, torch.save-style zip archives, TensorBoard event files,
and the --events log of completed saves.

Every byte written by the fake trainers goes through Ctx.write_* so that write
chunking (--chunk-bytes / --chunk-pause), the "last byte written" time of each
save, and crash injection work the same way for every layout. Content is a pure
function of (--seed, content key): two runs with the same options write identical
bytes, and the same key (e.g. "weights@step30") gives the same bytes wherever it
is written (a final output_dir save of the last/best weights is byte-identical to
that checkpoint's weights, as with the real Trainer).
"""

import hashlib
import json
import os
import pickle
import random
import struct
import sys
import time
import types
import zipfile
import enum

MiB = 1 << 20
_BASE_BLOCK = 1 << 20  # generated once per content key, then permuted per chunk


def parse_size(text):
    """'4M', '512k', '1.5G', '1000' -> bytes (binary multiples)."""
    t = str(text).strip().upper().rstrip("B").rstrip("I")
    mult = 1
    if t and t[-1] in "KMGT":
        mult = 1 << (10 * ("KMGT".index(t[-1]) + 1))
        t = t[:-1]
    try:
        v = float(t)
    except ValueError:
        raise ValueError("not a size: %r (examples: 4M, 512K, 1G, 1000)" % text)
    if v < 0:
        raise ValueError("negative size: %r" % text)
    return int(v * mult)


def _key_seed(seed, key):
    return int.from_bytes(hashlib.sha256(("%d:%s" % (seed, key)).encode()).digest()[:8], "little")


def content_chunks(seed, key, size, chunk):
    """Yield deterministic pseudo-random bytes totalling `size`, in pieces of at
    most `chunk` bytes. A 1 MiB random base block (random.Random(seed, key)) is
    byte-permuted with a fresh permutation for every following MiB
    (bytes.translate runs at > 1 GB/s; no per-byte Python loop)."""
    if size <= 0:
        return
    rng = random.Random(_key_seed(seed, key))
    base = rng.randbytes(min(_BASE_BLOCK, size))
    perm = list(range(256))
    block, boff = base, 0
    produced = 0
    while produced < size:
        want = min(chunk, size - produced)
        parts, got = [], 0
        while got < want:
            if boff == len(block):
                rng.shuffle(perm)
                block, boff = base.translate(bytes(perm)), 0
            take = min(len(block) - boff, want - got)
            parts.append(block[boff : boff + take] if (boff or take != len(block)) else block)
            boff += take
            got += take
        piece = parts[0] if len(parts) == 1 else b"".join(parts)
        produced += len(piece)
        yield piece


class Ctx:
    """Run-wide settings and the write primitives every layout uses."""

    def __init__(self, args):
        self.out = args.out
        self.seed = args.seed
        self.chunk = max(1, args.chunk_bytes)
        self.chunk_pause = args.chunk_pause
        self.events_path = args.events
        self.quiet = args.quiet
        self.crash_after_bytes = None  # set while a save is being crashed
        self.crash_exit_code = 1
        self.written_in_save = []  # rel paths written since begin_save()
        self.last_write = time.time()
        self.last_write_mono = time.monotonic_ns()
        self.bytes_total = 0
        self._since_pause = 0

    # -- bookkeeping ---------------------------------------------------
    def rel(self, path):
        return os.path.relpath(path, self.out)

    def begin_save(self):
        self.written_in_save = []

    def _touched(self, path):
        self.last_write = time.time()
        self.last_write_mono = time.monotonic_ns()
        r = self.rel(path)
        if r not in self.written_in_save:
            self.written_in_save.append(r)

    def _account(self, n):
        self.bytes_total += n
        if self.crash_after_bytes is not None:
            self.crash_after_bytes -= n
            if self.crash_after_bytes <= 0:
                # like SIGKILL/OOM: whatever Python still buffers is lost
                self.log("crashing in the middle of a save (--crash-during-save)")
                os._exit(self.crash_exit_code)

    def log(self, msg):
        if not self.quiet:
            print("fake_trainer: " + msg, flush=True)

    # -- writes --------------------------------------------------------
    def _paced(self, f, data):
        """Write `data` to `f` in --chunk-bytes pieces, sleeping --chunk-pause
        after every --chunk-bytes written (so the rate is about chunk/pause)."""
        mv = memoryview(data)
        for i in range(0, len(mv), self.chunk):
            piece = mv[i : i + self.chunk]
            if self.crash_after_bytes is not None and len(piece) >= self.crash_after_bytes:
                f.write(piece[: self.crash_after_bytes])
                f.flush()  # what reached the kernel before the process died
                self._account(self.crash_after_bytes)  # exits
            f.write(piece)
            self._account(len(piece))
            self._since_pause += len(piece)
            if self.chunk_pause > 0 and self._since_pause >= self.chunk:
                # one pause per --chunk-bytes written (small writes accumulate)
                self._since_pause = 0
                f.flush()
                time.sleep(self.chunk_pause)

    def write_bytes(self, path, data, mode="wb"):
        """open-truncate-write, like json.dump / save_pretrained do (not atomic)."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, mode) as f:
            self._paced(f, data)
        self._touched(path)

    def write_text(self, path, text):
        self.write_bytes(path, text.encode("utf-8"))

    def write_generated(self, f, key, size):
        for piece in content_chunks(self.seed, key, size, self.chunk):
            self._paced(f, piece)

    def write_safetensors(self, path, tensors, key, metadata=None):
        """tensors: list of (name, dtype, shape). Data is generated from `key`."""
        header, total = safetensors_header(tensors, metadata)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            self._paced(f, struct.pack("<Q", len(header)) + header)
            self.write_generated(f, key, total)
        self._touched(path)
        return 8 + len(header) + total

    def write_torch(self, path, obj, storages=(), archive=None, sid_key=None):
        """A torch.save-style zip (uncompressed, 64-byte aligned records):
        <archive>/data.pkl (pickle protocol 2 of obj), byteorder, data/<i> for each
        (content key, size) in storages, version, .data/serialization_id. torch
        names the archive folder after the file's stem."""
        if archive is None:
            archive = os.path.splitext(os.path.basename(path))[0]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as raw:
            pf = _PacedFile(raw, self)
            with zipfile.ZipFile(pf, "w", zipfile.ZIP_STORED) as zf:
                _zip_put(zf, pf, archive + "/data.pkl", pickle.dumps(obj, protocol=2))
                _zip_put(zf, pf, archive + "/byteorder", b"little")
                for i, (key, size) in enumerate(storages):
                    _zip_put(zf, pf, "%s/data/%d" % (archive, i), None, key=key, size=size, ctx=self)
                _zip_put(zf, pf, archive + "/version", b"3\n")
                sid = "%040d" % (_key_seed(self.seed, sid_key or self.rel(path)) % 10**40)
                _zip_put(zf, pf, archive + "/.data/serialization_id", sid.encode())
        self._touched(path)

    def write_pickle(self, path, obj):
        self.write_bytes(path, pickle.dumps(obj, protocol=4))

    # -- events --------------------------------------------------------
    def emit_save(self, kind, name, step, files, marker_time=None, extra=None):
        """Append one JSON line describing a completed save. `files` are paths
        relative to --out; each is stat'ed and hashed now (after its last byte)."""
        t, tm = self.last_write, self.last_write_mono
        self.log("saved %s (%d files)" % (name, len(files)))
        if not self.events_path:
            return
        rec = {
            "event": "save",
            "kind": kind,
            "name": name,
            "step": step,
            "time": t,
            "monotonic_us": tm // 1000,
            "marker_time": marker_time if marker_time is not None else t,
            "files": [file_record(self.out, p) for p in sorted(files)],
        }
        if extra:
            rec.update(extra)
        self.append_event(rec)

    def append_event(self, rec):
        if not self.events_path:
            return
        with open(self.events_path, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")


def file_record(root, rel):
    p = os.path.join(root, rel)
    h = hashlib.sha256()
    size = 0
    if os.path.islink(p):
        return {"path": rel, "symlink": os.readlink(p)}
    with open(p, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                break
            h.update(b)
            size += len(b)
    return {"path": rel, "size": size, "sha256": h.hexdigest()}


class _PacedFile:
    """File wrapper for zipfile: paced writes, seek/tell passed through."""

    def __init__(self, raw, ctx):
        self.raw, self.ctx = raw, ctx

    def write(self, data):
        self.ctx._paced(self.raw, data)
        return len(data)

    def seek(self, *a):
        return self.raw.seek(*a)

    def tell(self):
        return self.raw.tell()

    def flush(self):
        self.raw.flush()

    def seekable(self):
        return True


def _zip_put(zf, pf, name, data, key=None, size=None, ctx=None):
    """Add a stored member whose data starts on a 64-byte boundary (torch pads
    with an 'FB' extra field the same way)."""
    if data is not None:
        size = len(data)
    zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    zi.compress_type = zipfile.ZIP_STORED
    off = pf.tell() + 30 + len(name.encode())
    zip64 = size >= 0xFFFFFFFF
    if zip64:
        off += 20  # zipfile adds a zip64 extra field in the local header
    pad = (-(off + 4)) % 64
    zi.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    with zf.open(zi, "w", force_zip64=zip64) as w:
        if data is not None:
            w.write(data)
        else:
            for piece in content_chunks(ctx.seed, key, size, ctx.chunk):
                w.write(piece)


# -- safetensors ---------------------------------------------------------

DTYPE_SIZES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1}


def safetensors_header(tensors, metadata=None):
    """Header bytes (JSON padded with spaces to a multiple of 8, as the Rust
    writer does) and the total data size. Data is laid out in header order."""
    hdr = {"__metadata__": dict(metadata or {"format": "pt"})}
    off = 0
    # the Rust writer lays data out by dtype alignment (largest first), then name
    for name, dtype, shape in sorted(tensors, key=lambda t: (-DTYPE_SIZES[t[1]], t[0])):
        n = DTYPE_SIZES[dtype]
        for d in shape:
            n *= d
        hdr[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * ((-len(raw)) % 8)
    return raw, off


def tensor_bytes(t):
    n = DTYPE_SIZES[t[1]]
    for d in t[2]:
        n *= d
    return n


def model_tensors(size, dtype, prefix="model", causal=False):
    """A plausible transformer parameter list whose data size is close to (never
    above) `size` bytes: embeddings, L layers of attention + MLP, and a head."""
    item = DTYPE_SIZES[dtype]
    elems = max(1, size // item)
    h = 16
    for cand in (32, 64, 128, 256, 512, 1024, 2048, 4096):
        if 2 * (12 * cand * cand + 13 * cand) <= 0.7 * elems:
            h = cand
    layer = 12 * h * h + 13 * h
    n_layers = max(1, min(48, int(0.7 * elems // layer)))
    while n_layers * layer > 0.9 * elems and n_layers > 1:
        n_layers -= 1
    out = []
    head = [(prefix + ".norm.weight", (h,))] if causal else [("classifier.weight", (2, h)), ("classifier.bias", (2,))]
    used = sum(_prod(s) for _, s in head)
    for i in range(n_layers):
        p = "%s.layers.%d." % (prefix, i)
        for nm, shape in (
            ("self_attn.q_proj.weight", (h, h)), ("self_attn.q_proj.bias", (h,)),
            ("self_attn.k_proj.weight", (h, h)), ("self_attn.k_proj.bias", (h,)),
            ("self_attn.v_proj.weight", (h, h)), ("self_attn.v_proj.bias", (h,)),
            ("self_attn.o_proj.weight", (h, h)), ("self_attn.o_proj.bias", (h,)),
            ("mlp.up_proj.weight", (4 * h, h)), ("mlp.up_proj.bias", (4 * h,)),
            ("mlp.down_proj.weight", (h, 4 * h)), ("mlp.down_proj.bias", (h,)),
            ("input_layernorm.weight", (h,)), ("input_layernorm.bias", (h,)),
            ("post_attention_layernorm.weight", (h,)),
        ):
            out.append((p + nm, shape))
            used += _prod(shape)
    vocab = max(1, (elems - used) // h) if elems > used else 1
    tensors = [(prefix + ".embed_tokens.weight", (vocab, h))] + out + head
    return [(n, dtype, s) for n, s in tensors], h


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def split_shards(tensors, k):
    """Contiguous, non-empty groups balanced by bytes (like max_shard_size)."""
    k = max(1, min(k, len(tensors)))
    total = sum(tensor_bytes(t) for t in tensors)
    groups, cur, acc = [], [], 0
    for i, t in enumerate(tensors):
        remaining_groups = k - len(groups)
        remaining_tensors = len(tensors) - i
        if cur and (acc >= total * (len(groups) + 1) / k or remaining_tensors < remaining_groups):
            if len(groups) < k - 1:
                groups.append(cur)
                cur = []
        cur.append(t)
        acc += tensor_bytes(t)
    groups.append(cur)
    return groups


# -- pickles of transformers objects --------------------------------------

_FAKE = {}


def fake_class(module, name, fields=None, enum_values=None):
    """A class that pickles as `module.name` (pickle needs it importable, so a
    stand-in module is registered in sys.modules; transformers is not needed)."""
    if (module, name) in _FAKE:
        return _FAKE[(module, name)]
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        m = ".".join(parts[:i])
        if m not in sys.modules:
            sys.modules[m] = types.ModuleType(m)
    if enum_values is not None:
        cls = enum.Enum(name, [(v.upper(), v) for v in enum_values], type=str, module=module, qualname=name)
    else:
        cls = type(name, (object,), {"__module__": module, "__qualname__": name})
    setattr(sys.modules[module], name, cls)
    _FAKE[(module, name)] = cls
    return cls


# -- TensorBoard event files ----------------------------------------------

def _crc32c_table():
    tbl = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        tbl.append(c)
    return tbl


_CRC_TBL = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TBL[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _ld(field, payload):
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def tfrecord(payload):
    ln = struct.pack("<Q", len(payload))
    return ln + struct.pack("<I", _masked(crc32c(ln))) + payload + struct.pack("<I", _masked(crc32c(payload)))


def tf_event(wall, step=None, file_version=None, scalars=None):
    """Serialized tensorboard Event proto: wall_time, step, file_version or a
    Summary of simple_value scalars."""
    b = b"\x09" + struct.pack("<d", wall)
    if step is not None:
        b += b"\x10" + _varint(step)
    if file_version:
        b += _ld(3, file_version.encode())
    if scalars:
        summ = b""
        for tag, v in scalars:
            summ += _ld(1, _ld(1, tag.encode()) + b"\x15" + struct.pack("<f", v))
        b += _ld(5, summ)
    return tfrecord(b)


class TBWriter:
    """Appends records to events.out.tfevents.<time>.<host>.<pid>.0 and flushes
    (SummaryWriter flushes every 120 s; we flush at once so tests see it)."""

    def __init__(self, ctx, logdir):
        import socket

        host = socket.gethostname()
        self.ctx = ctx
        self.path = os.path.join(logdir, "events.out.tfevents.%d.%s.%d.0" % (int(time.time()), host, os.getpid()))
        ctx.write_bytes(self.path, tf_event(time.time(), file_version="brain.Event:2"))

    def scalars(self, step, values):
        vals = [(k, float(v)) for k, v in values]
        if vals:
            self.ctx.write_bytes(self.path, tf_event(time.time(), step=step, scalars=vals), mode="ab")
