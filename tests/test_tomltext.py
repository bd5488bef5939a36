"""curate.tomltext.dumps writes the text tomli_w.dumps writes, for any document of a lock's values."""

from __future__ import annotations

import datetime as dt
import decimal
import tomllib
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.pylock import Pylock

from curate.tomltext import dumps, string

HOSTILE = [
    "",
    "plain",
    'quote " and backslash \\ and both \\"',
    "tab\tnewline\ncarriage\rreturn\r\nform\ffeed backspace\b",
    "nul \x00 escape \x1b del \x7f unit \x1f",
    "é ✓ \U0001f600 \u2028 \u0085 \ufeff",
    "''' \"\"\" [[packages]] = { }",
    "x" * 5000,
    "a" * 60 + "\n" + "b" * 60,
    'name = "evil"\n[[packages]]\nname = "more"',
]


def test_strings_are_escaped_as_tomli_w_escapes_them() -> None:
    for text in HOSTILE + [chr(i) for i in range(0x200)]:
        assert string(text) == tomli_w.dumps({"k": text})[4:-1]
        assert tomllib.loads(f"k = {string(text)}")["k"] == text


def _entry(name: str, version: str, text: str, *, wheel: bool, deps: int) -> dict[str, Any]:
    archive: dict[str, Any] = {"name": "pkg-1.0-py3-none-any.whl" if wheel else "pkg-1.0.tar.gz"}
    archive["upload-time"] = dt.datetime(2025, 6, 1, 12, 30, tzinfo=dt.UTC)
    archive["url"] = f"https://files.example/{text}"
    archive["size"] = 123456
    archive["hashes"] = {"sha256": "ab" * 32}
    entry: dict[str, Any] = {"name": name, "version": version, "requires-python": ">=3.9"}
    if deps:
        entry["dependencies"] = [{"name": f"dep-{i}"} for i in range(deps)]
    entry["index"] = f"https://catalog.example/{text}/simple/"
    if wheel:
        entry["wheels"] = [archive]
    else:
        entry["sdist"] = archive
    return entry


def test_pylock_entries_with_hostile_values_are_tomli_ws_text_and_validate() -> None:
    """Every value of a lock entry hostile in turn: the text is tomli_w's, tomllib reads back the entry,
    and packaging.pylock validates the lock it is part of."""
    for text in HOSTILE:
        for wheel in (True, False):
            for deps in (0, 1, 7):
                entry = _entry("pkg", "1.0", text, wheel=wheel, deps=deps)
                doc = {"packages": [entry]}
                made = dumps(doc)
                assert made == tomli_w.dumps(doc)
                assert tomllib.loads(made) == doc
                Pylock.from_dict({"lock-version": "1.0", "created-by": "curate", **tomllib.loads(made)})
        # the strings a lock never validates with (a name, a version) still written as tomli_w writes them
        doc = {"packages": [_entry(text, text, text, wheel=True, deps=2)]}
        assert dumps(doc) == tomli_w.dumps(doc)
        assert tomllib.loads(dumps(doc)) == doc


def test_the_layout_follows_tomli_ws_rules() -> None:
    """Short and long inline tables in arrays, nested tables with and without keys of their own, empty
    ones, quoted keys, arrays of arrays, dates and datetimes."""
    docs: list[dict[str, Any]] = [
        {},
        {"a": {}},
        {"a": {"b": {}}},
        {"a": {"b": {"c": 1}}, "d": 2},
        {"a": {"b": {"c": 1}, "e": True}, "f": False},
        {"t": [{"short": 1}], "u": [{"x": "y" * 200}]},
        {"t": [{"a": 1}, {"b": "c" * 95}]},  # one item too long: the whole array as tables
        {"t": [{"a": [1, 2]}]},  # a newline inside: tables
        {"t": [{}]},
        {"": 1, "key with space": 2, 'q"uote': 3, "é": 4, "ok-key_9": 5},
        {"nested": [[1, [2, []]], [], [{"x": 1}]], "tuple": (1, "2", (3,))},
        {"d": dt.date(2026, 11, 30), "n": dt.datetime(2026, 1, 2, 3, 4, 5), "z": -0},
        {"x": {"y": [{"z": {"w": 1}}]}},
    ]
    for doc in docs:
        assert dumps(doc) == tomli_w.dumps(doc)


