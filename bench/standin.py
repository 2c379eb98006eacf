"""A CPU- and I/O-bound stand-in for a training loop (bench/interference_bench.py):
PROCS worker processes (default: one per CPU, like data loaders + compute
keeping every core busy) each run ITERS iterations of
  - read CHUNK bytes of DATA (its own stripe, wrapping) with pread, then drop
    those pages from the page cache (posix_fadvise DONTNEED) so that every
    pass reads the disk again, like a data loader streaming a data set;
  - a fixed amount of pure-Python integer arithmetic (WORK rounds of a
    64-bit LCG) plus a SHA-256 of the chunk: the "compute".
The work is fixed, so wall time measures how much CPU and disk the stand-in
got. Prints one JSON line: {"wall": s, "cpu": s, "procs": N, "iters": N}.

    /usr/bin/python3 bench/standin.py --data FILE [--procs N] [--iters N]
        [--chunk BYTES] [--work N]
    /usr/bin/python3 bench/standin.py --make-data FILE --size MIB
"""

import argparse
import hashlib
import json
import os
import resource
import sys
import time


def worker(path, idx, procs, iters, chunk, work):
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    stripes = max(1, size // chunk)
    x = idx + 1
    try:
        for i in range(iters):
            off = ((i * procs + idx) % stripes) * chunk
            buf = os.pread(fd, chunk, off)
            os.posix_fadvise(fd, off, chunk, os.POSIX_FADV_DONTNEED)
            hashlib.sha256(buf).digest()
            for _ in range(work):
                x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
    finally:
        os.close(fd)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data")
    ap.add_argument("--procs", type=int, default=os.cpu_count())
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--chunk", type=int, default=1 << 20)
    ap.add_argument("--work", type=int, default=20000)
    ap.add_argument("--make-data")
    ap.add_argument("--size", type=int, default=256, help="MiB, with --make-data")
    a = ap.parse_args()
    if a.make_data:
        with open(a.make_data, "wb") as f:
            for _ in range(a.size):
                f.write(os.urandom(1 << 20))
            f.flush()
            os.fsync(f.fileno())
        return 0
    if not a.data:
        ap.error("--data FILE is required")
    fd = os.open(a.data, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # start from the disk
    os.close(fd)
    t0 = time.monotonic()
    pids = []
    for idx in range(a.procs):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                worker(a.data, idx, a.procs, a.iters, a.chunk, a.work)
            except BaseException as e:  # noqa: BLE001 — report, exit non-zero
                print("standin worker %d: %s" % (idx, e), file=sys.stderr)
                code = 1
            os._exit(code)
        pids.append(pid)
    failed = 0
    for pid in pids:
        _, st = os.waitpid(pid, 0)
        failed += st != 0
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"wall": round(wall, 4), "cpu": round(ru.ru_utime + ru.ru_stime, 3),
                      "procs": a.procs, "iters": a.iters}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
