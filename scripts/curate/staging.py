"""Publishing a whole tree: build beside the live one, then swap it in with a rename.

:func:`publishing` yields a fresh staging directory next to ``public/`` (same filesystem, so the final
rename is atomic and hard links from the live tree work). When the block finishes, the staging tree
replaces ``public/``: on Linux with one ``renameat2(RENAME_EXCHANGE)``, so there is no instant without
a ``public/``; elsewhere with two renames. When the block raises, the staging tree is deleted and the
live tree was never touched, so the previous site keeps serving.

Because the staging tree is fresh and swapped in whole, files are written into it with one plain
``open``/``write``/``close`` each (no temporary file, rename or fsync per file) and one ``mkdir`` per
directory (:class:`Staging`). :class:`WriteBehind` does the same in a helper process fed through a pipe,
so that the kernel's work of creating tens of thousands of files overlaps the rendering of the next
pages on a second core. The helper runs this file as a script (``python -I -S staging.py ROOT``) and
needs nothing but the standard library.

The swap deletes the tree it replaced, but for the folders it is asked to keep (``curate build``: the
environments' ``envs/``, thousands of folders of links to the live files): each is moved beside the
output (:func:`spare_path`) for the next build to take over (:class:`curate.reuse.LinkReuse`), which
costs a rename here instead of deleting them, and there a check of each file instead of making them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_FRAME = struct.Struct("<cII")  # op (b"w" write, b"l" link), len(relative path), len(payload)
_PIPE_BUFFER = 1 << 20


def ours(st: os.stat_result) -> bool:
    """Whether a file or folder of the live tree (or of a folder kept from it) may be reused as the
    build's own: owned by the user the build runs as, and not writable by every user. Another user's
    file, or a world-writable one, could be changed in place once published through a hard link: it is
    made again instead (a folder like it: the kept folder is not taken over)."""
    geteuid = getattr(os, "geteuid", None)
    return (geteuid is None or st.st_uid == geteuid()) and not st.st_mode & 0o002


def link_or_copy(src: str | bytes | Path, dst: str | bytes | Path) -> None:
    """Hard-link when on the same filesystem (cheap, same bytes), copy otherwise."""
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(src, dst)


def keep_unchanged(staging: Path, live: Path, done: Collection[str] = ()) -> int:
    """Before a swap: replace each file of ``staging`` that ``live`` holds at the same path with the same
    bytes by a hard link to the live file, so that it keeps its inode and modification time. An HTTP
    server's ``ETag`` and ``Last-Modified`` (``curate serve``: inode, mtime and size; nginx: mtime and
    size) then stay the same on a rebuild that changed nothing, and caches keep revalidating with 304s.
    Files already hard-linked (from the cache or the live tree) are skipped without being read; so are
    the folders named in ``done`` (relative, with ``/``), whose writer did the same for each file
    (:meth:`Staging.write_or_keep`). Returns how many files were kept."""
    kept = 0
    for folder, subfolders, names in os.walk(staging):
        rel = os.path.relpath(folder, staging)
        if done:
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            subfolders[:] = [d for d in subfolders if prefix + d not in done]
        for name in names:
            new = os.path.join(folder, name)
            old = os.path.join(live, rel, name)
            try:
                st = os.lstat(new)
                if st.st_nlink > 1:  # linked already: the live tree's file, or the cache's
                    continue
                ost = os.lstat(old)
            except FileNotFoundError:
                continue
            if not (S_ISREG(st.st_mode) and S_ISREG(ost.st_mode)) or st.st_size != ost.st_size:
                continue
            if not ours(ost):  # another user's, or writable by all: not published by a link
                continue
            if not _same_bytes(new, old):
                continue
            tmp = f"{new}.curate-keep"
            try:
                os.link(old, tmp)
            except OSError:
                continue  # another filesystem: the new file stays
            os.replace(tmp, new)
            kept += 1
    return kept


def link_if_same(live: str, new: str, data: bytes) -> bool:
    """Make ``new`` a hard link to ``live`` when that is a regular file of exactly ``data``'s bytes,
    the build's own (:func:`ours`) (what :func:`keep_unchanged` would do once ``new`` was written,
    without writing it); True then.
    The file is read without following a symbolic link or waiting on a FIFO, and the link made is
    checked to be the file that was read."""
    try:
        fd = os.open(live, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not S_ISREG(st.st_mode) or not ours(st) or st.st_size != len(data):
            return False
        with open(fd, "rb", closefd=False) as fh:
            if fh.read(len(data) + 1) != data:
                return False
    except OSError:
        return False
    finally:
        os.close(fd)
    try:
        os.link(live, new, follow_symlinks=False)
    except OSError:
        return False
    try:
        made = os.lstat(new)
        if (made.st_dev, made.st_ino) == (st.st_dev, st.st_ino):
            return True
    except OSError:
        pass
    os.unlink(new)  # not the file read (replaced since): never written through
    return False


def _same_bytes(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 16), fb.read(1 << 16)
            if x != y:
                return False
            if not x:
                return True


class Staging:
    """Plain writes into a fresh staging tree; relative paths use ``/``."""

    def __init__(self, root: str | Path) -> None:
        self.root = os.fspath(root)
        self._dirs: set[str] = set()

    def _path(self, rel: str) -> str:
        path = f"{self.root}/{rel}"
        parent = path.rpartition("/")[0]
        if parent not in self._dirs:
            try:
                os.mkdir(parent)
            except FileExistsError:
                pass
            except FileNotFoundError:
                os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        return path

    def write(self, rel: str, data: bytes) -> None:
        fd = os.open(self._path(rel), _CREATE, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def link(self, rel: str, src: str | Path) -> None:
        link_or_copy(src, self._path(rel))

    def write_or_keep(self, rel: str, data: bytes, live: str | Path | None) -> None:
        """:meth:`write`, but hard-link the file ``live`` (a published tree) holds at ``rel`` when it is
        the same bytes (:func:`link_if_same`: what :func:`keep_unchanged` would do afterwards)."""
        path = self._path(rel)
        if live is None or not link_if_same(f"{live}/{rel}", path, data):
            self.write(rel, data)

    def close(self) -> None:
        """Everything sent is on disk (nothing to wait for here)."""

    def abort(self) -> None:
        """Stop writing; the caller deletes the staging tree."""


class WriteBehind(Staging):
    """:class:`Staging` whose system calls run in a helper process while the caller renders.

    Errors of the helper come back as the same ``OSError`` the write would have raised here, from the
    next ``write``/``link`` or from :meth:`close`, which waits until every file is written.
    """

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), self.root],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=_PIPE_BUFFER,
        )
        assert self._proc.stdin is not None
        self._pipe = self._proc.stdin

    def _send(self, op: bytes, rel: str, payload: bytes) -> None:
        path = os.fsencode(rel)
        try:
            self._pipe.write(_FRAME.pack(op, len(path), len(payload)))
            self._pipe.write(path)
            self._pipe.write(payload)
        except BrokenPipeError:
            self._raise_failure()

    def write(self, rel: str, data: bytes) -> None:
        self._send(b"w", rel, data)

    def link(self, rel: str, src: str | Path) -> None:
        self._send(b"l", rel, os.fsencode(src))

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._pipe.close()
        if self._proc.wait() != 0:
            self._raise_failure()
        assert self._proc.stderr is not None
        self._proc.stderr.close()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.close()
        self._proc.kill()
        self._proc.wait()
        assert self._proc.stderr is not None
        self._proc.stderr.close()

    def _raise_failure(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.close()
        self._proc.wait()
        assert self._proc.stderr is not None
        report = self._proc.stderr.read().decode("utf-8", "replace").strip()
        self._proc.stderr.close()
        code, _, rest = report.partition("\t")
        filename, _, message = rest.partition("\t")
        if code.isdigit() and message:
            raise OSError(int(code), message, filename)
        raise OSError(f"the staging writer failed (exit {self._proc.returncode}): {report[-2000:]}")


def serve_writes(root: str, stream: BinaryIO) -> None:
    """The helper's loop: apply the frames :class:`WriteBehind` sends until the stream ends."""
    sink = Staging(root)
    read = stream.read
    while head := read(_FRAME.size):
        op, n, m = _FRAME.unpack(head)
        rel = read(n)
        payload = read(m)
        if len(rel) != n or len(payload) != m:
            raise EOFError("truncated frame")
        if op == b"w":
            sink.write(os.fsdecode(rel), payload)
        else:
            sink.link(os.fsdecode(rel), os.fsdecode(payload))


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2); False when the platform cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc != 0:
        err = ctypes.get_errno()
        if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the filesystem or kernel cannot
            return False
        raise OSError(err, os.strerror(err), str(a))
    return True


