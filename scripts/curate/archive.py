"""Reading inside distribution files without trusting anything about them."""

from __future__ import annotations

import zipfile
from pathlib import Path

from curate.errors import CurateError


class ArchiveError(CurateError):
    """A distribution file that cannot be read as what its name says."""


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
            return zf.read(wheel_metadata_name(zf.namelist()))
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ArchiveError(f"{path.name}: cannot read METADATA: {exc}") from exc
