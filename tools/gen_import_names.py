#!/usr/bin/env python3
"""Generate scripts/curate/data/import_names.json: import name -> distribution, from real wheels.

For each distribution (most popular first) the script fetches the PEP 691 JSON project page from the
upstream simple index given with ``--index-url``, picks a wheel of the newest release that has one, and
reads only the zip's central directory plus ``*.dist-info/top_level.txt`` (or ``RECORD`` when there is no
top_level.txt) with HTTP Range requests: no wheel is downloaded whole. Results are cached in a local JSON
file, so an interrupted or repeated run only fetches what it has not seen yet.

The output keeps an import name only when it differs from the distribution's normalized name, is public
(no leading underscore), is not a test/docs directory, and is not a namespace shared by many
distributions. When a few distributions provide the same import name the most popular one wins. An import
name that is itself the name of a popular distribution is dropped (a request for it is right: docopt,
pyspark and jupyter are real distributions even though their module comes in an sdist or a dependency).
``ALWAYS`` (the names the issue lists, among them the placeholder ``sklearn`` and the shim ``bs4``) and
``MISLEADING`` (a popular distribution of that name that is another project) are kept regardless.

Usage:
    python tools/gen_import_names.py --index-url URL --top-list pypi.tsv --top 5000
    python tools/gen_import_names.py --index-url URL requests PyYAML ...   # explicit names

``--top-list`` is a TSV file with a header and the columns name, version, month, rank, summary; rows
without a rank are ignored and the rest are taken in rank order. The index host is never written to the
output.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import datetime as dt
import html.parser
import http.client
import json
import os
import re
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "scripts" / "curate" / "data" / "import_names.json"
DEFAULT_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "curate" / "import-names.json"
)
ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"  # PEP 691, falling back to PEP 503
MAX_WORKERS = 8
TAIL = 64 * 1024
# The issue names these; they are always kept even though a small distribution has the import name too.
ALWAYS = ("yaml", "cv2", "sklearn", "PIL", "MySQLdb", "bs4", "dateutil", "jwt", "Crypto", "attr")
# Popular distributions whose name is another project's import name, and which are not what people who
# type it mean: the distribution of that name is an unrelated or abandoned project.
MISLEADING = ("dotenv", "bson", "Bio")
# Not import names anyone types: test suites, docs, build helpers that leak into wheels.
SKIP = frozenset(
    {"test", "tests", "testing", "doc", "docs", "example", "examples", "benchmark", "benchmarks", "bench"}
    | {"scripts", "script", "src", "lib", "bin", "tools", "utils", "build", "dist", "samples", "demo"}
    | {"__pycache__", "site-packages", "share", "include", "data", "conftest", "setup", "main"}
)
SHARED_LIMIT = 4  # an import name provided by this many distributions or more is a shared namespace
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class FetchError(Exception):
    pass


# -- HTTP with one keep-alive connection per thread and host -----------------------------------------


class Http:
    def __init__(self) -> None:
        self._local = threading.local()
        self._ssl = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None)

    def _conn(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        conns: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault("c", {})
        conn = conns.get((scheme, netloc))
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(netloc, timeout=60, context=self._ssl)
            else:
                conn = http.client.HTTPConnection(netloc, timeout=60)
            conns[(scheme, netloc)] = conn
        return conn

    def _drop(self, scheme: str, netloc: str) -> None:
        conns: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault("c", {})
        conn = conns.pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def get(self, url: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
        """GET ``url``; returns (status, body, final url). Follows up to 5 redirects, retries twice."""
        for _redirect in range(5):
            parts = urllib.parse.urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            for attempt in range(3):
                conn = self._conn(parts.scheme, parts.netloc)
                try:
                    conn.request(
                        "GET", path or "/", headers={"User-Agent": "curate-gen-import-names", **headers}
                    )
                    resp = conn.getresponse()
                    body = resp.read()
                    status = resp.status
                    location = resp.getheader("Location")
                    break
                except (OSError, http.client.HTTPException) as exc:
                    self._drop(parts.scheme, parts.netloc)
                    if attempt == 2:
                        raise FetchError(f"{type(exc).__name__}: {exc}") from exc
                    time.sleep(1 + attempt)
            if status in (301, 302, 303, 307, 308) and location:
                url = urllib.parse.urljoin(url, location)
                continue
            if status in (429, 500, 502, 503, 504):
                time.sleep(2)
                continue
            return status, body, url
        raise FetchError(f"too many redirects or retries for {url}")

    def range(self, url: str, spec: str) -> bytes:
        status, body, _ = self.get(url, {"Range": f"bytes={spec}"})
        if status != 206:
            raise FetchError(f"HTTP {status} for a range request (the server must support Range)")
        return body


# -- reading a remote wheel's zip directory ----------------------------------------------------------


def _central_directory(http: Http, url: str) -> bytes:
    """The zip's central directory, read from the end of the file with one or two Range requests."""
    tail = http.range(url, f"-{TAIL}")
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        raise FetchError("no end-of-central-directory record in the last 64 KiB")
    cd_size, cd_offset = struct.unpack("<LL", tail[pos + 12 : pos + 20])
    if cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF:
        loc = tail.rfind(b"PK\x06\x07", 0, pos)
        if loc < 0:
            raise FetchError("zip64 locator missing")
        (z64_offset,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
        rec = http.range(url, f"{z64_offset}-{z64_offset + 55}")
        cd_size, cd_offset = struct.unpack("<QQ", rec[40:56])
    if cd_size <= pos and tail[pos - cd_size : pos - cd_size + 4] == b"PK\x01\x02":
        return tail[pos - cd_size : pos]  # the tail already holds it
    return http.range(url, f"{cd_offset}-{cd_offset + cd_size - 1}")


def _entries(cd: bytes) -> dict[str, tuple[int, int, int]]:
    """name -> (method, compressed size, local header offset)."""
    out: dict[str, tuple[int, int, int]] = {}
    i = 0
    while i + 46 <= len(cd) and cd[i : i + 4] == b"PK\x01\x02":
        method, csize, nlen, elen, clen, offset = (
            struct.unpack("<H", cd[i + 10 : i + 12])[0],
            struct.unpack("<L", cd[i + 20 : i + 24])[0],
            *struct.unpack("<HHH", cd[i + 28 : i + 34]),
            struct.unpack("<L", cd[i + 42 : i + 46])[0],
        )
        name = cd[i + 46 : i + 46 + nlen].decode("utf-8", "replace")
        out[name] = (method, csize, offset)
        i += 46 + nlen + elen + clen
    return out


def _read_member(http: Http, url: str, entry: tuple[int, int, int]) -> bytes:
    method, csize, offset = entry
    if csize > 8 * 1024 * 1024:
        raise FetchError("member too large")
    blob = http.range(url, f"{offset}-{offset + 30 + csize + 2048}")
    if blob[:4] != b"PK\x03\x04":
        raise FetchError("bad local header")
    nlen, elen = struct.unpack("<HH", blob[26:30])
    start = 30 + nlen + elen
    if len(blob) < start + csize:
        blob += http.range(url, f"{offset + len(blob)}-{offset + start + csize}")
    raw = blob[start : start + csize]
    if method == 0:
        return raw
    if method == 8:
        return zlib.decompress(raw, -15)
    raise FetchError(f"unsupported compression method {method}")


def top_level_names(names: Iterable[str]) -> list[str]:
    """Top-level import names from a wheel's file list (RECORD paths or the zip's own listing)."""
    out: set[str] = set()
    for path in names:
        first, _, rest = path.partition("/")
        if first.endswith((".dist-info", ".data")) or not first:
            continue
        if not rest:
            stem, dot, ext = first.partition(".")
            if (dot and ext in ("py", "pyc")) or (dot and (ext.endswith(("so", "pyd")) or ".cpython" in ext)):
                out.add(stem)
            continue
        out.add(first)
    return sorted(out)


def _metadata_name(http: Http, url: str, entries: dict[str, tuple[int, int, int]]) -> str | None:
    """The ``Name:`` header of the wheel's METADATA, read from the first few KiB of the member."""
    member = next((n for n in entries if re.match(r"^[^/]+\.dist-info/METADATA$", n)), None)
    if member is None:
        return None
    method, csize, offset = entries[member]
    blob = http.range(url, f"{offset}-{offset + 30 + min(csize, 4096) + 1024}")
    nlen, elen = struct.unpack("<HH", blob[26:30])
    raw = blob[30 + nlen + elen : 30 + nlen + elen + min(csize, 4096)]
    text = (zlib.decompressobj(-15).decompress(raw) if method == 8 else raw).decode("utf-8", "replace")
    m = re.search(r"^Name:\s*(\S+)\s*$", text, re.M)
    return m[1] if m else None


def inspect_wheel(http: Http, url: str) -> dict[str, Any]:
    cd = _central_directory(http, url)
    entries = _entries(cd)
    info = _listing_info(http, url, entries)
    name = _metadata_name(http, url, entries)
    if name:
        info["display"] = name
    return info


def _listing_info(http: Http, url: str, entries: dict[str, tuple[int, int, int]]) -> dict[str, Any]:
    top = next((n for n in entries if re.match(r"^[^/]+\.dist-info/top_level\.txt$", n)), None)
    if top is not None:
        text = _read_member(http, url, entries[top]).decode("utf-8", "replace")
        names = sorted({line.strip().split("/")[0] for line in text.splitlines() if line.strip()})
        return {"source": "top_level.txt", "top_level": names}
    record = next((n for n in entries if re.match(r"^[^/]+\.dist-info/RECORD$", n)), None)
    if record is not None:
        text = _read_member(http, url, entries[record]).decode("utf-8", "replace")
        paths = [row[0] for row in csv.reader(text.splitlines()) if row]
        return {"source": "RECORD", "top_level": top_level_names(paths)}
    return {"source": "listing", "top_level": top_level_names(entries)}


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            a = dict(attrs)
            href = a.get("href") or ""
            self._current = {"url": href, "filename": "", "yanked": "data-yanked" in a}

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current["filename"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self._current["filename"] = self._current["filename"].strip()
            self.files.append(self._current)
            self._current = None


def parse_html_page(text: str) -> dict[str, Any]:
    """A PEP 503 HTML project page as the PEP 691 JSON structure (only what we use)."""
    parser = _Links()
    parser.feed(text)
    return {"files": parser.files}


def newest_wheel(page: dict[str, Any]) -> tuple[str, str, str] | None:
    """(filename, url, version) of a wheel of the newest release that has one."""
    best: tuple[Version, str, str] | None = None
    for f in page.get("files", []):
        filename = f.get("filename", "")
        if not filename.endswith(".whl") or f.get("yanked"):
            continue
        try:
            _name, version, _build, _tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        if version.is_prerelease or version.is_devrelease:
            continue
        if best is None or (version, filename) > (best[0], best[1]):
            best = (version, filename, f["url"])
    if best is None:
        return None
    return best[1], best[2], str(best[0])


def examine(http: Http, index_url: str, name: str) -> dict[str, Any]:
    page_url = urllib.parse.urljoin(index_url, f"{canonicalize_name(name)}/")
    try:
        status, body, final = http.get(page_url, {"Accept": ACCEPT})
        if status == 404:
            return {"error": "not found"}
        if status != 200:
            return {"error": f"HTTP {status}"}
        page = (
            json.loads(body)
            if body.lstrip()[:1] == b"{"
            else parse_html_page(body.decode("utf-8", "replace"))
        )
        wheel = newest_wheel(page)
        if wheel is None:
            return {"error": "no wheel"}
        filename, url, version = wheel
        info = inspect_wheel(http, urllib.parse.urljoin(final, url))
    except (FetchError, ValueError, zlib.error, struct.error) as exc:
        return {"error": str(exc)[:200]}
    display = filename.split("-")[0].replace("_", "-")
    return {"wheel": filename, "version": version, "display": display} | info


# -- cache and ranking -------------------------------------------------------------------------------


def read_top_list(path: Path, limit: int) -> list[str]:
    ranked: list[tuple[int, str]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        next(reader, None)
        for row in reader:
            if len(row) >= 4 and row[3].strip().isdigit():
                ranked.append((int(row[3]), row[0]))
    ranked.sort()
    return [name for _rank, name in ranked[:limit]]


def load_cache(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data: dict[str, dict[str, Any]] = json.loads(path.read_text("utf-8"))["projects"]
    except (OSError, ValueError, KeyError):
        return {}
    return data


def save_cache(path: Path, projects: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".import-names.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"projects": projects}, fh, sort_keys=True)
    os.replace(tmp, path)


def build_mapping(
    order: Sequence[str], projects: dict[str, dict[str, Any]], popular: Iterable[str] = ()
) -> dict[str, str]:
    """Import name -> distribution display name, following the rules in the module docstring.

    ``order`` is the examined distributions, most popular first; ``popular`` every distribution name
    that counts as popular (the whole ranked list), whether examined or not.
    """
    rank: dict[str, int] = {canonicalize_name(n): i for i, n in enumerate(order)}
    known = {canonicalize_name(n) for n in popular} | set(rank)
    providers: dict[str, list[str]] = {}
    for name in order:
        info = projects.get(canonicalize_name(name), {})
        for mod in info.get("top_level", []):
            providers.setdefault(mod, []).append(canonicalize_name(name))
    out: dict[str, str] = {}
    for mod, dists in providers.items():
        if not IDENTIFIER.match(mod) or mod.lower() in SKIP:
            continue
        best = min(dists, key=lambda d: rank[d])
        if canonicalize_name(mod) == best:
            continue
        if mod not in ALWAYS and mod not in MISLEADING:
            if len(dists) >= SHARED_LIMIT:
                continue  # a namespace (google, azure, jaraco, ...)
            if canonicalize_name(mod) in known:
                # a popular distribution in its own right: a request for it is right, whether it provides
                # the module in a wheel, only in an sdist (docopt, crcmod, pyspark) or through a dependency
                # (jupyter, pydantic-ai, ansible): the hint is an error in `curate check`, and a wrong one
                # refuses a real request. Only ALWAYS and MISLEADING name such a distribution.
                continue
        out[mod] = projects[best].get("display") or best
    return dict(sorted(out.items(), key=lambda kv: kv[0].lower()))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index-url", required=True, help="upstream simple index URL (PEP 691 JSON capable)")
    p.add_argument("--top-list", type=Path, help="TSV with ranked distribution names")
    p.add_argument("--top", type=int, default=5000, help="how many ranked names to examine (default 5000)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"cache file (default {DEFAULT_CACHE})")
    p.add_argument("--output", type=Path, default=OUTPUT, help="where to write the mapping")
    p.add_argument("--workers", type=int, default=MAX_WORKERS, help=f"connections (at most {MAX_WORKERS})")
    p.add_argument("--retry-errors", action="store_true", help="re-examine names that failed last time")
    p.add_argument("names", nargs="*", help="distribution names, most popular first")
    args = p.parse_args(argv)
    index_url = args.index_url if args.index_url.endswith("/") else args.index_url + "/"
    order: list[str] = list(args.names)
    if args.top_list:
        order += read_top_list(args.top_list, args.top)
    order = list(dict.fromkeys(order))
    popular = read_top_list(args.top_list, 10**9) if args.top_list else order
    if not order:
        p.error("give distribution names or --top-list")
    projects = load_cache(args.cache)
    todo = [
        n
        for n in order
        if canonicalize_name(n) not in projects
        or (args.retry_errors and "error" in projects[canonicalize_name(n)])
    ]
    print(
        f"{len(order)} distributions, {len(order) - len(todo)} cached, {len(todo)} to examine",
        file=sys.stderr,
    )
    http = Http()
    lock = threading.Lock()
    done = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, args.workers))) as pool:
        futures = {pool.submit(examine, http, index_url, n): n for n in todo}
        try:
            for fut in concurrent.futures.as_completed(futures):
                name = futures[fut]
                with lock:
                    projects[canonicalize_name(name)] = fut.result()
                    done += 1
                    if done % 200 == 0:
                        save_cache(args.cache, projects)
                        print(f"  {done}/{len(todo)}", file=sys.stderr)
        finally:
            with contextlib.suppress(OSError):
                save_cache(args.cache, projects)
    mapping = build_mapping(order, projects, popular)
    examined = [projects.get(canonicalize_name(n), {}) for n in order]
    result = {
        "comment": "generated by tools/gen_import_names.py from wheels' top_level.txt / RECORD; do not edit",
        "generated": dt.date.today().isoformat(),
        "counts": {
            "distributions_examined": len(order),
            "with_wheel": sum(1 for e in examined if "top_level" in e),
            "from_top_level_txt": sum(1 for e in examined if e.get("source") == "top_level.txt"),
            "from_record": sum(1 for e in examined if e.get("source") in ("RECORD", "listing")),
            "without_wheel": sum(1 for e in examined if e.get("error") == "no wheel"),
            "errors": sum(1 for e in examined if e.get("error") not in (None, "no wheel")),
            "import_names": len(mapping),
        },
        "import_names": mapping,
    }
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {len(mapping)} import names to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
