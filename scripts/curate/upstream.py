"""Reading the upstream index: one project's files with sha256, size, upload time, requires-python, yanked.

Asks for the PEP 691 JSON page and falls back to PEP 503 HTML (where the size is unknown, -1, until
:func:`file_sizes` asks with ``HEAD`` for the files actually kept, and the upload time is unknown). The
index URL is always given by the caller: the configured ``upstream.index_url``, or the index uv reported
it resolved from; this module has no default. Requests go through :mod:`curate.httpclient`.
"""

from __future__ import annotations

import dataclasses
import json
import re
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
        files = parse_json(page.body, page.url, project=name)
    else:
        files = parse_html(page.body.decode("utf-8", "replace"), page.url, project=name)
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


_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def _sha256(hashes: Any, where: str) -> str:
    if isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str):
        value = str(hashes["sha256"])
        if not _SHA256.match(value):
            raise UpstreamError(
                f"{where}: the sha256 the upstream gives is not 64 hex digits: {value[:80]!r}"
            )
        return value.lower()
    raise UpstreamError(f"{where}: the upstream gives no sha256 for this file (curate needs one)")


def _checked_filename(filename: str, where: str) -> str:
    """A file name the upstream gives: one plain name (it becomes a path under ``public/files/``)."""
    if (
        not filename
        or filename != filename.strip()
        or any(c in filename for c in "/\\\0")
        or filename.startswith(".")
        or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in filename)
    ):
        raise UpstreamError(f"{where}: not a plain file name: {filename[:200]!r}")
    return filename


def _checked_url(url: str, page_url: str) -> str:
    """A file URL the page gives: http(s) only, and ``file:`` only from a local (``file:``) index.

    An upstream must not make ``curate fetch`` copy a file of the machine it runs on (``file:///dev/zero``).
    """
    scheme, page_scheme = urlsplit(url).scheme.lower(), urlsplit(page_url).scheme.lower()
    if scheme in ("http", "https") or (scheme == "file" and page_scheme == "file"):
        return url
    raise UpstreamError(
        f"{split_credentials(page_url)[0]}: a file URL with a scheme curate does not download from:"
        f" {split_credentials(url)[0]}"
    )


def _yanked(value: Any) -> str | None:
    if value is None or value is False:
        return None
    if value is True:
        return ""
    return str(value)


def _kind(value: object) -> str:
    """What a JSON value is, for a message: "a dict", "a string", ..."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number"}
    names[float] = "a number"
    return names.get(type(value), "null" if value is None else type(value).__name__)


def _optional_text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if value is None or value is False:
        return ""
    if not isinstance(value, str):
        raise UpstreamError(f"{where}: '{key}' is {_kind(value)}, not a string")
    return value


def parse_json(body: bytes, page_url: str, *, project: str = "") -> list[ListedFile]:
    """Files from a PEP 691 JSON project page (PEP 700 ``size`` and ``upload-time`` when present).

    Anything that is not such a page (not JSON, nested too deeply, ``files`` not a list, an item without
    ``url`` or ``filename``, a value of the wrong type) is an :class:`UpstreamError` on one line, naming
    the project and the page, and what is wrong.
    """
    page = split_credentials(page_url)[0]
    what = f"the upstream's page for {project!r} ({page})" if project else f"the upstream page {page}"
    try:
        data = json.loads(body)
    except RecursionError:
        raise UpstreamError(f"{what}: not a PEP 691 project page: JSON nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise UpstreamError(f"{what}: not a PEP 691 project page: not UTF-8 ({exc.reason})") from None
    except ValueError as exc:
        raise UpstreamError(f"{what}: not a PEP 691 project page: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UpstreamError(
            f"{what}: not a PEP 691 project page: the top level is {_kind(data)}, not an object"
        )
    if "files" not in data:
        raise UpstreamError(f"{what}: not a PEP 691 project page: no 'files' key")
    items = data["files"]
    if not isinstance(items, list):
        raise UpstreamError(f"{what}: 'files' is {_kind(items)}, not a list")
    out = []
    for i, item in enumerate(items):
        where = f"{what}: files[{i}]"
        if not isinstance(item, dict):
            raise UpstreamError(f"{where} is {_kind(item)}, not an object")
        for key in ("filename", "url"):
            if key not in item:
                raise UpstreamError(f"{where} has no '{key}'")
            if not isinstance(item[key], str):
                raise UpstreamError(f"{where}: '{key}' is {_kind(item[key])}, not a string")
        filename = _checked_filename(item["filename"], where)
        url = _checked_url(urldefrag(urljoin(page_url, item["url"]))[0], page_url)
        size = item.get("size")
        yanked = item.get("yanked")
        if not (yanked is None or isinstance(yanked, bool | str)):
            raise UpstreamError(f"{where}: 'yanked' is {_kind(yanked)}, not a boolean or a string")
        out.append(
            ListedFile(
                filename=filename,
                url=url,
                sha256=_sha256(item.get("hashes"), f"{where} ({filename})"),
                size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else -1,
                upload_time=_optional_text(item, "upload-time", where),
                requires_python=_optional_text(item, "requires-python", where),
                yanked=_yanked(yanked),
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


def parse_html(text: str, page_url: str, *, project: str = "") -> list[ListedFile]:
    """Files from a PEP 503 HTML project page; ``size`` is -1 (unknown) for the caller to fill in."""
    page = split_credentials(page_url)[0]
    what = f"the upstream's page for {project!r} ({page})" if project else f"the upstream page {page}"
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
        where = f"{what}: the link to {url}"
        filename = _checked_filename(label or url.rsplit("/", 1)[-1], where)
        yanked = attrs.get("data-yanked")
        out.append(
            ListedFile(
                filename=filename,
                url=url,
                sha256=_sha256(hashes, where),
                size=-1,
                requires_python=attrs.get("data-requires-python") or "",
                yanked=None if "data-yanked" not in attrs else (yanked or ""),
            )
        )
    return out
