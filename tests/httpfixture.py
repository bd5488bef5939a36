"""A small HTTP server on 127.0.0.1 whose answers a test writes, and which records what it was sent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Seen = tuple[str, str, dict[str, str]]  # method, path (absolute-form through a proxy), headers


class Server:
    """A server on 127.0.0.1 whose answers a test writes: ``routes[path](handler)``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.seen: list[Seen] = []
        self.default: Callable[[BaseHTTPRequestHandler], None] | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.seen.append((self.command, self.path, dict(self.headers.items())))
                route = server.routes.get(self.path.split("?")[0]) or server.default
                try:
                    (route or (lambda h: send(h, 404, b"not here")))(self)
                except OSError:  # the client stopped reading (a limit): nothing to tell it
                    self.close_connection = True

            do_GET = do_HEAD = do_POST = _any

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.host = host
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send(h: BaseHTTPRequestHandler, status: int, body: bytes = b"", **headers: str) -> None:
    h.send_response(status)
    for name, value in {"Content-Length": str(len(body)), **headers}.items():
        h.send_header(name.replace("_", "-"), value)
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def redirect(to: str, status: int = 302) -> Callable[[BaseHTTPRequestHandler], None]:
    return lambda h: send(h, status, Location=to)
