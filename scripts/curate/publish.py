"""Publishing a whole tree: build beside the live one, then swap it in with a rename.

:func:`publishing` yields a fresh staging directory next to ``public/`` (same filesystem, so the final
rename is atomic and hard links from the live tree work). When the block finishes, the staging tree
replaces ``public/``: on Linux with one ``renameat2(RENAME_EXCHANGE)``, so there is no instant without
a ``public/``; elsewhere with two renames. When the block raises, the staging tree is deleted and the
live tree was never touched, so the previous site keeps serving.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


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


def swap(staging: Path, public: Path) -> None:
    """Put ``staging`` at ``public``; the previous tree is deleted afterwards."""
    if not public.exists():
        os.rename(staging, public)
        return
    if _exchange(staging, public):
        shutil.rmtree(staging)  # now holds the previous tree
        return
    old = public.with_name(f".{public.name}.old-{os.getpid()}")
    os.rename(public, old)
    try:
        os.rename(staging, public)
    except BaseException:
        os.rename(old, public)
        raise
    shutil.rmtree(old)


def remove_leftovers(public: Path) -> None:
    """Staging trees of builds that were killed before they could clean up."""
    parent = public.parent
    if not parent.is_dir():
        return
    for p in parent.iterdir():
        if p.name.startswith((f".{public.name}.staging-", f".{public.name}.old-")):
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def publishing(public: Path) -> Iterator[Path]:
    """Yield a staging directory; on success it becomes ``public``, on failure it disappears."""
    public = public.absolute()
    public.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(public)
    staging = Path(tempfile.mkdtemp(prefix=f".{public.name}.staging-", dir=public.parent))
    try:
        yield staging
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; web servers must read it
        swap(staging, public)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
