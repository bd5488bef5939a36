"""The content-addressed file cache: every byte in it was verified against the catalog's sha256.

Layout under the cache root::

    sha256/ab/cdef...            a distribution file, named by its sha256
    metadata/ab/cdef...          the wheel's METADATA, byte for byte (PEP 658), keyed by the wheel's sha256

Root: ``--cache-dir``, else ``cache_dir`` in the config (relative to the repository), else
``$CURATE_CACHE_DIR``, else the user cache dir (platformdirs).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import platformdirs

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
