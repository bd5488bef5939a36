"""Reading YAML safely with positions, and writing it deterministically (files are written by
:mod:`curate.atomic`).

Reading goes in two passes over the text, neither of which expands anything: the event stream is
scanned first (anchors and aliases are refused there, so an alias bomb costs nothing), then the
composed node tree is turned into plain Python values while every key path's position is recorded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.errors import Problem

if TYPE_CHECKING:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

# ruamel.yaml costs more to import than everything else `curate check` does to one file: it is only
# imported when a document needs it (errors, anchors, tags, unusual scalars) and for writing.

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class SizeLimit:
    """How big a kind of YAML file may be, and what to do about one that is bigger."""

    max_bytes: int
    hint: str


# A change request, the config, an advisory: written by people, a page or two each.
REQUEST_LIMIT = SizeLimit(
    max_bytes=MAX_BYTES,
    hint="a change request lists packages; split a very large one into several requests",
)
CONFIG_LIMIT = SizeLimit(
    max_bytes=MAX_BYTES, hint="the catalog config is a page of settings: is this the right file?"
)
TEXT_LIMIT = SizeLimit(max_bytes=MAX_BYTES, hint="is this the right file?")
# A catalog file is written by curate lock: a project with hundreds of versions of dozens of files each
# takes a few MiB; 64 MiB is far past any real one and still bounds what a reader takes in.
CATALOG_LIMIT = SizeLimit(
    max_bytes=64 * 1024 * 1024,
    hint="catalog files are written by curate lock, and none is this large: check where it came from, "
    "then run curate lock",
)


class UnreadableFile(Exception):
    """A path that is not read: not a regular file, outside the repository, too big, or an OS error."""

    def __init__(self, message: str, hint: str, *, strerror: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.strerror = strerror  # the OS's words, when the OS refused


def read_regular(path: Path, *, limit: SizeLimit = TEXT_LIMIT, root: Path | None = None) -> bytes:
    """The bytes of the regular file at ``path``, never more than ``limit`` of them.

    A device (``/dev/zero``, ``/dev/urandom``), a FIFO, a socket or a directory is refused before a byte
    is read (it is opened without blocking and looked at through its descriptor, so nothing can be
    swapped in between); with ``root``, so is a path whose symbolic links lead outside ``root`` (the
    repository): a request must not make curate read, and print, some other file of the machine.
    """
    try:
        mode = os.stat(path).st_mode  # without opening it: opening some devices does something
    except OSError:
        mode = stat.S_IFREG  # missing or unreadable: the open below says so
    if not stat.S_ISREG(mode):
        raise UnreadableFile(f"not a regular file ({_kind(mode)}): not read", "give the path of a YAML file")
    if root is not None:
        real = path.resolve()
        if real != path.absolute() and not real.is_relative_to(root.resolve()):
            raise UnreadableFile(
                "a symbolic link to a file outside the repository: not read",
                "put the file itself in the repository instead of a link to it",
            )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise UnreadableFile(
            f"cannot read file: {exc.strerror or exc}",
            "check the path and that the file is readable",
            strerror=exc.strerror or str(exc),
        ) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(
                f"not a regular file ({_kind(info.st_mode)}): not read", "give the path of a YAML file"
            )
        if info.st_size > limit.max_bytes:
            size = info.st_size
        else:
            data = fh.read(limit.max_bytes + 1)
            if len(data) <= limit.max_bytes:
                return data
            size = len(data)
    raise UnreadableFile(f"file is {size:,} bytes; the limit is {_size(limit.max_bytes)}", limit.hint)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def _size(n: int) -> str:
    return f"{n:,} ({n // (1024 * 1024)} MiB)" if n % (1024 * 1024) == 0 else f"{n:,}"


KeyPath = tuple[str | int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Document:
    """Plain data from a YAML file plus the (line, col) of every key path, both 1-based."""

    path: str
    data: Any
    marks: dict[KeyPath, tuple[int, int]]
    texts: dict[KeyPath, str] = dataclasses.field(default_factory=dict)  # source text of non-string scalars
    source: str = dataclasses.field(default="", repr=False)  # the text it was read from

    def mark(self, key: KeyPath) -> tuple[int, int]:
        """Position of ``key``, or of its nearest ancestor that has one."""
        while key not in self.marks and key:
            key = key[:-1]
        return self.marks.get(key, (1, 1))

    def problem(self, key: KeyPath, message: str, hint: str = "") -> Problem:
        line, col = self.mark(key)
        return Problem(path=self.path, line=line, col=col, message=message, hint=hint, key=format_key(key))


def format_key(key: KeyPath) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _yaml() -> YAML:
    from ruamel.yaml import YAML

    y = YAML(typ="safe", pure=True)
    y.allow_duplicate_keys = True  # we report duplicates ourselves, all of them, with positions
    return y


_loader = functools.cache(_yaml)


def load(
    path: Path,
    display: str,
    *,
    keep_going: bool = False,
    limit: SizeLimit = TEXT_LIMIT,
    root: Path | None = None,
) -> tuple[Document | None, list[Problem]]:
    """Read ``path`` (see :func:`read_regular` for ``limit`` and ``root``); return the document, or None
    and the problems that stop it from loading.

    With ``keep_going``, duplicate and non-scalar keys do not stop it: the document (keeping the first
    of each duplicate key) comes back together with those problems, so the caller can report the rest.
    """
    try:
        raw = read_regular(path, limit=limit, root=root)
    except UnreadableFile as exc:
        return None, [Problem(path=display, message=exc.message, hint=exc.hint)]
    return loads(raw, display, keep_going=keep_going, limit=limit)


def loads(
    raw: bytes, display: str, *, keep_going: bool = False, limit: SizeLimit = TEXT_LIMIT
) -> tuple[Document | None, list[Problem]]:
    if len(raw) > limit.max_bytes:
        return None, [
            Problem(
                path=display,
                message=f"file is {len(raw):,} bytes; the limit is {_size(limit.max_bytes)}",
                hint=limit.hint,
            )
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            Problem(
                path=display,
                line=line,
                col=col,
                message=f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                hint="save the file as UTF-8",
            )
        ]
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return None, [
            Problem(path=display, line=line, message="file contains a NUL byte", hint="is it text?")
        ]
    fast = _fast_compose(text)
    scalar: Callable[[Any], Any]
    if fast is not None:
        node, scalar = fast[0], _fast_scalar
    else:
        problems = _scan_events(text, display)
        if problems:
            return None, problems
        from ruamel.yaml.error import MarkedYAMLError, YAMLError

        try:
            node, scalar = _loader().compose(io.StringIO(text)), _scalar
        except MarkedYAMLError as exc:
            return None, [_yaml_problem(exc, display)]
        except (YAMLError, RecursionError, ValueError) as exc:
            return None, [Problem(path=display, message=f"YAML error: {exc}")]
    marks: dict[KeyPath, tuple[int, int]] = {}
    texts: dict[KeyPath, str] = {}
    build_problems: list[Problem] = []
    data = None if node is None else _build(node, (), marks, texts, build_problems, display, 0, scalar)
    if build_problems:
        if keep_going and not any(p.message.startswith("nesting") for p in build_problems):
            return Document(display, data, marks, texts, text), build_problems
        return None, build_problems
    return Document(display, data, marks, texts, text), []


def _scan_events(text: str, display: str) -> list[Problem]:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent

    problems: list[Problem] = []
    depth = 0
    try:
        for event in _loader().parse(io.StringIO(text)):
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:  # stop here: the parser slows down quadratically with depth
                    mark = event.start_mark
                    problems.append(
                        Problem(
                            path=display,
                            line=mark.line + 1,
                            col=mark.column + 1,
                            message=f"nesting deeper than {MAX_DEPTH} levels",
                            hint="a request is a mapping of lists of mappings; this is not one",
                        )
                    )
                    break
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
            if isinstance(event, AliasEvent) or (isinstance(event, NodeEvent) and event.anchor):
                mark = event.start_mark
                what = "alias" if isinstance(event, AliasEvent) else "anchor"
                problems.append(
                    Problem(
                        path=display,
                        line=mark.line + 1,
                        col=mark.column + 1,
                        message=f"YAML {what} '{event.anchor}' is not allowed",
                        hint="write the value out in full; requests and the config never need anchors or aliases",
                    )
                )
                if len(problems) >= 20:
                    break
    except MarkedYAMLError as exc:
        return [*problems, _yaml_problem(exc, display)]
    except (YAMLError, RecursionError, ValueError) as exc:
        return [*problems, Problem(path=display, message=f"YAML error: {exc}")]
    return problems


def _yaml_problem(exc: MarkedYAMLError, display: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    message = " ".join(x for x in (exc.context, exc.problem) if x) or str(exc)
    return Problem(
        path=display, line=line, col=col, message=f"YAML syntax error: {message}", hint=_syntax_hint(message)
    )


def _syntax_hint(message: str) -> str:
    """What usually causes a YAML syntax error, from the parser's message."""
    if "'\\t'" in message:
        return "indent with spaces: YAML does not allow tabs"
    if "mapping values are not allowed" in message:
        return "check the indentation of this line; quote a value that contains ': '"
    if "flow sequence" in message or "flow mapping" in message or "flow node" in message:
        return "close every '[' and '{' (or quote a value that starts with one)"
    if "quoted scalar" in message:
        return "close the quote this value opens"
    return "check the indentation and quoting of this line and the one above it"


