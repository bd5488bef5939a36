"""Atomic file writing: a file is either its old bytes or its new bytes, never something in between."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from curate import atomic
from curate.atomic import (
    atomic_write,
    atomic_writer,
    finish_replacing,
    remove_temporaries,
    replace_files,
    write_if_changed,
)


def test_atomic_write_creates_folders_and_writes_text_and_bytes(tmp_path: Path) -> None:
    atomic_write(tmp_path / "a" / "b.txt", "héllo\n")
    atomic_write(tmp_path / "c.bin", b"\x00\x01")
    assert (tmp_path / "a" / "b.txt").read_bytes() == "héllo\n".encode()
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "c.bin").stat().st_mode & 0o777 == 0o644


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "x.yaml"
    target.write_text("old\n", "utf-8")

    def write_half() -> None:
        with atomic_writer(target) as fh:
            fh.write("half of the new")
            raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        write_half()
    assert target.read_text("utf-8") == "old\n"
    assert os.listdir(tmp_path) == ["x.yaml"]


def test_write_if_changed_leaves_equal_bytes_alone(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    assert write_if_changed(target, "one\n") is True
    before = target.stat().st_ino
    assert write_if_changed(target, b"one\n") is False
    assert target.stat().st_ino == before  # not replaced
    assert write_if_changed(target, "two\n") is True
    assert target.read_text("utf-8") == "two\n"


# -- several files as one step, even against kill -9 -------------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_run_killed_between_its_renames_is_completed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "packages"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.yaml").write_text("old\n")
    journal = tmp_path / ".journal.json"
    changes: dict[Path, bytes | None] = {folder / f"{n}.yaml": b"new\n" for n in ("a", "b")}
    changes[folder / "c.yaml"] = None
    real = os.replace
    done: list[str] = []

    def killed_after_one(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst).parent == folder:
            if done:
                raise SystemExit("kill -9")  # what the next run finds is what a kill here leaves
            done.append(str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", killed_after_one)
    with pytest.raises(SystemExit):
        replace_files(changes, journal=journal)
    monkeypatch.setattr(os, "replace", real)
    mixed = _files(folder)
    assert sum(v == b"new\n" for k, v in mixed.items() if not k.endswith(".tmp")) == 1  # one renamed
    assert journal.exists()
    assert finish_replacing(journal)
    assert _files(folder) == {"a.yaml": b"new\n", "b.yaml": b"new\n"}  # all of it; no temporary left
    assert not journal.exists()
    assert not finish_replacing(journal)  # nothing to do


def test_a_failure_while_staging_changes_nothing_and_leaves_no_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "packages"
    folder.mkdir()
    (folder / "a.yaml").write_text("old\n")
    journal = tmp_path / ".journal.json"
    real = atomic._temporary_beside
    calls: list[Path] = []

    @contextlib.contextmanager
    def full_disk(path: Path, mode: str) -> Iterator[tuple[Any, str]]:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        with real(path, mode) as got:
            yield got

    monkeypatch.setattr(atomic, "_temporary_beside", full_disk)
    with pytest.raises(OSError, match="No space"):
        replace_files({folder / "a.yaml": b"new\n", folder / "b.yaml": b"new\n"}, journal=journal)
    assert _files(folder) == {"a.yaml": b"old\n"}
    assert not journal.exists()


@pytest.mark.parametrize(
    "plan",
    [
        {"replace": [["../../etc/.passwd.x.tmp", "../../etc/passwd"]], "delete": []},
        {"replace": [], "delete": ["/etc/passwd"]},
        {"replace": [["other.tmp", "a.yaml"]], "delete": []},
        {"replace": "x"},
    ],
)
def test_a_journal_curate_did_not_write_is_refused(tmp_path: Path, plan: object) -> None:
    """A journal committed to a repository must not make curate rename or delete anything."""
    journal = tmp_path / ".journal.json"
    journal.write_text(json.dumps(plan))
    with pytest.raises(ValueError, match="not a journal curate wrote"):
        finish_replacing(journal)
    assert journal.exists()


def test_temporaries_of_killed_runs_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".a.yaml.x1y2.tmp").write_text("half")
    (tmp_path / "a.yaml").write_text("whole")
    (tmp_path / "notes.tmp").write_text("not ours")
    assert [p.name for p in remove_temporaries(tmp_path)] == [".a.yaml.x1y2.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "notes.tmp"]
