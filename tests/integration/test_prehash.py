#!/usr/bin/env python3
"""Hash while written (issue 14, sync/job_prehash.c): `hubsync daemon`
hashes each file of a pending checkpoint as soon as the watcher protects it,
and the push at READY uses that digest only for the very same file.

- cached: the trainer writes checkpoint-10's files and then its marker; the
  daemon's `status --json` shows them pre-hashed, and after the commit no
  file was read a second time (hash_cache.files_read grows by one after the
  marker: the marker itself; hits counted, and `-v`'s
  debug line "checkpoint-10 hashed: N of 3 files from the hash cache"); the
  bytes on the emulator hash to the files.
- rewritten in place: model.safetensors is renamed in complete, its
  pre-hash completes (status), then the file is rewritten in place with new bytes of
  the same size and its mtime set back to the old value, and only then the
  marker is written: the commit carries the new bytes (sha256 of what the
  emulator stores), never the pre-hashed digest.
- hashed as it grows (uploader/hash_grow.c): a 40 MiB model written in
  stretches is followed and hashed while written; after the marker it is not
  read by the hasher again, only verified, by the bytes its upload read
  (status: hashed_while_written, verified_after_written, verify_bytes_read 0),
  and the bytes on the emulator are the file's.
- patched before the close: the writer goes back and rewrites the first MiB
  of what was already hashed as it grew, then closes: the verification finds
  it, the first push fails without committing ("was rewritten while it was
  being written"), the retry hashes the file again and commits its real bytes
  (status: rewritten_after_hashed 1).
- HUBSYNC_PREHASH=0: nothing is pre-hashed (the knob the latency benchmark
  compares against)."""

import hashlib
import json
import os
import re
import sys
import time

import itlib

SIZE = 6 << 20  # LFS-sized


def status(cfg):
    r = itlib.hubsync("status", "--config", cfg, "--json", timeout=20)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def cache(cfg):
    return (status(cfg) or {}).get("hash_cache") or {}


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def marker(ck, step):
    write(os.path.join(ck, "trainer_state.json"),
          json.dumps({"global_step": step, "epoch": 1.0, "log_history": []}).encode())


def start(name, env=None):
    work = itlib.workdir("prehash-" + name)
    emu = itlib.Emu(work)
    out = os.path.join(work, "out")
    os.mkdir(out)
    repo = "alice/prehash-" + name
    cfg = itlib.write_config(work, emu, [itlib.job("j", out, repo, "checkpoint",
                                                   marker_quiet_seconds=0.3)])
    log = open(os.path.join(work, "daemon.log"), "w")
    d = itlib.popen_hubsync("daemon", "--config", cfg, "-v", env=env, log=log)
    return work, emu, out, repo, cfg, d, log


def stop(work, emu, d, log):
    if d.poll() is None:
        d.terminate()
        try:
            d.wait(15)
        except Exception:
            d.kill()
            d.wait()
    log.close()
    emu.stop()
    itlib.cleanup(work)


def committed(emu, repo):
    try:
        return "last-checkpoint/model.safetensors" in emu.files(repo)
    except RuntimeError:
        return False


def daemon_log(work):
    with open(os.path.join(work, "daemon.log")) as f:
        return f.read()[-3000:]


def test_cached(t):
    work, emu, out, repo, cfg, d, log = start("cached")
    try:
        t.check(itlib.wait_for(lambda: status(cfg), 20), "the daemon answers")
        ck = os.path.join(out, "checkpoint-10")
        os.mkdir(ck)
        model, conf = os.urandom(SIZE), b'{"model_type": "test"}'
        write(os.path.join(ck, "model.safetensors"), model)
        write(os.path.join(ck, "config.json"), conf)
        t.check(itlib.wait_for(lambda: cache(cfg).get("prehashed", 0) >= 2, 30),
                "both files pre-hashed before the marker: %s" % cache(cfg))
        before = cache(cfg)
        marker(ck, 10)
        t.check(itlib.wait_for(lambda: committed(emu, repo), 60),
                "checkpoint-10 committed:\n" + daemon_log(work))
        files = emu.files(repo)
        t.check(files.get("last-checkpoint/model.safetensors") ==
                itlib.sha256(os.path.join(ck, "model.safetensors")),
                "the stored model is the file's bytes: %s" % sorted(files))
        # The marker itself is pre-hashed as READY hashes it: whichever
        # comes first reads it, the other shares that read or finds it
        # cached, so it counts in prehashed or not, but is read once.
        # (a scan of the new folder may also have caught the model half
        # written and read that: before the marker, never used)
        c = cache(cfg)
        t.check(c.get("files_read", 0) - before.get("files_read", 0) == 1,
                "after the marker only the marker was read: %s, before it %s" % (c, before))
        t.check(c.get("hits", 0) >= 3, "READY's hashes came from the cache: %s" % c)
        t.check(c.get("max_entries") == 65536, "the bound is shown: %s" % c)
        t.check(re.search(r"checkpoint-10 hashed: [23] of 3 files from the hash cache",
                          daemon_log(work)), "the debug log says so:\n" + daemon_log(work))
    finally:
        stop(work, emu, d, log)


