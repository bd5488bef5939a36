"""Vetting hostile archives: decompression bombs are refused without being read into memory; duplicate
names, overlapping entries, special files and links leading outside block the file."""

from __future__ import annotations

import hashlib
import io
import stat
import struct
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from curate import archive
from curate.archive import INFLATE_CEILING, INFLATE_FLOOR, MAX_METADATA_BYTES, inflate_budget
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


# -- zip archives: duplicate names, overlapping entries, the inflate budget, special files -----------------

GOOD_RECORD = b""  # RECORD's content does not matter to the checks before it is read


def _wheel_members(extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    return {
        "bomb/__init__.py": b"",
        "bomb-1.0.dist-info/METADATA": HEAD,
        "bomb-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
        "bomb-1.0.dist-info/RECORD": GOOD_RECORD,
        **(extra or {}),
    }


def _zip_with(entries: list[tuple[str, bytes]], *, compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``entries`` in order, the same name allowed more than once."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", compress) as zf:
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def _central_entries(data: bytes) -> list[int]:
    """Where each central directory entry starts."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        start = zf.start_dir
        count = len(zf.infolist())
    out, pos = [], start
    for _ in range(count):
        assert data[pos : pos + 4] == b"PK\x01\x02"
        out.append(pos)
        n, m, k = struct.unpack("<HHH", data[pos + 28 : pos + 34])
        pos += 46 + n + m + k
    return out


def _patched(data: bytes, fn: Callable[[int, int, bytearray], None]) -> bytes:
    """``data`` with ``fn(index, offset of the central entry, buffer)`` applied to each central entry."""
    buf = bytearray(data)
    for i, pos in enumerate(_central_entries(data)):
        fn(i, pos, buf)
    return bytes(buf)


def _integrity(result: FileResult) -> list[str]:
    return [msg for kind, msg in result.problems if kind == "integrity"]


def test_a_wheel_with_a_duplicate_member_name_is_blocked(tmp_path: Path) -> None:
    members = _wheel_members()
    entries = [*members.items(), ("bomb/__init__.py", b"import os; os.system('evil')\n")]
    result = _check(tmp_path, "bomb-1.0-py3-none-any.whl", _zip_with(entries))
    assert _integrity(result) == [
        "1 member name(s) appear more than once (installers disagree on which one they take):"
        " 'bomb/__init__.py'"
    ]
    assert result.metadata_sha256 is None  # nothing of it is taken as the wheel's metadata


def test_a_wheel_listing_one_stretch_of_data_under_many_names_is_blocked(tmp_path: Path) -> None:
    members = _wheel_members({f"bomb/data{i}.bin": b"\0" * 4096 for i in range(3)})
    data = _zip_with(list(members.items()))
    offsets = {}

    def point_at_the_first(i: int, pos: int, buf: bytearray) -> None:
        name_len = struct.unpack("<H", buf[pos + 28 : pos + 30])[0]
        name = bytes(buf[pos + 46 : pos + 46 + name_len]).decode()
        if name == "bomb/data0.bin":
            offsets["first"] = buf[pos + 42 : pos + 46]
        elif name.startswith("bomb/data"):
            buf[pos + 42 : pos + 46] = offsets["first"]

    result = _check(tmp_path, "bomb-1.0-py3-none-any.whl", _patched(data, point_at_the_first))
    [message] = _integrity(result)
    assert message.startswith("3 member(s) overlap another or the central directory (a zip bomb's trick):")


def test_a_wheel_inflating_past_its_budget_is_blocked_before_it_is_read(tmp_path: Path) -> None:
    """The issue's case: a small wheel listing one 256 MiB member 40 times (sizes as declared)."""
    members = _wheel_members({"bomb/big.bin": b"\0" * 1024})
    data = _zip_with(list(members.items()))

    def huge(i: int, pos: int, buf: bytearray) -> None:
        name_len = struct.unpack("<H", buf[pos + 28 : pos + 30])[0]
        if bytes(buf[pos + 46 : pos + 46 + name_len]) == b"bomb/big.bin":
            buf[pos + 24 : pos + 28] = struct.pack("<I", 256 << 20)  # uncompressed size

    entries = _patched(data, huge)
    result = _check(tmp_path, "bomb-1.0-py3-none-any.whl", entries)
    messages = _integrity(result)
    assert any(
        m.startswith("its members inflate to 268,") and "more than the 268,435,456" in m for m in messages
    )


def test_the_inflate_budget_grows_with_the_archive_within_bounds() -> None:
    assert inflate_budget(1000) == INFLATE_FLOOR
    assert inflate_budget(10 << 20) == 200 * (10 << 20)
    assert inflate_budget(1 << 40) == INFLATE_CEILING


@pytest.mark.parametrize(
    ("mode", "what"),
    [
        (stat.S_IFCHR | 0o644, "bomb/tty is a character device node"),
        (stat.S_IFBLK | 0o644, "bomb/tty is a block device node"),
        (stat.S_IFIFO | 0o644, "bomb/tty is a FIFO"),
        (stat.S_IFSOCK | 0o644, "bomb/tty is a socket"),
    ],
)
def test_a_zip_member_that_is_a_special_file_is_blocked(tmp_path: Path, mode: int, what: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in _wheel_members().items():
            zf.writestr(name, data)
        info = zipfile.ZipInfo("bomb/tty")
        info.create_system = 3
        info.external_attr = mode << 16
        zf.writestr(info, b"")
    result = _check(tmp_path, "bomb-1.0-py3-none-any.whl", buf.getvalue())
    assert _integrity(result) == [what]


@pytest.mark.parametrize(
    ("target", "blocked"), [("../../../etc/passwd", True), ("/etc/passwd", True), ("../README", False)]
)
def test_a_zip_sdist_symlink_leading_outside_is_blocked(tmp_path: Path, target: str, blocked: bool) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("bomb-1.0/PKG-INFO", HEAD)
        zf.writestr("bomb-1.0/README", b"hi")
        info = zipfile.ZipInfo("bomb-1.0/docs/link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target.encode())
    result = _check(tmp_path, "bomb-1.0.zip", buf.getvalue())
    expected = [f"bomb-1.0/docs/link is a symbolic link leading outside the archive: {target!r}"]
    assert _integrity(result) == (expected if blocked else [])


# -- tar sdists: device nodes, FIFOs, hard links outside, duplicates, the inflate budget -------------------


def _sdist(*members: tarfile.TarInfo, data: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("bomb-1.0/PKG-INFO")
        info.size = len(HEAD)
        tf.addfile(info, io.BytesIO(HEAD))
        for m in members:
            body = (data or {}).get(m.name)
            if body is not None:
                m.size = len(body)
            tf.addfile(m, io.BytesIO(body) if body is not None else None)
    return buf.getvalue()


def _member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    ("member", "what"),
    [
        (_member("bomb-1.0/dev", tarfile.CHRTYPE), "bomb-1.0/dev is a device node"),
        (_member("bomb-1.0/dev", tarfile.BLKTYPE), "bomb-1.0/dev is a device node"),
        (_member("bomb-1.0/pipe", tarfile.FIFOTYPE), "bomb-1.0/pipe is a FIFO"),
        (
            _member("bomb-1.0/passwd", tarfile.LNKTYPE, "etc/passwd"),
            "bomb-1.0/passwd is a hard link to a file the archive does not hold before it: 'etc/passwd'",
        ),
        (
            _member("bomb-1.0/passwd", tarfile.LNKTYPE, "../../etc/passwd"),
            "bomb-1.0/passwd is a hard link to a file the archive does not hold before it: '../../etc/passwd'",
        ),
        (
            _member("bomb-1.0/passwd", tarfile.LNKTYPE, "/etc/passwd"),
            "bomb-1.0/passwd is a hard link to a file the archive does not hold before it: '/etc/passwd'",
        ),
        (
            _member("bomb-1.0/link", tarfile.SYMTYPE, "../../etc/passwd"),
            "bomb-1.0/link is a symbolic link leading outside the archive: '../../etc/passwd'",
        ),
        (_member("../evil", tarfile.REGTYPE), "unsafe path in archive: ../evil"),
    ],
)
def test_an_sdist_holding_a_special_file_or_a_link_outside_is_blocked(
    tmp_path: Path, member: tarfile.TarInfo, what: str
) -> None:
    result = _check(tmp_path, "bomb-1.0.tar.gz", _sdist(member))
    assert _integrity(result) == [what]
    assert result.fields is None


def test_links_inside_an_sdist_are_fine(tmp_path: Path) -> None:
    readme = _member("bomb-1.0/README", tarfile.REGTYPE)
    data = _sdist(
        readme,
        _member("bomb-1.0/README.hard", tarfile.LNKTYPE, "bomb-1.0/README"),
        _member("bomb-1.0/docs/README", tarfile.SYMTYPE, "../README"),
        data={"bomb-1.0/README": b"hello"},
    )
    result = _check(tmp_path, "bomb-1.0.tar.gz", data)
    assert _integrity(result) == []
    assert result.fields is not None


def test_an_sdist_giving_one_name_to_two_files_is_blocked(tmp_path: Path) -> None:
    data = _sdist(
        _member("bomb-1.0/setup.py", tarfile.REGTYPE),
        _member("bomb-1.0/setup.py", tarfile.REGTYPE),
        data={"bomb-1.0/setup.py": b"print('hi')\n"},
    )
    result = _check(tmp_path, "bomb-1.0.tar.gz", data)
    assert _integrity(result) == [
        "1 name(s) appear more than once (the last one wins when unpacked): 'bomb-1.0/setup.py'"
    ]


def test_an_sdist_inflating_past_its_budget_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "INFLATE_FLOOR", 1 << 20)  # a small budget, for a small test
    data = _sdist(_member("bomb-1.0/zeros", tarfile.REGTYPE), data={"bomb-1.0/zeros": b"\0" * (4 << 20)})
    assert len(data) * archive.INFLATE_RATIO < (1 << 20)
    result = _check(tmp_path, "bomb-1.0.tar.gz", data)
    [message] = _integrity(result)
    assert message.startswith("archive does not open: it inflates to more than 1,048,576 bytes")
