#!/usr/bin/python3
"""make_corpus.py — (re)generate the seed corpora under tests/fuzz/corpus/.

Seeds are small, valid-and-invalid examples of each target's input: config
files (a few copied from packaging/examples and tests/config/data, plus
hand-written broken ones), Hub answers as the real Hub and the emulator
send them, commit inputs in fuzz_commit.c's layout, and journal files in
journal.c's byte layout (CRC32C computed here) carrying jstate records.
Files named crash-* / repro-* are reproducers found by fuzzing, and
snapshot-compacted is the content of a real jstate compaction of log-valid
(taken from fuzz_jstate's scratch dir, `zstd -d`); all are kept as they are. Usage: make_corpus.py [CORPUS_DIR]
"""
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- config -----------------------------------------------------------------

for src in ["packaging/examples/single-finetune.json", "packaging/examples/multi-job-server.json",
            "packaging/examples/slurm-run.json", "tests/config/data/multi.json"]:
    shutil.copy(os.path.join(ROOT, src), os.path.join(OUT, "config", os.path.basename(src)))
JOB = {"name": "a", "watch": "/w", "hub_model_id": "u/m"}
write("config", "minimal.json", json.dumps({"jobs": [JOB]}))
write("config", "token-inline.json",
      json.dumps({"token": "hf_abcdefghijklmnopqrstuvwxyz0123", "jobs": [JOB]}))
write("config", "bad-token-and-key.json",
      json.dumps({"token": "hf_abcdefghijklmnopqrstuvwxyz0123", "jbos": [JOB]}))
write("config", "bad-types.json", json.dumps({
    "max_parallel_uploads": 0, "bandwidth_limit_mbps": -1, "log_level": "loud",
    "jobs": [{"name": "bad name", "watch": "rel/dir", "hub_model_id": "a/b/c",
              "hub_strategy": "sometimes", "revision": "../x", "settle_seconds": "3",
              "include": [1], "spool_max_gb": 1e300,
              "model_card": {"mode": "maybe", "tags": [None]}}]}))
write("config", "duplicate-jobs.json", json.dumps({"jobs": [JOB, JOB]}))
write("config", "syntax-error.json", '{"jobs": [{"name": "a",, }]\n')
write("config", "empty.json", "")
write("config", "not-object.json", "[1, 2, 3]")
write("config", "everything.json", json.dumps({
    "endpoint": "https://huggingface.co", "token_file": "/etc/hubsync/token",
    "state_dir": "/var/lib/hubsync", "ca_file": "/etc/ssl/ca.pem", "max_parallel_uploads": 64,
    "bandwidth_limit_mbps": 0.5, "log_level": "debug", "log_file": "/var/log/hubsync.log",
    "jobs": [dict(JOB, hub_strategy="checkpoint", private=True, revision="dev", layout="lightning",
                  watch_mode="poll", poll_interval_seconds=0.5, settle_seconds=1,
                  marker_quiet_seconds=0, world_size=2, include=["*.bin"], exclude="x/",
                  supersede=False, spool_dir="/s", spool_max_gb=0, pid_file="/run/t.pid",
                  finish_after_idle_seconds=10, existing_checkpoints="all",
                  model_card={"mode": "overwrite", "model_name": "M", "base_model": ["a", "b"],
                              "datasets": "d", "dataset_args": "a", "dataset_config": ["c"],
                              "framework_versions": {"pytorch": "2.2.1", "tokenizers": "0.15"},
                              "dataset_name": "n", "language": "en",
                              "license": "mit", "tags": ["t"], "task": "x",
                              "metrics_order": ["loss"]})]}))

# ---- Hub answers --------------------------------------------------------------

