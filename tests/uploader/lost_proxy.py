#!/usr/bin/python3
"""A Hub API proxy that misbehaves on the commit POST, deterministically.

Used by test_push_lost_commit.sh. It forwards every request to the emulator
(one upstream connection per request) and relays the answer on a keep-alive
client connection, except `POST …/commit/…`, handled by --mode:

  lose    forward it (the Hub applies it); if it was applied, drop the answer
          and close the client connection with a FIN before any response
          byte (a refused commit's answer, e.g. 412, is relayed). A FIN on a
          reused keep-alive connection is what makes libcurl resend a request
          by itself ("Connection died, retrying a fresh connect"), so this
          makes the race behind the emulator's `lost` fault (an RST, seen as a
          poll error or a recv error depending on timing) deterministic.
  replay  forward it twice (a middlebox replaying a request whose answer it
          lost) and relay the second answer: a 412 for an applied first one.
  race    first commit someone else's file (race.txt) on the same branch,
          then forward it: the Hub answers 412 because the branch moved.

Prints "lost_proxy listening on http://127.0.0.1:PORT" once ready; the
status of every commit POST it forwarded is appended to --log, one a line.
"""
import argparse
import http.client
import http.server
import socket
import sys
import threading
import urllib.parse

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-connection", "content-length", "host"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--mode", choices=("lose", "replay", "race"), default="lose")
    args = ap.parse_args()
    up = urllib.parse.urlsplit(args.upstream)
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def forward(self, method, path, body, hdrs):
            c = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            c.request(method, path, body=body, headers=hdrs)
            resp = c.getresponse()
            data = resp.read()
            c.close()
            return resp, data

        def note(self, status):
            with lock, open(args.log, "a") as f:
                f.write("%d\n" % status)

        def handle_any(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            commit = self.command == "POST" and "/commit/" in self.path.split("?")[0]
            if commit and args.mode == "race":
                other = (b'{"key":"header","value":{"summary":"someone else"}}\n'
                         b'{"key":"file","value":{"path":"race.txt","content":"cmFjZQ==",'
                         b'"encoding":"base64"}}\n')
                h2 = dict(hdrs)
                self.forward("POST", self.path, other, h2)
            resp, data = self.forward(self.command, self.path, body, hdrs)
            if commit:
                self.note(resp.status)
            if commit and args.mode == "replay":
                resp, data = self.forward(self.command, self.path, body, hdrs)
                self.note(resp.status)
            elif commit and args.mode == "lose" and 200 <= resp.status < 300:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)  # FIN, no answer
                except OSError:
                    pass
                return
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    print("lost_proxy listening on http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
