"""Content-addressed storage and the storage server (the emulator's "S3").

Owns: the regular-blob store (DATA/blobs, by git blob SHA-1), the LFS object store
(DATA/lfs, by SHA-256; `--discard` keeps only size markers), presigned-style URL
signing (HMAC-SHA256 over method, path and expiration), multipart upload sessions
(one file per part under DATA/uploads, stored only once its whole body was received,
S3 ETags = quoted MD5 of the part's bytes; completion that concatenates the parts
while hashing and checks SHA-256 == oid) and the storage HTTP handler: basic PUT,
part PUT, ranged GET/HEAD downloads. Every storage request that carries an
Authorization header is rejected (S3: only one auth mechanism allowed). Bodies are
streamed with 4 MiB buffers, never held whole in memory.
"""

import fcntl
import hashlib
import hmac
import os
import re
import socket
import struct
import threading
import time
import uuid
from xml.sax.saxutils import escape

from emu_http import BaseHandler, HttpError
from emu_repos import git_blob_sha1, lfs_pointer

BUF = 4 << 20
PIPE_SZ = 1 << 20
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
HAVE_SPLICE = hasattr(os, "splice") and not os.environ.get("HUBEMU_NO_SPLICE")
OID_RE = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    """Regular (non-LFS) file contents, keyed by git blob SHA-1."""

    def __init__(self, data_dir):
        self.dir = os.path.join(data_dir, "blobs")
        os.makedirs(self.dir, exist_ok=True)

    def _path(self, sha1):
        return os.path.join(self.dir, sha1[:2], sha1)

    def put_regular(self, data):
        sha1 = git_blob_sha1(data)
        p = self._path(sha1)
        if not os.path.exists(p):
            os.makedirs(os.path.dirname(p), exist_ok=True)
            tmp = "%s.%s.tmp" % (p, uuid.uuid4().hex)
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, p)
        return {"blob": sha1, "size": len(data), "lfs": None}

    def get(self, sha1):
        with open(self._path(sha1), "rb") as f:
            return f.read()


def lfs_entry(oid, size):
    ptr = lfs_pointer(oid, size)
    return {"blob": git_blob_sha1(ptr), "size": size, "lfs": oid, "pointer_size": len(ptr)}