O1 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
O2 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
O3 = "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"
GIT = "0123456789abcdef0123456789abcdef01234567"
S3 = "https://s3.example.com/bucket/obj?X-Amz-Signature=abc"
hub = {
    "whoami.json": {"type": "user", "name": "alice", "orgs": [{"name": "acme"}],
                    "auth": {"accessToken": {"role": "write"}}},
    "create-repo.json": {"url": "https://huggingface.co/alice/m", "name": "alice/m"},
    "repo-info.json": {"id": "alice/m", "sha": GIT, "private": False},
    "preupload.json": {"files": [
        {"path": "config.json", "uploadMode": "regular", "shouldIgnore": False, "oid": GIT},
        {"path": "model.safetensors", "uploadMode": "lfs", "shouldIgnore": False},
        {"path": "checkpoint-500/optimizer.pt", "uploadMode": "lfs", "shouldIgnore": True}],
        "commitOid": GIT},
    "lfs-batch.json": {"transfer": "basic", "objects": [
        {"oid": O1, "size": 5},
        {"oid": O2, "size": 10485760, "actions": {"upload": {
            "href": S3, "expires_in": 3600}}},
        {"oid": O3, "size": 52428800, "actions": {"upload": {
            "href": "https://huggingface.co/alice/m.git/info/lfs/complete_multipart?x=1",
            "expires_at": "2026-11-27T01:00:00Z",
            "header": {"chunk_size": "20971520", "1": S3 + "&partNumber=1",
                       "2": S3 + "&partNumber=2", "3": S3 + "&partNumber=3"}}}}]},
    "lfs-batch-error.json": {"objects": [{"oid": O1, "size": 5,
                                          "error": {"code": 422, "message": "bad size"}}]},
    "commit.json": {"success": True, "commitOid": GIT,
                    "commitUrl": "https://huggingface.co/alice/m/commit/" + GIT},
    "paths-info.json": [
        {"type": "file", "path": "config.json", "oid": GIT, "size": 5},
        {"type": "file", "path": "model.safetensors", "oid": GIT, "size": 10485760,
         "lfs": {"oid": O2, "size": 10485760, "pointerSize": 134}}],
    "error-string.json": {"error": "Repository Not Found"},
    "error-array.json": {"error": ["Invalid token", "second"]},
    "error-errors.json": {"errors": [{"message": "rate limited"}]},
    "push-state.json": {"version": 1, "key": "https://h|model|alice/m|main|abc",
                        "commit_sent": False, "commit_parent": GIT,
                        "files": [{"path": "model.safetensors", "sha256": O2, "sha1": "",
                                   "sample": "aGVsbG8=", "size": 10485760, "dev": 1, "ino": 2,
                                   "mtime_ns": 3, "ctime_ns": 4}],
                        "objects": [{"oid": O3, "size": 52428800, "done": False,
                                     "href": "https://h/complete", "expires_at": 1764205200,
                                     "chunk_size": 20971520, "parts": ["u1", "u2", "u3"],
                                     "etags": ["\"e1\"", None, None]},
                                    {"oid": O2, "size": 10485760, "done": True}]},
}
for name, v in hub.items():
    write("push_state" if name == "push-state.json" else "hub_api", name, json.dumps(v))
write("hub_api", "error-text.txt", "<html>502 Bad Gateway\r\n</html>")
write("hub_api", "empty.txt", "")

# ---- commit builder input (fuzz_commit.c layout) ------------------------------


def s8(s):
    b = s.encode() if isinstance(s, str) else s
    return bytes([len(b)]) + b


def commit_input(flags, summary, desc, parent, ops):
    b = bytes([flags]) + s8(summary)
    if flags & 1:
        b += s8(desc)
    if flags & 2:
        b += s8(parent)
    for op in ops:
        if op[0] == "lfs":
            b += b"\x01" + s8(op[1]) + s8(op[2]) + struct.pack("<Q", op[3])
        else:
            b += b"\x00" + s8(op[1]) + s8(op[2])
    return b


write("commit", "basic", commit_input(3, "Upload checkpoint-500", "step 500, loss 0.42", GIT, [
    ("file", "config.json", "eyJhIjogMX0K"), ("lfs", "model.safetensors", O2, 10485760)]))
write("commit", "header-only", commit_input(0, "finish", None, None, []))
write("commit", "unicode", commit_input(1, "Über \u2603 \"quoted\"\n", "tab\tnl\n", None, [
    ("file", "dir/ファイル.txt", ""), ("lfs", "a b/c\\d.bin", O1, 0)]))
write("commit", "not-utf8-path", commit_input(2, "s", None, GIT, [("file", b"\xff\xfe.bin", "AA==")]))
write("commit", "many-ops", commit_input(2, "many", None, GIT,
                                          [("lfs", "shard-%05d.safetensors" % i, O3, 1 << 40)
                                           for i in range(12)]))

# ---- journal files (journal.c layout) -----------------------------------------


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def record(rtype, seq, payload, version=1):
    text = json.dumps(payload, separators=(",", ":")).encode()
    h = struct.pack("<IHHIQ", 0x524A5348, version, rtype, len(text), seq)
    return h + struct.pack("<I", crc32c(h + text)) + text


def log_file(records, gen=0, version=1):
    h = b"HSJLOG\r\n" + struct.pack("<IIQ", version, 0, gen)
    h += struct.pack("<I", crc32c(h))
    return h + b"".join(record(t, i, p) for i, (t, p) in enumerate(records))


def snapshot_content(records, gen=1, next_seq=0):
    h = b"HSJSNAP\n" + struct.pack("<IIQQQ", 1, 0, gen, next_seq, len(records))
    h += struct.pack("<I", crc32c(h))
    return h + b"".join(record(t, i, p) for i, (t, p) in enumerate(records))


