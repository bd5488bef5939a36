"""Download every file of the catalog into the content-addressed cache, verifying every byte.

A download is streamed into ``<cache>/partial/<sha256>`` while it is hashed; only when both its size and
its sha256 match the catalog is it renamed to ``<cache>/sha256/ab/cdef...`` (:mod:`curate.cache`). So an
interrupted run (Ctrl-C, kill, a crash) never leaves a partial file where a complete one is expected; the
next run resumes the partial file with an HTTP ``Range`` request, or restarts it when the server does not
support ranges. Connection errors, timeouts, truncated bodies, 429 (honouring ``Retry-After``, capped)
and 5xx responses are retried with exponential backoff. A file whose bytes do not match is an error
naming the file, the expected and the received hash, and nothing of it is kept.

The catalog records no URL: :func:`fetch_catalog` first finds each missing file on the upstream's project
pages (:mod:`curate.locate`: the configured ``upstream.index_url``, else the index uv resolves from),
where a page listing other bytes under the file's name is refused before anything is downloaded.
``http(s)://`` and ``file://`` URLs are supported; they come from the upstream's pages, never from this
code. HTTP goes through one :class:`curate.httpclient.HttpClient` per run (proxies, logins, redirects,
timeouts); what to retry, and when, is decided here.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import email.utils
import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Literal
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from curate.auth import refused_hint, split_credentials
from curate.cache import (
    Wanted,
    blob_path,
    blob_state,
    cache_root,
    missing_files,
    record_verified,
    wanted_files,
)
from curate.catalog import load_catalog_fast
from curate.config import load_config
from curate.errors import FetchError, one_line, terminal_text
from curate.exclusive import wait_hold
from curate.httpclient import ConnectError, HttpClient, HttpError, LimitError, TransferError
from curate.locate import Located, index_url_for, locate
from curate.names import normalize

CHUNK = 256 * 1024
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    attempts: int = 5  # tries per file, the first one included
    backoff: float = 0.5  # seconds before the 2nd try; doubles each time
    max_backoff: float = 30.0
    max_retry_after: float = 60.0  # a server's Retry-After is honoured up to this many seconds

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return float(min(self.max_backoff, self.backoff * (2 ** (attempt - 1))))


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    wanted: Wanted
    status: Literal["cached", "downloaded"]
    bytes: int = 0  # bytes transferred over the network
    attempts: int = 0
    resumed: bool = False


class _Retry(Exception):
    """A try failed in a way that another try may fix."""

    def __init__(self, message: str, *, retry_after: float | None = None, received: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.received = received  # bytes that arrived (and were kept in the partial file) before it failed


class Interrupted(FetchError):
    exit_code = 130


# -- progress -------------------------------------------------------------------------------------


class Progress:
    """Files and bytes done, on a stream: one redrawn line on a terminal, plain lines otherwise."""

    def __init__(
        self,
        *,
        total_files: int = 0,
        total_bytes: int = 0,
        stream: IO[str] | None = None,
        tty: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.files = 0
        self.bytes = 0
        self._lock = threading.Lock()
        self._last_draw = 0.0

    def begin(self, *, total_files: int, total_bytes: int, source: str = "") -> None:
        """What is about to be downloaded (when it was not known at construction), said before it starts."""
        with self._lock:
            self.total_files = total_files
            self.total_bytes = total_bytes
            where = f" from {source}" if source else ""
            print(
                f"downloading {total_files} file(s), {_size(total_bytes)}{where}"
                " (an interrupted run resumes where it stopped)",
                file=self.stream,
                flush=True,
            )

    def note(self, text: str) -> None:
        """A step that takes a while (reading the upstream's project pages), or what a file needs (file
        names are data: made one safe line)."""
        with self._lock:
            print(terminal_text(one_line(text)), file=self.stream, flush=True)

    def advance(self, n: int) -> None:
        with self._lock:
            self.bytes += n
            if self.tty and time.monotonic() - self._last_draw > 0.1:
                self._draw()

    def file_done(self, wanted: Wanted, outcome: str) -> None:
        with self._lock:
            self.files += 1
            if self.tty:
                self._draw()
            else:
                print(
                    terminal_text(
                        one_line(
                            f"[{self.files}/{self.total_files}] {outcome} {wanted.file.filename}"
                            f" ({_size(wanted.file.size)})"
                        )
                    ),
                    file=self.stream,
                )

    def retrying(self, wanted: Wanted, reason: str, delay: float) -> None:
        """Say that a try failed and when the next one starts (a long Retry-After must not look like a hang)."""
        with self._lock:
            # the file name is the catalog's and the reason the upstream's: data, on one safe line
            line = terminal_text(one_line(f"retrying {wanted.file.filename} in {delay:.1f}s: {reason}"))
            if self.tty:
                self.stream.write(f"\r{line}\x1b[K\n")
                self._draw()
            else:
                print(line, file=self.stream)

    def close(self) -> None:
        if self.tty:
            with self._lock:
                self._draw()
                self.stream.write("\n")
                self.stream.flush()

    def _draw(self) -> None:
        self._last_draw = time.monotonic()
        total = max(self.total_bytes, 1)
        frac = min(1.0, self.bytes / total)
        width = 24
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        self.stream.write(
            f"\r[{bar}] {self.files}/{self.total_files} files"
            f" {_size(self.bytes)}/{_size(self.total_bytes)}\x1b[K"
        )
        self.stream.flush()


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


# -- downloading ----------------------------------------------------------------------------------


class Fetcher:
    """Downloads into one cache through one HTTP client (:mod:`curate.httpclient`: proxies, logins,
    redirects, timeouts). Thread-safe; one per run."""

    def __init__(
        self,
        cache: Path,
        *,
        client: HttpClient | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Progress | None = None,
        login: tuple[str, ...] = (),
    ) -> None:
        """``client``: the run's HTTP client; without one, a client of its own with no proxy and no netrc
        (closed by :meth:`close`)."""
        self.cache = cache
        self._own_client = client is None
        self.http = client if client is not None else HttpClient({})
        self.login = login  # URLs whose user:password@ also serves their host (the configured index)
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.progress = progress
        self.cancelled = threading.Event()

    def partial_path(self, sha256: str) -> Path:
        return self.cache / "partial" / sha256

    def fetch(self, located: Located) -> Outcome:
        """Make the located file present in the cache, or raise FetchError."""
        wanted, url = located.wanted, located.url
        if blob_state(self.cache, wanted.file) == "verified":
            return Outcome(wanted=wanted, status="cached")
        partial = self.partial_path(wanted.sha256)
        # one download of a file at a time into this cache (another curate fetch, a second thread):
        # two would write one partial file at once; the second waits, then finds the file there
        held = wait_hold(
            partial.with_name(f"{wanted.sha256}.lock"),
            "curate fetch",
            cancelled=self.cancelled.is_set,
            on_wait=lambda pid, doing: self._waiting(wanted, pid),
        )
        if held is None:
            raise Interrupted("interrupted")
        try:
            state = blob_state(self.cache, wanted.file)
            if state == "verified":  # the run we waited for fetched it
                return Outcome(wanted=wanted, status="cached")
            if state == "altered" and self.progress is not None:
                self.progress.note(
                    f"the cached copy of {wanted.file.filename} is not the catalog's bytes"
                    f" (sha256 {wanted.sha256}): downloading it again"
                )
            return self._download(wanted, url, partial)
        finally:
            held.release()

    def _waiting(self, wanted: Wanted, pid: int | None) -> None:
        if self.progress is not None:
            who = f"another curate fetch (pid {pid})" if pid is not None else "another curate fetch"
            self.progress.note(f"waiting for {who} downloading {wanted.file.filename} into this cache")

    def _download(self, wanted: Wanted, url: str, partial: Path) -> Outcome:
        partial.parent.mkdir(parents=True, exist_ok=True)
        transferred = 0
        resumed = False
        restarted_after_mismatch = False
        attempt = 0
        while True:
            attempt += 1
            if self.cancelled.is_set():
                raise Interrupted("interrupted")
            try:
                got, was_resumed = self._try(wanted, url, partial)
                transferred += got
                resumed = resumed or was_resumed
                self._verify_and_store(wanted, url, partial, resumed=was_resumed)
                return Outcome(
                    wanted=wanted,
                    status="downloaded",
                    bytes=transferred,
                    attempts=attempt,
                    resumed=resumed,
                )
            except _Mismatch as exc:
                # Bytes resumed from an earlier run may be what is wrong: start over once from scratch.
                if exc.resumed and not restarted_after_mismatch:
                    restarted_after_mismatch = True
                    continue
                raise FetchError(str(exc)) from None
            except _Retry as exc:
                transferred += exc.received
                if attempt >= self.policy.attempts:
                    raise FetchError(
                        f"{wanted.file.filename}: giving up after {attempt} tries: {exc}\n"
                        f"    url: {split_credentials(url)[0]}"
                    ) from None
                delay = self.policy.delay(attempt)
                if exc.retry_after is not None:
                    delay = min(self.policy.max_retry_after, max(delay, exc.retry_after))
                if self.progress is not None:
                    self.progress.retrying(wanted, str(exc), delay)
                self.sleep(delay)

    def _try(self, wanted: Wanted, url: str, partial: Path) -> tuple[int, bool]:
        """One try: append to (or restart) the partial file; return (bytes received, resumed)."""
        scheme = urlsplit(url).scheme
        if scheme == "file":
            return self._copy_local(url, partial, wanted.file.size), False
        if scheme not in ("http", "https"):
            raise FetchError(f"{wanted.file.filename}: unsupported URL scheme in {split_credentials(url)[0]}")
        have = partial.stat().st_size if partial.exists() else 0
        if have > wanted.file.size:
            partial.unlink()
            have = 0
        if have == wanted.file.size:
            return 0, True  # complete already: verify it
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            resp = self.http.open(url, headers=headers, login=self.login)
        except ConnectError as exc:
            raise _Retry(f"connection failed: {exc.reason}") from None
        except LimitError as exc:
            raise _Retry(exc.reason) from None
        except HttpError as exc:
            raise FetchError(f"{wanted.file.filename}: {exc}") from None
        with resp:
            if resp.status in RETRY_STATUSES:
                raise _Retry(
                    f"HTTP {resp.status}",
                    retry_after=_retry_after(resp.headers.get("Retry-After")) if resp.status == 429 else None,
                )
            if resp.status == 206 and have:
                if not _range_starts_at(resp.headers.get("Content-Range", ""), have):
                    partial.unlink(missing_ok=True)
                    raise _Retry("server answered a different range; restarting")
                mode, resumed = "ab", True
            elif resp.status == 200:
                mode, resumed = "wb", False  # no range support (or a fresh start): start over
            elif resp.status in (401, 403):
                raise FetchError(
                    f"{wanted.file.filename}: HTTP {resp.status} from {resp.url}\n"
                    f"    hint: {refused_hint(resp.logged_in)}"
                )
            else:
                raise FetchError(
                    f"{wanted.file.filename}: HTTP {resp.status} from {resp.url}\n"
                    "    hint: is the upstream still serving this file?"
                )
            received = 0
            try:
                with partial.open(mode) as fh:
                    for chunk in resp.chunks(CHUNK):  # what has arrived: a cut body keeps its head
                        if self.cancelled.is_set():
                            resp.abort()  # stop now: reading the rest of a big file is not worth it
                            raise Interrupted("interrupted")
                        fh.write(chunk)
                        received += len(chunk)
                        if self.progress is not None:
                            self.progress.advance(len(chunk))
                        if (have if resumed else 0) + received > wanted.file.size:
                            resp.abort()  # the rest is not read: this connection cannot be reused
                            break  # more bytes than the catalog says: the hash check will tell
                    fh.flush()
                    os.fsync(fh.fileno())
            except TransferError as exc:
                raise _Retry(
                    f"download interrupted after {received} bytes: {exc.reason}", received=received
                ) from None
            except LimitError as exc:  # too slow, or past the deadline: what arrived is kept
                raise _Retry(f"{exc.reason} (after {received} bytes)", received=received) from None
            return received, resumed

    def _copy_local(self, url: str, partial: Path, size: int) -> int:
        source = Path(url2pathname(unquote(urlsplit(url).path)))
        try:
            with source.open("rb") as src, partial.open("wb") as dst:
                n = 0
                while n <= size and (chunk := src.read(CHUNK)):  # past the size: the hash check will tell
                    dst.write(chunk)
                    n += len(chunk)
                    if self.progress is not None:
                        self.progress.advance(len(chunk))
                dst.flush()
                os.fsync(dst.fileno())
        except FileNotFoundError:
            raise FetchError(f"{source}: no such file (from {url})") from None
        except OSError as exc:
            raise FetchError(f"cannot copy {source}: {exc}") from None
        return n

    def _verify_and_store(self, wanted: Wanted, url: str, partial: Path, *, resumed: bool) -> None:
        f = wanted.file
        digest = hashlib.sha256()
        size = 0
        with partial.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        received = digest.hexdigest()
        if size != f.size or received != f.sha256:
            partial.unlink(missing_ok=True)
            raise _Mismatch(
                f"{f.filename}: downloaded bytes do not match the catalog; nothing was kept\n"
                f"    expected sha256 {f.sha256} ({f.size} bytes)\n"
                f"    received sha256 {received} ({size} bytes)\n"
                f"    url: {split_credentials(url)[0]}\n"
                "    hint: the upstream now serves different bytes under this name; "
                "investigate before re-locking",
                resumed=resumed,
            )
        target = blob_path(self.cache, f.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)  # an altered copy is replaced (a hard link to it keeps the old bytes)
        record_verified(self.cache, f.sha256, target.stat())

    def close(self) -> None:
        if self._own_client:
            self.http.close()


class _Mismatch(Exception):
    def __init__(self, message: str, *, resumed: bool) -> None:
        super().__init__(message)
        self.resumed = resumed


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def _range_starts_at(content_range: str, start: int) -> bool:
    # "bytes 100-199/200"
    unit, _, rest = content_range.partition(" ")
    return unit == "bytes" and rest.split("-", 1)[0].strip() == str(start)


# -- a run ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class FetchReport:
    outcomes: tuple[Outcome, ...]
    errors: tuple[str, ...]
    seconds: float

    @property
    def downloaded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "downloaded"]

    @property
    def cached(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "cached"]


def fetch_all(
    cache: Path,
    wanted: list[Located],
    *,
    jobs: int = 8,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
    client: HttpClient | None = None,
    login: tuple[str, ...] = (),
) -> FetchReport:
    """Fetch every file with a thread pool; collect every error (one failure does not stop the rest).

    ``client``: the run's HTTP client (see :class:`Fetcher`)."""
    start = time.monotonic()
    fetcher = Fetcher(cache, client=client, policy=policy, sleep=sleep, progress=progress, login=login)
    outcomes: list[Outcome] = []
    errors: list[tuple[str, str]] = []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="fetch")
    try:
        futures = {pool.submit(fetcher.fetch, item): item.wanted for item in wanted}
        for future in concurrent.futures.as_completed(futures):
            w = futures[future]
            try:
                outcome = future.result()
            except Interrupted:
                continue
            except FetchError as exc:
                errors.append((w.file.filename, str(exc)))
                if progress is not None:
                    progress.file_done(w, "FAILED")
                continue
            outcomes.append(outcome)
            if progress is not None:
                progress.file_done(w, outcome.status)
    except BaseException:
        fetcher.cancelled.set()  # workers stop at their next chunk; partial files stay in partial/
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        fetcher.close()
        if progress is not None:
            progress.close()
    return FetchReport(
        outcomes=tuple(sorted(outcomes, key=lambda o: o.wanted.file.filename)),
        errors=tuple(msg for _, msg in sorted(errors)),
        seconds=time.monotonic() - start,
    )


