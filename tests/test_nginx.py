"""`curate nginx-config`, run for real: nginx with the generated server block in a temporary prefix."""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.cli import main
from curate.errors import UsageError
from curate.index import HTML_TYPE, JSON_TYPE
from curate.nginx import PROJECTS_MAP, greater_than, parse_rate, projects_map, render_server
from tests import servertable
from tests.test_clients import installed, pip, uv
from tests.test_index_helpers import Built, make_built

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (make system-deps installs it)"
)


@pytest.mark.parametrize(
    ("text", "rate", "burst", "retry_after"),
    [
        ("2000r/5m", "400r/m", 2000, 1),
        ("10r/s", "10r/s", 10, 1),
        ("5r/m", "5r/m", 5, 12),
        ("600r/1h", "10r/m", 600, 6),
    ],
)
def test_parse_rate(text: str, rate: str, burst: int, retry_after: int) -> None:
    parsed = parse_rate(text)
    assert (parsed.nginx_rate, parsed.burst, parsed.retry_after) == (rate, burst, retry_after)


@pytest.mark.parametrize("bad", ["2000", "r/5m", "0r/s", "5r/0m", "5r/d"])
def test_parse_rate_rejects(bad: str) -> None:
    with pytest.raises(UsageError, match=r"expected requests per window|longer than 0"):
        parse_rate(bad)


