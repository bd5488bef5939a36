"""Vetting hostile archives: decompression bombs are refused without being read into memory."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

from curate.archive import MAX_METADATA_BYTES
from curate.cache import blob_path
from curate.vet import FileResult, check_file

HEAD = b"Metadata-Version: 2.1\nName: bomb\nVersion: 1.0\n\n"


def _store(cache: Path, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    path = blob_path(cache, sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sha


def _check(tmp_path: Path, filename: str, data: bytes) -> FileResult:
    cache = tmp_path / "cache"
    sha = _store(cache, data)
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return check_file(str(cache), filename, sha, len(data), "bomb", "1.0", str(scratch))


def _wheel(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_wheel_whose_metadata_is_a_bomb_is_refused(tmp_path: Path) -> None:
    data = _wheel(
        {
            "bomb-1.0.dist-info/METADATA": HEAD + b"\0" * (MAX_METADATA_BYTES + 1),
            "bomb-1.0.dist-info/RECORD": b"",
        }
    )
    assert len(data) < MAX_METADATA_BYTES // 100  # compresses well: the file is small
    result = _check(tmp_path, "bomb-1.0-py3-none-any.whl", data)
    assert result.metadata_sha256 is None
    assert any(kind == "integrity" and "more than" in msg for kind, msg in result.problems), result.problems


def test_a_wheel_whose_record_is_a_bomb_is_refused(tmp_path: Path) -> None:
    data = _wheel(
        {
            "bomb-1.0.dist-info/METADATA": HEAD,
            "bomb-1.0.dist-info/RECORD": b"x" * (MAX_METADATA_BYTES + 1),
        }
    )
    result = _check(tmp_path, "bomb-1.0-py3-none-any.whl", data)
    assert any(kind == "integrity" and "more than" in msg for kind, msg in result.problems), result.problems


def test_an_sdist_whose_pkg_info_is_a_bomb_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        body = HEAD + b"\0" * (MAX_METADATA_BYTES + 1)
        info = tarfile.TarInfo("bomb-1.0/PKG-INFO")
        info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
    result = _check(tmp_path, "bomb-1.0.tar.gz", buf.getvalue())
    assert result.fields is None
    assert any(kind == "integrity" and "more than" in msg for kind, msg in result.problems), result.problems