# -- the fetch stage ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class CatalogFetch:
    """What ``curate fetch`` found and did."""

    cache: Path
    wanted: int  # files the catalog needs (one per sha256)
    missing: tuple[Wanted, ...]  # of those, the ones the cache lacked before the run
    report: FetchReport | None  # the downloads; None when offline or when nothing was missing
    index_url: str = ""  # where the missing files were looked up ("" when nothing was), without a login


def fetch_catalog(
    root: Path,
    *,
    env: Mapping[str, str],
    cache_dir: Path | None = None,
    offline: bool = False,
    jobs: int = 8,
    policy: RetryPolicy | None = None,
    progress: Progress | None = None,
) -> CatalogFetch:
    """Make the cache hold every file of ``root``'s catalog (offline: only say which are missing).

    The missing files are looked up on the upstream's project pages first (:mod:`curate.locate`); a file
    that cannot be located (not listed, other bytes under its name, an unreadable page) is an error in the
    report and the others are still downloaded. One HTTP client, built from ``env``, serves the run
    (proxies, netrc); the configured index URL's login also serves the files on its host."""
    config = load_config(root)
    cache = cache_root(root, config, env, cache_dir)
    wanted = wanted_files(load_catalog_fast(root).values())
    missing = tuple(missing_files(cache, wanted))
    if offline or not missing:
        return CatalogFetch(cache=cache, wanted=len(wanted), missing=missing, report=None)
    start = time.monotonic()
    with_wheels = {normalize(w.project) for w in missing if w.file.is_wheel}
    projects = sorted({normalize(w.project) for w in missing}, key=lambda n: (n not in with_wheels, n))
    index_url = index_url_for(config, env, projects)
    shown = split_credentials(index_url)[0]
    if progress is not None:
        progress.note(
            f"{len(missing)} file(s), {_size(sum(w.file.size for w in missing))}, missing from the cache;"
            f" reading {len(projects)} project page(s) on {shown}"
        )
    login = (config.index_url,) if config.index_url else ()
    with HttpClient(env, limits=config.http_limits()) as client:
        found = locate(index_url, missing, client=client)
        if found.located:
            if progress is not None:
                progress.begin(
                    total_files=len(found.located),
                    total_bytes=sum(x.wanted.file.size for x in found.located),
                    source=shown,
                )
            report = fetch_all(
                cache,
                list(found.located),
                jobs=jobs,
                policy=policy,
                progress=progress,
                client=client,
                login=login,
            )
        else:
            report = FetchReport(outcomes=(), errors=(), seconds=0.0)
    report = dataclasses.replace(
        report, errors=found.problems + report.errors, seconds=time.monotonic() - start
    )
    return CatalogFetch(cache=cache, wanted=len(wanted), missing=missing, report=report, index_url=shown)