def test_values_cannot_inject_directives(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--server-name"):
        render_server(root=tmp_path, server_name="a; include /etc/passwd")
    with pytest.raises(UsageError, match="--listen"):
        render_server(root=tmp_path, listen="80; x")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def run_nginx(prefix: Path, server_conf: str) -> Iterator[None]:
    assert NGINX is not None
    prefix.mkdir(parents=True)
    (prefix / "tmp").mkdir()
    (prefix / "server.conf").write_text(server_conf)
    temp_paths = "".join(
        f"    {kind}_temp_path {prefix / 'tmp' / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        ("user root;\n" if os.getuid() == 0 else "")  # workers must read the test's 0700 tmp dirs
        + f"worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        + "events { worker_connections 64; }\n"
        + f"http {{\n    access_log {prefix / 'access.log'};\n{temp_paths}"
        + f"    include {prefix / 'server.conf'};\n}}\n"
    )
    conf = str(prefix / "nginx.conf")
    check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", conf], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", conf, "-g", "daemon off;"])
    try:
        port = int(server_conf.split("listen 127.0.0.1:", 1)[1].split(";", 1)[0])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (prefix / "error.log").read_text()
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _get(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    b = make_built(tmp_path_factory.mktemp("nginx"))
    (b.public / "index.html").write_text("<!DOCTYPE html><title>docs</title>\n")
    return b


@needs_nginx
def test_nginx_serves_the_index_like_curate_serve(built: Built, tmp_path: Path) -> None:
    port = _free_port()
    conf = render_server(root=built.public, listen=f"127.0.0.1:{port}", server_name="localhost")
    with run_nginx(tmp_path / "nginx", conf):
        for path in ("/simple/", "/simple/httpish/"):
            status, headers, body = _get(port, path)
            assert (status, headers["content-type"], headers["vary"]) == (
                200,
                "text/html; charset=utf-8",
                "Accept",
            )
            assert body == (built.public / path.strip("/") / "index.html").read_bytes()
            status, headers, body = _get(port, path, {"Accept": f"{JSON_TYPE}, {HTML_TYPE};q=0.2"})
            assert (status, headers["content-type"], headers["vary"]) == (200, JSON_TYPE, "Accept")
            assert body == (built.public / path.strip("/") / "index.json").read_bytes()
            status, headers, body = _get(port, path, {"Accept": HTML_TYPE})
            assert (status, headers["content-type"]) == (200, HTML_TYPE)
            assert body == (built.public / path.strip("/") / "index.html").read_bytes()
        refused = _get(port, "/simple/", {"Accept": f"{JSON_TYPE}; q=0, text/html"})
        assert refused[1]["content-type"] == "text/html; charset=utf-8"
        status, headers, _ = _get(port, "/simple/httpish")
        assert (status, headers["location"]) == (301, "/simple/httpish/")
        for name, ctype in (("index.html", "text/html; charset=utf-8"), ("index.json", "application/json")):
            status, headers, body = _get(port, f"/simple/{name}")  # files, as curate serve has them
            assert (status, headers["content-type"]) == (200, ctype), name
            assert body == (built.public / "simple" / name).read_bytes()
        for path in ("/simple/nope/", "/files/", "/api/", "/.curate-index.json", "/files/certy/nope.whl"):
            assert _get(port, path)[0] == 404, path
        # what changes with a build is revalidated, a missing project included (it may be added later)
        for path in ("/", "/api/catalog.json", "/simple/nope/", "/simple/index.html"):
            assert _get(port, path)[1].get("cache-control") == "no-cache", path
        wheel = "/files/httpish/httpish-1.1-py3-none-any.whl"
        data = (built.public / wheel.lstrip("/")).read_bytes()
        status, headers, body = _get(port, wheel, {"Range": "bytes=0-9", "Accept-Encoding": "gzip"})
        assert (status, body, headers["content-type"]) == (206, data[:10], "application/octet-stream")
        assert "content-encoding" not in headers
        assert "immutable" in headers["cache-control"]
        assert "etag" in headers
        status, headers, body = _get(port, wheel, method="HEAD")
        assert (status, body, headers["content-length"]) == (200, b"", str(len(data)))
        assert _get(port, "/")[2] == b"<!DOCTYPE html><title>docs</title>\n"

        index = f"http://127.0.0.1:{port}/simple/"
        pip(tmp_path, index, "install", "--target", str(tmp_path / "p"), "webapp==2.0")
        assert installed(tmp_path / "p") == {"webapp": "2.0", "httpish": "1.1", "certy": "2024.1"}
        uv(tmp_path, index, "install", "--target", str(tmp_path / "u"), "webapp==2.0", "newpy")
        assert installed(tmp_path / "u") == {
            "webapp": "2.0",
            "httpish": "1.1",
            "certy": "2024.1",
            "newpy": "0.9",
        }
        log = (tmp_path / "nginx" / "access.log").read_text()
        assert '.whl.metadata HTTP/1.1" 200' in log


def _add_user(monkeypatch: pytest.MonkeyPatch, htpasswd: Path, name: str, password: str) -> str:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    assert main(["nginx-config", "--htpasswd", str(htpasswd), "--add-user", name]) == 0
    return htpasswd.read_text()


def test_add_user_writes_bcrypt_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    htpasswd = tmp_path / "htpasswd"
    text = _add_user(monkeypatch, htpasswd, "alice", "s3cret")
    assert capsys.readouterr().err == f"added alice in {htpasswd}\n"
    assert re.fullmatch(r"alice:\$2b\$05\$[./A-Za-z0-9]{53}\n", text)
    assert htpasswd.stat().st_mode & 0o777 == 0o640
    text = _add_user(monkeypatch, htpasswd, "bob", "other")
    text = _add_user(monkeypatch, htpasswd, "alice", "changed")
    assert capsys.readouterr().err.endswith(f"changed the password of alice in {htpasswd}\n")
    assert [line.split(":")[0] for line in text.splitlines()] == ["alice", "bob"]
    assert main(["nginx-config", "--add-user", "carol"]) == 2
    assert "--add-user needs --htpasswd FILE" in capsys.readouterr().err


@needs_nginx
def test_nginx_basic_auth_and_rate_limit(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    htpasswd = tmp_path / "htpasswd"
    _add_user(monkeypatch, htpasswd, "alice", "s3cret")
    port = _free_port()
    conf = render_server(
        root=built.public, listen=f"127.0.0.1:{port}", htpasswd=htpasswd, rate="5r/m", burst=2
    )
    good = {"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()}
    with run_nginx(tmp_path / "nginx", conf):
        assert _get(port, "/simple/")[0] == 401
        assert _get(port, "/simple/", bad)[0] == 401
        paths = ("/simple/", "/simple/certy/", "/files/x", "/", "/simple/nope/")
        answers = [_get(port, path, good) for path in paths]
    # a burst of 2 above the one request the rate allows now: the 2 refused with a password were counted
    assert [a[0] for a in answers] == [200, 429, 429, 429, 429]
    for _, headers, body in answers[1:]:  # every location, also those with error pages of their own
        assert headers["retry-after"] == "12"  # 5 a minute: one more every 12 s
        assert body == b"429 Too Many Requests: retry after 12 s\n"
    log = (tmp_path / "nginx" / "error.log").read_text()
    assert "[warn]" in log
    assert "limiting requests" in log
    assert not [line for line in log.splitlines() if "[error]" in line and "limiting" in line]


@needs_nginx
@pytest.mark.parametrize("client", ["uv", "pip"])
def test_clients_survive_a_bounded_burst(built: Built, tmp_path: Path, client: str) -> None:
    """uv retries a 429 with backoff; pip (urllib3) retries it only because it carries Retry-After."""
    port = _free_port()
    # uv asks in parallel, pip one request after another: each gets a bucket it overruns
    rate, burst = ("120r/m", 3) if client == "uv" else ("30r/m", 1)
    conf = render_server(root=built.public, listen=f"127.0.0.1:{port}", rate=rate, burst=burst)
    index = f"http://127.0.0.1:{port}/simple/"
    target = str(tmp_path / "t")
    with run_nginx(tmp_path / "nginx", conf):
        if client == "uv":
            uv(tmp_path, index, "install", "--target", target, "webapp==2.0", "newpy")
        else:
            pip(tmp_path, index, "install", "--target", target, "webapp==2.0", "newpy")
    assert installed(tmp_path / "t") == {"webapp": "2.0", "httpish": "1.1", "certy": "2024.1", "newpy": "0.9"}
    statuses = re.findall(r'" (\d{3}) ', (tmp_path / "nginx" / "access.log").read_text())
    assert "429" in statuses  # the limit was reached, and the client went on


# -- the table both servers answer (tests/servertable.py; tests/test_serve.py runs it on curate serve) ---


@needs_nginx
def test_nginx_answers_the_servers_table(tmp_path: Path) -> None:
    built = make_built(tmp_path / "b", picks=servertable.PICKS, extra_dists=servertable.NAMED_DISTS)
    assert (built.public / PROJECTS_MAP).is_file()  # curate build wrote the redirects nginx includes
    port = _free_port()
    conf = render_server(root=built.public, listen=f"127.0.0.1:{port}", server_name="localhost")
    with run_nginx(tmp_path / "nginx", conf):
        servertable.check_table(lambda path, headers: _get(port, path, headers), built.public)
        assert _get(port, f"/{PROJECTS_MAP}")[0] == 404  # a dotfile: never served
        # a few thousand random headers: nginx's maps decide as curate.accept does
        forms = {JSON_TYPE: "json", HTML_TYPE: "v1html", "text/html; charset=utf-8": "html"}
        mismatches = []
        for accept, form in servertable.random_headers(2000):
            status, headers, _ = _get(port, "/simple/httpish/", {"Accept": accept})
            got = "none" if status == 406 else forms.get(headers.get("content-type", ""), f"{status}")
            if got != form:
                mismatches.append((accept, form, got))
        assert mismatches == []


def test_the_negotiation_maps_compare_keys_as_numbers() -> None:
    """The regex behind nginx's comparisons: A>B for two six-digit keys, exactly when int(A) > int(B)."""
    import random
    import re

    gt = re.compile(greater_than(6))
    rng = random.Random(7)
    pairs = [
        (f"{a:06d}", f"{b:06d}")
        for a, b in ((rng.randrange(10**6), rng.randrange(10**6)) for _ in range(5000))
    ]
    pairs += [("100033", "100032"), ("100032", "100033"), ("050023", "050023"), ("000003", "000002")]
    for a, b in pairs:
        assert bool(gt.match(f"{a}>{b}")) == (int(a) > int(b)), (a, b)


def test_the_projects_map() -> None:
    text = projects_map(["zope-interface", "pillow"])
    assert text.splitlines()[2:] == [
        '"~^/simple/(?!pillow/?$)(?i)pillow/?$" /simple/pillow/;',
        '"~^/simple/(?!zope\\-interface/?$)(?i)zope[-_.]+interface/?$" /simple/zope-interface/;',
    ]
