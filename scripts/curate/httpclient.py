"""HTTP, for everything curate asks of the network: the upstream's pages, the files fetch downloads,
and the advisory service. One :class:`HttpClient` per run, built from the environment the CLI passes in.

- **Proxies**: ``HTTPS_PROXY`` / ``HTTP_PROXY`` (either case) unless ``NO_PROXY`` covers the host; a
  proxy URL's own ``user:password@`` is sent to the proxy as ``Proxy-Authorization``.
- **Logins** (:mod:`curate.auth`): a URL's own ``user:password@``, else that of a ``login`` URL on the
  same origin (the configured index), else netrc for the host; sent as basic auth, never left in a URL
  this module returns or puts in an error message.
- **Redirects** are followed here, up to :attr:`Limits.redirects`, each hop choosing its own proxy and
  login: a login never goes to another origin (scheme, host, port), and only http(s) is followed.
- **Limits** (:class:`Limits`, from ``upstream:`` in ``catalog/config.yaml``): connect and read timeouts;
  a cap on the bytes of a page read into memory (``max_page_bytes``); a deadline for a whole page,
  redirects and body included (``deadline``; downloads have ``download_deadline``, off by default); and
  a minimum speed for every answer, pages and downloads (``min_speed`` bytes per second over each
  ``speed_window`` seconds), so that a server trickling a byte every few seconds is given up. A deadline
  is kept by a watchdog that cuts the connection, so it holds while waiting for headers or a body
  byte too. Every error names the URL it concerns, without its credentials.
- ``file:`` URLs (a local index) are read from the disk; a directory's page is its ``index.html``.

Retrying is the caller's decision (fetch retries downloads with backoff; a page read does not).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import mimetypes
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

import urllib3
import urllib3.connection
import urllib3.connectionpool

from curate import __version__
from curate.auth import basic_auth, credentials_for, refused_hint, split_credentials
from curate.errors import CurateError

USER_AGENT = f"curate/{__version__}"
CHUNK = 256 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DRAIN_LIMIT = 64 * 1024  # an unread body up to this size is read away to keep its connection


MAX_PAGE_BYTES = 64 * 1024 * 1024
PAGE_DEADLINE = 600.0
MIN_SPEED = 1024
SPEED_WINDOW = 60.0


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    """How long and how much curate waits for and reads from one answer."""

    connect_timeout: float = 10.0  # seconds to open a connection
    read_timeout: float = 60.0  # seconds without a byte arriving
    max_page_bytes: int = MAX_PAGE_BYTES  # a page (HTML, JSON) read into memory; downloads stream
    deadline: float | None = PAGE_DEADLINE  # seconds for a whole page, redirects and body included
    download_deadline: float | None = None  # the same for a download (open(); None: none)
    min_speed: int = MIN_SPEED  # bytes per second an answer's body must keep up (0: no minimum) ...
    speed_window: float = SPEED_WINDOW  # ... over each window of this many seconds
    redirects: int = 5


class HttpError(CurateError):
    """A request that did not give a usable answer; the message starts with the URL (no credentials)."""

    def __init__(self, url: str, reason: str, *, hint: str = "") -> None:
        super().__init__(f"{url}: {reason}" + (f"\n    hint: {hint}" if hint else ""))
        self.url = url
        self.reason = reason


class ConnectError(HttpError):
    """No answer: the connection failed or timed out before a response began (worth another try)."""


class TransferError(HttpError):
    """The body stopped arriving part way (dropped connection, read timeout): worth another try."""


class StatusError(HttpError):
    """An answer with a status that is not success."""

    def __init__(self, url: str, status: int, reason: str, *, logged_in: bool) -> None:
        hint = refused_hint(logged_in) if status in (401, 403) else ""
        super().__init__(url, f"HTTP {status} {reason}".rstrip(), hint=hint)
        self.status = status


class LimitError(HttpError):
    """An answer larger, or slower, than :class:`Limits` allows."""


def proxy_for(url: str, env: Mapping[str, str]) -> str | None:
    """The proxy for ``url`` from ``HTTPS_PROXY``/``HTTP_PROXY`` (either case), unless ``NO_PROXY`` covers it."""

    def get(name: str) -> str:
        return env.get(name.lower()) or env.get(name.upper()) or ""

    parts = urlsplit(url)
    proxy = get(f"{parts.scheme}_proxy")
    if not proxy or not parts.hostname:
        return None
    host = parts.hostname.lower()
    for entry in get("no_proxy").replace(" ", "").lower().split(","):
        entry = entry.split(":", 1)[0].lstrip(".")  # "*", "example.com", ".example.com", "host:port"
        if entry and (entry == "*" or host == entry or host.endswith("." + entry)):
            return None
    return proxy


def describe(exc: BaseException) -> str:
    """A one-line reason for a failed connection or read, without urllib3's object names."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        exc = reason
    if isinstance(exc, urllib3.exceptions.ProxyError):
        inner = exc.original_error
        return f"cannot reach the proxy: {describe(inner)}" if inner is not None else "cannot reach the proxy"
    text = re.sub(r"^\w+\(host='[^']*', port=\d+\): ", "", str(exc)) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


