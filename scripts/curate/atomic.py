"""Writing files so that nothing half-written is ever seen: a temporary file beside the target, fsynced,
then renamed over it (one file with :func:`atomic_write`, several as one step with :func:`replace_files`).

Temporary files are named ``.<target name>.<random>.tmp`` (:func:`remove_temporaries` deletes those a
killed run left). :func:`replace_files` with a ``journal`` survives even kill -9 between its renames: the
journal, written once every new content is staged, lists the renames still to do, and
:func:`finish_replacing` (run by the next writer before anything else) completes them.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
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


def replace_files(changes: Mapping[Path, bytes | None], *, journal: Path | None = None) -> list[Path]:
    """Write (bytes) or delete (``None``) several files as one step; return the paths that changed.

    As near all-or-nothing as a process can get: every new content is first written and fsynced to a
    temporary file beside its target (a failure or an interruption there leaves every target as it
    was); only then, with SIGINT and SIGTERM held back, are they renamed over their targets and the
    deletions done. Files whose bytes are already right are not touched.

    ``journal``: a file that lists the renames and deletions once everything is staged, and is removed
    when they are done; a run killed between them (kill -9, a power cut) leaves it for
    :func:`finish_replacing` to complete, so the files end up all new, never mixed.
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
        if journal is not None and (staged or deletions):
            base = journal.parent
            plan = {
                "replace": [
                    [os.path.relpath(tmp, base), os.path.relpath(path, base)] for tmp, path in staged
                ],
                "delete": [os.path.relpath(path, base) for path in deletions],
            }
            atomic_write(journal, json.dumps(plan, indent=1) + "\n")  # from here on, the change is made
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    with _signals_held():
        _apply(staged, deletions)
        if journal is not None:
            with contextlib.suppress(FileNotFoundError):
                journal.unlink()
    return [path for _, path in staged] + deletions


def _apply(staged: Iterable[tuple[str | Path, Path]], deletions: Iterable[Path]) -> None:
    for tmp, path in staged:
        with contextlib.suppress(FileNotFoundError):  # done already (a journal being finished)
            os.replace(tmp, path)
    for path in deletions:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def finish_replacing(journal: Path) -> bool:
    """Complete the :func:`replace_files` a killed run left half done (its ``journal`` says what is left);
    return whether there was one. A journal that does not read is left for a person to look at."""
    try:
        plan = json.loads(journal.read_bytes())
    except FileNotFoundError:
        return False
    base = journal.parent
    try:
        staged = [(_inside(base, tmp), _inside(base, path)) for tmp, path in plan["replace"]]
        deletions = [_inside(base, path) for path in plan["delete"]]
        ok = all(
            tmp.parent == path.parent and tmp.name.startswith(f".{path.name}.") and tmp.name.endswith(".tmp")
            for tmp, path in staged
        )
    except (TypeError, KeyError, ValueError):
        ok = False
    if not ok:  # not one replace_files wrote: it could name any file (a journal committed to a repository)
        raise ValueError(f"{journal}: not a journal curate wrote; look at it, then delete it")
    _apply(staged, deletions)
    journal.unlink()
    return True


def _inside(base: Path, rel: object) -> Path:
    """``base / rel`` for a relative path that stays inside ``base``; ValueError otherwise."""
    if not isinstance(rel, str) or os.path.isabs(rel) or ".." in Path(rel).parts or not rel:
        raise ValueError(rel)
    return base / rel


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files (``.<name>.<random>.tmp``) killed runs left in ``folder``; return them.
    Only while no other run can be writing there (the caller holds its lock)."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if (
                entry.name.startswith(".")
                and entry.name.endswith(".tmp")
                and entry.is_file(follow_symlinks=False)
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
    return sorted(removed)


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
