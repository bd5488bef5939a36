"""The history's fast readers read what the full parsers read: curate.catalog._read_layout (a catalog
version's keys in the layout `curate lock` writes, line by line) against libyaml (curate.catalog._read_fast),
on every version of the example catalog, on crafted texts meant to fool a line reader, and on thousands
of random mutations of real texts: whenever the fast reader reads a text, the full parser reads it too
and gives the same values; anything else is left to the full parser."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from curate.catalog import VERSION_KEYS, _cut_keys, _cut_versions, _read_fast, _read_layout
from curate.history import READ_KEYS
from tests.conftest import REPO


def _key_texts(keys: tuple[str, ...]) -> list[bytes]:
    """Each version key's text among ``keys`` (as VersionMemo parses it) and each version's such keys
    joined, for every file of the example catalog."""
    out: list[bytes] = []
    for path in sorted((REPO / "catalog" / "packages").glob("*.yaml")):
        cut = _cut_versions(path.read_bytes())
        assert cut is not None, path.name
        for item in cut[1]:
            texts = _cut_keys(item)
            assert texts is not None, path.name
            out += [text for key, text in texts if key in keys]
            out.append(b"".join(text for key, text in texts if key in keys))
    return out


READ = _key_texts(READ_KEYS)  # what the history reads
TEXTS = _key_texts(VERSION_KEYS)  # and the rest (free text in the vetting records: left to libyaml)


def _full(text: bytes) -> Any:
    try:
        return _read_fast(text)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        return f"error: {exc}"


def test_curate_s_own_layout_is_read_line_by_line_as_libyaml_reads_it() -> None:
    """Every key the history reads of every version `curate lock` wrote is read by the line reader (none
    left to libyaml), to the values libyaml gives."""
    assert len(READ) > 100
    for text in READ:
        fast = _read_layout(text)
        assert fast is not None, text[:200]
        assert fast == _read_fast(text), text[:200]


VERSION = b"""\
    version: '1.0'
    needed_by:
      - request: 2026-01-01-web
        targets:
          - linux-x86_64-py3.12
        direct: true
        via: []
    files:
      - filename: x-1.0-py3-none-any.whl
        sha256: 0000000000000000000000000000000000000000000000000000000000000000
        size: 10
        upload_time: ''
        requires_python: '>=3.9'
        yanked:
        targets:
          - linux-x86_64-py3.12
