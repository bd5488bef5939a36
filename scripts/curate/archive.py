"""Reading inside distribution files without trusting anything about them."""

from __future__ import annotations

import zipfile
from pathlib import Path

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
