"""`curate serve`: negotiation, content types, redirects, 404s, HEAD, Range and caching headers."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.build import build
from curate.cli import main
from curate.index import HTML_TYPE, JSON_TYPE
from curate.serve import Access, make_server, negotiate, parse_range, serve_in_thread
from tests import servertable
from tests.test_index_helpers import Built, make_built

WHEEL = "/files/httpish/httpish-1.1-py3-none-any.whl"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, ("index.html", "text/html; charset=utf-8")),
        ("", ("index.html", "text/html; charset=utf-8")),
        ("*/*", ("index.html", "text/html; charset=utf-8")),
        ("text/html", ("index.html", "text/html; charset=utf-8")),
        (JSON_TYPE, ("index.json", JSON_TYPE)),
        ("application/vnd.pypi.simple.latest+json", ("index.json", JSON_TYPE)),
        (HTML_TYPE, ("index.html", HTML_TYPE)),
        # what uv and pip send: JSON first
        (
            f"{JSON_TYPE}, {HTML_TYPE}; q=0.2, text/html; q=0.01",
            ("index.json", JSON_TYPE),
        ),
        (f"{JSON_TYPE}; q=0.1, {HTML_TYPE}", ("index.html", HTML_TYPE)),
        (f"{JSON_TYPE};q=0, text/html", ("index.html", "text/html; charset=utf-8")),
        ("image/png", None),
        ("application/json", None),
    ],
)
def test_negotiate(accept: str | None, expected: tuple[str, str] | None) -> None:
    assert negotiate(accept) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 10)),
        ("bytes=10-", (10, 100)),
        ("bytes=-10", (90, 100)),
        ("bytes=90-200", (90, 100)),
        ("bytes=100-", None),
        ("bytes=5-2", None),
        ("bytes=-0", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
    ],
)
def test_parse_range(header: str, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Built, str, list[Access]]]:
    built = make_built(tmp_path_factory.mktemp("serve"))
    (built.public / "index.html").write_text("<!DOCTYPE html><title>docs</title>\n")
    (built.public / "guides").mkdir()
    (built.public / "guides" / "index.html").write_text("<!DOCTYPE html><title>guide</title>\n")
    access: list[Access] = []
    server = make_server(built.public, port=0, access=access, quiet=True)
    stop = serve_in_thread(server)
    host, port = server.server_address[:2]
    yield built, f"{host!s}:{port}", access
    stop()


def _get(
    hostport: str, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(hostport, timeout=10)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def test_negotiation_and_exact_content_types(served: tuple[Built, str, list[Access]]) -> None:
    built, hp, _ = served
    for path in ("/simple/", "/simple/httpish/"):
        status, headers, body = _get(hp, path)
        assert (status, headers["content-type"], headers["vary"]) == (
            200,
            "text/html; charset=utf-8",
            "Accept",
        )
        assert headers["server"] == "curate-serve"  # no Python version, no trailing space
        assert body == (built.public / path.strip("/") / "index.html").read_bytes()
        html_etag = headers["etag"]
        status, headers, body = _get(hp, path, {"Accept": JSON_TYPE})
        assert (status, headers["content-type"], headers["vary"]) == (200, JSON_TYPE, "Accept")
        assert headers["etag"] != html_etag  # a cache must not answer one variant with the other
        assert body == (built.public / path.strip("/") / "index.json").read_bytes()
        status, headers, _ = _get(hp, path, {"Accept": HTML_TYPE})
        assert headers["content-type"] == HTML_TYPE
    assert _get(hp, "/simple/", {"Accept": "image/png"})[0] == 406


def test_redirects_and_404s(served: tuple[Built, str, list[Access]]) -> None:
    built, hp, _ = served
    status, headers, _ = _get(hp, "/simple/httpish")
    assert (status, headers["location"]) == (301, "/simple/httpish/")
    status, headers, _ = _get(hp, "/simple")
    assert (status, headers["location"]) == (301, "/simple/")
    for path in (
        "/simple/no-such-project/",
        "/simple/no-such-project",
        "/files/nope.whl",
        "/.curate-index.json",
    ):
        assert _get(hp, path)[0] == 404, path
    assert _get(hp, "/files/")[0] == 404  # a directory without index.html: 404, not a listing, not 403
    # the root page's own files are there too, as on a static host (negotiation is for the folders)
    for name, ctype in (("index.html", "text/html; charset=utf-8"), ("index.json", "application/json")):
        status, headers, body = _get(hp, f"/simple/{name}")
        assert (status, headers["content-type"]) == (200, ctype), name
        assert body == (built.public / "simple" / name).read_bytes()
    status, headers, _ = _get(hp, "/guides")
    assert (status, headers["location"]) == (301, "/guides/")
    status, _, body = _get(hp, "/guides/")
    assert (status, body) == (200, b"<!DOCTYPE html><title>guide</title>\n")


def test_files_head_range_and_caching(served: tuple[Built, str, list[Access]]) -> None:
    built, hp, _ = served
    data = (built.public / WHEEL.lstrip("/")).read_bytes()
    status, headers, body = _get(hp, WHEEL)
    assert (status, body) == (200, data)
    assert headers["content-type"] == "application/octet-stream"
    assert "content-encoding" not in headers
    assert headers["accept-ranges"] == "bytes"
    assert "immutable" in headers["cache-control"]
    status, head_headers, body = _get(hp, WHEEL, method="HEAD")
    assert (status, body, head_headers["content-length"]) == (200, b"", str(len(data)))
    status, headers, body = _get(hp, WHEEL, {"Range": "bytes=-22"})
    assert (status, body) == (206, data[-22:])
    assert headers["content-range"] == f"bytes {len(data) - 22}-{len(data) - 1}/{len(data)}"
    assert _get(hp, WHEEL, {"Range": f"bytes={len(data)}-"})[0] == 416
    assert _get(hp, WHEEL, {"Range": "Bytes=0-1"})[:3:2] == (206, data[:2])  # the unit is case-insensitive
    # a unit it does not know MUST be ignored, and several ranges may be: the whole file, not a 416
    for rng in ("items=0-1", "bytes=0-1,5-6"):
        assert _get(hp, WHEEL, {"Range": rng})[:3:2] == (200, data), rng
    assert _get(hp, WHEEL, {"If-None-Match": headers["etag"]})[0] == 304
    status, headers, _ = _get(hp, WHEEL + ".metadata")
    assert (status, headers["content-type"]) == (200, "application/octet-stream")
    sdist = built.public / "files" / "certy" / "certy-2024.1.tar.gz"
    sdist.write_bytes(b"\x1f\x8b not really gzip")
    status, headers, _ = _get(hp, "/files/certy/certy-2024.1.tar.gz")
    assert (status, headers["content-type"]) == (200, "application/octet-stream")
    assert "content-encoding" not in headers


def test_access_log_records_requests(served: tuple[Built, str, list[Access]]) -> None:
    _, hp, access = served
    _get(hp, "/simple/certy/", {"Accept": JSON_TYPE})
    assert Access("GET", "/simple/certy/", 200, JSON_TYPE) in access


def test_serve_refuses_a_tree_without_an_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-C", str(tmp_path), "serve", "--port", "0"]) == 2
    assert "curate build" in capsys.readouterr().err


def test_serve_says_when_it_cannot_listen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    (tmp_path / "public" / "simple").mkdir(parents=True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["-C", str(tmp_path), "serve", "--port", str(port)]) == 2
    assert f"error: cannot listen on 127.0.0.1:{port}: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("base_url", "served", "elsewhere"),
    [
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000", False),
        ("http://localhost:8000/", "http://127.0.0.1:8000", False),
        ("http://127.0.0.1:8000/", "http://0.0.0.0:8000", False),
        ("http://[::1]:8000/", "http://127.0.0.1:8000", False),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:38255", True),
        ("http://127.0.0.1/", "http://127.0.0.1:80", False),
        ("https://pypi.upstream.example/", "http://127.0.0.1:443", True),
        ("http://catalog.example:8000/", "http://127.0.0.1:8000", True),
        ("http://127.0.0.1:99999/", "http://127.0.0.1:8000", True),
    ],
)
def test_a_base_url_is_this_server_or_elsewhere(base_url: str, served: str, elsewhere: bool) -> None:
    from curate.serve import elsewhere as is_elsewhere

    assert is_elsewhere(base_url, served) is elsewhere


def test_serve_says_when_the_pages_point_at_another_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages' install commands and the environments' lock files name site.base_url: served on
    another port, they would fetch from there (a new user's trap), so serve says so and how to fix it."""
    from http.server import ThreadingHTTPServer

    from tests.catalogs import make_repo
    from tests.servers import free_port

    make_repo(tmp_path)
    (tmp_path / "public" / "simple").mkdir(parents=True)
    served: list[int] = []

    def once(server: ThreadingHTTPServer, *args: object, **kwargs: object) -> None:
        served.append(server.server_address[1])
        raise KeyboardInterrupt  # as Ctrl-C

    monkeypatch.setattr(ThreadingHTTPServer, "serve_forever", once)
    assert main(["-C", str(tmp_path), "serve", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert "site.base_url http://127.0.0.1:8000/ (catalog/config.yaml)" in err
    assert f"set site.base_url to http://127.0.0.1:{served[0]}/ and run curate build again" in err
    # listening on every address: no address of its own to suggest
    assert main(["-C", str(tmp_path), "serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert f"set site.base_url to the address clients reach this server at (port {served[1]})" in err

    port = free_port()
    config = tmp_path / "catalog" / "config.yaml"
    config.write_text(
        config.read_text("utf-8").replace("http://127.0.0.1:8000/", f"http://localhost:{port}/"), "utf-8"
    )
    assert main(["-C", str(tmp_path), "serve", "--port", str(port)]) == 0
    assert "base_url" not in capsys.readouterr().err


# -- hostile requests (issue 13, item 11) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "location"),
    [
        # an encoded slash or backslash must not make a scheme-relative URL (//host, /\host): open redirect
        ("/%2ffiles", "/files/"),
        ("/%2F%2Ffiles", "/files/"),
        ("//files", "/files/"),
        ("/%5cfiles", None),  # a folder named '\files' does not exist: 404, never a redirect to \files
        ("/%2fsimple", "/simple/"),
        ("/simple/%2fhttpish", "/simple/httpish/"),
        ("/guides?next=//evil.example", "/guides/?next=//evil.example"),
    ],
)
def test_redirects_stay_on_this_server(
    served: tuple[Built, str, list[Access]], path: str, location: str | None
) -> None:
    _, hp, _ = served
    status, headers, _ = _get(hp, path)
    if location is None:
        assert status == 404
    else:
        assert (status, headers["location"]) == (301, location)


def test_no_header_of_its_own_in_a_redirect(served: tuple[Built, str, list[Access]]) -> None:
    built, hp, _ = served
    (built.public / "x\r\nSet-Cookie: a=b").mkdir()
    (built.public / "\\evil.example").mkdir()
    status, headers, _ = _get(hp, "/x%0d%0aSet-Cookie:%20a=b")
    assert (status, headers["location"]) == (301, "/x%0D%0ASet-Cookie:%20a=b/")
    assert "set-cookie" not in headers
    status, headers, _ = _get(hp, "/%5cevil.example")
    assert (status, headers["location"]) == (301, "/%5Cevil.example/")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=" + "9" * 5000 + "-", None),  # past the end: 416
        ("bytes=0-" + "9" * 5000, (0, 100)),  # to the end
        ("bytes=-" + "9" * 5000, (0, 100)),  # the last 10^5000 bytes: all of them
        ("bytes=" + "0" * 5000 + "1-2", (1, 3)),  # leading zeros are still the number
    ],
)
def test_parse_range_with_thousands_of_digits(header: str, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


def test_a_huge_range_is_answered_and_the_connection_kept(served: tuple[Built, str, list[Access]]) -> None:
    built, hp, _ = served
    data = (built.public / WHEEL.lstrip("/")).read_bytes()
    conn = http.client.HTTPConnection(hp, timeout=10)
    for rng, status, body in (
        ("bytes=" + "9" * 5000 + "-", 416, b""),
        ("bytes=0-" + "9" * 5000, 206, data),
        ("bytes=0-1", 206, data[:2]),  # the same connection still serves
    ):
        conn.request("GET", WHEEL, headers={"Range": rng})
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (status, body), rng
    conn.close()
    assert _get(hp, WHEEL, {"If-Modified-Since": "Mon, 01 Jan 99999999999 00:00:00 GMT"})[0] == 200


def test_silent_connections_are_closed_and_bounded(tmp_path: Path) -> None:
    """A tiny configured timeout (never a timing assertion): silent sockets are closed by the server,
    and no more than max_threads are served at once while a real request still gets through."""
    import socket

    (tmp_path / "simple").mkdir()
    (tmp_path / "simple" / "index.html").write_text("ok\n")
    server = make_server(tmp_path, port=0, quiet=True, timeout=0.3, max_threads=2)
    stop = serve_in_thread(server)
    try:
        host, port = server.server_address[:2]
        silent = [socket.create_connection((str(host), port), timeout=30) for _ in range(6)]
        for s in silent:  # each is closed by the server (a queued one once its turn came): EOF, no hang
            assert s.recv(1024) == b""
            s.close()
        status, _, body = _get(f"{host!s}:{port}", "/simple/index.html")
        assert (status, body) == (200, b"ok\n")
        assert server.peak == 2  # six connections, never more than two threads
    finally:
        stop()


def test_the_access_log_prints_the_request_line_as_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    (tmp_path / "simple").mkdir()
    server = make_server(tmp_path, port=0, timeout=5)
    stop = serve_in_thread(server)
    try:
        host, port = server.server_address[:2]
        with socket.create_connection((str(host), port), timeout=10) as s:
            s.sendall(b"GET /\x1b[2J##[error]forged HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(1024):
                pass
    finally:
        stop()
    err = capsys.readouterr().err
    assert "forged" in err
    assert "\x1b" not in err
    assert "##[" not in err


# -- the table both servers answer (tests/servertable.py; tests/test_nginx.py runs it on nginx) -------


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Built, str]]:
    """A tree with projects whose names are not normalized (Pillow, zope.interface, ruamel.yaml)."""
    built = make_built(
        tmp_path_factory.mktemp("named"), picks=servertable.PICKS, extra_dists=servertable.NAMED_DISTS
    )
    server = make_server(built.public, port=0, quiet=True)
    stop = serve_in_thread(server)
    host, port = server.server_address[:2]
    yield built, f"{host!s}:{port}"
    stop()


def test_the_servers_table(named: tuple[Built, str]) -> None:
    built, hp = named
    servertable.check_table(lambda path, headers: _get(hp, path, headers), built.public)


def test_negotiate_agrees_with_itself_on_random_headers() -> None:
    """The same headers tests/test_nginx.py sends to nginx: each gets a form or 406, never an error."""
    forms = [form for _, form in servertable.random_headers(500)]
    assert {"json", "v1html", "html", "none"} <= set(forms)


def test_a_rebuild_that_changes_nothing_keeps_every_etag(tmp_path: Path) -> None:
    """The index alone is updated in place; the whole build (with the site) is made beside the live
    tree and swapped in. Either way an unchanged file keeps its inode and mtime, so its ETag and
    Last-Modified, and a cache revalidates it with a 304."""
    built = make_built(tmp_path / "b")
    public = built.public
    pages = ["simple/index.html", "simple/index.json", "api/catalog.json", "simple/httpish/index.html"]

    def stamps(rels: list[str]) -> dict[str, tuple[int, int]]:
        return {rel: ((public / rel).stat().st_ino, (public / rel).stat().st_mtime_ns) for rel in rels}

    before = stamps(pages)
    build(root=built.root, output=public, cache_dir=built.cache, env={}, site=False)  # in place
    assert stamps(pages) == before
    build(root=built.root, output=public, cache_dir=built.cache, env={})  # with the site: published
    pages += ["index.html", "404.html", "sitemap.xml"]
    before = stamps(pages)
    server = make_server(public, port=0, quiet=True)
    stop = serve_in_thread(server)
    hp = "{}:{}".format(*server.server_address[:2])
    try:
        etags = {path: _get(hp, path)[1]["etag"] for path in ("/", "/simple/", "/simple/httpish/")}
        build(root=built.root, output=public, cache_dir=built.cache, env={})
        assert stamps(pages) == before
        for path, etag in etags.items():
            assert _get(hp, path)[1]["etag"] == etag, path
            assert _get(hp, path, {"If-None-Match": etag})[0] == 304, path
        # a rebuild that changes the root page gives it a new ETag
        (built.root / "catalog" / "packages" / "linuxonly.yaml").unlink()
        build(root=built.root, output=public, cache_dir=built.cache, env={})
        assert _get(hp, "/simple/")[1]["etag"] != etags["/simple/"]
        assert _get(hp, "/simple/httpish/")[1]["etag"] == etags["/simple/httpish/"]
    finally:
        stop()
