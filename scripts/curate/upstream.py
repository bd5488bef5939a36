"""Reading the upstream index: one project's files with sha256, size, upload time, requires-python, yanked.

Asks for the PEP 691 JSON page and falls back to PEP 503 HTML (where the size is unknown, -1, until
:func:`file_sizes` asks with ``HEAD`` for the files actually kept, and the upload time is unknown). The
index URL is always given by the caller: the configured ``upstream.index_url``, or the index uv reported
it resolved from; this module has no default. Requests go through :mod:`curate.httpclient`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from curate.auth import split_credentials
from curate.errors import CurateError
from curate.httpclient import HttpClient
from curate.names import NormalizedName

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


class UpstreamError(CurateError):
    """The upstream index could not be read, or gave something curate cannot use."""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ListedFile:
    """One file as the upstream's project page lists it."""

    filename: str
    url: str  # absolute, without fragment
    sha256: str
    size: int
    upload_time: str = ""
    requires_python: str = ""
    yanked: str | None = None  # None = not yanked; the reason otherwise ("" means no reason given)


def project_url(index_url: str, name: str) -> str:
    return urljoin(index_url if index_url.endswith("/") else index_url + "/", f"{name}/")


def project_files(
    index_url: str, name: NormalizedName, *, client: HttpClient | None = None
) -> list[ListedFile]:
    """Every file the upstream lists for ``name``, sorted by filename.

    ``client``: the run's HTTP client (proxies and netrc from the CLI's environment); without one, a
    client with neither. The index URL's own ``user:password@`` serves the whole of its origin."""
    http = client if client is not None else HttpClient({})
    page = http.get(project_url(index_url, name), accept=ACCEPT, login=(index_url,))
    ctype = page.content_type
    if ctype == JSON_TYPE or ctype.endswith("+json") or ctype == "application/json":
        files = parse_json(page.body, page.url)
    else:
        files = parse_html(page.body.decode("utf-8", "replace"), page.url)
    return sorted(files, key=lambda f: f.filename)


def file_size(url: str, login: tuple[str, ...] = (), *, client: HttpClient | None = None) -> int:
    """A file's size from a ``HEAD`` request, for pages that do not give it (PEP 503 HTML)."""
    http = client if client is not None else HttpClient({})
    length = http.head(url, login=login).get("Content-Length")
    if length is None or not length.strip().isdigit():
        raise UpstreamError(f"{split_credentials(url)[0]}: the upstream gives no size for this file")
    return int(length)


def file_sizes(
    urls: Iterable[str], *, workers: int = 8, login: tuple[str, ...] = (), client: HttpClient | None = None
) -> dict[str, int]:
    """Sizes of several files, ``HEAD`` requests in parallel: only for files the catalog keeps.

    ``login``: URLs whose ``user:password@`` also serves the files on their host (the configured index)."""
    todo = sorted(set(urls))
    if not todo:
        return {}
    http = client if client is not None else HttpClient({})
    with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
        return dict(zip(todo, pool.map(lambda u: file_size(u, login, client=http), todo), strict=True))


def many_project_files(
    index_url_of: Mapping[NormalizedName, str], *, workers: int = 8, client: HttpClient | None = None
) -> dict[NormalizedName, list[ListedFile]]:
    """Fetch several projects' pages in parallel (each project from its own index)."""
    names = sorted(index_url_of)
    if not names:
        return {}
    http = client if client is not None else HttpClient({})
    with ThreadPoolExecutor(max_workers=min(workers, len(names))) as pool:
        results = list(pool.map(lambda n: project_files(index_url_of[n], n, client=http), names))
    return dict(zip(names, results, strict=True))


def _sha256(hashes: Any, where: str) -> str:
    if isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str):
        return str(hashes["sha256"]).lower()
    raise UpstreamError(f"{where}: the upstream gives no sha256 for this file (curate needs one)")


def _checked_url(url: str, page_url: str) -> str:
    """A file URL the page gives: http(s) only, and ``file:`` only from a local (``file:``) index.

    An upstream must not make ``curate fetch`` copy a file of the machine it runs on (``file:///dev/zero``).
    """
    scheme, page_scheme = urlsplit(url).scheme.lower(), urlsplit(page_url).scheme.lower()
    if scheme in ("http", "https") or (scheme == "file" and page_scheme == "file"):
        return url
    raise UpstreamError(f"{page_url}: a file URL with a scheme curate does not download from: {url}")


def _yanked(value: Any) -> str | None:
    if value is None or value is False:
        return None
    if value is True:
        return ""
    return str(value)


def parse_json(body: bytes, page_url: str) -> list[ListedFile]:
    """Files from a PEP 691 JSON project page (PEP 700 ``size`` and ``upload-time`` when present)."""
    try:
        data = json.loads(body)
        items = data["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamError(f"{page_url}: not a PEP 691 project page ({exc})") from exc
    out = []
    for item in items:
        url = _checked_url(urldefrag(urljoin(page_url, str(item["url"])))[0], page_url)
        size = item.get("size")
        out.append(
            ListedFile(
                filename=str(item["filename"]),
                url=url,
                sha256=_sha256(item.get("hashes"), url),
                size=int(size) if isinstance(size, int) else -1,
                upload_time=str(item.get("upload-time") or ""),
                requires_python=str(item.get("requires-python") or ""),
                yanked=_yanked(item.get("yanked")),
            )
        )
    return out


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[dict[str, str | None], str]] = []
        self._current: dict[str, str | None] | None = None
        self._text: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base":
            self.base = dict(attrs).get("href") or self.base
        elif tag == "a":
            self._current = dict(attrs)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.links.append((self._current, "".join(self._text).strip()))
            self._current = None


def parse_html(text: str, page_url: str) -> list[ListedFile]:
    """Files from a PEP 503 HTML project page; ``size`` is -1 (unknown) for the caller to fill in."""
    parser = _Links()
    parser.feed(text)
    base = urljoin(page_url, parser.base) if parser.base else page_url
    out = []
    for attrs, label in parser.links:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(base, href))
        url = _checked_url(url, page_url)
        hashes = dict(part.split("=", 1) for part in fragment.split("&") if "=" in part)
        filename = label or url.rsplit("/", 1)[-1]
        yanked = attrs.get("data-yanked")
        out.append(
            ListedFile(
                filename=filename,
                url=url,
                sha256=_sha256(hashes, url),
                size=-1,
                requires_python=attrs.get("data-requires-python") or "",
                yanked=None if "data-yanked" not in attrs else (yanked or ""),
            )
        )
    return out
