"""Download faults for `hubsync pull` tests: what resolve and storage downloads may do wrong.

Owns: `--corrupt-download GLOB` (every download of a repo path matching GLOB, fnmatch with `*`
across `/`, gets its first byte flipped: same size, another hash; the regular file served by
resolve, or the LFS object served by storage after the redirect) and `--hold-download N` (the
first N storage downloads send half of the asked bytes, then hold the connection open for
`--hold-seconds` (default 30) before resetting it, so a test can SIGKILL a client that holds a
partial file). Both are marked in the request log as `"fault": "corrupt_download"` /
`"hold_download"`. Hooks: emu_api.resolve calls `on_resolve`, emu_storage._download calls
`send`.
"""
import fnmatch
import threading
import time


class DownloadFaults:
    def __init__(self, corrupt_glob, hold_count, hold_seconds):
        self.corrupt_glob = corrupt_glob or None
        self.hold_left = max(0, hold_count or 0)
        self.hold_seconds = hold_seconds
        self.corrupt_oids = set()
        self.lock = threading.Lock()

    @staticmethod
    def _mark(handler, key):
        handler.fault = key if not handler.fault else handler.fault + "," + key

    def on_resolve(self, handler, path, lfs_oid):
        """True when this download of `path` must be corrupted (LFS: remembered for storage)."""
        if not self.corrupt_glob or not fnmatch.fnmatchcase(path, self.corrupt_glob):
            return False
        self._mark(handler, "corrupt_download")
        if lfs_oid:
            with self.lock:
                self.corrupt_oids.add(lfs_oid)
        return True

    @staticmethod
    def corrupt(data):
        return bytes([data[0] ^ 0x01]) + data[1:] if data else data

    def send(self, handler, f, oid, start, count):
        """Send `count` bytes of file `f` from `start`; False when the caller sends them itself."""
        with self.lock:
            corrupt = oid in self.corrupt_oids
            hold = self.hold_left > 0 and count > 1
            if hold:
                self.hold_left -= 1
        if not corrupt and not hold:
            return False
        if hold:
            self._mark(handler, "hold_download")
        if corrupt and "corrupt_download" not in (handler.fault or ""):
            self._mark(handler, "corrupt_download")
        n = count // 2 if hold else count
        f.seek(start)
        first = True
        while n > 0:
            data = f.read(min(n, 1 << 20))
            if not data:
                break
            if first and corrupt:
                data = self.corrupt(data)
            first = False
            handler.wfile.write(data)
            handler.resp_bytes += len(data)
            n -= len(data)
        handler.wfile.flush()
        if hold:
            time.sleep(self.hold_seconds)
            handler.reset_connection(read_some=False)
        return True