def test_other_values_are_written_by_tomli_w() -> None:
    for doc in (
        {"f": 1.5},
        {"t": dt.time(1, 2)},
        {"d": decimal.Decimal("1.10")},
        {"a": [{"f": float("nan")}]},
    ):
        assert dumps(doc) == tomli_w.dumps(doc)
    with pytest.raises(TypeError):
        dumps({1: "x"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        dumps({"a": {"b": object()}})


_scalars = (
    st.text()
    | st.integers()
    | st.booleans()
    | st.dates()
    | st.datetimes(timezones=st.just(dt.UTC) | st.none())
)
_keys = st.text(max_size=12) | st.sampled_from(["name", "version", "a-b_c", "é"])
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_keys, inner, max_size=4)
        | st.lists(st.dictionaries(_keys, inner, max_size=3), min_size=1, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=6))
def test_any_document_is_tomli_ws_text(doc: dict[str, Any]) -> None:
    assert dumps(doc) == tomli_w.dumps(doc)


def test_a_pylock_package_is_written_as_tomli_w_writes_it() -> None:
    """pylock_package writes curate's entries without walking them: the text is tomli_w's for hostile
    values and every variant of the shape (wheel or sdist, with or without requires-python, upload
    time, dependencies short and too long to stay inline); any other entry goes through dumps."""
    from curate.tomltext import _package, pylock_package

    for text in HOSTILE:
        for wheel in (True, False):
            for deps in (0, 1, 7):
                entry = _entry(text, text, text, wheel=wheel, deps=deps)
                assert _package(entry) is not None
                assert pylock_package(entry) == tomli_w.dumps({"packages": [entry]})
                if deps:
                    entry["dependencies"] = [{"name": text}, {"name": "x" * 87}, {"name": "y" * 88}]
                    assert pylock_package(entry) == tomli_w.dumps({"packages": [entry]})
                archive = entry["wheels"][0] if wheel else entry["sdist"]
                del archive["upload-time"]
                del entry["requires-python"]
                assert _package(entry) is not None
                assert pylock_package(entry) == tomli_w.dumps({"packages": [entry]})
    odd: list[dict[str, Any]] = []
    for change in range(8):
        entry = _entry("pkg", "1.0", "t", wheel=True, deps=1)
        archive = entry["wheels"][0]
        if change == 0:
            archive["hashes"]["sha256"] = "ab"  # short: the archive may fit inline
        elif change == 1:
            del archive["name"]
        elif change == 2:
            entry["extra"] = "x"
        elif change == 3:
            entry["dependencies"] = []
        elif change == 4:
            archive["size"] = 1.5
        elif change == 5:
            entry["wheels"].append(dict(archive))
        elif change == 6:
            entry = {"version": "1", **{k: v for k, v in entry.items() if k != "version"}}
        else:
            archive["hashes"]["md5"] = "x"
        odd.append(entry)
    for entry in odd:
        assert _package(entry) is None
        assert pylock_package(entry) == tomli_w.dumps({"packages": [entry]})


_entries = st.fixed_dictionaries(
    {"name": st.text(), "version": st.text()},
    optional={
        "requires-python": st.text(),
        "dependencies": st.lists(st.fixed_dictionaries({"name": st.text(max_size=120)}), max_size=4),
    },
)


@settings(max_examples=200, deadline=None)
@given(
    _entries,
    st.text(),
    st.booleans(),
    st.fixed_dictionaries(
        {"name": st.text()},
        optional={
            "upload-time": st.datetimes(timezones=st.just(dt.UTC)),
            "url": st.text(),
            "size": st.integers(min_value=0),
        },
    ),
    st.text(min_size=60, max_size=70),
)
def test_any_pylock_package_is_tomli_ws_text(
    entry: dict[str, Any], index: str, wheel: bool, archive: dict[str, Any], sha: str
) -> None:
    from curate.tomltext import pylock_package

    entry["index"] = index
    archive = {k: archive[k] for k in ("name", "upload-time", "url", "size") if k in archive}
    archive["hashes"] = {"sha256": sha}
    entry["wheels" if wheel else "sdist"] = [archive] if wheel else archive
    assert pylock_package(entry) == tomli_w.dumps({"packages": [entry]})