"""


@pytest.mark.parametrize(
    "text",
    [
        # lines that belong to a quoted scalar or a flow collection opened above, at a key's indentation
        VERSION.replace(b"version: '1.0'", b"version: '1.0\n    needed_by: []\n    x: '"),
        VERSION.replace(b"version: '1.0'", b'version: "1.0\n    needed_by: []\n    x: "'),
        VERSION.replace(b"via: []", b"via: [a,\n    needed_by: [],\n    b]"),
        VERSION.replace(b"via: []", b"via: {a: b,\n    needed_by: []}"),
        # a block scalar holding key-like lines; a plain scalar going on over lines
        VERSION.replace(b"via: []", b"via: |\n          needed_by: []\n          x"),
        VERSION.replace(b"via: []", b"via: >-\n        x\n"),
        VERSION.replace(b"request: 2026-01-01-web", b"request: 2026-01-01-web\n          more words"),
        VERSION.replace(b"request: 2026-01-01-web", b"request:\n          2026-01-01-web"),
        # anchors, aliases, tags, merge keys
        VERSION.replace(b"via: []", b"via: &a []"),
        VERSION.replace(b"via: []", b"via: *a"),
        VERSION.replace(b"via: []", b"via: !!str x"),
        VERSION.replace(b"        via: []", b"        <<: {via: [x]}"),
        # tabs, other line breaks, comments, blank lines, trailing spaces, a BOM
        VERSION.replace(b"direct: true", b"direct:\ttrue"),
        VERSION.replace(b"direct: true", b"direct: true\r        via: [x]"),
        VERSION.replace(b"direct: true", b"direct: true\xc2\x85        via: [x]"),
        VERSION.replace(b"direct: true", b"direct: true\xe2\x80\xa8        via: [x]"),
        VERSION.replace(b"direct: true", b"direct: true\xe2\x80\xa9        via: [x]"),
        VERSION.replace(b"direct: true", b"direct: true # false"),
        VERSION.replace(b"direct: true", b"direct: true\n        # via: [x]"),
        VERSION.replace(b"direct: true", b"direct: true\n\n"),
        VERSION.replace(b"direct: true", b"direct: true "),
        b"\xef\xbb\xbf" + VERSION,
        # duplicate keys (libyaml keeps the last), a key nested deeper or shallower than its mapping
        VERSION.replace(b"direct: true", b"direct: true\n        direct: false"),
        VERSION.replace(b"    files:", b"    needed_by: []\n    files:"),
        VERSION.replace(b"        via: []", b"          via: [x]"),
        VERSION.replace(b"        via: []", b"       via: [x]"),
        VERSION.replace(b"        via: []", b"      via: [x]"),
        # a list at its key's indentation (compact), a list in a list, an item on its own line
        VERSION.replace(
            b"          - linux-x86_64-py3.12\n        direct", b"        - linux\n        direct"
        ),
        VERSION.replace(
            b"          - linux-x86_64-py3.12\n        direct", b"          - - linux\n        direct"
        ),
        VERSION.replace(b"      - request: 2026-01-01-web", b"      -\n        request: 2026-01-01-web"),
        # scalars that are not strings, quoting, escapes, odd keys
        VERSION.replace(b"size: 10", b"size: 0x10"),
        VERSION.replace(b"size: 10", b"size: 1e3"),
        VERSION.replace(b"size: 10", b"size: .inf"),
        VERSION.replace(b"size: 10", b"size: '10'"),
        VERSION.replace(b"size: 10", b"size: 1_0"),
        VERSION.replace(b"direct: true", b"direct: yes"),
        VERSION.replace(b"direct: true", b"direct: True"),
        VERSION.replace(b"direct: true", b"direct: ~"),
        VERSION.replace(b"direct: true", b"direct: null"),
        VERSION.replace(b"direct: true", b"null: true"),
        VERSION.replace(b"direct: true", b"true: direct"),
        VERSION.replace(b"direct: true", b'direct: "a\\x41\\u00e9"'),
        VERSION.replace(b"upload_time: ''", b"upload_time: 'it''s'"),
        VERSION.replace(b"upload_time: ''", b"upload_time: 'a # b: c - d'"),
        VERSION.replace(b"upload_time: ''", b"upload_time: ''''"),
        VERSION.replace(b"upload_time: ''", b"upload_time: 'caf\xc3\xa9'"),
        VERSION.replace(b"upload_time: ''", b"upload_time: 2020-01-01"),
        VERSION.replace(b"upload_time: ''", b"upload_time: 12:30:00"),
        VERSION.replace(b"upload_time: ''", b"upload_time: a:b"),
        VERSION.replace(b"upload_time: ''", b"upload_time: a: b"),
        VERSION.replace(b"upload_time: ''", b"upload_time: -x"),
        VERSION.replace(b"upload_time: ''", b"upload_time: - x"),
        VERSION.replace(b"upload_time: ''", b"upload_time: ? x"),
        VERSION.replace(b"upload_time: ''", b"upload_time: %x"),
        VERSION.replace(b"upload_time: ''", b"upload_time: @x"),
        VERSION.replace(b"upload_time: ''", b"upload_time: `x"),
        VERSION.replace(b"upload_time: ''", b"upload_time: ."),
        VERSION.replace(b"upload_time: ''", b"upload_time: a()<>=~/+.-_"),
        VERSION.replace(b"    version: '1.0'", b"    'version': '1.0'"),
        VERSION.replace(b"    version: '1.0'", b"    Version: '1.0'"),
        VERSION.replace(b"    version: '1.0'", b"    version : '1.0'"),
        VERSION.replace(b"    version: '1.0'", b"    version:  '1.0'"),
        VERSION.replace(b"    version: '1.0'", b"    version: '1.0'x"),
        # documents: markers, directives, several of them, nothing
        b"---\n" + VERSION,
        b"%YAML 1.2\n---\n" + VERSION,
        VERSION + b"...\n",
        VERSION + b"---\n" + VERSION,
        b"",
        b"\n",
        VERSION.rstrip(b"\n"),
        # a version's mapping at another indentation than the versions' (what the cut takes as keys)
        VERSION.replace(b"\n    ", b"\n  "),
        b"  " + VERSION,
        b"- " + VERSION[2:],
    ],
)
def test_texts_crafted_to_fool_a_line_reader_are_read_as_libyaml_reads_them_or_left_to_it(
    text: bytes,
) -> None:
    """Each crafted text is either read to what libyaml reads (which then reads it without error), or
    left to libyaml (None)."""
    fast = _read_layout(text)
    if fast is not None:
        assert fast == _full(text)


def test_the_plain_example_is_read_line_by_line() -> None:
    assert _read_layout(VERSION) == _read_fast(VERSION)
    assert _read_layout(VERSION.replace(b"direct: true", b"direct: true\r")) is None
    assert _read_layout(VERSION.replace(b"direct: true", b"direct: true\n        direct: false")) is None


_MUTANTS = (
    " ",
    " ",
    "  ",
    "\n",
    "\n    ",
    "\n      - ",
    "\t",
    "\r",
    "#",
    " #",
    "'",
    "''",
    '"',
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&",
    "*",
    "!",
    "|",
    ">",
    "?",
    "%",
    "@",
    "`",
    "\\",
    "\x85",
    "\u2028",
    "\ufeff",
    "\x00",
    "a",
    "0",
    ".",
    "~",
    "null",
    "true",
    "1e3",
    "0x1",
    "key: ",
    "needed_by:",
    "---",
)


def _mutate(rng: random.Random, text: bytes) -> bytes:
    lines = text.split(b"\n")
    kind = rng.randrange(6)
    if kind == 0:  # insert something somewhere
        at = rng.randrange(len(text) + 1)
        return text[:at] + rng.choice(_MUTANTS).encode() + text[at:]
    if kind == 1:  # delete a few bytes
        at = rng.randrange(len(text) + 1)
        return text[:at] + text[at + rng.randint(1, 3) :]
    i = rng.randrange(len(lines))
    if kind == 2:  # a line again
        lines.insert(rng.randrange(len(lines) + 1), lines[i])
    elif kind == 3:  # a line indented differently
        shift = rng.choice((-4, -2, -1, 1, 2, 4))
        lines[i] = b" " * shift + lines[i] if shift > 0 else lines[i][-shift:]
    elif kind == 4:  # two lines swapped
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    else:  # a line dropped
        del lines[i]
    return b"\n".join(lines)


def test_mutated_texts_are_read_as_libyaml_reads_them_or_left_to_it() -> None:
    """Thousands of random mutations (a character inserted or deleted, a line repeated, moved, dropped
    or indented differently, once to three times) of real versions' texts: whenever the line reader
    reads one, libyaml reads it too, to the same values. Many mutants stay in the layout (a changed
    value, an item more or less), so both branches are taken."""
    rng = random.Random(16)
    read = left = 0
    for _ in range(6000):
        text = rng.choice(TEXTS)
        for _ in range(rng.randint(1, 3)):
            text = _mutate(rng, text)
        fast = _read_layout(text)
        if fast is None:
            left += 1
            continue
        read += 1
        assert fast == _full(text), text
    assert read > 500, (read, left)
    assert left > 500, (read, left)


def test_every_key_curate_writes_is_in_the_order_the_cut_knows() -> None:
    from curate.catalog import VersionEntry

    written = list(VersionEntry(version="1", superseded_since="2026-01-01").to_dict())
    assert [k for k in VERSION_KEYS if k in written] == written


# -- request files: their title and requester ---------------------------------------------------------


def _said_fully(raw: bytes) -> tuple[str, str]:
    from curate.history import _mapping, _text

    data = _mapping(raw, "requests/x.yaml")
    return _text(data.get("title")), _text(data.get("requested_by"))


def _said_fast(raw: bytes) -> tuple[str, str] | None:
    from curate.history import _request_layout, _text

    data = _request_layout(raw)
    return None if data is None else (_text(data.get("title")), _text(data.get("requested_by")))


REQUEST = b"""\
# yaml-language-server: $schema=../scripts/curate/data/request.schema.json
title: Data-science stack for the forecasting team
requested_by: maria.lopez@example.com
justification: >-
  The forecasting team moves its notebooks: from ad-hoc virtualenvs to the catalog. # not a comment
  These are the libraries [the models] use {today}, on 'laptops' and "the cluster".