def spare_path(public: Path, part: str) -> Path:
    """Where ``part`` (a folder) of the tree a build replaced is kept for the next build
    (:func:`swap`'s ``keep``), beside ``public``."""
    public = public.absolute()
    return public.parent / f".{public.name}.spare-{part.replace('/', '-')}"


def swap(staging: Path, public: Path, keep: Sequence[str] = ()) -> None:
    """Put ``staging`` at ``public``; the previous tree is deleted afterwards, but for its folders named
    in ``keep``: each is moved to :func:`spare_path` (replacing an older one), for the next build to
    take over (:class:`curate.reuse.LinkReuse`'s ``spare``) instead of deleting its files here."""
    if not public.exists():
        os.rename(staging, public)
        return
    if _exchange(staging, public):
        _keep(staging, public, keep)
        shutil.rmtree(staging)  # now holds the previous tree
        return
    old = public.with_name(f".{public.name}.old-{os.getpid()}")
    os.rename(public, old)
    try:
        os.rename(staging, public)
    except BaseException:
        os.rename(old, public)
        raise
    _keep(old, public, keep)
    shutil.rmtree(old)


def _keep(previous: Path, public: Path, parts: Sequence[str]) -> None:
    for part in parts:
        folder = previous / part
        with contextlib.suppress(OSError):  # else deleted with the rest
            if not os.path.isdir(folder) or os.path.islink(folder):
                continue
            spare = spare_path(public, part)
            if os.path.lexists(spare):
                shutil.rmtree(spare)  # a build that did not take it over
            os.rename(folder, spare)


