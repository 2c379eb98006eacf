"""The naive peer of the idle and scale benchmarks: what a watcher without
inotify does (watchdog's PollingObserver, most "sync this folder" scripts):
every INTERVAL seconds walk each DIR with os.scandir, stat every entry, and
compare (size, mtime, inode) with the previous walk; print one line per
change. Prints "ready" (flushed) after the first walk, and the number of
entries walked and the walk's duration in seconds when it gets SIGTERM.

    /usr/bin/python3 bench/naive_poll.py INTERVAL DIR...
"""

import os
import signal
import sys
import time


def walk(root, out):
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                out[e.path] = (st.st_size, st.st_mtime_ns, st.st_ino)
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)


def main():
    interval = float(sys.argv[1])
    roots = sys.argv[2:]
    last_walk = [0.0, 0]

    def on_term(signum, frame):
        print("walked %d entries in %.4f s" % (last_walk[1], last_walk[0]), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    prev = None
    while True:
        t = time.monotonic()
        cur = {}
        for r in roots:
            walk(r, cur)
        last_walk[:] = [time.monotonic() - t, len(cur)]
        if prev is None:
            print("ready", flush=True)
        else:
            for p in cur.keys() - prev.keys():
                print("created", p)
            for p in prev.keys() - cur.keys():
                print("deleted", p)
            for p in cur.keys() & prev.keys():
                if cur[p] != prev[p]:
                    print("modified", p)
            sys.stdout.flush()
        prev = cur
        time.sleep(interval)


if __name__ == "__main__":
    main()
