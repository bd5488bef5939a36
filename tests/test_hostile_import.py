"""A hostile requirements file given to `curate import`: an include of a device or a FIFO cannot hang it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from curate.importers.requirements import read_requirements


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_an_include_that_is_not_a_regular_file_is_skipped(tmp_path: Path, kind: str) -> None:
    if kind == "device":
        target = "/dev/zero"  # before the fix: read until memory runs out
    else:
        target = str(tmp_path / "pipe")
        os.mkfifo(target)  # before the fix: blocks forever waiting for a writer
    req = tmp_path / "requirements.txt"
    req.write_text(f"alpha==1.0\n-r {target}\n", "utf-8")
    parsed = read_requirements(req, read=Path.read_bytes, display=str)
    assert [e.name for e in parsed.entries] == ["alpha"]
    [skip] = parsed.skips
    assert skip.entry == f"-r {target}"
    assert "not a regular file" in skip.reason
