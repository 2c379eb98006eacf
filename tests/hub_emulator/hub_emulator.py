#!/usr/bin/env python3
"""Local Hugging Face Hub emulator for hubsync's tests (see README.md next to this file).

Owns: the command line, the shared context (accounts, repo store, blob and LFS object
stores, faults, quota, request log, settings), starting the Hub API server and the
storage server on their own ports, the one "listening" line on stdout, and a clean
stop on SIGTERM/SIGINT (exit 0). Endpoints: emu_api.py (Hub), emu_storage.py (storage).
"""

import argparse
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emu_api import HubHandler  # noqa: E402
from emu_faults import Faults, Quota  # noqa: E402
from emu_http import EmuServer, RequestLog  # noqa: E402
from emu_repos import Accounts, RepoStore  # noqa: E402
from emu_storage import BUF, BlobStore, ObjectStore, StorageHandler  # noqa: E402
from emu_resolve import DownloadFaults  # noqa: E402


class Context:
    """Everything the handlers share."""

    def __init__(self, args):
        os.makedirs(args.data_dir, exist_ok=True)
        self.log = RequestLog(args.log)
        self.accounts = Accounts.load(args.accounts)
        self.blobs = BlobStore(args.data_dir)
        self.objects = ObjectStore(args.data_dir, args.discard, args.url_ttl)
        self.store = RepoStore(args.data_dir, self.blobs)
        self.faults = Faults(args.faults, args.seed)
        self.dl_faults = DownloadFaults(args.corrupt_download, args.hold_download, args.hold_seconds)
        self.quota = Quota(args.commit_quota, args.commit_window)
        self.multipart_threshold = args.multipart_threshold
        self.chunk_size = args.chunk_size
        self.page_size = args.page_size
        self.regular_max = args.regular_max
        self.hub_url = self.storage_url = None
        self.devnull = os.open(os.devnull, os.O_WRONLY)
        self._bufs = []
        self._buf_lock = threading.Lock()

    def get_buffer(self):
        with self._buf_lock:
            if self._bufs:
                return self._bufs.pop()
        return bytearray(BUF)

    def put_buffer(self, buf):
        with self._buf_lock:
            if len(self._bufs) < 16:
                self._bufs.append(buf)


def positive(v):
    n = int(v)
    if n <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return n


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Local Hugging Face Hub emulator (see tests/hub_emulator/README.md)")
    ap.add_argument("--port", type=int, default=0, help="Hub API port (0 = any free port)")
    ap.add_argument("--storage-port", type=int, default=0, help="storage server port (0 = any free port)")
    ap.add_argument("--data-dir", required=True, help="where repos, blobs and LFS objects live")
    ap.add_argument("--log", help="JSON-lines request log file")
    ap.add_argument("--accounts", help="accounts JSON file (default: alice, bob, carol; see README)")
    ap.add_argument("--multipart-threshold", type=int, default=16 << 20, help="multipart above this size (bytes)")
    ap.add_argument("--chunk-size", type=positive, default=8 << 20, help="multipart part size (bytes)")
    ap.add_argument("--url-ttl", "--url-expiry", dest="url_ttl", type=int, default=3600,
                    help="presigned URL lifetime (seconds); storage answers 403 'Request has expired' after it")
    ap.add_argument("--commit-quota", type=int, default=0, help="commits per repo per window (0 = unlimited)")
    ap.add_argument("--commit-window", type=positive, default=3600, help="quota window (seconds)")
    ap.add_argument("--faults", default="", help="fault spec, e.g. api5xx=0.1,storage5xx=0.1,reset=0.05")
    ap.add_argument("--seed", type=int, default=0, help="fault injection seed")
    ap.add_argument("--corrupt-download", metavar="GLOB", help="flip a byte of every download of these paths")
    ap.add_argument("--hold-download", type=int, default=0, metavar="N",
                    help="the first N storage downloads send half, then hold the connection")
    ap.add_argument("--hold-seconds", type=float, default=30, help="how long --hold-download holds")
    ap.add_argument("--discard", action="store_true", help="do not keep LFS bytes (benchmarks)")
    ap.add_argument("--page-size", type=positive, default=1000, help="tree/commits page size")
    ap.add_argument("--regular-max", type=positive, default=10 << 20, help="largest regular file in a commit")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        ctx = Context(args)
    except (ValueError, OSError, KeyError, TypeError) as e:
        print("hub_emulator: %s" % (("bad accounts file: missing %s" % e) if isinstance(e, KeyError) else e),
              file=sys.stderr)
        return 2
    try:
        hub = EmuServer(args.port, HubHandler, ctx, "hub")
        storage = EmuServer(args.storage_port, StorageHandler, ctx, "storage")
    except OSError as e:
        print("hub_emulator: cannot listen on 127.0.0.1: %s" % e, file=sys.stderr)
        return 2
    ctx.hub_url = "http://127.0.0.1:%d" % hub.server_address[1]
    ctx.storage_url = "http://127.0.0.1:%d" % storage.server_address[1]
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
               for s in (hub, storage)]
    for t in threads:
        t.start()
    print("hub_emulator listening on %s storage %s" % (ctx.hub_url, ctx.storage_url), flush=True)
    while not stop.wait(0.5):
        pass
    for s in (hub, storage):
        s.shutdown()
        s.server_close()
    ctx.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
