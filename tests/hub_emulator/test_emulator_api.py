#!/usr/bin/env python3
"""API-level test of the Hub emulator itself (fast, stdlib only).

Covers: auth (401 / 403), repo create (409 with url, name validation, orgs, private),
preupload decisions, LFS batch (basic / multipart / already present / invalid), the
storage server (token rejection, signatures, expiry, part sizes, ETags, SHA-256 checks),
commits (412, unknown LFS oid, > 10 MiB regular, README YAML / model-index, 404 on
missing deletes, .gitattributes update), tree / paths-info / commits pagination, resolve
headers and redirects, the commit quota (429 + Retry-After + RateLimit), fault injection
(seeded determinism, 5xx without side effects, reset, lost response, stall, expire, badetag),
S3 part semantics (MD5 ETags, aborted part PUTs keep the earlier part), the
request log and SIGTERM. Ends with "hub_emulator_api: N passed, M failed".
"""

import base64
import calendar
import hashlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.environ.get("HS_PYTHON") or "/usr/bin/python3"
ALICE = "hf_alice_write_0123456789abcdefghij"
BOB = "hf_bob_read_0123456789abcdefghijkl"
CAROL = "hf_carol_write_0123456789abcdefghi"
MiB = 1 << 20

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: %s" % what, flush=True)


def eq(actual, expected, what):
    check(actual == expected, "%s: got %r, expected %r" % (what, actual, expected))


class Emu:
    def __init__(self, work, *args):
        self.data = os.path.join(work, "data")
        self.log = os.path.join(work, "log.jsonl")
        self.proc = subprocess.Popen([PY, os.path.join(HERE, "hub_emulator.py"), "--port", "0", "--data-dir",
                                      self.data, "--log", self.log] + list(args),
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line[:3] == ["hub_emulator", "listening", "on"], line
        self.hub, self.storage = line[3], line[5]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(10)

    def records(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f]


def req(method, url, body=None, headers=None, token=None):
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    c.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.headers, data


def jbody(data):
    try:
        return json.loads(data)
    except ValueError:
        return None


def create(e, name, org=None, token=ALICE, **kw):
    body = {"name": name, "organization": org}
    body.update(kw)
    return req("POST", e.hub + "/api/repos/create", body, token=token)


def ndjson(summary, ops, parent=None):
    lines = [{"key": "header", "value": {"summary": summary, "description": "", **({"parentCommit": parent} if parent else {})}}]
    lines += ops
    return "\n".join(json.dumps(x) for x in lines).encode()


def file_op(path, data):
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"}}


def lfs_op(path, data):
    return {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": hashlib.sha256(data).hexdigest(),
                                        "size": len(data)}}


def commit(e, repo, summary, ops, parent=None, token=ALICE, rev="main"):
    return req("POST", "%s/api/models/%s/commit/%s" % (e.hub, repo, rev), ndjson(summary, ops, parent),
               {"Content-Type": "application/x-ndjson"}, token=token)


def head(e, repo):
    return jbody(req("GET", "%s/api/models/%s" % (e.hub, repo), token=ALICE)[2])["sha"]


def batch(e, repo, objs, token=ALICE):
    st, h, d = req("POST", "%s/%s.git/info/lfs/objects/batch" % (e.hub, repo),
                   json.dumps({"operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
                               "ref": {"name": "main"}, "objects": objs}).encode(),
                   {"Content-Type": "application/vnd.git-lfs+json", "Accept": "application/vnd.git-lfs+json"},
                   token=token)
    return st, jbody(d)


def upload_lfs(e, repo, data):
    """Full LFS upload (basic or multipart) as a client would do it; returns the oid."""
    oid = hashlib.sha256(data).hexdigest()
    st, b = batch(e, repo, [{"oid": oid, "size": len(data)}])
    assert st == 200, b
    act = b["objects"][0].get("actions")
    if not act:
        return oid
    up = act["upload"]
    hdr = up.get("header") or {}
    if "chunk_size" in hdr:
        cs = int(hdr["chunk_size"])
        parts = []
        for k in sorted((k for k in hdr if k.isdigit()), key=int):
            n = int(k)
            st, h, _ = req("PUT", hdr[k], data[(n - 1) * cs:n * cs])
            assert st == 200, st
            parts.append({"partNumber": n, "etag": h["ETag"]})
        st, _, d = req("POST", up["href"], {"oid": oid, "parts": parts})
        assert st == 200, d
    else:
        st, _, d = req("PUT", up["href"], data)
        assert st == 200, d
    return oid


