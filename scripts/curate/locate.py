"""Where the catalog's files are on the upstream: each file's URL, found by name on its project's page
and checked by sha256.

The catalog records no URL (:mod:`curate.catalog`), only names and hashes, so it moves between upstreams
(the public index, a mirror, a repository manager's proxy of it) without a re-lock. ``curate fetch`` and
a link-mode ``curate build`` read the project pages (PEP 691 JSON, PEP 503 HTML as the fallback:
:func:`curate.upstream.project_files`) of the configured ``upstream.index_url``, or, when none is
configured, of the index uv resolves from (:func:`curate.resolve.default_index`), and take the URL the
page gives for each file's name.

The sha256 decides: a page that lists the name with another sha256 is refused, naming both hashes, and
nothing is downloaded; a file the page lists under another name with the catalog's sha256 is taken (the
bytes are what was vetted). The downloaded bytes are checked against the catalog again (:mod:`curate.fetch`).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from curate.auth import split_credentials
from curate.cache import Wanted
from curate.catalog import FileEntry
from curate.config import Config
from curate.errors import CurateError
from curate.httpclient import HttpClient
from curate.names import NormalizedName, normalize
from curate.upstream import ListedFile, project_files, project_url

PAGE_WORKERS = 8  # project pages read at once


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Located:
    """A file the catalog needs, and where the upstream serves it."""

    wanted: Wanted
    url: str

    @property
    def file(self) -> FileEntry:
        return self.wanted.file

    @property
    def sha256(self) -> str:
        return self.wanted.file.sha256


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Locating:
    """What reading the upstream's project pages found: a URL per file, or why there is none."""

    index_url: str
    located: tuple[Located, ...]
    problems: tuple[str, ...]  # one message per file (or per project whose page could not be read)
    pages: int  # project pages read


def index_url_for(config: Config, env: Mapping[str, str], projects: Sequence[str]) -> str:
    """The index to look files up on: ``upstream.index_url``, else the index uv resolves from (asked
    about the first of ``projects`` it can resolve; put projects with wheels first)."""
    if config.index_url:
        return config.index_url
    from curate.resolve import default_index

    return default_index(projects, env=env)


def _display(url: str) -> str:
    return split_credentials(url)[0]


def match(wanted: Wanted, listed: Sequence[ListedFile], page: str) -> Located | str:
    """The upstream's URL for ``wanted`` among the files its project page lists, or why there is none."""
    f = wanted.file
    same_name = next((x for x in listed if x.filename == f.filename), None)
    if same_name is not None and same_name.sha256 == f.sha256:
        return Located(wanted=wanted, url=same_name.url)
    same_bytes = next((x for x in listed if x.sha256 == f.sha256), None)
    if same_bytes is not None:
        return Located(wanted=wanted, url=same_bytes.url)
    if same_name is not None:
        return (
            f"{f.filename}: the upstream lists other bytes under this name; nothing was downloaded\n"
            f"    catalog sha256  {f.sha256}\n"
            f"    upstream sha256 {same_name.sha256}\n"
            f"    page: {page}\n"
            "    hint: the catalog's file was vetted as those bytes: find out why the upstream differs "
            "(a mirror that rebuilt it?) before re-locking, or point upstream.index_url at one that serves it"
        )
    return (
        f"{f.filename}: the upstream does not list this file (sha256 {f.sha256})\n"
        f"    page: {page}\n"
        "    hint: is this the upstream the catalog was locked from? set upstream.index_url in "
        "catalog/config.yaml to one that serves it"
    )


def locate(
    index_url: str,
    wanted: Sequence[Wanted],
    *,
    client: HttpClient,
    workers: int = PAGE_WORKERS,
    on_page: Callable[[], None] | None = None,
) -> Locating:
    """Read the project page of every project in ``wanted`` from ``index_url`` (a few at a time) and
    find each file's URL; every file that cannot be located is a problem, none stops the others."""
    by_project: dict[NormalizedName, list[Wanted]] = defaultdict(list)
    for w in wanted:
        by_project[normalize(w.project)].append(w)
    names = sorted(by_project)

    def read(name: NormalizedName) -> list[ListedFile] | CurateError:
        try:
            return project_files(index_url, name, client=client)
        except CurateError as exc:
            return exc
        finally:
            if on_page is not None:
                on_page()

    located: list[Located] = []
    problems: list[str] = []
    if names:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names)))) as pool:
            pages = dict(zip(names, pool.map(read, names), strict=True))
    else:
        pages = {}
    for name in names:
        page = _display(project_url(index_url, name))
        listed = pages[name]
        if isinstance(listed, CurateError):
            files = ", ".join(sorted(w.file.filename for w in by_project[name]))
            problems.append(f"{name}: cannot read its project page on the upstream ({files}): {listed}")
            continue
        for w in sorted(by_project[name], key=lambda w: w.file.filename):
            found = match(w, listed, page)
            if isinstance(found, Located):
                located.append(found)
            else:
                problems.append(found)
    return Locating(index_url=index_url, located=tuple(located), problems=tuple(problems), pages=len(names))