# -- deadlines: a watchdog cuts the connection of an answer that overran it ------------------------------

_current = threading.local()  # the watchdog of the request this thread is sending, if any


class _Watchdog:
    """Cuts the connection of one answer when its deadline passes, wherever curate is waiting on it
    (the connection, the headers, a byte of the body): the wait ends with an error, and :attr:`fired`
    says why."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._connection: urllib3.connection.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, connection: urllib3.connection.HTTPConnection) -> None:
        with self._lock:
            self._connection = connection
            if self.fired:
                self._cut()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._cut()

    def _cut(self) -> None:
        sock = getattr(self._connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _watched(connection: urllib3.connection.HTTPConnection) -> None:
    watchdog: _Watchdog | None = getattr(_current, "watchdog", None)
    if watchdog is not None:
        watchdog.watch(connection)


class _Connection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        _watched(self)
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)
        super().request(*args, **kwargs)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        _watched(self)
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)
        super().request(*args, **kwargs)


class _Pool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _Connection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOL_CLASSES = {"http": _Pool, "https": _HTTPSPool}


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Page:
    """A whole answer read into memory (a project page, an API response)."""

    url: str  # the final URL, after redirects, without credentials
    status: int
    content_type: str  # the media type, lowercased, without parameters
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; a body that is not JSON is an error naming the URL, on one line."""
        try:
            return json.loads(self.body)
        except UnicodeDecodeError as exc:
            raise HttpError(
                self.url, f"not JSON: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
        except json.JSONDecodeError as exc:
            raise HttpError(
                self.url, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        except RecursionError:
            raise HttpError(self.url, "not JSON curate reads: nested too deeply") from None


class Response:
    """An answer whose body has not been read yet. Use it as a context manager: leaving the block
    gives the connection back (:meth:`close`); :meth:`abort`, or a KeyboardInterrupt in the block,
    closes it instead of reading what is left of the body."""

    def __init__(
        self,
        url: str,
        *,
        status: int,
        reason: str,
        headers: Mapping[str, str],
        logged_in: bool,
        raw: urllib3.BaseHTTPResponse | None = None,
        local: IO[bytes] | None = None,
        deadline: float | None = None,
        seconds: float = 0.0,
        watchdog: _Watchdog | None = None,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url  # the final URL, after redirects, without credentials
        self.status = status
        self.reason = reason
        self.headers = headers
        self.logged_in = logged_in  # whether a login went with the request that got this answer
        self._raw = raw
        self._local = local
        self._deadline = deadline  # when the answer must be complete, on ``clock``
        self._seconds = seconds  # the deadline's length, for messages
        self._watchdog = watchdog
        self._limits = limits
        self._clock = clock
        self._aborted = False
        self._finished = False  # the body was read to its end
        self._window_start = clock()
        self._window_bytes = 0

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    def check(self) -> Response:
        """This answer when its status is success (2xx), else :class:`StatusError`."""
        if not 200 <= self.status < 300:
            raise StatusError(self.url, self.status, self.reason, logged_in=self.logged_in)
        return self

    def _overran(self) -> LimitError:
        self.abort()
        return LimitError(self.url, f"no complete answer within {self._seconds:g} seconds")

    def _check_speed(self, got: int) -> None:
        """Each window of :attr:`Limits.speed_window` seconds must bring :attr:`Limits.min_speed` bytes a
        second (a server trickling a byte every few seconds stays under the read timeout forever)."""
        limits = self._limits
        if self._local is not None or limits.min_speed <= 0 or limits.speed_window <= 0:
            return
        self._window_bytes += got
        elapsed = self._clock() - self._window_start
        if elapsed < limits.speed_window:
            return
        if self._window_bytes < limits.min_speed * elapsed:
            self.abort()
            raise LimitError(
                self.url,
                f"too slow: {self._window_bytes:,} bytes in {elapsed:.0f} seconds, under the minimum of"
                f" {limits.min_speed:,} bytes a second (upstream.min_speed in catalog/config.yaml)",
            )
        self._window_start, self._window_bytes = self._clock(), 0

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The body as it arrives (each chunk what has arrived, up to ``size`` bytes)."""
        while True:
            if self._deadline is not None and self._clock() > self._deadline:
                raise self._overran()
            try:
                if self._local is not None:
                    chunk = self._local.read(size)
                elif self._raw is not None:
                    chunk = self._raw.read1(size)
                else:
                    chunk = b""
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if self._watchdog is not None and self._watchdog.fired:
                    raise self._overran() from None
                raise TransferError(self.url, describe(exc)) from None
            if not chunk:
                if self._watchdog is not None and self._watchdog.fired:
                    raise self._overran()  # the watchdog cut it: a short body, not the whole answer
                self._finished = True
                return
            self._check_speed(len(chunk))
            yield chunk

    def read(self, max_bytes: int | None = None) -> bytes:
        """The whole body, at most ``max_bytes`` (default :attr:`Limits.max_page_bytes`)."""
        limit = self._limits.max_page_bytes if max_bytes is None else max_bytes
        length = self.headers.get("Content-Length", "").strip()
        if length.isdigit() and int(length) > limit:
            self.abort()
            raise LimitError(
                self.url,
                f"the answer is {int(length):,} bytes, larger than {limit:,}; curate does not read it"
                " (upstream.max_page_bytes in catalog/config.yaml)",
            )
        buf = bytearray()
        for chunk in self.chunks():
            buf += chunk
            if len(buf) > limit:
                self.abort()
                raise LimitError(
                    self.url,
                    f"the answer is larger than {limit:,} bytes; curate stops reading it"
                    " (upstream.max_page_bytes in catalog/config.yaml)",
                )
        return bytes(buf)

    def page(self) -> Page:
        """The whole answer (at most :attr:`Limits.max_page_bytes`) when its status is success."""
        self.check()
        body = self.read()
        return Page(
            url=self.url, status=self.status, content_type=self.content_type, headers=self.headers, body=body
        )

    def abort(self) -> None:
        """Stop now: close the connection rather than read the rest of the body to reuse it."""
        self._aborted = True
        if self._raw is not None:
            self._raw.close()

    def close(self) -> None:
        """Give the connection back: a body left unread is read to its end when it is known to be
        small (so the connection can serve again), else the connection is closed."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            if self._watchdog.fired:
                self.abort()
        if self._local is not None:
            self._local.close()
        if self._raw is not None:
            if not self._aborted and not self._finished:
                left = self._raw.length_remaining
                if left is not None and left <= DRAIN_LIMIT:
                    self._raw.drain_conn()  # an unread body must not be read as the next answer
                else:
                    self.abort()
            self._raw.release_conn()

    def __enter__(self) -> Response:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.abort()
        self.close()


class HttpClient:
    """Pooled HTTP for one run; thread-safe. ``env`` is the environment the CLI was given (proxies,
    netrc); nothing here reads the process's own."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        limits: Limits | None = None,
        user_agent: str = USER_AGENT,
        pool_size: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock``: what deadlines and speeds are measured with (tests pass a fake one); the watchdog
        that cuts an overrun connection runs on real time."""
        self.env = dict(env)
        self.limits = limits or Limits()
        self.user_agent = user_agent
        self.clock = clock
        self._pool_kw: dict[str, Any] = {
            "num_pools": pool_size,
            "maxsize": pool_size,
            "retries": False,  # redirects are followed here; retries are the caller's
            "timeout": urllib3.Timeout(connect=self.limits.connect_timeout, read=self.limits.read_timeout),
        }
        self._direct = urllib3.PoolManager(**self._pool_kw)
        self._direct.pool_classes_by_scheme = _POOL_CLASSES
        self._proxies: dict[str, urllib3.ProxyManager] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._direct.clear()
        with self._lock:
            for pool in self._proxies.values():
                pool.clear()

    def _pool(self, url: str) -> urllib3.PoolManager:
        """The connection pool for ``url``: through the proxy the environment names, if any."""
        proxy = proxy_for(url, self.env)
        if proxy is None:
            return self._direct
        with self._lock:
            if proxy not in self._proxies:
                clean, creds = split_credentials(proxy)
                headers = {"Proxy-Authorization": basic_auth(creds)} if creds is not None else None
                manager = urllib3.ProxyManager(clean, proxy_headers=headers, **self._pool_kw)
                manager.pool_classes_by_scheme = _POOL_CLASSES
                self._proxies[proxy] = manager
            return self._proxies[proxy]

    def open(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        login: tuple[str, ...] = (),
        deadline: float | Literal["download"] | None = "download",
    ) -> Response:
        """Send one request, following redirects; the answer's body is not read yet, whatever its status.

        ``login``: URLs whose ``user:password@`` also serves their origin (the configured index).
        ``deadline``: seconds for the whole answer, redirects and body included (default: a download's,
        :attr:`Limits.download_deadline`; None: none). Raises :class:`ConnectError` when no answer came,
        :class:`LimitError` when the deadline passed, :class:`HttpError` for a redirect curate does not
        follow (too many, or to a scheme other than http(s)).
        """
        seconds = self.limits.download_deadline if deadline == "download" else deadline
        current, own = split_credentials(urldefrag(url)[0])
        logins = login + ((url,) if own is not None else ())  # a URL's own login serves its origin only
        if urlsplit(current).scheme.lower() == "file":
            return self._open_local(current, method=method)
        until = self.clock() + seconds if seconds is not None else None
        watchdog = _Watchdog(seconds) if seconds is not None else None
        try:
            for _ in range(self.limits.redirects + 1):
                if urlsplit(current).scheme.lower() not in ("http", "https"):
                    raise HttpError(current, "curate only follows http(s) URLs")
                creds = credentials_for(current, also=logins, env=self.env)
                sent = {"User-Agent": self.user_agent, **(headers or {})}
                if creds is not None:
                    sent["Authorization"] = basic_auth(creds)
                _current.watchdog = watchdog
                try:
                    raw = self._pool(current).urlopen(
                        method,
                        current,
                        body=body,
                        headers=sent,
                        redirect=False,
                        retries=False,
                        preload_content=False,
                    )
                except urllib3.exceptions.HTTPError as exc:
                    if watchdog is not None and watchdog.fired:
                        raise LimitError(current, f"no complete answer within {seconds:g} seconds") from None
                    raise ConnectError(current, describe(exc)) from None
                finally:
                    _current.watchdog = None
                location = raw.headers.get("Location") if raw.status in REDIRECT_STATUSES else None
                if not location:
                    return Response(
                        current,
                        status=raw.status,
                        reason=raw.reason or "",
                        headers=raw.headers,
                        logged_in=creds is not None,
                        raw=raw,
                        deadline=until,
                        seconds=seconds or 0.0,
                        watchdog=watchdog,
                        limits=self.limits,
                        clock=self.clock,
                    )
                Response(
                    current,
                    status=raw.status,
                    reason="",
                    headers=raw.headers,
                    logged_in=False,
                    raw=raw,
                    limits=self.limits,
                ).close()
                # A login in the Location is not taken: the next hop logs in by its own origin's rules.
                current = split_credentials(urldefrag(urljoin(current, location))[0])[0]
                if raw.status == 303 or (raw.status in (301, 302) and method == "POST"):
                    method, body = "GET", None
                if until is not None and self.clock() > until:
                    raise LimitError(current, f"no complete answer within {seconds:g} seconds")
            raise HttpError(split_credentials(url)[0], f"more than {self.limits.redirects} redirects")
        except BaseException:
            if watchdog is not None:
                watchdog.cancel()
            raise

    def _open_local(self, url: str, *, method: str) -> Response:
        path = Path(url2pathname(unquote(urlsplit(url).path)))
        if path.is_dir():  # a local index's page is the directory's index.html, as pip reads it
            path = path / "index.html"
        fh: IO[bytes] | None = None
        try:
            size = path.stat().st_size
            if method != "HEAD":
                fh = path.open("rb")
        except FileNotFoundError:
            raise HttpError(url, "no such file") from None
        except OSError as exc:
            raise HttpError(url, exc.strerror or str(exc)) from None
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return Response(
            url,
            status=200,
            reason="OK",
            headers={"Content-Type": ctype, "Content-Length": str(size)},
            logged_in=False,
            local=fh,
            limits=self.limits,
        )

    def get(self, url: str, *, accept: str = "*/*", login: tuple[str, ...] = ()) -> Page:
        """GET a whole page (at most :attr:`Limits.max_page_bytes`); a status other than 2xx is an error."""
        with self.open(url, headers={"Accept": accept}, login=login, deadline=self.limits.deadline) as resp:
            return resp.page()

    def head(self, url: str, *, login: tuple[str, ...] = ()) -> Mapping[str, str]:
        """The headers of a ``HEAD`` answer; a status other than 2xx is an error."""
        with self.open(
            url, method="HEAD", headers={"Accept": "*/*"}, login=login, deadline=self.limits.deadline
        ) as resp:
            return resp.check().headers

    def post_json(self, url: str, data: object, *, login: tuple[str, ...] = ()) -> Page:
        """POST ``data`` as JSON; the whole answer (a status other than 2xx is an error)."""
        body = json.dumps(data).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        with self.open(
            url, method="POST", headers=headers, body=body, login=login, deadline=self.limits.deadline
        ) as resp:
            return resp.page()
