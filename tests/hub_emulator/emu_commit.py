"""The commit endpoint's payload: parsing, validation and application.

Owns: NDJSON parsing (header / file / lfsFile / deletedFile / deletedFolder, with or
without a trailing newline) and the legacy single-JSON form; path rules (check_path, also used by preupload: "." / ".." / empty components,
.git/ and .cache/, backslashes, control characters, non-UTF-8, > 4096 bytes); the Hub's
rejections (regular file > 10 MiB, binary regular file > 1 MB, unknown LFS oid, size
mismatch, deleting a missing entry → 404 EntryNotFound); README.md front matter
validation (YAML syntax, mapping, model-index shape — also used by /api/validate-yaml);
automatic .gitattributes update for lfsFile paths not already LFS-tracked.
The whole commit is rejected on any error: nothing is applied.
"""

import base64
import binascii
import json
import re

import yaml

from emu_http import HttpError
from emu_repos import LFS_ATTR, attr_patterns, is_lfs_tracked
from emu_storage import lfs_entry

BINARY_REGULAR_MAX = 1 << 20  # binary regular files above 1 MiB must be LFS
HEX_RE = re.compile(r"^[0-9a-fA-F]{5,40}$")


def bad(msg):
    return HttpError(400, msg, code="BadRequest")


def check_path(path):
    if not isinstance(path, str) or not path:
        raise bad("Invalid path: %r" % (path,))
    p = path
    while p.startswith("./"):
        p = p[2:]
    p = p.lstrip("/")
    parts = p.split("/")
    if not p or any(c in ("", ".", "..") for c in parts):
        raise bad("Invalid path %r: empty, '.' or '..' components are not allowed" % path)
    if any(c in (".git", ".cache") for c in parts):
        raise bad("Invalid path %r: '.git' and '.cache' folders are forbidden" % path)
    if "\\" in p:
        raise bad("Invalid path %r: backslashes are not allowed" % path)
    if any(ord(c) < 0x20 or ord(c) == 0x7f for c in p):
        raise bad("Invalid path %r: control characters are not allowed" % path)
    try:
        n = len(p.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: not UTF-8
        raise bad("Invalid path %r: not valid UTF-8" % path)
    if n > 4096:
        raise bad("Invalid path %r" % path)
    return p


def parse_payload(raw, ctype):
    """→ (header dict, [op dicts]) where each op is {"key": kind, "value": {...}}."""
    text = raw.decode("utf-8", "strict") if isinstance(raw, bytes) else raw
    lines = []
    if "ndjson" in (ctype or "") or text.lstrip().startswith('{"key"') or '\n{"key"' in text:
        for i, line in enumerate(text.split("\n")):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise bad("Invalid NDJSON line %d: %s" % (i + 1, e))
            if not isinstance(obj, dict) or "key" not in obj or not isinstance(obj.get("value"), dict):
                raise bad("Invalid NDJSON line %d: expected {\"key\": ..., \"value\": {...}}" % (i + 1))
            lines.append(obj)
        if not lines or lines[0]["key"] != "header":
            raise bad("The first line of the commit payload must be the header")
        header, ops = lines[0]["value"], lines[1:]
    else:  # legacy JSON form
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise bad("Invalid JSON body: %s" % e)
        header = {k: obj.get(k) for k in ("summary", "description", "parentCommit") if k in obj}
        ops = [{"key": "file", "value": v} for v in obj.get("files", [])]
        ops += [{"key": "lfsFile", "value": v} for v in obj.get("lfsFiles", [])]
        ops += [{"key": "deletedFile", "value": v} for v in obj.get("deletedFiles", [])]
        ops += [{"key": "deletedFolder", "value": v} for v in obj.get("deletedFolders", [])]
    summary = header.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise bad("The commit summary (title) must be a non-empty string")
    pc = header.get("parentCommit")
    if pc is not None and (not isinstance(pc, str) or not HEX_RE.match(pc)):
        raise bad("Invalid parentCommit %r: expected 5-40 hex characters" % (pc,))
    for op in ops:
        if op["key"] not in ("file", "lfsFile", "deletedFile", "deletedFolder"):
            raise bad("Unknown commit operation %r" % op["key"])
    return header, ops


def log_ops(ops):
    """Compact form of the operations for the request log."""
    out = []
    for op in ops:
        v = op.get("value", {})
        rec = {"op": op.get("key"), "path": v.get("path")}
        if op.get("key") == "file":
            rec["size"] = v.get("_size")
        elif op.get("key") == "lfsFile":
            rec["oid"] = v.get("oid")
            rec["size"] = v.get("size")
        out.append(rec)
    return out


def decode_files(ops):
    """Decode `file` contents in place (value["_data"], value["_size"]); 400 on bad encodings."""
    for op in ops:
        if op["key"] != "file":
            continue
        v = op["value"]
        enc = v.get("encoding", "base64")
        content = v.get("content")
        if not isinstance(content, str):
            raise bad("file %r: content must be a string" % v.get("path"))
        if enc == "base64":
            try:
                data = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise bad("file %r: content is not valid base64" % v.get("path"))
        elif enc in ("utf-8", "utf8"):
            data = content.encode("utf-8")
        else:
            raise bad("file %r: unknown encoding %r" % (v.get("path"), enc))
        v["_data"] = data
        v["_size"] = len(data)


# -- README metadata -----------------------------------------------------------------------------
def front_matter(text):
    """YAML text between the leading '---' lines, or None when there is no front matter."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "\n".join(lines[1:i])
    return None


def readme_errors(text):
    """Errors of a README's metadata block as the Hub reports them ([] = valid)."""
    fm = front_matter(text)
    if fm is None:
        return []
    try:
        meta = yaml.safe_load(fm)
    except yaml.YAMLError as e:
        return ["Invalid YAML in README.md metadata: %s" % " ".join(str(e).split())]
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return ["README.md metadata must be a YAML mapping, got %s" % type(meta).__name__]
    mi = meta.get("model-index")
    if mi is None:
        return []
    errs = []
    if not isinstance(mi, list):
        return ['"model-index" must be an array']
    for i, m in enumerate(mi):
        p = "model-index[%d]" % i
        if not isinstance(m, dict):
            errs.append('"%s" must be an object' % p)
            continue
        if not isinstance(m.get("name"), str):
            errs.append('"%s.name" is required and must be a string' % p)
        res = m.get("results")
        if not isinstance(res, list):
            errs.append('"%s.results" is required and must be an array' % p)
            continue
        for j, r in enumerate(res):
            q = "%s.results[%d]" % (p, j)
            if not isinstance(r, dict):
                errs.append('"%s" must be an object' % q)
                continue
            task = r.get("task")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errs.append('"%s.task.type" is required and must be a string' % q)
            ds = r.get("dataset")
            if not isinstance(ds, dict) or not isinstance(ds.get("type"), str) or not isinstance(ds.get("name"), str):
                errs.append('"%s.dataset" must be an object with string "type" and "name"' % q)
            mets = r.get("metrics")
            if not isinstance(mets, list) or not mets:
                errs.append('"%s.metrics" is required and must be a non-empty array' % q)
                continue
            for k, mt in enumerate(mets):
                if not isinstance(mt, dict) or not isinstance(mt.get("type"), str) or "value" not in mt:
                    errs.append('"%s.metrics[%d]" must have a string "type" and a "value"' % (q, k))
    return errs


# -- apply ---------------------------------------------------------------------------------------
def apply_ops(files, ops, objects, blobs, regular_max, ref):
    """New {path: entry} from the parent's files and the operations; raises HttpError."""
    new = dict(files)
    too_big, binary, missing_lfs = [], [], []
    lfs_paths = []
    readme = None
    for op in ops:
        v = op["value"]
        kind = op["key"]
        if kind == "file":
            path = check_path(v.get("path"))
            data = v["_data"]
            if len(data) > regular_max:
                too_big.append(path)
                continue
            if len(data) > BINARY_REGULAR_MAX and b"\0" in data[:8000]:
                binary.append(path)
                continue
            new[path] = blobs.put_regular(data)
            if path == "README.md":
                readme = data
        elif kind == "lfsFile":
            path = check_path(v.get("path"))
            oid = v.get("oid")
            if v.get("algo", "sha256") != "sha256":
                raise bad("lfsFile %r: unsupported algo %r" % (path, v.get("algo")))
            stored = objects.size(oid if isinstance(oid, str) else "")
            if stored is None:
                missing_lfs.append(path)
                continue
            size = v.get("size")
            if size is not None and size != stored:
                raise bad("lfsFile %r: size %r does not match the stored object's size %d" % (path, size, stored))
            new[path] = lfs_entry(oid, stored)
            lfs_paths.append(path)
            if path == "README.md":
                readme = None
        elif kind == "deletedFile":
            path = check_path(v.get("path"))
            if path not in new:
                raise HttpError(404, "A file with this name doesn't exist: %s" % path, code="EntryNotFound")
            del new[path]
        elif kind == "deletedFolder":
            raw = v.get("path")
            path = check_path(raw.rstrip("/") if isinstance(raw, str) else raw)
            pre = path + "/"
            victims = [p for p in new if p.startswith(pre)]
            if not victims:
                raise HttpError(404, "A folder with this name doesn't exist: %s" % path, code="EntryNotFound")
            for p in victims:
                del new[p]
    if too_big:
        raise bad("Your push was rejected because it contains files larger than 10 MiB. Please use "
                  "https://git-lfs.github.com/ to store large files. Offending files: %s (ref: %s)"
                  % (", ".join(too_big), ref))
    if binary:
        raise bad("Your push was rejected because it contains binary files. Please use "
                  "https://huggingface.co/docs/hub/xet to store binary files. Offending files: %s (ref: %s)"
                  % (", ".join(binary), ref))
    if missing_lfs:
        raise bad("Your push was rejected because an LFS pointer pointed to a file that does not exist. "
                  "Offending files: %s" % ", ".join(missing_lfs))
    if readme is not None:
        errs = readme_errors(readme.decode("utf-8", "replace"))
        if errs:
            raise bad("Invalid metadata in README.md.\n" + "\n".join("- " + e for e in errs))
    ga = new.get(".gitattributes")
    if lfs_paths:
        text = blobs.get(ga["blob"]).decode("utf-8", "replace") if ga else ""
        pats = attr_patterns(text)
        add = [p for p in lfs_paths if not is_lfs_tracked(pats, p)]
        if add:
            if text and not text.endswith("\n"):
                text += "\n"
            text += "".join("%s %s\n" % (_escape_attr(p), LFS_ATTR) for p in add)
            new[".gitattributes"] = blobs.put_regular(text.encode())
    return new


def _escape_attr(path):
    return path.replace(" ", "[[:space:]]")
