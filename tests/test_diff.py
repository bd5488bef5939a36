"""`curate diff`: what a pull request does to the catalog, as text, Markdown and JSON."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.catalog import Need, Project, VersionEntry, project_path
from curate.diff import catalog_at, compare, render, render_text
from curate.errors import ValidationError
from curate.names import normalize
from curate.vetting import VettingRecord
from tests.lockutil import curate, lock_repo, write_request
from tests.upstream import Upstream, make_upstream


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with make_upstream(tmp_path_factory.mktemp("upstream")) as up:
        yield up


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture(scope="module")
def pr_repo(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Path:
    """main: one request pinning httpish 1.0, one asking for linuxonly; the branch replaces the first with
    webapp (httpish 1.1: 1.0 is superseded, still served) and the second with a removal of linuxonly."""
    mp = pytest.MonkeyPatch()
    mp.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))
    try:
        root = lock_repo(tmp_path_factory.mktemp("diff") / "repo", upstream.index_url)
        git(root, "init", "-q", "-b", "main")
        write_request(root, "old", [("httpish", "==1.0")])
        write_request(root, "tool", [("linuxonly", "")], platforms=["linux"], date="2026-11-20")
        assert curate(root, "lock", "-q") == 0
        git(root, "add", "-A")
        git(root, "commit", "-qm", "base")
        git(root, "checkout", "-qb", "feature")
        (root / "requests" / "2026-11-21-old.yaml").unlink()
        (root / "requests" / "2026-11-20-tool.yaml").unlink()
        write_request(root, "web", [("webapp", "")], date="2026-11-22")
        write_request(root, "drop", remove=[("linuxonly", "", "end of life")], date="2026-11-23")
        assert curate(root, "lock", "-q") == 0
    finally:
        mp.undo()
    path = project_path(root, "wincolor")
    findings = (
        "vetting:\n      findings:\n        - id: license-unknown\n          kind: license-unknown\n"
        "          message: the metadata declares no licence\n          decision: warn\n"
        "        - id: GHSA-1234\n          kind: vulnerability\n          decision: block\n"
        "        - id: yanked\n          kind: yanked\n          message: 'yanked upstream: broken'\n"
        "          decision: waived\n          waiver:\n            justification: pinned by the vendor\n"
        "            expires: '2027-01-01'"
    )
    path.write_text(path.read_text("utf-8").replace("vetting: {}", findings), "utf-8")
    return root


def test_text(pr_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert curate(pr_repo, "diff") == 0
    out = capsys.readouterr().out
    base = git(pr_repo, "rev-parse", "--short", "main").strip()
    assert out.startswith(f"Catalog changes since {base}:\n")
    assert "\033[" not in out  # not a terminal: no colours
    assert "  + httpish 1.1  [Linux, Windows]  via webapp\n" in out
    assert "  + webapp 2.0  [Linux, Windows]  requested\n" in out
    assert "  + wincolor 0.4  [Windows]  via webapp\n" in out
    assert "  = certy 2024.1  [Linux, Windows]  via httpish (now also for 2026-11-22-web)\n" in out
    superseded = "Superseded (still served) (1):\n  ~ httpish 1.0  [Linux, Windows]  "
    assert f"{superseded}no request needs it any more; it stays served\n" in out
    removed = "  - linuxonly 1.0  [Linux]  removed by requests/2026-11-23-drop.yaml: end of life\n"
    assert f"\nRemoved (1):\n{removed}" in out
    assert "Linux: 2 added, 1 already present, 1 superseded, 1 removed\n" in out
    assert "Windows: 3 added, 1 already present, 1 superseded, 0 removed\n" in out
    assert "Python" not in out  # every change is for the same Python versions
    assert "New files: 3, " in out
    assert "Vetting: 1 block, 1 warn, 1 waived\n  blocked: wincolor 0.4: GHSA-1234 (vulnerability)" in out


def test_colours_only_when_asked(pr_repo: Path) -> None:
    from curate.catalog import load_catalog

    report = compare(catalog_at(pr_repo, "main", env=os.environ), load_catalog(pr_repo), base_ref="main")
    coloured = render_text(report, colour=True)
    assert "\033[32m  + webapp 2.0" in coloured
    assert "\033[34m  = certy 2024.1" in coloured
    assert "\033[33m  ~ httpish 1.0" in coloured
    assert "\033[31m  - linuxonly 1.0" in coloured


def test_markdown(pr_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert curate(pr_repo, "diff", "--base", "main", "--format", "markdown") == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "## Catalog changes since `main`\n\n**3 added**, 1 already present, 1 superseded (still served), "
        "1 removed; 3 new file(s), "
    )
    assert "| Windows | 3 | 1 | 1 | 0 |" in out
    assert "| `wincolor` | 0.4 | Windows | via webapp | 2026-11-22-web |" in out
    assert (
        "| `httpish` | 1.0 | Linux, Windows | no request needs it any more; it stays served | 2026-11-21-old |"
        in out
    )
    assert (
        "| `linuxonly` | 1.0 | Linux | removed by requests/2026-11-23-drop.yaml: end of life | 2026-11-20-tool |"
        in out
    )
    assert "- **block** `wincolor` 0.4: GHSA-1234 (vulnerability)" in out
    # what was found, and why a waived finding is accepted, not just the id again
    assert "- **warn** `wincolor` 0.4: license-unknown: the metadata declares no licence\n" in out
    assert (
        "- **waived** `wincolor` 0.4: yanked: yanked upstream: broken"
        " \\[waived until 2027-01-01: pinned by the vendor\\]\n"
    ) in out


def test_json(pr_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert curate(pr_repo, "diff", "--base", "main", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"] == {"added": 3, "present": 1, "superseded": 1, "removed": 1}
    assert data["os"]["windows"] == {"added": 3, "present": 1, "superseded": 1, "removed": 0}
    assert data["findings"] == {"block": 1, "warn": 1, "waived": 1}
    assert data["new_files"] == 3
    assert data["download_size"] > 0
    webapp = next(c for c in data["changes"] if c["name"] == "webapp")
    assert webapp["status"] == "added"
    assert webapp["direct"] is True
    assert webapp["new_files"] == [
        {"filename": "webapp-2.0-py3-none-any.whl", "size": webapp["new_files"][0]["size"]}
    ]


def test_no_change_and_bad_ref(pr_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert (
        curate(pr_repo, "diff", "--base", "main", "--format", "text", "--output", str(pr_repo / "d.txt")) == 0
    )
    assert (pr_repo / "d.txt").read_text("utf-8").startswith("Catalog changes since main:")
    assert curate(pr_repo, "diff", "--base", "no-such-ref") == 2
    assert "unknown git revision 'no-such-ref'" in capsys.readouterr().err
    # an output file that cannot be written is an error, not a traceback
    assert curate(pr_repo, "diff", "--base", "main", "-o", str(pr_repo / "no" / "such" / "d.md")) == 2
    assert "error: cannot write " in capsys.readouterr().err
    report = compare({}, {}, base_ref="main")
    assert render_text(report) == "No change to the catalog since main.\n"


def test_a_malformed_vetting_record_at_the_base_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "catalog" / "packages" / "pkg.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "name: pkg\nversions:\n  - version: '1.0'\n    vetting:\n      findings:\n"
        "        - id: x\n          kind: yankd\n          decision: warn\n",
        "utf-8",
    )
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    with pytest.raises(ValidationError) as info:
        catalog_at(tmp_path, "main", env=os.environ)
    (problem,) = info.value.problems
    assert (problem.path, problem.line, problem.key) == (
        "main:catalog/packages/pkg.yaml",
        7,
        "versions[0].vetting.findings[0].kind",
    )
    assert "unknown finding kind 'yankd'" in problem.message


# -- say what was checked (issue 13, item 15) ---------------------------------------------------------------


def _version(version: str, advisories: str | None, *, vetted: bool = True) -> VersionEntry:
    record = VettingRecord(status="pass", advisories=advisories) if vetted else None  # type: ignore[arg-type]
    need = Need(request="2026-01-01-r", targets=("linux-x86_64-py3.12",), direct=True)
    return VersionEntry(version=version, needed_by=(need,), vetting=record)


def test_every_report_says_whether_known_vulnerabilities_were_checked() -> None:
    head = {
        normalize("a"): Project(name="a", versions=(_version("1.0", "osv-api"),)),
        normalize("b"): Project(name="b", versions=(_version("1.0", "none"),)),
        normalize("c"): Project(name="c", versions=(_version("1.0", None, vetted=False),)),
    }
    report = compare({}, head, base_ref="main")
    line = (
        "Known vulnerabilities: not checked for 2 of 3 version(s) (1 not vetted yet; 1 vetted with no "
        "advisory source (vetting.advisories.source: none, or curate vet --no-advisories))"
    )
    assert f"\n{line}\n" in render_text(report)
    assert (
        "**Known vulnerabilities: not checked** for 2 of 3 version(s) (1 not vetted yet; 1 vetted"
        in render(report, "markdown")
    )
    data = json.loads(render(report, "json"))
    assert data["known_vulnerabilities"] == {"checked": 1, "not_checked": 2}
    assert [c["known_vulnerabilities"] for c in data["changes"]] == ["checked", "not checked", "not checked"]

    checked = compare({}, {normalize("a"): head[normalize("a")]}, base_ref="main")
    assert "Known vulnerabilities: checked for all 1 version(s) (advisories: osv-api)" in render_text(checked)
    assert "\nKnown vulnerabilities: checked for all 1 version(s) (advisories: osv-api).\n" in render(
        checked, "markdown"
    )
