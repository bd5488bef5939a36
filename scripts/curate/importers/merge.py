"""From entries to request packages: markers to platforms and Pythons, names checked, duplicates merged.

Pure: entries and skips in, packages and skips out; contradictions raise a ValidationError that names
both lines.

A marker becomes the package's ``platforms`` (``sys_platform``, ``platform_system``, ``os_name``) and
``python`` (``python_version``, ``python_full_version``), evaluated on the catalog's targets for the
request's Pythons; a marker that holds on every target is simply true, and only what the two cannot
express (``platform_machine`` on one architecture, an implementation) is noted as dropped. Pins that
differ by Python (a uv.lock or poetry.lock resolution fork: numpy 2.4.6 on 3.11, 2.5.5 on 3.12) become
one entry per fork, each with its own ``python``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from curate.errors import Problem, ValidationError
from curate.importers.model import Entry, Skip
from curate.names import NormalizedName, import_name_hint, is_valid, normalize
from curate.targets import OS_NAMES, OSName, Platform, marker_environment

PLATFORM_VARIABLES = frozenset({"sys_platform", "platform_system", "os_name"})
MARKER_VARIABLES = (
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "python_version",
    "sys_platform",
    "extra",
    "extras",
    "dependency_groups",
)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_DEFAULT_ARCH: dict[OSName, str] = {"linux": "x86_64", "windows": "AMD64", "macos": "arm64"}


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Package:
    """One package of the request, with where it came from."""

    name: NormalizedName
    spellings: tuple[str, ...]  # the names as written, when they differ from ``name``
    extras: tuple[str, ...]
    specifier: str
    platforms: tuple[OSName, ...] | None  # None = the request's platforms
    sources: tuple[str, ...]  # path:line of every entry merged into it
    via: tuple[str, ...]
    notes: tuple[str, ...]
    python: tuple[str, ...] | None = None  # None = the request's Python versions


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Selection:
    """The request's platforms and Python versions, and the catalog's platforms to evaluate markers on."""

    platforms: tuple[OSName, ...]
    python: tuple[str, ...]
    catalog_platforms: tuple[Platform, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class _Checked:
    entry: Entry
    name: NormalizedName
    oses: frozenset[OSName]
    notes: tuple[str, ...]
    pythons: frozenset[str] = frozenset()  # the request's Pythons on which its marker can hold


def marker_variables(marker: Marker) -> list[str]:
    """The environment variables a marker reads, in a fixed order."""
    bare = _QUOTED.sub(" ", str(marker))
    return [v for v in MARKER_VARIABLES if re.search(rf"\b{v}\b", bare)]


PYTHON_VARIABLES = frozenset({"python_version", "python_full_version"})


def marker_oses(entry: Entry, selection: Selection) -> tuple[frozenset[OSName], list[str]]:
    """The OSes on which the entry's marker can hold for some target, and the variables it drops.

    Raises InvalidMarker when the marker does not parse."""
    oses, _pythons, dropped = marker_scope(entry, selection)
    return oses, dropped


def marker_scope(entry: Entry, selection: Selection) -> tuple[frozenset[OSName], frozenset[str], list[str]]:
    """Where the entry's marker holds: the OSes, the request's Pythons, and the variables whose effect
    neither can express (dropped: the marker holds on some but not all of a platform's targets for
    another reason). A marker true on every target drops nothing.

    Raises InvalidMarker when the marker does not parse."""
    if not entry.marker:
        return frozenset(OS_NAMES), frozenset(selection.python), []
    marker = Marker(entry.marker)
    variables = marker_variables(marker)
    truth: dict[tuple[OSName, str, str], bool] = {}
    for os_name in OS_NAMES:
        arches = [p.arch for p in selection.catalog_platforms if p.os == os_name] or [_DEFAULT_ARCH[os_name]]
        for arch in arches:
            for py in selection.python:
                env: dict[str, str | frozenset[str]] = dict(marker_environment(os_name, arch, py))
                context = "metadata"
                if entry.lock_context is not None:
                    env["extras"], env["dependency_groups"] = entry.lock_context
                    del env["extra"]
                    context = "lock_file"
                try:
                    ok = marker.evaluate(env, context)  # type: ignore[arg-type]
                except (UndefinedComparison, UndefinedEnvironmentName, InvalidVersion, TypeError, ValueError):
                    ok = True  # cannot tell: keep the OS rather than lose the package
                truth[(os_name, arch, py)] = ok
    oses = frozenset(o for (o, _, _), ok in truth.items() if ok)
    wanted = set(selection.platforms) & oses or oses
    pythons = frozenset(py for (o, _, py), ok in truth.items() if ok and o in wanted)
    # exact when the marker holds on every target of the OSes and Pythons it maps to
    exact = all(ok for (o, _, py), ok in truth.items() if o in oses and py in pythons)
    selected = PLATFORM_VARIABLES | PYTHON_VARIABLES
    if entry.lock_context:
        selected |= {"extras", "dependency_groups"}
    dropped = (
        []
        if exact
        else [v for v in variables if v not in selected] or [v for v in variables if v in PYTHON_VARIABLES]
    )
    return oses, pythons, dropped


def _check(entry: Entry, selection: Selection, skips: list[Skip]) -> _Checked | None:
    def skip(reason: str) -> None:
        skips.append(Skip(path=entry.path, line=entry.line, entry=entry.text, reason=reason))

    if not is_valid(entry.name):
        skip(f"'{entry.name}' is not a valid distribution name")
        return None
    dist = import_name_hint(entry.name)
    if dist is not None:
        skip(f"'{entry.name}' is the import name; the distribution is '{dist}' (write {dist})")
        return None
    try:
        oses, pythons, dropped = marker_scope(entry, selection)
    except InvalidMarker as exc:
        skip(f"invalid environment marker: {' '.join(str(exc).split())}")
        return None
    if (
        not oses
        and entry.lock_context is not None
        and re.search(r"\b(extras|dependency_groups)\b", entry.marker)
    ):
        skip(
            f"the marker '{entry.marker}' is false for the selected extras and groups; select them with --extra / --group"
        )
        return None
    if not oses:
        skip(
            f"the marker '{entry.marker}' is never true on the catalog's targets "
            f"(CPython {', '.join(selection.python)} on {', '.join(OS_NAMES)})"
        )
        return None
    wanted = oses & set(selection.platforms)
    if not wanted:
        only = ", ".join(o for o in OS_NAMES if o in oses)
        flags = " ".join(f"--platform {o}" for o in OS_NAMES if o in oses)
        skip(f"only for {only} (marker '{entry.marker}'), which the request does not target; pass {flags}")
        return None
    notes = list(entry.dropped)
    if dropped:
        notes.append(f"marker dropped ({', '.join(dropped)}): {entry.marker}")
    return _Checked(entry, normalize(entry.name), frozenset(wanted), tuple(notes), pythons)


def satisfiable(spec: SpecifierSet) -> bool:
    """Whether some version satisfies ``spec`` (pre-releases included). Errs on the side of True."""
    specs = list(spec)
    if not specs or any(s.operator == "===" for s in specs):
        return True
    candidates: set[str] = {"0", "0.dev0", "99999999"}
    for s in specs:
        text = s.version
        if text.endswith(".*"):
            text = text[:-2]
        try:
            v = Version(text)
        except InvalidVersion:
            return True
        rel = list(v.release)
        bumped = [*rel[:-1], rel[-1] + 1]
        lowered = [*rel[:-1], rel[-1] - 1] if rel[-1] > 0 else rel
        base = ".".join(map(str, rel))
        candidates |= {
            str(v),
            text,
            base,
            base + ".1",
            base + ".0.1",
            ".".join(map(str, bumped)),
            ".".join(map(str, bumped)) + ".dev0",
            ".".join(map(str, lowered)),
            ".".join(map(str, lowered)) + ".1",
            base + ".post1",
            base + "a0",
        }
        if v.public != str(v):  # a local version: also the public one
            candidates.add(v.public)
    return any(spec.contains(c, prereleases=True) for c in candidates)


_LOWER = {">=": 0, ">": 1}
_UPPER = {"<": 0, "<=": 1}


def simplify(spec: SpecifierSet) -> str:
    """The same set of versions, written for people: redundant bounds dropped, lowest version first.

    Keeps the tightest lower bound (``>=``/``>``) and the tightest upper bound (``<``/``<=``); an exact
    ``==`` pin that satisfies everything else stands alone. Other specifiers are kept as they are.
    """
    specs = list(spec)
    exact = [s for s in specs if s.operator == "==" and "*" not in s.version]
    if len(exact) == 1 and spec.contains(exact[0].version, prereleases=True):
        return str(exact[0])
    lower = [s for s in specs if s.operator in _LOWER]
    upper = [s for s in specs if s.operator in _UPPER]
    rest = [s for s in specs if s.operator not in _LOWER and s.operator not in _UPPER]
    try:
        keep = rest[:]
        if lower:
            keep.append(max(lower, key=lambda s: (Version(s.version), _LOWER[s.operator])))
        if upper:
            keep.append(min(upper, key=lambda s: (Version(s.version), _UPPER[s.operator])))
        keep.sort(key=lambda s: (Version(s.version.removesuffix(".*")), s.operator not in _LOWER))
    except InvalidVersion:
        return str(spec)
    return ",".join(str(s) for s in keep)


def _spec(entry: Entry) -> SpecifierSet:
    try:
        return SpecifierSet(entry.specifier)
    except InvalidSpecifier:  # importers only produce valid ones
        return SpecifierSet()


def merge(entries: Iterable[Entry], selection: Selection) -> tuple[list[Package], list[Skip]]:
    """Check every entry and merge the ones that name the same project.

    Entries whose platforms overlap and whose specifiers contradict are an error naming both lines.
    """
    skips: list[Skip] = []
    by_name: dict[NormalizedName, list[_Checked]] = {}
    for entry in entries:
        checked = _check(entry, selection, skips)
        if checked is not None:
            by_name.setdefault(checked.name, []).append(checked)
    problems: list[Problem] = []
    packages: list[Package] = []
    for name in sorted(by_name):
        group = by_name[name]
        reqs = [c for c in group if not c.entry.constraint]
        if not reqs:
            for c in group:
                skips.append(
                    Skip(
                        path=c.entry.path,
                        line=c.entry.line,
                        entry=c.entry.text,
                        reason="a constraint (-c) that no requirement names; constraints never add packages",
                    )
                )
            continue
        conflict = _contradictions(group)
        if conflict:
            problems.extend(conflict)
            continue
        total = SpecifierSet()
        for c in group:
            total &= _spec(c.entry)
        if not satisfiable(total):
            forks = _forks(group, selection)
            if forks is not None:
                packages.extend(forks)
                continue
            detail = "; ".join(
                f"{c.entry.where}: {c.entry.specifier or 'any'} on {', '.join(o for o in OS_NAMES if o in c.oses)}"
                for c in group
            )
            for c in group:
                skips.append(
                    Skip(
                        path=c.entry.path,
                        line=c.entry.line,
                        entry=c.entry.text,
                        reason=(
                            f"different versions on different platforms ({detail}); a request has one "
                            "version range per package: add it by hand, or make one request per platform"
                        ),
                    )
                )
            continue
        packages.append(_package(name, group, reqs, total, selection))
    if problems:
        raise ValidationError(problems)
    return packages, skips


def _forks(group: Sequence[_Checked], selection: Selection) -> list[Package] | None:
    """One package per set of Pythons, when the entries pin different versions for different Pythons
    (a lock file's resolution forks); None when they do not split that way."""
    by_python: dict[frozenset[str], list[_Checked]] = {}
    for c in group:
        by_python.setdefault(c.pythons, []).append(c)
    keys = list(by_python)
    if len(keys) < 2 or any(a & b for i, a in enumerate(keys) for b in keys[:i]):
        return None
    out = []
    for pythons in sorted(keys, key=lambda k: sorted(k, key=_py_key)):
        members = by_python[pythons]
        reqs = [c for c in members if not c.entry.constraint]
        total = SpecifierSet()
        for c in members:
            total &= _spec(c.entry)
        if not reqs or not satisfiable(total):
            return None
        package = _package(members[0].name, members, reqs, total, selection)
        ordered = tuple(p for p in selection.python if p in pythons)
        out.append(dataclasses.replace(package, python=ordered))
    return out


def _py_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".") if x.isdigit())


