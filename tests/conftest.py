"""Shared fixtures. Tests are offline: sockets may only reach 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

# The tests' git commands act on the repositories the tests make, never on the one the suite runs
# from: `git rebase --exec "make test"` and git hooks export GIT_DIR (and friends), which would send
# every `git init`, `git commit` and `git checkout` of a fixture there (`git rev-parse --local-env-vars`).
for _name in (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
):
    os.environ.pop(_name, None)

# Nor does what the suite runs under change what the tests see: a CI service sets $CI (GitHub also $GITHUB_ACTIONS): they turn
# `curate build`'s left-out versions into a failure and its messages into workflow commands; a developer's
# $CURATE_TODAY, $CURATE_CACHE_DIR or credentials would move a waiver's expiry, the file cache or an upload.
# The tests that need one set it themselves ($CURATE_PYTHON_X_Y, which says where an interpreter is, stays).
for _name in list(os.environ):
    scrubbed = _name in ("CI", "NETRC") or _name.startswith(
        ("GITHUB_", "RUNNER_", "AWS_", "TWINE_", "CURATE_")
    )
    if scrubbed and not _name.startswith("CURATE_PYTHON_"):
        del os.environ[_name]

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else address
    inet = self.family in (socket.AF_INET, socket.AF_INET6)
    if inet and isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost"):
        raise OSError(f"tests are offline: connection to {host!r} refused by tests/conftest.py")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _signal_handlers() -> Iterator[None]:
    """Put SIGINT and SIGTERM back as they were after each test: a library run in-process (a server, an
    event loop) may leave its own handler, and a later test that expects Ctrl-C to raise KeyboardInterrupt
    would then see it swallowed, depending on which tests shared its worker."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    if threading.current_thread() is threading.main_thread():
        for s, handler in before.items():
            if signal.getsignal(s) is not handler and handler is not None:
                signal.signal(s, handler)


@pytest.fixture(autouse=True)
def _offline(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("online") is None:
        monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