platforms: [linux, windows]
python: ["3.11", "3.12"]
compliance: []
packages:
  - name: numpy
    version: ">=1.26,<3"
  # a comment between items
  - name: scikit-learn
    version: '~=1.5'
    note: |
      model training
        and cross-validation
remove:
  - name: pandas
    version: "==1.0"
    reason: end of life
"""


def _request_texts() -> list[bytes]:
    texts = [p.read_bytes() for p in sorted((REPO / "requests").glob("*.yaml"))]
    texts.append(REQUEST)
    return texts


def test_requests_as_people_and_curate_write_them_are_read_line_by_line(tmp_path: Any) -> None:
    """The example catalog's requests, the tests' and the benchmark's: their title and requester are read
    line by line (none left to the full parser), to what the full parse gives."""
    from tests.lockutil import write_request

    (tmp_path / "requests").mkdir()
    written = write_request(
        tmp_path, "web", [("httpish", "==1.0", ["linux"])], remove=[("old", "<1", "gone")]
    )
    texts = [*_request_texts(), written.read_bytes()]
    texts.append(
        b"title: New project project-1\nrequested_by: bench@example.com\njustification: A synthetic request.\n"
        b'platforms: [linux, windows]\npython: ["3.11", "3.12"]\npackages:\n  - name: project-1\n'
        b'    version: "==17.0"\n'
    )
    for raw in texts:
        fast = _said_fast(raw)
        assert fast is not None, raw[:300]
        assert fast == _said_fully(raw)
        assert fast[0]


@pytest.mark.parametrize(
    "text",
    [
        # the title within a quoted scalar, a flow collection or a block scalar opened above
        REQUEST.replace(b"requested_by: maria", b"requested_by: 'maria\ntitle: forged\n  x'"),
        REQUEST.replace(b"requested_by: maria", b'requested_by: "maria\ntitle: forged\n  x"'),
        REQUEST.replace(b"compliance: []", b"compliance: [a,\ntitle: forged]"),
        REQUEST.replace(b"compliance: []", b"compliance: {a: b,\ntitle: forged}"),
        REQUEST.replace(b"compliance: []", b"compliance: |\ntitle: forged"),
        REQUEST.replace(b"compliance: []", b"compliance: |0\ntitle: forged"),
        REQUEST.replace(b"compliance: []", b"compliance: |2-\n  title: forged"),
        REQUEST.replace(b"compliance: []", b"compliance: >+\n\n   x\n  title: forged"),
        REQUEST.replace(b"compliance: []", b"compliance: >\n    x\n  title: forged"),
        REQUEST.replace(b"compliance: []", b"compliance: >\n   \n  x\ntitle: forged"),
        REQUEST.replace(b"compliance: []", b"compliance: >\n  x\n\ttitle: forged"),
        REQUEST.replace(b"compliance: []", b"compliance: >\n  x\n# c\n  title: forged"),
        # the title deeper, in a plain scalar going on over lines, in a second document
        REQUEST.replace(b"compliance: []", b"compliance:\n  title: forged"),
        REQUEST.replace(b"compliance: []", b"compliance: a\n  title: forged"),
        REQUEST.replace(b"compliance: []", b"compliance: a\ntitle: forged\n  more"),
        REQUEST.replace(b"compliance: []", b"compliance:\n- a\ntitle: forged"),
        REQUEST + b"---\ntitle: forged\n",
        REQUEST + b"...\ntitle: forged\n",
        b"---\n" + REQUEST,
        b"%YAML 1.1\n---\n" + REQUEST,
        # duplicate titles (the full parser keeps the first), a title written twice in other forms
        REQUEST + b"title: forged\n",
        b"title: first\n" + REQUEST,
        REQUEST.replace(b"title: Data", b"'title': forged\ntitle: Data"),
        REQUEST.replace(b"title: Data", b'"title": forged\ntitle: Data'),
        REQUEST.replace(b"title: Data", b"? title\n: forged\ntitle: Data"),
        # tabs, other line breaks, NUL, a BOM, non-ASCII, trailing spaces and comments
        REQUEST.replace(b"title: Data", b"title:\tData"),
        REQUEST.replace(b"title: Data", b"title: x\rtitle: Data"),
        REQUEST.replace(b"title: Data", b"title: x\xc2\x85title: Data"),
        REQUEST.replace(b"title: Data", b"title: x\xe2\x80\xa8title: Data"),
        REQUEST.replace(b"title: Data", b"title: x\xe2\x80\xa9title: Data"),
        REQUEST.replace(b"title: Data", b"title: \x00Data"),
        b"\xef\xbb\xbf" + REQUEST,
        REQUEST.replace(b"title: Data", b"title: Caf\xc3\xa9 Data"),
        REQUEST.replace(b"title: Data", b"title: Caf\xe9 Data"),
        REQUEST.replace(b"team\nrequested_by", b"team  \nrequested_by"),
        REQUEST.replace(b"team\nrequested_by", b"team # a comment\nrequested_by"),
        REQUEST.replace(b"team\nrequested_by", b"team #a comment\nrequested_by"),
        REQUEST.replace(b"team\nrequested_by", b"team#not a comment\nrequested_by"),
        # scalars that are not strings, escapes, anchors, tags, aliases, keys that resolve oddly
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: 2026-11-02"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: 12"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: true"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: yes"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: null"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title:"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: ="),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: 1_000"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: .inf"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: [a, b]"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: {}"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: ''"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: 'it''s'"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b'title: "a\\tb\\x41"'),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b'title: "<b>&amp;</b>"'),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: &a x"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: *a"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: !!int 3"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: !x y"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: a: b"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: a:b"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: - a"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title:  two spaces"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: a  b"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: @x"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: `x"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: %x"),
        REQUEST.replace(b"title: Data-science stack for the forecasting team", b"title: x <a@b> (c) ~d"),
        REQUEST.replace(b"title: Data", b"null: x\ntitle: Data"),
        REQUEST.replace(b"title: Data", b"true: x\nTrue: y\ntitle: Data"),
        # nesting past what the full parser follows; the whole file indented
        REQUEST.replace(
            b"compliance: []",
            b"compliance:" + b"".join(b"\n" + b" " * (2 * i + 2) + b"a:" for i in range(70)) + b" x",
        ),
        b"".join(b"  " + line + b"\n" for line in REQUEST.splitlines()),
        REQUEST.rstrip(b"\n"),
        b"",
        b"- title: x\n",
        b"title: x\n" * 2,
    ],
)
def test_request_files_crafted_to_fool_a_line_reader_are_read_as_the_full_parser_reads_them(
    text: bytes,
) -> None:
    """Each crafted request file is either read line by line to the title and requester the full parse
    gives, or left to the full parser (None); never a title the full parser does not see."""
    fast = _said_fast(text)
    if fast is not None:
        assert fast == _said_fully(text)


def test_mutated_request_files_are_read_as_the_full_parser_reads_them_or_left_to_it() -> None:
    """Random mutations of request files: whenever the line reader reads one, its title and requester
    are what the full parse gives."""
    rng = random.Random(1016)
    texts = _request_texts()
    read = left = 0
    for _ in range(4000):
        text = rng.choice(texts)
        for _ in range(rng.randint(1, 3)):
            text = _mutate(rng, text)
        if b"title" not in text:
            continue
        fast = _said_fast(text)
        if fast is None:
            left += 1
            continue
        read += 1
        assert fast == _said_fully(text), text
    assert read > 300, (read, left)
    assert left > 300, (read, left)


@pytest.mark.parametrize(
    "head",
    [
        b"# Generated by `curate lock` and `curate vet`; do not edit by hand.\nname: Requests\nversions:\n",
        b"name: zope.interface\nversions:\n",
        b"# one\n# two\nname: '123'\nversions:\n",
        b"# one\nname: 123\nversions:\n",
        b"# one\rname: forged\nname: x\nversions:\n",
        b"# one\xc2\x85name: forged\nname: x\nversions:\n",
        b"# caf\xc3\xa9\nname: x\nversions:\n",
        b"#\tx\nname: x\nversions:\n",
        b" # indented\nname: x\nversions:\n",
        b"name: x # a comment\nversions:\n",
        b"name: x\nname: y\nversions:\n",
        b"---\nname: x\nversions:\n",
        b"name: &a x\nversions:\n",
    ],
)
def test_a_catalog_file_s_head_is_read_as_libyaml_reads_it(head: bytes) -> None:
    """curate.catalog._read_head (the comments a file starts with skipped, the rest read line by line)
    gives what libyaml gives, or libyaml's error."""
    from curate.catalog import _read_head

    try:
        expected = _read_fast(head)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            _read_head(head)
        return
    assert _read_head(head) == expected
