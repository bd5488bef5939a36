"""A hostile upstream index: file URLs it gives cannot make curate read the machine it runs on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.cache import Wanted
from curate.catalog import FileEntry
from curate.errors import FetchError
from curate.fetch import Fetcher, RetryPolicy
from curate.locate import Located
from curate.upstream import UpstreamError, parse_html, parse_json

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
