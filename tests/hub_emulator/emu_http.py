"""HTTP plumbing shared by the Hub API server and the storage server.

Owns: the threaded HTTP/1.1 server class, the request-handler base (request ids,
body reading with Content-Length or chunked encoding, JSON / XML replies, Hub-style
errors with X-Error-Code / X-Error-Message, connection reset for fault injection,
draining unread bodies) and the JSON-lines request log. Endpoint logic lives in
emu_api.py (Hub) and emu_storage.py (storage).
"""

import json
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DRAIN_LIMIT = 1 << 20  # unread bodies up to this size are drained, bigger ones close the connection
API_BODY_LIMIT = 1 << 30  # no API body is bigger than this (commit payloads stay well under)


class HttpError(Exception):
    """An error answer: status, message, optional X-Error-Code and extra headers."""

    def __init__(self, status, message, code=None, headers=None, xml_code=None, extra=None):
        super().__init__(message)
        self.extra = extra or {}
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.xml_code = xml_code


class ConnectionResetByFault(Exception):
    """Raised after the handler reset its own connection (fault injection)."""


class RequestLog:
    """JSON-lines request log; one line per finished request, thread-safe."""

    def __init__(self, path):
        self._lock = threading.Lock()
        self._f = open(path, "a", buffering=1, encoding="utf-8") if path else None

    def write(self, record):
        if not self._f:
            return
        line = json.dumps(record, separators=(",", ":"), sort_keys=False)
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()

    def close(self):
        if self._f:
            with self._lock:
                self._f.close()
                self._f = None


