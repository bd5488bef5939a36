"""A local server for ``public/``: what a real deployment does, for previews and tests.

- ``/simple/`` and ``/simple/<name>/``: content negotiation on ``Accept`` (:mod:`curate.accept`, which
  ``curate nginx-config`` compiles to the same answers) between the PEP 503 HTML (``index.html``, sent
  as ``text/html; charset=utf-8`` or ``application/vnd.pypi.simple.v1+html`` when that is what was asked
  for) and the PEP 691 JSON (``index.json``), always with ``Vary: Accept``; 406 when the header accepts
  neither; ``/simple/<name>`` redirects to ``/simple/<name>/``, and a name that is not normalized
  (``/simple/Pillow/``, ``/simple/zope.interface``) to the normalized one when the project is there;
  unknown projects are 404.
- files: ``HEAD``, single ``Range`` requests, ``ETag``/``Last-Modified`` with conditional requests, long
  ``Cache-Control`` (a file's name and bytes never change); archives never get a ``Content-Encoding``.
- everything else (the docs site) is served as static files, directories through ``index.html``.
- never a directory listing and never 403: what is not there is 404 (dotfiles included).
- hostile requests get a clean answer: a redirect always goes to a path on this server (``/%2fx`` or
  ``/%5cx`` never to ``//x``, a scheme-relative URL on another host; no CR/LF reaches a header); a
  ``Range`` with thousands of digits is a number like any other (416 when past the end); a connection
  that sends nothing for :data:`TIMEOUT` seconds is closed, and at most :data:`MAX_THREADS`
  connections are served at once (the others wait in the listen queue), so half-open requests cannot
  hold the server.
"""

from __future__ import annotations

import dataclasses
import email.utils
import mimetypes
import re
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import canonicalize_name

from curate.accept import HTML_UTF8, negotiate
from curate.errors import UsageError, terminal_text

TIMEOUT = 30.0  # seconds a connection may stay silent (reading a request, or sending a response)
MAX_THREADS = 64  # connections served at once

