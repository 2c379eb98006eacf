"""Accounts and the git-like repository store of the Hub emulator.

Owns: tokens → users/orgs and the write/read permission rules; repositories
(type, namespace, name, visibility, branches, tags, commits); each commit is a full
snapshot {path: entry} where an entry is a regular blob (git blob SHA-1, content in
the content-addressed blob store) or an LFS pointer (SHA-256 + size); .gitattributes
LFS pattern matching; tree listings; persistence under DATA/repos/ (one JSON per repo
meta + one JSON per commit) so a restarted emulator keeps its state.
Callers hold `store.lock` around reads and mutations.
"""

import fnmatch
import hashlib
import json
import os
import re
import threading
import time

from emu_http import HttpError, iso_now

DEFAULT_ACCOUNTS = {
    "users": [
        {"name": "alice", "token": "hf_alice_write_0123456789abcdefghij", "role": "write", "orgs": {"acme": "write"}},
        {"name": "bob", "token": "hf_bob_read_0123456789abcdefghijkl", "role": "read", "orgs": {}},
        {"name": "carol", "token": "hf_carol_write_0123456789abcdefghi", "role": "write", "orgs": {}},
    ]
}

LFS_ATTR = "filter=lfs diff=lfs merge=lfs -text"
DEFAULT_GITATTRIBUTES = "".join(
    "%s %s\n" % (p, LFS_ATTR)
    for p in (
        "*.7z *.arrow *.bin *.bz2 *.ckpt *.ftz *.gz *.h5 *.joblib *.lfs.* *.mlmodel *.model *.msgpack "
        "*.npy *.npz *.onnx *.ot *.parquet *.pb *.pickle *.pkl *.pt *.pth *.rar *.safetensors "
        "saved_model/**/* *.tar.* *.tar *.tflite *.tgz *.wasm *.xz *.zip *.zst *tfevents*"
    ).split()
)

REPO_TYPES = ("model", "dataset", "space")
_PART_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


def git_blob_sha1(data):
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(oid, size):
    return b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (oid.encode(), size)


def check_repo_part(part, what):
    """Hub repo-id rules (docs/hub-protocol.md) for one of namespace / name."""
    if not part or len(part) > 96:
        raise HttpError(400, "Invalid %s %r: length must be 1-96" % (what, part), code="BadRequest")
    if not _PART_RE.match(part) or "--" in part or ".." in part or part.endswith(".git"):
        raise HttpError(
            400,
            "Invalid %s %r: use only letters, digits, '-', '_' and '.', start and end with a letter, digit "
            "or '_', no '--' or '..', not ending with '.git'" % (what, part),
            code="BadRequest",
        )


class User:
    def __init__(self, name, token, role, orgs, fine_grained=None):
        self.name, self.token, self.role, self.orgs = name, token, role, dict(orgs or {})
        # role "fineGrained": {"scoped": [{"entity": {"type", "name"}, "permissions": [...]}]}
        self.fine_grained = fine_grained or {}


