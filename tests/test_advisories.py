"""The OSV service client: pages of results, the run's proxy, and errors that say which service failed."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from curate.advisories import AdvisoryError, OsvApi
from curate.httpclient import HttpClient
from curate.names import normalize
from tests.httpfixture import Server, send


def _record(vid: str) -> dict[str, object]:
    return {
        "id": vid,
        "summary": f"{vid} summary",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "vulnpkg"}, "versions": ["1.0"]}],
    }


@pytest.fixture
def osv() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def test_pages_are_followed_and_answers_cached(osv: Server) -> None:
    answers = iter(
        [
            {"vulns": [_record("PYSEC-1")], "next_page_token": "t1"},
            {"vulns": [_record("PYSEC-2")]},
        ]
    )
    osv.routes["/v1/query"] = lambda h: send(
        h, 200, json.dumps(next(answers)).encode(), Content_Type="application/json"
    )
    api = OsvApi(osv.url("/v1"), client=HttpClient({}))
    found = api.for_version(normalize("vulnpkg"), "1.0")
    assert [a.id for a in found] == ["PYSEC-1", "PYSEC-2"]
    assert api.for_version(normalize("vulnpkg"), "1.0") == found  # no third request
    assert len(osv.seen) == 2


def test_the_service_is_asked_through_the_runs_proxy(osv: Server) -> None:
    proxy = Server()
    proxy.default = lambda h: send(h, 200, json.dumps({"vulns": [_record("GHSA-x")]}).encode())
    try:
        api = OsvApi(osv.url("/v1"), client=HttpClient({"HTTP_PROXY": proxy.url("")}))
        assert [a.id for a in api.for_version(normalize("vulnpkg"), "1.0")] == ["GHSA-x"]
    finally:
        proxy.close()
    assert [(m, p) for m, p, _ in proxy.seen] == [("POST", osv.url("/v1/query"))]
    assert osv.seen == []


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, b"<html>maintenance</html>", "/v1/query: not JSON: Expecting value at line 1 column 1"),
        (200, b"[1, 2]", ": the answer is not a JSON object"),
        (200, b'{"vulns": [{"no": "id"}]}', ": not an OSV advisory: not an OSV record (no 'id')"),
        (503, b"busy", "/v1/query: HTTP 503 Service Unavailable"),
    ],
)
def test_a_bad_answer_is_an_advisory_error_on_one_line(
    osv: Server, status: int, body: bytes, message: str
) -> None:
    osv.routes["/v1/query"] = lambda h: send(h, status, body)
    with pytest.raises(AdvisoryError) as err:
        OsvApi(osv.url("/v1"), client=HttpClient({})).for_version(normalize("vulnpkg"), "1.0")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_an_unreachable_service_is_tried_again_then_named() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        AdvisoryError, match=rf"^advisory service unreachable: http://127.0.0.1:{port}/v1/query: "
    ):
        OsvApi(f"http://127.0.0.1:{port}/v1", client=HttpClient({})).for_version(normalize("vulnpkg"), "1.0")
