"""The cache's side of what the catalog needs: which files, which are missing, and how that is said."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from curate import cache
from curate.cache import (
    Wanted,
    blob_path,
    blob_state,
    cached_path,
    format_missing,
    holds,
    missing_files,
    stamp_path,
    wanted_files,
)
from curate.catalog import FileEntry, Project, VersionEntry

SHA_A, SHA_B = hashlib.sha256(b"abc").hexdigest(), hashlib.sha256(b"ab").hexdigest()


def _project(name: str, version: str, *files: FileEntry) -> Project:
    return Project(name=name, versions=(VersionEntry(version=version, files=files),))


def test_wanted_files_once_per_sha256_and_missing_ones_named(tmp_path: Path) -> None:
    a = FileEntry(filename="a-1.0-py3-none-any.whl", sha256=SHA_A, size=3)
    b = FileEntry(filename="b-1.0.tar.gz", sha256=SHA_B, size=2)
    wanted = wanted_files([_project("b", "1.0", b), _project("a", "1.0", a), _project("a2", "1.0", a)])
    assert [w.file.filename for w in wanted] == [a.filename, b.filename]
    blob = blob_path(tmp_path, SHA_A)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"abc")
    assert cached_path(tmp_path, a) == blob
    missing = missing_files(tmp_path, wanted)
    assert missing == [Wanted(project="b", version="1.0", file=b)]
    assert format_missing(missing) == (
        f"1 file(s) missing from the cache:\n  b 1.0: b-1.0.tar.gz (sha256 {SHA_B})"
    )
    blob.write_bytes(b"ab")  # the wrong size is not the file
    assert cached_path(tmp_path, a) is None


def test_cached_bytes_are_verified_on_use_by_their_stamp_else_their_hash(tmp_path: Path) -> None:
    a = FileEntry(filename="a-1.0-py3-none-any.whl", sha256=SHA_A, size=3)
    blob = blob_path(tmp_path, SHA_A)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"abc")
    assert blob_state(tmp_path, a) == "verified"  # hashed, then a stamp recorded
    assert stamp_path(tmp_path, SHA_A).is_file()
    st = blob.stat()
    blob.write_bytes(b"abd")  # the right size, other bytes: before the fix, "already there" and served
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert blob_state(tmp_path, a) == "altered"
    assert cached_path(tmp_path, a) is None
    assert missing_files(tmp_path, [Wanted(project="a", version="1.0", file=a)]) != []
    assert format_missing(
        missing_files(tmp_path, [Wanted(project="a", version="1.0", file=a)]), tmp_path
    ) == (
        "1 file(s) missing from the cache (1 there with other bytes than the catalog's sha256: altered since"
        f" they were fetched):\n  a 1.0: a-1.0-py3-none-any.whl (sha256 {SHA_A}) (altered)"
    )
    blob.write_bytes(b"abc")
    assert blob_state(tmp_path, a) == "verified"


def test_a_stamp_is_trusted_only_while_the_file_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = tmp_path / "x"
    blob.write_bytes(b"abc")
    hashed: list[Path] = []
    real = cache.sha256_of

    def counted(p: Path) -> str:
        hashed.append(p)
        return real(p)

    monkeypatch.setattr(cache, "sha256_of", counted)
    assert holds(tmp_path, blob, SHA_A)
    assert holds(tmp_path, blob, SHA_A)  # the stamp: not hashed again
    assert hashed == [blob]
    st = blob.stat()
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))  # touched (or written): hashed again
    assert holds(tmp_path, blob, SHA_A)
    assert hashed == [blob, blob]
    copy = tmp_path / "copy"
    shutil.copy(blob, copy)  # another inode: its own stamp
    assert holds(tmp_path, copy, SHA_A)
    assert holds(tmp_path, blob, SHA_A)
    assert hashed == [blob, blob, copy]
    assert not holds(tmp_path, blob, SHA_B)


def test_vet_does_not_import_the_downloader() -> None:
    code = "import sys, curate.vet; print(sorted(m for m in ('curate.fetch', 'urllib3') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
