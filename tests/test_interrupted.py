"""Runs that are killed or fail part way: curate vet writes all or nothing, what a killed lock, vet or build
left is cleared by the next run and never commit-able, and a full disk leaves no temporary file."""

from __future__ import annotations

import contextlib
import errno
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from curate import atomic
from curate.cache import wanted_files
from curate.catalog import JOURNAL, load_catalog
from curate.cli import main
from curate.fetch import fetch_all
from curate.httpclient import HttpClient
from curate.locate import locate
from tests.catalogs import make_repo, write_catalog
from tests.conftest import REPO
from tests.test_index_helpers import make_built
from tests.upstream import Upstream, make_upstream

PICKS = {"certy": ["2024.1"], "webapp": ["2.0"], "httpish": ["1.1"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Upstream]]:
    base = tmp_path_factory.mktemp("interrupted")
    with make_upstream(base / "up") as up:
        root = make_repo(base / "repo", index_url=up.index_url)
        write_catalog(root, up, PICKS)
        cache = base / "cache"
        with HttpClient({}) as client:
            found = locate(up.index_url, wanted_files(load_catalog(root).values()), client=client)
        assert fetch_all(cache, list(found.located), jobs=2).errors == ()
        yield root, cache, up


@pytest.fixture
def repo(world: tuple[Path, Path, Upstream], tmp_path: Path) -> Path:
    return Path(shutil.copytree(world[0], tmp_path / "repo"))


def _catalog(root: Path) -> dict[str, bytes]:
    folder = root / "catalog"
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _vet(root: Path, cache: Path) -> int:
    return main(["-C", str(root), "vet", "--cache-dir", str(cache), "--today", "2026-06-01", "-j", "1"])


def test_vet_killed_while_writing_leaves_the_catalog_as_it_was(
    world: tuple[Path, Path, Upstream], repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after writing some of its results (here: while staging the second file). Before, each
    project file was written and fsynced in turn, so a kill left some vetted and others not."""
    before = _catalog(repo)
    real = atomic._temporary_beside
    calls: list[Path] = []

    @contextlib.contextmanager
    def killed_at_the_second(path: Path, mode: str) -> Iterator[tuple[Any, str]]:
        calls.append(path)
        with real(path, mode) as got:
            if len(calls) == 2:
                raise SystemExit("kill -9")
            yield got

    monkeypatch.setattr(atomic, "_temporary_beside", killed_at_the_second)
    with pytest.raises(SystemExit):
        _vet(repo, world[1])
    monkeypatch.undo()
    assert _catalog(repo) == before  # nothing of it
    assert _vet(repo, world[1]) == 0
    after = load_catalog(repo)
    assert all(v.vetting is not None for p in after.values() for v in p.versions)


def test_a_vet_killed_between_its_renames_is_flagged_then_completed(
    world: tuple[Path, Path, Upstream],
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import os

    real = os.replace
    renamed: list[str] = []

    def killed_after_one(src: Any, dst: Any) -> None:
        if Path(dst).parent.name == "packages":
            if renamed:
                raise SystemExit("kill -9")
            renamed.append(str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", killed_after_one)
    with pytest.raises(SystemExit):
        _vet(repo, world[1])
    monkeypatch.undo()
    assert (repo / JOURNAL).exists()
    capsys.readouterr()
    assert main(["-C", str(repo), "lock", "--check"]) == 1  # never committed as it is
    err = capsys.readouterr().err
    assert "catalog/.curate-journal.json: left by a curate lock or curate vet killed while writing" in err
    assert "/.webapp.yaml." in err or "/.httpish.yaml." in err or "/.certy.yaml." in err  # its staged files
    assert _vet(repo, world[1]) == 0  # completes it first, then finds everything vetted
    assert "vetted 3 version(s) (0 re-checked" in capsys.readouterr().out
    assert not (repo / JOURNAL).exists()
    assert not list((repo / "catalog").rglob(".*.tmp"))


def test_temporary_files_of_a_killed_lock_are_flagged_and_cleared(
    world: tuple[Path, Path, Upstream], repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leftover = repo / "catalog" / "packages" / ".certy.yaml.k2j3h4.tmp"
    leftover.write_text("name: cer")
    state_leftover = repo / "catalog" / ".lock.json.a1b2.tmp"
    state_leftover.write_text("{")
    assert main(["-C", str(repo), "lock", "--check"]) == 1
    err = capsys.readouterr().err
    assert (
        "catalog/packages/.certy.yaml.k2j3h4.tmp: left by a curate lock or curate vet killed while writing"
        in err
    )
    assert _vet(repo, world[1]) == 0  # the next writer clears them
    assert not leftover.exists()
    assert not state_leftover.exists()


@pytest.mark.parametrize(
    "path",
    [
        "catalog/packages/.certy.yaml.k2j3h4.tmp",
        "catalog/.lock.json.a1b2.tmp",
        "catalog/.curate-journal.json",
        "catalog/.curate-writing.lock",
        ".public.staging-abc123",
        ".public.old-1234",
        ".public.lock",
    ],
)
def test_what_a_killed_run_leaves_is_git_ignored(path: str) -> None:
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", path], cwd=REPO, capture_output=True, check=False
    )
    assert done.returncode == 0, f"{path} is not ignored by .gitignore"


def test_a_full_disk_during_an_in_place_update_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--index-only on a live tree copies a file that is not there yet (another filesystem than the
    cache: a copy, not a link) and the disk fills: before, a .whl.tmp stayed in public/files."""
    b = make_built(tmp_path)
    shutil.rmtree(b.public / "files" / "certy")
    import curate.index

    def full_disk(src: Any, dst: Any) -> None:
        Path(dst).write_bytes(b"half a wheel")
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(curate.index, "link_or_copy", full_disk)
    code = main(["-C", str(b.root), "build", "--index-only", "--cache-dir", str(b.cache), "--rebuild"])
    assert code == 1
    assert "No space left on device" in capsys.readouterr().err
    assert not [p for p in b.public.rglob("*") if p.name.endswith(".tmp")]
    assert not (b.public / ".curate-updating").exists()


def test_an_in_place_update_killed_part_way_is_swept_by_the_next(tmp_path: Path) -> None:
    b = make_built(tmp_path)
    (b.public / ".curate-updating").touch()  # what a kill -9 leaves
    half = b.public / "files" / "certy" / ".certy-2024.1-py3-none-any.whl.tmp"
    half.write_bytes(b"half")
    page = b.public / "simple" / "certy" / ".index.html.x7y8.tmp"
    page.write_bytes(b"<html")
    assert main(["-C", str(b.root), "build", "--index-only", "--cache-dir", str(b.cache)]) == 0
    assert not half.exists()
    assert not page.exists()
    assert not (b.public / ".curate-updating").exists()
