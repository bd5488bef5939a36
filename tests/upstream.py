"""A fixture upstream package index on 127.0.0.1 that tests build themselves, and can make misbehave.

Serves ``/simple/`` (PEP 503 HTML, or PEP 691 JSON when asked with ``Accept``), ``/simple/<name>/``
with sha256 fragments, ``data-requires-python``, ``data-yanked``, PEP 658 ``.metadata`` files and PEP 700
``upload-time``/``size``/``versions``, and ``/files/<filename>``. ``faults`` injects misbehaviour per
path, consumed one per request: wrong bytes, truncated bodies, 429 with ``Retry-After``, 500s,
dropped connections, slow responses. Every request is logged in ``log``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import threading
import time
import zipfile
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

from tests.wheels import Dist, build_dist

FaultKind = Literal["wrong-bytes", "truncate", "429", "500", "drop", "slow"]
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclasses.dataclass(frozen=True)
class Fault:
    kind: FaultKind
    retry_after: int = 1  # for 429
    delay: float = 2.0  # for slow


@dataclasses.dataclass
class UpstreamFile:
    project: str  # display name
    filename: str
    path: Path
    sha256: str
    size: int
    requires_python: str | None
    yanked: str | None
    upload_time: str
    metadata: bytes | None  # wheels only

    @property
    def version(self) -> str:
        if self.filename.endswith(".whl"):
            return str(parse_wheel_filename(self.filename)[1])
        return str(parse_sdist_filename(self.filename)[1])


class Upstream:
    """Files on disk plus the index pages that describe them. Use as a context manager to serve."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, list[UpstreamFile]] = defaultdict(list)  # normalized name -> files
        self.names: dict[str, str] = {}
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.log: list[tuple[str, str]] = []  # (method, path)
        self.login: tuple[str, str] | None = None  # (user, password): basic auth required when set
        self.auth_headers: list[str | None] = []  # the Authorization header of each request
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content -------------------------------------------------------------------------------

    def add(self, *dists: Dist) -> list[UpstreamFile]:
        added = []
        for d in dists:
            for path in build_dist(d, self.directory / "files"):
                added.append(self.add_file(d, path))
        return added

    def add_file(self, d: Dist, path: Path) -> UpstreamFile:
        data = path.read_bytes()
        metadata = None
        if path.name.endswith(".whl"):
            with zipfile.ZipFile(path) as zf:
                # the wheel's own, not a vendored package's (flit_core's wheel holds tomli's too)
                name = next(
                    n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
                )
                metadata = zf.read(name)
        f = UpstreamFile(
            project=d.name,
            filename=path.name,
            path=path,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            requires_python=d.requires_python,
            yanked=d.yanked,
            upload_time=d.upload_time,
            metadata=metadata,
        )
        norm = canonicalize_name(d.name)
        self.names.setdefault(norm, d.name)
        self.files[norm] = [x for x in self.files[norm] if x.filename != f.filename] + [f]
        return f

    def file(self, filename: str) -> UpstreamFile:
        for files in self.files.values():
            for f in files:
                if f.filename == filename:
                    return f
        raise KeyError(filename)

    # -- serving -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "not serving"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def index_url(self) -> str:
        return self.url + "/simple/"

    def file_url(self, filename: str) -> str:
        return f"{self.url}/files/{quote(filename)}"

    def start(self) -> Upstream:
        upstream = self

        class Handler(_Handler):
            owner = upstream

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fault(self, path_or_filename: str, *faults: Fault) -> None:
        """Queue misbehaviour for a path (``/files/x.whl``) or a bare filename."""
        key = path_or_filename if path_or_filename.startswith("/") else f"/files/{path_or_filename}"
        self.faults[key].extend(faults)

    def requests_for(self, suffix: str) -> list[str]:
        return [p for _, p in self.log if p.endswith(suffix)]

    # -- pages ---------------------------------------------------------------------------------

    def root_html(self) -> str:
        links = "\n".join(
            f'    <a href="{n}/">{html.escape(self.names[n])}</a><br/>' for n in sorted(self.files)
        )
        return (
            '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1">'
            f"<title>Simple index</title></head><body>\n{links}\n</body></html>\n"
        )

    def root_json(self) -> dict[str, object]:
        return {
            "meta": {"api-version": "1.1"},
            "projects": [{"name": self.names[n]} for n in sorted(self.files)],
        }

    def project_html(self, norm: str) -> str:
        rows = []
        for f in sorted(self.files[norm], key=lambda f: f.filename):
            attrs = [f'href="../../files/{quote(f.filename)}#sha256={f.sha256}"']
            if f.requires_python:
                attrs.append(f'data-requires-python="{html.escape(f.requires_python)}"')
            if f.yanked is not None:
                attrs.append(f'data-yanked="{html.escape(f.yanked)}"')
            if f.metadata is not None:
                h = hashlib.sha256(f.metadata).hexdigest()
                attrs.append(f'data-core-metadata="sha256={h}" data-dist-info-metadata="sha256={h}"')
            rows.append(f"    <a {' '.join(attrs)}>{html.escape(f.filename)}</a><br/>")
        return (
            '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1">'
            f"<title>Links for {html.escape(self.names[norm])}</title></head><body>\n"
            + "\n".join(rows)
            + "\n</body></html>\n"
        )

    def project_json(self, norm: str) -> dict[str, object]:
        files = []
        for f in sorted(self.files[norm], key=lambda f: f.filename):
            entry: dict[str, object] = {
                "filename": f.filename,
                "url": f"../../files/{quote(f.filename)}",
                "hashes": {"sha256": f.sha256},
                "requires-python": f.requires_python,
                "size": f.size,
                **({"upload-time": f.upload_time} if f.upload_time else {}),
                "yanked": (f.yanked or True) if f.yanked is not None else False,
            }
            if f.metadata is not None:
                entry["core-metadata"] = {"sha256": hashlib.sha256(f.metadata).hexdigest()}
            files.append(entry)
        versions = sorted({f.version for f in self.files[norm]})
        return {"meta": {"api-version": "1.1"}, "name": norm, "versions": versions, "files": files}