class Accounts:
    def __init__(self, spec):
        self.by_token = {}
        self.users = {}
        self.orgs = set()
        for u in spec.get("users", []):
            user = User(u["name"], u["token"], u.get("role", "write"), u.get("orgs", {}),
                        u.get("fineGrained"))
            self.by_token[user.token] = user
            self.users[user.name] = user
            self.orgs.update(user.orgs)

    @classmethod
    def load(cls, path):
        if not path:
            return cls(DEFAULT_ACCOUNTS)
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    def namespace_exists(self, ns):
        return ns in self.users or ns in self.orgs

    @staticmethod
    def can_write(user, ns, repo_full=None):
        if user is None or user.role not in ("write", "admin", "fineGrained"):
            return False
        if not (ns == user.name or user.orgs.get(ns) in ("write", "admin", "contributor")):
            return False
        if user.role != "fineGrained":
            return True
        # a fine-grained token writes where a scoped entry grants repo.write: the
        # namespace (user/org entity) or that one repo (model/dataset/space entity)
        for s in user.fine_grained.get("scoped", []):
            e = s.get("entity", {})
            on_ns = e.get("type") in ("user", "org") and e.get("name") == ns
            on_repo = repo_full is not None and e.get("type") in REPO_TYPES and e.get("name") == repo_full
            if (on_ns or on_repo) and "repo.write" in s.get("permissions", []):
                return True
        return False

    @staticmethod
    def can_read(user, repo):
        if not repo.private:
            return True
        return user is not None and (repo.ns == user.name or repo.ns in user.orgs)

    def whoami(self, user):
        token = {"displayName": "%s-token" % user.name, "role": user.role, "createdAt": "2025-01-01T00:00:00.000Z"}
        if user.role == "fineGrained":
            scoped = []
            for s in user.fine_grained.get("scoped", []):
                ent = dict(s.get("entity", {}))
                ent["_id"] = hashlib.sha1(("%s/%s" % (ent.get("type"), ent.get("name"))).encode()).hexdigest()[:24]
                scoped.append({"entity": ent, "permissions": list(s.get("permissions", []))})
            token["fineGrained"] = {"canReadGatedRepos": False, "global": [], "scoped": scoped}
        return {
            "type": "user",
            "id": hashlib.sha1(user.name.encode()).hexdigest()[:24],
            "name": user.name,
            "fullname": user.name.capitalize(),
            "email": "%s@example.com" % user.name,
            "emailVerified": True,
            "isPro": False,
            "canPay": False,
            "avatarUrl": "/avatars/%s.svg" % user.name,
            "orgs": [
                {
                    "type": "org",
                    "id": hashlib.sha1(o.encode()).hexdigest()[:24],
                    "name": o,
                    "fullname": o.upper(),
                    "roleInOrg": role,
                }
                for o, role in sorted(user.orgs.items())
            ],
            "auth": {"type": "access_token", "accessToken": token},
        }


class Commit:
    def __init__(self, oid, parents, title, message, author, date, files):
        self.oid, self.parents, self.title, self.message = oid, parents, title, message
        self.author, self.date, self.files = author, date, files  # files: {path: entry dict}

    def to_json(self):
        return dict(oid=self.oid, parents=self.parents, title=self.title, message=self.message,
                    author=self.author, date=self.date, files=self.files)


class Repo:
    def __init__(self, rtype, ns, name, private, created):
        self.type, self.ns, self.name, self.private, self.created = rtype, ns, name, private, created
        self.rid = hashlib.sha1(("%s/%s/%s/%f" % (rtype, ns, name, created)).encode()).hexdigest()[:24]
        self.branches = {}
        self.tags = {}
        self.commits = {}
        self.pr_count = 0
        self.commit_times = []  # for the commit quota
        self.sdk = None

    @property
    def full(self):
        return "%s/%s" % (self.ns, self.name)

    @property
    def url_prefix(self):
        return "" if self.type == "model" else self.type + "s/"

    def meta_json(self):
        return dict(type=self.type, ns=self.ns, name=self.name, private=self.private, created=self.created,
                    rid=self.rid, branches=self.branches, tags=self.tags, pr_count=self.pr_count, sdk=self.sdk)

    def resolve(self, rev):
        """Revision → commit oid, or None."""
        if rev in self.branches:
            return self.branches[rev]
        if rev.startswith("refs/heads/") and rev[11:] in self.branches:
            return self.branches[rev[11:]]
        if rev in self.tags:
            return self.tags[rev]
        if rev.startswith("refs/tags/") and rev[10:] in self.tags:
            return self.tags[rev[10:]]
        if re.fullmatch(r"[0-9a-f]{40}", rev) and rev in self.commits:
            return rev
        return None

    def branch_name(self, rev):
        """Revision → branch name if it names a branch (incl. refs/pr/N), else None."""
        if rev in self.branches:
            return rev
        if rev.startswith("refs/heads/") and rev[11:] in self.branches:
            return rev[11:]
        return None


