"""curate's derived caches carried from one publish to the next as one sealed archive.

publish.yml's ``build`` job reads only what changed when it finds the previous build's derived caches
(:data:`PARTS`: the history's entries and rendered pages, the SBOMs' components, the pylock entries).
Actions' own cache cannot carry them: every job of the run can write it, the ``wheels`` jobs too, and
those run sdists' build code (on Windows with the runner itself as the only isolation:
``site/reference/wheels.md``); and ``actions/cache`` unpacks what it restores with ``tar -P``, so a
planted entry can write anywhere in the publishing job before any check runs. So:

- :func:`seal` (``curate ci seal-cache --archive FILE``, after a successful ``curate build``) writes the
  parts as one tar archive (regular files and folders only), headed by an HMAC-SHA256 of the archive
  keyed by ``$CURATE_CACHE_KEY``, a repository secret only the two steps that seal and open get;
  publish.yml uploads it as the run's ``curate-cache`` artifact;
- :func:`open_sealed` (``curate ci check-cache --archive FILE``, before ``curate build``: the artifact of
  the last successful publish, downloaded as an opaque file) verifies the HMAC over the whole file
  before reading anything in it, then unpacks it itself, taking only regular files and folders under
  :data:`PARTS` (no link, device, absolute path, ``..`` or second entry of one name) into a cache whose
  parts it first empties. A file that is missing, forged, sealed under another key, or not an archive
  of this format is not used: the build runs cold.

The artifact may come as GitHub's zip (one member, read in memory, never extracted by path) or as the
sealed file itself. Without a key nothing is sealed or opened.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import os
import re
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from curate.atomic import atomic_writer
from curate.errors import UsageError

KEY_VAR = "CURATE_CACHE_KEY"
MIN_KEY_BYTES = 32  # e.g. `openssl rand -hex 32` (64 characters)
ARTIFACT = "curate-cache"  # publish.yml's artifact, and the sealed file's name in it
# the file cache's folders carried between publishes (curate.history.CACHE_DIR,
# curate.site.ARCHIVE_CACHE, curate.sbom.STORE_DIR, curate.environments.STORE_DIR: a test checks)
PARTS = ("history", "history-pages", "sbom", "envs")
MAGIC = b"curate-cache 1 "  # then the HMAC's 64 hex digits and a newline, then the tar archive
LIMIT = 2 * 1024**3  # bytes: a larger file is not opened
_HEAD = re.compile(rb"\Acurate-cache 1 ([0-9a-f]{64})\n")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Sealed:
    path: Path  # the archive written (Path() when nothing was sealed)
    files: int
    size: int  # bytes of the files sealed
    reason: str = ""  # why nothing was sealed


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Opened:
    files: int  # files taken into the cache
    reason: str = ""  # why nothing was taken ("" when the archive opened)


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


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, MAGIC + body, hashlib.sha256).hexdigest().encode()


def seal(cache: Path, key: bytes | None, out: Path) -> Sealed:
    """Write the parts under ``cache`` into ``out``: a tar archive (regular files and folders, sorted,
    without owners or times) headed by its HMAC."""
    if key is None:
        return Sealed(path=Path(), files=0, size=0, reason=f"${KEY_VAR} is not set: nothing sealed")
    buffer = io.BytesIO()
    files = size = 0
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for part in PARTS:
            top = cache / part
            if not top.is_dir() or top.is_symlink():
                continue
            for folder, dirs, names in os.walk(top):
                dirs.sort()
                here = Path(folder)
                for name in [*sorted(dirs), *sorted(names)]:
                    path = here / name
                    st = path.lstat()
                    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                        continue  # curate writes none; never carried
                    info = tarfile.TarInfo(path.relative_to(cache).as_posix())
                    info.mode = 0o755 if stat.S_ISDIR(st.st_mode) else 0o644
                    if stat.S_ISDIR(st.st_mode):
                        info.type = tarfile.DIRTYPE
                        tar.addfile(info)
                        continue
                    info.size = st.st_size
                    with path.open("rb") as fh:
                        tar.addfile(info, fh)
                    files += 1
                    size += st.st_size
    body = buffer.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out, "wb") as fh:
        fh.write(MAGIC + _mac(key, body) + b"\n" + body)
    return Sealed(path=out, files=files, size=size)


def _remove(top: Path) -> None:
    """Remove ``top`` (a link or file: itself; a folder: with everything in it, folders that deny
    listing or writing included)."""
    if top.is_symlink() or (top.exists() and not top.is_dir()):
        top.unlink()
        return
    if not top.exists():
        return
    top.chmod(0o700)
    for folder, dirs, _ in os.walk(top):  # top-down: each folder is opened up before it is listed
        for name in dirs:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(0o700)
    shutil.rmtree(top)


def _read(archive: Path) -> tuple[bytes, str]:
    """The sealed file's bytes (from the artifact's zip, or as it is), or (b"", why not)."""
    try:
        st = archive.lstat()
    except FileNotFoundError:
        return b"", f"no {archive.name}: no previous publish left a sealed cache"
    if not stat.S_ISREG(st.st_mode) or st.st_size > LIMIT:
        return b"", f"{archive.name} is not a regular file of at most {LIMIT:,} bytes"
    try:
        raw = archive.read_bytes()
        if raw.startswith(b"PK"):
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                members = z.infolist()
                if len(members) != 1 or members[0].file_size > LIMIT:
                    return (
                        b"",
                        f"{archive.name} is a zip of {len(members)} member(s), not the one sealed file",
                    )
                raw = z.read(members[0])
    except (OSError, ValueError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
        return b"", f"{archive.name} does not read ({exc})"
    return raw, ""


def _member_ok(member: tarfile.TarInfo) -> bool:
    path = PurePosixPath(member.name)
    return (
        (member.isfile() or member.isdir())
        and not path.is_absolute()
        and ".." not in path.parts
        and bool(path.parts)
        and path.parts[0] in PARTS
    )


def open_sealed(cache: Path, key: bytes | None, archive: Path) -> Opened:
    """Take the parts sealed in ``archive`` into ``cache`` (its parts emptied first) when its HMAC holds
    under ``key``; else leave the parts empty and say why."""
    for part in PARTS:  # whatever was there is not what the previous publish sealed
        _remove(cache / part)
    if key is None:
        return Opened(files=0, reason=f"${KEY_VAR} is not set")
    raw, reason = _read(archive)
    if reason:
        return Opened(files=0, reason=reason)
    head = _HEAD.match(raw)
    if head is None:
        return Opened(files=0, reason=f"{archive.name} is not a sealed cache of this format")
    body = raw[head.end() :]
    if not hmac.compare_digest(head[1], _mac(key, body)):
        return Opened(
            files=0, reason=f"{archive.name}'s HMAC does not verify under ${KEY_VAR} (another key, or forged)"
        )
    # sealed by a build that held the key: unpacked all the same as if it were not (parts only)
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
            members = tar.getmembers()
            if not all(_member_ok(m) for m in members):
                return Opened(files=0, reason=f"{archive.name} holds entries outside curate's caches")
            for m in members:  # only folders and regular files, under the parts emptied above
                dest = cache.joinpath(*PurePosixPath(m.name).parts)
                if m.isdir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                data = tar.extractfile(m)
                assert data is not None  # a regular file
                dest.parent.mkdir(parents=True, exist_ok=True)
                with dest.open("xb") as fh:  # a second entry of the same name is refused
                    shutil.copyfileobj(data, fh)
    except (tarfile.TarError, OSError, ValueError) as exc:
        for part in PARTS:
            _remove(cache / part)
        return Opened(files=0, reason=f"{archive.name} does not unpack ({exc})")
    return Opened(files=sum(m.isfile() for m in members))
