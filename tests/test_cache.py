"""The cache's side of what the catalog needs: which files, which are missing, and how that is said."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from curate.cache import Wanted, blob_path, cached_path, format_missing, missing_files, wanted_files
from curate.catalog import FileEntry, Project, VersionEntry

SHA_A, SHA_B = "a" * 64, "b" * 64


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


def test_vet_does_not_import_the_downloader() -> None:
    code = "import sys, curate.vet; print(sorted(m for m in ('curate.fetch', 'urllib3') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
