"""``tomli_w.dumps``'s text, made faster: the environments' ``pylock.toml`` entries (thousands per build).

tomli_w escapes a string one character at a time in Python, which was most of the cost of writing a
build's pylock entries. :func:`dumps` follows tomli_w's own layout rules step by step (which tables
become ``[name]`` or ``[[name]]`` headers and which stay inline, the 100-character limit on an inline
table, arrays one item per line with a 4-space indent) and escapes a string with one regular
expression: the same characters, the same escapes (``\\b \\n \\f \\r \\" \\\\``, else ``\\uXXXX``).
It takes the values a lock is made of (``str``, ``int``, ``bool``, ``datetime``/``date``, lists and
tuples, mappings); for anything else (a float, a ``time``, a ``Decimal``, a key that is not a string)
it hands the whole document to tomli_w. ``tests/test_tomltext.py`` checks the text is tomli_w's for
any such document (hostile strings included), and that tomllib reads it back.

Options are tomli_w's defaults (``multiline_strings=False``, ``indent=4``), which curate uses.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

# tomli_w's ILLEGAL_BASIC_STR_CHARS: the quote, the backslash, and the ASCII control characters but tab
_ESCAPED = re.compile('["\\\\\x00-\x08\x0a-\x1f\x7f]')
_COMPACT = {"\b": "\\b", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_BARE_KEY = re.compile("[A-Za-z0-9_-]+")
_MAX_LINE_LENGTH = 100  # tomli_w's, for an inline table in an array of tables
_INDENT = "    "


class _Other(Exception):
    """A value tomli_w writes that this module does not: tomli_w writes the whole document."""


def dumps(obj: Mapping[str, Any]) -> str:
    """``tomli_w.dumps(obj)``, the same text."""
    try:
        return "".join(_table(obj, ""))
    except _Other:
        import tomli_w

        return tomli_w.dumps(obj)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _COMPACT.get(char) or "\\u" + hex(ord(char))[2:].rjust(4, "0")


def string(text: str) -> str:
    """A TOML basic string, as tomli_w writes it (one line)."""
    if _ESCAPED.search(text) is None:
        return f'"{text}"'
    return '"' + _ESCAPED.sub(_escape, text) + '"'


def _key(part: Any) -> str:
    if type(part) is not str:
        raise _Other
    return part if _BARE_KEY.fullmatch(part) else string(part)


def _is_array_of_tables(value: Any) -> bool:
    return bool(isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value))


def _table(table: Mapping[str, Any], name: str, inside_array: bool = False) -> list[str]:
    out: list[str] = []
    literals: list[tuple[str, Any]] = []
    tables: list[tuple[str, Any, bool]] = []
    for k, v in table.items():
        if isinstance(v, Mapping):
            tables.append((k, v, False))
        elif _is_array_of_tables(v) and not all(_fits_inline(t) for t in v):
            tables.extend((k, t, True) for t in v)
        else:
            literals.append((k, v))
    if inside_array or (name and (literals or not tables)):
        out.append(f"[[{name}]]\n" if inside_array else f"[{name}]\n")
    for k, v in literals:
        out.append(f"{_key(k)} = {_literal(v)}\n")
    for k, v, in_array in tables:
        if out:
            out.append("\n")
        part = _key(k)
        out.extend(_table(v, f"{name}.{part}" if name else part, in_array))
    return out


def _literal(value: Any, nest: int = 0) -> str:
    kind = type(value)
    if kind is str:
        return string(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is dt.datetime or kind is dt.date:
        return str(value)
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        indent = _INDENT * (1 + nest)
        items = ",\n".join(indent + _literal(item, nest + 1) for item in value)
        return f"[\n{items},\n{_INDENT * nest}]"
    if isinstance(value, Mapping):
        return _inline(value)
    raise _Other  # float, time, Decimal, subclasses, ...: tomli_w's own rules


def _inline(table: Mapping[str, Any]) -> str:
    if not table:
        return "{}"
    return "{ " + ", ".join(f"{_key(k)} = {_literal(v)}" for k, v in table.items()) + " }"


def _fits_inline(table: Mapping[str, Any]) -> bool:
    rendered = f"{_INDENT}{_inline(table)},"
    return len(rendered) <= _MAX_LINE_LENGTH and "\n" not in rendered


_ENTRY_KEYS = ("name", "version", "requires-python", "dependencies", "index")
_ARCHIVE_KEYS = ("name", "upload-time", "url", "size")


def pylock_package(entry: Mapping[str, Any]) -> str:
    """``dumps({"packages": [entry]})`` for a lock's package entry as curate makes it (its keys in
    :meth:`curate.environments.EnvRenderer.pylock_entry_dict`'s order: name, version, requires-python,
    dependencies, index, then one wheel or an sdist with its sha256), written in tomli_w's layout
    without walking it; any other entry by :func:`dumps`."""
    text = _package(entry)
    return text if text is not None else dumps({"packages": [entry]})


def _package(entry: Mapping[str, Any]) -> str | None:
    if type(entry) is not dict:
        return None
    keys = list(entry)
    last = keys.pop()
    if last == "wheels":
        wheels = entry["wheels"]
        if type(wheels) is not list or len(wheels) != 1:
            return None
        archive, header = wheels[0], "[[packages.wheels]]\n"
    elif last == "sdist":
        archive, header = entry["sdist"], "[packages.sdist]\n"
    else:
        return None
    if keys != [k for k in _ENTRY_KEYS if k in entry] or "name" not in entry or "version" not in entry:
        return None
    if type(archive) is not dict or list(archive) != [k for k in (*_ARCHIVE_KEYS, "hashes") if k in archive]:
        return None
    if "name" not in archive:  # (with a name, the archive never fits inline, nor lacks its header)
        return None
    hashes = archive.get("hashes")
    if type(hashes) is not dict or list(hashes) != ["sha256"] or type(hashes["sha256"]) is not str:
        return None
    if len(hashes["sha256"]) < 64:  # shorter: the archive might fit inline (tomli_w's choice)
        return None
    out = ["[[packages]]\n"]
    after: list[str] = []  # tables: after the keys, each after an empty line
    for key in keys:
        value = entry[key]
        if key == "dependencies":
            if type(value) is not list or not value:
                return None
            names = []
            for item in value:
                if type(item) is not dict or list(item) != ["name"] or type(item["name"]) is not str:
                    return None
                names.append(string(item["name"]))
            if all(len(f"{_INDENT}{{ name = {n} }},") <= _MAX_LINE_LENGTH for n in names):
                out.append(
                    "dependencies = [\n" + "".join(f"{_INDENT}{{ name = {n} }},\n" for n in names) + "]\n"
                )
            else:
                after.extend(f"\n[[packages.dependencies]]\nname = {n}\n" for n in names)
        elif type(value) is str:
            out.append(f"{key} = {string(value)}\n")
        else:
            return None
    out.extend(after)
    out.append("\n" + header)
    for key in _ARCHIVE_KEYS:
        if key not in archive:
            continue
        value = archive[key]
        kind = type(value)
        if kind is str:
            out.append(f"{key} = {string(value)}\n")
        elif kind is int or kind is dt.datetime:
            out.append(f"{key} = {value}\n")
        else:
            return None
    table = "[packages.wheels.hashes]" if last == "wheels" else "[packages.sdist.hashes]"
    out.append(f"\n{table}\nsha256 = {string(hashes['sha256'])}\n")
    return "".join(out)
