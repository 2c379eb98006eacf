"""A stand-in for the daemon's control socket, for the CLI tests of
`hubsync status` and `hubsync finish`: answers line-delimited JSON on a
unix socket with a canned status and a finish that knows one job ("bert").
Usage: fake_control_daemon.py SOCKET_PATH   (prints "ready" when listening)
"""
import json
import os
import socket
import sys

STATUS = {
    "pid": 4242,
    "version": "0.1.0",
    "uptime_seconds": 7384,
    "jobs": [
        {
            "name": "bert",
            "state": "uploading",
            "checkpoint": "checkpoint-500",
            "bytes_done": 1288490189,
            "bytes_total": 3650722201,
            "rate_bytes_per_sec": 12897485,
            "eta_seconds": 185,
            "queued": 2,
            "last_commit_url": "https://huggingface.co/acme/bert/commit/abc123",
            "last_error": None,
            "notes": ["checkpoint-400 superseded by checkpoint-500"],
        },
        {"name": "gpt", "state": "idle", "last_error": "HTTP 429\ninjected"},
    ],
}


def answer(req):
    cmd = req.get("cmd")
    if cmd == "status":
        return dict(STATUS, ok=True)
    if cmd == "finish":
        if req.get("job") == "bert":
            return {"ok": True, "message": "job bert: finishing (final push queued)"}
        return {"ok": False, "error": "no job named '%s'" % req.get("job")}
    return {"ok": False, "error": "unknown command"}


def main():
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        with conn:
            f = conn.makefile("rwb")
            for line in f:
                resp = answer(json.loads(line))
                f.write(json.dumps(resp).encode() + b"\n")
                f.flush()


if __name__ == "__main__":
    main()
