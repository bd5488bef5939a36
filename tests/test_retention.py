"""The additive catalog: a re-lock keeps what teams pinned (superseded, still served); a version leaves
only through a remove: entry or the retention rule, and the lock and the diff say which and why."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.build import build
from curate.catalog import Project, VersionEntry, load_catalog
from curate.config import Retention
from curate.diff import UNEXPLAINED, compare, render_markdown, render_text
from curate.lock import load_requests
from curate.names import NormalizedName
from curate.retention import departures
from tests.catalogs import vet_as_is
from tests.lockutil import curate, lock_repo, write_request
from tests.test_index_helpers import fill_cache
from tests.upstream import Upstream, make_upstream
from tests.wheels import Dist


def dists() -> list[Dist]:
    return [Dist(name="relpkg", version=v, summary="released often") for v in ("1.0", "1.1", "1.2", "2.0")]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with make_upstream(tmp_path_factory.mktemp("upstream"), dists()) as up:
        yield up


@pytest.fixture(autouse=True)
def _env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))
    monkeypatch.setenv("CURATE_TODAY", "2026-11-21")


@pytest.fixture
def repo(tmp_path: Path, upstream: Upstream) -> Path:
    return lock_repo(tmp_path / "repo", upstream.index_url)


def versions(root: Path) -> dict[str, str]:
    """relpkg's versions: 'needed' or the day it was superseded."""
    project = load_catalog(root)[NormalizedName("relpkg")]
    return {v.version: v.superseded_since or "needed" for v in project.sorted_versions()}


def pin(root: Path, version: str) -> None:
    write_request(root, "app", [("relpkg", f"=={version}")])


def set_retention(root: Path, rule: str) -> None:
    path = root / "catalog" / "config.yaml"
    text = path.read_text("utf-8")
    assert "\n  superseded: keep\n" in text  # the template's default, spelt out
    path.write_text(text.replace("\n  superseded: keep\n", f"\n  superseded: {rule}\n"), "utf-8")


