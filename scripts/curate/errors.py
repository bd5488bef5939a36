"""One exception hierarchy, problems that carry their location, and the one reporter that prints them.

Expected errors are :class:`CurateError` subclasses; the CLI prints them without a traceback and maps
them to exit codes. Validation, the lock and the other stages collect :class:`Problem` records (file,
line, key path, message, hint) so that one run reports everything, each on its file and line. The
:class:`Reporter` prints problems and errors for every command: the terminal form, and under GitHub
Actions an ``::error`` workflow command; it is the one place where text (much of it from requests and
the upstream) is made safe for a terminal and for workflow commands.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Problem:
    """One thing wrong with one file, at one place, with the fix."""

    path: str
    line: int = 0  # 1-based; 0 when the problem concerns the whole file
    col: int = 0  # 1-based; 0 when unknown
    message: str
    hint: str = ""
    key: str = ""  # key path such as packages[2].name, when there is one

    def location(self) -> str:
        parts = [self.path]
        if self.line:
            parts.append(str(self.line))
            if self.col:
                parts.append(str(self.col))
        return ":".join(parts)

    def format(self) -> str:
        text = f"{self.location()}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def annotation(self) -> str:
        """A GitHub Actions workflow command that puts the problem on the file's line."""
        message = self.message + (f" (hint: {self.hint})" if self.hint else "")
        return workflow_error(message, path=self.path, line=self.line, col=self.col)


# -- making text safe --------------------------------------------------------------------------------------

# C0 controls but tab and newline (escape sequences, carriage returns, backspaces), DEL, C1 controls,
# and the bidirectional overrides and isolates that make text read otherwise than it is
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# A line the Actions runner reads as a workflow command: one that starts with `::name ...::` once its
# leading whitespace is trimmed, or one with the older `##[name ...]` anywhere in it (the runner looks
# for that one with IndexOf). A backslash defuses both: `\::error::` and `##\[error]` are plain text.
_COMMAND_START = re.compile(r"^([^\S\n]*)::", re.MULTILINE)
_V1_COMMAND = "##["


def strip_controls(text: str) -> str:
    """``text`` without control characters (tab and newline kept) and bidirectional overrides."""
    return _CONTROL.sub("", text)


def one_line(text: str) -> str:
    """``text`` as one line: control characters dropped, every run of whitespace (newlines, Unicode
    line and paragraph separators) one space."""
    return " ".join(strip_controls(text.replace("\r", "\n")).split())


def terminal_text(text: str) -> str:
    """``text`` safe to print on a terminal and in a CI log: control characters removed (``\\r\\n`` is
    a newline), and no line able to start a GitHub workflow command (a backslash defuses it)."""
    safe = _COMMAND_START.sub(r"\1\\::", strip_controls(text.replace("\r\n", "\n")))
    return safe.replace(_V1_COMMAND, "##\\[")


def log_safe_json(text: str) -> str:
    """JSON text (from :func:`json.dumps`, so ASCII with controls escaped) that cannot start a workflow
    command in a CI log either: ``##[`` occurs only inside strings, where ``#\\u0023[`` means the same."""
    return text.replace(_V1_COMMAND, "#\\u0023[")


