"""A hostile upstream index: file URLs it gives cannot make curate read the machine it runs on."""

from __future__ import annotations

import contextlib
import json
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from curate.cache import Wanted
from curate.catalog import FileEntry
from curate.errors import FetchError
from curate.fetch import Fetcher, RetryPolicy
from curate.httpclient import HttpClient, Limits
from curate.locate import Located
from curate.names import normalize
from curate.upstream import UpstreamError, parse_html, parse_json, project_files
from tests.httpfixture import Server, send

PAGE = "https://upstream.example/simple/evil/"
SHA = "0" * 64


@pytest.mark.parametrize("href", ["file:///dev/zero", "ftp://upstream.example/evil-1.0.tar.gz"])
def test_an_http_page_cannot_give_a_local_or_other_scheme_file_url(href: str) -> None:
    body = json.dumps({"files": [{"filename": "evil-1.0.tar.gz", "url": href, "hashes": {"sha256": SHA}}]})
    with pytest.raises(UpstreamError, match="scheme"):
        parse_json(body.encode(), PAGE)
    with pytest.raises(UpstreamError, match="scheme"):
        parse_html(f'<a href="{href}#sha256={SHA}">evil-1.0.tar.gz</a>', PAGE)
    with pytest.raises(UpstreamError, match="scheme"):  # through <base>, too
        parse_html(f'<base href="file:///dev/"><a href="zero#sha256={SHA}">evil-1.0.tar.gz</a>', PAGE)


def test_a_local_index_may_give_file_urls(tmp_path: Path) -> None:
    page = (tmp_path / "simple" / "evil").as_uri() + "/"
    [f] = parse_html(f'<a href="../../files/evil-1.0.tar.gz#sha256={SHA}">evil-1.0.tar.gz</a>', page)
    assert f.url == (tmp_path / "files" / "evil-1.0.tar.gz").as_uri()


def test_a_file_url_is_copied_no_further_than_the_catalog_size(tmp_path: Path) -> None:
    entry = FileEntry(filename="evil-1.0.tar.gz", sha256=SHA, size=10)
    fetcher = Fetcher(tmp_path / "cache", policy=RetryPolicy(attempts=1))
    with pytest.raises(FetchError, match="do not match"):  # before the fix: fills the disk
        fetcher.fetch(
            Located(wanted=Wanted(project="evil", version="1.0", file=entry), url="file:///dev/zero")
        )


# -- malformed project pages: one line naming the project and what is wrong -------------------------------

_GOOD = {"filename": "evil-1.0.tar.gz", "url": "evil-1.0.tar.gz", "hashes": {"sha256": SHA}}


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (json.dumps({"files": {"evil-1.0.tar.gz": _GOOD}}), "'files' is an object, not a list"),
        (
            json.dumps({"files": [{"filename": "evil-1.0.tar.gz", "hashes": {"sha256": SHA}}]}),
            "files[0] has no 'url'",
        ),
        (json.dumps({"files": [_GOOD, {"url": "x", "hashes": {}}]}), "files[1] has no 'filename'"),
        (json.dumps({"files": ["evil-1.0.tar.gz"]}), "files[0] is a string, not an object"),
        (json.dumps({"files": [None]}), "files[0] is null, not an object"),
        (json.dumps({"files": [{**_GOOD, "url": 7}]}), "files[0]: 'url' is a number, not a string"),
        (
            json.dumps({"files": [{**_GOOD, "filename": ["a"]}]}),
            "files[0]: 'filename' is a list, not a string",
        ),
        (
            json.dumps({"files": [{**_GOOD, "requires-python": {"a": 1}}]}),
            "files[0]: 'requires-python' is an object, not a string",
        ),
        (
            json.dumps({"files": [{**_GOOD, "yanked": 3}]}),
            "files[0]: 'yanked' is a number, not a boolean or a string",
        ),
        (json.dumps([_GOOD]), "not a PEP 691 project page: the top level is a list, not an object"),
        (json.dumps({"meta": {}}), "not a PEP 691 project page: no 'files' key"),
        ("[" * 200_000 + "]" * 200_000, "not a PEP 691 project page: JSON nested too deeply"),
        (
            '{"files": [{"filename": "evil-1.0.tar.gz", "url": "x", "hashes": '
            + "[" * 200_000
            + "]" * 200_000
            + "}]}",
            "not a PEP 691 project page: JSON nested too deeply",
        ),
        ('{"files": [', "not a PEP 691 project page: not JSON (Expecting value: line 1 column 12 (char 11))"),
        (
            json.dumps({"files": [{**_GOOD, "filename": "../../evil-1.0.tar.gz"}]}),
            "files[0]: not a plain file name: '../../evil-1.0.tar.gz'",
        ),
        (
            json.dumps({"files": [{**_GOOD, "hashes": {"sha256": "../../../../tmp/x"}}]}),
            "files[0] (evil-1.0.tar.gz): the sha256 the upstream gives is not 64 hex digits: '../../../../tmp/x'",
        ),
    ],
)
def test_a_malformed_project_page_is_one_line_naming_the_project(body: str, what: str) -> None:
    server = Server()
    try:
        server.routes["/simple/evil/"] = lambda h: send(
            h, 200, body.encode(), Content_Type="application/vnd.pypi.simple.v1+json"
        )
        index = server.url("/simple/").replace("http://", "http://bot:s3cret@")
        with pytest.raises(UpstreamError) as err:
            project_files(index, normalize("evil"))
    finally:
        server.close()
    assert str(err.value) == f"the upstream's page for 'evil' ({server.url('/simple/evil/')}): {what}"


@pytest.mark.parametrize(
    ("link", "what"),
    [
        (f'<a href="x#sha256={SHA}">../evil-1.0.tar.gz</a>', "not a plain file name: '../evil-1.0.tar.gz'"),
        ('<a href="evil-1.0.tar.gz#sha256=abc">evil-1.0.tar.gz</a>', "not 64 hex digits: 'abc'"),
    ],
)
def test_a_malformed_html_page_names_the_project(link: str, what: str) -> None:
    with pytest.raises(UpstreamError, match="the upstream's page for 'evil'") as err:
        parse_html(link, PAGE, project="evil")
    assert what in str(err.value)
    assert "\n" not in str(err.value)


# -- a download that trickles --------------------------------------------------------------------------------


def test_a_trickling_download_is_retried_then_given_up_naming_the_file(tmp_path: Path) -> None:
    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(150):
                h.wfile.write(b"x")
                h.wfile.flush()
                time.sleep(0.02)

    server = Server()
    try:
        server.routes["/files/evil-1.0.tar.gz"] = trickle
        entry = FileEntry(filename="evil-1.0.tar.gz", sha256=SHA, size=1000)
        client = HttpClient({}, limits=Limits(min_speed=1000, speed_window=0.1))
        fetcher = Fetcher(
            tmp_path / "cache", client=client, policy=RetryPolicy(attempts=2), sleep=lambda s: None
        )
        with pytest.raises(FetchError) as err:
            fetcher.fetch(
                Located(
                    wanted=Wanted(project="evil", version="1.0", file=entry),
                    url=server.url("/files/evil-1.0.tar.gz"),
                )
            )
    finally:
        server.close()
    message = str(err.value)
    assert message.startswith("evil-1.0.tar.gz: giving up after 2 tries: too slow: ")
    assert f"url: {server.url('/files/evil-1.0.tar.gz')}" in message
    assert not (tmp_path / "cache" / "sha256").exists()  # nothing unverified entered the cache
