"""What every importer produces: entries found in a file, and entries skipped with a reason."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, Literal

from packaging.utils import canonicalize_name

from curate.errors import Problem, ValidationError, redact_credentials

Format = Literal["requirements", "pipfile", "pipfile-lock", "pyproject", "poetry-lock", "uv-lock", "pylock"]

DIRECT_REFERENCE = "direct reference: the catalog only serves vetted files from its index"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Entry:
    """One requirement read from one place in one file."""

    path: str  # as displayed
    line: int  # 1-based; 0 when unknown
    text: str  # the entry as written, for messages
    name: str  # the distribution name as written
    extras: tuple[str, ...] = ()
    specifier: str = ""  # PEP 440; "" = any version
    marker: str = ""  # PEP 508 marker text; "" = always
    dropped: tuple[str, ...] = ()  # restrictions the importer dropped itself (Poetry's ``python``)
    constraint: bool = False  # from ``-c``: narrows a requirement, never adds one
    via: tuple[str, ...] = ()  # pip-compile ``# via`` lines
    # PEP 751 lock-file markers: the selected (extras, dependency groups); None for ordinary markers
    lock_context: tuple[frozenset[str], frozenset[str]] | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Skip:
    """An entry (or option, or file) that does not become part of the request, and why."""

    path: str
    line: int
    entry: str
    reason: str

    def format(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return redact_credentials(f"{where}: {_one_line(redact_credentials(self.entry))}: {self.reason}")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """What the user selected on the command line; importers read only these."""

    extras: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    develop: bool = False


@dataclasses.dataclass(kw_only=True, slots=True)
class Parsed:
    """What one importer found: entries, skips, and the optional sections it saw (for --extra/--group)."""

    entries: list[Entry] = dataclasses.field(default_factory=list)
    skips: list[Skip] = dataclasses.field(default_factory=list)
    extras_seen: set[str] = dataclasses.field(default_factory=set)
    groups_seen: set[str] = dataclasses.field(default_factory=set)
    files: list[str] = dataclasses.field(default_factory=list)  # every file read, as displayed
    python: list[str] = dataclasses.field(default_factory=list)  # "3.X" a file requires (Pipfile)

    def skip(self, path: str, line: int, entry: str, reason: str) -> None:
        self.skips.append(Skip(path=path, line=line, entry=entry, reason=reason))

    def extend(self, other: Parsed) -> None:
        self.entries.extend(other.entries)
        self.skips.extend(other.skips)
        self.extras_seen |= other.extras_seen
        self.groups_seen |= other.groups_seen
        self.files.extend(f for f in other.files if f not in self.files)
        self.python.extend(v for v in other.python if v not in self.python)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 120 else flat[:117] + "..."


class Lines:
    """Find the line of a key or value in a file whose parser does not report positions (TOML, JSON).

    Searches move forward from a cursor, so entries listed in file order get their own lines even when
    the same text appears twice. A needle that is not found gives the cursor's line (never 0 once a
    section was found), so a location is always close.
    """

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def find(self, pattern: str | re.Pattern[str], start: int = 1, *, stop: int = 0) -> int:
        """The first line number >= ``start`` matching ``pattern`` (a regex), or 0."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        end = stop or len(self.lines)
        for i in range(max(start, 1) - 1, end):
            if rx.search(self.lines[i]):
                return i + 1
        return 0

    def table(self, dotted: str, start: int = 1) -> int:
        """The line of the TOML table header ``[a.b]`` or ``[[a.b]]`` (quoted parts allowed)."""
        parts = [re.escape(p) for p in dotted.split(".")]
        key = r"\s*\.\s*".join(rf"""(?:{p}|"{p}"|'{p}')""" for p in parts)
        return self.find(rf"^\s*\[\[?\s*{key}\s*\]\]?\s*(#.*)?$", start)

    def key(self, name: str, start: int, *, stop: int = 0) -> int:
        """The line of ``name = ...`` (bare or quoted key) or ``"name": ...`` (JSON) from ``start``."""
        n = re.escape(name)
        return self.find(rf"""^\s*(?:{n}|"{n}"|'{n}')\s*[=:]""", start, stop=stop)

    def value(self, text: str, start: int) -> int:
        """The line holding the string ``text`` (as it would appear quoted), from ``start``."""
        head = text.strip()[:40]
        return self.find(re.compile(re.escape(head)), start) or (
            self.find(re.compile(re.escape(head.split(";")[0].strip()[:20])), start) if head else 0
        )


ReadFile = Callable[[str], bytes]


def from_pep508(out: Parsed, text: str, path: str, line: int, *, constraint: bool = False) -> Entry | None:
    """A PEP 508 requirement string as an entry; a direct reference or a bad string is skipped."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        out.skip(path, line, text, f"not a valid PEP 508 requirement: {_one_line(str(exc))}")
        return None
    if req.url:
        out.skip(path, line, text, DIRECT_REFERENCE)
        return None
    return Entry(
        path=path,
        line=line,
        text=text,
        name=req.name,
        extras=tuple(sorted(req.extras)),
        specifier=str(req.specifier),
        marker=str(req.marker) if req.marker is not None else "",
        constraint=constraint,
    )


def and_markers(*markers: str) -> str:
    """Join marker expressions with ``and``, parenthesised; empty ones are left out."""
    parts = [m for m in markers if m.strip()]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    return " and ".join(f"({m})" for m in parts)


def load_toml(raw: bytes, path: str) -> dict[str, Any]:
    """Parse TOML with the standard library (no code runs); a syntax error names the line."""
    import tomllib

    try:
        return tomllib.loads(decode(raw, path))
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line, col = (int(m[1]), int(m[2])) if m else (0, 0)
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ValidationError(
            [Problem(path=path, line=line, col=col, message=f"TOML syntax error: {message}")]
        ) from None


def load_json(raw: bytes, path: str) -> Any:
    import json

    try:
        return json.loads(decode(raw, path))
    except json.JSONDecodeError as exc:
        raise ValidationError(
            [Problem(path=path, line=exc.lineno, col=exc.colno, message=f"JSON syntax error: {exc.msg}")]
        ) from None


def decode(raw: bytes, path: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValidationError(
            [Problem(path=path, line=line, message="not valid UTF-8", hint="save the file as UTF-8")]
        ) from None
    return text.removeprefix("\ufeff")


def table(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty one (importers tolerate odd shapes)."""
    return value if isinstance(value, dict) else {}


# -- shared by the lock-file importers ------------------------------------------------------------

PROJECT_ITSELF = "the project itself (a local or workspace package), not a package from an index"


def package_lines(lines: Lines, header: str, count: int) -> list[int]:
    """The line of each ``[[header]]`` block's ``name = ...`` key, in file order."""
    out: list[int] = []
    cursor = 1
    for _ in range(count):
        block = lines.table(header, cursor)
        if not block:
            out.append(0)
            continue
        name = lines.key("name", block + 1)
        out.append(name or block)
        cursor = block + 1
    return out


def pin(path: str, line: int, name: str, version: str, marker: str = "", **kw: Any) -> Entry:
    return Entry(
        path=path,
        line=line,
        text=f"{name}=={version}",
        name=name,
        specifier=f"=={version}",
        marker=marker,
        **kw,
    )


def selected_group(options: Options, group: str) -> bool:
    g = canonicalize_name(group)
    return (
        "*" in options.groups
        or g in {canonicalize_name(x) for x in options.groups}
        or (options.develop and g == "dev")
    )