def _build(
    node: Any,
    key: KeyPath,
    marks: dict[KeyPath, tuple[int, int]],
    texts: dict[KeyPath, str],
    problems: list[Problem],
    display: str,
    depth: int,
    scalar: Callable[[Any], Any],
) -> Any:
    marks[key] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if depth > MAX_DEPTH:
        if not any(p.message.startswith("nesting") for p in problems):
            line, col = marks[key]
            problems.append(
                Problem(
                    path=display,
                    line=line,
                    col=col,
                    message=f"nesting deeper than {MAX_DEPTH} levels",
                    hint="a request is a mapping of lists of mappings; this is not one",
                )
            )
        return None
    if node.id == "mapping":
        result: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.id != "scalar":
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                problems.append(
                    Problem(
                        path=display,
                        line=line,
                        col=col,
                        message="mapping keys must be scalars",
                        hint="write plain keys such as 'name:'",
                    )
                )
                continue
            k = scalar(key_node)
            if not isinstance(k, (str, int)):
                k = str(k)
            if k in seen:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                problems.append(
                    Problem(
                        path=display,
                        line=line,
                        col=col,
                        message=f"duplicate key '{k}' (first defined on line {seen[k]})",
                        hint="keep one of them; YAML would silently use the last",
                    )
                )
                continue
            seen[k] = key_node.start_mark.line + 1
            result[k] = _build(value_node, (*key, k), marks, texts, problems, display, depth + 1, scalar)
            marks[(*key, k)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result
    if node.id == "sequence":
        return [
            _build(item, (*key, i), marks, texts, problems, display, depth + 1, scalar)
            for i, item in enumerate(node.value)
        ]
    value = scalar(node)
    if not isinstance(value, str) and value is not None:
        texts[key] = str(node.value)
    return value


_STR_TAG = "tag:yaml.org,2002:str"


def _scalar(node: Any) -> Any:
    """A ruamel scalar node (its tag resolved by the composer) as a Python value."""
    from ruamel.yaml.error import YAMLError

    try:
        return _loader().constructor.construct_object(node, deep=True)
    except (YAMLError, ValueError):
        return node.value


# Every plain scalar that one of ruamel's YAML 1.2 implicit resolvers (ruamel/yaml/resolver.py:
# bool, float, int, merge, null, timestamp, value, yaml) would claim, each only tried on its own
# first characters (the lookahead). Anything else is a string.
_IMPLICIT = re.compile(
    r"""^(?=[-+0-9.tTfFnN~<=!&*]|$)(?:
     true|True|TRUE|false|False|FALSE
    |[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN)
    |[-+]?0b[0-1_]+
    |[-+]?0o?[0-7_]+
    |[-+]?[0-9_]+
    |[-+]?0x[0-9a-fA-F_]+
    |<<
    |~|null|Null|NULL|
    |[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
    |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?
     (?:[Tt]|[\ \t]+)[0-9][0-9]?
     :[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?
     (?:[\ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?
    |=
    |!|&|\*
    )$""",
    re.X,
)
# The common non-strings, and what ruamel's SafeConstructor makes of them; the rest goes to ruamel.
_CONSTANTS: dict[str, Any] = {
    **dict.fromkeys(("", "~", "null", "Null", "NULL")),
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
}
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]+")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def _fast_scalar(node: Any) -> Any:
    """A libyaml scalar node from the fast path, resolved exactly as ruamel's YAML 1.2 loader does."""
    value: str = node.value
    if node.style or not _IMPLICIT.match(value):  # quoted and block scalars are strings
        return value
    if value in _CONSTANTS:
        return _CONSTANTS[value]
    try:
        if _INT.fullmatch(value):
            return int(value)
        if _FLOAT.fullmatch(value):
            return float(value)
        if m := _DATE.fullmatch(value):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:  # out of range: let ruamel decide
        pass
    return _ruamel_scalar(node)