def test_rewritten_in_place(t):
    work, emu, out, repo, cfg, d, log = start("rewrite")
    try:
        t.check(itlib.wait_for(lambda: status(cfg), 20), "the daemon answers")
        ck = os.path.join(out, "checkpoint-10")
        os.mkdir(ck)
        path = os.path.join(ck, "model.safetensors")
        old = os.urandom(SIZE)
        # renamed in complete (a dot name is ignored): the first pre-hash is
        # of the whole first version, not of a half-written file a scan saw
        write(os.path.join(ck, ".model.tmp"), old)
        os.rename(os.path.join(ck, ".model.tmp"), path)
        t.check(itlib.wait_for(lambda: cache(cfg).get("prehashed", 0) >= 1, 30),
                "the first version is pre-hashed: %s" % cache(cfg))
        st = os.stat(path)
        new = os.urandom(SIZE)
        with open(path, "r+b") as f:  # same inode, same size, new bytes
            f.write(new)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime
        st2 = os.stat(path)
        t.check(st2.st_ino == st.st_ino and st2.st_mtime_ns == st.st_mtime_ns and
                st2.st_size == st.st_size, "rewritten in place with the old identity but ctime")
        marker(ck, 10)
        t.check(itlib.wait_for(lambda: committed(emu, repo), 60),
                "checkpoint-10 committed:\n" + daemon_log(work))
        got = emu.files(repo).get("last-checkpoint/model.safetensors")
        t.check(got == hashlib.sha256(new).hexdigest(),
                "the commit holds the rewritten bytes, not the pre-hashed ones (old %s)" %
                ("matched" if got == hashlib.sha256(old).hexdigest() else "did not match"))
        # the old version was read by the pre-hash, the new one (its close
        # is seen too, and the utime may cut that read short: HS_ECHANGED,
        # not cached) at the latest by READY, the marker once
        c = cache(cfg)
        t.check(c.get("files_read", 0) >= 3 and c.get("prehashed", 0) >= 1,
                "both versions and the marker were read: %s" % c)
    finally:
        stop(work, emu, d, log)


GROWN = 40 << 20


def write_growing(path, patch=False):
    """The model in 4 MiB stretches, 60 ms apart (hashed as it grows), then
    config.json; with patch, its first MiB rewritten before the close."""
    data = bytearray()
    with open(path, "wb") as f:
        for i in range(GROWN >> 22):
            chunk = os.urandom(4 << 20)
            data += chunk
            f.write(chunk)
            f.flush()
            time.sleep(0.06)
        time.sleep(0.3)  # the follower catches up with the whole file
        if patch:
            new = os.urandom(1 << 20)
            f.seek(0)
            f.write(new)
            data[:len(new)] = new
    return bytes(data)


def test_grown(t, patch):
    env = dict(os.environ, HUBSYNC_JOB_RETRY_MS="300")
    work, emu, out, repo, cfg, d, log = start("patched" if patch else "grown", env=env)
    try:
        t.check(itlib.wait_for(lambda: status(cfg), 20), "the daemon answers")
        ck = os.path.join(out, "checkpoint-10")
        os.mkdir(ck)
        data = write_growing(os.path.join(ck, "model.safetensors"), patch)
        write(os.path.join(ck, "config.json"), b'{"model_type": "test"}')
        t.check(itlib.wait_for(lambda: cache(cfg).get("hashed_while_written", 0) >= 1, 30),
                "the model was hashed as it was written: %s" % cache(cfg))
        before = cache(cfg)
        marker(ck, 10)
        t.check(itlib.wait_for(lambda: committed(emu, repo), 60),
                "checkpoint-10 committed:\n" + daemon_log(work))
        files = emu.files(repo)
        t.check(files.get("last-checkpoint/model.safetensors") == hashlib.sha256(data).hexdigest(),
                "the stored model is the file's final bytes (patched: %s)" % patch)
        c = cache(cfg)
        logged = "was rewritten while it was being written" in daemon_log(work)
        if patch:
            t.check(c.get("rewritten_after_hashed") == 1 and logged,
                    "the stale digest was caught before any commit: %s\n%s" %
                    (c, daemon_log(work)))
            t.check(sum("step 10" in c for c in emu.commits(repo)) == 1,
                    "one commit, of the real bytes: %s" % emu.commits(repo))
            t.check(c.get("files_read", 0) - before.get("files_read", 0) >= 2,
                    "the retry read the model again: %s" % c)
        else:
            t.check(c.get("verified_after_written", 0) >= 1 and c.get("rewritten_after_hashed") == 0
                    and not logged, "verified, nothing rewritten: %s" % c)
            # 40 MiB in 8 MiB parts on 512 KiB blocks: every block was compared
            # as the upload read it, the verification read nothing itself
            t.check(c.get("verify_bytes_read") == 0,
                    "the upload's reads verified the digest: %s" % c)
            t.check(c.get("files_read", 0) - before.get("files_read", 0) == 1,
                    "after the marker only the marker was read: %s, before %s" % (c, before))
    finally:
        stop(work, emu, d, log)


def test_off(t):
    env = dict(os.environ, HUBSYNC_PREHASH="0")
    work, emu, out, repo, cfg, d, log = start("off", env=env)
    try:
        t.check(itlib.wait_for(lambda: status(cfg), 20), "the daemon answers")
        ck = os.path.join(out, "checkpoint-10")
        os.mkdir(ck)
        write(os.path.join(ck, "model.safetensors"), os.urandom(SIZE))
        marker(ck, 10)
        t.check(itlib.wait_for(lambda: committed(emu, repo), 60),
                "checkpoint-10 committed:\n" + daemon_log(work))
        c = cache(cfg)
        t.check(c.get("prehashed") == 0 and c.get("files_read") == 2,
                "nothing pre-hashed; READY read both files: %s" % c)
    finally:
        stop(work, emu, d, log)


def main():
    t = itlib.Suite("integration_prehash")
    t.run(test_cached)
    t.run(test_rewritten_in_place)
    t.run(test_grown, False)
    t.run(test_grown, True)
    t.run(test_off)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