_TYPES = {
    ".whl": "application/octet-stream",
    ".gz": "application/octet-stream",
    ".zip": "application/octet-stream",
    ".metadata": "application/octet-stream",
    ".html": HTML_UTF8,
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".xml": "application/xml",
    ".txt": "text/plain; charset=utf-8",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Access:
    method: str
    path: str
    status: int
    accept: str


class Handler(BaseHTTPRequestHandler):
    """Serves ``directory``; subclasses set it (see :func:`make_server`)."""

    directory: Path
    access: list[Access] | None = None
    quiet: bool = False
    protocol_version = "HTTP/1.1"
    server_version = "curate-serve"

    def version_string(self) -> str:
        return self.server_version  # not the Python version: nothing for a scanner to match

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        # every answer (errors too): a browser takes each file for the type it is served as
        self.send_header("X-Content-Type-Options", "nosniff")

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def log_message(self, format: str, *args: object) -> None:
        if not self.quiet:  # the request line is the client's: no escape sequence or workflow command
            sys.stderr.write(
                terminal_text(f"{self.address_string()} - {format % args}".replace("\n", " ")) + "\n"
            )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.access is not None:
            status = code.value if isinstance(code, HTTPStatus) else int(code) if str(code).isdigit() else 0
            self.access.append(Access(self.command, self.path, status, self.headers.get("Accept", "")))
        super().log_request(code, size)

    # -- routing --------------------------------------------------------------------------------

    def _handle(self, *, head: bool) -> None:
        url_path = unquote(urlsplit(self.path).path)
        query = urlsplit(self.path).query
        parts = [p for p in url_path.split("/") if p]
        if any(p in (".", "..") or p.startswith(".") for p in parts) or "\x00" in url_path:
            return self._error(404, head=head)
        target = self.directory.joinpath(*parts)
        if parts[:1] == ["simple"] and len(parts) <= 2 and not target.is_file():  # not simple/index.html
            return self._simple(target, parts, url_path, query, head=head)
        if target.is_dir():
            if not url_path.endswith("/"):
                return self._redirect(parts, query, head=head)
            target = target / "index.html"
        if not target.is_file():
            return self._error(404, head=head)
        self._file(target, _content_type(target), head=head)
        return None

    def _simple(self, target: Path, parts: list[str], url_path: str, query: str, *, head: bool) -> None:
        if len(parts) == 2 and not target.is_dir():  # /simple/Pillow/ -> /simple/pillow/, if it is there
            normalized = canonicalize_name(parts[1])
            if normalized != parts[1] and (target.parent / normalized).is_dir():
                return self._redirect(["simple", normalized], query, head=head)
        if not url_path.endswith("/"):
            if not target.is_dir():
                return self._error(404, head=head)
            return self._redirect(parts, query, head=head)
        chosen = negotiate(self.headers.get("Accept"))
        if chosen is None:  # before a 404, as nginx answers
            return self._error(406, head=head, vary=True)
        if not target.is_dir():
            return self._error(404, head=head, vary=True)
        name, ctype = chosen
        if not (target / name).is_file():
            return self._error(404, head=head, vary=True)
        self._file(target / name, ctype, head=head, vary=True, cache="no-cache")
        return None

    # -- responses ------------------------------------------------------------------------------

    def _redirect(self, parts: list[str], query: str, *, head: bool) -> None:
        """301 to the directory ``parts`` on this server: built from the decoded segments, each
        percent-encoded again, so the Location is always one absolute path (never ``//host``, ``/\\host``
        or a header of its own)."""
        location = "/" + "".join(quote(p, safe="!$&'()*+,;=:@~") + "/" for p in parts)
        self.send_response(301)
        self.send_header("Location", location + (f"?{quote(query, safe='=&;+%/:@!$()*,~')}" if query else ""))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _error(self, status: int, *, head: bool, vary: bool = False) -> None:
        page = self.directory / "404.html"
        if status == 404 and page.is_file() and not self.path.startswith("/simple"):
            body = page.read_bytes()
            ctype = HTML_UTF8
        else:
            body = f"{status} {HTTPStatus(status).phrase}\n".encode()
            ctype = "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        if vary:
            self.send_header("Vary", "Accept")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _file(self, path: Path, ctype: str, *, head: bool, vary: bool = False, cache: str = "") -> None:
        st = path.stat()
        size = st.st_size
        etag = f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{size:x}"'  # per file, so per variant (HTML, JSON)
        last_modified = email.utils.formatdate(st.st_mtime, usegmt=True)
        is_file = path.parent.parts[-2:-1] == ("files",) or path.suffix in (
            ".whl",
            ".gz",
            ".zip",
            ".metadata",
        )
        cache = cache or ("public, max-age=31536000, immutable" if is_file else "no-cache")
        if self._not_modified(etag, st.st_mtime):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", cache)
            if vary:
                self.send_header("Vary", "Accept")
            self.end_headers()
            return
        start, end = 0, size  # end exclusive
        status = 200
        rng = self.headers.get("Range")
        if rng is not None and not _SINGLE_BYTES_RANGE.match(rng):
            rng = None  # another unit, or several ranges: ignored, the whole file is sent (RFC 9110 14.2)
        if rng is not None and self.headers.get("If-Range", etag) == etag:
            parsed = parse_range(rng, size)
            if parsed is None:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = parsed
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        self.send_header("Cache-Control", cache)
        if vary:
            self.send_header("Vary", "Accept")
        self.end_headers()
        if head:
            return
        with open(path, "rb") as fh:
            fh.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = fh.read(min(65536, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def _not_modified(self, etag: str, mtime: float) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            return etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                when = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError, OverflowError, OSError):  # a date no clock can hold
                return False
            return int(mtime) <= when
        return False


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_SINGLE_BYTES_RANGE = re.compile(r"^\s*bytes\s*=[^,]*$", re.IGNORECASE)


def _position(digits: str) -> int:
    """A byte position: any number of digits (Python's int() refuses more than 4,300 of them); one
    beyond what any file holds stands for itself, as all that matters is that it is past the end."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10**18


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """A single byte range as (start, end exclusive); None when unsatisfiable or not understood."""
    m = _RANGE.match(header)
    if m is None or (not m[1] and not m[2]):
        return None
    if not m[1]:  # suffix: the last N bytes
        n = _position(m[2])
        return (max(0, size - n), size) if n > 0 and size > 0 else None
    start = _position(m[1])
    end = min(size, _position(m[2]) + 1) if m[2] else size
    if start >= size or end <= start:
        return None
    return start, end


def _content_type(path: Path) -> str:
    ctype = _TYPES.get(path.suffix)
    if ctype is None:
        guessed, _ = mimetypes.guess_type(path.name)  # the encoding is ignored on purpose
        ctype = guessed or "application/octet-stream"
    return ctype


class BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_threads`` at once: the next connection is accepted when
    one ends (it waits in the listen queue meanwhile), so silent clients cannot pile up threads."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[Handler], *, max_threads: int) -> None:
        super().__init__(address, handler)
        self.max_threads = max_threads
        self._slots = threading.BoundedSemaphore(max_threads)
        self._busy = 0
        self.peak = 0  # the most connections served at once so far
        self._busy_lock = threading.Lock()

    @property
    def busy(self) -> int:
        """Connections being served now."""
        return self._busy

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        with self._busy_lock:
            self._busy += 1
            self.peak = max(self.peak, self._busy)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._busy_lock:
            self._busy -= 1
        self._slots.release()


def make_server(
    directory: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    access: list[Access] | None = None,
    quiet: bool = False,
    timeout: float = TIMEOUT,
    max_threads: int = MAX_THREADS,
) -> BoundedServer:
    """A server for ``directory`` (not started). ``timeout``: seconds a connection may stay silent;
    ``max_threads``: connections served at once."""
    handler = type(
        "BoundHandler",
        (Handler,),
        {"directory": directory.resolve(), "access": access, "quiet": quiet, "timeout": timeout},
    )
    return BoundedServer((host, port), handler, max_threads=max_threads)


def open_server(
    directory: Path,
    *,
    host: str,
    port: int,
    quiet: bool = False,
    timeout: float = TIMEOUT,
    max_threads: int = MAX_THREADS,
) -> BoundedServer:
    """A server for a built tree, listening; :class:`UsageError` when the tree has no index or the
    address cannot be listened on."""
    if not (directory / "simple").is_dir():
        raise UsageError(f"{directory} has no simple/ index; build it first with: curate build")
    if timeout <= 0 or max_threads < 1:
        raise UsageError("--timeout must be more than 0 and --max-connections at least 1")
    try:
        return make_server(
            directory, host=host, port=port, quiet=quiet, timeout=timeout, max_threads=max_threads
        )
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def serve_in_thread(server: ThreadingHTTPServer) -> Callable[[], None]:
    """Start serving in a daemon thread; return a function that stops it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return stop


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    host = str(host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}


def elsewhere(base_url: str, served: str) -> bool:
    """Whether ``base_url`` (what the site's pages and lock files name) is not the server at ``served``
    (``url_of``): another scheme, port or host (any two of this machine's loopback names, or an address
    listening on all of them, are taken for the same host)."""
    try:
        base, here = urlsplit(base_url), urlsplit(served)
        base_port = base.port or (443 if base.scheme == "https" else 80)
        here_port = here.port
    except ValueError:  # a port out of range
        return True
    same_host = base.hostname == here.hostname or (base.hostname in _LOOPBACK and here.hostname in _LOOPBACK)
    return base.scheme != here.scheme or base_port != here_port or not same_host


__all__ = [
    "Access",
    "BoundedServer",
    "elsewhere",
    "make_server",
    "negotiate",
    "open_server",
    "parse_range",
    "serve_in_thread",
    "url_of",
]
