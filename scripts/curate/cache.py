"""The content-addressed file cache: every byte in it was verified against the catalog's sha256.

Layout under the cache root::

    sha256/ab/cdef...            a distribution file, named by its sha256
    metadata/ab/cdef...          the wheel's METADATA, byte for byte (PEP 658), keyed by the wheel's sha256
    verified/ab/cdef...          stamps of the copies whose bytes were hashed and found to be that sha256
    partial/<sha256>, .lock      a download in progress (:mod:`curate.fetch`), and the lock of the run doing it

Bytes on disk can change after they were verified (a disk error, a person, a process with write access
to the cache; ``public/files/`` hard-links the same inodes). So a file is taken as holding a sha256 only
when it was hashed as such and has not changed since: :func:`holds` compares the file's device, inode,
size and modification time with a stamp recorded when its bytes were hashed, and hashes it again (and
records a new stamp) when they differ. ``fetch`` (already there?), ``vet`` and ``build`` (what to serve)
all ask it; a blob that is not what its name says is never used (:func:`blob_state` says ``"altered"``).

What the catalog needs in it (:func:`wanted_files`) and what is missing (:func:`missing_files`) is
decided here, so that vetting can tell what to fetch without importing the downloader (:mod:`curate.fetch`).

Root: ``--cache-dir``, else ``cache_dir`` in the config (relative to the repository), else
``$CURATE_CACHE_DIR``, else the user cache dir (platformdirs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

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


def stamp_path(cache: Path, sha256: str) -> Path:
    """Where the stamps of the copies verified to hold ``sha256`` are kept (one line each)."""
    return cache / "verified" / sha256[:2] / sha256[2:]


MAX_STAMPS = 8  # copies remembered per sha256 (the blob, public/ copies on another filesystem)
CHUNK = 1 << 20


def stamp_of(st: os.stat_result) -> str:
    """What changes when a file's bytes are changed or it is replaced: device, inode, size, mtime.
    (Not ctime: hard-linking the blob into ``public/files/`` changes it.)"""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamps(cache: Path, sha256: str) -> list[str]:
    try:
        return stamp_path(cache, sha256).read_text("ascii").split()
    except (OSError, UnicodeDecodeError):
        return []


def record_verified(cache: Path, sha256: str, st: os.stat_result) -> None:
    """Remember that the file ``st`` describes was hashed and holds ``sha256`` (atomically: a temporary
    file renamed over the stamp file, so concurrent runs never read half of one)."""
    stamp = stamp_of(st)
    kept = [s for s in _stamps(cache, sha256) if s != stamp][-(MAX_STAMPS - 1) :]
    stamps = [*kept, stamp]
    target = stamp_path(cache, sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write("\n".join(stamps) + "\n")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def holds(cache: Path, path: Path, sha256: str, *, size: int | None = None) -> bool:
    """Whether the file at ``path`` holds the bytes ``sha256`` names (and ``size`` bytes, when given):
    by a stamp recorded when it was hashed, else by hashing it now (then recording a stamp)."""
    try:
        before = os.stat(path)
    except OSError:
        return False
    if size is not None and before.st_size != size:
        return False
    if stamp_of(before) in _stamps(cache, sha256):
        return True
    try:
        got = sha256_of(path)
        after = os.stat(path)
    except OSError:
        return False
    if got != sha256:
        return False
    if stamp_of(after) == stamp_of(before):  # not changed while it was read
        with contextlib.suppress(OSError):  # a read-only cache still verifies, it just hashes again
            record_verified(cache, sha256, after)
    return True


BlobState = Literal["verified", "missing", "altered"]


def blob_state(cache: Path, file: FileEntry) -> BlobState:
    """Whether the cache holds ``file``: its blob is there with the catalog's bytes (``verified``), is
    not there (``missing``), or is there with other bytes (``altered``: never to be used)."""
    path = blob_path(cache, file.sha256)
    if not path.exists():
        return "missing"
    return "verified" if holds(cache, path, file.sha256, size=file.size) else "altered"


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
    """The cached blob of ``file`` when it holds the catalog's bytes (:func:`holds`), else None."""
    path = blob_path(cache, file.sha256)
    return path if holds(cache, path, file.sha256, size=file.size) else None


def missing_files(cache: Path, wanted: Iterable[Wanted]) -> list[Wanted]:
    """The files the cache does not hold as the catalog's bytes: not there, or there with other bytes."""
    return [w for w in wanted if cached_path(cache, w.file) is None]


def format_missing(missing: list[Wanted], cache: Path | None = None) -> str:
    """The files ``missing`` names, one a line; with ``cache``, those there with other bytes say so."""
    altered = {w.sha256 for w in missing if cache is not None and blob_path(cache, w.sha256).exists()}
    lines = [f"{len(missing)} file(s) missing from the cache:"]
    if altered:
        lines[0] = (
            f"{len(missing)} file(s) missing from the cache ({len(altered)} there with other bytes than the"
            " catalog's sha256: altered since they were fetched):"
        )
    lines.extend(
        f"  {w.project} {w.version}: {w.file.filename} (sha256 {w.sha256})"
        + (" (altered)" if w.sha256 in altered else "")
        for w in missing
    )
    return "\n".join(lines)