class RepoStore:
    def __init__(self, data_dir, blobs):
        self.lock = threading.RLock()
        self.dir = os.path.join(data_dir, "repos")
        os.makedirs(self.dir, exist_ok=True)
        self.blobs = blobs
        self.repos = {}  # (type, ns, name) -> Repo
        self._counter = 0
        self._load()

    # -- persistence -----------------------------------------------------------------------------
    def _repo_dir(self, repo):
        return os.path.join(self.dir, repo.type, repo.ns, repo.name)

    def _save_meta(self, repo):
        d = self._repo_dir(repo)
        os.makedirs(os.path.join(d, "commits"), exist_ok=True)
        _write_json(os.path.join(d, "meta.json"), repo.meta_json())

    def _save_commit(self, repo, c):
        _write_json(os.path.join(self._repo_dir(repo), "commits", c.oid + ".json"), c.to_json())

    def _load(self):
        for rtype in REPO_TYPES:
            tdir = os.path.join(self.dir, rtype)
            if not os.path.isdir(tdir):
                continue
            for ns in sorted(os.listdir(tdir)):
                for name in sorted(os.listdir(os.path.join(tdir, ns))):
                    d = os.path.join(tdir, ns, name)
                    try:
                        with open(os.path.join(d, "meta.json"), encoding="utf-8") as f:
                            m = json.load(f)
                    except (OSError, ValueError):
                        continue
                    repo = Repo(m["type"], m["ns"], m["name"], m["private"], m["created"])
                    repo.rid, repo.branches, repo.tags = m["rid"], m["branches"], m["tags"]
                    repo.pr_count, repo.sdk = m.get("pr_count", 0), m.get("sdk")
                    cdir = os.path.join(d, "commits")
                    for fn in os.listdir(cdir):
                        with open(os.path.join(cdir, fn), encoding="utf-8") as f:
                            c = json.load(f)
                        repo.commits[c["oid"]] = Commit(c["oid"], c["parents"], c["title"], c["message"],
                                                        c["author"], c["date"], c["files"])
                    self.repos[(repo.type, repo.ns, repo.name)] = repo

    # -- repos -----------------------------------------------------------------------------------
    def get(self, rtype, ns, name):
        return self.repos.get((rtype, ns, name))

    def create(self, rtype, ns, name, private, author, initial_files=None, sdk=None):
        repo = Repo(rtype, ns, name, private, time.time())
        repo.sdk = sdk
        files = {}
        ga = DEFAULT_GITATTRIBUTES.encode()
        files[".gitattributes"] = self.blobs.put_regular(ga)
        for path, data in (initial_files or {}).items():
            files[path] = self.blobs.put_regular(data)
        c = self.new_commit(repo, [], "initial commit", "", author, files)
        repo.branches["main"] = c.oid
        self.repos[(rtype, ns, name)] = repo
        self._save_meta(repo)
        return repo

    def delete(self, repo):
        self.repos.pop((repo.type, repo.ns, repo.name), None)
        d = self._repo_dir(repo)
        for root, dirs, fns in os.walk(d, topdown=False):
            for fn in fns:
                os.unlink(os.path.join(root, fn))
            for dn in dirs:
                os.rmdir(os.path.join(root, dn))
        try:
            os.rmdir(d)
        except OSError:
            pass

    def save_meta(self, repo):
        self._save_meta(repo)

    def new_commit(self, repo, parents, title, message, author, files):
        self._counter += 1
        now = time.time()
        digest = hashlib.sha1()
        for p in sorted(files):
            digest.update(("%s\0%s\n" % (p, files[p]["blob"])).encode())
        seed = "%s|%s|%s|%s|%s|%f|%d" % (repo.full, ",".join(parents), digest.hexdigest(), title, message, now, self._counter)
        oid = hashlib.sha1(seed.encode()).hexdigest()
        c = Commit(oid, parents, title, message, author, iso_now(now), files)
        repo.commits[oid] = c
        d = self._repo_dir(repo)
        os.makedirs(os.path.join(d, "commits"), exist_ok=True)
        self._save_commit(repo, c)
        return c

    def set_branch(self, repo, branch, oid):
        repo.branches[branch] = oid
        self._save_meta(repo)

    def history(self, repo, oid):
        """First-parent history, newest first."""
        out = []
        while oid:
            c = repo.commits.get(oid)
            if c is None:
                break
            out.append(c)
            oid = c.parents[0] if c.parents else None
        return out