def _contradictions(group: Sequence[_Checked]) -> list[Problem]:
    problems: list[Problem] = []
    for j, b in enumerate(group):
        for a in group[:j]:
            if not (a.oses & b.oses) or not (a.pythons & b.pythons):
                continue
            if satisfiable(_spec(a.entry) & _spec(b.entry)):
                continue
            kind = "constraint" if b.entry.constraint else "requirement"
            problems.append(
                Problem(
                    path=b.entry.path,
                    line=b.entry.line,
                    message=(
                        f"{kind} '{_flat(b.entry.text)}' contradicts '{_flat(a.entry.text)}' at {a.entry.where}: "
                        f"no version satisfies both '{b.entry.specifier}' and '{a.entry.specifier}'"
                    ),
                    hint="keep the one you mean and delete or fix the other",
                )
            )
            break
    return problems


def _flat(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 80 else flat[:77] + "..."


def _package(
    name: NormalizedName,
    group: Sequence[_Checked],
    reqs: Sequence[_Checked],
    total: SpecifierSet,
    selection: Selection,
) -> Package:
    oses: set[OSName] = set()
    for c in reqs:
        oses |= c.oses
    platforms = (
        None if oses >= set(selection.platforms) else tuple(o for o in selection.platforms if o in oses)
    )
    spellings: list[str] = []
    extras: set[str] = set()
    sources: list[str] = []
    via: list[str] = []
    notes: list[str] = []
    for c in group:
        if c.entry.name != name and c.entry.name not in spellings:
            spellings.append(c.entry.name)
        if c.entry.where not in sources:
            sources.append(c.entry.where)
        for v in c.entry.via:
            if v not in via:
                via.append(v)
        for n in c.notes:
            if n not in notes:
                notes.append(n)
    for c in reqs:
        extras |= set(c.entry.extras)
        if c.entry.specifier and not c.oses >= oses:  # say so: a range meant for one OS now binds all
            only = ", ".join(o for o in OS_NAMES if o in c.oses)
            note = (
                f"{c.entry.where} asked for '{c.entry.specifier}' only on {only}; a request has one version "
                "range per package, so it applies on every platform of this package here"
            )
            if note not in notes:
                notes.append(note)
    pythons: set[str] = set()
    for c in reqs:
        pythons |= c.pythons
    return Package(
        name=name,
        spellings=tuple(spellings),
        extras=tuple(sorted(extras)),
        specifier=simplify(total),
        platforms=platforms,
        sources=tuple(sources),
        via=tuple(via),
        notes=tuple(notes),
        python=None
        if pythons >= set(selection.python)
        else tuple(p for p in selection.python if p in pythons),
    )