def _ruamel_scalar(node: Any) -> Any:
    """A libyaml plain scalar resolved and constructed by ruamel (the unusual ones)."""
    from ruamel.yaml.nodes import ScalarNode

    tag = _loader().resolver.resolve(ScalarNode, node.value, (True, False))
    if str(tag) == _STR_TAG:
        return node.value
    return _scalar(ScalarNode(tag, node.value, node.start_mark, node.end_mark))


# -- the fast path: libyaml (PyYAML's C binding), when installed ------------------------------------
#
# The pure-Python parser costs a few milliseconds per request file; `curate check` of 10,000 files
# needs libyaml. It only handles the common case: a document without anchors, aliases, explicit tags
# or deep nesting that libyaml parses cleanly. Anything else returns None and goes through ruamel,
# which produces the exact messages (so both paths report the same problems).


def _libyaml() -> tuple[Any, Any] | None:
    try:
        import yaml
        from yaml._yaml import CParser
    except ImportError:  # pragma: no cover - PyYAML without libyaml
        return None

    class Composer(CParser, yaml.resolver.BaseResolver):  # type: ignore[misc,name-defined,unused-ignore]
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.resolver.BaseResolver.__init__(self)

    return CParser, Composer


_UNSET: Any = object()
_LIBYAML: tuple[Any, Any] | None = _UNSET  # looked up on first use; None: no libyaml


