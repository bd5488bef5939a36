"""Shared fixtures. Tests are offline: sockets may only reach 127.0.0.1."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else address
    inet = self.family in (socket.AF_INET, socket.AF_INET6)
    if inet and isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost"):
        raise OSError(f"tests are offline: connection to {host!r} refused by tests/conftest.py")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _offline(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("online") is None:
        monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
