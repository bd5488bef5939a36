"""One table of requests and answers for the two servers of a built tree: ``curate serve``
(tests/test_serve.py) and nginx running the block ``curate nginx-config`` writes (tests/test_nginx.py).
Both must give every answer here; :func:`check_table` asserts it through a ``get`` function."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

from curate.accept import HTML_TYPE, HTML_UTF8, JSON_TYPE, negotiate
from tests.test_index_helpers import PICKS as BASE_PICKS
from tests.wheels import Dist

Get = Callable[
    [str, dict[str, str]], tuple[int, dict[str, str], bytes]
]  # path, headers -> status, headers, body

# projects whose display names are not normalized
NAMED_DISTS = [
    Dist(name="Pillow", version="11.0", summary="Imaging"),
    Dist(name="zope.interface", version="7.0", summary="Interfaces"),
    Dist(name="ruamel.yaml", version="0.18", summary="YAML"),
]
PICKS: dict[str, list[str]] = {
    **BASE_PICKS,
    "Pillow": ["11.0"],
    "zope.interface": ["7.0"],
    "ruamel.yaml": ["0.18"],
}

PIP = f"{JSON_TYPE}, {HTML_TYPE}; q=0.1, text/html; q=0.01"
UV = f"{JSON_TYPE}, {HTML_TYPE};q=0.2, text/html;q=0.01"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
NOT_ACCEPTABLE = 406

# Accept -> the Content-Type served (index.json for the JSON, index.html for the others), or 406
ACCEPT: list[tuple[str | None, str | int]] = [
    (None, HTML_UTF8),  # no header
    ("", HTML_UTF8),
    ("*/*", HTML_UTF8),  # curl: the HTML
    ("text/html", HTML_UTF8),
    ("text/*", HTML_UTF8),
    (BROWSER, HTML_UTF8),
    (JSON_TYPE, JSON_TYPE),
    ("application/vnd.pypi.simple.latest+json", JSON_TYPE),
    (HTML_TYPE, HTML_TYPE),
    ("application/vnd.pypi.simple.latest+html", HTML_TYPE),
    (PIP, JSON_TYPE),
    (UV, JSON_TYPE),
    # q-values count
    (f"{JSON_TYPE};q=0.5, text/html", HTML_UTF8),
    (f"{JSON_TYPE}; q=0.1, {HTML_TYPE}", HTML_TYPE),
    (f"{JSON_TYPE};q=0.500, {HTML_TYPE};q=0.5", JSON_TYPE),  # a tie: the JSON
    (f"text/html, {JSON_TYPE}", JSON_TYPE),
    (f"{JSON_TYPE};q=abc, text/html;q=0.1", HTML_UTF8),  # not a quality value: 0
    (f"{JSON_TYPE};q=0.2;q=0.9, {HTML_TYPE};q=0.5", HTML_TYPE),  # the first q counts
    ("text/html;q=0.5, */*;q=0.8", JSON_TYPE),  # */* names every form; the JSON first among them
    # a version of the API this index does not serve
    ("application/vnd.pypi.simple.v2+json", NOT_ACCEPTABLE),
    ("application/vnd.pypi.simple.v2+json, */*;q=0.1", HTML_UTF8),
    # type wildcards
    ("application/*", JSON_TYPE),
    ("application/*;q=0.5, text/html", HTML_UTF8),
    (f"application/*, {JSON_TYPE};q=0", HTML_TYPE),
    # an explicit q=0 overrides */*
    (f"{JSON_TYPE};q=0, */*", HTML_UTF8),
    ("text/html;q=0, */*", JSON_TYPE),
    (f"text/html;q=0, {JSON_TYPE};q=0.0, */*", HTML_TYPE),
    (f"{JSON_TYPE};q=0, {HTML_TYPE};q=0, text/html;q=0, */*", NOT_ACCEPTABLE),
    ("*/*;q=0", NOT_ACCEPTABLE),
    (f"{JSON_TYPE}, */*;q=0", JSON_TYPE),
    # case does not matter; nothing else is served
    ("TEXT/HTML", HTML_UTF8),
    ("Application/Vnd.PyPI.Simple.V1+JSON", JSON_TYPE),
    ("application/json", NOT_ACCEPTABLE),
    ("image/png", NOT_ACCEPTABLE),
]

# a project's URL spelt otherwise -> where it redirects
REDIRECTS: list[tuple[str, str]] = [
    ("/simple/Pillow/", "/simple/pillow/"),
    ("/simple/Pillow", "/simple/pillow/"),
    ("/simple/PILLOW/", "/simple/pillow/"),
    ("/simple/zope.interface/", "/simple/zope-interface/"),
    ("/simple/Zope_Interface", "/simple/zope-interface/"),
    ("/simple/ruamel_yaml/", "/simple/ruamel-yaml/"),
    ("/simple/ruamel.yaml/", "/simple/ruamel-yaml/"),
    ("/simple/Ruamel__-YAML/", "/simple/ruamel-yaml/"),
    ("/simple/Plus.Ver/", "/simple/plus-ver/"),
    ("/simple/Pillow/?format=json", "/simple/pillow/?format=json"),
    ("/simple/httpish", "/simple/httpish/"),
]
NOT_FOUND = ["/simple/nope/", "/simple/Nope/", "/simple/pillow-x/", "/simple/pil_low/", "/simple/zope/"]


def check_table(get: Get, public: Path) -> None:
    """Every row of :data:`ACCEPT` on the root page and a project page, then :data:`REDIRECTS` and
    :data:`NOT_FOUND`."""
    for path in ("/simple/", "/simple/httpish/", "/simple/pillow/"):
        folder = public / path.strip("/")
        for accept, expected in ACCEPT:
            status, headers, body = get(path, {} if accept is None else {"Accept": accept})
            where = f"{path} Accept: {accept!r}"
            assert headers.get("vary") == "Accept", where
            assert headers.get("x-content-type-options") == "nosniff", where  # (406 too)
            if expected == NOT_ACCEPTABLE:
                assert (status, headers["content-type"]) == (406, "text/plain; charset=utf-8"), where
                assert body == b"406 Not Acceptable\n", where
                continue
            assert (status, headers["content-type"]) == (200, expected), where
            name = "index.json" if expected == JSON_TYPE else "index.html"
            assert body == (folder / name).read_bytes(), where
    for path, location in REDIRECTS:
        status, headers, _ = get(path, {})
        assert (status, headers.get("location")) == (301, location), path
        assert headers.get("x-content-type-options") == "nosniff", path
        assert get(location, {})[0] == 200, location
    for path in NOT_FOUND:
        assert get(path, {})[0] == 404, path
        status, headers, _ = get(path, {"Accept": JSON_TYPE})
        assert (status, headers.get("x-content-type-options")) == (404, "nosniff"), path
    for path in ("/files/", "/index.html", "/.curate-index.json", "/simple/httpish/index.json"):
        assert get(path, {})[1].get("x-content-type-options") == "nosniff", path


MEDIA = [
    JSON_TYPE,
    "application/vnd.pypi.simple.latest+json",
    HTML_TYPE,
    "application/vnd.pypi.simple.latest+html",
    "text/html",
    "Text/HTML",
    "application/*",
    "text/*",
    "*/*",
    "application/json",
    "application/vnd.pypi.simple.v2+json",
]
PARAMS = [
    "",
    ";q=0",
    ";q=1",
    ";q=0.5",
    " ; q = 0.25 ",
    ";q=0.001",
    ";q=1.000",
    ";Q=0.7",
    ";q=abc",
    ";q=2",
    ";q",
]
PARAMS += [";level=1", ";level=1;q=0.3", ";q=0.3;q=0.9", ";q=0.", ";q=0.5555"]


def random_headers(count: int, seed: int = 691) -> Iterator[tuple[str, str]]:
    """``count`` random Accept headers of up to four media ranges, with the form each must get
    (``json``, ``v1html``, ``html``, or ``none`` for 406) as :func:`curate.accept.negotiate` decides."""
    rng = random.Random(seed)
    forms = {JSON_TYPE: "json", HTML_TYPE: "v1html", HTML_UTF8: "html"}
    for _ in range(count):
        accept = ", ".join(rng.choice(MEDIA) + rng.choice(PARAMS) for _ in range(rng.randint(1, 4)))
        chosen = negotiate(accept)
        yield accept, forms[chosen[1]] if chosen is not None else "none"