# -- tree helpers -------------------------------------------------------------------------------
def tree_item(path, ent):
    item = {"type": "file", "oid": ent["blob"], "size": ent["size"], "path": path}
    if ent.get("lfs"):
        item["lfs"] = {"oid": ent["lfs"], "size": ent["size"], "pointerSize": ent["pointer_size"]}
    return item


def dir_item(path, files):
    h = hashlib.sha1()
    pre = path + "/"
    for p in sorted(files):
        if p.startswith(pre):
            h.update(("%s %s\n" % (p[len(pre):], files[p]["blob"])).encode())
    return {"type": "directory", "oid": h.hexdigest(), "size": 0, "path": path}


def list_tree(files, path, recursive):
    """Entries under `path` ('' = root): files + directories, sorted by path. None if path is missing."""
    path = path.strip("/")
    if path and path in files:
        return None  # a file, not a folder: the Hub answers 404 for tree/<file>
    pre = path + "/" if path else ""
    out_files, dirs = [], set()
    for p in files:
        if not p.startswith(pre):
            continue
        rest = p[len(pre):]
        parts = rest.split("/")
        if recursive:
            for i in range(1, len(parts)):
                dirs.add(pre + "/".join(parts[:i]))
            out_files.append(p)
        elif len(parts) == 1:
            out_files.append(p)
        else:
            dirs.add(pre + parts[0])
    if path and not out_files and not dirs:
        return None
    items = [dir_item(d, files) for d in dirs] + [tree_item(p, files[p]) for p in out_files]
    items.sort(key=lambda it: (it["path"]))
    return items


def path_info(files, path):
    path = path.strip("/")
    if path in files:
        return tree_item(path, files[path])
    pre = path + "/"
    if path and any(p.startswith(pre) for p in files):
        return dir_item(path, files)
    return None


def attr_patterns(text):
    """LFS patterns of a .gitattributes text."""
    pats = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if "filter=lfs" in fields[1:]:
            pats.append(fields[0])
        elif "-filter" in fields[1:] or "!filter" in fields[1:]:
            pats.append("!" + fields[0])
    return pats


def attr_match(pattern, path):
    if "/" not in pattern.rstrip("/"):
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)
    pattern = pattern.lstrip("/")
    if fnmatch.fnmatchcase(path, pattern):
        return True
    if "/**/" in pattern and fnmatch.fnmatchcase(path, pattern.replace("/**/", "/")):
        return True
    return False


def is_lfs_tracked(patterns, path):
    tracked = False
    for p in patterns:
        if p.startswith("!"):
            if attr_match(p[1:], path):
                tracked = False
        elif attr_match(p, path):
            tracked = True
    return tracked


def gitignore_match(text, path):
    """Minimal .gitignore semantics (enough for shouldIgnore): globs, dir/ patterns, negation."""
    ignored = False
    for line in (text or "").splitlines():
        line = line.rstrip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = line[1:] if neg else line
        dir_only = pat.endswith("/")
        pat = pat.rstrip("/")
        anchored = "/" in pat
        pat = pat.lstrip("/")
        parts = path.split("/")
        hit = False
        if anchored:
            for i in range(1, len(parts) + 1):
                if fnmatch.fnmatchcase("/".join(parts[:i]), pat) and (not dir_only or i < len(parts)):
                    hit = True
        else:
            for i, comp in enumerate(parts):
                if fnmatch.fnmatchcase(comp, pat) and (not dir_only or i < len(parts) - 1):
                    hit = True
        if hit:
            ignored = not neg
    return ignored


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(tmp, path)