class _Handler(BaseHTTPRequestHandler):
    owner: Upstream
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def do_GET(self) -> None:
        self._respond(head=False)

    def _respond(self, *, head: bool) -> None:
        up = self.owner
        path = unquote(self.path.split("?", 1)[0])
        up.log.append((self.command, path))
        up.auth_headers.append(self.headers.get("Authorization"))
        if up.login is not None:
            wanted = "Basic " + base64.b64encode(":".join(up.login).encode()).decode()
            if self.headers.get("Authorization") != wanted:
                self._send(
                    401, b"log in\n", "text/plain", extra={"WWW-Authenticate": 'Basic realm="upstream"'}
                )
                return
        queue = up.faults.get(path)
        fault = queue.popleft() if queue else None
        if fault is not None:
            if fault.kind == "429":
                self._send(429, b"slow down\n", "text/plain", extra={"Retry-After": str(fault.retry_after)})
                return
            if fault.kind == "500":
                self._send(500, b"oops\n", "text/plain")
                return
            if fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault.kind == "slow":
                time.sleep(fault.delay)
        wants_json = JSON_TYPE in (self.headers.get("Accept") or "")
        if path in ("/simple", "/simple/"):
            if wants_json:
                self._send(200, json.dumps(up.root_json()).encode(), JSON_TYPE, head=head)
            else:
                self._send(200, up.root_html().encode(), "text/html", head=head)
            return
        if path.startswith("/simple/"):
            norm = canonicalize_name(path[len("/simple/") :].strip("/"))
            if norm not in up.files:
                self._send(404, b"not found\n", "text/plain", head=head)
                return
            if not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", f"/simple/{norm}/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if wants_json:
                self._send(200, json.dumps(up.project_json(norm)).encode(), JSON_TYPE, head=head)
            else:
                self._send(200, up.project_html(norm).encode(), "text/html", head=head)
            return
        if path.startswith("/files/"):
            name = path[len("/files/") :]
            meta = name.endswith(".metadata")
            try:
                f = up.file(name.removesuffix(".metadata"))
            except KeyError:
                self._send(404, b"not found\n", "text/plain", head=head)
                return
            if meta:
                if f.metadata is None:
                    self._send(404, b"no metadata\n", "text/plain", head=head)
                    return
                self._send(200, f.metadata, "application/octet-stream", head=head)
                return
            body = f.path.read_bytes()
            if fault is not None and fault.kind == "wrong-bytes":
                body = bytes(b ^ 0xFF for b in body[:64]) + body[64:]
            if fault is not None and fault.kind == "truncate":
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            self._send(200, body, "application/octet-stream", head=head, ranges=True)
            return
        self._send(404, b"not found\n", "text/plain", head=head)

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str,
        *,
        head: bool = False,
        extra: dict[str, str] | None = None,
        ranges: bool = False,
    ) -> None:
        start, end = 0, len(body)
        rng = self.headers.get("Range") if ranges else None
        if rng and rng.startswith("bytes=") and status == 200:
            first, _, last = rng[len("bytes=") :].partition("-")
            start = int(first) if first else max(0, len(body) - int(last))
            end = min(len(body), int(last) + 1) if first and last else len(body)
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(body)}")
        if ranges:
            self.send_header("Accept-Ranges", "bytes")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body[start:end])


