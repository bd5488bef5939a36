"""Writing files so that nothing half-written is ever seen: a temporary file beside the target, fsynced,
then renamed over it (one file with :func:`atomic_write`, several as one step with :func:`replace_files`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def _temporary_beside(path: Path, mode: str) -> Iterator[tuple[Any, str]]:
    """A new file beside ``path`` to write (and its name); fsynced and 0644 when the block ends,
    deleted when it raises."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(
            fd, mode, encoding=None if "b" in mode else "utf-8", newline=None if "b" in mode else "\n"
        ) as fh:
            yield fh, tmp
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_writer(path: Path, mode: str = "w") -> Iterator[Any]:
    """Write to a temporary file beside ``path`` and rename it over ``path`` only on success."""
    with _temporary_beside(path, mode) as (fh, tmp):
        yield fh
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        with atomic_writer(path, "wb") as fh:
            fh.write(content)
    else:
        with atomic_writer(path, "w") as fh:
            fh.write(content)


def write_if_changed(path: Path, content: str | bytes) -> bool:
    """Write only when the bytes differ; return whether the file changed."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    atomic_write(path, data)
    return True


def replace_files(changes: Mapping[Path, bytes | None]) -> list[Path]:
    """Write (bytes) or delete (``None``) several files as one step; return the paths that changed.

    As near all-or-nothing as a process can get: every new content is first written and fsynced to a
    temporary file beside its target (a failure or an interruption there leaves every target as it
    was); only then, with SIGINT and SIGTERM held back, are they renamed over their targets and the
    deletions done. Files whose bytes are already right are not touched.
    """
    staged: list[tuple[str, Path]] = []
    deletions: list[Path] = []
    try:
        for path, data in changes.items():
            if data is None:
                if path.exists():
                    deletions.append(path)
                continue
            with contextlib.suppress(OSError):
                if path.read_bytes() == data:
                    continue
            with _temporary_beside(path, "wb") as (fh, tmp):
                fh.write(data)
            staged.append((tmp, path))
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    with _signals_held():
        for tmp, path in staged:
            os.replace(tmp, path)
        for path in deletions:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return [path for _, path in staged] + deletions


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block ends, then deliver them (main thread only)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)
