"""pip requirements files (``requirements.txt``, ``.in``, constraints), parsed with pip's own rules.

Lines are parsed by ``pip-requirements-parser``, which carries pip's line joining, comment splitting,
option parser and requirement constructors. This module only walks the result: it follows ``-r`` and
``-c`` relative to the including file (never over the network, with cycle detection), turns ``-c``
entries into constraints, collects pip-compile ``# via`` comments, and records every option and
unusable line as skipped.
"""

from __future__ import annotations

import copy
import dataclasses
import optparse
import re
import shlex
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pip_requirements_parser as prp

from curate.importers.model import DIRECT_REFERENCE, Entry, Parsed

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_OPTION_PARSER = prp.build_parser()


def _parse_line(line: str) -> tuple[str, optparse.Values, list[str]]:
    """``pip_requirements_parser.get_line_parser()``'s function with the option parser built once.

    The library builds a new optparse parser for every line because append options accumulate in the
    shared defaults; deep-copying the defaults per line gives the same result at a fraction of the
    cost (a test compares both on generated lines).
    """
    args_str, options_str = prp.break_args_options(line)
    defaults = optparse.Values(copy.deepcopy(_OPTION_PARSER.defaults))
    opts, arguments = _OPTION_PARSER.parse_args(shlex.split(options_str), defaults)
    return args_str, opts, arguments


_OPTION_REASONS = {
    "index_url": "pip option: clients use the catalog's index instead",
    "extra_index_urls": "pip option: the catalog never falls through to another index",
    "no_index": "pip option: the catalog decides where files come from",
    "find_links": "pip option: the catalog only serves files from its own index",
    "trusted_hosts": "pip option: the catalog's index is the only host",
    "require_hashes": "pip option: the catalog pins every file by sha256 anyway",
    "pre": "pip option: ask for pre-releases with a version specifier that names one",
    "hashes": "the catalog records and verifies its own sha256 of every file when it locks",
}
_DEFAULT_OPTION_REASON = "pip option: does not apply to a catalog request"


def _option_text(dest: str, value: Any) -> str:
    flag = prp.OPT_BY_OPTIONS_DEST.get(dest, f"--{dest.replace('_', '-')}")
    if isinstance(value, list):
        return " ".join(f"{flag} {v}" for v in value)
    if isinstance(value, bool):
        return str(flag)
    return f"{flag} {value}"