FILES = [{"path": "model.safetensors", "size": 10485760, "dev": 2049, "ino": 77,
          "mtime_ns": 1764201600000000000},
         {"path": "config.json", "size": 5, "dev": 2049, "ino": 78, "mtime_ns": 1}]
RUN = [
    (1, {"save": 1, "job": "bert", "name": "checkpoint-500", "meta": {"step": 500},
         "spool": "/s/1", "files": FILES}),
    (2, {"save": 1, "files": [{"path": "model.safetensors", "sha256": O2},
                              {"path": "config.json", "sha256": O1}]}),
    (4, {"repo": "alice/m", "oid": O2, "upload": "u-1", "part": 1, "etag": "\"e1\"",
         "expires": 1764205200}),
    (3, {"repo": "alice/m", "oid": O2, "size": 10485760}),
    (5, {"commit": 1, "job": "bert", "saves": [1], "final": False, "parent": GIT,
         "message": "Upload checkpoint-500"}),
    (6, {"commit": 1, "oid": GIT, "url": "https://h/c/" + GIT}),
    (1, {"save": 2, "job": "bert", "name": "checkpoint-1000", "meta": {}, "files": FILES}),
    (1, {"save": 3, "job": "bert", "name": "checkpoint-1500", "meta": {}, "files": FILES}),
    (8, {"save": 2, "by": 3, "reason": "a newer save replaced it"}),
    (5, {"commit": 2, "job": "bert", "saves": [3], "final": True, "message": "final"}),
    (7, {"commit": 2, "error": "HTTP 409"}),
    (9, {"job": "bert", "phase": "requested", "status": 0}),
    (9, {"job": "bert", "phase": "done", "status": 0}),
]
good = log_file(RUN)
for target in ("journal", "jstate"):
    # mode byte: bit 0 fix CRCs, bit 1 snapshot (fuzz_journal_files.h)
    write(target, "log-valid", b"\x00" + good)
    write(target, "log-valid-fix", b"\x01" + good)
    write(target, "log-empty", b"\x00" + log_file([]))
    write(target, "log-torn", b"\x00" + good[:-7])
    mid = bytearray(good)
    mid[28 + 30] ^= 0x40  # damage inside the first record, valid ones after
    write(target, "log-corrupt-middle", b"\x00" + bytes(mid))
    write(target, "log-unknown-type", b"\x01" + log_file([(999, {"future": True})] + RUN[:2]))
    write(target, "log-bad-payloads", b"\x01" + log_file([
        (1, {"save": "x"}), (2, {"save": 99, "files": []}), (6, {"commit": 42}),
        (4, {"repo": "r", "oid": O1, "part": -1}), (5, {"commit": 1, "saves": [1, 1, 7]})]))
    write(target, "log-version2", b"\x00" + log_file(RUN[:1], version=2))
    write(target, "log-record-version2", b"\x00" + log_file(RUN[:2]) + record(1, 2, {}, version=2))
    write(target, "log-generation5", b"\x00" + log_file(RUN[:2], gen=5))
    write(target, "snapshot-empty", b"\x03" + snapshot_content([]))
    write(target, "snapshot-meta", b"\x03" + snapshot_content(
        [(100, {"next_save": 4, "next_commit": 3})], next_seq=13))
    write(target, "garbage", b"\x00HSJR not a log at all")

# ---- tolerant JSON (trainer_state.json as Python's json.dumps writes it) ---------

write("json_tolerant", "trainer_state.json", """{
  "best_metric": NaN,
  "best_model_checkpoint": null,
  "epoch": 1.0,
  "global_step": 500,
  "log_history": [
    {"epoch": 0.5, "grad_norm": Infinity, "learning_rate": 4.5e-05, "loss": 0.6931, "step": 250},
    {"epoch": 1.0, "eval_loss": -Infinity, "eval_accuracy": 0.84, "step": 500},
    {"train_runtime": 123.4, "total_flos": 1.2e+16, "train_loss": NaN, "step": 500}
  ],
  "trial_params": null,
  "is_hyper_param_search": false
}
""")
write("json_tolerant", "literals-in-strings.json",
      '{"NaN": "NaN is \\"Infinity\\" -Infinity", "x": [NaN,-Infinity,Infinity], "y": "\\\\"}')
write("json_tolerant", "near-misses.json", '{"a": NaNx, "b": -Inf, "c": Infinity_}')
write("json_tolerant", "nested.json", "[" * 40 + "NaN" + "]" * 40)
write("json_tolerant", "unterminated.json", '{"a": "NaN')
write("json_tolerant", "numbers.json", '[0, -0, 1e308, -1e-308, 9223372036854775807, 1.5E+3]')