def _escape_data(text: str) -> str:
    return _CONTROL.sub("", text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_error(message: str, *, path: str = "", line: int = 0, col: int = 0) -> str:
    """A GitHub Actions ``::error`` workflow command, on ``path`` (and line) when given; escaped so that
    no data can end it or start another (``%``, newlines, ``:`` and ``,`` in properties)."""
    props = []
    if path:
        props.append(f"file={_escape_property(path)}")
        if line:
            props.append(f"line={line}")
            if col:
                props.append(f"col={col}")
    head = f"::error {','.join(props)}" if props else "::error"
    return f"{head}::{_escape_data(message)}"


# -- errors ------------------------------------------------------------------------------------------------


class CurateError(Exception):
    """An error a user can cause and fix. Printed without a traceback; exit code 1.

    An error about the input carries its :class:`Problem` records, each on its file and line, to the
    very end: the reporter prints every one of them, then :meth:`summary`.
    """

    exit_code = 1

    def __init__(self, message: str = "", *, problems: Iterable[Problem] = ()) -> None:
        self.problems: list[Problem] = sorted(problems)
        super().__init__(message or "\n".join(p.format() for p in self.problems))

    def summary(self) -> str:
        """The line printed after the problems."""
        return f"{len(self.problems)} problem(s) found"


class ValidationError(CurateError):
    """One or more problems in input files."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        super().__init__(problems=problems)


class ResolutionError(CurateError):
    """uv could not resolve a request for a target."""

    def summary(self) -> str:
        return f"error: {len(self.problems)} request(s) could not be resolved; catalog/ was left as it was"


class LockError(CurateError):
    """The catalog cannot be locked as asked (a removal still needed, a missing wheel, ...)."""

    def summary(self) -> str:
        return f"error: {len(self.problems)} problem(s) found; catalog/ was left as it was"


class FetchError(CurateError):
    """A download failed or did not match the catalog."""


class BuildError(CurateError):
    """The index or the site could not be built."""


class UsageError(CurateError):
    """The command line asks for something impossible."""

    exit_code = 2


def github_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


_CREDENTIALS = re.compile(r"(?<=://)(?!git@)[^/@\s]+@")


def redact_credentials(text: str) -> str:
    """``https://user:token@host`` -> ``https://***@host`` (not ``git@host``): for whatever is printed,
    logged in CI or committed."""
    return _CREDENTIALS.sub("***@", text)


def display_path(path: Path, root: Path | None = None) -> str:
    """A path as a user would type it: relative to ``root`` (default: cwd) when inside it."""
    base = root if root is not None else Path.cwd()
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


# -- the reporter ------------------------------------------------------------------------------------------


class Reporter:
    """Prints problems and errors for every command: the terminal form on stderr and, under GitHub
    Actions (``GITHUB_ACTIONS=true``), an ``::error`` workflow command on stdout that puts each on its
    file and line in the pull request.

    Everything it prints is made safe first: credentials in URLs redacted, control characters stripped,
    no line able to start a workflow command, and annotations escaped (``%`` included).
    """

    def __init__(
        self, env: Mapping[str, str], *, stderr: TextIO | None = None, stdout: TextIO | None = None
    ) -> None:
        self.annotate = github_actions(env)
        self._stderr = stderr
        self._stdout = stdout

    def problem(self, problem: Problem) -> None:
        """One problem: ``path:line: message`` and its hint; and its annotation."""
        self.text(problem.format())
        self.annotation(problem)

    def problems(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.problem(problem)

    def error(self, message: str, *, path: str = "", line: int = 0, hint: str = "") -> None:
        """An error with no more precise location than a file, or none: ``error: message``."""
        self.text(f"error: {message}" + (f"\nhint: {hint}" if hint else ""))
        if self.annotate:
            text = message + (f" (hint: {hint})" if hint else "")
            self._out(workflow_error(redact_credentials(text), path=path, line=line))

    def failure(self, exc: CurateError) -> None:
        """A command failed: every problem it carries then its summary, or its message."""
        if exc.problems:
            self.problems(exc.problems)
            self.text(exc.summary())
        else:
            self.error(str(exc))

    def annotation(self, problem: Problem) -> None:
        """Only the workflow command (for output that prints its own terminal form)."""
        if self.annotate:
            self._out(
                dataclasses.replace(
                    problem,
                    message=redact_credentials(problem.message),
                    hint=redact_credentials(problem.hint),
                ).annotation()
            )

    def text(self, text: str) -> None:
        """Plain text on stderr, made safe."""
        print(terminal_text(redact_credentials(text)), file=self._stderr or sys.stderr, flush=True)

    def out(self, text: str, *, end: str = "\n") -> None:
        """A command's output on stdout (text that carries data: names, summaries, reasons), made safe."""
        print(terminal_text(redact_credentials(text)), file=self._stdout or sys.stdout, end=end, flush=True)

    def _out(self, line: str) -> None:
        print(line, file=self._stdout or sys.stdout, flush=True)
