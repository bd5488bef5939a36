"""Sealing curate's derived caches between CI runs: what a trusted job wrote is read again only under
its seal.

publish.yml's ``build`` job restores curate's derived caches (:data:`PARTS`: the history's entries and
rendered pages, the SBOMs' components, the pylock entries) from GitHub Actions' cache, so a build reads
only what changed. Every job of the run can write to that cache scope, the ``wheels`` jobs too, and those
run sdists' build code (on Windows with the runner itself as the only isolation:
``site/reference/wheels.md``). So the cache is authenticated:

- :func:`seal` (``curate ci seal-cache``, after a successful ``curate build``) lists every regular file
  under :data:`PARTS` with its sha256 in :data:`SEAL_FILE`, with an HMAC-SHA256 of that list keyed by
  ``$CURATE_CACHE_KEY``, a repository secret only the two sealing steps get;
- :func:`check` (``curate ci check-cache``, after the restore and before ``curate build``) keeps a file
  only if the seal's MAC holds under that key and the file is listed with its exact sha256. Everything
  else under :data:`PARTS` is removed: unlisted or changed files, symbolic links, special files, and
  all of it when the seal is missing, does not read, or does not verify (or no key is set). curate then
  computes what is gone again, as on a cold build.

The seal names files by their path relative to the cache root; paths are only compared, never opened
from the seal. Without a key nothing restored is kept and :func:`seal` writes nothing: a catalog
without the secret builds cold each time, never from an unauthenticated cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import shutil
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

from curate.atomic import atomic_write
from curate.errors import UsageError

KEY_VAR = "CURATE_CACHE_KEY"
MIN_KEY_BYTES = 32  # e.g. `openssl rand -hex 32` (64 characters)
SEAL_FILE = "seal.json"  # under the cache root, saved with the parts
# the cache root's folders publish.yml saves and restores (curate.history.CACHE_DIR,
# curate.site.ARCHIVE_CACHE, curate.sbom.STORE_DIR, curate.environments.STORE_DIR: a test checks)
PARTS = ("history", "history-pages", "sbom", "envs")
FORMAT = 1
_SEAL_LIMIT = 64 * 1024 * 1024


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Sealed:
    path: Path  # the seal written ("" when no key: nothing written)
    files: int
    size: int  # bytes sealed
    reason: str = ""  # why nothing was sealed


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Checked:
    kept: int  # files kept under their seal
    removed: tuple[str, ...]  # what was removed (paths relative to the cache root)
    reason: str = ""  # why nothing was trusted ("" when the seal held)


def key_from(env: Mapping[str, str]) -> bytes | None:
    """The sealing key, None when unset; UsageError when it is too short to be a secret."""
    text = env.get(KEY_VAR, "")
    if not text:
        return None
    key = text.encode()
    if len(key) < MIN_KEY_BYTES:
        raise UsageError(
            f"${KEY_VAR} is {len(key)} bytes long; a sealing key needs at least {MIN_KEY_BYTES} "
            "(make one with: openssl rand -hex 32, and store it as a repository secret)"
        )
    return key


def _mac(key: bytes, files: Mapping[str, str]) -> str:
    body = json.dumps({"format": FORMAT, "files": dict(files)}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _entries(cache: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Everything under the parts, without following links: (path relative to ``cache``, path, lstat)."""
    for part in PARTS:
        top = cache / part
        try:
            st = top.lstat()
        except FileNotFoundError:
            continue
        yield part, top, st
        if not stat.S_ISDIR(st.st_mode):
            continue
        for folder, dirs, files in os.walk(top, followlinks=False):
            for name in sorted(dirs) + sorted(files):
                path = Path(folder) / name
                with_st = path.lstat()
                yield path.relative_to(cache).as_posix(), path, with_st


def seal(cache: Path, key: bytes | None) -> Sealed:
    """Write :data:`SEAL_FILE`: every regular file under :data:`PARTS`, by sha256, under an HMAC."""
    if key is None:
        return Sealed(path=Path(), files=0, size=0, reason=f"${KEY_VAR} is not set: nothing sealed")
    files: dict[str, str] = {}
    size = 0
    for rel, path, st in _entries(cache):
        if stat.S_ISREG(st.st_mode):
            files[rel] = _sha256(path)
            size += st.st_size
    out = cache / SEAL_FILE
    cache.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT, "files": files, "mac": _mac(key, files)}
    atomic_write(out, json.dumps(doc, sort_keys=True, indent=0) + "\n")
    return Sealed(path=out, files=len(files), size=size)


def _sealed_files(cache: Path, key: bytes | None) -> tuple[dict[str, str], str]:
    """The files the seal lists, or ({}, why it is not trusted)."""
    if key is None:
        return {}, f"${KEY_VAR} is not set"
    path = cache / SEAL_FILE
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > _SEAL_LIMIT:
            return {}, f"{SEAL_FILE} is not a regular file of at most {_SEAL_LIMIT} bytes"
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}, f"no {SEAL_FILE}: the cache was not sealed"
    except (OSError, ValueError) as exc:
        return {}, f"{SEAL_FILE} does not read ({exc})"
    files = doc.get("files") if isinstance(doc, dict) else None
    mac = doc.get("mac") if isinstance(doc, dict) else None
    if (
        not isinstance(doc, dict)
        or doc.get("format") != FORMAT
        or not isinstance(files, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
        or not isinstance(mac, str)
    ):
        return {}, f"{SEAL_FILE} is not a seal of format {FORMAT}"
    if not hmac.compare_digest(mac, _mac(key, files)):
        return {}, f"{SEAL_FILE}'s MAC does not verify under ${KEY_VAR} (another key, or forged)"
    return files, ""


def check(cache: Path, key: bytes | None) -> Checked:
    """Keep under :data:`PARTS` only the regular files the seal lists with their sha256; remove the rest
    (all of it when the seal is not trusted)."""
    files, reason = _sealed_files(cache, key)
    removed: list[str] = []
    kept = 0
    gone: set[str] = set()  # folders removed whole: what was under them is gone too
    for rel, path, st in list(_entries(cache)):
        if any(rel.startswith(f"{g}/") for g in gone):
            continue
        if stat.S_ISDIR(st.st_mode):
            if reason:  # nothing is kept: the part goes whole
                shutil.rmtree(path)
                gone.add(rel)
                removed.append(rel + "/")
            continue
        if stat.S_ISREG(st.st_mode) and not reason and files.get(rel) == _sha256(path):
            kept += 1
            continue
        path.unlink()
        removed.append(rel)
    (cache / SEAL_FILE).unlink(missing_ok=True)  # used: the next successful build seals again
    return Checked(kept=kept, removed=tuple(removed), reason=reason)
