"""Typed getters over a located YAML document that collect problems instead of raising.

Both the catalog config and change requests are read through a :class:`Reader`: every wrong type,
missing field and unknown key becomes a :class:`~curate.errors.Problem` at the right line, and the
reader keeps going so one run reports everything.
"""

from __future__ import annotations

import datetime as dt
import re
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


# Characters that show nothing, or turn the text around them, so that what a reviewer reads is not
# what is there: bidirectional overrides, embeddings, isolates and marks; zero-width spaces and
# joiners, the word joiner and invisible operators; the byte order mark inside a file; the soft
# hyphen; the Mongolian vowel separator; the tag characters (invisible ASCII look-alikes).
HIDDEN = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]+"
)
MAX_HIDDEN_REPORTED = 20  # per file: enough to find them all with the editor's search


def hidden_characters(doc: Document) -> list[Problem]:
    """A problem at every run of invisible or text-reversing characters in ``doc``'s text, on its line
    and column, naming the key it is in; and one at each string value that holds such a character
    written as an escape (``"\\u202e"``) in the source."""
    problems: list[Problem] = []
    keys = sorted(doc.marks.items(), key=lambda item: item[1])
    found_in: set[KeyPath] = set()
    for m in HIDDEN.finditer(doc.source):
        line = doc.source.count("\n", 0, m.start()) + 1
        col = m.start() - (doc.source.rfind("\n", 0, m.start()) + 1) + 1
        key: KeyPath = ()
        for k, mark in keys:  # the last key whose value starts before the character
            if mark > (line, col):
                break
            key = k
        found_in.add(key)
        problems.append(_hidden_problem(doc, line, col, key, m[0]))
    for key, value in _strings(doc.data, ()):
        hit = HIDDEN.search(value) if key not in found_in else None
        if hit is not None:
            line, col = doc.mark(key)
            problems.append(_hidden_problem(doc, line, col, key, hit[0], escaped=True))
    if len(problems) > MAX_HIDDEN_REPORTED:
        problems = problems[:MAX_HIDDEN_REPORTED]
    return problems


def _hidden_problem(
    doc: Document, line: int, col: int, key: KeyPath, chars: str, *, escaped: bool = False
) -> Problem:
    import unicodedata

    names = ", ".join(
        dict.fromkeys(f"U+{ord(c):04X} {unicodedata.name(c, 'TAG CHARACTER').title()}" for c in chars)
    )
    where = f" in {format_key(key)}" if key else ""
    how = " (written as an escape)" if escaped else ""
    return Problem(
        path=doc.path,
        line=line,
        col=col,
        key=format_key(key),
        message=f"invisible character{'s' if len(chars) > 1 else ''}{where}{how}: {names}; they hide or "
        "reorder text, so reviewers would not read what is there",
        hint="delete them (retype the text around them if unsure)",
    )


# Characters no text of a file may hold, as a character class that Python's and JSON Schema's (ECMA
# 262) regular expressions read alike: the C0 controls (free text keeps the tab and the newline), DEL
# and the C1 controls, and the noncharacters U+FDD0..U+FDEF, U+FFFE and U+FFFF. One line of text
# also refuses the tab, the newline and the Unicode line and paragraph separators.
_C0 = r"\x00-\x08\x0b-\x1f"
_C1 = r"\x7f-\x9f"
_NONCHARACTERS = r"\ufdd0-\ufdef\ufffe\uffff"
TEXT_PATTERN = rf"^[^{_C0}{_C1}{_NONCHARACTERS}]*$"
LINE_PATTERN = rf"^[^\x00-\x1f{_C1}\u2028\u2029{_NONCHARACTERS}]*$"
# and, for Python only, lone surrogates (a file decodes into none, but an escape writes one) and the
# noncharacters U+1FFFE, U+1FFFF ... U+10FFFF of the other planes
_PYTHON_ONLY = r"\ud800-\udfff" + "".join(
    f"\\U{plane:04X}FFFE\\U{plane:04X}FFFF" for plane in range(0x1, 0x11)
)
_NOT_TEXT = re.compile(rf"[{_C0}{_C1}{_NONCHARACTERS}{_PYTHON_ONLY}]")
_NOT_LINE = re.compile(rf"[\x00-\x1f{_C1}\u2028\u2029{_NONCHARACTERS}{_PYTHON_ONLY}]")
_CHARACTER_NAMES = {
    "\x00": "NUL",
    "\x07": "BEL, bell",
    "\x08": "backspace",
    "\t": "tab",
    "\n": "newline",
    "\r": "carriage return",
    "\x1b": "ESC, escape",
    "\x7f": "DEL, delete",
    "\x85": "next line",
    "\u2028": "line separator",
    "\u2029": "paragraph separator",
}
MAX_CHARACTERS_NAMED = 5  # per value


def control_characters(doc: Document, *, free_text: Collection[str]) -> list[Problem]:
    """A problem at every string value of ``doc`` that holds a control character or a noncharacter,
    naming them: a value whose key is in ``free_text`` (``justification``) may span lines and hold
    tabs, any other is one line of text (a title) and may hold neither.

    YAML refuses most of these characters written raw in a file, but a double-quoted string writes
    any of them as an escape (``"\\0"``, ``"\\a"``, ``"\\e"``, ``"\\uFFFE"``); they would reach
    the catalog's pages and reports as raw bytes (NUL is a parse error in HTML).
    """
    problems: list[Problem] = []
    for key, value in _strings(doc.data, ()):
        multiline = bool(key) and key[-1] in free_text
        found = list(dict.fromkeys((_NOT_TEXT if multiline else _NOT_LINE).findall(value)))
        if not found:
            continue
        names = ", ".join(_character_name(c) for c in found[:MAX_CHARACTERS_NAMED])
        if len(found) > MAX_CHARACTERS_NAMED:
            names += f" and {len(found) - MAX_CHARACTERS_NAMED} more"
        field = format_key(key) or "the value"
        if multiline:
            message = (
                f"{field} holds {names}; free text may hold line breaks and tabs, but no other control "
                "character and no noncharacter"
            )
            hint = (
                "delete them (in a double-quoted string, escapes such as \\0, \\a, \\e or \\x1b write them)"
            )
        else:
            message = f"{field} must be one line of plain text; it holds {names}"
            hint = "write it as one line of plain text, without escapes such as \\n, \\t, \\0 or \\e"
            if found == ["\n"] and value.find("\n") == len(value) - 1:  # only a final line break
                hint += " (a block scalar written '>' or '|' ends with a line break: write '>-' or '|-')"
        problems.append(doc.problem(key, message, hint))
    return problems


def _character_name(c: str) -> str:
    import unicodedata

    name = _CHARACTER_NAMES.get(c)
    if name is None:
        category = unicodedata.category(c)
        name = {"Cc": "control", "Cs": "surrogate"}.get(category, "noncharacter")
    return f"U+{ord(c):04X} ({name})"


def _strings(value: Any, key: KeyPath) -> list[tuple[KeyPath, str]]:
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _strings(v, (*key, str(k)))]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _strings(v, (*key, i))]
    return []


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