def test_auth_and_repos(e):
    st, h, d = req("GET", e.hub + "/api/whoami-v2")
    eq(st, 401, "whoami without token")
    st, h, d = req("GET", e.hub + "/api/whoami-v2", token="hf_unknown_token_xxxxxxxxxxxxxxxx")
    eq((st, jbody(d)["error"]), (401, "Invalid credentials in Authorization header"), "whoami with unknown token")
    check(h.get("X-Request-Id") and h.get("X-Error-Message"), "error carries X-Request-Id and X-Error-Message")
    st, h, d = req("GET", e.hub + "/api/whoami-v2", token=ALICE)
    w = jbody(d)
    eq((st, w["name"], [o["name"] for o in w["orgs"]], w["auth"]["accessToken"]["role"]), (200, "alice", ["acme"], "write"),
       "whoami alice")
    eq(create(e, "m")[0], 200, "create alice/m")
    st, h, d = create(e, "m")
    eq((st, jbody(d).get("url")), (409, e.hub + "/alice/m"), "create again → 409 with url")
    eq(create(e, "m", org="acme")[0], 200, "create in org acme (member)")
    eq(create(e, "x", token=BOB)[0], 403, "read token cannot create")
    eq(create(e, "x", org="acme", token=CAROL)[0], 403, "non-member cannot create in org")
    eq(create(e, "x", org="carol")[0], 403, "alice cannot create in carol's namespace")
    eq(create(e, "x", org="nobody-org")[0], 403, "unknown namespace")
    for bad in ("a--b", "-ab", "ab.", "x.git", "a..b", "a b", "a" * 97, ""):
        eq(create(e, bad)[0], 400, "invalid name %r" % bad)
    eq(create(e, "ds", type="dataset")[0], 200, "create dataset")
    eq(req("GET", e.hub + "/api/datasets/alice/ds", token=ALICE)[0], 200, "dataset info")
    eq(create(e, "sp", type="space")[0], 400, "space without sdk")
    eq(create(e, "priv", visibility="private")[0], 200, "create private")
    eq(req("GET", e.hub + "/api/models/alice/priv")[0], 401, "anonymous cannot see private repo (401)")
    st, h, d = req("GET", e.hub + "/api/models/alice/priv", token=CAROL)
    eq((st, h.get("X-Error-Code")), (404, "RepoNotFound"), "other user cannot see private repo (404 RepoNotFound)")
    st, h, d = req("GET", e.hub + "/api/models/alice/m?blobs=true", token=ALICE)
    info = jbody(d)
    eq([s["rfilename"] for s in info["siblings"]], [".gitattributes"], "new repo has .gitattributes")
    check(len(info["sha"]) == 40 and info["private"] is False, "repo info sha/private")
    st, h, d = req("GET", e.hub + "/api/models/alice/m/commits/main", token=ALICE)
    eq([c["title"] for c in jbody(d)], ["initial commit"], "initial commit")
    st, h, d = req("GET", e.hub + "/api/models/alice/m/refs", token=ALICE)
    eq(jbody(d)["branches"][0]["targetCommit"], info["sha"], "refs: main → sha")
    eq(req("POST", e.hub + "/api/models/alice/m/branch/dev", {}, token=ALICE)[0], 200, "create branch")
    eq(req("POST", e.hub + "/api/models/alice/m/branch/dev", {}, token=ALICE)[0], 409, "branch exists → 409")
    eq(req("POST", e.hub + "/api/models/alice/m/branch/refs%2Fpr%2F5", {}, token=ALICE)[0], 400, "invalid branch")
    eq(req("GET", e.hub + "/api/models/alice/m/revision/dev", token=ALICE)[0], 200, "revision dev")
    eq(req("POST", e.hub + "/api/models/alice/m/branch/feature%2Fx", {}, token=ALICE)[0], 200, "branch with a slash")
    st, h, d = req("GET", e.hub + "/api/models/alice/m/tree/feature/x?recursive=true", token=ALICE)
    eq((st, [i["path"] for i in jbody(d) or []]), (200, [".gitattributes"]), "tree with an unencoded feature/x rev")
    st, h, d = req("GET", e.hub + "/api/models/alice/m/revision/nope", token=ALICE)
    eq((st, h.get("X-Error-Code")), (404, "RevisionNotFound"), "unknown revision")


def test_preupload(e):
    repo = "alice/m"
    files = [{"path": "config.json", "size": 20, "sample": base64.b64encode(b'{"a": 1}').decode()},
             {"path": "model.safetensors", "size": 100, "sample": base64.b64encode(b"x" * 100).decode()},
             {"path": "big.txt", "size": 11 * MiB, "sample": base64.b64encode(b"text").decode()},
             {"path": "blob.dat", "size": 2 * MiB, "sample": base64.b64encode(b"ab\0cd").decode()},
             {"path": "empty.bin", "size": 0, "sample": ""},
             {"path": "logs/run.log", "size": 5, "sample": base64.b64encode(b"hello").decode()}]
    st, h, d = req("POST", e.hub + "/api/models/%s/preupload/main" % repo,
                   {"files": files, "gitIgnore": "*.log\n"}, token=ALICE)
    b = jbody(d)
    modes = {f["path"]: f["uploadMode"] for f in b["files"]}
    eq(modes, {"config.json": "regular", "model.safetensors": "lfs", "big.txt": "lfs", "blob.dat": "lfs",
               "empty.bin": "regular", "logs/run.log": "regular"}, "preupload modes")
    eq([f["path"] for f in b["files"] if f["shouldIgnore"]], ["logs/run.log"], "preupload shouldIgnore")
    eq(b["commitOid"], head(e, repo), "preupload commitOid")
    st, h, d = req("POST", e.hub + "/api/models/%s/preupload/main" % repo, {"files": files}, token=BOB)
    eq(st, 403, "preupload with read token")
    for bad in ("checkpoint-50/back\\slash.txt", "a\nb", "x/.git/config", "a/../b", ".cache/y"):
        st, h, d = req("POST", e.hub + "/api/models/%s/preupload/main" % repo,
                       {"files": files[:1] + [{"path": bad, "size": 3, "sample": ""}]}, token=ALICE)
        check(st == 400 and h.get("X-Error-Code") == "BadRequest" and
              h.get("X-Error-Message", "").startswith("Invalid path") and
              jbody(d)["error"].startswith("Invalid path"), "preupload of %r → 400 Invalid path (%d)" % (bad, st))
    st, h, d = commit(e, repo, "bad path", [file_op("checkpoint-50/back\\slash.txt", b"x")])
    check(st == 400 and "backslashes" in jbody(d)["error"], "commit of a backslash path → 400 Invalid path")


