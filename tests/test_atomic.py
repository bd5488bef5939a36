"""Atomic file writing: a file is either its old bytes or its new bytes, never something in between."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from curate.atomic import atomic_write, atomic_writer, write_if_changed


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
