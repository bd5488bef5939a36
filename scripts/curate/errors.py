"""One exception hierarchy, and problems that carry their location.

Expected errors are :class:`CurateError` subclasses; the CLI prints them without a traceback and maps
them to exit codes. Validation collects :class:`Problem` records so that one run reports everything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path


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
        props = [f"file={_escape_property(self.path)}"]
        if self.line:
            props.append(f"line={self.line}")
        if self.col:
            props.append(f"col={self.col}")
        message = self.message + (f" (hint: {self.hint})" if self.hint else "")
        return f"::error {','.join(props)}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


class CurateError(Exception):
    """An error a user can cause and fix. Printed without a traceback; exit code 1.

    An error about the input carries its :class:`Problem` records, each on its file and line, to the
    very end: the CLI prints every one of them (in CI also as annotations), then :meth:`summary`.
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


def redact_credentials(text: str) -> str:
    """``https://user:token@host`` -> ``https://***@host`` (not ``git@host``): for whatever is printed,
    logged in CI or committed."""
    import re  # only on the error path

    return re.sub(r"(?<=://)(?!git@)[^/@\s]+@", "***@", text)


def error_annotation(message: str) -> str:
    """A GitHub Actions ``::error`` command for an error message.

    A message that starts with a repository-relative file (``requests/x.yaml: ...`` or
    ``requests/x.yaml:12: ...``, as lock errors do) becomes an annotation on that file (and line).
    """
    import re  # only on the error path

    m = re.match(
        r"(?P<path>[\w.-]+(?:/[\w.-]+)*\.(?:ya?ml|json|toml)):(?:(?P<line>\d+):)? (?P<rest>.+)", message, re.S
    )
    if m is None or m["path"].startswith(".."):
        return f"::error::{_escape_data(message)}"
    return Problem(path=m["path"], line=int(m["line"] or 0), message=m["rest"]).annotation()


def display_path(path: Path, root: Path | None = None) -> str:
    """A path as a user would type it: relative to ``root`` (default: cwd) when inside it."""
    base = root if root is not None else Path.cwd()
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)
