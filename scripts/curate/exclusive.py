"""One curate run at a time on one tree: advisory locks on a file beside what a run writes.

``curate build`` holds ``.<output>.lock`` beside its output (``public/``) for the whole build, ``curate lock``
and ``curate vet`` hold ``catalog/.curate-writing.lock``, and ``curate fetch`` holds
``partial/<sha256>.lock`` in the cache for each download. A second run on the same tree stops at once
with "another curate build is running (pid N)" (:class:`Busy`), or, where waiting is the better answer
(two fetches wanting one file), waits for the first and then finds the file there.

The locks are advisory (``flock`` on POSIX, ``msvcrt.locking`` on Windows) and belong to the open file: the
kernel drops them when the process ends, however it ends (kill -9 included), so a lock file left behind
is never a stale lock. The file holds the holder's pid and what it is doing, for the message; the holder
deletes it as it lets go (a run that opened it meanwhile notices and takes the new one).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from curate.errors import CurateError

_OPEN = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_WINDOWS_OFFSET = 1 << 30  # Windows locks a byte range, and a locked range cannot be read: lock far away


class Busy(CurateError):
    """Another run holds the lock."""

    def __init__(self, message: str, *, pid: int | None, doing: str) -> None:
        super().__init__(message)
        self.pid = pid
        self.doing = doing


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        os.lseek(fd, _WINDOWS_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    return True


def holder(path: Path) -> tuple[int | None, str]:
    """Who holds (or last held) the lock at ``path``: (pid, what it is doing); (None, "") when unknown."""
    try:
        text = path.read_text("utf-8", "replace").strip()
    except OSError:
        return None, ""
    pid, _, doing = text.partition(" ")
    return (int(pid) if pid.isdigit() else None), doing


class Held:
    """A lock this process holds; :meth:`release` (or leaving the ``with`` block) lets it go."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """Let the lock go, deleting its file first (nothing is left behind in the tree; a run waiting
        for it finds the file gone and takes a new one: :func:`try_hold`)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)  # closing the file lets the lock go
        self._fd = None

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_hold(path: Path, doing: str) -> Held | None:
    """The lock at ``path`` when nobody holds it (recording this process and ``doing``), else None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, _OPEN, 0o644)
        try:
            if not _try_lock(fd):
                os.close(fd)
                return None
            if _same_file(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # its holder deleted it as it let go: the lock is a new file now
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {doing}\n".encode())
    except BaseException:
        os.close(fd)
        raise
    return Held(path, fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino)


def hold(path: Path, doing: str, *, what: str, hint: str = "") -> Held:
    """The lock at ``path``, or :class:`Busy` at once: "``what``: another ``doing`` is running (pid N)"."""
    held = try_hold(path, doing)
    if held is not None:
        return held
    pid, theirs = holder(path)
    who = f"another {theirs or 'curate run'} is running" + (f" (pid {pid})" if pid is not None else "")
    message = f"{what}: {who}; wait for it to finish, then run this again"
    if hint:
        message += f"\n    hint: {hint}"
    raise Busy(message, pid=pid, doing=theirs)


def wait_hold(
    path: Path,
    doing: str,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    on_wait: Callable[[int | None, str], None] | None = None,
    poll: float = 0.2,
) -> Held | None:
    """The lock at ``path``, waiting for its holder to let it go (``on_wait(pid, doing)`` is told once);
    None when ``cancelled()`` turns true while waiting."""
    told = False
    while True:
        held = try_hold(path, doing)
        if held is not None:
            return held
        if cancelled():
            return None
        if not told and on_wait is not None:
            on_wait(*holder(path))
            told = True
        time.sleep(poll)


@contextlib.contextmanager
def exclusive(path: Path, doing: str, *, what: str, hint: str = "") -> Iterator[Held]:
    """Hold the lock at ``path`` for the block (see :func:`hold`)."""
    with hold(path, doing, what=what, hint=hint) as held:
        yield held
