#!/usr/bin/env python3
"""Inspection helper for tests: what does a repo on the emulator contain?

Uses only the public HTTP API, like a real client (tree + resolve + commits), so it works
against any running emulator. Importable (list_files, list_commits) or as a CLI:

  emu_inspect.py files   --url $EMU_URL --repo alice/m [--rev main] [--token T] [--type model]
      → one JSON object per line: {"path", "size", "sha256", "lfs": bool, "oid"}
  emu_inspect.py commits --url $EMU_URL --repo alice/m [--rev main] [--token T]
      → one JSON object per line: {"id", "title", "message", "date", "author"} (newest first)

Default token: alice's. sha256 of a regular file is computed from its downloaded bytes;
for an LFS file it is the lfs.oid the Hub reports (pass --download to hash the bytes too).
"""

import argparse
import hashlib
import http.client
import json
import sys
from urllib.parse import quote, urlsplit

ALICE = "hf_alice_write_0123456789abcdefghij"


def _get(url, token, follow=True):
    for _ in range(5):
        u = urlsplit(url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        headers = {"Authorization": "Bearer " + token} if token and follow is not None else {}
        c.request("GET", u.path + ("?" + u.query if u.query else ""), headers=headers)
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status in (301, 302, 307) and follow:
            url = r.headers["Location"]
            follow = None  # never send the token to the storage origin
            continue
        if r.status >= 400:
            raise RuntimeError("GET %s → %d %s" % (u.path, r.status, body[:200].decode("utf-8", "replace")))
        return body, r.headers
    raise RuntimeError("too many redirects")


def _pages(url, token):
    while url:
        body, headers = _get(url, token)
        yield from json.loads(body)
        link = headers.get("Link")
        url = link.split(";")[0].strip().strip("<>") if link and 'rel="next"' in link else None


def list_files(url, repo, rev="main", token=ALICE, rtype="model", download=False):
    """Files of repo at rev: [{"path", "size", "sha256", "lfs", "oid"}], sorted by path."""
    out = []
    base = "%s/api/%ss/%s/tree/%s?recursive=true" % (url, rtype, repo, quote(rev, safe=""))
    prefix = "" if rtype == "model" else rtype + "s/"
    for it in _pages(base, token):
        if it["type"] != "file":
            continue
        rec = {"path": it["path"], "size": it["size"], "lfs": "lfs" in it, "oid": it["oid"]}
        if "lfs" in it and not download:
            rec["sha256"] = it["lfs"]["oid"]
        else:
            data, _ = _get("%s/%s%s/resolve/%s/%s" % (url, prefix, repo, quote(rev, safe=""), quote(it["path"])), token)
            rec["sha256"] = hashlib.sha256(data).hexdigest()
        out.append(rec)
    return sorted(out, key=lambda r: r["path"])


def list_commits(url, repo, rev="main", token=ALICE, rtype="model"):
    out = []
    for c in _pages("%s/api/%ss/%s/commits/%s" % (url, rtype, repo, quote(rev, safe="")), token):
        out.append({"id": c["id"], "title": c["title"], "message": c["message"], "date": c["date"],
                    "author": (c.get("authors") or [{}])[0].get("user")})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["files", "commits"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--rev", default="main")
    ap.add_argument("--token", default=ALICE)
    ap.add_argument("--type", default="model", choices=["model", "dataset", "space"])
    ap.add_argument("--download", action="store_true", help="hash LFS files from their downloaded bytes")
    a = ap.parse_args(argv)
    try:
        if a.what == "files":
            rows = list_files(a.url, a.repo, a.rev, a.token, a.type, a.download)
        else:
            rows = list_commits(a.url, a.repo, a.rev, a.token, a.type)
    except (RuntimeError, OSError) as e:
        print("emu_inspect: %s" % e, file=sys.stderr)
        return 1
    for r in rows:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
