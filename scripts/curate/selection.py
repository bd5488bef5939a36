"""File selection: which of a version's upstream (or catalog) files each target can install.

A version's candidate files are its wheels and sdists; :func:`select_files` keeps exactly the wheels some
target needing the version can install (platform tags and Requires-Python), and the sdist only for the
targets no wheel serves, when the config allows sdists. What is left without a file is reported as
missing, and :func:`describe_upstream_files` says briefly what the upstream offers instead.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion

from curate.catalog import FileEntry
from curate.names import NormalizedName, normalize
from curate.targets import Target

if TYPE_CHECKING:  # kept out of start-up: `curate lock --check` never reads an index
    from curate.upstream import ListedFile


def file_version(filename: str) -> tuple[NormalizedName, str] | None:
    """The (normalized name, version) a wheel or sdist file name says, or None when it says none."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return normalize(name), str(version)


def python_ok(requires_python: str, target: Target) -> bool:
    """Whether a file's Requires-Python admits the target's Python (an unreadable one does)."""
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(f"{target.python}.0", prereleases=True)
    except InvalidSpecifier:
        return True


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class FileSelection:
    """The files kept for one version, and the targets they leave to the sdist or without a file."""

    files: tuple[FileEntry, ...]
    build_targets: tuple[str, ...]  # served by the sdist only
    missing: tuple[Target, ...]  # no wheel, and no sdist allowed (or none at all)


def select_files(
    candidates: Iterable[ListedFile | FileEntry],
    targets: Sequence[Target],
    *,
    allow_sdist: bool,
    sdist_beside_pure: bool = False,
) -> FileSelection:
    """Keep the files some target can install; the sdist only for targets without a wheel, if allowed
    (and, with ``sdist_beside_pure`` (``build.from_source: pure``), beside a pure-Python wheel too, for
    ``curate wheels`` to rebuild that wheel from it and compare)."""
    wheels = [f for f in candidates if f.filename.endswith(".whl")]
    sdists = [f for f in candidates if not f.filename.endswith(".whl")]
    served: dict[str, set[str]] = defaultdict(set)
    build: list[str] = []
    missing: list[Target] = []
    by_name = {f.filename: f for f in [*wheels, *sdists]}
    for target in targets:
        ok = [w for w in wheels if python_ok(w.requires_python, target) and target.accepts_wheel(w.filename)]
        for w in ok:
            served[w.filename].add(target.id)
        if ok:
            continue
        sdist = next(
            (s for s in sorted(sdists, key=lambda s: s.filename) if python_ok(s.requires_python, target)),
            None,
        )
        if allow_sdist and sdist is not None:
            served[sdist.filename].add(target.id)
            build.append(target.id)
        else:
            missing.append(target)
    if sdist_beside_pure:
        pure = [w for w in wheels if w.filename in served and _pure(w.filename)]
        sdist = min(sdists, key=lambda s: s.filename, default=None)
        if pure and sdist is not None:
            served[sdist.filename] |= {t for w in pure for t in served[w.filename]}
    files = tuple(
        FileEntry(
            filename=f.filename,
            sha256=f.sha256,
            size=f.size,
            upload_time=f.upload_time,
            requires_python=f.requires_python,
            yanked=f.yanked,
            targets=tuple(sorted(served[name])),
        )
        for name, f in sorted(by_name.items())
        if name in served
    )
    return FileSelection(files=files, build_targets=tuple(sorted(build)), missing=tuple(missing))


def _pure(filename: str) -> bool:
    return all(t.abi == "none" and t.platform == "any" for t in parse_wheel_filename(filename)[3])


def describe_upstream_files(filenames: Sequence[str], most: int = 8) -> str:
    """What the upstream does offer, briefly: the wheels' platform tags and whether there is an sdist."""
    if not filenames:
        return "the upstream lists no files"
    platforms = sorted(
        {t.platform for f in filenames if f.endswith(".whl") for t in parse_wheel_filename(f)[3]}
    )
    sdist = any(not f.endswith(".whl") for f in filenames)
    if not platforms:
        return "the upstream has only an sdist" if sdist else "the upstream lists no wheels"
    shown = ", ".join(platforms[:most]) + (
        f" and {len(platforms) - most} more" if len(platforms) > most else ""
    )
    return f"the upstream's wheels are for {shown}" + ("; it also has an sdist" if sdist else "; no sdist")
