"""The one HTTP client: proxies and logins from the environment it is given, redirects that never carry a
login to another host, limits on size and time, and errors that name the URL without its credentials."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from curate.httpclient import (
    USER_AGENT,
    ConnectError,
    HttpClient,
    HttpError,
    LimitError,
    Limits,
    StatusError,
    TransferError,
)
from tests.httpfixture import Server, redirect, send


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def other() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def test_a_page_carries_the_user_agent_and_the_urls_login(server: Server) -> None:
    server.routes["/simple/x/"] = lambda h: send(
        h, 200, b"{}", Content_Type="application/json; charset=utf-8"
    )
    page = HttpClient({}).get(server.url("/simple/x/").replace("http://", "http://bot:tok@"), accept="a/b")
    assert (page.url, page.status, page.content_type, page.body) == (
        server.url("/simple/x/"),
        200,
        "application/json",
        b"{}",
    )
    [(_, _, headers)] = server.seen
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Accept"] == "a/b"
    assert headers["Authorization"] == _basic("bot", "tok")


def test_a_login_follows_a_redirect_on_its_own_host_but_never_to_another(
    server: Server, other: Server, tmp_path: Path
) -> None:
    other.routes["/file"] = lambda h: send(h, 200, b"bytes")
    server.routes["/a"] = redirect("/b")  # same host: the login goes along
    server.routes["/b"] = redirect(other.url("/file", host="localhost"))  # another host: it does not
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login nrc password pw\n", "utf-8")
    netrc.chmod(0o600)
    client = HttpClient({"NETRC": str(netrc)})
    index = server.url("/simple/").replace("http://", "http://bot:tok@")
    with client.open(server.url("/a"), login=(index,)) as resp:
        assert (resp.status, resp.url, resp.read()) == (200, other.url("/file", host="localhost"), b"bytes")
    assert [(p, h.get("Authorization")) for _, p, h in server.seen] == [
        ("/a", _basic("bot", "tok")),
        ("/b", _basic("bot", "tok")),
    ]
    assert [h.get("Authorization") for _, _, h in other.seen] == [None]

    # the other host's own netrc entry is its login; the first host's never is
    netrc.write_text("machine localhost login cdn password cdnpw\n", "utf-8")
    with client.open(server.url("/a"), login=(index,)) as resp:
        resp.read()
    assert other.seen[-1][2].get("Authorization") == _basic("cdn", "cdnpw")


def test_redirects_are_limited_and_only_to_http(server: Server, tmp_path: Path) -> None:
    server.routes["/loop"] = redirect("/loop")
    server.routes["/local"] = redirect((tmp_path / "secret").as_uri())
    client = HttpClient({}, limits=Limits(redirects=3))
    with pytest.raises(HttpError, match=r"/loop: more than 3 redirects$"):
        client.open(server.url("/loop").replace("http://", "http://bot:tok@"))
    assert len(server.seen) == 4
    with pytest.raises(HttpError, match="curate only follows http"):
        client.open(server.url("/local"))


def test_a_post_redirected_with_303_becomes_a_get(server: Server) -> None:
    server.routes["/query"] = redirect("/answer", 303)
    server.routes["/answer"] = lambda h: send(h, 200, b'{"ok": true}', Content_Type="application/json")
    assert HttpClient({}).post_json(server.url("/query"), {"q": 1}).json() == {"ok": True}
    assert [(m, p) for m, p, _ in server.seen] == [("POST", "/query"), ("GET", "/answer")]


def test_every_kind_of_request_goes_through_the_proxy_the_environment_names(
    server: Server, tmp_path: Path
) -> None:
    proxy = Server()
    proxy.default = lambda h: send(h, 200, b'{"via": "proxy"}', Content_Type="application/json")
    try:
        env = {"http_proxy": proxy.url("").replace("http://", "http://pu:pp@")}
        client = HttpClient(env)
        target = server.url("/simple/x/")
        assert client.get(target).json() == {"via": "proxy"}
        assert client.head(target)["Content-Length"] == "16"
        assert client.post_json(target, {}).json() == {"via": "proxy"}
        with client.open(target) as resp:
            assert resp.read() == b'{"via": "proxy"}'
        assert [(m, p) for m, p, _ in proxy.seen] == [
            ("GET", target),
            ("HEAD", target),
            ("POST", target),
            ("GET", target),
        ]
        assert {h.get("Proxy-Authorization") for _, _, h in proxy.seen} == {_basic("pu", "pp")}
        assert server.seen == []
        # NO_PROXY: straight to the server
        direct = HttpClient({**env, "NO_PROXY": "localhost,127.0.0.1"})
        with pytest.raises(StatusError, match="HTTP 404"):
            direct.get(target)
        assert len(proxy.seen) == 4
        assert len(server.seen) == 1
    finally:
        proxy.close()


def test_status_errors_name_the_url_and_say_what_to_do_about_a_login(server: Server) -> None:
    server.routes["/private/"] = lambda h: send(h, 401, b"", WWW_Authenticate='Basic realm="x"')
    client = HttpClient({})
    with pytest.raises(StatusError) as err:
        client.get(server.url("/private/"))
    assert str(err.value).startswith(
        f"{server.url('/private/')}: HTTP 401 Unauthorized\n    hint: the upstream"
    )
    with pytest.raises(StatusError) as err:
        client.get(server.url("/private/").replace("http://", "http://bot:tok@"))
    assert str(err.value) == (
        f"{server.url('/private/')}: HTTP 401 Unauthorized\n"
        "    hint: the credentials curate sent were refused: check them"
    )


def test_no_answer_is_a_connect_error_without_the_credentials() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectError) as err:
        HttpClient({}).get(f"http://bot:s3cret@127.0.0.1:{port}/simple/")
    message = str(err.value)
    assert message.startswith(f"http://127.0.0.1:{port}/simple/: ")
    assert "Connection refused" in message
    assert "s3cret" not in message
    assert "\n" not in message


def test_a_page_larger_than_the_limit_is_refused(server: Server) -> None:
    server.routes["/big/"] = lambda h: send(h, 200, b"x" * 5000)
    with pytest.raises(LimitError) as err:  # its Content-Length says so: not read at all
        HttpClient({}, limits=Limits(max_page_bytes=4096)).get(server.url("/big/"))
    assert str(err.value) == (
        f"{server.url('/big/')}: the answer is 5,000 bytes, larger than 4,096; curate does not read it"
        " (upstream.max_page_bytes in catalog/config.yaml)"
    )
    assert HttpClient({}, limits=Limits(max_page_bytes=5000)).get(server.url("/big/")).body == b"x" * 5000


def test_a_page_without_a_length_is_read_no_further_than_the_limit(server: Server) -> None:
    def endless(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.end_headers()
        h.close_connection = True
        for _ in range(1000):  # 64 MB unless the client stops reading
            h.wfile.write(b"x" * 65536)

    server.routes["/huge/"] = endless
    with pytest.raises(LimitError) as err:
        HttpClient({}, limits=Limits(max_page_bytes=100_000)).get(server.url("/huge/"))
    assert str(err.value) == (
        f"{server.url('/huge/')}: the answer is larger than 100,000 bytes; curate stops reading it"
        " (upstream.max_page_bytes in catalog/config.yaml)"
    )


def test_an_answer_slower_than_the_deadline_is_given_up(server: Server) -> None:
    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "20")
        h.end_headers()
        for _ in range(20):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.05)

    server.routes["/slow/"] = trickle
    with pytest.raises(LimitError, match=r"/slow/: no complete answer within 0.3 seconds"):
        HttpClient({}, limits=Limits(deadline=0.3)).get(server.url("/slow/"))


def _trickle(
    h: BaseHTTPRequestHandler, *, head: bool = False, pause: float = 0.02, seen: list[str] | None = None
) -> None:
    """A server sending one byte at a time for a few seconds, in the headers or in the body, then
    hanging up; ``seen`` gets "cut" when the client hung up first, else "done"."""
    h.close_connection = True
    try:
        if head:
            h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        else:
            h.send_response(200)
            h.send_header("Content-Length", "100000")
            h.end_headers()
        for _ in range(150):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(pause)
    except OSError:
        if seen is not None:
            seen.append("cut")
        return
    if seen is not None:
        seen.append("done")


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_page_is_given_up_at_its_deadline_naming_the_url(server: Server, where: str) -> None:
    seen: list[str] = []
    server.routes["/simple/slow/"] = lambda h: _trickle(h, head=where == "headers", seen=seen)
    client = HttpClient({}, limits=Limits(deadline=0.3, min_speed=0))
    url = server.url("/simple/slow/").replace("http://", "http://bot:s3cret@")
    with pytest.raises(LimitError) as err:
        client.get(url)
    message = str(err.value)
    assert message == f"{server.url('/simple/slow/')}: no complete answer within 0.3 seconds"
    assert "s3cret" not in message
    for _ in range(500):  # the server notices the client hung up at its next byte
        if seen:
            break
        time.sleep(0.01)
    assert seen == ["cut"]  # curate hung up at the deadline, it did not wait for the server to stop


def test_a_trickling_download_is_given_up_under_the_minimum_speed(server: Server) -> None:
    server.routes["/files/slow.whl"] = _trickle
    client = HttpClient({}, limits=Limits(min_speed=1000, speed_window=0.2))
    with client.open(server.url("/files/slow.whl")) as resp, pytest.raises(LimitError) as err:
        for _ in resp.chunks():
            pass
    assert str(err.value).startswith(f"{server.url('/files/slow.whl')}: too slow: ")
    assert "under the minimum of 1,000 bytes a second (upstream.min_speed in catalog/config.yaml)" in str(
        err.value
    )


def test_the_minimum_speed_is_measured_on_the_clock_given(server: Server) -> None:
    """A fake clock: each look at it is 100 seconds later. Nothing here depends on real time."""
    server.routes["/files/x.whl"] = lambda h: send(h, 200, b"x" * 100)
    ticks = iter(range(0, 10_000, 100))
    slow = HttpClient({}, limits=Limits(min_speed=10), clock=lambda: float(next(ticks)))
    with (
        slow.open(server.url("/files/x.whl")) as resp,
        pytest.raises(LimitError, match="too slow: 100 bytes"),
    ):
        list(resp.chunks())
    ticks = iter(range(0, 10_000, 100))
    enough = HttpClient({}, limits=Limits(min_speed=1), clock=lambda: float(next(ticks)))
    with enough.open(server.url("/files/x.whl")) as resp:
        assert b"".join(resp.chunks()) == b"x" * 100
    ticks = iter(range(0, 10_000, 100))
    off = HttpClient({}, limits=Limits(min_speed=0), clock=lambda: float(next(ticks)))
    with off.open(server.url("/files/x.whl")) as resp:
        assert b"".join(resp.chunks()) == b"x" * 100


def test_a_download_has_no_deadline_unless_configured(server: Server) -> None:
    server.routes["/files/x.whl"] = lambda h: send(h, 200, b"x" * 100)
    ticks = iter(range(0, 10_000, 1000))
    client = HttpClient({}, limits=Limits(deadline=1, min_speed=0), clock=lambda: float(next(ticks)))
    with client.open(server.url("/files/x.whl")) as resp:  # a page's deadline is not a download's
        assert b"".join(resp.chunks()) == b"x" * 100
    ticks = iter(range(0, 10_000, 1000))
    timed = HttpClient({}, limits=Limits(download_deadline=1, min_speed=0), clock=lambda: float(next(ticks)))
    with (
        timed.open(server.url("/files/x.whl")) as resp,
        pytest.raises(LimitError, match="no complete answer within 1 seconds"),
    ):
        list(resp.chunks())


def test_a_body_cut_short_is_a_transfer_error(server: Server) -> None:
    def cut(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        h.wfile.write(b"only this")
        h.wfile.flush()
        h.close_connection = True

    server.routes["/cut"] = cut
    with pytest.raises(TransferError, match=r"/cut: "):
        HttpClient({}).get(server.url("/cut"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"files": [', "not JSON: Expecting value at line 1 column 12"),
        (b'{"a": "\xc3("}', "not JSON: not UTF-8 text (invalid continuation byte at byte 7)"),
    ],
)
def test_malformed_json_is_one_line_naming_the_url(server: Server, body: bytes, message: str) -> None:
    server.routes["/simple/x/"] = lambda h: send(h, 200, body, Content_Type="application/json")
    page = HttpClient({}).get(server.url("/simple/x/"))
    with pytest.raises(HttpError) as err:
        page.json()
    assert str(err.value) == f"{server.url('/simple/x/')}: {message}"


def test_a_local_index_is_read_from_the_disk(tmp_path: Path) -> None:
    page = tmp_path / "simple" / "x" / "index.json"
    page.parent.mkdir(parents=True)
    page.write_text(json.dumps({"files": []}), "utf-8")
    client = HttpClient({})
    got = client.get(page.as_uri())
    assert (got.status, got.content_type, got.json()) == (200, "application/json", {"files": []})
    assert client.head(page.as_uri())["Content-Length"] == str(page.stat().st_size)
    with pytest.raises(HttpError, match="no such file"):
        client.get((tmp_path / "missing").as_uri())
    # a directory's page is its index.html, as pip reads a local index (it was "Is a directory")
    html = tmp_path / "simple" / "x" / "index.html"
    html.write_text("<a href='x-1.0.tar.gz#sha256=00'>x-1.0.tar.gz</a>", "utf-8")
    got = client.get(page.parent.as_uri() + "/")
    assert (got.content_type, got.body, got.url) == (
        "text/html",
        html.read_bytes(),
        page.parent.as_uri() + "/",
    )
    with pytest.raises(HttpError, match="no such file"):
        client.get((tmp_path / "simple").as_uri() + "/")


def test_a_proxy_that_does_not_answer_is_named_as_the_proxy(server: Server) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = HttpClient({"HTTP_PROXY": f"http://pu:proxy-secret@127.0.0.1:{port}"})
    with pytest.raises(ConnectError) as err:
        client.get(server.url("/simple/"))
    message = str(err.value)
    assert message.startswith(f"{server.url('/simple/')}: cannot reach the proxy: NewConnectionError: ")
    assert "Connection refused" in message
    assert "proxy-secret" not in message
    assert server.seen == []


def test_an_unread_body_is_read_away_only_when_small(server: Server) -> None:
    """A small unread body is read to its end so its connection serves again; a big one is not
    downloaded for nothing: its connection is closed."""
    ports: list[int] = []

    def answer(size: int) -> Callable[[BaseHTTPRequestHandler], None]:
        def handle(h: BaseHTTPRequestHandler) -> None:
            ports.append(h.client_address[1])
            send(h, 200, b"x" * size)

        return handle

    server.routes["/small"] = answer(100)
    server.routes["/big"] = answer(4 * 1024 * 1024)
    client = HttpClient({})
    for path in ("/small", "/small", "/big", "/small"):
        with client.open(server.url(path)) as resp:
            assert resp.status == 200  # the body is never read
    assert ports[0] == ports[1] == ports[2]  # reused after a small unread body
    assert ports[3] != ports[2]  # a new connection after the big one was closed
