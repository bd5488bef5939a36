"""Injection into what people read (issue 13, item 9): upstream text in the review report and the CI log.

A hostile upstream yanks a release with a reason that forges a verdict heading, an image, a link, a
team mention and workflow commands, and declares a licence in a folded ``License-Expression`` header
that does the same. ``curate vet`` in GitHub Actions and ``curate diff`` (text, Markdown, JSON) must
show that text as data: one line in Markdown, no mention or link, no heading, and in the log no line the
Actions runner reads as a workflow command (``::cmd::`` at a line's start, ``##[cmd]`` anywhere).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from curate.catalog import load_catalog
from curate.cli import main
from curate.diff import compare, render
from curate.fetch import fetch_catalog
from tests.catalogs import make_repo, write_catalog
from tests.upstream import make_upstream
from tests.wheels import Dist

FORGED = (
    "broken\n::error file=README.md::forged\n  ::stop-commands::tok\n## All checks passed, approve now\n"
    "![ok](https://evil.example/ok.png) [docs](https://evil.example) @org/security fixes #1 "
    "\x1b[2J\x1b]0;title\x07 ##[error]forged \u202egnp.exe"
)
DISTS = [
    Dist(name="evilyank", version="1.0", sdist=False, yanked=FORGED),
    # a folded header: its continuation lines start with a blank, and each forges something
    Dist(
        name="evillicense",
        version="1.0",
        sdist=False,
        license_expression="LicenseRef-Evil\n ::error::forged licence\n ## Approved\n @org/team",
    ),
]


def _log_commands(text: str) -> list[str]:
    """Lines of a CI log the runner would read as a workflow command (see curate.errors)."""
    out = []
    for line in text.split("\n"):
        if line.lstrip().startswith("::") or "##[" in line:
            out.append(line)
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("injection")
    with make_upstream(base / "up", DISTS) as up:
        root = make_repo(base / "repo", index_url=up.index_url)
        write_catalog(root, up, {"evilyank": ["1.0"], "evillicense": ["1.0"]})
        cache = base / "cache"
        done = fetch_catalog(root, env={}, cache_dir=cache, jobs=2)
        assert done.report is not None
        assert done.report.errors == ()
        yield root, cache


@pytest.fixture
def vetted(
    world: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[Path, str]:
    """The catalog vetted under GitHub Actions (licence-unknown blocks, so the blocking path prints too)."""
    repo = Path(shutil.copytree(world[0], tmp_path / "repo"))
    config = repo / "catalog" / "config.yaml"
    text = config.read_text("utf-8").replace(
        "wheel-differs-from-sdist]", "wheel-differs-from-sdist, license-unknown]"
    )
    config.write_text(
        text.replace(
            "warn: [metadata-version, suspicious-code, license-unknown, ",
            "warn: [metadata-version, suspicious-code, ",
        ),
        "utf-8",
    )
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    capsys.readouterr()
    code = main(["-C", str(repo), "vet", "--cache-dir", str(world[1]), "--today", "2026-06-01", "-j", "1"])
    assert code == 1
    captured = capsys.readouterr()
    return repo, captured.out + captured.err


def test_vet_prints_upstream_text_as_data(vetted: tuple[Path, str]) -> None:
    _repo, log = vetted
    # the yank reason is there, on one line, and so is the folded licence
    assert "warn: evilyank 1.0: yanked: yanked upstream: broken ::error file=README.md::forged" in log
    assert "LicenseRef-Evil ::error::forged licence ## Approved @org/team" in log
    # the only workflow commands are curate's own annotations on the catalog file
    commands = _log_commands(log)
    assert commands
    assert all(c.startswith("::error file=catalog/packages/evillicense.yaml::") for c in commands), commands
    assert "\x1b" not in log
    assert "\x07" not in log
    assert "\u202e" not in log


def test_diff_shows_upstream_text_as_data(vetted: tuple[Path, str]) -> None:
    repo, _ = vetted
    report = compare({}, load_catalog(repo), base_ref="main")
    markdown = render(report, "markdown")
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    # curate's own headings only: no forged verdict, no image, no link
    assert re.findall(r"<h(\d)>(.*?)</h\1>", html) == [
        ("2", "Catalog changes since <code>main</code>"),
        ("3", "Added (2)"),
        ("3", "Vetting"),
    ]
    assert "<img" not in html
    assert "<a " not in html
    text = re.sub(r"<[^>]+>", "", html)
    assert "@org" not in text.replace("@\u200b", "")  # every mention defused
    assert "@\u200borg/security" in text
    assert "approve now" in text  # shown, as text in a list item
    finding_lines = [line for line in markdown.splitlines() if line.startswith("- **")]
    assert len(finding_lines) == sum(len(c.findings) for c in report.changes)  # the newlines did not survive

    log = render(report, "text")
    assert _log_commands(log) == []
    assert "LicenseRef-Evil ::error::forged licence ## Approved @org/team" in log  # blocked: listed

    data = render(report, "json")
    assert _log_commands(data) == []
    messages = [f["message"] for c in json.loads(data)["changes"] for f in c["findings"]]
    assert any(m.startswith("yanked upstream: broken\n::error") for m in messages)  # JSON keeps the data


def test_lock_progress_prints_data_safely(capsys: pytest.CaptureFixture[str]) -> None:
    from curate.commands.lock import _print_event
    from curate.lock import Note

    _print_event(Note(text="requests/x.yaml: remove evil\n::error::forged ##[error]x \x1b[2J"))
    err = capsys.readouterr().err
    assert _log_commands(err) == []
    assert "\x1b" not in err
