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
