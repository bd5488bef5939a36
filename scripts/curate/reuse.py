"""Files a previous build published, hard-linked into the next build instead of made and written again.

A build writes a fresh staging tree and swaps it in whole (:mod:`curate.staging`). Many of its files are
the same as the live tree's: a rebuild of an unchanged catalog makes the same bytes from the same inputs.
:class:`LinkReuse` keeps, in the file cache, a *record* of one folder of the tree: for each file, a digest
of the key it was written from (everything that goes into it) and, with ``verify``, the sha256 of the
bytes written; and the identity (device, inode) of the folder it wrote them into. A staging tree becomes
the live tree by a rename, so the live folder is the recorded one when the build that wrote the record
was published. Not only then: a failed build's folder is deleted, and a file system gives its inode
number to the next folder made (ext4 does), which a build that keeps no record (another kind of build)
may publish; so a record is a claim about bytes, checked: with ``verify``, only bytes whose sha256 is
the one recorded, which that key once made, are linked.

A later build asks :meth:`LinkReuse.reused` for each file with its key: when the live folder is the
recorded one and the file was written there from the same key, the live file (a regular file of the
build's user, not writable by all: :func:`curate.staging.ours`) is hard-linked into the new
tree (it keeps its inode, so an HTTP server's ``ETag`` stays the same) and nothing is made. With
``verify``, the linked file is read back and its sha256 compared with the recorded one: a published file
changed since it was written (by hand, by an in-place update of the live tree, a damaged disk) is not
reused: its link is removed (never written through: the live file is the same inode) and the file is made
again. What is trusted is the record's word that those bytes are what the key makes, and only a record
this machine's build wrote about its own published tree (a regular file of the build's user, not
writable by all: another user sharing the file cache could otherwise name a stale file's sha256 for a
new key): a file cache restored elsewhere (CI) has no live tree at its recorded identity.

Used for the environment files (``envs/``, ``api/requests/``: verified; :func:`curate.build.env_reuse`),
the request pages (verified; :class:`curate.site.PageReuse`) and the history's ``api/changes/`` (:func:`curate.site.write_history`: each file's key is the commits it
shows, whose content is fixed; a record of that folder is not verified).

A key covers the code that makes the bytes too: :func:`code_digest`, a digest of every file of curate's
package as it is on disk (its modules, templates and data), the Python that runs it and the installed
files of the libraries that write the files, so that a changed curate makes every file again (once);
where that cannot be told for certain, the digest is new each time (nothing is reused). It is taken
when the module using it is imported and again before the record is saved: a build whose code changed
on disk while it ran keeps no record (``save(keep=False)``).

Best effort: a record that does not read or match, a file that does not link, means the file is made and
written as on a first build. The record is written by :meth:`LinkReuse.save` with only what this build
wrote or reused (it does not grow).

A *spare* folder (``spare``): the same folder of the tree the last build replaced, kept beside the output
when it was swapped out (:func:`curate.staging.swap`'s ``keep``) instead of deleted, is taken over as
``out`` (one rename): its files are mostly the live ones, hard-linked, so a rebuild neither makes
thousands of folders and links nor deletes as many. It is trusted for nothing but its folders, and for those
only when each is the build user's and not writable by all (:func:`curate.staging.ours`; else the
whole folder is dropped and ``out`` made afresh): what is
in it that is not a real folder or a regular file (a symbolic link, a FIFO) is removed first; a file is
kept only where it is the live file that would be linked (the same device and inode), and its bytes are
checked as a linked one's; any other is removed before the file is linked or written (never written
through: a hard link to a live file would change that file); what the build did not reuse or write, and
the folders left empty, are removed by :meth:`LinkReuse.save`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from curate.atomic import atomic_write
from curate.staging import ours

RECORD_DIR = "published"  # under the file cache: a record per reused folder
PACKAGE = Path(__file__).parent  # curate's package: what code_digest reads


def code_digest(distributions: Iterable[str], package: Path = PACKAGE) -> str:
    """The sha256 of curate's code as ``package`` holds it now: every file in it (the modules, the
    templates, the data they read; not the compiled bytecode), with the Python that runs it and each
    named distribution's version and installed files (:func:`_library`). What a reused file's key holds
    of the code that made it (:class:`curate.environments.EnvDigests`,
    :func:`curate.site.request_fingerprint`). Where any of it cannot be told for certain (a symbolic
    link or an unreadable file in the package, a library that is not the installed distribution's own
    files), the digest is new on every call: nothing is reused, every file is made again."""
    h = hashlib.sha256(json.dumps([sys.version, sys.implementation.cache_tag]).encode())
    for name in distributions:
        library = _library(name)
        if library is None:
            return _unique()
        h.update(json.dumps(library).encode())
    try:
        files: list[str] = []
        for folder, dirs, names in os.walk(package, onerror=_raise):  # (a folder it cannot list: new)
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in (*dirs, *names):
                if os.path.islink(os.path.join(folder, name)):  # its target could change unseen
                    return _unique()
            rel = os.path.relpath(folder, package)
            files.extend(name if rel == "." else f"{rel}/{name}" for name in names)
        for rel in sorted(files):
            h.update(f"{Path(rel).as_posix()}\n".encode())
            h.update(hashlib.sha256((package / rel).read_bytes()).digest())
    except OSError:  # a file gone or unreadable while it was read
        return _unique()
    return h.hexdigest()


def _raise(error: OSError) -> None:
    raise error


def _unique() -> str:
    """A digest no other call gives: nothing recorded is reused by it."""
    return "unique-" + os.urandom(16).hex()


def _library(name: str) -> list[str] | None:
    """The distribution ``name``'s version and the sha256 of its ``RECORD`` (each installed file's own
    sha256), when each top-level module it installs is the one Python imports (not another copy earlier
    on the path, nor an editable install's source); None when that cannot be told."""
    try:
        dist = importlib.metadata.distribution(name)
        record = dist.read_text("RECORD")
    except (importlib.metadata.PackageNotFoundError, OSError):
        return None
    if not record:
        return None
    tops: dict[str, str] = {}
    for row in csv.reader(record.splitlines()):
        path = row[0] if row else ""
        first, _, rest = path.partition("/")
        if first.endswith((".dist-info", ".data")) or first in ("", "..") or not path.endswith(".py"):
            continue
        if not rest:  # a module
            tops[first[:-3]] = path
        elif rest == "__init__.py":  # a package
            tops[first] = path
    if not tops:
        return None
    for top, path in tops.items():
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        if spec is None or spec.origin is None:
            return None
        if os.path.realpath(spec.origin) != os.path.realpath(str(dist.locate_file(path))):
            return None
    return [name, dist.version or "", hashlib.sha256(record.encode()).hexdigest()]


def _discard(path: Path) -> None:
    """``path`` deleted, a folder with what is in it, never what a symbolic link leads to (best effort)."""
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def _read_ours(path: Path) -> bytes:
    """The bytes of ``path``, a regular file of the build's user not writable by all (a record another
    user could write could name a stale file's sha256 for a new key); else OSError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not ours(st):
            raise OSError(f"{path}: not a file of the build's user, or writable by all")
        return _read_all(fd, st.st_size)
    finally:
        os.close(fd)


def _read_all(fd: int, size: int) -> bytes:
    chunks = []
    while data := os.read(fd, max(size + 1, 1 << 16)):
        chunks.append(data)
    return b"".join(chunks)


_READ_MOST = 1 << 22  # bytes read at once by _sha256


def _sha256(fd: int, size: int) -> str:
    """The sha256 of every byte ``fd`` reads to its end; ``size``, what it holds now, is read in one
    call (a file that grew since is read on to its end). ``hashlib.file_digest`` would allocate (and
    zero) a 256 KiB buffer per file: for ~17,000 small files on a rebuild that cost as much as the
    hashing itself."""
    h = hashlib.sha256()
    want = min(size + 1, _READ_MOST)
    while data := os.read(fd, want):
        h.update(data)
        want = _READ_MOST
    return h.hexdigest()


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class LinkReuse:
    """The files of ``out`` (a folder of a staging tree) that ``live`` (the same folder of the published
    tree) holds from the same keys, as ``record`` (in the file cache) says; see the module."""

    def __init__(
        self,
        record: Path | None,
        live: Path | None,
        out: Path,
        *,
        verify: bool = False,
        encode: Callable[[Any], bytes] | None = None,
        spare: Path | None = None,
    ) -> None:
        self.record = record
        self.live = live
        self.out = out
        self.verify = verify
        self.encode = encode  # what :meth:`write`'s ``make`` returns, as bytes (None: bytes already)
        self.before: dict[str, list[str]] = {}  # rel -> [key digest, sha256 of the bytes ("" unverified)]
        self.now: dict[str, list[str]] = {}
        self.linked = 0
        # the caller's word on what the recorded files were written with (a hint for what to make ahead,
        # never what decides a reuse): read from the record, saved with it
        self.note = ""
        self.present: set[str] = set()  # files of the spare folder taken over, not yet reused or removed
        self._folders: list[str] = []  # the spare folder's folders (relative)
        self._out = os.fspath(out)
        self._live = os.fspath(live) if live is not None else ""
        if record is None or live is None or live.absolute() == out.absolute():
            self.live = None
            if spare is not None:  # nothing to take it over for
                _discard(spare)
            return
        if spare is not None:
            self._take(spare)
        with contextlib.suppress(OSError, ValueError):
            st = live.stat()
            data = json.loads(_read_ours(record))
            if not isinstance(data, dict) or data.get("folder") != [st.st_dev, st.st_ino]:
                return
            note = data.get("note", "")
            self.note = note if isinstance(note, str) else ""
            files = data.get("files")
            if isinstance(files, dict):
                for rel, item in files.items():
                    if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item):
                        self.before[str(rel)] = item
                    elif isinstance(item, str) and not verify:
                        self.before[str(rel)] = [item, ""]

    def _take(self, spare: Path) -> None:
        """Take ``spare`` over as ``out`` (see the module): only its real folders and regular files stay."""
        try:
            os.rename(spare, self.out)
        except OSError:
            _discard(spare)
            return
        top = os.lstat(self.out)
        if not stat.S_ISDIR(top.st_mode):  # a symbolic link (to a folder elsewhere), a file
            os.unlink(self.out)
            return
        todo = [""]
        try:
            if not ours(top):
                raise OSError(f"{spare}: another user's, or writable by all")
            while todo:
                rel = todo.pop()
                folder = f"{self._out}/{rel}" if rel else self._out
                with os.scandir(folder) as entries:
                    for entry in entries:
                        name = f"{rel}/{entry.name}" if rel else entry.name
                        if entry.is_dir(follow_symlinks=False):
                            if not ours(entry.stat(follow_symlinks=False)):  # files could be swapped in it
                                raise OSError(f"{entry.path}: another user's, or writable by all")
                            todo.append(name)
                            self._folders.append(name)
                        elif entry.is_file(follow_symlinks=False):
                            self.present.add(name)
                        else:  # a symbolic link, a FIFO, a socket, a device: never used
                            os.unlink(entry.path)
        except OSError:  # not taken over after all: out is made afresh
            self.present.clear()
            self._folders.clear()
            shutil.rmtree(self.out, ignore_errors=True)
            if self.out.exists() or self.out.is_symlink():
                raise

    def _clear(self, rel: str) -> None:
        """``out/rel`` gone, when the spare folder had it: the caller writes or links a new file there."""
        if rel in self.present:
            self.present.discard(rel)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self._out}/{rel}")

    def recorded(self, rel: str, key: str) -> bool:
        """Whether the record says the live ``rel`` was written from ``key`` (nothing is checked or
        linked: :meth:`reused` decides; this only tells what a build may not need to make)."""
        was = self.before.get(rel)
        return self.live is not None and was is not None and was[0] == _digest(key)

    def reused(self, rel: str, key: str, link: Callable[[str, str], None] | None = None) -> bool:
        """Whether ``out/rel`` is now the live file written from ``key``, hard-linked (by ``link(rel,
        source)`` when given: a writer that makes the folders; else :func:`os.link`). When not, there
        is no file at ``out/rel`` (a spare folder's is removed): the caller writes it."""
        if self._reused(rel, key, link):
            return True
        self._clear(rel)
        return False

    def _reused(self, rel: str, key: str, link: Callable[[str, str], None] | None) -> bool:
        digest = _digest(key)
        was = self.before.get(rel)
        if self.live is None or was is None or was[0] != digest or (self.verify and not was[1]):
            return False
        source = f"{self._live}/{rel}"
        target = f"{self._out}/{rel}"
        try:
            st = os.lstat(source)
            if not stat.S_ISREG(st.st_mode):  # a link (to a secret, a FIFO) or a special file
                return False
            if not ours(st):  # another user's, or writable by all: it could change once published
                return False
            kept = False
            if rel in self.present:  # the spare folder's: kept when it is the live file itself
                there = os.lstat(target)
                kept = (there.st_dev, there.st_ino) == (st.st_dev, st.st_ino)
                if not kept:
                    os.unlink(target)
                self.present.discard(rel)  # (else reused() removes it: an error above left it there)
            if kept:
                pass
            elif link is not None:
                link(rel, source)
            else:
                os.link(source, target)
        except OSError:
            return False
        if self.verify:
            try:  # what was linked: a regular file, never followed nor waited on
                fd = os.open(
                    target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                )
                try:  # the file checked above (not one swapped in since), and its bytes
                    linked = os.fstat(fd)
                    same = (
                        stat.S_ISREG(linked.st_mode)
                        and (linked.st_dev, linked.st_ino) == (st.st_dev, st.st_ino)
                        and ours(linked)
                        and _sha256(fd, linked.st_size) == was[1]
                    )
                finally:
                    os.close(fd)
            except OSError:
                same = False
            if not same:  # changed since it was written: unlinked (not written through), made again
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(target)
                return False
        self.now[rel] = was
        self.linked += 1
        return True

    def made(self, rel: str, key: str, data: bytes) -> None:
        """``out/rel`` was written with ``data`` from ``key``."""
        self.now[rel] = [_digest(key), hashlib.sha256(data).hexdigest() if self.verify else ""]

    def write(self, rel: str, key: str, make: Callable[[], Any]) -> None:
        """``out/rel`` linked from the live tree when written from ``key`` there, else ``make()``
        (through ``encode``)."""
        if self.reused(rel, key):
            return
        made = make()
        data = self.encode(made) if self.encode is not None else made
        if not isinstance(data, bytes):
            raise TypeError(f"{rel}: {type(data).__name__} to write, not bytes (give LinkReuse an encode)")
        (self.out / rel).write_bytes(data)
        self.made(rel, key, data)

    def save(self, *, keep: bool = True) -> None:
        """Remove what a spare folder taken over held that this build did not reuse, and the folders left
        empty; record what was written or reused into ``out``, with its identity (best effort).
        ``keep=False``: no record (the one there is removed): what was written is not to be trusted as
        what its keys make."""
        for rel in sorted(self.present):
            self._clear(rel)
        for rel in sorted(self._folders, key=lambda r: -r.count("/")):  # the deepest first
            with contextlib.suppress(OSError):
                os.rmdir(f"{self._out}/{rel}")  # only when empty
        self._folders.clear()
        if self.record is None:
            return
        if not keep:
            with contextlib.suppress(OSError):
                self.record.unlink(missing_ok=True)
            return
        with contextlib.suppress(OSError):
            st = self.out.stat()
            record = {"folder": [st.st_dev, st.st_ino], "files": self.now, "note": self.note}
            text = json.dumps(record, separators=(",", ":"))
            self.record.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.record, text.encode())