def test_upgrade_keeps_the_old_version_served_until_removed(
    repo: Path, upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pin(repo, "1.0")
    assert curate(repo, "lock", "-q") == 0
    base = load_catalog(repo)
    pin(repo, "1.1")
    capsys.readouterr()
    assert curate(repo, "lock", "-q") == 0
    out = capsys.readouterr().out
    assert "superseded: relpkg 1.0 (no request needs it; it stays served)\n" in out
    assert versions(repo) == {"1.0": "2026-11-21", "1.1": "needed"}
    assert curate(repo, "lock", "--check") == 0

    # still served: the index lists both, and a team that pinned 1.0 still installs it
    cache = tmp_path / "cache"
    fill_cache(upstream, cache)
    vet_as_is(repo)  # the index serves only versions vetted as these bytes
    build(root=repo, output=repo / "public", cache_dir=cache, env={}, site=False)
    page = json.loads((repo / "public" / "simple" / "relpkg" / "index.json").read_text("utf-8"))
    assert page["versions"] == ["1.0", "1.1"]
    api = json.loads((repo / "public" / "api" / "relpkg.json").read_text("utf-8"))
    assert [(v["version"], v["superseded_since"]) for v in api["versions"]] == [
        ("1.0", "2026-11-21"),
        ("1.1", ""),
    ]

    # the reviewer sees it as superseded, with what its request moved to
    report = compare(base, load_catalog(repo))
    assert [(c.name, c.version, c.status) for c in report.changes] == [
        ("relpkg", "1.1", "added"),
        ("relpkg", "1.0", "superseded"),
    ]
    text = render_text(report)
    assert "  ~ relpkg 1.0  [Linux, Windows]  now 1.1 for 2026-11-21-app; it stays served\n" in text

    # a remove: entry takes it out; the lock says what leaves and why, and so does the diff
    before = load_catalog(repo)
    write_request(repo, "drop", remove=[("relpkg", "==1.0", "CVE-2026-0001")], date="2026-11-22")
    assert curate(repo, "lock", "--check") == 1
    capsys.readouterr()
    assert curate(repo, "lock", "-q") == 0
    out = capsys.readouterr().out
    assert "leaves the catalog: relpkg 1.0: removed by requests/2026-11-22-drop.yaml: CVE-2026-0001\n" in out
    assert versions(repo) == {"1.1": "needed"}
    assert curate(repo, "lock", "--check") == 0
    report = compare(before, load_catalog(repo), requests=load_requests(repo))
    (change,) = report.changes
    assert (change.status, change.reason) == (
        "removed",
        "removed by requests/2026-11-22-drop.yaml: CVE-2026-0001",
    )
    assert (
        "| `relpkg` | 1.0 | Linux, Windows | removed by requests/2026-11-22-drop.yaml: CVE-2026-0001 |"
        in (render_markdown(report))
    )


def test_a_deleted_request_leaves_its_versions_superseded(repo: Path) -> None:
    pin(repo, "1.0")
    assert curate(repo, "lock", "-q") == 0
    (repo / "requests" / "2026-11-21-app.yaml").unlink()
    assert curate(repo, "lock", "-q") == 0
    assert versions(repo) == {"1.0": "2026-11-21"}


def test_drop_after(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pin(repo, "1.0")
    assert curate(repo, "lock", "-q") == 0
    pin(repo, "1.1")
    assert curate(repo, "lock", "-q") == 0
    set_retention(repo, "{drop-after: 30}")
    assert curate(repo, "lock", "--check") == 1
    assert (
        "the retention rule changed since the last lock (now drop-after: 30 days)" in capsys.readouterr().err
    )
    monkeypatch.setenv("CURATE_TODAY", "2026-12-20")
    assert curate(repo, "lock", "-q") == 0
    assert versions(repo) == {"1.0": "2026-11-21", "1.1": "needed"}
    state = json.loads((repo / "catalog" / "lock.json").read_text("utf-8"))
    assert (state["retention"], state["retention_due"]) == ("drop-after: 30 days", "2026-12-21")
    assert curate(repo, "lock", "--check") == 0  # --check never depends on the date
    monkeypatch.setenv("CURATE_TODAY", "2026-12-21")
    capsys.readouterr()
    assert curate(repo, "lock", "-q") == 0  # nothing changed, but a version is due
    out = capsys.readouterr().out
    assert (
        "leaves the catalog: relpkg 1.0: retention (drop-after: 30 days; superseded since 2026-11-21)\n"
        in out
    )
    assert versions(repo) == {"1.1": "needed"}
    assert "retention_due" not in json.loads((repo / "catalog" / "lock.json").read_text("utf-8"))


def test_keep_latest(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for v in ("1.0", "1.1", "1.2", "2.0"):
        pin(repo, v)
        assert curate(repo, "lock", "-q") == 0
    assert versions(repo) == {"1.0": "2026-11-21", "1.1": "2026-11-21", "1.2": "2026-11-21", "2.0": "needed"}
    set_retention(repo, "{keep-latest: 1}")
    capsys.readouterr()
    assert curate(repo, "lock", "-q") == 0
    out = capsys.readouterr().out
    assert (
        "leaves the catalog: relpkg 1.0: retention (keep-latest: 1; newer superseded versions kept: 1.2)"
        in out
    )
    assert "leaves the catalog: relpkg 1.1: retention (keep-latest: 1; " in out
    assert versions(repo) == {"1.2": "2026-11-21", "2.0": "needed"}
    assert curate(repo, "lock", "--check") == 0


def test_keep_is_the_default_and_config_errors_name_the_fix(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_retention(repo, "keep")
    assert curate(repo, "check") == 0
    path = repo / "catalog" / "config.yaml"
    path.write_text(path.read_text("utf-8").replace("superseded: keep", "superseded: forever"), "utf-8")
    capsys.readouterr()
    assert curate(repo, "check") == 1
    err = capsys.readouterr().err
    assert "unknown retention rule 'forever'" in err
    assert "superseded: {drop-after: 30} (days)" in err


def _version(version: str, *, since: str = "", needed: bool = False) -> VersionEntry:
    from curate.catalog import Need

    need = (Need(request="r", targets=("linux-x86_64-py3.12",), direct=True),) if needed else ()
    return VersionEntry(version=version, needed_by=need, superseded_since=since)


@pytest.mark.parametrize(
    ("retention", "left", "due"),
    [
        (Retention(), ["1.0", "1.1", "2.0"], ""),
        (Retention(rule="drop-after", days=10), ["1.1", "2.0"], "2026-11-25"),
        (Retention(rule="drop-after", days=0), ["2.0"], ""),
        (Retention(rule="keep-latest", count=1), ["1.1", "2.0"], ""),
        (Retention(rule="keep-latest", count=0), ["2.0"], ""),
    ],
)
def test_departures(retention: Retention, left: list[str], due: str) -> None:
    project = Project(
        name="relpkg",
        versions=(
            _version("1.0", since="2026-11-01"),
            _version("1.1", since="2026-11-15"),
            _version("2.0", needed=True),
        ),
    )
    kept, gone, next_due = departures(
        {NormalizedName("relpkg"): project}, [], retention, dt.date(2026, 11, 21)
    )
    assert [v.version for v in kept[NormalizedName("relpkg")].sorted_versions()] == left
    assert next_due == due
    assert all(d.kind == "retention" for d in gone)


def test_an_unexplained_disappearance_is_flagged() -> None:
    before = {NormalizedName("relpkg"): Project(name="relpkg", versions=(_version("1.0", needed=True),))}
    (change,) = compare(before, {}).changes
    assert (change.status, change.reason) == ("removed", UNEXPLAINED)
