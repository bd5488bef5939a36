"""The upstream-neutral catalog: no URL in catalog/; fetch and link-mode builds find each file on the
configured upstream's project pages (or the index uv resolves from), and the sha256 decides.

Locked against one fixture upstream, the catalog is fetched from a second one that serves the same
files at other URLs (a static mirror, over HTTP and as a ``file:`` index), without a re-lock."""

from __future__ import annotations

import functools
import hashlib
import html
import json
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from curate.cache import blob_path, wanted_files
from curate.catalog import load_catalog
from curate.config import load_config
from curate.errors import BuildError
from curate.httpclient import HttpClient
from curate.locate import locate
from curate.lock import load_requests
from curate.lockstate import (
    LockState,
    RequestState,
    catalog_freshness,
    config_fingerprint,
    lock_part_hash,
    read_state,
    request_fingerprint,
)
from tests.catalogs import vet_as_is
from tests.lockutil import curate, lock_repo, write_request
from tests.upstream import Upstream, make_upstream

WHEEL = "certy-2024.1-py3-none-any.whl"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with make_upstream(tmp_path_factory.mktemp("upstream")) as up:
        yield up


@pytest.fixture(autouse=True)
def _uv_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))
    monkeypatch.delenv("CURATE_CACHE_DIR", raising=False)