class EmuServer(ThreadingHTTPServer):
    """Threaded server bound to 127.0.0.1; `ctx` is the shared emulator context."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port, handler_cls, ctx, kind):
        self.ctx = ctx
        self.kind = kind
        super().__init__(("127.0.0.1", port), handler_cls)

    def handle_error(self, request, client_address):
        # Client disconnects are normal under fault injection; log only real bugs.
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ConnectionResetByFault)):
            return
        traceback.print_exc()


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as real front ends (nginx's tcp_nodelay, CloudFront) set it:
    # a reply goes out as two writes (headers, then body), and with Nagle the
    # body waited for the client's delayed ACK of the headers — 40 ms on an
    # API call over loopback that the real Hub does not have.
    disable_nagle_algorithm = True
    server_version = "hub-emulator/1.0"
    sys_version = ""
    timeout = 120  # seconds of socket inactivity before a handler thread gives up

    # -- per request state ---------------------------------------------------------------------
    def _reset_state(self):
        self.request_id = "Root=1-%08x-%s" % (int(time.time()), uuid.uuid4().hex[:24])
        self.req_bytes = 0
        self.resp_bytes = 0
        self.status = 0
        self.ops = None
        self.paths = None  # the files a preupload or LFS batch asked about
        self.fault = None
        self.err_msg = None
        self.body_remaining = None  # unknown until body handling starts
        self.chunked = False
        split = urlsplit(self.path)
        self.url_path = split.path
        self.query = parse_qs(split.query, keep_blank_values=True)
        self.auth_header = self.headers.get("Authorization")
        te = self.headers.get("Transfer-Encoding", "")
        self.chunked = "chunked" in te.lower()
        cl = self.headers.get("Content-Length")
        if self.chunked:
            self.body_remaining = -1
        elif cl is not None:
            try:
                self.body_remaining = int(cl)
                if self.body_remaining < 0:
                    raise ValueError
            except ValueError:
                self.body_remaining = 0
                raise HttpError(400, "Invalid Content-Length")
        else:
            self.body_remaining = 0

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # silence http.server's stderr log
        pass

    def qarg(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    # -- dispatch --------------------------------------------------------------------------------
    def _dispatch(self):
        started = time.time()
        try:
            self._reset_state()
            self.route()
        except ConnectionResetByFault:
            self.close_connection = True
        except HttpError as e:
            self.err_msg = e.message
            self.send_error_reply(e)
        except (ConnectionError, BrokenPipeError, socket.timeout, TimeoutError):
            self.close_connection = True
            if not self.status:
                self.status = 499  # client went away
        except Exception as e:  # a bug in the emulator: answer 500 and say so on stderr
            traceback.print_exc()
            self.err_msg = "internal emulator error: %s" % e
            try:
                self.send_error_reply(HttpError(500, self.err_msg, code="InternalError"))
            except Exception:
                self.close_connection = True
        finally:
            self._log(started)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _dispatch

    def _log(self, started):
        rec = {
            "ts": round(started, 6),
            "server": self.server.kind,
            "method": self.command,
            "path": getattr(self, "url_path", self.path),
            "status": self.status,
            "req_bytes": self.req_bytes,
            "resp_bytes": self.resp_bytes,
            "auth": bool(getattr(self, "auth_header", None)),
            "request_id": getattr(self, "request_id", None),
            "dur_ms": round((time.time() - started) * 1000, 2),
        }
        if self.ops is not None:
            rec["ops"] = self.ops
        if self.paths is not None:
            rec["paths"] = self.paths
        if self.fault:
            rec["fault"] = self.fault
        if self.err_msg:
            rec["error"] = self.err_msg
        rng = self.headers.get("Range") if self.headers else None
        if rng:
            rec["range"] = rng
        self.server.ctx.log.write(rec)

    # -- body ------------------------------------------------------------------------------------
    def read_body(self, limit=API_BODY_LIMIT):
        """Whole request body (API calls only: bounded by `limit`)."""
        if self.chunked:
            return self._read_chunked(limit)
        n = self.body_remaining or 0
        if n > limit:
            raise HttpError(413, "Payload too large (%d bytes > %d)" % (n, limit), code="PayloadTooLarge")
        data = self.rfile.read(n) if n else b""
        self.body_remaining = 0
        self.req_bytes += len(data)
        if len(data) != n:
            raise ConnectionError("short body")
        return data

    def _read_chunked(self, limit):
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise ConnectionError("eof in chunked body")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers
                    t = self.rfile.readline(1024)
                    if t in (b"\r\n", b"\n", b""):
                        break
                break
            if len(out) + size > limit:
                self.body_remaining = -1
                raise HttpError(413, "Payload too large", code="PayloadTooLarge")
            chunk = self.rfile.read(size)
            self.rfile.readline(16)
            out += chunk
            self.req_bytes += len(chunk)
        self.body_remaining = 0
        self.chunked = False
        return bytes(out)

    def read_json(self):
        raw = self.read_body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as e:
            raise HttpError(400, "Invalid JSON body: %s" % e, code="BadRequest")

    def _finish_body(self):
        """Before answering: drain a small unread body, else close the connection after replying."""
        if self.body_remaining == -1 or (self.body_remaining or 0) > DRAIN_LIMIT:
            self.close_connection = True
            return
        n = self.body_remaining or 0
        while n > 0:
            chunk = self.rfile.read(min(n, 65536))
            if not chunk:
                break
            n -= len(chunk)
            self.req_bytes += len(chunk)
        self.body_remaining = 0

    # -- replies ---------------------------------------------------------------------------------
    def reply(self, status, body=b"", ctype="application/json; charset=utf-8", headers=None, head_len=None):
        self._finish_body()
        self.status = status
        self.send_response(status)
        self.send_header("X-Request-Id", self.request_id)
        if ctype and (body or head_len is not None or status not in (204, 304)):
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            if isinstance(v, (list, tuple)):
                for item in v:
                    self.send_header(k, item)
            else:
                self.send_header(k, str(v))
        length = head_len if head_len is not None else len(body)
        self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
            self.resp_bytes += len(body)

    def reply_json(self, obj, status=200, headers=None):
        body = json.dumps(obj).encode()
        self.reply(status, body, headers=headers)

    def send_error_reply(self, e):
        """Hub-style error: JSON {"error": msg} + X-Error-Code / X-Error-Message."""
        headers = dict(e.headers)
        headers["X-Error-Message"] = header_safe(e.message)
        if e.code:
            headers["X-Error-Code"] = e.code
        body = {"error": e.message}
        body.update(e.extra)
        self.reply_json(body, status=e.status, headers=headers)

    # -- faults ----------------------------------------------------------------------------------
    def reset_connection(self, read_some=True):
        """Read part of the body (if any), then close the socket with RST."""
        if read_some and not self.chunked and (self.body_remaining or 0) > 0:
            want = max(1, self.body_remaining // 2)
            got = 0
            while got < want:
                chunk = self.rfile.read1(min(want - got, 1 << 20))
                if not chunk:
                    break
                got += len(chunk)
            self.req_bytes += got
        self.status = 0
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        raise ConnectionResetByFault()


def header_safe(msg):
    """One-line latin-1 safe header value."""
    s = " ".join(str(msg).split())
    return s.encode("latin-1", "replace").decode("latin-1")[:1000]


def iso_now(t=None):
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)