def lock_path(public: Path) -> Path:
    """The lock file that keeps a second build off ``public`` (beside it, like its staging trees)."""
    public = public.absolute()
    return public.parent / f".{public.name}.lock"


@contextlib.contextmanager
def build_lock(public: Path, doing: str = "curate build") -> Iterator[None]:
    """Hold ``public``'s build lock for the block, or stop at once naming the run that holds it
    (:class:`curate.exclusive.Busy`): two builds at once would publish over each other, and each would
    delete the other's staging tree as a leftover. ``curate publish`` holds it too (``doing``), so that no
    build swaps the tree while it is being uploaded."""
    from curate.errors import display_path
    from curate.exclusive import exclusive

    public = public.absolute()
    public.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(lock_path(public), doing, what=display_path(public)):
        yield


def remove_leftovers(public: Path) -> None:
    """Staging trees of builds that were killed before they could clean up (the caller holds
    :func:`build_lock`, so none of them belongs to a build still running)."""
    parent = public.parent
    if not parent.is_dir():
        return
    for p in parent.iterdir():
        if p.name.startswith((f".{public.name}.staging-", f".{public.name}.old-")):
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def publishing(public: Path, keep: Sequence[str] = ()) -> Iterator[Path]:
    """Yield a staging directory; on success it becomes ``public`` (the previous tree's folders named in
    ``keep`` kept aside: :func:`swap`), on failure it disappears.

    The caller holds :func:`build_lock` (leftovers of killed builds are deleted here)."""
    public = public.absolute()
    public.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(public)
    staging = Path(tempfile.mkdtemp(prefix=f".{public.name}.staging-", dir=public.parent))
    try:
        yield staging
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; web servers must read it
        swap(staging, public, keep)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _helper_main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it kills us on failure
    try:
        serve_writes(sys.argv[1], sys.stdin.buffer)
    except OSError as exc:
        filename = os.fsdecode(exc.filename) if exc.filename is not None else ""
        sys.stderr.write(f"{exc.errno or 0}\t{filename}\t{exc.strerror or exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_helper_main())
