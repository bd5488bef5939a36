"""Reading inside distribution files without trusting anything about them."""

from __future__ import annotations

import bz2
import collections
import contextlib
import dataclasses
import gzip
import io
import lzma
import stat
import struct
import tarfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from curate.errors import CurateError

# The most a metadata member (METADATA, RECORD, PKG-INFO) may hold once decompressed: a real one is a
# few hundred kilobytes, and an archive is untrusted (a zip bomb must not be read into memory).
MAX_METADATA_BYTES = 16 << 20


class ArchiveError(CurateError):
    """A distribution file that cannot be read as what its name says."""


def read_zip_member(zf: zipfile.ZipFile, name: str, limit: int = MAX_METADATA_BYTES) -> bytes:
    """One member, refusing one larger than ``limit`` bytes decompressed (the header can lie: read at most that)."""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise ArchiveError(f"{name} is {info.file_size} bytes decompressed, more than {limit}")
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ArchiveError(f"{name} is more than {limit} bytes decompressed")
    return data


def wheel_metadata_name(names: list[str]) -> str:
    """The one ``*.dist-info/METADATA`` member of a wheel."""
    found = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    if len(found) != 1:
        raise ArchiveError(f"expected exactly one .dist-info/METADATA, found {len(found)}")
    return found[0]


