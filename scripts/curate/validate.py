"""Typed getters over a located YAML document that collect problems instead of raising.

Both the catalog config and change requests are read through a :class:`Reader`: every wrong type,
missing field and unknown key becomes a :class:`~curate.errors.Problem` at the right line, and the
reader keeps going so one run reports everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from curate.errors import Problem
from curate.yamlio import Document, KeyPath, format_key

T = TypeVar("T")

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a mapping",
    dt.date: "a date",
    dt.datetime: "a date and time",
}


def type_name(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def did_you_mean(word: str, choices: Collection[str], aliases: Mapping[str, str] | None = None) -> str:
    if aliases and word.lower() in aliases:
        return f"did you mean '{aliases[word.lower()]}'?"
    import difflib  # only when something is misspelt

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


class Reader:
    """Collects problems while pulling typed values out of ``doc``."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def add(self, key: KeyPath, message: str, hint: str = "") -> None:
        self.problems.append(self.doc.problem(key, message, hint))

    def mapping(self, value: Any, key: KeyPath, allowed: Collection[str], what: str) -> dict[str, Any]:
        """Check that ``value`` is a mapping with only ``allowed`` keys; return it (or {})."""
        if not isinstance(value, dict):
            self.add(
                key, f"{what} must be a mapping, not {type_name(value)}", "write it as 'key: value' lines"
            )
            return {}
        for k in value:
            if k not in allowed:
                self.add(
                    (*key, k),
                    f"unknown key '{k}' in {what}",
                    did_you_mean(str(k), allowed) or f"allowed keys: {', '.join(sorted(allowed))}",
                )
        return {str(k): v for k, v in value.items() if k in allowed}

    def require(self, data: Mapping[str, Any], key: KeyPath, name: str, what: str, hint: str = "") -> bool:
        if name not in data or data[name] is None:
            self.add(key, f"missing required field '{name}' in {what}", hint)
            return False
        return True

    def string(self, value: Any, key: KeyPath, *, allow_empty: bool = False) -> str | None:
        if isinstance(value, bool):
            self.add(key, f"expected a string, got {type_name(value)}", f'quote it: "{str(value).lower()}"')
            return None
        if value is None or isinstance(value, (dict, list)):
            self.add(
                key, f"expected a string, got {type_name(value)}", "write one text value (quote it if unsure)"
            )
            return None
        if not isinstance(value, str):
            # YAML turns 3.10 into a float and 2026-01-01 into a date; quote them
            text = self.doc.texts.get(key, str(value))
            self.add(key, f"expected a string, got {type_name(value)} {text}", f'quote it: "{text}"')
            return None
        if not allow_empty and not value.strip():
            self.add(
                key,
                f"'{format_key(key)}' must not be empty" if key else "must not be empty",
                "give it a value",
            )
            return None
        return value

    def string_list(self, value: Any, key: KeyPath, *, single_ok: bool = True) -> list[str] | None:
        """A list of strings; a single string counts as a one-item list when ``single_ok``."""
        if isinstance(value, str) and single_ok:
            return [value]
        if not isinstance(value, list):
            self.add(
                key,
                f"expected a list of strings, got {type_name(value)}",
                "write it as [a, b] or one '- a' per line",
            )
            return None
        out: list[str] = []
        for i, item in enumerate(value):
            s = self.string(item, (*key, i))
            if s is not None:
                out.append(s)
        return out

    def boolean(self, value: Any, key: KeyPath) -> bool | None:
        if not isinstance(value, bool):
            self.add(key, f"expected true or false, got {type_name(value)}")
            return None
        return value

    def integer(self, value: Any, key: KeyPath, *, minimum: int | None = None) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(key, f"expected an integer, got {type_name(value)}")
            return None
        if minimum is not None and value < minimum:
            self.add(key, f"must be at least {minimum}")
            return None
        return value

    def choice(
        self,
        value: str,
        key: KeyPath,
        choices: Collection[str],
        what: str,
        aliases: Mapping[str, str] | None = None,
    ) -> str | None:
        if value in choices:
            return value
        self.add(
            key,
            f"unknown {what} '{value}'",
            did_you_mean(value, choices, aliases) or f"choose from: {', '.join(sorted(choices))}",
        )
        return None

    def items(self, value: Any, key: KeyPath, what: str, read: Callable[[Any, KeyPath], T | None]) -> list[T]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(key, f"{what} must be a list, not {type_name(value)}", "write one '- ' entry per item")
            return []
        out: list[T] = []
        for i, item in enumerate(value):
            got = read(item, (*key, i))
            if got is not None:
                out.append(got)
        return out
