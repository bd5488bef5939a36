"""Per request x target environments: the exact set a request was resolved and vetted as, installable.

Every request is resolved on its own for each of its targets, and the catalog records which version each
target takes (``needed_by`` of every version: the request and its targets). :func:`plan` turns that back
into one :class:`Environment` per request and target: every package the request needs there, at the
version it needs now (a superseded version, needed by no request, is in no environment), with the one
file that target installs among those the index serves (the wheel its tags prefer; the sdist where the
lock allowed one; a wheel ``curate wheels`` built from that sdist, or under ``build.serve: built`` in an
upstream wheel's place, exactly where and while :func:`curate.index.served_files` serves it: the same
rule, with the same check that the cache holds its recorded bytes). An
environment is *ready* only when the index serves every version in it (:func:`curate.index.unserved`:
vetted as exactly these bytes, under the config's policy, not blocked, no waiver it relies on expired),
so a lock never names a file the index leaves out: otherwise it has no files and
:attr:`Environment.blockers` says why.

Three files describe a ready environment (:class:`EnvRenderer`):

- ``pylock.toml`` (PEP 751): each package with its version, its one file (name, upload time, size,
  sha256, URL) and the catalog's index, ``requires-python`` and ``environments`` (markers) for the
  target. Written as ``tomli_w`` writes it (the package entries by :mod:`curate.tomltext`: the same
  text, faster) and validated with :mod:`packaging.pylock` piece by piece: each
  distinct package entry once (``Pylock.from_dict`` on a lock holding only it), each header once per
  file; packaging checks a lock package by package, so the pieces are valid exactly when the whole is.
  ``curate env`` validates the whole file again before writing it.
- ``requirements.txt``: ``name==version`` with one ``--hash`` per line and no index, for
  ``pip install --require-hashes --no-deps --index-url ... -r`` (and pip-tools' ``pip-sync``).
- ``sbom.cdx.json``: a CycloneDX SBOM, see :mod:`curate.sbom`.

File URLs: uv and pip read ``url`` only as an absolute URL (a relative one is an error in both), so a
lock names the catalog's own file under ``site.base_url`` (mirror mode), ``files.base_url`` (link mode),
or where the upstream serves it (link mode without ``files.base_url``: the URL the index links).
``curate env --base-url`` writes the same lock for another base (a reverse proxy that serves the same
tree under another host), ``--index-url`` for a repository manager or caching proxy of the index
(Nexus, Artifactory, devpi, proxpi), looking each file up on its project pages by name and sha256.

Everything here is pure: data in, records and text out. :func:`write_environments` is the IO.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
import hashlib
import importlib.metadata
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import quote

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from curate import __version__
from curate.catalog import BuiltFile, FileEntry, Project, VersionEntry
from curate.config import Config
from curate.errors import CurateError
from curate.index import BUILT_LEFT_OUT, BuiltCheck, served_files, unserved
from curate.names import NormalizedName
from curate.reuse import code_digest
from curate.targets import OS_LABELS, Target
from curate.vetting import Finding

if TYPE_CHECKING:
    from curate.requests import Request
    from curate.reuse import LinkReuse

ENVS_DIR = "envs"  # public/envs/<request>/<target>/<file>
API_DIR = "api/requests"  # public/api/requests/index.json and <request>.json
Format = Literal["pylock", "requirements", "cyclonedx"]
FORMATS: tuple[Format, ...] = get_args(Format)
FILENAMES: dict[Format, str] = {
    "pylock": "pylock.toml",
    "requirements": "requirements.txt",
    "cyclonedx": "sbom.cdx.json",
}
FORMAT_LABELS: dict[Format, str] = {
    "pylock": "pylock.toml (PEP 751)",
    "requirements": "requirements.txt with hashes",
    "cyclonedx": "SBOM (CycloneDX JSON)",
}

Status = Literal["ready", "blocked", "unavailable"]
BlockerKind = Literal[
    "blocked",
    "waiver-expired",
    "unvetted-bytes",
    "left-out",
    "not-vetted",
    "no-file",
    "conflict",
    "not-locked",
]
_BLOCKING: frozenset[BlockerKind] = frozenset({"blocked", "waiver-expired", "unvetted-bytes"})


class EnvironmentUnavailable(CurateError):
    """A request has no environment file for a target (blocked by vetting, not vetted, not locked)."""


# -- the records ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Blocker:
    """Why an environment has no files: one version (or the whole target) and what stops it."""

    kind: BlockerKind
    project: str = ""  # display name; "" when it concerns the whole target
    normalized: str = ""
    version: str = ""
    filename: str = ""
    findings: tuple[Finding, ...] = ()  # the findings that block it (kinds "blocked", "waiver-expired")
    versions: tuple[str, ...] = ()  # kind "conflict": the versions needed at once
    detail: str = ""  # kind "left-out": why the index leaves the version out (curate.index.unserved)

    @property
    def found(self) -> str:
        """The findings that block it, each once: its kind, its id when that is not the kind (an
        advisory's), and its message: ``vulnerability GHSA-...: ...; license-denied: licence ...``."""
        return "; ".join(
            (f.kind if f.id == f.kind else f"{f.kind} {f.id}") + (f": {f.message}" if f.message else "")
            for f in self.findings
        )

    @property
    def message(self) -> str:
        what = f"{self.project} {self.version}"
        if self.kind == "blocked":
            found = self.found
            return f"{what} is blocked by vetting" + (f" ({found})" if found else "")
        if self.kind == "waiver-expired":
            expired = ", ".join(
                f"{f.id} (expired {f.waiver.expires.isoformat()})"
                for f in self.findings
                if f.waiver is not None
            )
            return f"{what}: a waiver it relies on expired: {expired} (renew it or upgrade, then: curate vet)"
        if self.kind == "unvetted-bytes":
            return f"{what}: {self.filename} is not the file vetting covered (run: curate vet)"
        if self.kind == "left-out":
            return f"{what} is not served by the index: {self.detail}"
        if self.kind == "not-vetted":
            return f"{what} is not vetted yet (run: curate vet)"
        if self.kind == "no-file":
            return f"{what} has no file for this target"
        if self.kind == "conflict":
            return f"{self.project}: versions {', '.join(self.versions)} are all needed on this target"
        return "nothing is locked for this target (run: curate lock)"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class EnvPackage:
    """One package of an environment: the version the request needs on the target, and the one file."""

    project: Project
    normalized: NormalizedName  # the project's
    version: VersionEntry
    file: FileEntry
    direct: bool  # the request asks for it by name
    dependencies: tuple[NormalizedName, ...]  # its dependencies on this target (all in the environment)
    built: BuiltFile | None = None  # the wheel curate wheels built that ``file`` is (None: an upstream file)

    @property
    def name(self) -> str:
        return self.project.name


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Environment:
    """One request on one target."""

    request: str  # the request's id
    target: Target
    packages: tuple[EnvPackage, ...]  # sorted by normalized name; () unless ready
    blockers: tuple[Blocker, ...]  # () when ready

    @property
    def status(self) -> Status:
        if not self.blockers:
            return "ready"
        return "blocked" if any(b.kind in _BLOCKING for b in self.blockers) else "unavailable"

    @property
    def ready(self) -> bool:
        return not self.blockers

    @property
    def folder(self) -> str:
        """Where its files live under public/."""
        return f"{ENVS_DIR}/{self.request}/{self.target.id}"

    def path(self, fmt: Format) -> str:
        return f"{self.folder}/{FILENAMES[fmt]}"

    @property
    def reason(self) -> str:
        """Why there are no files, in one paragraph ("" when ready)."""
        if not self.blockers:
            return ""
        if self.status != "blocked":
            return "not available: " + "; ".join(b.message for b in self.blockers)
        # under that head, a version vetting blocks is named with its findings, not said blocked again
        return "blocked by vetting: " + "; ".join(
            (f"{b.project} {b.version}" + (f" ({b.found})" if b.findings else ""))
            if b.kind == "blocked"
            else b.message
            for b in self.blockers
        )


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RequestEnvironments:
    """Every environment of one request, in the config's target order."""

    request: Request
    environments: tuple[Environment, ...]

    @property
    def id(self) -> str:
        return self.request.id

    def get(self, target_id: str) -> Environment | None:
        return next((e for e in self.environments if e.target.id == target_id), None)


# -- planning (pure) --------------------------------------------------------------------------------------


def request_targets(request: Request, config: Config) -> list[Target]:
    """The targets some package of the request is resolved for, in the config's order."""
    wanted = {t.id for spec in request.packages for t in request.package_targets(spec, config)}
    return [t for t in config.all_targets() if t.id in wanted]


class _TagOrder:
    """How much each target prefers each wheel tag (its installer's order); computed once per target."""

    def __init__(self) -> None:
        self._orders: dict[str, dict[Any, int]] = {}
        self._ranks: dict[str, dict[str, int]] = {}  # by target id, then filename
        self._tags: dict[str, frozenset[Any] | None] = {}  # a wheel's tags by its name (None: not one)

    def rank(self, target: Target, filename: str) -> int:
        tid = target.id
        ranks = self._ranks.get(tid)
        if ranks is None:
            ranks = self._ranks[tid] = {}
        found = ranks.get(filename)
        if found is not None:
            return found
        order = self._orders.get(tid)
        if order is None:
            order = self._orders[tid] = {tag: i for i, tag in enumerate(target.tags())}
        if filename in self._tags:
            tags = self._tags[filename]
        else:
            try:
                tags = self._tags[filename] = parse_wheel_filename(filename)[3]
            except InvalidWheelFilename:
                tags = self._tags[filename] = None
        if tags is None:
            found = len(order)
        else:
            found = min((order.get(t, len(order)) for t in tags), default=len(order))
        ranks[filename] = found
        return found


def installed_file(version: VersionEntry, target: Target, order: _TagOrder | None = None) -> FileEntry | None:
    """The upstream file ``target`` installs of ``version``: among its files for that target, the wheel
    whose tags its installer prefers (then by name), else the sdist; None when it has none for it."""
    return _pick(version.files, target, order or _TagOrder())


def _pick(files: Iterable[FileEntry], target: Target, order: _TagOrder) -> FileEntry | None:
    tid = target.id
    candidates = [f for f in files if tid in f.targets]
    wheels = [f for f in candidates if f.is_wheel]
    if len(wheels) == 1:  # the usual case: nothing to rank
        return wheels[0]
    if wheels:
        return min(wheels, key=lambda f: (order.rank(target, f.filename), f.filename))
    sdists = sorted((f for f in candidates if not f.is_wheel), key=lambda f: f.filename)
    return sdists[0] if sdists else None


def _served_choice(
    version: VersionEntry, target: Target, order: _TagOrder, config: Config, built: BuiltCheck | None
) -> tuple[FileEntry, BuiltFile | None] | None:
    """Of a served version, the file ``target`` installs among those the index serves of it
    (:func:`curate.index.served_files`: a wheel ``curate wheels`` built, while the cache holds its bytes,
    beside the sdist or, under ``build.serve: built``, in its upstream twin's place); None when none."""
    files, _ = served_files(version, config, built)
    chosen = _pick((f for f, _ in files), target, order)
    if chosen is None:
        return None
    return chosen, next(b for f, b in files if f is chosen)


def built_left_out(
    version: VersionEntry, target: Target, config: Config, built: BuiltCheck | None
) -> list[str]:
    """Why each wheel ``curate wheels`` built of ``version`` for ``target`` is not served (so an
    environment names another file of the version): its bytes not in the cache, link mode, ..."""
    _, why = served_files(version, config, built)
    mine = [b.filename for b in version.built if target.id in b.targets]
    return [w for w in why if any(w.startswith(f"{BUILT_LEFT_OUT}{name} ") for name in mine)]


def _check(
    project: Project,
    version: VersionEntry,
    target: Target,
    order: _TagOrder,
    config: Config,
    today: dt.date,
    built: BuiltCheck | None,
    left_out: Callable[[VersionEntry], str | None] | None = None,
) -> _Checked:
    """The file to install (and the built wheel it is, if one), or why there is none: the index must
    serve the version (vetting passed or warned on exactly its files' bytes, under the config's policy,
    with no waiver it relies on expired by ``today``), the upstream file must be one vetting covered,
    and the file is the one the index serves for the target (a wheel built from its sdist included:
    ``built`` checks that the cache holds its bytes, as the index does)."""

    def blocker(kind: BlockerKind, **more: Any) -> Blocker:
        return Blocker(
            kind=kind, project=project.name, normalized=project.normalized, version=version.version, **more
        )

    record = version.vetting
    if record is not None and record.blocked:
        return blocker("blocked", findings=tuple(f for f in record.findings if f.decision == "block"))
    chosen = installed_file(version, target, order)
    if chosen is None and not any(target.id in b.targets for b in version.built):
        return blocker("no-file")
    if record is None:
        return blocker("not-vetted")
    if chosen is not None:
        evidence = record.evidence(chosen.filename)
        if evidence is None or (evidence.sha256 is not None and evidence.sha256 != chosen.sha256):
            return blocker("unvetted-bytes", filename=chosen.filename)
    expired = tuple(
        f
        for f in record.findings
        if f.decision == "waived" and f.waiver is not None and f.waiver.expires < today
    )
    if expired:
        return blocker("waiver-expired", findings=expired)
    # what else the index leaves out (policy, other files); ``left_out``: the same, remembered
    why = left_out(version) if left_out is not None else unserved(version, config.vetting, today)
    if why is not None:
        return blocker("left-out", detail=why)
    if not version.built and chosen is not None:
        return chosen, None
    served = _served_choice(version, target, order, config, built)
    return served if served is not None else blocker("no-file")


def plan(
    projects: Mapping[NormalizedName, Project],
    requests: Iterable[Request],
    config: Config,
    *,
    today: dt.date | None = None,
    built: BuiltCheck | None = None,
) -> dict[str, RequestEnvironments]:
    """Every request's environments, from what the catalog records each request needs on each target;
    ``today``: what waivers' expiry is compared with, as the index does (default: today); ``built``:
    why a wheel ``curate wheels`` built cannot be served (the index's check: the cache must hold its
    bytes; :meth:`curate.index.Blobs.built_check`), None: no cache, so no built wheel is served."""
    day = today if today is not None else dt.date.today()
    if built is not None:
        built = _remembered(built)
    # what each request needs on each target (by request, then target): the projects taken in name
    # order, so each list is in name order, with the versions of one project next to each other
    needs: dict[str, dict[str, list[_Entry]]] = {}
    for name in sorted(projects):
        project = projects[name]
        for version in project.versions:
            asked: _Entry | None = None  # one entry per version and direct flag (the needs share it)
            pulled: _Entry | None = None
            for need in version.needed_by:
                if need.to_build:  # needed only to build an sdist (curate.builddeps): not installed
                    continue
                if need.direct:
                    entry = asked = asked or (name, project, version, need.direct)
                else:
                    entry = pulled = pulled or (name, project, version, need.direct)
                by_target = needs.get(need.request)
                if by_target is None:
                    by_target = needs[need.request] = {}
                for target_id in need.targets:
                    found = by_target.get(target_id)
                    if found is None:
                        by_target[target_id] = [entry]
                    else:
                        found.append(entry)
    planner = _Planner(config, day, built)
    nothing: dict[str, list[_Entry]] = {}
    # the targets of each request, by what Request.package_targets reads (the request's and each
    # package's platforms and python): most requests share them
    targets: dict[tuple[Any, ...], list[Target]] = {}
    out: dict[str, RequestEnvironments] = {}
    for request in sorted(requests, key=lambda r: r.id):
        key = (request.platforms, request.python, *((p.platforms, p.python) for p in request.packages))
        mine = targets.get(key)
        if mine is None:
            mine = targets[key] = request_targets(request, config)
        by_target = needs.get(request.id, nothing)
        envs = tuple(planner.environment(request.id, target, by_target.get(target.id, [])) for target in mine)
        out[request.id] = RequestEnvironments(request=request, environments=envs)
    return out


_Entry = tuple[NormalizedName, Project, VersionEntry, bool]  # (name, project, version, direct)
_Checked = Blocker | tuple[FileEntry, BuiltFile | None]


def _remembered(check: BuiltCheck) -> BuiltCheck:
    """``check`` asked once per built wheel (it looks at the cache; a wheel recurs in many environments)."""
    answers: dict[tuple[str, str], str | None] = {}

    def remembered(b: BuiltFile) -> str | None:
        key = (b.filename, b.sha256)
        if key not in answers:
            answers[key] = check(b)
        return answers[key]

    return remembered


class _Choice:
    """What :func:`_check` found for a version on one target when it passes: the file (and the built
    wheel it is), the version's dependencies on the target (sorted), and the package made of it for each
    ``direct`` (not asked for by name, asked for) where all of them are in the environment (``whole``)
    and where none is (``alone``): the common cases, made once and then looked up."""

    __slots__ = ("alone", "alone_direct", "depends", "file", "wheel", "whole", "whole_direct")

    def __init__(self, file: FileEntry, wheel: BuiltFile | None, depends: tuple[NormalizedName, ...]) -> None:
        self.file = file
        self.wheel = wheel
        self.depends = depends
        self.alone: EnvPackage | None = None
        self.alone_direct: EnvPackage | None = None
        self.whole: EnvPackage | None = None
        self.whole_direct: EnvPackage | None = None


class _Planner:
    """The environments of one plan: each version checked once per target (a version recurs in many
    requests), the index's :func:`curate.index.unserved` once per version, and each package made once
    and shared by every environment where it is the same (they are immutable)."""

    def __init__(self, config: Config, today: dt.date, built: BuiltCheck | None) -> None:
        self.config = config
        self.today = today
        self.built = built
        self.order = _TagOrder()
        # the versions live in ``projects``, the files and wheels in the choices, for the whole plan: their
        # ids stay theirs
        self._checked: dict[str, dict[int, Blocker | _Choice]] = {}  # by target id, then version id
        self._why: dict[int, str | None] = {}
        self._made: dict[tuple[int, int, int, bool, tuple[NormalizedName, ...]], EnvPackage] = {}

    def _left_out(self, version: VersionEntry) -> str | None:
        """:func:`curate.index.unserved`, once per version (it does not depend on the target)."""
        key = id(version)
        if key not in self._why:
            self._why[key] = unserved(version, self.config.vetting, self.today)
        return self._why[key]

    def _verdict(
        self,
        checked: dict[int, Blocker | _Choice],
        project: Project,
        version: VersionEntry,
        target: Target,
        tid: str,
    ) -> Blocker | _Choice:
        """:meth:`_check_on`, once per version and target (``checked``: the target's, by version id)."""
        found = checked.get(id(version))
        if found is None:
            found = checked[id(version)] = self._check_on(project, version, target, tid)
        return found

    def _check_on(
        self, project: Project, version: VersionEntry, target: Target, tid: str
    ) -> Blocker | _Choice:
        found = _check(
            project, version, target, self.order, self.config, self.today, self.built, self._left_out
        )
        if isinstance(found, Blocker):
            return found
        depends: tuple[NormalizedName, ...] = ()
        if version.dependencies:
            depends = tuple(sorted(d.name for d in version.dependencies if tid in d.targets))
        return _Choice(found[0], found[1], depends)

    def _package(self, entry: _Entry, choice: _Choice, depends: tuple[NormalizedName, ...]) -> EnvPackage:
        """One package of an environment (its dependencies: those on the target that are in it), made
        once and shared by every environment where it is the same."""
        name, project, version, direct = entry
        same = (id(version), id(choice.file), id(choice.wheel), direct, depends)
        found = self._made.get(same)
        if found is None:
            found = self._made[same] = EnvPackage(
                project=project,
                normalized=name,
                version=version,
                file=choice.file,
                built=choice.wheel,
                direct=direct,
                dependencies=depends,
            )
        return found

    def environment(self, request_id: str, target: Target, entries: Sequence[_Entry]) -> Environment:
        """One request on one target, from what it needs there (``entries``: in name order, the versions
        of one project next to each other)."""
        if not entries:
            return Environment(
                request=request_id, target=target, packages=(), blockers=(Blocker(kind="not-locked"),)
            )
        tid = target.id
        names = {e[0] for e in entries}
        if len(names) < len(entries):  # a project needed twice: at one version, or at several
            merged = _merged(entries)
            if any(len(found) > 1 for found in merged):
                return self._conflicting(request_id, target, merged)
            entries = [found[0] for found in merged]
        checked = self._checked.setdefault(tid, {})
        blockers: list[Blocker] = []
        packages: list[EnvPackage] = []
        for entry in entries:
            found = self._verdict(checked, entry[1], entry[2], target, tid)
            if isinstance(found, Blocker):
                blockers.append(found)
                continue
            if blockers:  # the environment has no packages: only its blockers matter now
                continue
            depends = found.depends
            if names.isdisjoint(depends):  # none of its dependencies is in the environment (or it has none)
                if entry[3]:
                    package = found.alone_direct or self._package(entry, found, ())
                    found.alone_direct = package
                else:
                    package = found.alone or self._package(entry, found, ())
                    found.alone = package
            elif names.issuperset(depends):  # all of them are
                if entry[3]:
                    package = found.whole_direct or self._package(entry, found, depends)
                    found.whole_direct = package
                else:
                    package = found.whole or self._package(entry, found, depends)
                    found.whole = package
            else:
                package = self._package(entry, found, tuple(d for d in depends if d in names))
            packages.append(package)
        if blockers:
            return Environment(request=request_id, target=target, packages=(), blockers=tuple(blockers))
        return Environment(request=request_id, target=target, packages=tuple(packages), blockers=())

    def _conflicting(
        self, request_id: str, target: Target, merged: Sequence[Sequence[_Entry]]
    ) -> Environment:
        """An environment where some project is needed at several versions: blocked by each such
        conflict and by what stops each other version, in name order."""
        blockers: list[Blocker] = []
        tid = target.id
        checked = self._checked.setdefault(tid, {})
        for found in merged:
            name, project, version, _ = found[0]
            if len(found) > 1:
                versions = tuple(sorted(e[2].version for e in found))
                blockers.append(
                    Blocker(kind="conflict", project=project.name, normalized=name, versions=versions)
                )
                continue
            result = self._verdict(checked, project, version, target, tid)
            if isinstance(result, Blocker):
                blockers.append(result)
        return Environment(request=request_id, target=target, packages=(), blockers=tuple(blockers))


def _merged(entries: Sequence[_Entry]) -> list[list[_Entry]]:
    """``entries`` by project, in name order: the same version needed twice (two needs) is one entry,
    asked for by name if either need asks; several versions of one project are a conflict."""
    by_project: dict[NormalizedName, list[_Entry]] = {}
    for entry in entries:
        found = by_project.get(entry[0])
        if found is None:
            by_project[entry[0]] = [entry]
            continue
        same = next((i for i, e in enumerate(found) if e[2] is entry[2]), None)
        if same is None:
            found.append(entry)
        else:
            old = found[same]
            found[same] = (old[0], old[1], old[2], old[3] or entry[3])
    return [by_project[name] for name in sorted(by_project)]


# -- where files are fetched from ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Locations:
    """Where an environment's files are downloaded from, and the index that lists them.

    ``by_sha256`` (when given) is authoritative: the URL each file has on an index that re-homes files
    (link mode without ``files.base_url``, a repository manager's proxy); otherwise the URL follows the
    catalog's layout under ``base_url`` (mirror mode) or ``files_base_url`` (link mode).
    """

    index: str  # the PEP 503 index URL, ending in "/"
    base_url: str  # where public/ is served, ending in "/"
    files_base_url: str | None = None
    by_sha256: Mapping[str, str] | None = None

    @classmethod
    def of(cls, config: Config, *, base_url: str | None = None) -> Locations:
        base = base_url or config.base_url
        base = base if base.endswith("/") else base + "/"
        files_base = None
        if config.files_mode == "link":
            files_base = config.files_base_url or None
            if files_base is not None and not files_base.endswith("/"):
                files_base += "/"
        return cls(index=base + "simple/", base_url=base, files_base_url=files_base)

    def url(self, normalized: str, f: FileEntry) -> str:
        if self.by_sha256 is not None:
            try:
                return self.by_sha256[f.sha256]
            except KeyError:
                raise EnvironmentUnavailable(
                    f"{f.filename} (sha256 {f.sha256[:12]}...) is not listed on {self.index}"
                ) from None
        if self.files_base_url is not None:
            return f"{self.files_base_url}{normalized}/{quote(f.filename)}"
        return f"{self.base_url}files/{normalized}/{quote(f.filename)}"


def mirror_locations(config: Config, *, base_url: str | None = None) -> Locations:
    """The catalog's own locations; link mode without ``files.base_url`` needs URLs looked up instead
    (:class:`EnvironmentUnavailable` says so)."""
    loc = Locations.of(config, base_url=base_url)
    if config.files_mode == "link" and loc.files_base_url is None:
        raise EnvironmentUnavailable(
            "link mode without files.base_url: the files are where the upstream serves them, and the catalog "
            "records no URL; pass --index-url (the catalog's index, or a proxy of it) to look them up"
        )
    return loc


# -- rendering (pure, cached: the same package entry recurs in many environments) --------------------------


def _upload_time(value: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def _specifier(value: str) -> str | None:
    if not value:
        return None
    try:
        return str(SpecifierSet(value))
    except InvalidSpecifier:
        return None


def environment_marker(target: Target) -> str:
    """The PEP 508 marker an interpreter of ``target`` satisfies (``environments`` of a pylock)."""
    from packaging.markers import Marker

    env = target.marker_environment()
    return str(
        Marker(
            f"sys_platform == {json.dumps(env['sys_platform'])}"
            f" and platform_machine == {json.dumps(env['platform_machine'])}"
            f" and implementation_name == {json.dumps(env['implementation_name'])}"
            f" and python_version == {json.dumps(env['python_version'])}"
        )
    )


def target_label(target: Target) -> str:
    """``Linux x86_64, CPython 3.12``."""
    return f"{OS_LABELS[target.os]} {target.platform.arch}, CPython {target.python}"


class EnvRenderer:
    """Renders environments' files for one catalog and one set of :class:`Locations`; caches what recurs.

    ``site_url``: where the catalog's pages are (the request's page is named in each file).
    """

    def __init__(self, config: Config, locations: Locations, *, cache: Path | None = None) -> None:
        self.config = config
        self.locations = locations
        self.cache = cache  # curate's file cache: the SBOMs' components are kept there between builds
        self._pylock_entries: dict[tuple[Any, ...], str] = {}
        self._pylock_by_package: dict[int, tuple[EnvPackage, str]] = {}
        self._pylock_store = _TextStore(pylock_store(cache) if cache is not None else None)
        self._requirement_lines: dict[tuple[str, str, str], str] = {}
        self._headers: dict[str, str] = {}
        self._toml_lines: dict[tuple[str, str], str] = {}
        self._urls: dict[tuple[str, str, str], str] = {}
        # a package's api/requests/ JSON by the identity of the package (kept alive here): the plan shares
        # one between the environments where it is the same
        self._api_packages: dict[int, tuple[EnvPackage, str]] = {}
        self._sbom: Any = None  # curate.sbom.SbomRenderer, made when first asked (cyclonedx is heavy)

    def request_page(self, request_id: str) -> str:
        return f"{self.locations.base_url}requests/{request_id}/"

    def url(self, normalized: str, f: FileEntry) -> str:
        """:meth:`Locations.url`, once per file (a file recurs in many environments)."""
        key = (normalized, f.filename, f.sha256)
        found = self._urls.get(key)
        if found is None:
            found = self._urls[key] = self.locations.url(normalized, f)
        return found

    def api_package_json(self, p: EnvPackage) -> str:
        """A package's JSON in ``api/requests/`` (:func:`api_request`), made once per build."""
        found = self._api_packages.get(id(p))
        if found is None:
            found = self._api_packages[id(p)] = (p, _json(_api_package(self, p)))
        return found[1]

    def render(self, env: Environment, fmt: Format, request: Request) -> str:
        if not env.ready:
            raise EnvironmentUnavailable(
                f"{env.request} has no environment for {env.target.id}: {env.reason}"
            )
        if fmt == "pylock":
            return self.pylock(env)
        if fmt == "requirements":
            return self.requirements(env)
        return self.cyclonedx(env, request)

    # pylock.toml ----------------------------------------------------------------------------------------

    def pylock(self, env: Environment) -> str:

        parts = [self._pylock_header(env.target)]
        parts.extend(self._pylock_entry(p) for p in env.packages)
        if not env.packages:
            parts.append("packages = []\n")
        # tomli_w.dumps({"tool": {"curate": {"request": ..., "target": ..., "page": ...}}}): the table's
        # header, then each key's line as tomli_w writes it alone (made once per value)
        parts.append(
            "[tool.curate]\n"
            + self._toml_line("request", env.request)
            + self._toml_line("target", env.target.id)
            + self._toml_line("page", self.request_page(env.request))
        )
        head = (
            f"# The environment of request {env.request} on {env.target.id} ({target_label(env.target)}),\n"
            "# as the catalog vetted it: every package at the version the request needs, with the one file\n"
            "# this target installs and its sha256. Install it into a virtual environment of that Python:\n"
            "#   uv pip install -r pylock.toml      or, with pip 26.3 or later:      pip install -r pylock.toml\n"
        )
        return head + "\n".join(parts)

    def _toml_line(self, key: str, value: str) -> str:
        found = self._toml_lines.get((key, value))
        if found is None:
            from curate.tomltext import dumps

            found = self._toml_lines[(key, value)] = dumps({key: value})
        return found

    def _pylock_header(self, target: Target) -> str:
        cached = self._headers.get(target.id)
        if cached is None:
            import tomli_w
            from packaging.pylock import Pylock

            header = {
                "lock-version": "1.0",
                "environments": [environment_marker(target)],
                "requires-python": f"=={target.python}.*",
                "created-by": "curate",
            }
            Pylock.from_dict({**header, "packages": []})
            cached = self._headers[target.id] = tomli_w.dumps(header)
        return cached

    def pylock_entry_dict(self, pkg: EnvPackage) -> dict[str, Any]:
        f = pkg.file
        archive: dict[str, Any] = {"name": f.filename}
        when = _upload_time(f.upload_time)
        if when is not None:
            archive["upload-time"] = when
        archive["url"] = self.url(pkg.normalized, f)
        archive["size"] = f.size
        archive["hashes"] = {"sha256": f.sha256}
        entry: dict[str, Any] = {"name": pkg.normalized, "version": pkg.version.version}
        requires_python = _specifier(pkg.version.requires_python)
        if requires_python:
            entry["requires-python"] = requires_python
        if pkg.dependencies:
            entry["dependencies"] = [{"name": d} for d in pkg.dependencies]
        entry["index"] = self.locations.index
        if f.is_wheel:
            entry["wheels"] = [archive]
        else:
            entry["sdist"] = archive
        return entry

    def _pylock_entry(self, pkg: EnvPackage) -> str:
        """The package's entry, once per package object (the plan shares one between the environments
        where it is the same; kept alive here) and once per distinct entry."""
        seen = self._pylock_by_package.get(id(pkg))
        if seen is not None:
            return seen[1]
        text = self._pylock_entry_text(pkg)
        self._pylock_by_package[id(pkg)] = (pkg, text)
        return text

    def _pylock_entry_text(self, pkg: EnvPackage) -> str:
        key = (pkg.normalized, pkg.version.version, pkg.file.filename, pkg.file.sha256, pkg.dependencies)
        cached = self._pylock_entries.get(key)
        if cached is None:
            from packaging.pylock import Pylock, PylockValidationError

            from curate.tomltext import pylock_package

            entry = self.pylock_entry_dict(pkg)
            digest = hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode()).hexdigest()
            text = pylock_package(entry)  # tomli_w.dumps({"packages": [entry]}) (tests/test_tomltext.py)
            # the cache (CI's, restored) is not trusted with what the lock says: its text is used only
            # when it is the entry's own, byte for byte (writing it costs about what reading it back
            # would); what it saves is the validation
            if self._pylock_store.get(digest) != text:  # new (or not the entry's): validated, then kept
                try:
                    Pylock.from_dict({"lock-version": "1.0", "created-by": "curate", "packages": [entry]})
                except PylockValidationError as exc:
                    raise EnvironmentUnavailable(
                        f"{pkg.name} {pkg.version.version}: not a valid pylock entry: {exc}"
                    ) from None
            cached = text
            self._pylock_store.use(digest, cached)
            self._pylock_entries[key] = cached
        return cached

    # requirements.txt -----------------------------------------------------------------------------------

    def requirements(self, env: Environment) -> str:
        lines = [
            f"# The environment of request {env.request} on {env.target.id} ({target_label(env.target)}),\n",
            "# as the catalog vetted it: every package pinned, with the sha256 of the one file this target\n",
            "# installs. It names no index: give the catalog's (or your proxy's) index URL:\n",
            f"#   pip install --require-hashes --no-deps --index-url {_comment_safe(self.locations.index)} -r requirements.txt\n",
        ]
        for p in env.packages:
            key = (p.normalized, p.version.version, p.file.sha256)
            line = self._requirement_lines.get(key)
            if line is None:
                line = self._requirement_lines[key] = (
                    f"{p.normalized}=={p.version.version} \\\n    --hash=sha256:{p.file.sha256}\n"
                )
            lines.append(line)
        return "".join(lines)

    # CycloneDX ------------------------------------------------------------------------------------------

    def cyclonedx(self, env: Environment, request: Request) -> str:
        if self._sbom is None:
            from curate.sbom import SbomRenderer

            self._sbom = SbomRenderer(
                self.locations,
                tool_version=__version__,
                show_requesters=self.config.show_requesters,
                cache=self.cache,
            )
        text: str = self._sbom.render(env, request)
        return text

    def save(self) -> None:
        """Keep what the next build can reuse in the file cache (the SBOMs' components, the pylock
        entries)."""
        self._pylock_store.save()
        if self._sbom is not None:
            self._sbom.save()


# each distinct pylock entry's TOML, kept in the file cache between builds: validated with
# packaging.pylock when new (the store is per version of packaging and tomli_w, and each text is keyed by
# the sha256 of the entry it was made from); a rebuild writes the entry again and skips the validation
# only when the stored text is that text (a cache restored in CI is not trusted with what a lock says)
STORE_DIR = "envs"  # under the file cache


def pylock_store(cache: Path) -> Path:
    """Where the pylock entries are kept: per version of packaging (which validated them) and tomli_w."""
    version = importlib.metadata.version
    name = f"pylock-entries-1-packaging{version('packaging')}-tomli_w{version('tomli_w')}.json"
    return cache / STORE_DIR / name


class _TextStore:
    """Texts by the sha256 of what they are made of, in one JSON file of the file cache: read when first
    asked for, written by :meth:`save` with only the texts this build used (so it does not grow); left as
    it is by a build that asked for none (a rebuild that linked every environment's files: like the
    SBOMs' components, made only when an SBOM is)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stored: dict[str, str] | None = None  # read when first asked
        self._used: dict[str, str] = {}

    def _read(self) -> dict[str, str]:
        if self._stored is None:
            self._stored = {}
            if self.path is not None:
                with contextlib.suppress(OSError, ValueError):
                    data = json.loads(self.path.read_bytes())
                    if isinstance(data, dict):
                        self._stored = {k: v for k, v in data.items() if isinstance(v, str)}
        return self._stored

    def get(self, digest: str) -> str | None:
        return self._read().get(digest)

    def use(self, digest: str, text: str) -> None:
        self._used[digest] = text

    def save(self) -> None:
        if self.path is None or (self._stored is None and not self._used):  # nothing asked for
            return
        if self._used == self._read():
            return
        from curate.atomic import atomic_write

        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(
                self.path,
                json.dumps(dict(sorted(self._used.items())), ensure_ascii=False, separators=(",", ":")),
            )


def _comment_safe(text: str) -> str:
    """A URL from the config inside a ``#`` comment: one line."""
    return " ".join(text.split())


# -- api/ and the files, written -------------------------------------------------------------------------


def api_request(renderer: EnvRenderer, envs: RequestEnvironments) -> dict[str, Any]:
    """``api/requests/<id>.json``: the request and, per target, its status, files and packages."""
    out = _api_request(renderer, envs)
    for item, env in zip(out["environments"], envs.environments, strict=True):
        item["packages"] = [_api_package(renderer, p) for p in env.packages]
    return out


def api_request_json(renderer: EnvRenderer, envs: RequestEnvironments) -> bytes:
    """``_dumps(api_request(renderer, envs))``, with each package's JSON made once per build (a package
    recurs in many environments): json.dumps writes an object as ``{`` its items' texts joined ``}``,
    so an object's text with one more item last is its text without the closing brace, the item's, and
    the brace (``tests/test_environments.py`` compares the two)."""
    out = _api_request(renderer, envs)
    items = []
    for item, env in zip(out["environments"], envs.environments, strict=True):
        packages = ",".join(renderer.api_package_json(p) for p in env.packages)
        items.append(_json(item)[:-1] + ',"packages":[' + packages + "]}")
    del out["environments"]
    text = _json(out)[:-1] + ',"environments":[' + ",".join(items) + "]}\n"
    return text.encode("utf-8")


def _api_package(renderer: EnvRenderer, p: EnvPackage) -> dict[str, Any]:
    return {
        "name": p.name,
        "normalized": p.normalized,
        "version": p.version.version,
        "direct": p.direct,
        "filename": p.file.filename,
        "origin": "built" if p.built is not None else "upstream",
        "sha256": p.file.sha256,
        "size": p.file.size,
        "url": renderer.url(p.normalized, p.file),
    }


def _api_request(renderer: EnvRenderer, envs: RequestEnvironments) -> dict[str, Any]:
    """:func:`api_request` but each environment's packages (its last key)."""
    base = renderer.locations.base_url
    request = envs.request
    out_envs = []
    for env in envs.environments:
        item: dict[str, Any] = {
            "target": env.target.id,
            "os": env.target.os,
            "arch": env.target.platform.arch,
            "python": env.target.python,
            "status": env.status,
            "reason": env.reason,
            "blockers": [
                {
                    "kind": b.kind,
                    "project": b.project,
                    "version": b.version,
                    "message": b.message,
                    "detail": b.detail,
                    "findings": [f.to_dict() for f in b.findings],
                }
                for b in env.blockers
            ],
            "files": {fmt: base + quote(env.path(fmt)) for fmt in FORMATS} if env.ready else {},
        }
        out_envs.append(item)
    out: dict[str, Any] = {"id": request.id, "title": request.title}
    if renderer.config.show_requesters:  # nothing personal unless the config publishes it
        out["requested_by"] = request.requested_by
    out.update(
        {
            "date": request.date.isoformat(),
            "page": renderer.request_page(request.id),
            "index": renderer.locations.index,
            "environments": out_envs,
        }
    )
    return out


def api_index(renderer: EnvRenderer, plans: Mapping[str, RequestEnvironments]) -> dict[str, Any]:
    """``api/requests/index.json``: every request, where its JSON is, and each target's status."""
    base = renderer.locations.base_url
    return {
        "requests": [
            {
                "id": rid,
                "title": envs.request.title,
                "date": envs.request.date.isoformat(),
                "url": f"{base}{API_DIR}/{rid}.json",
                "targets": {e.target.id: e.status for e in envs.environments},
            }
            for rid, envs in sorted(plans.items(), reverse=True)
        ]
    }


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _dumps(data: Any) -> bytes:
    return (_json(data) + "\n").encode("utf-8")


@dataclasses.dataclass(kw_only=True, slots=True)
class EnvStats:
    requests: int = 0
    ready: int = 0
    unavailable: list[Environment] = dataclasses.field(default_factory=list)  # blocked or unavailable
    files: int = 0
    kept: int = 0  # of the files, those linked unchanged from the published tree (their bytes checked)


def environment_outputs(
    plans: Mapping[str, RequestEnvironments], renderer: EnvRenderer
) -> Iterable[tuple[str, bytes]]:
    """Every file under ``envs/`` and ``api/requests/`` (path relative to public/, bytes)."""
    for rid, envs in sorted(plans.items()):
        for env in envs.environments:
            if not env.ready:
                continue
            for fmt in FORMATS:
                yield env.path(fmt), renderer.render(env, fmt, envs.request).encode("utf-8")
        yield f"{API_DIR}/{rid}.json", api_request_json(renderer, envs)
    yield f"{API_DIR}/index.json", _dumps(api_index(renderer, plans))


def env_stats(plans: Mapping[str, RequestEnvironments]) -> EnvStats:
    """How many environments are ready and which are not (no file counted yet)."""
    stats = EnvStats(requests=len(plans))
    for envs in plans.values():
        for env in envs.environments:
            if env.ready:
                stats.ready += 1
            else:
                stats.unavailable.append(env)
    return stats


@dataclasses.dataclass(frozen=True, slots=True)
class Reuse:
    """The published tree's environment files a build may link instead of writing
    (:class:`curate.reuse.LinkReuse`, verified): ``envs/`` and ``api/requests/``, each with its record."""

    envs: LinkReuse
    api: LinkReuse

    def save(self) -> None:
        """Each folder's record, but none when curate's code or the libraries that write the files
        changed on disk while this build ran (:data:`CODE`, taken when this module was imported, is not
        what they are now): the files made by what was loaded would be recorded as what the new code
        makes."""
        keep = code_digest(_DIGEST_LIBRARIES) == CODE
        self.envs.save(keep=keep)
        self.api.save(keep=keep)


def write_environments(
    plans: Mapping[str, RequestEnvironments],
    renderer: EnvRenderer,
    write: Callable[[str, bytes], None],
    *,
    reuse: Reuse | None = None,
    link: Callable[[str, str], None] | None = None,
) -> EnvStats:
    """Write every environment's files and the api/ JSON through ``write(relative path, bytes)``.

    ``reuse``: the published tree's: an environment whose inputs (:class:`EnvDigests`) are those its
    published files were written from has them hard-linked through ``link(relative path, source)`` (a
    writer that makes the folders), their bytes checked against the sha256 recorded when they were
    written; so has a request's ``api/requests/`` JSON (its environments' digests, the blockers of
    those without files); only the others are rendered."""
    if reuse is None:
        stats = env_stats(plans)
        for rel, data in environment_outputs(plans, renderer):
            write(rel, data)
            stats.files += 1
        renderer.save()
        return stats
    stats = env_stats(plans)
    digests = EnvDigests(renderer)

    def linker(prefix: str) -> Callable[[str, str], None] | None:
        if link is None:
            return None
        to = link
        return lambda rel, source: to(prefix + rel, source)

    envs_link, api_link = linker(f"{ENVS_DIR}/"), linker(f"{API_DIR}/")
    inside = len(ENVS_DIR) + 1
    for rid, envs in sorted(plans.items()):
        keys = []
        for env in envs.environments:
            if not env.ready:
                keys.append(digests.unavailable(env))
                continue
            digest = digests.of(env, envs.request)
            keys.append(digest)
            for fmt in FORMATS:
                rel = env.path(fmt)
                key = f"{digest} {fmt}"
                if reuse.envs.reused(rel[inside:], key, envs_link):
                    stats.kept += 1
                else:
                    data = renderer.render(env, fmt, envs.request).encode("utf-8")
                    write(rel, data)
                    reuse.envs.made(rel[inside:], key, data)
                stats.files += 1
        key = digests.api(envs.request, keys)
        if reuse.api.reused(f"{rid}.json", key, api_link):
            stats.kept += 1
        else:
            data = api_request_json(renderer, envs)
            write(f"{API_DIR}/{rid}.json", data)
            reuse.api.made(f"{rid}.json", key, data)
        stats.files += 1
    write(f"{API_DIR}/index.json", _dumps(api_index(renderer, plans)))
    stats.files += 1
    reuse.save()
    renderer.save()
    return stats


# what an environment's three files are made of, besides its data (EnvDigests): a change to how they
# are rendered makes every environment new (bump when the files change without curate's code changing)
DIGEST_FORMAT = 1
_DIGEST_LIBRARIES = (
    "cyclonedx-python-lib",
    "py-serializable",
    "packageurl-python",
    "license-expression",
    "packaging",
    "tomli_w",
    "sortedcontainers",  # the order cyclonedx serialises in
)
# curate's code and those libraries as this process loaded them (what EnvDigests keys the files by)
CODE = code_digest(_DIGEST_LIBRARIES)


class EnvDigests:
    """A digest of everything that goes into an environment's three files (``pylock.toml``,
    ``requirements.txt``, ``sbom.cdx.json``): the request (id, title, requester when the site names it,
    date), the target, each package (its name, version, ``requires-python``, yanked, its one file's
    record, the wheel curate built that it is, its whole vetting record, its URL, whether the request
    asks for it, its dependencies there), where the files are (index, base URL, files base URL), and
    curate's code and the writing libraries' versions (:func:`curate.reuse.code_digest`). Each
    version's, package's and request's part is made once per build; equal digests mean equal files."""

    def __init__(self, renderer: EnvRenderer) -> None:
        self.renderer = renderer
        loc = renderer.locations
        head = [
            DIGEST_FORMAT,
            CODE,
            loc.index,
            loc.base_url,
            loc.files_base_url,
            renderer.config.show_requesters,
        ]
        self._head = json.dumps(head).encode()
        self._targets: dict[str, bytes] = {}
        # by the identity of the objects (kept alive here): a version recurs in many environments, with
        # one of its files each (a wheel per platform), and a request in each of its environments
        self._versions: dict[tuple[int, int], tuple[object, object, bytes]] = {}
        self._packages: dict[tuple[int, int, int], tuple[object, object, object, str]] = {}
        self._lines: dict[int, tuple[EnvPackage, str]] = {}
        self._requests: dict[int, tuple[Request, bytes]] = {}

    def _target(self, target: Target) -> bytes:
        found = self._targets.get(target.id)
        if found is None:
            data = [
                target.id,
                target.os,
                target.platform.arch,
                target.python,
                target_label(target),
                environment_marker(target),
                target.marker_environment(),
            ]
            found = self._targets[target.id] = json.dumps(data, sort_keys=True).encode()
        return found

    def _version(self, p: EnvPackage) -> bytes:
        """A package's part that is its version's (the same whichever of its files a target installs):
        once per version."""
        key = (id(p.project), id(p.version))
        found = self._versions.get(key)
        if found is None:
            v = p.version
            data = [
                p.project.name,
                p.normalized,
                v.version,
                v.requires_python,
                v.yanked,
                v.vetting.to_dict() if v.vetting is not None else None,
            ]
            text = json.dumps(data, sort_keys=True, default=str) + "\n"
            found = self._versions[key] = (p.project, v, text.encode())
        return found[2]

    def package(self, p: EnvPackage) -> str:
        key = (id(p.version), id(p.file), id(p.built))
        found = self._packages.get(key)
        if found is None:
            data = [
                p.file.to_dict(),
                p.built.to_dict() if p.built is not None else None,
                self.renderer.url(p.normalized, p.file),
            ]
            h = hashlib.sha256(self._version(p))  # one line of JSON: where it ends is plain
            h.update(json.dumps(data, sort_keys=True, default=str).encode())
            found = self._packages[key] = (p.version, p.file, p.built, h.hexdigest())
        return found[3]

    def unavailable(self, env: Environment) -> str:
        """What a request's JSON says of an environment without files: its target, status and
        blockers (:func:`api_request`)."""
        blockers = [
            [b.kind, b.project, b.version, b.message, b.detail, [f.to_dict() for f in b.findings]]
            for b in env.blockers
        ]
        data = [env.target.id, env.status, env.reason, blockers]
        return hashlib.sha256(self._target(env.target) + json.dumps(data, default=str).encode()).hexdigest()

    def api(self, request: Request, environments: Sequence[str]) -> str:
        """A digest of what ``api/requests/<id>.json`` is made of: the request and its environments'
        digests (:meth:`of`, :meth:`unavailable`), in order."""
        who = request.requested_by if self.renderer.config.show_requesters else ""
        h = hashlib.sha256(self._head)
        h.update(
            json.dumps([request.id, request.title, who, request.date.isoformat(), *environments]).encode()
        )
        return h.hexdigest()

    def of(self, env: Environment, request: Request) -> str:
        h = hashlib.sha256(self._head)
        h.update(self._target(env.target))
        h.update(self._request(request))
        # normalized names: no space or comma in them
        lines = self._lines
        h.update(
            "".join(
                [found[1] if (found := lines.get(id(p))) else self._line(p) for p in env.packages]
            ).encode()
        )
        return h.hexdigest()

    def _request(self, request: Request) -> bytes:
        """The request's part of :meth:`of`, once per request (in each of its environments)."""
        found = self._requests.get(id(request))
        if found is None:
            who = request.requested_by if self.renderer.config.show_requesters else ""
            data = json.dumps([request.id, request.title, who, request.date.isoformat()]).encode()
            found = self._requests[id(request)] = (request, data)
        return found[1]

    def _line(self, p: EnvPackage) -> str:
        """A package's line in :meth:`of`, once per package object (the plan shares one between the
        environments where it is the same; kept alive here)."""
        found = self._lines.get(id(p))
        if found is None:
            line = f"\n{self.package(p)} {p.normalized} {int(p.direct)} {','.join(p.dependencies)}"
            found = self._lines[id(p)] = (p, line)
        return found[1]


# -- curate env: one file, from catalog/ ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Host:
    """The machine ``curate env`` runs on, to pick its target when none is named."""

    os: str  # linux | windows | macos
    machine: str  # platform.machine()
    python: str  # "3.12"

    def matches(self, target: Target) -> bool:
        machine = target.marker_environment()["platform_machine"]
        return (
            target.os == self.os and machine.lower() == self.machine.lower() and target.python == self.python
        )


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class EnvFile:
    """One environment file, rendered and validated."""

    request: str
    target: Target
    fmt: Format
    text: str
    packages: int
    index: str  # the index its files are listed on
    notes: tuple[str, ...] = ()  # built wheels of its versions the index does not serve, and why


def find_request(root: Path, ref: str, config: Config) -> Request:
    """A request by id (``2026-11-02-data-science``) or by its file's path; ValidationError when it does not
    read, UsageError (with the closest ids) when there is no such request."""
    from curate.errors import UsageError, ValidationError, display_path
    from curate.requests import REQUESTS_DIR, read_request, request_files

    path = Path(ref)
    if not path.is_file():
        stem = path.name.removesuffix(".yaml").removesuffix(".yml")
        path = next(
            (p for p in (root / REQUESTS_DIR / f"{stem}{s}" for s in (".yaml", ".yml")) if p.is_file()), path
        )
    if not path.is_file():
        ids = [p.stem for p in request_files(root)]
        close = difflib.get_close_matches(ref, ids, n=3)
        hint = (
            f" Perhaps you meant {', '.join(close)}?" if close else f" Requests: {', '.join(ids) or 'none'}."
        )
        raise UsageError(f"no request {ref!r} in {display_path(root / REQUESTS_DIR)}.{hint}")
    request, problems = read_request(path, display_path(path, root), config, root=root)
    if request is None or problems:
        raise ValidationError(problems)
    return request


def choose_target(envs: RequestEnvironments, target: str | None, host: Host | None) -> Environment:
    from curate.errors import UsageError

    ids = [e.target.id for e in envs.environments]
    if target is not None:
        found = envs.get(target)
        if found is None:
            close = difflib.get_close_matches(target, ids, n=1)
            hint = f" Perhaps you meant {close[0]}?" if close else ""
            raise UsageError(
                f"request {envs.id} has no target {target!r}; its targets: {', '.join(ids) or 'none'}.{hint}"
            )
        return found
    if len(envs.environments) == 1:
        return envs.environments[0]
    mine = [e for e in envs.environments if host is not None and host.matches(e.target)]
    if len(mine) == 1:
        return mine[0]
    raise UsageError(
        f"request {envs.id} has {len(ids)} targets and none is this machine's: name one with --target "
        f"({', '.join(ids) or 'none'})"
    )


def validate_file(fmt: Format, text: str) -> None:
    """The whole file checked as its consumers read it: packaging.pylock for pylock.toml, the CycloneDX
    1.6 JSON schema (the library's validator) for the SBOM."""
    if fmt == "pylock":
        import tomllib

        from packaging.pylock import Pylock, PylockValidationError

        try:
            Pylock.from_dict(tomllib.loads(text))
        except (PylockValidationError, tomllib.TOMLDecodeError) as exc:
            raise EnvironmentUnavailable(f"the pylock.toml written is not valid: {exc}") from None
    elif fmt == "cyclonedx":
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator

        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
        if error is not None:
            raise EnvironmentUnavailable(f"the SBOM written does not validate against CycloneDX 1.6: {error}")


def environment_file(
    root: Path,
    *,
    request: str,
    target: str | None,
    fmt: Format,
    host: Host | None = None,
    base_url: str | None = None,
    index_url: str | None = None,
    cache_dir: Path | None = None,
    env: Mapping[str, str],
) -> EnvFile:
    """One file of one request's environment, from ``catalog/`` alone (no network), unless ``index_url``
    asks to look the files up on that index (a proxy of the catalog) by name and sha256.

    A wheel ``curate wheels`` built is named as the build names it: only while the file cache
    (``cache_dir``, else the configured one) holds exactly its recorded bytes, as the index serves it
    only then; otherwise the file is the one the index serves instead (the sdist, or under ``build.serve:
    built`` the upstream wheel), and :attr:`EnvFile.notes` says which built wheel was left out and why."""
    from curate.cache import cache_root
    from curate.catalog import load_catalog_fast
    from curate.config import load_config
    from curate.errors import UsageError
    from curate.index import Blobs
    from curate.vetting import today_from

    config = load_config(root)
    req = find_request(root, request, config)
    try:
        today = today_from(env)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    check = Blobs(cache_root(root, config, env, cache_dir)).built_check(config)
    envs = plan(load_catalog_fast(root), [req], config, today=today, built=check)[req.id]
    chosen = choose_target(envs, target, host)
    if not chosen.ready:
        raise EnvironmentUnavailable(
            f"request {req.id} has no environment for {chosen.target.id}: {chosen.reason}"
        )
    if index_url:
        locations = looked_up(config, chosen, index_url, base_url=base_url, env=env)
    else:
        locations = mirror_locations(config, base_url=base_url)
    text = EnvRenderer(config, locations).render(chosen, fmt, req)
    validate_file(fmt, text)
    return EnvFile(
        request=req.id,
        target=chosen.target,
        fmt=fmt,
        text=text,
        packages=len(chosen.packages),
        index=locations.index,
        notes=tuple(
            f"{p.name} {p.version.version}: {why}; the index does not serve it either, so this file names "
            f"{p.file.filename}"
            for p in chosen.packages
            for why in built_left_out(p.version, chosen.target, config, check)
        ),
    )


def looked_up(
    config: Config, chosen: Environment, index_url: str, *, base_url: str | None, env: Mapping[str, str]
) -> Locations:
    """Locations on ``index_url`` (a repository manager or proxy that re-homes files): each file's URL as
    its project page there gives it, checked against the catalog's sha256 (:mod:`curate.locate`)."""
    from curate.cache import Wanted
    from curate.httpclient import HttpClient
    from curate.locate import locate

    index = index_url if index_url.endswith("/") else index_url + "/"
    wanted = [Wanted(project=p.name, version=p.version.version, file=p.file) for p in chosen.packages]
    with HttpClient(env, limits=config.http_limits()) as client:
        found = locate(index, wanted, client=client)
    if found.problems:
        raise EnvironmentUnavailable(
            f"{len(found.problems)} file(s) not found as vetted on {index}:\n" + "\n".join(found.problems)
        )
    base = Locations.of(config, base_url=base_url)
    return Locations(
        index=index, base_url=base.base_url, by_sha256={x.wanted.sha256: x.url for x in found.located}
    )
