"""What the troubleshooting guide says pip and uv do with a 429 (site/guides/troubleshooting.md), checked
with the real clients against a catalog served on 127.0.0.1 that refuses the first request for every URL:
pip retries a 429 only when it carries ``Retry-After`` (urllib3 honours the header; 429 is not in pip's
own list of statuses to retry), uv retries it either way (with backoff). The nginx config's 429 carries
the header (tests/test_nginx.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from curate.serve import Handler, make_server, serve_in_thread, url_of
from tests.conftest import REPO
from tests.test_clients import installed, pip, uv
from tests.test_index_helpers import Built, make_built

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return make_built(tmp_path_factory.mktemp("retry429"))


@pytest.fixture
def refusing(built: Built) -> Iterator[Callable[[str | None], str]]:
    """Start a server for the built tree answering 429 to the first request for each path, with the
    given ``Retry-After`` (or none); returns its index URL."""
    stops: list[Callable[[], None]] = []

    def start(retry_after: str | None) -> str:
        server = make_server(built.public, port=0, quiet=True)
        seen: set[str] = set()
        lock = threading.Lock()
        handler: object = server.RequestHandlerClass  # make_server's subclass of Handler, made for it

        def _handle(self: Handler, *, head: bool) -> None:
            with lock:
                first = self.path not in seen
                seen.add(self.path)
            if not first:
                Handler._handle(self, head=head)
                return
            body = b"429 Too Many Requests\n"
            self.send_response(429)
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        setattr(handler, "_handle", _handle)  # noqa: B010 (a method of the bound handler class)
        stops.append(serve_in_thread(server))
        return url_of(server) + "/simple/"

    yield start
    for stop in stops:
        stop()


WANT = {"webapp": "2.0", "httpish": "1.1", "certy": "2024.1"}


def test_pip_does_not_retry_a_429_without_retry_after(
    refusing: Callable[[str | None], str], tmp_path: Path
) -> None:
    index = refusing(None)
    proc = pip(tmp_path, index, "install", "--target", str(tmp_path / "t"), "webapp==2.0", check=False)
    assert proc.returncode != 0
    assert "(from versions: none)" in proc.stderr  # the message the guide quotes


def test_pip_retries_a_429_with_retry_after(refusing: Callable[[str | None], str], tmp_path: Path) -> None:
    index = refusing("1")
    pip(tmp_path, index, "install", "--target", str(tmp_path / "t"), "webapp==2.0")
    assert installed(tmp_path / "t") == WANT


def test_uv_retries_a_429_either_way(refusing: Callable[[str | None], str], tmp_path: Path) -> None:
    index = refusing(None)
    uv(tmp_path, index, "install", "--target", str(tmp_path / "t"), "webapp==2.0")
    assert installed(tmp_path / "t") == WANT


def test_the_guide_says_so() -> None:
    guide = (REPO / "site" / "guides" / "troubleshooting.md").read_text("utf-8")
    assert "| uv | yes, with exponential backoff |" in guide
    assert "| pip | only when the 429 carries `Retry-After` (this catalog's does)" in guide
