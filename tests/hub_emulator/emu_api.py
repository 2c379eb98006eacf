"""The Hub API server: routing and the endpoints of docs/hub-protocol.md.

Owns: authentication (Bearer token → user; unknown token → 401), fault injection on
Hub requests, and the endpoints: whoami-v2, repos/create|delete, repo info, refs,
branch/tag, settings, preupload, LFS batch + verify, multipart completion, commit,
commits listing, tree, paths-info, resolve/raw downloads, validate-yaml. Payload
parsing/validation of commits lives in emu_commit.py, storage in emu_storage.py,
repositories in emu_repos.py.
"""

import base64
import binascii
import json
import re
import time
from urllib.parse import parse_qs, quote, unquote

from emu_commit import apply_ops, check_path, decode_files, log_ops, parse_payload, readme_errors
from emu_http import BaseHandler, HttpError
from emu_repos import (REPO_TYPES, Accounts, attr_patterns, check_repo_part, gitignore_match, is_lfs_tracked,
                       lfs_pointer, list_tree, path_info)
from emu_storage import OID_RE

TYPE_PLURAL = {"models": "model", "datasets": "dataset", "spaces": "space"}
BRANCH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}$")
NO_FAULT = ("whoami-v2", "repos")  # first path segment after /api/ exempt from API faults


def not_found_repo(user):
    # The Hub answers 401 to anonymous callers and 404 to authenticated ones (same message).
    return HttpError(401 if user is None else 404, "Repository not found", code="RepoNotFound")


def rev_not_found(rev):
    return HttpError(404, "Invalid rev id: %s" % rev, code="RevisionNotFound")


def split_rev(segs):
    """Path segments after a keyword → (rev, rest). Accepts refs/pr/N unencoded."""
    if not segs:
        return None, []
    if segs[0] == "refs" and len(segs) >= 3:
        return "/".join(segs[:3]), segs[3:]
    return segs[0], segs[1:]


