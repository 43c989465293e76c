"""Local servers for the egress tests (shared with the nobody scenario,
which copies this file): a DNS responder and an HTTP server."""

from __future__ import annotations

import http.server
import socket
import struct
import threading


def resolver(known: set[str]) -> tuple[int, list[str]]:
    """Answer A queries for `known` with 127.0.0.1, NXDOMAIN otherwise;
    returns (port, names asked)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    asked: list[str] = []

    def serve() -> None:
        while True:
            q, peer = s.recvfrom(512)
            i = 12
            labels: list[str] = []
            while q[i]:
                labels.append(q[i + 1:i + 1 + q[i]].decode())
                i += 1 + q[i]
            name, qtype = ".".join(labels).lower(), struct.unpack("!H", q[i + 1:i + 3])[0]
            asked.append(name)
            question = q[12:i + 5]
            if name not in known:
                s.sendto(q[:2] + b"\x81\x83" + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question, peer)
            elif qtype == 1:
                answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x1e\x00\x04" + socket.inet_aton("127.0.0.1")
                s.sendto(q[:2] + b"\x81\x80" + b"\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer, peer)
            else:
                s.sendto(q[:2] + b"\x81\x80" + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question, peer)

    threading.Thread(target=serve, daemon=True).start()
    port: int = s.getsockname()[1]
    return port, asked



class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = ("hello " + self.headers["Host"].split(":")[0]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass



def web() -> int:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port: int = srv.server_address[1]
    return port
