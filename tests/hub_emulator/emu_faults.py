"""Fault injection and the per-repo commit quota.

Owns: parsing of the --faults spec ("api5xx=0.1,storage5xx=0.1,reset=0.05,stall=0.02,
stall_s=5,expire=0.1,api429=0.05,lost=0.05,badetag=1,tag_lost=1,refuse_path=GLOB:400"), the seeded random draws (one
random.Random(--seed) behind a lock, so a run with the same request order injects the
same faults), stalls, and the commit quota (fixed windows per repo → 429 with
Retry-After and RateLimit headers as docs/hub-protocol.md).
"""

import fnmatch
import math
import random
import threading
import time

from emu_http import HttpError

PROB_KEYS = ("api5xx", "api429", "storage5xx", "reset", "lost", "stall", "expire")
NUM_KEYS = ("stall_s",)
# deterministic: the first N occasions, not a probability (tag_lost: a tag is created, then
# the connection is reset before the answer, as a crash or a lost answer would leave it;
# complete_lost: a multipart completion is applied and its answer lost)
COUNT_KEYS = ("badetag", "tree5xx", "tag_lost", "complete_lost")


class Faults:
    def __init__(self, spec, seed):
        self.p = {k: 0.0 for k in PROB_KEYS}
        self.stall_s = 5.0
        self.left = {k: 0 for k in COUNT_KEYS}
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.refuse = []  # (glob, status, commit_only) of refuse_path / refuse_commit
        for item in (spec or "").split(","):
            item = item.strip()
            if not item:
                continue
            if "=" not in item:
                raise ValueError("fault %r: expected key=value" % item)
            k, v = item.split("=", 1)
            k = k.strip()
            if k in ("refuse_path", "refuse_commit"):
                glob, _, st = v.rpartition(":")
                if not glob or not st.isdigit() or not 400 <= int(st) <= 499:
                    raise ValueError("fault %s=%s: expected GLOB:STATUS with a 4xx status" % (k, v))
                self.refuse.append((glob, int(st), k == "refuse_commit"))
                continue
            try:
                val = float(v)
            except ValueError:
                raise ValueError("fault %r: %r is not a number" % (k, v))
            if k in PROB_KEYS:
                if not 0.0 <= val <= 1.0:
                    raise ValueError("fault %s=%s: probability must be within [0, 1]" % (k, v))
                self.p[k] = val
            elif k in COUNT_KEYS:
                if not math.isfinite(val) or val < 0 or val != int(val):
                    raise ValueError("fault %s=%s: must be a count (integer >= 0)" % (k, v))
                self.left[k] = int(val)
            elif k in NUM_KEYS:
                if val < 0:
                    raise ValueError("fault %s must be >= 0" % k)
                self.stall_s = val
            else:
                raise ValueError("unknown fault %r (known: %s)" % (k, ", ".join(PROB_KEYS + NUM_KEYS + COUNT_KEYS + ("refuse_path", "refuse_commit"))))
        self.counts = {k: 0 for k in PROB_KEYS + COUNT_KEYS}

    def hit(self, handler, key):
        """Draw for fault `key`; on a hit record it on the handler (request log) and count it."""
        p = self.p.get(key, 0.0)
        if p <= 0.0:
            return False
        with self.lock:
            hit = self.rng.random() < p
            if hit:
                self.counts[key] += 1
        if hit:
            handler.fault = key if not handler.fault else handler.fault + "," + key
        return hit

    def take(self, handler, key):
        """Counted fault `key`: True (and recorded like hit) while occasions are left."""
        with self.lock:
            hit = self.left.get(key, 0) > 0
            if hit:
                self.left[key] -= 1
                self.counts[key] += 1
        if hit:
            handler.fault = key if not handler.fault else handler.fault + "," + key
        return hit

    def refuse_paths(self, handler, paths, commit=False):
        """refuse_path=GLOB:STATUS — a preupload or commit naming a path that matches GLOB
        (fnmatch: '*' also matches '/') is answered STATUS before any side effect, every time;
        refuse_commit=GLOB:STATUS the same for commits only."""
        for glob, st, commit_only in self.refuse:
            if commit_only and not commit:
                continue
            hit = next((p for p in paths if isinstance(p, str) and fnmatch.fnmatchcase(p, glob)), None)
            if hit is None:
                continue
            key = "refuse_commit" if commit_only else "refuse_path"
            handler.fault = key if not handler.fault else handler.fault + "," + key
            raise HttpError(st, "Invalid path %r: refused (fault %s=%s:%d)" % (hit, key, glob, st),
                            code="BadRequest" if st == 400 else "InjectedRefusal")

    def choice(self, seq):
        with self.lock:
            return self.rng.choice(seq)

    def maybe_stall(self, handler):
        if self.hit(handler, "stall"):
            time.sleep(self.stall_s)


class Quota:
    """At most `limit` commits per repo per fixed window of `window` seconds (0 = unlimited)."""

    def __init__(self, limit, window):
        self.limit = limit
        self.window = window
        self.lock = threading.Lock()
        self.state = {}  # repo key -> [window_start, count]

    def _window(self, key, now):
        start = math.floor(now / self.window) * self.window
        st = self.state.get(key)
        if st is None or st[0] != start:
            st = [start, 0]
            self.state[key] = st
        return st

    def headers(self, remaining, reset):
        return {
            "RateLimit": '"api";r=%d;t=%d' % (remaining, reset),
            "RateLimit-Policy": '"fixed window";"api";q=%d;w=%d' % (self.limit, self.window),
        }

    def check(self, key):
        """None if a commit may proceed, else (retry_after, headers) for a 429."""
        if self.limit <= 0:
            return None
        now = time.time()
        with self.lock:
            st = self._window(key, now)
            reset = max(1, int(math.ceil(st[0] + self.window - now)))
            if st[1] >= self.limit:
                h = self.headers(0, reset)
                h["Retry-After"] = str(reset)
                return reset, h
        return None

    def record(self, key):
        """Count a successful commit; returns the RateLimit headers to send with it."""
        if self.limit <= 0:
            return {}
        now = time.time()
        with self.lock:
            st = self._window(key, now)
            st[1] += 1
            reset = max(1, int(math.ceil(st[0] + self.window - now)))
            return self.headers(max(0, self.limit - st[1]), reset)
