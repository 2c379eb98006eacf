#!/usr/bin/env python3
"""tls_echo_server.py PORT CERT KEY LOG WWW — an HTTP/1.1 TLS server for
test_http_tls.c: it answers every PUT and POST with the body it received
(200, same length), a GET with the file of that name in WWW (or 404), and
writes one line per request to LOG:

    <method> <path> <http version> alpn=<protocol> len=<body bytes> peer=<port>

The peer port tells connections apart: a new port is a new connection.
It offers h2 first in ALPN, as the Hub's CDN does, but speaks only
HTTP/1.1: a client that picks h2 gets its connection closed and the line
`refused alpn=h2 peer=<port>`. So a request reaches it only when the client
asked for HTTP/1.1 alone.
"""
import http.server
import os
import ssl
import sys
import threading

LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _log(self, n):
        alpn = self.request.selected_alpn_protocol() or "-"
        with LOCK, open(sys.argv[4], "a") as f:
            f.write(f"{self.command} {self.path} {self.request_version} alpn={alpn} "
                    f"len={n} peer={self.client_address[1]}\n")

    def _echo(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self._log(len(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST = _echo

    def handle(self):
        if self.request.selected_alpn_protocol() == "h2":
            with LOCK, open(sys.argv[4], "a") as f:
                f.write(f"refused alpn=h2 peer={self.client_address[1]}\n")
            return
        super().handle()

    def do_GET(self):
        path = os.path.join(sys.argv[5], os.path.basename(self.path.split("?")[0]))
        try:
            with open(path, "rb") as f:
                body = f.read()
        except OSError:
            self._log(0)
            self.send_error(404)
            return
        self._log(0)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