@pytest.fixture(scope="module")
def locked(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog locked against the first upstream (shared; tests copy it)."""
    root = lock_repo(tmp_path_factory.mktemp("locked") / "repo", upstream.index_url)
    write_request(root, "web", [("webapp", "==2.0"), ("fastmath", "")], python=("3.11", "3.12"))
    assert curate(root, "lock", "-q") == 0
    return root


@pytest.fixture
def repo(locked: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(locked, tmp_path / "repo"))


def write_mirror(upstream: Upstream, dest: Path, *, tamper: frozenset[str] = frozenset()) -> Path:
    """A static PEP 503 mirror of ``upstream`` in ``dest``: every file under ``pool/<sha[:2]>/`` (another
    URL than the upstream's), pages at ``simple/<name>/index.html``. A ``tamper``ed file has other bytes
    (and the page lists their sha256, as an honest mirror of other bytes would)."""
    for norm, files in upstream.files.items():
        links = []
        for f in sorted(files, key=lambda f: f.filename):
            data = f.path.read_bytes()
            if f.filename in tamper:
                data = data + b"\0"
            sha = hashlib.sha256(data).hexdigest()
            target = dest / "pool" / sha[:2] / f.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            attrs = f'href="../../pool/{sha[:2]}/{html.escape(f.filename)}#sha256={sha}"'
            if f.requires_python:
                attrs += f' data-requires-python="{html.escape(f.requires_python)}"'
            links.append(f"<a {attrs}>{html.escape(f.filename)}</a><br/>")
        page = dest / "simple" / norm / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n", "utf-8")
    return dest / "simple"


class StaticServer:
    """A directory over HTTP on 127.0.0.1 (a directory's page is its index.html), every path logged."""

    def __init__(self, directory: Path) -> None:
        log: list[str] = []
        self.log = log

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                log.append(self.path)

        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def point_at(root: Path, index_url: str | None) -> None:
    """Set (or, with None, remove) ``upstream.index_url`` in the catalog's config."""
    path = root / "catalog" / "config.yaml"
    text = re.sub(r"\nupstream:\n  index_url: .*\n", "\n", path.read_text("utf-8"))
    if index_url is not None:
        text += f"\nupstream:\n  index_url: {index_url}\n"
    path.write_text(text, "utf-8")


def fetched(root: Path, cache: Path) -> set[str]:
    """The catalog's files that are in the cache, by filename."""
    return {
        w.file.filename
        for w in wanted_files(load_catalog(root).values())
        if blob_path(cache, w.sha256).is_file()
    }


def all_files(root: Path) -> set[str]:
    return {w.file.filename for w in wanted_files(load_catalog(root).values())}


# -- moving between upstreams -------------------------------------------------------------------------


def test_the_catalog_records_no_url(locked: Path, upstream: Upstream) -> None:
    host = upstream.url.removeprefix("http://")
    for path in [locked / "catalog" / "lock.json", *(locked / "catalog" / "packages").iterdir()]:
        text = path.read_text("utf-8")
        assert "url:" not in text
        assert host not in text
    assert WHEEL in all_files(locked)


@pytest.mark.parametrize("how", ["http", "file"])
def test_locked_on_one_upstream_fetched_from_another(
    repo: Path, upstream: Upstream, tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    simple = write_mirror(upstream, tmp_path / "mirror")
    cache = tmp_path / "cache"
    with StaticServer(tmp_path / "mirror") as mirror:
        index = f"{mirror.url}/simple/" if how == "http" else simple.as_uri() + "/"
        point_at(repo, index)
        assert curate(repo, "lock", "--check") == 0  # moving to another upstream needs no re-lock
        upstream.log.clear()
        assert curate(repo, "fetch", "--cache-dir", str(cache)) == 0
    assert fetched(repo, cache) == all_files(repo)
    assert upstream.log == []  # nothing asked of the upstream the catalog was locked from
    if how == "http":
        assert any(p.startswith("/pool/") for p in mirror.log)
    err = capsys.readouterr().err
    projects = len(load_catalog(repo))
    assert f"reading {projects} project page(s) on {index}" in err
    assert f"downloading {len(all_files(repo))} file(s), " in err
    assert curate(repo, "lock", "--check") == 0


def test_other_bytes_under_the_same_name_are_refused_naming_both_hashes(
    repo: Path, upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_mirror(upstream, tmp_path / "mirror", tamper=frozenset({WHEEL}))
    cache = tmp_path / "cache"
    expected = upstream.file(WHEEL).sha256
    other = hashlib.sha256(upstream.file(WHEEL).path.read_bytes() + b"\0").hexdigest()
    with StaticServer(tmp_path / "mirror") as mirror:
        point_at(repo, f"{mirror.url}/simple/")
        assert curate(repo, "fetch", "--cache-dir", str(cache)) == 1
    err = capsys.readouterr().err
    assert f"error: {WHEEL}: the upstream lists other bytes under this name; nothing was downloaded" in err
    assert f"    catalog sha256  {expected}\n    upstream sha256 {other}\n" in err
    assert f"    page: {mirror.url}/simple/certy/" in err
    assert "error: 1 of " in err
    assert not any(WHEEL in p for p in mirror.log)  # refused before downloading
    assert fetched(repo, cache) == all_files(repo) - {WHEEL}  # the others are fetched


def test_bytes_that_differ_from_what_the_page_says_are_refused(
    repo: Path, upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A page that lists the vetted sha256 for other bytes: the download is checked and not kept."""
    write_mirror(upstream, tmp_path / "mirror")
    sha = upstream.file(WHEEL).sha256
    (tmp_path / "mirror" / "pool" / sha[:2] / WHEEL).write_bytes(b"not the vetted bytes")
    cache = tmp_path / "cache"
    with StaticServer(tmp_path / "mirror") as mirror:
        point_at(repo, f"{mirror.url}/simple/")
        assert curate(repo, "fetch", "--cache-dir", str(cache), "--retries", "0") == 1
    err = capsys.readouterr().err
    assert f"{WHEEL}: downloaded bytes do not match the catalog; nothing was kept" in err
    assert f"expected sha256 {sha}" in err
    assert f"received sha256 {hashlib.sha256(b'not the vetted bytes').hexdigest()} (20 bytes)" in err
    assert not blob_path(cache, sha).exists()


def test_a_file_the_upstream_does_not_list_and_an_unknown_project(
    repo: Path, upstream: Upstream, tmp_path: Path
) -> None:
    write_mirror(upstream, tmp_path / "mirror")
    page = tmp_path / "mirror" / "simple" / "certy" / "index.html"
    page.write_text("<html><body></body></html>\n", "utf-8")
    shutil.rmtree(tmp_path / "mirror" / "simple" / "fastmath")
    index = (tmp_path / "mirror" / "simple").as_uri() + "/"
    with HttpClient({}) as client:
        found = locate(index, wanted_files(load_catalog(repo).values()), client=client)
    (missing, unknown) = found.problems
    assert missing.startswith(f"{WHEEL}: the upstream does not list this file (sha256 ")
    assert f"    page: {index}certy/\n    hint: is this the upstream the catalog was locked from?" in missing
    assert unknown.startswith("fastmath: cannot read its project page on the upstream (fastmath-1.5-")
    assert unknown.endswith(f"): {index}fastmath/: no such file")
    assert {x.file.filename for x in found.located} == all_files(repo) - {WHEEL} - {
        f for f in all_files(repo) if f.startswith("fastmath-")
    }


def test_the_same_bytes_under_another_name_are_taken(repo: Path, upstream: Upstream, tmp_path: Path) -> None:
    write_mirror(upstream, tmp_path / "mirror")
    page = tmp_path / "mirror" / "simple" / "certy" / "index.html"
    page.write_text(page.read_text("utf-8").replace(f">{WHEEL}<", ">renamed.whl<"), "utf-8")
    with HttpClient({}) as client:
        found = locate(
            (tmp_path / "mirror" / "simple").as_uri() + "/",
            wanted_files(load_catalog(repo).values()),
            client=client,
        )
    assert found.problems == ()
    (certy,) = [x for x in found.located if x.file.filename == WHEEL]
    assert certy.url.endswith(f"/pool/{certy.sha256[:2]}/{WHEEL}")


def test_without_a_configured_upstream_the_index_uv_resolves_from_is_used(
    repo: Path,
    upstream: Upstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No upstream.index_url: curate asks uv (here told by UV_DEFAULT_INDEX) and spells out no index."""
    write_mirror(upstream, tmp_path / "mirror")
    cache = tmp_path / "cache"
    point_at(repo, None)
    assert load_config(repo).index_url is None
    with StaticServer(tmp_path / "mirror") as mirror:
        monkeypatch.setenv("UV_DEFAULT_INDEX", f"{mirror.url}/simple")
        assert curate(repo, "lock", "--check") == 0
        assert curate(repo, "fetch", "--cache-dir", str(cache)) == 0
    assert fetched(repo, cache) == all_files(repo)
    assert f"page(s) on {mirror.url}/simple\n" in capsys.readouterr().err


def test_when_uv_cannot_tell_the_error_says_what_to_set(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty" / "simple").mkdir(parents=True)
    point_at(repo, None)
    with StaticServer(tmp_path / "empty") as empty:
        monkeypatch.setenv("UV_DEFAULT_INDEX", f"{empty.url}/simple")
        assert curate(repo, "fetch", "--cache-dir", str(tmp_path / "cache")) == 1
    err = capsys.readouterr().err
    assert "cannot tell which index uv resolves from (set upstream.index_url in catalog/config.yaml):" in err
    assert "certy: " in err


# -- link mode -----------------------------------------------------------------------------------------


def _link_mode(root: Path) -> None:
    vet_as_is(root)  # what the index serves: only versions vetted as these bytes
    path = root / "catalog" / "config.yaml"
    path.write_text(path.read_text("utf-8").replace("  mode: mirror", "  mode: link"), "utf-8")


def test_link_mode_links_where_the_upstream_serves_each_file(
    repo: Path, upstream: Upstream, tmp_path: Path
) -> None:
    write_mirror(upstream, tmp_path / "mirror")
    _link_mode(repo)
    with StaticServer(tmp_path / "mirror") as mirror:
        point_at(repo, f"{mirror.url}/simple/")
        assert curate(repo, "build", "--index-only", "-o", str(tmp_path / "public")) == 0
        data = json.loads((tmp_path / "public" / "simple" / "certy" / "index.json").read_bytes())
        sha = upstream.file(WHEEL).sha256
        assert [(f["filename"], f["url"]) for f in data["files"]] == [
            (WHEEL, f"{mirror.url}/pool/{sha[:2]}/{WHEEL}")
        ]
        assert not (tmp_path / "public" / "files").exists()
        # a rebuild with nothing changed reads no page
        before = len(mirror.log)
        assert curate(repo, "build", "--index-only", "-o", str(tmp_path / "public")) == 0
        assert len(mirror.log) == before
    # another upstream: every project is rendered again, linking there
    point_at(repo, upstream.index_url)
    assert curate(repo, "build", "--index-only", "-o", str(tmp_path / "public")) == 0
    data = json.loads((tmp_path / "public" / "simple" / "certy" / "index.json").read_bytes())
    assert data["files"][0]["url"] == upstream.file_url(WHEEL)


def test_link_mode_refuses_to_link_other_bytes(
    repo: Path, upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_mirror(upstream, tmp_path / "mirror", tamper=frozenset({WHEEL}))
    _link_mode(repo)
    point_at(repo, (tmp_path / "mirror" / "simple").as_uri() + "/")
    assert curate(repo, "build", "--index-only", "-o", str(tmp_path / "public")) == 1
    err = capsys.readouterr().err
    assert "link mode: 1 file(s) not found as vetted on the upstream:" in err
    assert f"catalog sha256  {upstream.file(WHEEL).sha256}" in err
    assert not (tmp_path / "public").exists()  # nothing published


def test_links_are_looked_up_once_per_build(repo: Path, upstream: Upstream, tmp_path: Path) -> None:
    from curate.build import upstream_links

    vet_as_is(repo)
    config = load_config(repo)
    calls = []
    links = upstream_links(config, {}, upstream.index_url)
    projects = list(load_catalog(repo).values())
    upstream.log.clear()
    got = links(projects)
    calls.append(len(upstream.log))
    assert calls == [len(projects)]  # one page per project
    assert set(got) == {f.sha256 for p in projects for v in p.versions for f in v.files}
    with pytest.raises(BuildError):
        upstream_links(config, {}, upstream.url + "/nothing-here/")(projects)


# -- catalogs written before: url: lines and fingerprints with the upstream -----------------------------


def make_old(root: Path) -> None:
    """Turn a catalog into what an older curate wrote: a url: line under each file's name, and lock.json
    fingerprints that count the upstream (its hashes over the files as they now are)."""
    config = load_config(root)
    folder = root / "catalog" / "packages"
    state = read_state(root)
    assert state is not None
    files = {}
    for path in sorted(folder.iterdir()):
        text = re.sub(
            r"^(      - filename: (\S+)\n)",
            lambda m: f"{m[1]}        url: https://upstream.example/files/{m[2]}\n",
            path.read_text("utf-8"),
            flags=re.MULTILINE,
        )
        path.write_text(text, "utf-8")
        files[path.name] = lock_part_hash(text)
    requests = {r.id: r for r in load_requests(root)}
    old = LockState(
        config=config_fingerprint(config, legacy=True),
        requests={
            rid: RequestState(
                path=r.path,
                sha256=r.sha256,
                fingerprint=request_fingerprint(requests[rid], config, legacy=True),
                pins=r.pins,
            )
            for rid, r in state.requests.items()
        },
        files=files,
    )
    (root / "catalog" / "lock.json").write_text(old.dumps(), "utf-8")


def test_an_older_catalog_keeps_working_and_loses_its_urls_on_the_next_lock(
    repo: Path, upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = {p.name: p.read_bytes() for p in (repo / "catalog" / "packages").iterdir()}
    new_state = (repo / "catalog" / "lock.json").read_bytes()
    catalog = load_catalog(repo)
    make_old(repo)
    assert (
        "        url: https://upstream.example/files/"
        in (repo / "catalog" / "packages" / "certy.yaml").read_text()
    )
    assert load_catalog(repo) == catalog  # read as before: the url is ignored
    fresh = catalog_freshness(repo)
    assert fresh.stale == ()
    assert fresh.legacy_state
    assert len(fresh.legacy) == len(new)
    capsys.readouterr()
    assert curate(repo, "lock", "--check") == 0
    err = capsys.readouterr().err
    assert f"note: {len(new)} package file(s) record upstream URLs and catalog/lock.json counts" in err
    # fetch works (from the configured upstream's pages, not from the recorded URLs)
    assert curate(repo, "fetch", "-q", "--cache-dir", str(tmp_path / "cache")) == 0
    # the next lock rewrites both without resolving anything or asking the upstream
    upstream.log.clear()
    assert curate(repo, "lock") == 0
    out, err = capsys.readouterr()
    assert "locked: 0 request(s) resolved" in out
    assert upstream.log == []
    assert {p.name: p.read_bytes() for p in (repo / "catalog" / "packages").iterdir()} == new
    assert _undated((repo / "catalog" / "lock.json").read_bytes()) == _undated(new_state)
    assert curate(repo, "lock", "--check") == 0
    assert "note:" not in capsys.readouterr().err


def test_an_older_lock_state_alone_is_rewritten(repo: Path) -> None:
    new_state = (repo / "catalog" / "lock.json").read_bytes()
    make_old(repo)
    for path in (repo / "catalog" / "packages").iterdir():  # package files already without urls
        path.write_text(re.sub(r"^        url: .*\n", "", path.read_text("utf-8"), flags=re.MULTILINE))
    state = read_state(repo)
    assert state is not None
    (repo / "catalog" / "lock.json").write_text(
        LockState(
            config=state.config,
            requests=state.requests,
            files={
                p.name: lock_part_hash(p.read_text("utf-8"))
                for p in (repo / "catalog" / "packages").iterdir()
            },
        ).dumps()
    )
    fresh = catalog_freshness(repo)
    assert (fresh.stale, fresh.legacy, fresh.legacy_state) == ((), (), True)
    assert curate(repo, "lock", "-q") == 0
    assert _undated((repo / "catalog" / "lock.json").read_bytes()) == _undated(new_state)


def _undated(state: bytes) -> object:
    """A lock state without the days requests were resolved as of (an older lock records none)."""
    data = json.loads(state)
    for request in data["requests"].values():
        request["as_of"] = ""
    return data


def test_changing_the_upstream_is_not_a_change_to_the_lock(repo: Path) -> None:
    config = load_config(repo)
    (request,) = load_requests(repo)
    point_at(repo, "https://mirror.upstream.example/simple/")
    moved = load_config(repo)
    assert config_fingerprint(moved) == config_fingerprint(config)
    assert request_fingerprint(request, moved) == request_fingerprint(request, config)
    assert config_fingerprint(moved, legacy=True) != config_fingerprint(config, legacy=True)
    assert catalog_freshness(repo).stale == ()