class HubHandler(BaseHandler):
    def route(self):
        ctx = self.server.ctx
        self.ctx = ctx
        self.user = None
        if self.auth_header:
            tok = self.auth_header[7:].strip() if self.auth_header[:7].lower() == "bearer " else ""
            self.user = ctx.accounts.by_token.get(tok)
            if self.user is None:
                raise HttpError(401, "Invalid credentials in Authorization header", code="InvalidCredentials")
        segs = [unquote(s) for s in self.url_path.split("/")[1:]]
        if segs and segs[-1] == "" and len(segs) > 1:
            segs = segs[:-1]
        if not (len(segs) >= 2 and segs[0] == "api" and segs[1] in NO_FAULT):
            self._inject_faults()
        if segs and segs[0] == "api":
            return self._route_api(segs[1:])
        return self._route_repo_url(segs)

    def _inject_faults(self):
        f = self.ctx.faults
        if f.hit(self, "api429"):
            raise HttpError(429, "You have been rate-limited; you can retry this action in 1 second.",
                            code="RateLimited", headers={"Retry-After": "1", "RateLimit": '"api";r=0;t=1',
                                                         "RateLimit-Policy": '"fixed window";"api";q=1000;w=300'})
        if f.hit(self, "api5xx"):
            st = f.choice([500, 502, 503])
            raise HttpError(st, "Injected server error %d" % st, code="InjectedFault")
        if self.command in ("POST", "PUT") and f.hit(self, "reset"):
            self.reset_connection()
        f.maybe_stall(self)

    # -- routing ---------------------------------------------------------------------------------
    def _route_api(self, s):
        m = self.command
        if s == ["whoami-v2"] and m == "GET":
            return self.whoami()
        if s == ["repos", "create"] and m == "POST":
            return self.create_repo()
        if s == ["repos", "delete"] and m == "DELETE":
            return self.delete_repo()
        if s == ["validate-yaml"] and m == "POST":
            return self.validate_yaml()
        if s == ["complete_multipart"] and m == "POST":
            return self.complete_multipart()
        if len(s) >= 3 and s[0] in TYPE_PLURAL:
            rtype, ns, name, rest = TYPE_PLURAL[s[0]], s[1], s[2], s[3:]
            key = rest[0] if rest else ""
            args = rest[1:]
            if key == "" and m in ("GET", "HEAD"):
                return self.repo_info(rtype, ns, name, "main")
            if key == "revision" and m in ("GET", "HEAD") and args:
                return self.repo_info(rtype, ns, name, split_rev(args)[0])
            if key == "refs" and m == "GET":
                return self.refs(rtype, ns, name)
            if key == "branch" and args and m in ("POST", "DELETE"):
                return self.branch(rtype, ns, name, "/".join(args))
            if key == "tag" and args and m == "POST":
                return self.tag(rtype, ns, name, split_rev(args)[0])
            if key == "settings" and m == "PUT":
                return self.settings(rtype, ns, name)
            if key == "preupload" and args and m == "POST":
                return self.preupload(rtype, ns, name, split_rev(args)[0])
            if key == "commit" and args and m == "POST":
                return self.commit(rtype, ns, name, split_rev(args)[0])
            if key == "commits" and m == "GET":
                return self.commits(rtype, ns, name, split_rev(args)[0] if args else "main")
            if key == "tree" and m == "GET":
                return self.tree(rtype, ns, name, args or ["main"])
            if key == "paths-info" and m == "POST":
                return self.paths_info(rtype, ns, name, split_rev(args)[0] if args else "main")
        raise HttpError(404, "Sorry, we can't find the page you are looking for.", code="NotFound")

    def _route_repo_url(self, s):
        rtype = "model"
        if s and s[0] in ("datasets", "spaces"):
            rtype, s = TYPE_PLURAL[s[0]], s[1:]
        if len(s) >= 5 and s[1].endswith(".git") and s[2:4] == ["info", "lfs"] and s[4] == "objects":
            ns, name = s[0], s[1][:-4]
            if s[5:] == ["batch"] and self.command == "POST":
                return self.lfs_batch(rtype, ns, name)
            if s[5:] == ["verify"] and self.command == "POST":
                return self.lfs_verify(rtype, ns, name)
        if len(s) >= 5 and s[2] in ("resolve", "raw") and self.command in ("GET", "HEAD"):
            rev, path = split_rev(s[3:])
            return self.resolve(rtype, s[0], s[1], rev, "/".join(path), raw=s[2] == "raw")
        raise HttpError(404, "Sorry, we can't find the page you are looking for.", code="NotFound")

    # -- helpers ---------------------------------------------------------------------------------
    def need_user(self):
        if self.user is None:
            raise HttpError(401, "You must be authenticated to do this (Authorization: Bearer hf_...)",
                            code="Unauthorized")
        return self.user

    def repo(self, rtype, ns, name, write=False):
        r = self.ctx.store.get(rtype, ns, name)
        if r is None or not Accounts.can_read(self.user, r):
            raise not_found_repo(self.user)
        if write:
            self.need_user()
            if self.user.role not in ("write", "admin", "fineGrained"):
                raise HttpError(403, "You have read access but not the required permissions for this operation.",
                                code="Forbidden")
            if not Accounts.can_write(self.user, r.ns, r.full):
                raise HttpError(403, "You don't have write access to %s/%s" % (r.ns, r.name), code="Forbidden")
        return r

    def files_at(self, r, rev):
        oid = r.resolve(rev)
        if oid is None:
            raise rev_not_found(rev)
        return oid, r.commits[oid].files

    def repo_url(self, r):
        return "%s/%s%s" % (self.ctx.hub_url, r.url_prefix, r.full)

    def page_link(self, items_total, start, size, extra):
        """Link header for the next page (absolute URL), or {}."""
        if start + size >= items_total:
            return {}
        q = {k: v[0] for k, v in self.query.items() if k not in ("cursor", "p")}
        q.update(extra)
        qs = "&".join("%s=%s" % (quote(k), quote(str(v), safe="")) for k, v in q.items())
        return {"Link": '<%s%s?%s>; rel="next"' % (self.ctx.hub_url, self.url_path, qs)}

    # -- identity and repos ----------------------------------------------------------------------
    def whoami(self):
        u = self.need_user()
        self.reply_json(self.ctx.accounts.whoami(u))

    def create_repo(self):
        u = self.need_user()
        body = self.read_json()
        rtype = body.get("type") or "model"
        if rtype not in REPO_TYPES:
            raise HttpError(400, "Invalid repo type %r" % rtype, code="BadRequest")
        name = body.get("name")
        ns = body.get("organization")
        if isinstance(name, str) and "/" in name and not ns:
            ns, name = name.split("/", 1)
        ns = ns or u.name
        check_repo_part(name, "repo name")
        check_repo_part(ns, "namespace")
        if u.role not in ("write", "admin", "fineGrained"):
            raise HttpError(403, "You have read access but not the required permissions for this operation.",
                            code="Forbidden")
        if not self.ctx.accounts.namespace_exists(ns) or not Accounts.can_write(u, ns):
            raise HttpError(403, 'You don\'t have the rights to create a %s under the namespace "%s"' % (rtype, ns),
                            code="Forbidden")
        vis = body.get("visibility")
        if vis is not None and vis not in ("public", "private", "protected"):
            raise HttpError(400, "Invalid visibility %r" % vis, code="BadRequest")
        private = vis in ("private", "protected") if vis is not None else bool(body.get("private", False))
        if rtype == "space" and body.get("sdk") not in ("gradio", "docker", "static", "streamlit"):
            raise HttpError(400, "A space must have a valid sdk (gradio, docker, static, streamlit)", code="BadRequest")
        files = {}
        for f in body.get("files") or []:
            try:
                files[f["path"]] = base64.b64decode(f["content"], validate=True) \
                    if f.get("encoding", "base64") == "base64" else f["content"].encode()
            except (KeyError, TypeError, binascii.Error, ValueError):
                raise HttpError(400, "Invalid initial file entry", code="BadRequest")
        store = self.ctx.store
        with store.lock:
            existing = store.get(rtype, ns, name)
            prefix = "" if rtype == "model" else rtype + "s/"
            url = "%s/%s%s/%s" % (self.ctx.hub_url, prefix, ns, name)
            if existing is not None:
                raise HttpError(409, "You already created this %s repo" % rtype, code="RepoExists",
                                extra={"url": url})
            r = store.create(rtype, ns, name, private, u.name, files, sdk=body.get("sdk"))
        self.reply_json({"url": url, "name": r.full, "id": r.rid})

    def delete_repo(self):
        self.need_user()
        body = self.read_json()
        rtype = body.get("type") or "model"
        name, ns = body.get("name"), body.get("organization") or self.user.name
        if isinstance(name, str) and "/" in name:
            ns, name = name.split("/", 1)
        with self.ctx.store.lock:
            r = self.repo(rtype, ns, name, write=True)
            self.ctx.store.delete(r)
        self.reply_json({})

    def repo_info(self, rtype, ns, name, rev):
        with self.ctx.store.lock:
            r = self.repo(rtype, ns, name)
            oid, files = self.files_at(r, rev)
            c = r.commits[oid]
            blobs = self.qarg("blobs") in ("1", "true", "True")
            sib = []
            for p in sorted(files):
                item = {"rfilename": p}
                if blobs:
                    e = files[p]
                    item.update(size=e["size"], blobId=e["blob"])
                    if e.get("lfs"):
                        item["lfs"] = {"sha256": e["lfs"], "size": e["size"], "pointerSize": e["pointer_size"]}
                sib.append(item)
            info = {"_id": r.rid, "id": r.full, "author": r.ns, "sha": oid, "lastModified": c.date,
                    "private": r.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
                    "tags": [], "siblings": sib,
                    "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(r.created)),
                    "usedStorage": sum(e["size"] for e in files.values())}
            if rtype == "model":
                info["modelId"] = r.full
            if rtype == "space":
                info["sdk"] = r.sdk
            if "xetEnabled" in self.query.get("expand", []):
                info["xetEnabled"] = False
        self.reply_json(info)

    def settings(self, rtype, ns, name):
        body = self.read_json()
        with self.ctx.store.lock:
            r = self.repo(rtype, ns, name, write=True)
            if "private" in body:
                r.private = bool(body["private"])
            if body.get("visibility") in ("public", "private", "protected"):
                r.private = body["visibility"] != "public"
            self.ctx.store.save_meta(r)
        self.reply_json({})

    def refs(self, rtype, ns, name):
        with self.ctx.store.lock:
            r = self.repo(rtype, ns, name)
            br = [{"name": b, "ref": "refs/heads/" + b, "targetCommit": o}
                  for b, o in sorted(r.branches.items()) if not b.startswith("refs/")]
            out = {"branches": br, "converts": [],
                   "tags": [{"name": t, "ref": "refs/tags/" + t, "targetCommit": o} for t, o in sorted(r.tags.items())]}
            if self.qarg("include_prs") in ("1", "true"):
                out["pullRequests"] = [{"name": b, "ref": b, "targetCommit": o}
                                       for b, o in sorted(r.branches.items()) if b.startswith("refs/pr/")]
        self.reply_json(out)

    def branch(self, rtype, ns, name, branch):
        store = self.ctx.store
        body = self.read_json() if self.command == "POST" else {}
        with store.lock:
            r = self.repo(rtype, ns, name, write=True)
            if self.command == "DELETE":
                if branch == "main":
                    raise HttpError(403, "Cannot delete the default branch", code="Forbidden")
                if branch not in r.branches:
                    raise rev_not_found(branch)
                del r.branches[branch]
                store.save_meta(r)
                return self.reply_json({})
            if not BRANCH_RE.match(branch) or branch.startswith("refs/") or ".." in branch or branch.endswith("/"):
                raise HttpError(400, "Invalid branch name %r" % branch, code="BadRequest")
            if branch in r.branches and not body.get("overwrite"):
                raise HttpError(409, "Reference already exists: refs/heads/%s" % branch, code="Conflict")
            if body.get("emptyBranch"):
                c = store.new_commit(r, [], "Empty branch %s" % branch, "", self.user.name, {})
                target = c.oid
            else:
                start = body.get("startingPoint") or "main"
                target = r.resolve(start)
                if target is None:
                    raise rev_not_found(start)
            store.set_branch(r, branch, target)
        self.reply_json({})

    def tag(self, rtype, ns, name, rev):
        store = self.ctx.store
        body = self.read_json()
        with store.lock:
            r = self.repo(rtype, ns, name, write=True)
            target = r.resolve(rev)
            if target is None:
                raise rev_not_found(rev)
            t = body.get("tag")
            if not isinstance(t, str) or not BRANCH_RE.match(t):
                raise HttpError(400, "Invalid tag name %r" % (t,), code="BadRequest")
            if t in r.tags:
                raise HttpError(409, "Tag already exists: %s" % t, code="Conflict")
            r.tags[t] = target
            store.save_meta(r)
        if self.ctx.faults.take(self, "tag_lost"):
            self.reset_connection(read_some=False)  # raises: no answer
        self.reply_json({})

    def validate_yaml(self):
        body = self.read_json()
        errs = readme_errors(body.get("content") or "")
        self.reply_json({"errors": [{"message": e} for e in errs], "warnings": []}, status=400 if errs else 200)

    # -- upload path -----------------------------------------------------------------------------
    def preupload(self, rtype, ns, name, rev):
        body = self.read_json()
        pr = self.qarg("create_pr") in ("1", "true")
        ctx = self.ctx
        with ctx.store.lock:
            r = self.repo(rtype, ns, name, write=not pr)
            head, files = self.files_at(r, rev)
            ga = body.get("gitAttributes")
            if ga is None and ".gitattributes" in files:
                ga = ctx.blobs.get(files[".gitattributes"]["blob"]).decode("utf-8", "replace")
            gi = body.get("gitIgnore")
            if gi is None and ".gitignore" in files:
                gi = ctx.blobs.get(files[".gitignore"]["blob"]).decode("utf-8", "replace")
        pats = attr_patterns(ga or "")
        out = []
        req_files = body.get("files")
        if not isinstance(req_files, list):
            raise HttpError(400, "Expected a 'files' array", code="BadRequest")
        for f in req_files:
            if not isinstance(f, dict) or not isinstance(f.get("path"), str) or not isinstance(f.get("size"), int):
                raise HttpError(400, "Each file needs 'path' (string), 'size' (int) and 'sample'", code="BadRequest")
            check_path(f["path"])  # 400 "Invalid path …": the whole call is refused, like a commit
        self.paths = [f["path"] for f in req_files]
        self.ctx.faults.refuse_paths(self, [f["path"] for f in req_files])
        for f in req_files:
            path, size = f["path"], f["size"]
            try:
                sample = base64.b64decode(f.get("sample") or "")
            except (binascii.Error, ValueError):
                raise HttpError(400, "file %r: sample is not valid base64" % path, code="BadRequest")
            lfs = size > 0 and (is_lfs_tracked(pats, path) or size >= ctx.regular_max or
                                (b"\0" in sample and size >= (1 << 20)))
            item = {"path": path, "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": bool(gi) and gitignore_match(gi, path)}
            e = files.get(path)
            if e is not None:
                item["oid"] = e["lfs"] or e["blob"]
            out.append(item)
        self.reply_json({"files": out, "commitOid": head})

    def lfs_batch(self, rtype, ns, name):
        ctx = self.ctx
        body = self.read_json()
        ref = (body.get("ref") or {}).get("name") if isinstance(body.get("ref"), dict) else None
        with ctx.store.lock:
            r = self.repo(rtype, ns, name, write=ref is not None)
            if ref is not None and r.resolve(ref) is None:
                raise rev_not_found(ref)
        if self.user is None:
            self.need_user()
        op = body.get("operation")
        if op not in ("upload", "download"):
            raise HttpError(422, "Unsupported operation %r" % op, code="BadRequest")
        objs = body.get("objects")
        if not isinstance(objs, list):
            raise HttpError(422, "Expected an 'objects' array", code="BadRequest")
        self.paths = [o.get("oid") if isinstance(o, dict) else None for o in objs]  # for the log
        out, transfer = [], "basic"
        for o in objs:
            oid = o.get("oid") if isinstance(o, dict) else None
            size = o.get("size") if isinstance(o, dict) else None
            item = {"oid": oid, "size": size}
            if not isinstance(oid, str) or not OID_RE.match(oid) or not isinstance(size, int) or size < 0:
                item["error"] = {"code": 422, "message": "Invalid object: oid must be 64 lowercase hex, size an int >= 0"}
                out.append(item)
                continue
            stored = ctx.objects.size(oid)
            if op == "download":
                if stored is None:
                    item["error"] = {"code": 404, "message": "Object does not exist"}
                else:
                    item["actions"] = {"download": {"href": ctx.objects.signed_url(
                        ctx.storage_url, "GET", "/download/" + oid), "expires_in": ctx.objects.url_ttl}}
                out.append(item)
                continue
            if stored is not None:
                if stored != size:
                    item["error"] = {"code": 422, "message": "Object %s exists with size %d, not %d" % (oid, stored, size)}
                out.append(item)  # already present: no actions
                continue
            verify = {"href": "%s/%s%s.git/info/lfs/objects/verify" % (ctx.hub_url, r.url_prefix, r.full)}
            if size > ctx.multipart_threshold:
                transfer = "multipart"
                s = ctx.objects.new_session(oid, size, ctx.chunk_size)
                header = {"chunk_size": str(ctx.chunk_size)}
                for n in range(1, s.nparts + 1):
                    header["%05d" % n] = ctx.objects.signed_url(
                        ctx.storage_url, "PUT", "/upload/%s/%d" % (s.uid, n), "partNumber=%d&uploadId=%s&" % (n, s.uid))
                href = ctx.objects.signed_url(ctx.hub_url, "POST", "/api/complete_multipart/" + s.uid,
                                              "uploadId=%s&" % s.uid).replace("/api/complete_multipart/" + s.uid,
                                                                               "/api/complete_multipart", 1)
                item["actions"] = {"upload": dict(href=href, header=header, **ctx.objects.expiry()),
                                   "verify": verify}
            else:
                item["actions"] = {"upload": dict(href=ctx.objects.signed_url(ctx.storage_url, "PUT", "/lfs/" + oid),
                                                  **ctx.objects.expiry()), "verify": verify}
            item["authenticated"] = True
            out.append(item)
        self.reply(200, json.dumps({"transfer": transfer, "objects": out, "hash_algo": "sha256"}).encode(),
                   ctype="application/vnd.git-lfs+json")

    def complete_multipart(self):
        uid = self.qarg("uploadId") or ""
        objects = self.ctx.objects
        objects.check_signature("POST", "/api/complete_multipart/" + uid, self.query)
        body = self.read_json()
        s = objects.session(uid)
        if s is not None and not s.poisoned and self.ctx.faults.take(self, "badetag"):
            objects.poison(s)  # this upload can no longer be completed with the client's ETags
        s = objects.complete(uid, body)
        if self.ctx.faults.take(self, "complete_lost"):
            self.reset_connection(read_some=False)  # applied, the answer lost (a ^C, a dead link)
        self.reply_json({"oid": s.oid, "size": s.size})

    def lfs_verify(self, rtype, ns, name):
        body = self.read_json()
        with self.ctx.store.lock:
            self.repo(rtype, ns, name)
        oid, size = body.get("oid"), body.get("size")
        stored = self.ctx.objects.size(oid if isinstance(oid, str) else "")
        if stored is None:
            raise HttpError(404, "Object %s not found" % oid, code="EntryNotFound")
        if size is not None and size != stored:
            raise HttpError(422, "Object %s has size %d, not %s" % (oid, stored, size), code="BadRequest")
        self.reply(200, json.dumps({"message": "Object verified"}).encode(), ctype="application/vnd.git-lfs+json")

    def commit(self, rtype, ns, name, rev):
        ctx = self.ctx
        store = ctx.store
        pr = self.qarg("create_pr") in ("1", "true")
        with store.lock:
            r = self.repo(rtype, ns, name, write=not pr)
            if pr:
                self.need_user()
            branch = r.branch_name(rev)
            if branch is None:
                raise rev_not_found(rev)
        raw = self.read_body()
        header, ops = parse_payload(raw, self.headers.get("Content-Type"))
        self.ops = log_ops(ops)
        decode_files(ops)
        self.ops = log_ops(ops)
        ctx.faults.refuse_paths(self, [(o.get("value") or {}).get("path") for o in ops
                                       if isinstance(o.get("value"), dict)], commit=True)
        key = (r.type, r.ns, r.name)
        with store.lock:
            q = ctx.quota.check(key)
            if q is not None:
                raise HttpError(429, "You have exceeded our hourly quotas for action: commit. We invite you to retry later.",
                                code="RateLimited", headers=q[1])
            if store.get(rtype, ns, name) is not r or r.branch_name(branch) is None:
                raise rev_not_found(rev)
            head = r.branches[branch]
            pc = header.get("parentCommit")
            if pr:
                base = head
                if pc:
                    base = next((o for o in r.commits if o.startswith(pc.lower())), None)
                    if base is None:
                        raise rev_not_found(pc)
                r.pr_count += 1
                branch = "refs/pr/%d" % r.pr_count
                head = base
            elif pc and not head.startswith(pc.lower()):
                raise HttpError(412, "A commit has happened since. Please refresh and try again.",
                                code="PreconditionFailed")
            files = apply_ops(r.commits[head].files, ops, ctx.objects, ctx.blobs, ctx.regular_max,
                              "refs/heads/" + branch if not branch.startswith("refs/") else branch)
            c = store.new_commit(r, [head], header["summary"].strip(), header.get("description") or "",
                                 self.user.name, files)
            store.set_branch(r, branch, c.oid)
            rl = ctx.quota.record(key)
        if ctx.faults.hit(self, "lost"):
            self.reset_connection(read_some=False)
        out = {"success": True, "commitOid": c.oid, "commitUrl": "%s/commit/%s" % (self.repo_url(r), c.oid),
               "hookOutput": ""}
        if pr:
            out["pullRequestUrl"] = "%s/discussions/%d" % (self.repo_url(r), r.pr_count)
        self.reply_json(out, headers=rl)

    # -- listings and downloads ------------------------------------------------------------------
    def commits(self, rtype, ns, name, rev):
        with self.ctx.store.lock:
            r = self.repo(rtype, ns, name)
            oid, _ = self.files_at(r, rev)
            hist = self.ctx.store.history(r, oid)
        try:
            page = max(0, int(self.qarg("p", "0")))
            limit = max(1, min(int(self.qarg("limit", str(self.ctx.page_size))), 1000))
        except ValueError:
            raise HttpError(400, "Invalid pagination parameters", code="BadRequest")
        items = [{"id": c.oid, "title": c.title,
                  "message": c.title + ("\n\n" + c.message if c.message else ""),
                  "authors": [{"user": c.author, "avatar": "/avatars/%s.svg" % c.author}], "date": c.date,
                  "parents": c.parents}
                 for c in hist[page * limit:(page + 1) * limit]]
        headers = {"X-Total-Count": str(len(hist))}
        headers.update(self.page_link(len(hist), page * limit, limit, {"p": page + 1}))
        self.reply_json(items, headers=headers)

    def tree(self, rtype, ns, name, segs):
        if self.ctx.faults.take(self, "tree5xx"):
            raise HttpError(503, "Injected server error 503 (tree)", code="InjectedFault")
        expand = self.qarg("expand") in ("1", "true", "True")
        recursive = self.qarg("recursive") in ("1", "true", "True")
        with self.ctx.store.lock:
            r = self.repo(rtype, ns, name)
            # huggingface.js sends the revision unencoded: "feature/x" may span segments.
            rev, rest = split_rev(segs)
            for i in range(len(segs), 1, -1):
                if r.resolve("/".join(segs[:i])) is not None:
                    rev, rest = "/".join(segs[:i]), segs[i:]
                    break
            path = "/".join(rest)
            oid, files = self.files_at(r, rev)
            items = list_tree(files, path, recursive)
            if items is None:
                raise HttpError(404, "Entry not found: %s" % path, code="EntryNotFound")
            size = 50 if expand else self.ctx.page_size
            try:
                start = int(base64.urlsafe_b64decode(self.qarg("cursor", "")).decode() or "0") if self.qarg("cursor") else 0
            except (ValueError, binascii.Error):
                raise HttpError(400, "Invalid cursor", code="BadRequest")
            page = items[start:start + size]
            if expand:
                self._expand(r, oid, page)
        cur = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        self.reply_json(page, headers=self.page_link(len(items), start, size, {"cursor": cur}))

    def _expand(self, r, oid, items):
        hist = self.ctx.store.history(r, oid)
        for it in items:
            if it["type"] != "file":
                continue
            for i, c in enumerate(hist):
                parent = hist[i + 1].files if i + 1 < len(hist) else {}
                if c.files.get(it["path"]) != parent.get(it["path"]):
                    it["lastCommit"] = {"id": c.oid, "title": c.title, "date": c.date}
                    break

    def paths_info(self, rtype, ns, name, rev):
        ctype = self.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" in ctype:
            form = parse_qs(self.read_body().decode("utf-8", "replace"), keep_blank_values=True)
            paths, expand = form.get("paths", []), (form.get("expand") or ["false"])[0].lower() == "true"
        else:
            body = self.read_json()
            paths, expand = body.get("paths", []), bool(body.get("expand"))
        if not isinstance(paths, list) or len(paths) > 1000:
            raise HttpError(413 if isinstance(paths, list) else 400, "Expected at most 1000 paths", code="BadRequest")
        with self.ctx.store.lock:
            r = self.repo(rtype, ns, name)
            oid, files = self.files_at(r, rev)
            out = [it for it in (path_info(files, p) for p in paths if isinstance(p, str)) if it]
            if expand:
                self._expand(r, oid, out)
        self.reply_json(out)

    def resolve(self, rtype, ns, name, rev, path, raw):
        ctx = self.ctx
        with ctx.store.lock:
            r = self.repo(rtype, ns, name)
            oid, files = self.files_at(r, rev)
            e = files.get(path)
        if e is None:
            raise HttpError(404, "Entry not found", code="EntryNotFound")
        headers = {"X-Repo-Commit": oid, "Accept-Ranges": "bytes", "Vary": "Origin, Accept"}
        corrupt = ctx.dl_faults.on_resolve(self, path, e.get("lfs") if not raw else None)
        if e.get("lfs") and not raw:
            headers.update({"ETag": '"%s"' % e["lfs"], "X-Linked-Etag": '"%s"' % e["lfs"],
                            "X-Linked-Size": str(e["size"]),
                            "Location": ctx.objects.signed_url(ctx.storage_url, "GET", "/download/" + e["lfs"])})
            return self.reply(302, b"Found. Redirecting to storage", ctype="text/plain; charset=utf-8", headers=headers)
        if e.get("lfs"):
            data = lfs_pointer(e["lfs"], e["size"])
        else:
            data = ctx.blobs.get(e["blob"])
        if corrupt:
            data = ctx.dl_faults.corrupt(data)
        headers["ETag"] = '"%s"' % e["blob"]
        status, size = 200, len(data)
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            start, end = 0, size - 1
            if m and m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            elif m and m.group(2):
                start = max(0, size - int(m.group(2)))
            if not m or start >= size or start > end:
                raise HttpError(416, "Range Not Satisfiable", code="RangeNotSatisfiable",
                                headers={"Content-Range": "bytes */%d" % size})
            data = data[start:end + 1]
            status = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, end, size)
        self.reply(status, data, ctype="application/octet-stream", headers=headers)