def read_wheel_metadata(path: Path) -> bytes:
    """The wheel's ``METADATA`` byte for byte (what PEP 658 serves as ``<file>.metadata``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return read_zip_member(zf, wheel_metadata_name(zf.namelist()))
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ArchiveError(f"{path.name}: cannot read METADATA: {exc}") from exc


# -- bounding the work an archive can make ---------------------------------------------------------------

# An archive may inflate to this many times its own size, but always to INFLATE_FLOOR and never past
# INFLATE_CEILING. Real wheels and sdists inflate 2 to 10 times; a zip bomb thousands of times.
INFLATE_RATIO = 200
INFLATE_FLOOR = 256 << 20
INFLATE_CEILING = 16 << 30
MAX_MEMBERS = 200_000  # entries in one archive (the largest real wheels hold some tens of thousands)
MAX_LINK_TARGET = 4096  # a symbolic link's target, as a zip member holds it


def inflate_budget(archive_size: int) -> int:
    """How many bytes vetting inflates from an archive of ``archive_size`` bytes, at most."""
    return min(INFLATE_CEILING, max(INFLATE_FLOOR, INFLATE_RATIO * archive_size))


def _unsafe_path(member: str) -> bool:
    """An archive path that would land outside the folder it is unpacked into."""
    p = PurePosixPath(member.replace("\\", "/"))
    if not p.parts:
        return True
    return p.is_absolute() or ".." in p.parts or ":" in p.parts[0]


def _link_leaves(member: str, target: str) -> bool:
    """Whether a symbolic link at ``member`` pointing at ``target`` leads outside the archive."""
    if not target or target.startswith(("/", "\\")) or ":" in target.split("/", 1)[0]:
        return True
    depth = len(PurePosixPath(member.replace("\\", "/")).parts) - 1  # folders above the link
    for part in PurePosixPath(target.replace("\\", "/")).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return True
    return False


_SPECIAL = {
    stat.S_IFCHR: "a character device node",
    stat.S_IFBLK: "a block device node",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def zip_problems(zf: zipfile.ZipFile, archive_size: int) -> list[str]:
    """What makes a zip archive (a wheel, a .zip sdist) unsafe to install or too costly to read, before
    anything in it is inflated: too many members, duplicate names (installers disagree on which one
    wins), entries that overlap each other or the central directory (a zip bomb's trick), more inflated
    bytes than :func:`inflate_budget` allows, device nodes, FIFOs and sockets, links leading outside.
    Empty when it is fine."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        return [f"{len(infos):,} members, more than {MAX_MEMBERS:,}: curate does not read it"]
    problems: list[str] = []
    counts = collections.Counter(i.filename for i in infos)
    duplicates = sorted(n for n, c in counts.items() if c > 1)
    if duplicates:
        problems.append(
            f"{len(duplicates)} member name(s) appear more than once (installers disagree on which one"
            f" they take): {', '.join(repr(n) for n in duplicates[:3])}"
        )
    overlapping = _overlapping(zf, infos)
    if overlapping:
        problems.append(
            f"{len(overlapping)} member(s) overlap another or the central directory (a zip bomb's trick):"
            f" {', '.join(repr(n) for n in overlapping[:3])}"
        )
    declared = sum(i.file_size for i in infos)
    budget = inflate_budget(archive_size)
    if declared > budget:
        problems.append(
            f"its members inflate to {declared:,} bytes, more than the {budget:,} curate allows for a"
            f" {archive_size:,}-byte archive"
        )
    for info in infos:
        mode = info.external_attr >> 16
        if info.create_system != 3 or not mode:  # 3: Unix; only Unix modes say a file's type
            continue
        kind = stat.S_IFMT(mode)
        if kind in _SPECIAL:
            problems.append(f"{info.filename} is {_SPECIAL[kind]}")
        elif kind == stat.S_IFLNK and not problems:
            target = _zip_link_target(zf, info)
            if target is None or _link_leaves(info.filename, target):
                problems.append(f"{info.filename} is a symbolic link leading outside the archive: {target!r}")
    return problems


def _zip_link_target(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    if info.file_size > MAX_LINK_TARGET:
        return None
    try:
        with zf.open(info) as fh:
            return fh.read(MAX_LINK_TARGET + 1).decode("utf-8")
    except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError):
        return None


def _overlapping(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> list[str]:
    """Members whose local header and data reach into the next member, or into the central directory.

    Each local header is read (30 bytes and its name and extra lengths): the central directory may list
    one stretch of compressed data under many names, which then inflates many times over."""
    fp = zf.fp
    if fp is None:
        return []
    end_of_data = getattr(zf, "start_dir", None)
    ordered = sorted(infos, key=lambda i: i.header_offset)
    out: list[str] = []
    for n, info in enumerate(ordered):
        nxt = ordered[n + 1].header_offset if n + 1 < len(ordered) else end_of_data
        if n and ordered[n - 1].header_offset == info.header_offset:
            out.append(info.filename)  # one local header under two names
            continue
        fp.seek(info.header_offset)
        head = fp.read(30)
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            out.append(info.filename)
            continue
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        if nxt is not None and end > nxt:
            out.append(info.filename)
    return sorted(set(out))


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Budgeted(io.RawIOBase):
    """A stream of inflated bytes that refuses to give more than ``budget`` of them."""

    def __init__(self, inner: _Readable, budget: int, name: str) -> None:
        self.inner = inner
        self.budget = budget
        self.name = name
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self.inner.read(len(buf))
        self.given += len(data)
        if self.given > self.budget:
            raise ArchiveError(
                f"it inflates to more than {self.budget:,} bytes, the most curate reads from a"
                f" {self.name}: curate stops reading it"
            )
        buf[: len(data)] = data
        return len(data)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class TarScan:
    """Every member of a tar archive, and the bytes of those asked for."""

    members: tuple[tarfile.TarInfo, ...]
    kept: Mapping[str, bytes]


def scan_tar(
    path: Path, *, keep: Callable[[tarfile.TarInfo], bool], limit: int = MAX_METADATA_BYTES
) -> TarScan:
    """Read a (compressed) tar archive once, front to back, never inflating more than
    :func:`inflate_budget` allows; the regular members ``keep`` chooses are read (each at most ``limit``
    bytes). Raises :class:`ArchiveError` (or :class:`tarfile.TarError`, :class:`OSError`, :class:`EOFError`)
    when it cannot be read that way."""
    size = path.stat().st_size
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(path.open("rb"))
        magic = raw.read(6)
        raw.seek(0)
        inner: _Readable = raw
        if magic[:2] == b"\x1f\x8b":
            inner = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        elif magic[:3] == b"BZh":
            inner = stack.enter_context(bz2.BZ2File(raw))
        elif magic == b"\xfd7zXZ\x00":
            inner = stack.enter_context(lzma.LZMAFile(raw))
        stream = io.BufferedReader(_Budgeted(inner, inflate_budget(size), f"{size:,}-byte archive"))
        members: list[tarfile.TarInfo] = []
        kept: dict[str, bytes] = {}
        with tarfile.open(fileobj=stream, mode="r|") as tf:
            for member in tf:
                members.append(member)
                if len(members) > MAX_MEMBERS:
                    raise ArchiveError(f"more than {MAX_MEMBERS:,} members: curate does not read it")
                if member.isreg() and keep(member):
                    if member.size > limit:
                        raise ArchiveError(f"{member.name} is {member.size} bytes, more than {limit}")
                    fh = tf.extractfile(member)
                    kept[member.name] = fh.read(limit + 1) if fh is not None else b""
        return TarScan(members=tuple(members), kept=kept)


def tar_problems(members: Sequence[tarfile.TarInfo]) -> list[str]:
    """What makes a tar archive (an sdist) unsafe to unpack: paths leaving it, links leading outside it
    (a hard link must name a file the archive held before it), device nodes, FIFOs and other special
    files, and names given to more than one file. Empty when it is fine."""
    problems: list[str] = []
    seen_files: set[str] = set()
    counts: collections.Counter[str] = collections.Counter()
    for m in members:
        name = m.name
        if _unsafe_path(name):
            problems.append(f"unsafe path in archive: {name}")
            continue
        if m.ischr() or m.isblk():
            problems.append(f"{name} is a device node")
        elif m.isfifo():
            problems.append(f"{name} is a FIFO")
        elif m.issym():
            if _link_leaves(name, m.linkname):
                problems.append(f"{name} is a symbolic link leading outside the archive: {m.linkname!r}")
        elif m.islnk():
            target = m.linkname.replace("\\", "/").removeprefix("./")
            if _unsafe_path(m.linkname) or target not in seen_files:
                problems.append(
                    f"{name} is a hard link to a file the archive does not hold before it: {m.linkname!r}"
                )
        elif not (m.isreg() or m.isdir()):
            problems.append(f"{name} is a special file (tar type {m.type!r})")
        if not m.isdir():
            counts[name.removeprefix("./")] += 1
            if m.isreg():
                seen_files.add(name.removeprefix("./"))
    duplicates = sorted(n for n, c in counts.items() if c > 1)
    if duplicates:
        problems.append(
            f"{len(duplicates)} name(s) appear more than once (the last one wins when unpacked):"
            f" {', '.join(repr(n) for n in duplicates[:3])}"
        )
    return problems
