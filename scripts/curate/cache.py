"""The content-addressed file cache: every byte in it was verified against the catalog's sha256.

Layout under the cache root::

    sha256/ab/cdef...            a distribution file, named by its sha256
    metadata/ab/cdef...          the wheel's METADATA, byte for byte (PEP 658), keyed by the wheel's sha256

What the catalog needs in it (:func:`wanted_files`) and what is missing (:func:`missing_files`) is
decided here, so that vetting can tell what to fetch without importing the downloader (:mod:`curate.fetch`).

Root: ``--cache-dir``, else ``cache_dir`` in the config (relative to the repository), else
``$CURATE_CACHE_DIR``, else the user cache dir (platformdirs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path

import platformdirs

from curate.catalog import FileEntry, Project
from curate.config import Config


def cache_root(
    root: Path, config: Config | None, env: Mapping[str, str], override: Path | None = None
) -> Path:
    if override is not None:
        return override
    if config is not None and config.cache_dir:
        return root / config.cache_dir
    if env.get("CURATE_CACHE_DIR"):
        return Path(env["CURATE_CACHE_DIR"])
    return Path(platformdirs.user_cache_dir("curate"))


def blob_path(cache: Path, sha256: str) -> Path:
    return cache / "sha256" / sha256[:2] / sha256[2:]


def metadata_path(cache: Path, sha256: str) -> Path:
    """Where the METADATA extracted from the wheel with this sha256 is kept."""
    return cache / "metadata" / sha256[:2] / sha256[2:]


# -- what the catalog needs ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Wanted:
    """One file the catalog needs in the cache, and who needs it (for messages)."""

    project: str
    version: str
    file: FileEntry

    @property
    def sha256(self) -> str:
        return self.file.sha256


def wanted_files(projects: Iterable[Project]) -> list[Wanted]:
    """Every file of every version, once per sha256, sorted by filename."""
    out: dict[str, Wanted] = {}
    for project in projects:
        for version in project.sorted_versions():
            for f in version.files:
                out.setdefault(f.sha256, Wanted(project=project.name, version=version.version, file=f))
    return sorted(out.values(), key=lambda w: (w.file.filename, w.sha256))


def cached_path(cache: Path, file: FileEntry) -> Path | None:
    """The cached blob of ``file`` when it is there with the catalog's size, else None."""
    path = blob_path(cache, file.sha256)
    try:
        if path.stat().st_size == file.size:
            return path
    except OSError:
        return None
    return None


def missing_files(cache: Path, wanted: Iterable[Wanted]) -> list[Wanted]:
    return [w for w in wanted if cached_path(cache, w.file) is None]


def format_missing(missing: list[Wanted]) -> str:
    lines = [f"{len(missing)} file(s) missing from the cache:"]
    lines.extend(f"  {w.project} {w.version}: {w.file.filename} (sha256 {w.sha256})" for w in missing)
    return "\n".join(lines)