def _fast_compose(text: str) -> tuple[Any] | None:
    """(root node or None,) through libyaml, or None when the strict path must decide."""
    global _LIBYAML
    if _LIBYAML is _UNSET:
        _LIBYAML = _libyaml()
    if _LIBYAML is None:
        return None
    import yaml

    parser_cls, composer_cls = _LIBYAML
    parser = parser_cls(text)
    depth = 0
    try:
        while True:
            event = parser.get_event()
            kind = type(event).__name__
            if kind == "StreamEndEvent":
                break
            if kind == "AliasEvent" or getattr(event, "anchor", None) is not None:
                return None
            if kind == "ScalarEvent" and event.tag is not None and event.tag != "!":
                return None
            if kind in ("MappingStartEvent", "SequenceStartEvent"):
                if event.tag is not None:
                    return None
                depth += 1
                if depth > MAX_DEPTH:
                    return None
            elif kind in ("MappingEndEvent", "SequenceEndEvent"):
                depth -= 1
            elif kind == "DocumentStartEvent" and (event.explicit or event.version or event.tags):
                return None
        composer = composer_cls(text)
        try:
            return (composer.get_single_node(),)
        finally:
            composer.dispose()
    except (yaml.YAMLError, RecursionError, ValueError, AttributeError):
        return None
    finally:
        parser.dispose()


# -- writing ----------------------------------------------------------------------------------------


def _dumper() -> YAML:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.default_flow_style = False
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def dumps(data: Any, header: str = "") -> str:
    """Deterministic YAML: keys in the order given (callers sort), no wrapping, block style."""
    buf = io.StringIO()
    _dumper().dump(data, buf)
    return header + buf.getvalue()