# -- the standard scenario the lock, fetch, vet, index and site tests share ----------------------

WIN = "py3-none-win_amd64"
LINUX = "py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64"
MAC = "py3-none-macosx_11_0_arm64"


def standard_dists() -> list[Dist]:
    """A small world with every shape the catalog must handle.

    - ``webapp`` 1.0/2.0: pure Python, depends on ``httpish`` and, on Windows only, ``wincolor``
    - ``httpish`` 1.0/1.1/1.2 (1.2 yanked): pure Python, depends on ``certy``
    - ``certy`` 2024.1: pure Python, no dependencies
    - ``wincolor`` 0.4: a Windows-only wheel
    - ``linuxonly`` 1.0: a Linux-only wheel;  ``maconly`` 1.0: a macOS-only wheel
    - ``fastmath`` 1.5: wheels for Linux, Windows and macOS
    - ``oldsdist`` 0.9: sdist only
    - ``newpy`` 1.0 requires Python >= 3.12; ``newpy`` 0.9 works on 3.10+
    - ``conflict-a`` needs ``certy<2000``, which does not exist: requesting it fails to resolve
    """
    return [
        Dist(name="webapp", version="1.0", requires_dist=["httpish>=1.0"], summary="A web framework"),
        Dist(
            name="webapp",
            version="2.0",
            requires_dist=["httpish>=1.1", 'wincolor>=0.4; sys_platform == "win32"'],
            summary="A web framework",
            home_page="https://webapp.upstream.example/",
        ),
        Dist(name="httpish", version="1.0", requires_dist=["certy"], summary="HTTP for humans, roughly"),
        Dist(name="httpish", version="1.1", requires_dist=["certy"], summary="HTTP for humans, roughly"),
        Dist(name="httpish", version="1.2", requires_dist=["certy"], yanked="broken release"),
        Dist(name="certy", version="2024.1", summary="Certificates", license_expression="MPL-2.0"),
        Dist(
            name="wincolor", version="0.4", wheel_tags=[WIN], sdist=False, summary="Windows terminal colours"
        ),
        Dist(name="linuxonly", version="1.0", wheel_tags=[LINUX], sdist=False, summary="Linux only"),
        Dist(name="maconly", version="1.0", wheel_tags=[MAC], sdist=False, summary="macOS only"),
        Dist(name="fastmath", version="1.5", wheel_tags=[LINUX, WIN, MAC], summary="Fast maths"),
        Dist(name="oldsdist", version="0.9", wheel_tags=(), summary="Only an sdist"),
        Dist(name="newpy", version="0.9", requires_python=">=3.10", summary="Works on 3.10+"),
        Dist(name="newpy", version="1.0", requires_python=">=3.12", summary="Needs 3.12+"),
        Dist(name="conflict-a", version="1.0", requires_dist=["certy<2000"], summary="Cannot be satisfied"),
    ]


def iter_files(upstream: Upstream) -> Iterator[UpstreamFile]:
    for files in upstream.files.values():
        yield from files


def make_upstream(directory: Path, dists: Iterable[Dist] | None = None) -> Upstream:
    up = Upstream(directory)
    up.add(*(standard_dists() if dists is None else dists))
    return up