def test_lfs_and_storage(e):
    repo = "alice/m"
    small = os.urandom(1000)
    oid = hashlib.sha256(small).hexdigest()
    st, b = batch(e, repo, [{"oid": oid, "size": len(small)}, {"oid": "xyz", "size": 1}])
    obj = b["objects"][0]
    check(st == 200 and "chunk_size" not in (obj["actions"]["upload"].get("header") or {}), "small object → basic")
    eq(b["objects"][1]["error"]["code"], 422, "invalid oid → per-object error")
    href = obj["actions"]["upload"]["href"]
    eq(urlsplit(href).port, urlsplit(e.storage).port, "upload URL is on the storage origin")
    st, h, d = req("PUT", href, small, token=ALICE)
    check(st == 400 and b"InvalidArgument" in d, "storage rejects Authorization (%d)" % st)
    st, h, d = req("PUT", href, small[:-1] + bytes([small[-1] ^ 1]))  # always other bytes
    check(st == 400 and b"BadDigest" in d, "basic PUT with wrong content → BadDigest")
    st, h, d = req("PUT", href.replace("signature=", "signature=0"), small)
    check(st == 403 and b"SignatureDoesNotMatch" in d, "bad signature → 403")
    eq(req("PUT", href, small)[0], 200, "basic PUT")
    st, b = batch(e, repo, [{"oid": oid, "size": len(small)}])
    check("actions" not in b["objects"][0], "already present → no actions")
    eq(req("POST", e.hub + "/%s.git/info/lfs/objects/verify" % repo, {"oid": oid, "size": 1000}, token=ALICE)[0], 200,
       "verify")
    # multipart: threshold 2 MiB, chunk 1 MiB in this instance
    big = os.urandom(3 * MiB + 5)
    boid = hashlib.sha256(big).hexdigest()
    st, b = batch(e, repo, [{"oid": boid, "size": len(big)}])
    up = b["objects"][0]["actions"]["upload"]
    keys = sorted(k for k in up["header"] if k.isdigit())
    eq((up["header"]["chunk_size"], keys), (str(MiB), ["00001", "00002", "00003", "00004"]), "multipart header")
    st, h, d = req("PUT", up["header"]["00001"], big[:MiB - 1])
    check(st == 400 and b"InvalidPartSize" in d, "part with wrong size → 400")
    etags = {}
    for k in keys:
        n = int(k)
        chunk = big[(n - 1) * MiB:n * MiB]
        if n == 2:
            chunk = b"\0" * len(chunk)  # corrupt: the completion must catch it
        st, h, _ = req("PUT", up["header"][k], chunk)
        etags[n] = h.get("ETag")
        check(st == 200 and etags[n] and etags[n].startswith('"'), "part %d PUT + quoted ETag" % n)
    parts = [{"partNumber": n, "etag": etags[n]} for n in sorted(etags)]
    bad_parts = [dict(p) for p in parts]
    bad_parts[0]["etag"] = '"0000"'
    st, h, d = req("POST", up["href"], {"oid": boid, "parts": bad_parts})
    eq(st, 400, "completion with a wrong ETag")
    st, h, d = req("POST", up["href"], {"oid": boid, "parts": parts[:2]})
    eq(st, 400, "completion with missing parts")
    st, h, d = req("POST", up["href"], {"oid": boid, "parts": parts})
    check(st == 400 and "oid" in jbody(d)["error"], "completion of corrupted object → 400 (sha256 != oid)")
    eq(batch(e, repo, [{"oid": boid, "size": len(big)}])[1]["objects"][0].get("actions") is not None, True,
       "corrupted object not stored")
    eq(upload_lfs(e, repo, big), boid, "multipart upload round trip")
    check(os.path.getsize(os.path.join(e.data, "lfs", boid[:2], boid)) == len(big), "object stored content-addressed")
    return big


def raw_aborted_put(url, body, send):
    """PUT with Content-Length len(body) but only `send` bytes of it, then close (a dead client)."""
    import socket
    u = urlsplit(url)
    c = socket.create_connection((u.hostname, u.port), timeout=10)
    c.sendall(("PUT %s?%s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %d\r\n\r\n" % (
        u.path, u.query, u.hostname, u.port, len(body))).encode() + body[:send])
    time.sleep(0.1)
    c.close()


