"""A release yanked upstream without a reason (issue 13, item 16): no reason is made up.

The index says ``data-yanked=""`` and ``"yanked": true``; the real readers of both formats (pip, uv,
pdm's unearth, pypi-simple) see a yanked release without a reason, skip it when unpinned and take it
when pinned with ``==``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypi_simple import ProjectPage

from curate.serve import make_server, serve_in_thread, url_of
from tests.test_clients import UV, _env, pip
from tests.test_index_helpers import Built, make_built
from tests.wheels import Dist

DISTS = [
    Dist(name="quietyank", version="0.9", sdist=False),
    Dist(name="quietyank", version="1.0", sdist=False, yanked=""),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Built, str]]:
    built = make_built(
        tmp_path_factory.mktemp("yanked"),
        picks={"quietyank": ["0.9", "1.0"], "httpish": ["1.2"]},
        extra_dists=DISTS,
    )
    server = make_server(built.public, port=0, quiet=True)
    stop = serve_in_thread(server)
    yield built, url_of(server)
    stop()


def test_no_reason_is_made_up(served: tuple[Built, str]) -> None:
    built, _ = served
    page = built.public / "simple" / "quietyank"
    html = (page / "index.html").read_text("utf-8")
    assert 'data-yanked=""' in html
    assert html.count("data-yanked") == 1
    files = {f["filename"]: f["yanked"] for f in json.loads((page / "index.json").read_bytes())["files"]}
    assert files == {"quietyank-0.9-py3-none-any.whl": False, "quietyank-1.0-py3-none-any.whl": True}
    api = json.loads((built.public / "api" / "quietyank.json").read_bytes())
    assert [(v["version"], v["yanked"]) for v in api["versions"]] == [("0.9", None), ("1.0", True)]
    assert [f["yanked"] for v in api["versions"] for f in v["files"]] == [None, True]
    # a reason the upstream gave is kept as it is
    httpish = built.public / "simple" / "httpish"
    assert 'data-yanked="broken release"' in (httpish / "index.html").read_text("utf-8")
    assert json.loads((httpish / "index.json").read_bytes())["files"][0]["yanked"] == "broken release"


def test_pypi_simple_and_unearth_read_both_formats_as_yanked(served: tuple[Built, str]) -> None:
    from unearth.collector import IndexPage, parse_html_page, parse_json_response
    from unearth.link import Link

    built, url = served
    page = built.public / "simple" / "quietyank"
    base = f"{url}/simple/quietyank/"
    html, data = (page / "index.html").read_bytes(), (page / "index.json").read_bytes()

    by_html = ProjectPage.from_html("quietyank", html.decode(), base_url=base)
    by_json = ProjectPage.from_json_data(json.loads(data), base_url=base)
    for parsed in (by_html, by_json):
        assert [(p.version, p.is_yanked, bool(p.yanked_reason)) for p in parsed.packages] == [
            ("0.9", False, False),
            ("1.0", True, False),  # yanked, with no reason ("" from the HTML, None from the JSON)
        ]

    link = Link(base)
    for links in (
        parse_html_page(IndexPage(link, html, "utf-8", "text/html")),
        parse_json_response(IndexPage(link, data, "utf-8", "application/vnd.pypi.simple.v1+json")),
    ):
        assert [(x.filename, x.is_yanked) for x in links] == [
            ("quietyank-0.9-py3-none-any.whl", False),
            ("quietyank-1.0-py3-none-any.whl", True),
        ]


@pytest.mark.parametrize("how", ["http", "file"])  # curate serve gives pip and uv the JSON; file:// the HTML
def test_pip_and_uv_skip_it_unless_pinned(served: tuple[Built, str], tmp_path: Path, how: str) -> None:
    built, url = served
    index = f"{url}/simple/" if how == "http" else (built.public / "simple").as_uri() + "/"
    pip(tmp_path, index, "download", "--no-deps", "-d", str(tmp_path / "a"), "quietyank")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["quietyank-0.9-py3-none-any.whl"]
    pip(tmp_path, index, "download", "--no-deps", "-d", str(tmp_path / "b"), "quietyank==1.0")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["quietyank-1.0-py3-none-any.whl"]

    (tmp_path / "in.txt").write_text("quietyank\n", "utf-8")
    proc = subprocess.run(
        [UV, "pip", "compile", "--no-header", "--python", sys.executable, "--index-url", index, "in.txt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "quietyank==0.9" in proc.stdout
