"""Importers: turn the requirements files people already have into change-request packages.

One module per format (:mod:`.requirements`, :mod:`.pipfile`, :mod:`.pyproject`, :mod:`.poetry_lock`,
:mod:`.uv_lock`, :mod:`.pylock`); :mod:`.detect` picks the format and :mod:`.merge` turns entries into
packages; :mod:`curate.authoring` writes the request. Reading never runs code from a file and never
touches the network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from curate.errors import Problem, ValidationError
from curate.importers.detect import detect
from curate.importers.merge import Package, Selection, merge
from curate.importers.model import Format, Options, Parsed, Skip
from curate.importers.pipfile import read_pipfile, read_pipfile_lock
from curate.importers.poetry_lock import read_poetry_lock
from curate.importers.pylock import read_pylock
from curate.importers.pyproject import read_pyproject
from curate.importers.requirements import read_requirements
from curate.importers.uv_lock import read_uv_lock
from curate.yamlio import SizeLimit, UnreadableFile, read_regular

__all__ = ["ImportResult", "Options", "Selection", "import_files"]

_READERS: dict[Format, Callable[[bytes, str, Options], Parsed]] = {
    "pipfile": read_pipfile,
    "pipfile-lock": read_pipfile_lock,
    "pyproject": read_pyproject,
    "poetry-lock": read_poetry_lock,
    "uv-lock": read_uv_lock,
    "pylock": read_pylock,
}


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ImportResult:
    packages: tuple[Package, ...]
    skips: tuple[Skip, ...]
    files: tuple[str, ...]  # every file read, includes too
    formats: tuple[tuple[str, Format], ...]  # each named file and its format
    python: tuple[str, ...] = ()  # the Python versions the files require (Pipfile's [requires])


def import_files(
    paths: Sequence[Path],
    *,
    options: Options,
    selection: Selection,
    display: Callable[[Path], str],
    fmt: Format | None = None,
    read: Callable[[Path], bytes] | None = None,
) -> ImportResult:
    """Read every file, merge what they ask for; raise ValidationError on unreadable files or contradictions."""
    read = read or read_input
    parsed = Parsed()
    formats: list[tuple[str, Format]] = []
    problems: list[Problem] = []
    for path in paths:
        shown = display(path)
        try:
            raw = read(path)
        except OSError as exc:
            problems.append(Problem(path=shown, message=f"cannot read file: {exc.strerror or exc}"))
            continue
        kind = fmt or detect(path.name, raw)
        formats.append((shown, kind))
        try:
            if kind == "requirements":
                got = read_requirements(path, read=read, display=display)
            else:
                got = _READERS[kind](raw, shown, options)
        except ValidationError as exc:
            problems.extend(exc.problems)
            continue
        parsed.extend(got)
    problems.extend(_unknown_selections(options, parsed))
    if problems:
        raise ValidationError(problems)
    packages, merge_skips = merge(parsed.entries, selection)
    return ImportResult(
        packages=tuple(packages),
        skips=tuple(_dedupe([*parsed.skips, *merge_skips])),
        files=tuple(parsed.files),
        formats=tuple(formats),
        python=tuple(parsed.python),
    )


INPUT_LIMIT = SizeLimit(max_bytes=32 * 1024 * 1024, hint="is this a requirements or lock file?")


def read_input(path: Path) -> bytes:
    """A file to import: regular (never a device or a FIFO, which would never end) and at most
    :data:`INPUT_LIMIT`; :class:`OSError` otherwise."""
    try:
        return read_regular(path, limit=INPUT_LIMIT)
    except UnreadableFile as exc:
        raise OSError(0, exc.strerror or f"{exc.message} ({exc.hint})") from None


def _unknown_selections(options: Options, parsed: Parsed) -> list[Problem]:
    from curate.validate import did_you_mean

    problems: list[Problem] = []
    for what, wanted, seen in (
        ("extra", options.extras, parsed.extras_seen),
        ("group", options.groups, parsed.groups_seen),
    ):
        for name in sorted(wanted - {"*"}):
            if name in seen or name.lower().replace("_", "-") in {s.lower().replace("_", "-") for s in seen}:
                continue
            if what == "group" and name == "dev" and options.develop:
                continue
            hint = did_you_mean(name, sorted(seen)) or (
                f"the files define: {', '.join(sorted(seen))}" if seen else f"the files define no {what}s"
            )
            problems.append(
                Problem(path="--" + what, message=f"no file defines the {what} '{name}'", hint=hint)
            )
    return problems


def _dedupe(skips: list[Skip]) -> list[Skip]:
    seen: set[Skip] = set()
    out: list[Skip] = []
    for s in skips:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out