def wait_log(e, pred, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if any(pred(r) for r in e.records()):
            return True
        time.sleep(0.05)
    check(False, "log never showed: %s" % what)
    return False


def test_part_fidelity(e):
    """S3 part semantics: ETag = quoted MD5 of the bytes (a duplicate PUT of the same bytes is
    harmless), a PUT whose body never fully arrives stores nothing and keeps the earlier part,
    a replaced part changes its ETag, completion refuses stale/missing parts and then works."""
    repo = "alice/m"
    data = os.urandom(3 * MiB + 7)
    oid = hashlib.sha256(data).hexdigest()
    chunk = [data[(n - 1) * MiB:n * MiB] for n in range(1, 5)]
    md5 = ['"%s"' % hashlib.md5(c).hexdigest() for c in chunk]
    st, b = batch(e, repo, [{"oid": oid, "size": len(data)}])
    up = b["objects"][0]["actions"]["upload"]
    url = {n: up["header"]["%05d" % n] for n in range(1, 5)}
    uid = urlsplit(up["href"]).query.split("uploadId=")[1].split("&")[0]
    st, h, _ = req("PUT", url[1], chunk[0])
    eq((st, h.get("ETag")), (200, md5[0]), "part ETag = quoted MD5 of its bytes")
    st, h, _ = req("PUT", url[1], chunk[0])
    eq((st, h.get("ETag")), (200, md5[0]), "the same bytes again → the same ETag (late duplicate harmless)")
    st, h, _ = req("PUT", url[2], chunk[1])
    eq(h.get("ETag"), md5[1], "part 2 ETag")
    # a re-send of part 2 whose body never fully arrives (the client died): nothing stored
    raw_aborted_put(url[2], os.urandom(MiB), MiB // 2)
    wait_log(e, lambda r: r["server"] == "storage" and r["path"].endswith("/upload/%s/2" % uid) and r["status"] == 499,
             "the aborted part 2 PUT (499)")
    # part 3 only ever started (aborted): completion says it was never uploaded
    raw_aborted_put(url[3], chunk[2], 1000)
    wait_log(e, lambda r: r["server"] == "storage" and r["path"].endswith("/upload/%s/3" % uid) and r["status"] == 499,
             "the aborted part 3 PUT (499)")
    parts = [{"partNumber": n, "etag": md5[n - 1]} for n in range(1, 5)]
    st, h, d = req("POST", up["href"], {"oid": oid, "parts": parts})
    check(st == 400 and h.get("X-Error-Code") == "InvalidPart" and "Part 3 was never uploaded" in jbody(d)["error"],
          "completion before part 3 arrived → 400 InvalidPart (%d %s)" % (st, d[:120]))
    # part 4 first with other bytes: its ETag differs and the right ETag is refused until re-sent
    st, h, _ = req("PUT", url[4], b"\0" * len(chunk[3]))
    check(st == 200 and h.get("ETag") not in (None, md5[3]), "other bytes → another ETag")
    eq(req("PUT", url[3], chunk[2])[1].get("ETag"), md5[2], "part 3 ETag")
    st, h, d = req("POST", up["href"], {"oid": oid, "parts": parts})
    check(st == 400 and "ETag mismatch for part 4" in jbody(d)["error"], "stale ETag of part 4 → 400 InvalidPart")
    eq(req("PUT", url[4], chunk[3])[1].get("ETag"), md5[3], "part 4 re-sent → its MD5 ETag")
    st, h, d = req("POST", up["href"], {"oid": oid, "parts": parts})
    eq(st, 200, "completion with the MD5 ETags (part 2's aborted re-send kept the first part 2)")
    with open(os.path.join(e.data, "lfs", oid[:2], oid), "rb") as f:
        eq(hashlib.sha256(f.read()).hexdigest(), oid, "assembled object is the data")
    st, h, d = req("PUT", url[1], chunk[0])
    check(st == 404 and b"NoSuchUpload" in d, "part PUT after completion → 404 NoSuchUpload (%d)" % st)
    left = [f for d_ in ("uploads", "tmp") for f in os.listdir(os.path.join(e.data, d_)) if uid in f]
    eq(left, [], "no part files left after completion")


def test_commits(e, big):
    repo = "alice/m"
    h0 = head(e, repo)
    cfg = b'{"hidden": 8}\n'
    st, h, d = commit(e, repo, "add files", [file_op("config.json", cfg), lfs_op("weights/model.pt", big),
                                             file_op("logs/a.txt", b"a"), file_op("logs/b.txt", b"b")], parent=h0)
    r = jbody(d)
    eq((st, r.get("success")), (200, True), "commit with parentCommit")
    eq(r["commitUrl"], "%s/%s/commit/%s" % (e.hub, repo, r["commitOid"]), "commitUrl shape")
    h1 = r["commitOid"]
    st, h, d = commit(e, repo, "stale", [file_op("x.txt", b"x")], parent=h0)
    eq(st, 412, "stale parentCommit → 412")
    eq(head(e, repo), h1, "412 changed nothing")
    st, h, d = commit(e, repo, "ghost", [lfs_op("ghost.bin", b"never uploaded")])
    check(st == 400 and "ghost.bin" in jbody(d)["error"], "unknown LFS oid → 400")
    st, h, d = commit(e, repo, "huge", [file_op("huge.txt", b"a" * (10 * MiB + 1))])
    check(st == 400 and "10 MiB" in jbody(d)["error"], "regular file > 10 MiB → 400")
    st, h, d = commit(e, repo, "bin", [file_op("b.dat", b"\0" * (MiB + 1))])
    eq(st, 400, "binary regular file > 1 MiB → 400")
    st, h, d = commit(e, repo, "bad yaml", [file_op("README.md", b"---\nlicense: [mit\n---\n# x\n"),
                                             file_op("other.txt", b"o")])
    check(st == 400 and "README.md" in jbody(d)["error"], "README with invalid YAML → 400")
    bad_mi = b"---\nmodel-index:\n- name: m\n  results:\n  - task: {type: text-classification}\n    metrics: []\n---\n"
    eq(commit(e, repo, "bad mi", [file_op("README.md", bad_mi)])[0], 400, "malformed model-index → 400")
    eq(head(e, repo), h1, "rejected commits changed nothing (whole commit rejected)")
    good = (b"---\nlicense: mit\nmodel-index:\n- name: m\n  results:\n  - task: {type: text-classification}\n"
            b"    dataset: {type: imdb, name: IMDB}\n    metrics:\n    - {type: accuracy, value: 0.9}\n---\n# M\n")
    eq(commit(e, repo, "good card", [file_op("README.md", good)])[0], 200, "valid model card")
    st, h, d = req("POST", e.hub + "/api/validate-yaml", {"content": bad_mi.decode(), "repoType": "model"}, token=ALICE)
    check(st == 400 and jbody(d)["errors"], "validate-yaml reports errors")
    st, h, d = commit(e, repo, "del missing", [{"key": "deletedFile", "value": {"path": "nope.txt"}}])
    eq((st, h.get("X-Error-Code")), (404, "EntryNotFound"), "delete missing file → 404 EntryNotFound")
    eq(commit(e, repo, "del folder", [{"key": "deletedFolder", "value": {"path": "logs/"}}])[0], 200, "deletedFolder")
    eq(commit(e, repo, "x", [file_op("../x", b"x")])[0], 400, "path with .. → 400")
    eq(commit(e, repo, "x", [file_op("a.txt", b"x")], token=CAROL)[0], 403, "carol cannot commit to alice/m")
    eq(commit(e, repo, "x", [file_op("a.txt", b"x")], token=BOB)[0], 403, "read token cannot commit")
    eq(commit(e, repo, "", [file_op("a.txt", b"x")])[0], 400, "empty summary → 400")
    # preupload now reports the remote oids
    st, h, d = req("POST", e.hub + "/api/models/%s/preupload/main" % repo,
                   {"files": [{"path": "config.json", "size": len(cfg), "sample": ""},
                              {"path": "weights/model.pt", "size": len(big), "sample": ""}]}, token=ALICE)
    oids = {f["path"]: f.get("oid") for f in jbody(d)["files"]}
    eq(oids, {"config.json": hashlib.sha1(b"blob %d\0" % len(cfg) + cfg).hexdigest(),
              "weights/model.pt": hashlib.sha256(big).hexdigest()}, "preupload oids (git sha1 / sha256)")
    # an lfsFile at a path not matched by .gitattributes gets added to it
    eq(commit(e, repo, "odd lfs", [lfs_op("data/odd.raw", big)])[0], 200, "lfsFile at untracked path")
    st, h, d = req("GET", "%s/%s/resolve/main/.gitattributes" % (e.hub, repo), token=ALICE)
    check(b"data/odd.raw filter=lfs" in d, ".gitattributes updated for the new LFS path")
    return cfg


def test_listing_and_resolve(e, big, cfg):
    repo = "alice/m"
    sha = head(e, repo)
    items, url, pages = [], "%s/api/models/%s/tree/main?recursive=true" % (e.hub, repo), 0
    while url:
        st, h, d = req("GET", url, token=ALICE)
        items += jbody(d)
        pages += 1
        link = h.get("Link")
        url = link.split(";")[0].strip("<>") if link else None
    paths = [i["path"] for i in items]
    eq(sorted(paths), sorted([".gitattributes", "README.md", "config.json", "data", "data/odd.raw", "weights",
                              "weights/model.pt"]), "recursive tree")
    check(pages >= 3, "tree paginated with page size 3 (%d pages)" % pages)
    m = [i for i in items if i["path"] == "weights/model.pt"][0]
    eq(m["lfs"]["oid"], hashlib.sha256(big).hexdigest(), "tree lfs oid")
    check(m["lfs"]["pointerSize"] > 100 and m["size"] == len(big), "tree lfs size/pointerSize")
    st, h, d = req("GET", "%s/api/models/%s/tree/main/weights" % (e.hub, repo), token=ALICE)
    eq([i["path"] for i in jbody(d)], ["weights/model.pt"], "tree of a folder")
    st, h, d = req("GET", "%s/api/models/%s/tree/main/nope" % (e.hub, repo), token=ALICE)
    eq((st, h.get("X-Error-Code")), (404, "EntryNotFound"), "tree of a missing folder")
    st, h, d = req("POST", "%s/api/models/%s/paths-info/main" % (e.hub, repo),
                   b"paths=config.json&paths=weights&paths=missing&expand=False",
                   {"Content-Type": "application/x-www-form-urlencoded"}, token=ALICE)
    eq(sorted((i["path"], i["type"]) for i in jbody(d)), [("config.json", "file"), ("weights", "directory")],
       "paths-info (form encoded)")
    st, h, d = req("GET", "%s/%s/resolve/main/config.json" % (e.hub, repo), token=ALICE)
    eq((st, d, h.get("X-Repo-Commit"), h.get("ETag")),
       (200, cfg, sha, '"%s"' % hashlib.sha1(b"blob %d\0" % len(cfg) + cfg).hexdigest()), "resolve regular file")
    st, h, d = req("GET", "%s/%s/resolve/main/config.json" % (e.hub, repo), headers={"Range": "bytes=0-0"})
    eq((st, d, h.get("Content-Range")), (206, cfg[:1], "bytes 0-0/%d" % len(cfg)), "resolve with Range")
    st, h, d = req("HEAD", "%s/%s/resolve/main/weights/model.pt" % (e.hub, repo), token=ALICE)
    eq((st, h.get("X-Linked-Size"), h.get("X-Linked-Etag")), (302, str(len(big)), '"%s"' % hashlib.sha256(big).hexdigest()),
       "resolve LFS → 302 + X-Linked-*")
    loc = h["Location"]
    eq(urlsplit(loc).port, urlsplit(e.storage).port, "LFS redirect goes to the storage origin")
    st, h2, d = req("GET", loc)
    eq((st, hashlib.sha256(d).hexdigest()), (200, hashlib.sha256(big).hexdigest()), "download LFS content")
    st, h2, d = req("GET", loc, headers={"Range": "bytes=10-19"})
    eq((st, d), (206, big[10:20]), "ranged storage GET")
    eq(req("GET", loc, token=ALICE)[0], 400, "storage GET with Authorization → 400")
    st, h, d = req("GET", "%s/%s/resolve/main/missing.txt" % (e.hub, repo), token=ALICE)
    eq((st, h.get("X-Error-Code")), (404, "EntryNotFound"), "resolve missing file")
    st, h, d = req("GET", "%s/%s/resolve/%s/config.json" % (e.hub, repo, sha), token=ALICE)
    eq((st, h.get("X-Repo-Commit")), (200, sha), "resolve by commit oid")
    st, h, d = req("GET", "%s/api/models/%s/commits/main?limit=2" % (e.hub, repo), token=ALICE)
    eq((len(jbody(d)), 'rel="next"' in h.get("Link", "")), (2, True), "commits paginated")
    eq(jbody(d)[0]["id"], sha, "commits newest first")
    sys.path.insert(0, HERE)
    import emu_inspect
    files = {f["path"]: f for f in emu_inspect.list_files(e.hub, repo, download=True)}
    eq((files["weights/model.pt"]["sha256"], files["weights/model.pt"]["lfs"]),
       (hashlib.sha256(big).hexdigest(), True), "emu_inspect: LFS file hashed from its bytes")
    eq(files["config.json"]["sha256"], hashlib.sha256(cfg).hexdigest(), "emu_inspect: regular file sha256")
    cs = emu_inspect.list_commits(e.hub, repo)
    eq((cs[0]["id"], cs[-1]["title"], cs[0]["author"]), (sha, "initial commit", "alice"), "emu_inspect: commits")


def test_log(e):
    recs = e.records()
    st = [r for r in recs if r["server"] == "storage"]
    eq(sorted(r["status"] for r in st if r["auth"]), [400, 400], "log: the two storage requests with auth were rejected")
    cm = [r for r in recs if r["path"].endswith("/commit/main") and r["status"] == 200]
    check(all("ops" in r for r in cm), "log: commits carry ops")
    first = cm[0]["ops"]
    eq([o["op"] for o in first], ["file", "lfsFile", "file", "file"], "log: ops of the first commit")
    check(not any(ALICE in json.dumps(r) for r in recs), "log never contains the token")


def test_pr_and_restart(e, work_main, big):
    repo = "alice/m"
    h = head(e, repo)
    st, _, d = req("POST", "%s/api/models/%s/commit/main?create_pr=1" % (e.hub, repo),
                   ndjson("proposal", [file_op("pr.txt", b"pr")]), {"Content-Type": "application/x-ndjson"}, token=ALICE)
    r = jbody(d)
    check(st == 200 and r.get("pullRequestUrl", "").endswith("/%s/discussions/1" % repo), "create_pr → pullRequestUrl")
    eq(head(e, repo), h, "create_pr leaves main alone")
    st, _, d = req("GET", "%s/api/models/%s/refs?include_prs=1" % (e.hub, repo), token=ALICE)
    eq([p["name"] for p in jbody(d)["pullRequests"]], ["refs/pr/1"], "refs lists the PR")
    eq(commit(e, repo, "more", [file_op("pr2.txt", b"2")], rev="refs%2Fpr%2F1")[0], 200, "commit to refs/pr/1")
    return h


def test_restart(work_main, h, big):
    e = Emu(work_main)
    try:
        eq(head(e, "alice/m"), h, "restart keeps repos and heads")
        st, hd, _ = req("HEAD", "%s/alice/m/resolve/main/weights/model.pt" % e.hub, token=ALICE)
        st, _, d = req("GET", hd["Location"])
        eq(hashlib.sha256(d).hexdigest(), hashlib.sha256(big).hexdigest(), "restart keeps LFS objects")
    finally:
        e.stop()


def test_discard(work):
    e = Emu(work, "--discard", "--chunk-size", str(MiB), "--multipart-threshold", str(MiB))
    try:
        create(e, "d")
        data = os.urandom(2 * MiB + 3)
        oid = upload_lfs(e, "alice/d", data)
        eq(commit(e, "alice/d", "w", [lfs_op("w.bin", data)])[0], 200, "discard mode: commit of a multipart object")
        check(not os.path.exists(os.path.join(e.data, "lfs", oid[:2], oid)), "discard mode keeps no bytes")
        st, hd, _ = req("HEAD", "%s/alice/d/resolve/main/w.bin" % e.hub, token=ALICE)
        eq((st, hd.get("X-Linked-Size")), (302, str(len(data))), "discard mode: resolve still answers")
        eq(req("GET", hd["Location"])[0], 410, "discard mode: download → 410")
        small = os.urandom(100)
        st, b = batch(e, "alice/d", [{"oid": hashlib.sha256(small).hexdigest(), "size": 100}])
        st, _, d = req("PUT", b["objects"][0]["actions"]["upload"]["href"], small[::-1])
        eq(st, 400, "discard mode still hashes basic PUTs")
    finally:
        e.stop()


def test_quota_expiry(work):
    e = Emu(work, "--commit-quota", "2", "--commit-window", "3600", "--url-ttl", "1")
    try:
        create(e, "q")
        eq([commit(e, "alice/q", "c%d" % i, [file_op("f.txt", b"%d" % i)])[0] for i in range(2)], [200, 200],
           "commits within quota")
        st, h, d = commit(e, "alice/q", "c3", [file_op("f.txt", b"3")])
        check(st == 429 and int(h.get("Retry-After", "0")) > 0, "commit past quota → 429 + Retry-After")
        check(h.get("RateLimit", "").startswith('"api";r=0;t=') and "q=2;w=3600" in h.get("RateLimit-Policy", ""),
              "429 carries RateLimit headers")
        check("hourly quotas" in jbody(d)["error"], "429 message")
        data = os.urandom(100)
        t0 = time.time()
        st, b = batch(e, "alice/q", [{"oid": hashlib.sha256(data).hexdigest(), "size": 100}])
        up = b["objects"][0]["actions"]["upload"]
        href = up["href"]
        exp_at = calendar.timegm(time.strptime(up.get("expires_at", ""), "%Y-%m-%dT%H:%M:%SZ"))
        check(up.get("expires_in") == 1 and int(t0) <= exp_at <= int(time.time()) + 1,
              "--url-ttl 1: the batch answer says expires_in 1 and expires_at (%r)" % up)
        time.sleep(2.1)
        st, h, d = req("PUT", href, data)
        check(st == 403 and b"Request has expired" in d, "expired URL → 403 (%d)" % st)
    finally:
        eq(e.stop(), 0, "SIGTERM → exit 0")


def test_faults(work):
    seqs = []
    for i in range(2):
        e = Emu(os.path.join(work, "f%d" % i), "--faults", "api5xx=0.5", "--seed", "42")
        create(e, "f")
        statuses = [commit(e, "alice/f", "c%d" % k, [file_op("f.txt", b"%d" % k)])[0] for k in range(12)]
        ok = statuses.count(200)
        st, h, d = req("GET", e.hub + "/api/models/alice/f/commits/main", token=ALICE)
        eq(len(jbody(d)), ok + 1, "5xx faults have no side effect (%d ok commits)" % ok)
        check(all(s in (200, 500, 502, 503) for s in statuses) and 0 < ok < 12, "api5xx mix: %s" % statuses)
        faults = [r for r in e.records() if r.get("fault") == "api5xx"]
        eq(len(faults), 12 - ok, "log marks injected faults")
        seqs.append(statuses)
        e.stop()
    eq(seqs[0], seqs[1], "same seed → same faults")
    e = Emu(os.path.join(work, "f3"), "--faults", "lost=1,stall=1,stall_s=0.3")
    try:
        create(e, "f")
        h0 = head(e, "alice/f")
        t0 = time.time()
        try:
            commit(e, "alice/f", "lost", [file_op("f.txt", b"x")])
            check(False, "lost fault resets the connection")
        except (ConnectionError, http.client.HTTPException, OSError):
            check(True, "lost fault resets the connection")
        check(time.time() - t0 >= 0.3, "stall delays the request")
        check(head(e, "alice/f") != h0, "lost response: the commit was applied")
    finally:
        e.stop()
    e = Emu(os.path.join(work, "f4"), "--faults", "reset=1,storage5xx=0")
    try:
        create(e, "f")
        h0 = head(e, "alice/f")
        try:
            commit(e, "alice/f", "reset", [file_op("f.txt", b"x" * 100000)])
            check(False, "reset fault resets the connection")
        except (ConnectionError, http.client.HTTPException, OSError):
            check(True, "reset fault resets the connection")
        eq(head(e, "alice/f"), h0, "reset: nothing committed")
    finally:
        e.stop()
    e = Emu(os.path.join(work, "f5"), "--faults", "storage5xx=1")
    try:
        create(e, "f")
        data = os.urandom(100)
        st, b = batch(e, "alice/f", [{"oid": hashlib.sha256(data).hexdigest(), "size": 100}])
        st, h, d = req("PUT", b["objects"][0]["actions"]["upload"]["href"], data)
        check(st in (500, 503) and b"<Error>" in d, "storage5xx → S3-style 5xx")
    finally:
        e.stop()
    e = Emu(os.path.join(work, "f7"), "--faults", "expire=1")
    try:
        create(e, "f")
        data = os.urandom(100)
        st, b = batch(e, "alice/f", [{"oid": hashlib.sha256(data).hexdigest(), "size": 100}])
        st, h, d = req("PUT", b["objects"][0]["actions"]["upload"]["href"], data)
        check(st == 403 and b"Request has expired" in d, "expire fault → 403 Request has expired")
    finally:
        e.stop()
    e = Emu(os.path.join(work, "f8"), "--faults", "reset=0.5", "--seed", "3")
    try:
        create(e, "f")
        data = os.urandom(3 * MiB)
        oid = hashlib.sha256(data).hexdigest()
        b = None
        for _ in range(30):
            try:
                st, b = batch(e, "alice/f", [{"oid": oid, "size": len(data)}])
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                pass
        href = b["objects"][0]["actions"]["upload"]["href"]
        outcomes = []
        for _ in range(30):
            try:
                outcomes.append(req("PUT", href, data)[0])
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                outcomes.append("reset")
                check(not os.path.exists(os.path.join(e.data, "lfs", oid[:2], oid)), "reset PUT stored nothing")
        check("reset" in outcomes and outcomes[-1] == 200, "storage PUT reset mid-body, then OK: %s" % outcomes)
        for _ in range(30):  # the commit POST may be reset too (before any side effect)
            try:
                if commit(e, "alice/f", "w", [lfs_op("w.bin", data)])[0] == 200:
                    break
            except (ConnectionError, http.client.HTTPException, OSError):
                pass
        st, hd, _ = req("HEAD", "%s/alice/f/resolve/main/w.bin" % e.hub, token=ALICE)
        loc = hd["Location"]
        cut = None
        for _ in range(30):
            try:
                st, _, d = req("GET", loc)
                check(st == 200 and hashlib.sha256(d).hexdigest() == oid, "download after resets is complete")
                break
            except http.client.IncompleteRead as ex:
                cut = len(ex.partial)
            except (ConnectionError, http.client.HTTPException, OSError):
                cut = cut or -1
        check(cut is not None, "a storage download was reset mid-body")
        resets = [r for r in e.records() if r["server"] == "storage" and r.get("fault") == "reset" and r["method"] == "PUT"]
        check(resets and all(0 < r["req_bytes"] < len(data) for r in resets), "reset happened mid-body (log)")
    finally:
        e.stop()
    e = Emu(os.path.join(work, "f9"), "--faults", "badetag=1", "--chunk-size", str(MiB), "--multipart-threshold",
            str(MiB))
    try:
        create(e, "f")
        data = os.urandom(2 * MiB + 1)
        oid = hashlib.sha256(data).hexdigest()
        st, b = batch(e, "alice/f", [{"oid": oid, "size": len(data)}])
        up = b["objects"][0]["actions"]["upload"]
        parts = []
        for n in range(1, 4):
            st, h, _ = req("PUT", up["header"]["%05d" % n], data[(n - 1) * MiB:n * MiB])
            parts.append({"partNumber": n, "etag": h["ETag"]})
        for attempt in (1, 2):
            st, h, d = req("POST", up["href"], {"oid": oid, "parts": parts})
            check(st == 400 and h.get("X-Error-Code") == "InvalidPart" and "ETag mismatch for part 1" in
                  jbody(d)["error"], "badetag: completion attempt %d refused (%d %s)" % (attempt, st, d[:100]))
        eq([r["status"] for r in e.records() if r.get("fault") == "badetag"], [400],
           "badetag marked once in the log (the first refusal)")
        eq(upload_lfs(e, "alice/f", data), oid, "badetag=1: a new upload (batch again) completes")
        eq(commit(e, "alice/f", "w", [lfs_op("w.bin", data)])[0], 200, "badetag: the object is committable")
        eq(upload_lfs(e, "alice/f", os.urandom(MiB + 5)) is not None, True, "badetag=1 refuses only once")
    finally:
        e.stop()
    e = Emu(os.path.join(work, "f10"), "--faults", "refuse_path=*/refused*.bin:422,refuse_path=x.txt:400,refuse_commit=c.txt:422")
    try:
        create(e, "f")
        files = [{"path": "ok.json", "size": 2, "sample": ""}, {"path": "c/refused-1.bin", "size": 3, "sample": ""}]
        st, h, d = req("POST", e.hub + "/api/models/alice/f/preupload/main", {"files": files}, token=ALICE)
        check(st == 422 and h.get("X-Error-Code") == "InjectedRefusal" and "Invalid path 'c/refused-1.bin'" in
              jbody(d)["error"] and h.get("X-Request-Id"), "refuse_path: preupload → 422 (%d %s)" % (st, d[:120]))
        h0 = head(e, "alice/f")
        st, h, d = commit(e, "alice/f", "r", [file_op("ok.json", b"{}"), file_op("x.txt", b"x")])
        check(st == 400 and h.get("X-Error-Code") == "BadRequest", "refuse_path: commit → 400 (%d)" % st)
        eq(head(e, "alice/f"), h0, "refuse_path: nothing committed")
        eq(commit(e, "alice/f", "ok", [file_op("ok.json", b"{}")])[0], 200, "refuse_path: other paths commit")
        eq(len([r for r in e.records() if r.get("fault") == "refuse_path"]), 2, "refuse_path marked in the log")
        st, h, d = req("POST", e.hub + "/api/models/alice/f/preupload/main",
                       {"files": [{"path": "c.txt", "size": 1, "sample": ""}]}, token=ALICE)
        eq(st, 200, "refuse_commit: the preupload passes")
        st, h, d = commit(e, "alice/f", "c", [file_op("c.txt", b"c")])
        check(st == 422 and h.get("X-Error-Code") == "InjectedRefusal", "refuse_commit: the commit → 422 (%d)" % st)
    finally:
        e.stop()
    for bad in ("bogus=1", "badetag=0.5", "badetag=-1", "refuse_path=*.bin", "refuse_path=*.bin:500"):
        p = subprocess.run([PY, os.path.join(HERE, "hub_emulator.py"), "--data-dir", os.path.join(work, "f6"),
                            "--faults", bad], capture_output=True, text=True)
        check(p.returncode == 2 and ("unknown fault" in p.stderr or "count" in p.stderr or "GLOB:STATUS" in p.stderr),
              "bad --faults spec %s is refused (%s)" % (bad, p.stderr.strip()))


def main():
    work = tempfile.mkdtemp(prefix="hs-emu-api.")
    try:
        e = Emu(os.path.join(work, "main"), "--chunk-size", str(MiB), "--multipart-threshold", str(2 * MiB),
                "--page-size", "3")
        try:
            test_auth_and_repos(e)
            test_preupload(e)
            big = test_lfs_and_storage(e)
            test_part_fidelity(e)
            cfg = test_commits(e, big)
            test_listing_and_resolve(e, big, cfg)
            test_log(e)
            h = test_pr_and_restart(e, os.path.join(work, "main"), big)
        finally:
            eq(e.stop(), 0, "main emulator stops with 0 on SIGTERM")
        test_restart(os.path.join(work, "main"), h, big)
        test_discard(os.path.join(work, "discard"))
        test_quota_expiry(os.path.join(work, "q"))
        test_faults(work)
    except Exception as ex:  # a crash is a failure, reported with its traceback
        import traceback
        traceback.print_exc()
        check(False, "unexpected exception %r" % ex)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("hub_emulator_api: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
