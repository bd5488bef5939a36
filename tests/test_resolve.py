"""The uv edge: command lines, environment markers, reading uv's output; and the upstream page reader."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.config import load_config
from curate.resolve import environment_marker, parse_compiled, uv_command, uv_env
from curate.targets import Target
from curate.upstream import file_sizes, parse_html, parse_json, project_files
from tests.lockutil import lock_repo
from tests.upstream import Upstream, make_upstream

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts" / "curate"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with make_upstream(tmp_path_factory.mktemp("upstream")) as up:
        yield up


def targets(tmp_path: Path) -> dict[str, Target]:
    config = load_config(lock_repo(tmp_path, "http://127.0.0.1:1/simple/", aarch64=True))
    return {t.id: t for t in config.all_targets()}


def test_uv_command_names_no_default_index() -> None:
    cmd = uv_command(uv="uv", python_version="3.11", index_url=None, allow_build=False)
    assert not [a for a in cmd if "index" in a and a != "--emit-index-annotation"]
    assert not [a for a in cmd if "://" in a]
    assert "--no-build" in cmd
    assert "--no-python-downloads" in cmd
    configured = uv_command(
        uv="uv", python_version="3.11", index_url="http://127.0.0.1:9/simple/", allow_build=True
    )
    assert configured[configured.index("--index-url") + 1] == "http://127.0.0.1:9/simple/"
    assert "--no-build" not in configured
    assert uv_env({"UV_PYTHON_DOWNLOADS": "automatic"})["UV_PYTHON_DOWNLOADS"] == "never"


def test_code_spells_out_no_index_url() -> None:
    """Only the configured upstream or uv's own default: no URL in the resolver's code but examples."""
    locking = ("lock.py", "closure.py", "selection.py", "assembly.py", "removals.py", "lockstate.py")
    for name in ("resolve.py", "upstream.py", "commands/lock.py", *locking):
        text = (SCRIPTS / name).read_text("utf-8")
        assert re.findall(r"https?://(?!upstream\.example)[^\s\"'`]+", text) == [], name


def test_environment_marker_is_true_exactly_on_its_targets(tmp_path: Path) -> None:
    ts = targets(tmp_path)
    chosen = [ts["linux-x86_64-py3.11"], ts["linux-x86_64-py3.12"], ts["windows-amd64-py3.12"]]
    marker = environment_marker(chosen)
    for t in ts.values():
        assert t.evaluate(marker) == (t in chosen), t.id


def test_parse_compiled_reads_markers_parents_and_index() -> None:
    text = """\
certy==2024.1             # via httpish
    # from http://127.0.0.1:1/simple/
httpish==1.1              # via webapp, -r requirements.in
    # from http://127.0.0.1:1/simple/
Newpy==0.9 ; python_full_version < '3.12'  # via -r requirements.in
wincolor==0.4 ; sys_platform == 'win32'  # via webapp[extra]
"""
    pins = parse_compiled(text)
    assert [(p.name, p.version, p.marker, p.via, p.direct, p.index_url) for p in pins] == [
        ("certy", "2024.1", "", ("httpish",), False, "http://127.0.0.1:1/simple/"),
        ("httpish", "1.1", "", ("webapp",), True, "http://127.0.0.1:1/simple/"),
        ("newpy", "0.9", "python_full_version < '3.12'", (), True, ""),
        ("wincolor", "0.4", "sys_platform == 'win32'", ("webapp",), False, ""),
    ]
    assert pins[2].display == "Newpy"


def test_upstream_json_and_html_pages_agree(upstream: Upstream) -> None:
    from_server = project_files(upstream.index_url, "httpish")  # type: ignore[arg-type]
    by_name = {f.filename: f for f in from_server}
    assert by_name["httpish-1.2-py3-none-any.whl"].yanked == "broken release"
    assert by_name["httpish-1.1-py3-none-any.whl"].yanked is None
    page = upstream.index_url + "httpish/"
    from_json = parse_json(json.dumps(upstream.project_json("httpish")).encode(), page)
    from_html = parse_html(upstream.project_html("httpish"), page)
    assert sorted(from_json, key=lambda f: f.filename) == from_server
    for j, h in zip(
        sorted(from_json, key=lambda f: f.filename), sorted(from_html, key=lambda f: f.filename), strict=True
    ):
        assert (h.filename, h.url, h.sha256, h.requires_python, h.yanked) == (
            j.filename,
            j.url,
            j.sha256,
            j.requires_python,
            j.yanked,
        )
        assert j.url == upstream.file_url(j.filename)
    newpy = project_files(upstream.index_url, "newpy")  # type: ignore[arg-type]
    assert {f.requires_python for f in newpy} == {">=3.10", ">=3.12"}


def test_html_only_upstream_sizes_come_from_head_for_kept_files_only(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    import curate.upstream

    monkeypatch.setattr(curate.upstream, "ACCEPT", "text/html")
    upstream.log.clear()
    files = project_files(upstream.index_url, "fastmath")  # type: ignore[arg-type]
    expected = sorted(upstream.files["fastmath"], key=lambda u: u.filename)
    assert [(f.filename, f.size, f.upload_time) for f in files] == [(u.filename, -1, "") for u in expected]
    assert not [p for m, p in upstream.log if m == "HEAD"]  # reading a page asks for no file
    wanted = [f.url for f in files if f.filename.endswith(".whl")]
    sizes = file_sizes(wanted)
    assert sizes == {f.url: u.size for f, u in zip(files, expected, strict=True) if f.url in wanted}
    assert ("HEAD", "/files/fastmath-1.5.tar.gz") not in upstream.log