def _regular(path: Path) -> bool:
    """Whether ``path`` is a regular file, or does not exist (the read then says so)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return True


class _Walker:
    def __init__(self, read: Callable[[Path], bytes], display: Callable[[Path], str]) -> None:
        self.read = read
        self.display = display
        self.out = Parsed()
        self.done: set[tuple[Path, bool]] = set()

    def walk(self, path: Path, *, constraint: bool, stack: tuple[Path, ...], via: str, via_line: int) -> None:
        key = path.resolve()
        shown = self.display(path)
        if key in stack:
            chain = " -> ".join(self.display(p) for p in (*stack[stack.index(key) :], key))
            self.out.skip(via, via_line, f"-r {shown}", f"include cycle ({chain}); the file is read once")
            return
        if (key, constraint) in self.done:
            return
        self.done.add((key, constraint))
        try:
            if stack and not _regular(path):  # -r /dev/zero or a FIFO would never end
                raise OSError(0, "not a regular file")
            raw = self.read(path)
        except OSError as exc:
            if not stack:
                raise
            self.out.skip(
                via,
                via_line,
                f"{'-c' if constraint else '-r'} {shown}",
                f"cannot read it: {exc.strerror or exc}",
            )
            return
        self.out.files.append(shown)
        text = prp.auto_decode(raw)
        self._parse(text, path, shown, constraint=constraint, stack=(*stack, key))

    def _parse(self, text: str, path: Path, shown: str, *, constraint: bool, stack: tuple[Path, ...]) -> None:
        entries = self.out.entries
        hashes: list[int] = []
        last: int | None = None  # index into entries of the last requirement, for '# via'
        in_via = False
        for item in prp.preprocess(text):
            number, line = item
            if isinstance(item, prp.CommentLine):
                body = line[1:].strip()
                if last is not None and (body.startswith("via ") or body == "via"):
                    rest = body[3:].strip()
                    entries[last] = _add_via(entries[last], rest)
                    in_via = True
                elif last is not None and in_via and line.startswith("#   ") and body:
                    entries[last] = _add_via(entries[last], body)
                else:
                    in_via = False
                continue
            in_via = False
            last = None
            try:
                args, opts, arguments = _parse_line(line)
                parsed = prp.ParsedLine(
                    requirement_string=args,
                    options=opts,
                    is_constraint=constraint,
                    requirement_line=prp.RequirementLine(line=line, line_number=number, filename=shown),
                    arguments=arguments,
                )
            except Exception as exc:  # pip's option parser raises several types
                self.out.skip(shown, number, line, f"pip cannot parse this line: {_message(exc)}")
                continue
            if not parsed.is_requirement:
                self._options(parsed, path, shown, number, line, constraint=constraint, stack=stack)
                continue
            for got in prp.handle_line(parsed_line=parsed):
                if isinstance(got, prp.InvalidRequirementLine):
                    self.out.skip(shown, number, line, f"pip cannot parse this line: {got.error_message}")
                    continue
                if isinstance(got, prp.OptionLine):
                    continue
                entry = self._requirement(got, shown, number, line, constraint=constraint, hashes=hashes)
                if entry is not None:
                    entries.append(entry)
                    last = len(entries) - 1
        if hashes:
            self.out.skip(
                shown,
                hashes[0],
                f"--hash on {len(hashes)} requirement(s)",
                _OPTION_REASONS["hashes"],
            )

    def _options(
        self,
        parsed: Any,
        path: Path,
        shown: str,
        number: int,
        line: str,
        *,
        constraint: bool,
        stack: tuple[Path, ...],
    ) -> None:
        opts = parsed.options
        if parsed.arguments:
            self.out.skip(
                shown, number, line, f"pip ignores the trailing argument(s): {' '.join(parsed.arguments)}"
            )
        for include, nested_constraint in ((opts.requirements, False), (opts.constraints, True)):
            for target in include or []:
                target = target.lstrip("=")
                flag = "-c" if nested_constraint else "-r"
                if _URL.match(target):
                    self.out.skip(
                        shown,
                        number,
                        f"{flag} {target}",
                        "an include over the network; curate import reads local files only",
                    )
                    continue
                nested = Path(target)
                if not nested.is_absolute():
                    nested = path.parent / nested
                self.walk(nested, constraint=nested_constraint, stack=stack, via=shown, via_line=number)
        for dest, value in sorted(prp.handle_option_line(opts).items()):
            if dest in ("requirements", "constraints"):
                continue
            reason = _OPTION_REASONS.get(dest, _DEFAULT_OPTION_REASON)
            if dest in prp.LEGACY_OPTIONS_DEST:
                reason = "a legacy pip option that pip no longer supports"
            self.out.skip(shown, number, _option_text(dest, value), reason)

    def _requirement(
        self, parsed: Any, shown: str, number: int, line: str, *, constraint: bool, hashes: list[int]
    ) -> Entry | None:
        if parsed.invalid_options:
            self.out.skip(
                shown,
                number,
                line,
                f"pip rejects options on a requirement line: {prp.dumps_global_options(parsed.invalid_options)}",
            )
            return None
        try:
            req = prp.build_req_from_parsedreq(parsed)
        except Exception as exc:  # pip's constructors raise several types
            self.out.skip(shown, number, line, f"pip cannot parse this line: {_message(exc)}")
            return None
        if req.is_editable or req.link is not None or req.req is None or req.req.url:
            kind = "editable install" if req.is_editable else "direct reference"
            self.out.skip(shown, number, line, DIRECT_REFERENCE.replace("direct reference", kind))
            return None
        if parsed.options and parsed.options.get("hashes"):
            hashes.append(number)
        for dest in ("install_options", "global_options"):
            if parsed.options and parsed.options.get(dest):
                self.out.skip(shown, number, _option_text(dest, parsed.options[dest]), _DEFAULT_OPTION_REASON)
        return Entry(
            path=shown,
            line=number,
            text=line,
            name=req.req.name,
            extras=tuple(sorted(req.req.extras)),
            specifier=str(req.req.specifier),
            marker=str(req.marker) if req.marker is not None else "",
            constraint=constraint,
        )


def _add_via(entry: Entry, text: str) -> Entry:
    if not text:
        return entry
    return dataclasses.replace(entry, via=(*entry.via, text))


def _message(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "msg", None) or exc).split()) or type(exc).__name__


def read_requirements(
    path: Path,
    *,
    read: Callable[[Path], bytes],
    display: Callable[[Path], str],
    constraint: bool = False,
) -> Parsed:
    """Read a requirements file and everything it includes. Raises OSError if ``path`` itself cannot be read."""
    walker = _Walker(read, display)
    walker.walk(path, constraint=constraint, stack=(), via=display(path), via_line=0)
    return walker.out


def parse_requirements_text(text: str, display: str = "requirements.txt") -> Parsed:
    """Parse text without following includes (for tests and fuzzing): includes are reported as unreadable."""

    def no_file(p: Path) -> bytes:
        raise FileNotFoundError(2, "not followed when parsing text", str(p))

    walker = _Walker(no_file, lambda p: p.as_posix())
    walker.out.files.append(display)
    walker._parse(text, Path(display), display, constraint=False, stack=(Path(display).resolve(),))
    return walker.out