class Session:
    def __init__(self, uid, oid, size, chunk, updir):
        self.uid, self.oid, self.size, self.chunk = uid, oid, size, chunk
        self.nparts = max(1, -(-size // chunk))
        self.parts = {}  # n -> (etag, size): only parts whose whole body was received
        self.created = time.time()
        self.updir = updir  # None with --discard; else DATA/uploads, one file per stored part
        self.poisoned = False  # badetag fault: part 1 was "replaced by other bytes"

    def part_size(self, n):
        return min(self.chunk, self.size - (n - 1) * self.chunk)

    def part_path(self, n):
        return os.path.join(self.updir, "%s.%05d" % (self.uid, n))

    def remove_files(self):
        if self.updir is None:
            return
        for n in range(1, self.nparts + 1):
            try:
                os.unlink(self.part_path(n))
            except OSError:
                pass


class ObjectStore:
    """LFS objects by SHA-256, upload sessions and URL signing."""

    def __init__(self, data_dir, discard, url_ttl):
        self.dir = os.path.join(data_dir, "lfs")
        self.tmp = os.path.join(data_dir, "tmp")
        self.updir = os.path.join(data_dir, "uploads")
        for d in (self.dir, self.tmp, self.updir):
            os.makedirs(d, exist_ok=True)
        self.discard = discard
        self.url_ttl = url_ttl
        self.secret = os.urandom(32)
        self.lock = threading.Lock()
        self.sessions = {}

    # -- objects ---------------------------------------------------------------------------------
    def path(self, oid):
        return os.path.join(self.dir, oid[:2], oid)

    def size(self, oid):
        """Stored size of an object, or None when absent."""
        if not OID_RE.match(oid or ""):
            return None
        try:
            return os.stat(self.path(oid)).st_size
        except OSError:
            pass
        try:
            with open(self.path(oid) + ".discarded") as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def is_discarded(self, oid):
        return os.path.exists(self.path(oid) + ".discarded")

    def _install(self, tmp_path, oid):
        p = self.path(oid)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        os.replace(tmp_path, p)

    def _mark_discarded(self, oid, size):
        p = self.path(oid) + ".discarded"
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(str(size))

    # -- signing ---------------------------------------------------------------------------------
    def sign(self, method, path, exp):
        msg = ("%s\n%s\n%d" % (method, path, exp)).encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()

    def expiry(self):
        """expires_in / expires_at of an upload action (git-lfs batch API; the Hub sends expires_in)."""
        exp = int(time.time()) + self.url_ttl
        return {"expires_in": self.url_ttl,
                "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))}

    def signed_url(self, base, method, path, extra=""):
        exp = int(time.time()) + self.url_ttl
        return "%s%s?%sX-Amz-Expires=%d&expiration=%d&signature=%s" % (
            base, path, extra, self.url_ttl, exp, self.sign(method, path, exp))

    def check_signature(self, method, path, query, expire_fault=False):
        """403 on missing/bad signature or expired URL (S3 wording)."""
        try:
            exp = int(query.get("expiration", [""])[0])
            sig = query.get("signature", [""])[0]
        except ValueError:
            raise HttpError(403, "Query-string authentication requires the expiration and signature parameters",
                            xml_code="AccessDenied")
        if not hmac.compare_digest(self.sign(method, path, exp), sig):
            raise HttpError(403, "The request signature we calculated does not match the signature you provided.",
                            xml_code="SignatureDoesNotMatch")
        if expire_fault or time.time() > exp:
            raise HttpError(403, "Request has expired", xml_code="AccessDenied")

    # -- multipart -------------------------------------------------------------------------------
    def new_session(self, oid, size, chunk):
        s = Session(uuid.uuid4().hex, oid, size, chunk, None if self.discard else self.updir)
        with self.lock:
            self.sessions[s.uid] = s
        return s

    def discard_etag(self, uid, n, size):
        """--discard: the bytes are not looked at; a deterministic stand-in for their MD5."""
        msg = ("%s:%d:%d" % (uid, n, size)).encode()
        return '"%s"' % hmac.new(self.secret, msg, hashlib.md5).hexdigest()

    def store_part(self, s, n, tmp, etag, size):
        """Make a fully received part the session's part n (replacing an earlier one)."""
        with self.lock:
            if self.sessions.get(s.uid) is not s:
                if tmp:
                    os.unlink(tmp)
                raise HttpError(404, "The specified upload does not exist. The upload ID may be invalid, or the "
                                "upload may have been aborted or completed.", xml_code="NoSuchUpload")
            if tmp:
                os.replace(tmp, s.part_path(n))
            s.parts[n] = (etag, size)

    def poison(self, s):
        """badetag fault: as if a late PUT of other bytes had replaced part 1 (ETag changed)."""
        with self.lock:
            s.poisoned = True
            s.parts[1] = ('"%s"' % hashlib.md5(b"other bytes " + s.uid.encode()).hexdigest(), s.part_size(1))

    def session(self, uid):
        with self.lock:
            return self.sessions.get(uid)

    def complete(self, uid, body):
        """Multipart completion: check parts and ETags, assemble, verify SHA-256 == oid."""
        if not isinstance(body, dict):
            body = {}
        with self.lock:
            s = self.sessions.get(uid)
            if s is None:
                raise HttpError(404, "Unknown or already completed upload %s" % uid, code="NoSuchUpload")
            if body.get("oid") != s.oid:
                raise HttpError(400, "Completion oid %r does not match the upload's oid %s" % (body.get("oid"), s.oid),
                                code="BadRequest")
            parts = body.get("parts")
            if not isinstance(parts, list) or [p.get("partNumber") if isinstance(p, dict) else None
                                               for p in parts] != list(range(1, s.nparts + 1)):
                raise HttpError(400, "Completion must list parts 1..%d in ascending order" % s.nparts,
                                code="InvalidPartOrder")
            for p in parts:
                n = p["partNumber"]
                got = s.parts.get(n)
                if got is None:
                    raise HttpError(400, "Part %d was never uploaded" % n, code="InvalidPart")
                if p.get("etag") != got[0]:
                    raise HttpError(400, "ETag mismatch for part %d: got %r, expected %r" % (n, p.get("etag"), got[0]),
                                    code="InvalidPart")
            # Parts are stored only with their expected size, so the sizes need no check.
            del self.sessions[uid]  # from here no part PUT can store into this session
        if self.discard:
            self._mark_discarded(s.oid, s.size)
            return s
        h = hashlib.sha256()
        buf = bytearray(BUF)
        mv = memoryview(buf)
        tmp = os.path.join(self.tmp, uuid.uuid4().hex)
        try:
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                for n in range(1, s.nparts + 1):
                    fd = os.open(s.part_path(n), os.O_RDONLY)
                    try:
                        while True:
                            k = os.readv(fd, [buf])
                            if k <= 0:
                                break
                            h.update(mv[:k])
                            _write_all(out, mv[:k])
                    finally:
                        os.close(fd)
            finally:
                os.close(out)
            if h.hexdigest() != s.oid:
                raise HttpError(400, "Assembled object hashes to %s, not to its oid %s" % (h.hexdigest(), s.oid),
                                code="BadDigest")
            self._install(tmp, s.oid)
            tmp = None
            return s
        finally:
            if tmp:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            s.remove_files()


def _write_all(fd, mv, off=None):
    while len(mv):
        k = os.write(fd, mv) if off is None else os.pwrite(fd, mv, off)
        mv = mv[k:]
        if off is not None:
            off += k


class StorageHandler(BaseHandler):
    """The storage origin: /lfs/<oid> (basic PUT), /upload/<uid>/<n> (part PUT), /download/<oid>."""

    def send_error_reply(self, e):
        code = e.xml_code or {400: "InvalidRequest", 403: "AccessDenied", 404: "NoSuchKey", 410: "Gone",
                              411: "MissingContentLength", 500: "InternalError", 503: "SlowDown"}.get(e.status, "Error")
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
                "<RequestId>%s</RequestId></Error>" % (code, escape(e.message), self.request_id)).encode()
        self.reply(e.status, body, ctype="application/xml", headers=e.headers)

    def route(self):
        ctx = self.server.ctx
        store = ctx.objects
        if self.auth_header:
            raise HttpError(400, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                            "Signature query string parameter or the Authorization header should be specified",
                            xml_code="InvalidArgument")
        parts = self.url_path.strip("/").split("/")
        method = self.command
        if method == "PUT" and len(parts) == 3 and parts[0] == "upload":
            kind = "part"
        elif method == "PUT" and len(parts) == 2 and parts[0] == "lfs":
            kind = "basic"
        elif method in ("GET", "HEAD") and len(parts) == 2 and parts[0] == "download":
            kind = "download"
        else:
            raise HttpError(405 if parts and parts[0] in ("upload", "lfs", "download") else 404,
                            "No such storage resource", xml_code="MethodNotAllowed")
        faults = ctx.faults
        store.check_signature("GET" if kind == "download" else "PUT", self.url_path, self.query,
                              expire_fault=faults.hit(self, "expire"))
        if faults.hit(self, "storage5xx"):
            st = faults.choice([500, 503])
            raise HttpError(st, "We encountered an internal error. Please try again." if st == 500 else
                            "Please reduce your request rate.")
        if kind != "download" and faults.hit(self, "reset"):  # downloads: reset mid-body in _download
            self.reset_connection()
        faults.maybe_stall(self)
        if kind == "part":
            self._put_part(store, parts[1], parts[2])
        elif kind == "basic":
            self._put_basic(store, parts[1])
        else:
            self._download(store, parts[1])

    def _body_length(self):
        if self.chunked or "Content-Length" not in self.headers:
            raise HttpError(411, "You must provide the Content-Length HTTP header.")
        return self.body_remaining

    def _put_part(self, store, uid, nstr):
        with store.lock:
            s = store.sessions.get(uid)
        if s is None:
            raise HttpError(404, "The specified upload does not exist.", xml_code="NoSuchUpload")
        try:
            n = int(nstr)
        except ValueError:
            n = 0
        if not 1 <= n <= s.nparts:
            raise HttpError(400, "Part number must be an integer between 1 and %d" % s.nparts, xml_code="InvalidArgument")
        length = self._body_length()
        want = s.part_size(n)
        if length != want:
            raise HttpError(400, "Part %d must be %d bytes, got Content-Length %d" % (n, want, length),
                            xml_code="InvalidPartSize")
        # Like S3: the part is stored (replacing an earlier upload of it) only once its whole
        # body was received; an aborted or timed-out PUT stores nothing and keeps the earlier
        # part. ETag = quoted MD5 of the bytes, so re-sending the same bytes gives the same ETag.
        if store.discard:
            self.receive(length, None, None)
            etag = store.discard_etag(uid, n, length)
            store.store_part(s, n, None, etag, length)
        else:
            h = hashlib.md5()
            tmp = os.path.join(store.tmp, "%s.%05d.%s" % (uid, n, uuid.uuid4().hex))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                self.receive(length, fd, h)
            except BaseException:
                os.close(fd)
                os.unlink(tmp)
                raise
            os.close(fd)
            etag = '"%s"' % h.hexdigest()
            store.store_part(s, n, tmp, etag, length)
        self.reply(200, b"", ctype=None, headers={"ETag": etag})

    def _put_basic(self, store, oid):
        if not OID_RE.match(oid):
            raise HttpError(400, "Invalid object id", xml_code="InvalidArgument")
        length = self._body_length()
        h = hashlib.sha256()
        tmp = None
        fd = None
        if not store.discard and store.size(oid) is None:
            tmp = os.path.join(store.tmp, uuid.uuid4().hex)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self.receive(length, fd, h)
        except BaseException:
            if fd is not None:
                os.close(fd)
                os.unlink(tmp)
            raise
        if fd is not None:
            os.close(fd)
        if h.hexdigest() != oid:
            if tmp:
                os.unlink(tmp)
            raise HttpError(400, "The SHA-256 you specified did not match the calculated checksum (got %s)" % h.hexdigest(),
                            xml_code="BadDigest")
        if tmp:
            store._install(tmp, oid)
        elif store.discard and store.size(oid) is None:
            store._mark_discarded(oid, length)
        self.reply(200, b"", ctype=None, headers={"ETag": '"%s"' % oid[:32]})

    def receive(self, n, fd, hasher, offset=None):
        """Stream n body bytes to fd (None = drop) at `offset` (None = append), optionally hashing."""
        rfile = self.rfile
        if n > 0:
            pre = rfile.peek(1)
            take = min(len(pre), n)
            if take:
                data = rfile.read(take)
                if hasher:
                    hasher.update(data)
                if fd is not None:
                    _write_all(fd, memoryview(data), offset)
                if offset is not None:
                    offset += take
                n -= take
                self.req_bytes += take
                self.body_remaining -= take
        if n > 0 and hasher is None and HAVE_SPLICE:
            self._splice_in(n, fd, offset)
            return
        buf = self.server.ctx.get_buffer()
        mv = memoryview(buf)
        sock = self.connection
        try:
            while n > 0:
                k = sock.recv_into(mv, min(n, BUF))
                if k == 0:
                    raise ConnectionError("client closed the connection mid-body")
                chunk = mv[:k]
                if hasher:
                    hasher.update(chunk)
                if fd is not None:
                    _write_all(fd, chunk, offset)
                if offset is not None:
                    offset += k
                n -= k
                self.req_bytes += k
                self.body_remaining -= k
        finally:
            self.server.ctx.put_buffer(buf)

    def _splice_in(self, n, fd, offset):
        """Zero-copy-ish receive: socket → pipe → file (or /dev/null) with splice(2)."""
        sock = self.connection
        r, w = os.pipe()
        try:
            try:
                fcntl.fcntl(w, F_SETPIPE_SZ, PIPE_SZ)
            except OSError:
                pass
            sock.settimeout(None)  # blocking splice, bounded by SO_RCVTIMEO
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(self.timeout), 0))
            dst = fd if fd is not None else self.server.ctx.devnull
            flags = os.SPLICE_F_MOVE | os.SPLICE_F_MORE
            while n > 0:
                k = os.splice(sock.fileno(), w, min(n, PIPE_SZ), flags=flags)
                if k == 0:
                    raise ConnectionError("client closed the connection mid-body")
                n -= k
                self.req_bytes += k
                self.body_remaining -= k
                while k > 0:
                    if offset is None or fd is None:
                        w_ = os.splice(r, dst, k, flags=flags)
                    else:
                        w_ = os.splice(r, dst, k, offset_dst=offset, flags=flags)
                        offset += w_
                    k -= w_
        except BlockingIOError:
            raise TimeoutError("body read timed out")
        finally:
            os.close(r)
            os.close(w)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 0))
            sock.settimeout(self.timeout)

    def _download(self, store, oid):
        size = store.size(oid)
        if size is None:
            raise HttpError(404, "The specified key does not exist.", xml_code="NoSuchKey")
        if store.is_discarded(oid):
            raise HttpError(410, "Object %s was received in --discard mode; its bytes were not kept" % oid)
        start, end, status = 0, size - 1, 200
        headers = {"ETag": '"%s"' % oid, "Accept-Ranges": "bytes", "Last-Modified": "Thu, 01 Jan 2026 00:00:00 GMT"}
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                raise HttpError(416, "The requested range is not satisfiable", xml_code="InvalidRange")
            if m.group(1) == "":
                start = max(0, size - int(m.group(2)))
            else:
                start = int(m.group(1))
                if m.group(2) != "":
                    end = min(int(m.group(2)), size - 1)
            if start >= size or start > end:
                raise HttpError(416, "The requested range is not satisfiable", xml_code="InvalidRange",
                                headers={"Content-Range": "bytes */%d" % size})
            status = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, end, size)
        count = end - start + 1 if size else 0
        self.reply(status, b"", ctype="application/octet-stream", headers=headers, head_len=count)
        if self.command == "HEAD" or count == 0:
            return
        self.wfile.flush()
        cut = self.server.ctx.faults.hit(self, "reset") and count > 1
        with open(store.path(oid), "rb") as f:
            if not cut and self.server.ctx.dl_faults.send(self, f, oid, start, count):
                return
            sent = self.connection.sendfile(f, start, count // 2 if cut else count)
        self.resp_bytes += sent
        if cut:  # reset mid-body: the client sees a truncated response
            self.reset_connection(read_some=False)
