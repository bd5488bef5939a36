"""The lock step: from ``requests/`` and the config to ``catalog/``, as plan -> resolve -> assemble -> write.

- :func:`plan` reads the requests and decides which to resolve again, and why (new, changed, the config
  changed, an upgrade, a package file edited by hand); the others keep the needs the catalog recorded.
- :func:`resolve` runs uv for each of those (a few at a time) and turns its pins into needs
  (:mod:`curate.closure`); a failure names the request and the first target that fails on its own.
  Each request is resolved as of a day (today, ``--as-of``, or the day a lock state recorded for it) and
  the release cooldown (:mod:`curate.cooldown`) counts back from it: uv's ``--exclude-newer``, lifted for
  an exact pin a ``too-new`` waiver names; an exact pin that is too new is refused on its entry with the
  day it becomes eligible; a second uv run without the cooldown tells which versions it held back.
- :func:`assemble` reads the candidate files of each needed version (the catalog's when they still cover
  its targets, else the upstream's, less the files the cooldown leaves out), builds the projects
  (:mod:`curate.assembly`) and refuses a missing wheel or a removal some request still needs
  (:mod:`curate.removals`). Nothing approved vanishes: a version no request needs any more stays as
  superseded, and leaves only through a ``remove:`` entry or the retention rule (:mod:`curate.retention`).
- :func:`write` renders the package files and the lock state (:mod:`curate.lockstate`) and swaps them
  in as one step: on any failure before it, ``catalog/`` is left exactly as it was.

:func:`lock` runs the four and returns a :class:`LockOutcome`; progress goes to an ``on_event``
callback as :data:`LockEvent` records, for the command to print.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import os
import re
import textwrap
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from curate.assembly import MissingWheel, build_projects, widened_targets
from curate.builddeps import (
    BuildDepsError,
    Job,
    ask_backend,
    host_pins,
    jobs_from,
    needs_for,
    needs_recorded,
    read_build_system,
    unpack_sdist,
)
from curate.catalog import (
    PACKAGES_DIR,
    BuildSystem,
    FileEntry,
    Need,
    Project,
    iter_project_files,
    load_catalog_fast,
    replace_catalog_files,
    writing,
)
from curate.checking import check_files
from curate.closure import (
    Resolved,
    VersionKey,
    canonical_version,
    entries_needing,
    needs_from_catalog,
    needs_from_pins,
    preferences_for,
    requirements_for,
)
from curate.config import CONFIG_PATH, Config, load_config
from curate.cooldown import (
    Cooldown,
    HeldBack,
    exact_version,
    held_back,
    newer_without,
    parse_upload_time,
    released,
    rfc3339,
    too_new_waiver,
)
from curate.errors import CurateError, LockError, Problem, ResolutionError, UsageError, ValidationError
from curate.lockstate import (
    BUILDS,
    STATE_PATH,
    Freshness,
    LockState,
    RequestState,
    builds_stale,
    config_fingerprint,
    config_matches,
    freshness,
    lock_part_hash,
    read_state,
    removals_fingerprint,
    request_fingerprint,
    request_matches,
)
from curate.names import NormalizedName, normalize
from curate.removals import blocked_removals, unmatched_removals
from curate.requests import REQUESTS_DIR, Request
from curate.resolve import Pin, Requirement, compile_requirements, failing_target, install_exact
from curate.retention import Departure, departures, keep_superseded
from curate.selection import describe_upstream_files, file_version, python_ok

if TYPE_CHECKING:
    from curate.httpclient import Limits
    from curate.upstream import ListedFile

RESOLVE_WORKERS = 4  # concurrent uv runs


# -- what the lock reports as it goes, and what it returns ----------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Note:
    """Something the user likely wants to know (a typo in --upgrade-package, a removal that matches
    nothing); never a failure."""

    text: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """A slow step starts (reading project pages, asking for file sizes)."""

    text: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RequestResolved:
    """One request was resolved (or failed to), ``done`` of ``total``."""

    done: int
    total: int
    path: str
    why: str  # new request, changed, config changed, upgrade [names], catalog edited by hand
    targets: tuple[tuple[str, int], ...]  # (target label, packages) per target; () when it failed
    target_count: int
    failed: bool
    as_of: str = ""  # YYYY-MM-DD: the day it was resolved as of (the release cooldown counts back from it)
    held_back: tuple[HeldBack, ...] = ()  # versions the release cooldown kept it from taking


LockEvent = Note | Step | RequestResolved


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class LockOutcome:
    resolved: tuple[str, ...]  # request paths resolved in this run
    projects: int
    versions: int
    files: int  # -1 when nothing was locked (the package files were not even read)
    written: tuple[str, ...]
    deleted: tuple[str, ...]
    superseded: tuple[tuple[str, str], ...] = ()  # (name, version) no request needs any more: kept
    departures: tuple[Departure, ...] = ()  # versions that left the catalog, and why
    state_written: bool = False  # catalog/lock.json changed (e.g. the build dependencies locked again)

    @property
    def changed(self) -> bool:
        return bool(self.resolved or self.written or self.deleted or self.state_written)


# -- plan ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Planned:
    request: Request
    why: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class LockPlan:
    """What this lock does: every request, which of them to resolve again and why, and from what."""

    config: Config
    state: LockState  # as lock.json records it (empty when never locked)
    requests: tuple[Request, ...]
    to_resolve: tuple[Planned, ...]
    old: Mapping[NormalizedName, Project]  # the catalog as it is
    upgrade: bool
    upgrade_set: frozenset[NormalizedName]
    files_edited: bool  # a package file was edited by hand or deleted: every file is rendered again
    legacy: frozenset[str]  # package file names still recording upstream URLs: rendered again without
    notes: tuple[str, ...]
    today: dt.date = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC).date())
    dates: Mapping[str, dt.date] = dataclasses.field(
        default_factory=dict
    )  # request id -> day to resolve as of
    removals_changed: frozenset[str] = frozenset()  # ids of requests whose remove: entries changed
    builds_changed: bool = False  # the sdists' build dependencies are locked again from the sdists
    root: Path | None = None  # the repository (the cache the sdists are read from is found from it)

    @property
    def refresh(self) -> bool:
        """Whether every needed version's files are read from the upstream again."""
        return self.upgrade or not config_matches(self.state.config, self.config)

    def as_of(self, request_id: str) -> dt.date:
        """The day a request's resolution is as of: for one resolved in this run the day given for it (a
        reproduction), else the run's; for the others the day the lock state records."""
        if any(item.request.id == request_id for item in self.to_resolve):
            return self.dates.get(request_id, self.today)
        previous = self.state.requests.get(request_id)
        recorded = previous.as_of_date() if previous is not None else None
        return recorded if recorded is not None else self.today

    def cooldown(self, request_id: str) -> Cooldown:
        return Cooldown(days=self.config.vetting.min_release_age_days, as_of=self.as_of(request_id))

    def in_catalog(self, key: VersionKey) -> tuple[FileEntry, ...]:
        """The files the catalog already has for a version (none when it does not have it)."""
        project = self.old.get(key[0])
        for v in project.versions if project is not None else ():
            if canonical_version(v.version) == key[1]:
                return v.files
        return ()

    def lifted(self, request: Request, preferences: Mapping[str, str]) -> dict[str, str]:
        """uv's ``--exclude-newer-package`` for a request: an exact pin a ``too-new`` waiver names, up to
        the end of its day; and a version the catalog already has (locked and vetted before, perhaps
        before the cooldown was set), just past its newest file, so that keeping it is not held back
        (it is served already) while nothing newer of it comes in."""
        cooldown = self.cooldown(request.id)
        out = {str(name): cooldown.lifted() for name in self.waived_pins(request)}
        for name, version in preferences.items():
            files = self.in_catalog((normalize(name), canonical_version(version)))
            times = [parse_upload_time(f.upload_time) for f in files]
            if name in out or not times or None in times:
                continue
            newest = max(t for t in times if t is not None)
            if newest >= cooldown.cutoff:
                out[name] = rfc3339(newest + dt.timedelta(seconds=1))
        return out

    def waived_pins(self, request: Request) -> dict[NormalizedName, str]:
        """The request's exact pins that a ``too-new`` waiver valid on its day lets through the cooldown."""
        out: dict[NormalizedName, str] = {}
        day = self.as_of(request.id)
        for spec in request.packages:
            version = exact_version(spec.specifier)
            if (
                version is not None
                and too_new_waiver(self.config.vetting.waivers, spec.name, version, on=day)[0]
            ):
                out[spec.normalized] = version
        return out


def load_requests(root: Path) -> list[Request]:
    """Every request, valid, with its path relative to the repository (as the lock state records it)."""
    result = check_files(root, [])
    if result.problems:
        raise ValidationError(result.problems)
    return sorted(
        (
            dataclasses.replace(r, path=(REQUESTS_DIR / f"{r.id}{Path(r.path).suffix}").as_posix())
            for r in result.parsed
        ),
        key=lambda r: r.id,
    )


def plan(
    root: Path,
    config: Config,
    state: LockState,
    fresh: Freshness,
    *,
    upgrade: bool,
    upgrade_set: frozenset[NormalizedName],
    today: dt.date | None = None,
    dates: Mapping[str, dt.date] | None = None,
) -> LockPlan:
    """Read every request and decide which to resolve again, and why (as of ``today``, or the day
    ``dates`` gives a request)."""
    requests = load_requests(root)
    to_resolve: list[Planned] = []
    config_changed = not config_matches(state.config, config)
    removals_changed = frozenset(
        r.id
        for r in requests
        if (prev := state.requests.get(r.id)) is None or prev.removals != removals_fingerprint(r)
    )
    for request in requests:
        previous = state.requests.get(request.id)
        direct = {spec.normalized for spec in request.packages}
        if upgrade:
            why = "upgrade"
        elif previous is None:
            why = "new request"
        elif not request_matches(previous.fingerprint, request, config):
            untouched = previous.sha256 == hashlib.sha256((root / request.path).read_bytes()).hexdigest()
            why = "config changed" if untouched and config_changed else "changed"
        elif upgrade_set & (set(previous.pinned()) | direct):
            why = "upgrade " + ", ".join(sorted(upgrade_set & (set(previous.pinned()) | direct)))
        elif fresh.files_edited:
            why = "catalog edited by hand"
        else:
            continue
        to_resolve.append(Planned(request=request, why=why))
    used = {n for r in requests for n in {s.normalized for s in r.packages}}
    used |= {n for r in state.requests.values() for n in r.pinned()}
    notes = [
        f"--upgrade-package {name}: no request asks for or pins it" for name in sorted(upgrade_set - used)
    ]
    return LockPlan(
        config=config,
        state=state,
        requests=tuple(requests),
        to_resolve=tuple(to_resolve),
        old=load_catalog_fast(root),
        upgrade=upgrade,
        upgrade_set=upgrade_set,
        files_edited=fresh.files_edited,
        legacy=frozenset(fresh.legacy),
        notes=tuple(notes),
        today=today or dt.datetime.now(dt.UTC).date(),
        dates=dict(dates or {}),
        removals_changed=removals_changed,
        builds_changed=builds_stale(state, config),
        root=root,
    )


# -- resolve ---------------------------------------------------------------------------------------------


def resolve(
    p: LockPlan, env: Mapping[str, str], on_event: Callable[[LockEvent], None]
) -> dict[str, Resolved]:
    """Resolve the planned requests, a few uv runs at a time; an event as each one ends."""
    from concurrent.futures import ThreadPoolExecutor

    resolved: dict[str, Resolved] = {}
    errors: dict[str, CurateError] = {}

    def work(item: Planned) -> tuple[Planned, Resolved | CurateError]:
        try:
            return item, resolve_request(item.request, p, env)
        except CurateError as exc:
            return item, exc

    total = len(p.to_resolve)
    workers = max(1, min(RESOLVE_WORKERS, total, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (item, result) in enumerate(pool.map(work, p.to_resolve), start=1):
            targets = item.request.targets(p.config)
            if isinstance(result, CurateError):
                errors[item.request.id] = result
                counts: tuple[tuple[str, int], ...] = ()
            else:
                resolved[item.request.id] = result
                counts = tuple(
                    (t.label, sum(1 for n in result.needs.values() if t.id in n.targets)) for t in targets
                )
            on_event(
                RequestResolved(
                    done=done,
                    total=total,
                    path=item.request.path,
                    why=item.why,
                    targets=counts,
                    target_count=len(targets),
                    failed=isinstance(result, CurateError),
                    as_of=p.as_of(item.request.id).isoformat(),
                    held_back=() if isinstance(result, CurateError) else result.held_back,
                )
            )
    if errors:  # every request that failed, each on its file and line
        if all(e.problems for e in errors.values()):
            raise ResolutionError(problems=[p for rid in sorted(errors) for p in errors[rid].problems])
        raise errors[min(errors)]
    return resolved


def resolve_request(request: Request, p: LockPlan, env: Mapping[str, str]) -> Resolved:
    """One request's needs, from one universal uv run (its previous pins and the catalog preferred)."""
    config = p.config
    requirements = requirements_for(request, config)
    if not requirements:
        return needs_from_pins(request, config, [])
    upgrade_packages = sorted(p.upgrade_set)
    preferences = {} if p.upgrade else preferences_for(request, p.state, p.old, upgrade_packages)
    pythons = sorted(
        {t.python for r in requirements for t in r.targets}, key=lambda v: tuple(map(int, v.split(".")))
    )
    cooldown = p.cooldown(request.id)
    lifted = p.lifted(request, preferences) if cooldown.active else {}
    resolve = functools.partial(  # the request's resolution; only the upload cutoff varies
        compile_requirements,
        requirements,
        python_version=pythons[0],
        index_url=config.index_url,
        allow_build=config.allow_sdist,
        env=env,
        preferences=preferences,
        upgrade=p.upgrade,
        upgrade_packages=upgrade_packages,
        exclude_newer_packages=lifted,
    )
    try:
        pins = resolve(exclude_newer=cooldown.exclude_newer())
    except ResolutionError as exc:
        if cooldown.active:  # an exact pin the cooldown refuses is the reason to give, on its entry
            too_new = too_new_problems(request, config, cooldown, set(lifted), env)
            if too_new:
                raise ResolutionError(problems=too_new) from None
        explanation, label, hint = str(exc), "its targets", ""
        if "No solution found" in explanation:  # a conflict: name the first target that has it
            target, explanation = failing_target(
                requirements,
                index_url=config.index_url,
                allow_build=config.allow_sdist,
                env=env,
                universal_error=explanation,
                exclude_newer=cooldown.exclude_newer(),
                exclude_newer_packages=lifted,
            )
            label = target.label if target is not None else "its targets together"
            hint = (
                "change the versions asked for, or limit a package to the platforms and Pythons that "
                "have it (its 'platforms:', the request's 'python:')"
            )
        if cooldown.active:
            hint += ("; " if hint else "") + (
                f"versions uploaded from {cooldown.cutoff.date().isoformat()} on are left out by the release "
                f"cooldown (vetting.min_release_age_days: {cooldown.days})"
            )
        index = _named_package(request, explanation)
        problem = Problem(
            path=request.path,
            line=request.packages[index].line if index is not None else 0,
            key=f"packages[{index}]" if index is not None else "",
            message=f"unable to resolve for {label}:\n{textwrap.indent(explanation, '    ')}",
            hint=hint,
        )
        raise ResolutionError(problems=[problem]) from None
    resolved = needs_from_pins(request, config, pins)
    if not cooldown.active:
        return resolved
    try:  # the same resolution, but for the cooldown: what it held back
        uncooled = resolve(exclude_newer=cooldown.horizon())
    except ResolutionError:  # nothing newer resolves either: nothing was held back
        return resolved
    return dataclasses.replace(resolved, held_back=held_back_by(pins, uncooled, config, cooldown, env))


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _named_package(request: Request, explanation: str) -> int | None:
    """The index of the request's package entry that uv's explanation names first, if it names one."""
    index = {spec.normalized: i for i, spec in enumerate(request.packages)}
    for word in _WORD.findall(explanation):
        i = index.get(normalize(word.rstrip(".")))
        if i is not None:
            return i
    return None


# -- the release cooldown -------------------------------------------------------------------------------


def held_back_by(
    pins: Sequence[Pin], uncooled: Sequence[Pin], config: Config, cooldown: Cooldown, env: Mapping[str, str]
) -> tuple[HeldBack, ...]:
    """The versions the run without the cooldown took over the locked ones, dated from the upstream."""
    newer = newer_without(pins, uncooled)
    if not newer:
        return ()
    index_of = {pin.name: config.index_url or pin.index_url for pin in uncooled if pin.name in newer}
    pages = _pages({n: u for n, u in index_of.items() if u}, env)
    names = {pin.name: pin.display for pin in uncooled}
    return held_back(newer, names, pages, cooldown)


def too_new_problems(
    request: Request, config: Config, cooldown: Cooldown, lifted: Collection[str], env: Mapping[str, str]
) -> list[Problem]:
    """After a failed resolution: the request's exact pins the cooldown refuses, each on its entry, with
    the day it becomes eligible (none when no exact pin is too new: the failure is another one)."""
    exact = {}
    for i, spec in enumerate(request.packages):
        version = exact_version(spec.specifier)
        if version is not None and spec.normalized not in lifted:
            exact[i] = (spec, version)
    if not exact:
        return []
    from curate.locate import index_url_for

    names = sorted({spec.normalized for spec, _ in exact.values()})
    try:  # the configured upstream, else the index uv resolves from
        index = index_url_for(config, env, names)
    except CurateError:
        return []  # uv cannot say: its own explanation stands
    pages = _pages(dict.fromkeys(names, index), env)
    problems = []
    for i, (spec, version) in sorted(exact.items()):
        files = [
            f
            for f in pages.get(spec.normalized, ())
            if file_version(f.filename) == (spec.normalized, canonical_version(version))
        ]
        if not files:
            continue
        when = released(files)
        if when is None:
            problems.append(
                Problem(
                    path=request.path,
                    line=spec.line,
                    key=f"packages[{i}]",
                    message=f"{spec.name} {version}: the upstream gives no upload time for its files, so the "
                    f"release cooldown (vetting.min_release_age_days: {cooldown.days}) cannot admit it",
                    hint="use an upstream that gives upload times (PEP 700 JSON pages), or set "
                    "vetting.min_release_age_days: 0 in catalog/config.yaml to turn the cooldown off",
                )
            )
            continue
        if when < cooldown.cutoff:
            continue
        _, expired = too_new_waiver(config.vetting.waivers, spec.name, version, on=cooldown.as_of)
        message = (
            f"{spec.name} {version} is too new (too-new): uploaded {when.date().isoformat()}, and the release "
            f"cooldown takes a version {cooldown.days} day(s) after its upload "
            f"(vetting.min_release_age_days); it becomes eligible on {cooldown.eligible_on(when).isoformat()}"
        )
        if expired is not None:
            message += f"; the too-new waiver naming it expired on {expired.expires.isoformat()}"
        problems.append(
            Problem(
                path=request.path,
                line=spec.line,
                key=f"packages[{i}]",
                message=message,
                hint="ask for an older version, or wait until then; for a security fix, a reviewer can let it "
                "through with a dated waiver in catalog/config.yaml: vetting.waivers: "
                f"[{{id: too-new, project: {spec.name}, versions: '=={version}', justification: ..., "
                "expires: YYYY-MM-DD}]",
            )
        )
    return problems


def _pages(
    index_of: Mapping[NormalizedName, str], env: Mapping[str, str]
) -> dict[NormalizedName, list[ListedFile]]:
    if not index_of:
        return {}
    from curate.httpclient import HttpClient
    from curate.upstream import many_project_files

    with HttpClient(env) as client:
        return many_project_files(index_of, client=client)


# -- build dependencies ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Builds:
    """What building the sdists the catalog serves needs (:mod:`curate.builddeps`)."""

    needs: dict[VersionKey, dict[str, dict[VersionKey, Need]]]  # per sdist, per request
    systems: dict[VersionKey, BuildSystem]  # per sdist: its build system, as read and asked
    index_urls: dict[NormalizedName, str]  # where uv took each build dependency from
    names: dict[NormalizedName, str]  # display names uv gave


def build_dependencies(
    p: LockPlan,
    projects: Mapping[NormalizedName, Project],
    names: Mapping[NormalizedName, str],
    index_urls: Mapping[NormalizedName, str],
    env: Mapping[str, str],
    on_event: Callable[[LockEvent], None],
    needs: Mapping[str, Mapping[VersionKey, Need]] | None = None,
) -> Builds:
    """Per sdist the catalog serves (a version with build targets): its build requirements, resolved for
    the targets that build it, as needs ``to_build`` it. What the catalog recorded is kept when the sdist,
    its build targets and the config are unchanged; the requirements recorded for the same sdist bytes are
    resolved again otherwise; the others are read from the sdist (downloaded into the cache) and asked of
    its backend in a sandbox. All or nothing: a failure names the request and the sdist."""
    jobs = jobs_from({n: pr.versions for n, pr in projects.items()}, names)
    request_needs = needs or {}
    needs_of: dict[VersionKey, dict[str, dict[VersionKey, Need]]] = {}
    systems: dict[VersionKey, BuildSystem] = {}
    urls: dict[NormalizedName, str] = {}
    shown: dict[NormalizedName, str] = {}
    if not jobs:
        return Builds(needs=needs_of, systems=systems, index_urls=urls, names=shown)
    old_versions = {(n, canonical_version(v.version)): v for n, pr in p.old.items() for v in pr.versions}
    old_needs = {key: v.needed_by for key, v in old_versions.items()}
    targets = p.config.all_targets()
    todo: list[tuple[Job, BuildSystem | None]] = []
    for job in jobs:
        previous = old_versions.get(job.key)
        recorded = previous.build_system if previous is not None else None
        if recorded is not None and recorded.sdist != job.sha256:
            recorded = None
        kept = needs_recorded(job, old_needs) if recorded is not None else {}
        pinned = {k[0] for per_request in kept.values() for k in per_request}
        if (
            recorded is not None
            and previous is not None
            and set(previous.build_targets) == set(job.targets)
            and not (p.refresh or p.builds_changed)
            and not (p.upgrade_set & (pinned | {job.key[0]}))
        ):
            needs_of[job.key], systems[job.key] = kept, recorded
            continue
        todo.append((job, recorded if not p.builds_changed else None))
    unread = [job for job, recorded in todo if recorded is None]
    sdists = _sdists(p, unread, index_urls, env, on_event, request_needs) if unread else {}
    if unread:
        on_event(Step(text=f"asking {len(unread)} sdist(s)' build backends what building them needs"))

    def work(item: tuple[Job, BuildSystem | None]) -> tuple[BuildSystem, list[Pin]] | CurateError:
        job, recorded = item
        try:
            if recorded is None:
                recorded = _read_build_system(p, job, sdists[job.key], env)
            return recorded, _resolve_build(p, job, recorded.requirements, env)
        except (BuildDepsError, ResolutionError) as exc:
            return LockError(problems=_build_problems(p, job, str(exc), request_needs))

    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(RESOLVE_WORKERS, len(todo), os.cpu_count() or 1))
    # a backend's warnings are its text, never printed as curate's (the filters are global: set here, once)
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=workers) as pool:
        warnings.simplefilter("ignore")
        results = list(pool.map(work, todo))
    failed = [r for r in results if isinstance(r, CurateError)]
    if failed:  # every sdist that failed, each on its request's entry
        raise LockError(problems=[problem for e in failed for problem in e.problems])
    for (job, _), result in zip(todo, results, strict=True):
        assert not isinstance(result, CurateError)
        recorded, pins = result
        needs_of[job.key] = needs_for(job, pins, targets)
        systems[job.key] = recorded
        for pin in pins:
            shown.setdefault(pin.name, pin.display)
            if pin.index_url:
                urls.setdefault(pin.name, pin.index_url)
    return Builds(needs=needs_of, systems=systems, index_urls=urls, names=shown)


def _resolve_build(p: LockPlan, job: Job, requirements: Sequence[str], env: Mapping[str, str]) -> list[Pin]:
    """uv's universal resolution of an sdist's build requirements for the targets that build it: wheels
    only, the catalog's versions preferred, under the latest release cooldown of the requests building it."""
    from packaging.requirements import Requirement as Pep508

    by_id = {t.id: t for t in p.config.all_targets()}
    targets = tuple(by_id[t] for t in job.targets if t in by_id)
    if not requirements or not targets:
        return []
    reqs = []
    for text in requirements:
        req = Pep508(text)
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        reqs.append(
            Requirement(
                text=f"{req.name}{extras}{req.specifier}", targets=targets, marker=str(req.marker or "")
            )
        )
    cooldowns = [p.cooldown(rid) for rid in job.by_request] or [p.cooldown("")]
    cooldown = max(cooldowns, key=lambda c: c.cutoff)
    preferences: dict[str, str] = {}
    for name, project in p.old.items():
        latest = project.latest()
        if latest is not None and name not in p.upgrade_set:
            preferences[name] = latest.version
    pythons = sorted({t.python for t in targets}, key=lambda v: tuple(map(int, v.split("."))))
    return compile_requirements(
        reqs,
        python_version=pythons[0],
        index_url=p.config.index_url,
        allow_build=False,  # a build dependency is a wheel: never built itself
        env=env,
        preferences=preferences,
        upgrade=p.upgrade,
        upgrade_packages=sorted(p.upgrade_set),
        exclude_newer=cooldown.exclude_newer(),
    )


def _read_build_system(p: LockPlan, job: Job, sdist: Path, env: Mapping[str, str]) -> BuildSystem:
    """The sdist's ``[build-system]`` and what its backend asks for on top, in a sandbox (in a fresh
    environment holding the static requirements, resolved first)."""
    import tempfile

    declared = read_build_system(sdist, job.filename)
    static = _resolve_build(p, job, declared.requires, env)
    with tempfile.TemporaryDirectory(prefix="curate-builddeps-") as tmp:
        work = Path(tmp)
        source = unpack_sdist(sdist, work / "src", job.filename)
        python = install_exact(host_pins(static), into=work / "env", index_url=p.config.index_url, env=env)
        asked = ask_backend(source, python, environment=work / "env")
    return BuildSystem(
        backend=declared.backend,
        requires=declared.requires,
        backend_requires=tuple(r for r in asked or () if r not in declared.requires),
        backend_asked=asked is not None,
        sdist=job.sha256,
    )


def _sdists(
    p: LockPlan,
    jobs: Sequence[Job],
    index_urls: Mapping[NormalizedName, str],
    env: Mapping[str, str],
    on_event: Callable[[LockEvent], None],
    needs: Mapping[str, Mapping[VersionKey, Need]],
) -> dict[VersionKey, Path]:
    """The sdists to read, in the cache (downloaded when missing, checked by sha256)."""
    from curate.cache import Wanted, cache_root, cached_path, missing_files
    from curate.fetch import fetch_all
    from curate.httpclient import HttpClient
    from curate.locate import index_url_for, locate

    assert p.root is not None
    cache = cache_root(p.root, p.config, env)
    wanted = {
        job.key: Wanted(
            project=job.name,
            version=job.version,
            file=FileEntry(filename=job.filename, sha256=job.sha256, size=job.size),
        )
        for job in jobs
    }
    missing = missing_files(cache, wanted.values())
    if missing:
        names = sorted({normalize(w.project) for w in missing})
        index = (
            p.config.index_url
            or next((index_urls[n] for n in names if index_urls.get(n)), "")
            or index_url_for(p.config, env, names)
        )
        on_event(Step(text=f"downloading {len(missing)} sdist(s) to read what building them needs"))
        login = (p.config.index_url,) if p.config.index_url else ()
        with HttpClient(env, limits=p.config.http_limits()) as client:
            found = locate(index, missing, client=client)
            report = fetch_all(cache, list(found.located), client=client, login=login)
        errors = [*found.problems, *report.errors]
        if errors:
            problems = []
            for job in jobs:
                mine = [e for e in errors if job.filename in e]
                if mine:
                    problems += _build_problems(p, job, "cannot download it: " + mine[0], needs)
            raise LockError(problems=problems or [Problem(path=CONFIG_PATH.as_posix(), message=errors[0])])
    out = {}
    for key, w in wanted.items():
        path = cached_path(cache, w.file)
        if path is None:
            raise LockError(f"{w.file.filename} is not in the cache {cache} after downloading it")
        out[key] = path
    return out


def _build_problems(
    p: LockPlan, job: Job, message: str, needs: Mapping[str, Mapping[VersionKey, Need]]
) -> list[Problem]:
    """One problem per request building ``job``'s sdist, on its entry asking for (or pulling in) it."""
    problems = []
    by_id = {r.id: r for r in p.requests}
    for rid in sorted(job.by_request) or [""]:
        request = by_id.get(rid)
        entries = entries_needing(request, needs.get(rid, {}), job.key[0]) if request else []
        index = entries[0] if entries else None
        problems.append(
            Problem(
                path=request.path if request is not None else CONFIG_PATH.as_posix(),
                line=request.packages[index].line if request is not None and index is not None else 0,
                key=f"packages[{index}]" if index is not None else "",
                message=f"cannot lock what building the sdist of {job.name} {job.version} ({job.filename}) "
                f"needs on {', '.join(job.targets)}: {message}",
                hint="its build needs what the upstream cannot give (as wheels) for those targets: ask for "
                "another version of it, limit it to the platforms that have its wheels, or set "
                "files.allow_sdist: false",
            )
        )
    return problems


# -- assemble --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Assembly:
    """The new catalog, computed and checked, not yet written."""

    projects: dict[NormalizedName, Project]
    needs: dict[str, Mapping[VersionKey, Need]]  # request id -> its needs
    held_back: dict[str, tuple[HeldBack, ...]] = dataclasses.field(default_factory=dict)  # resolved ones
    superseded: tuple[tuple[str, str], ...] = ()  # (name, version) superseded in this lock
    departures: tuple[Departure, ...] = ()
    retention_due: str = ""


def assemble(
    p: LockPlan,
    resolved: Mapping[str, Resolved],
    env: Mapping[str, str],
    on_event: Callable[[LockEvent], None],
) -> Assembly:
    """The new catalog from every request's needs; raise when a target has no file or a removal is
    still needed."""
    needs: dict[str, Mapping[VersionKey, Need]] = {}
    for request in p.requests:
        got = resolved.get(request.id)
        needs[request.id] = got.needs if got is not None else needs_from_catalog(p.old, request.id)
    cooled: dict[VersionKey, list[str]] = {}  # files the release cooldown left out, for the messages
    index_urls: dict[NormalizedName, str] = {}
    for result in resolved.values():
        for name, url in result.index_urls.items():
            if url:
                index_urls.setdefault(name, url)
    candidates = _candidates(p, needs, index_urls, env, on_event, cooled)
    names: dict[NormalizedName, str] = {}
    for result in resolved.values():
        names.update(result.names)
    for request in p.requests:  # a requested project is spelled as its request spells it
        names.update({spec.normalized: spec.name for spec in request.packages})
    projects, missing = build_projects(
        config=p.config, needs=needs, candidates=candidates, old=p.old, names=names
    )
    login = (p.config.index_url,) if p.config.index_url else ()
    if not missing and p.config.allow_sdist:  # what building the sdists it serves needs, served too
        listed = {f.filename: f.url for fs in candidates.values() for f in fs if not isinstance(f, FileEntry)}
        sized = _fill_sizes(projects, listed, env, on_event, login=login, limits=p.config.http_limits())
        builds = build_dependencies(p, sized, names, {**index_urls}, env, on_event, needs)
        if builds.needs or builds.systems:
            names = {**builds.names, **names}
            wanted: dict[VersionKey, set[str]] = {}
            for request_needs in needs.values():
                for key, need in request_needs.items():
                    wanted.setdefault(key, set()).update(need.targets)
            more: dict[str, dict[VersionKey, Need]] = {}  # versions whose files must cover build targets
            for per_request in builds.needs.values():
                for rid, request_needs in per_request.items():
                    for key, need in request_needs.items():
                        if key in candidates and set(need.targets) <= wanted.get(key, set()):
                            continue
                        have = more.setdefault(rid, {}).get(key)
                        targets = (
                            set(need.targets) | set(have.targets if have else ()) | wanted.get(key, set())
                        )
                        more[rid][key] = dataclasses.replace(need, targets=tuple(sorted(targets)))
            if more:
                urls = {**builds.index_urls, **index_urls}
                candidates = {**candidates, **_candidates(p, more, urls, env, on_event, cooled)}
            projects, missing = build_projects(
                config=p.config,
                needs=needs,
                candidates=candidates,
                old=p.old,
                names=names,
                build_needs=builds.needs,
                build_systems=builds.systems,
            )
    listed = {
        f.filename: f.url for files in candidates.values() for f in files if not isinstance(f, FileEntry)
    }
    projects = _fill_sizes(projects, listed, env, on_event, login=login, limits=p.config.http_limits())
    if missing:
        raise LockError(problems=_missing_wheel_problems(p, needs, missing, cooled))
    projects, superseded = keep_superseded(projects, p.old, p.today)
    blocked = blocked_removals(p.requests, projects)
    if blocked:
        paths = {r.id: r.path for r in p.requests}
        raise LockError(
            problems=[
                Problem(
                    path=b.removal_request,
                    line=b.line,
                    key=f"remove[{b.index}]",
                    message=f"cannot remove {b.name} {b.version}: still needed by "
                    + ", ".join(paths.get(r, r) for r in b.needed_by),
                    hint="change those requests so they no longer need it (or drop the removal)",
                )
                for b in blocked
            ]
        )
    again = {item.request.id for item in p.to_resolve} | p.removals_changed
    for request, removal in unmatched_removals(p.requests, p.old, only=again):
        on_event(
            Note(text=f"{request.path}: remove {removal.name} {removal.specifier or '(all)'} matches nothing")
        )
    held = {rid: result.held_back for rid, result in resolved.items()}
    projects, gone, due = departures(projects, p.requests, p.config.retention, p.today)
    return Assembly(
        projects=projects,
        needs=needs,
        held_back=held,
        superseded=superseded,
        departures=gone,
        retention_due=due,
    )


def _missing_wheel_problems(
    p: LockPlan,
    needs: Mapping[str, Mapping[VersionKey, Need]],
    missing: Sequence[MissingWheel],
    held: Mapping[VersionKey, Sequence[str]],
) -> list[Problem]:
    """One problem per request and version without a file for some target, on the request's entry that
    asks for the package or pulls it in (with the files the release cooldown left out)."""
    grouped: dict[tuple[str, NormalizedName, str, str, tuple[str, ...], VersionKey | None], list[str]] = {}
    for m in missing:
        for rid in m.requests:
            grouped.setdefault((rid, m.project, m.name, m.version, m.files, m.to_build), []).append(
                m.target.label
            )
    by_id = {r.id: r for r in p.requests}
    problems = []
    for (rid, project, name, version, files, to_build), labels in grouped.items():
        request = by_id[rid]
        entries = entries_needing(request, needs.get(rid, {}), to_build[0] if to_build else project)
        what = f"{name} {version}"
        if to_build is not None:
            what += f" (needed to build the sdist of {to_build[0]} {to_build[1]})"
        elif entries and request.packages[entries[0]].normalized != project:
            what += f" (pulled in by {', '.join(request.packages[i].name for i in entries)})"
        message = f"{what} has no wheel for {', '.join(labels)} ({describe_upstream_files(files)})"
        if to_build is not None:
            message += "; a build dependency must come as a wheel"
        cooled = held.get((project, canonical_version(version)), ())
        if cooled:
            message += f"; the release cooldown left out {', '.join(cooled)}"
        problems.append(
            Problem(
                path=request.path,
                line=request.packages[entries[0]].line if entries else 0,
                key=f"packages[{entries[0]}]" if entries else "",
                message=message,
                hint="limit the package to the platforms that have wheels (its 'platforms:' in the request), "
                + (
                    "or ask for another version"
                    if to_build is not None
                    else "ask for another version, or allow sdists (files.allow_sdist in catalog/config.yaml)"
                ),
            )
        )
    return problems


def _candidates(
    p: LockPlan,
    needs: Mapping[str, Mapping[VersionKey, Need]],
    index_urls: Mapping[NormalizedName, str],
    env: Mapping[str, str],
    on_event: Callable[[LockEvent], None],
    held: dict[VersionKey, list[str]],
) -> dict[VersionKey, list[ListedFile | FileEntry]]:
    """Each needed version's candidate files: the catalog's when they still cover its targets, else upstream's."""
    wanted: dict[VersionKey, set[str]] = {}
    for request_needs in needs.values():
        for key, need in request_needs.items():
            wanted.setdefault(key, set()).update(need.targets)
    # a version is served wherever its project is wanted: its files cover those targets too
    targets_by_id = {t.id: t for t in p.config.all_targets()}
    widened = widened_targets(needs, {t.id: t.platform.name for t in targets_by_id.values()})
    old_versions = {(n, canonical_version(v.version)): v for n, pr in p.old.items() for v in pr.versions}
    out: dict[VersionKey, list[ListedFile | FileEntry]] = {}
    fetch: dict[NormalizedName, str] = {}
    index_of = {name: url for name, url in index_urls.items() if url}
    for key, targets in sorted(wanted.items()):
        name = key[0]
        previous = old_versions.get(key)
        reuse = previous is not None and not p.refresh and name not in p.upgrade_set
        if previous is not None and reuse and targets <= set(previous.targets):
            # the catalog's files do for the targets that need it; the widened ones were looked at too
            # unless a target is new to the project (or the version's Requires-Python rules it out)
            looked = set(previous.targets) | {t for f in previous.files for t in f.targets}
            new = {
                t
                for t in widened.get(name, set()) - looked
                if t in targets_by_id and python_ok(previous.requires_python, targets_by_id[t])
            }
            if not new:
                out[key] = list(previous.files)
                continue
        url = p.config.index_url or index_of.get(name, "")
        if not url and previous is not None and targets <= set(previous.targets):
            out[key] = list(previous.files)  # not re-resolved, and no index to widen it from
            continue
        if not url:
            problem = Problem(
                path=CONFIG_PATH.as_posix(),
                message=f"uv did not say which index {name} came from",
                hint="set upstream.index_url",
            )
            raise LockError(problems=[problem])
        fetch[name] = url
    if fetch:
        from curate.httpclient import HttpClient
        from curate.upstream import many_project_files

        on_event(Step(text=f"reading {len(fetch)} project page(s) from the upstream index"))
        with HttpClient(env, limits=p.config.http_limits()) as client:
            pages = many_project_files(fetch, client=client)
        for key in wanted:
            if key[0] in pages:
                listed = [f for f in pages[key[0]] if file_version(f.filename) == (key[0], key[1])]
                out[key] = _cooled(p, key, listed, needs, held)
    return out


def _cooled(
    p: LockPlan,
    key: VersionKey,
    files: list[ListedFile],
    needs: Mapping[str, Mapping[VersionKey, Need]],
    held: dict[VersionKey, list[str]],
) -> list[ListedFile | FileEntry]:
    """A version's upstream files less those the release cooldown leaves out: uploaded too recently (a
    file added to an old release is as suspect as a new release), or undated. The cooldown is the latest
    of the requests needing it; an exact pin a ``too-new`` waiver lets through keeps them all, and the
    files the catalog already has (the same name and sha256) stay. What is left out is added to
    ``held`` (said only when a target then has no file: most are files no target would take)."""
    rids = sorted(rid for rid, request_needs in needs.items() if key in request_needs)
    cooldowns = [p.cooldown(rid) for rid in rids]
    if not cooldowns or not cooldowns[0].active:
        return list(files)
    by_id = {r.id: r for r in p.requests}
    for rid in rids:
        request = by_id.get(rid)
        if request is not None and any(
            (name, canonical_version(v)) == key for name, v in p.waived_pins(request).items()
        ):
            return list(files)
    cooldown = max(cooldowns, key=lambda c: c.cutoff)
    had = {(f.filename, f.sha256) for f in p.in_catalog(key)}
    kept: list[ListedFile | FileEntry] = []
    for f in files:
        if cooldown.admits(f.upload_time) or (f.filename, f.sha256) in had:
            kept.append(f)
            continue
        when = parse_upload_time(f.upload_time)
        why = (
            f"uploaded {when.date().isoformat()}, eligible on {cooldown.eligible_on(when).isoformat()}"
            if when is not None
            else "the upstream gives no upload time"
        )
        held.setdefault(key, []).append(f"{f.filename} ({why})")
    return kept


def _fill_sizes(
    projects: dict[NormalizedName, Project],
    urls: Mapping[str, str],
    env: Mapping[str, str],
    on_event: Callable[[LockEvent], None],
    login: tuple[str, ...] = (),
    limits: Limits | None = None,
) -> dict[NormalizedName, Project]:
    """Ask the upstream for the sizes its HTML pages did not give, only for the files kept
    (``urls``: where the project pages just read list each file, by filename)."""
    unknown = [urls[f.filename] for p in projects.values() for v in p.versions for f in v.files if f.size < 0]
    if not unknown:
        return projects
    from curate.httpclient import HttpClient
    from curate.upstream import file_sizes

    on_event(Step(text=f"asking the upstream for the size of {len(unknown)} file(s)"))
    with HttpClient(env, limits=limits) as client:
        by_url = file_sizes(unknown, login=login, client=client)
    sizes = {name: by_url[url] for name, url in urls.items() if url in by_url}
    return {
        name: dataclasses.replace(
            p,
            versions=tuple(
                dataclasses.replace(
                    v,
                    files=tuple(
                        dataclasses.replace(f, size=sizes[f.filename]) if f.size < 0 else f for f in v.files
                    ),
                )
                for v in p.versions
            ),
        )
        for name, p in projects.items()
    }


# -- write -----------------------------------------------------------------------------------------------


def write(root: Path, p: LockPlan, assembly: Assembly) -> LockOutcome:
    """Write the package files and the lock state in one step (staged, then renamed; lock.json last)."""
    # a project equal to what its untouched file holds keeps its bytes: no need to render it again
    projects = assembly.projects
    texts: dict[str, str] = {}
    hashes: dict[str, str] = {}
    for name, project in projects.items():
        filename = f"{name}.yaml"
        unchanged = p.old.get(name) == project and filename in p.state.files and filename not in p.legacy
        if unchanged and not p.files_edited:
            hashes[filename] = p.state.files[filename]
            continue
        texts[filename] = project.dumps()
        hashes[filename] = lock_part_hash(texts[filename])
    requests = {}
    for r in p.requests:
        previous = p.state.requests.get(r.id)
        if r.id in assembly.held_back or previous is None:  # resolved in this run
            held, as_of = assembly.held_back.get(r.id, ()), p.as_of(r.id).isoformat()
        else:
            held, as_of = previous.held_back, previous.as_of
        requests[r.id] = RequestState(
            path=r.path,
            sha256=hashlib.sha256((root / r.path).read_bytes()).hexdigest(),
            fingerprint=request_fingerprint(r, p.config),
            pins=tuple(sorted(f"{n}=={v}" for n, v in assembly.needs[r.id])),
            as_of=as_of,
            held_back=held,
            removals=removals_fingerprint(r),
        )
    new_state = LockState(
        config=config_fingerprint(p.config),
        requests=requests,
        files=hashes,
        retention=p.config.retention.fingerprint(),
        retention_due=assembly.retention_due,
        builds=BUILDS if p.config.allow_sdist else 0,
    )
    # one step: everything is staged first, so an error or Ctrl-C before the renames changes nothing,
    # and lock.json goes in with the project files it describes
    folder = root / PACKAGES_DIR
    changes: dict[Path, bytes | None] = {
        folder / name: text.encode("utf-8") for name, text in sorted(texts.items())
    }
    stale = [path for path in iter_project_files(root) if path.name not in hashes]
    changes.update(dict.fromkeys(stale))
    changes[root / STATE_PATH] = new_state.dumps().encode("utf-8")
    changed = set(replace_catalog_files(root, changes))
    return LockOutcome(
        resolved=tuple(item.request.path for item in p.to_resolve),
        projects=len(projects),
        versions=sum(len(pr.versions) for pr in projects.values()),
        files=sum(len(v.files) for pr in projects.values() for v in pr.versions),
        written=tuple(name for name in sorted(texts) if folder / name in changed),
        deleted=tuple(path.name for path in stale),
        superseded=assembly.superseded,
        departures=assembly.departures,
        state_written=root / STATE_PATH in changed,
    )


# -- the whole step --------------------------------------------------------------------------------------


def lock(
    *,
    root: Path,
    env: Mapping[str, str],
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    on_event: Callable[[LockEvent], None] | None = None,
    today: dt.date | None = None,
    as_of: dt.date | None = None,
    dates: Mapping[str, dt.date] | None = None,
) -> LockOutcome:
    """Lock the catalog; raise (leaving catalog/ untouched) on any failure. One run at a time
    (:func:`curate.catalog.writing`: ``curate lock`` and ``curate vet`` hold the catalog's lock).

    ``today``: the clock's day (UTC) by default. Requests resolved in this run are resolved as of
    ``as_of`` (default ``today``), or the day ``dates`` gives for them (reproducing a lock state); no
    such day may be later than ``today``: it would let the cooldown admit versions that are too new.
    Newly superseded versions are recorded with that day too, and ``drop-after`` counts to it."""
    with writing(root, "curate lock"):
        return _lock(
            root=root,
            env=env,
            upgrade=upgrade,
            upgrade_packages=upgrade_packages,
            on_event=on_event,
            today=today,
            as_of=as_of,
            dates=dates,
        )


def _lock(
    *,
    root: Path,
    env: Mapping[str, str],
    upgrade: bool,
    upgrade_packages: Sequence[str],
    on_event: Callable[[LockEvent], None] | None,
    today: dt.date | None,
    as_of: dt.date | None,
    dates: Mapping[str, dt.date] | None,
) -> LockOutcome:
    say = on_event or (lambda event: None)
    today = today or dt.datetime.now(dt.UTC).date()
    future = [f"{rid} as of {day.isoformat()}" for rid, day in sorted((dates or {}).items()) if day > today]
    if as_of is not None and as_of > today:
        future.insert(0, f"--as-of {as_of.isoformat()}")
    if future:
        raise UsageError(
            f"cannot resolve as of a day after today ({today.isoformat()}): {', '.join(future)}; the release "
            "cooldown counts back from that day, so it would admit versions that are too new"
        )
    config = load_config(root)
    on_disk = read_state(root)
    state = on_disk or LockState()
    fresh = freshness(root, config, on_disk)
    upgrade_set = frozenset(normalize(n) for n in upgrade_packages)
    rewrite = bool(fresh.legacy) or fresh.legacy_state  # an older lock's format: rewritten, nothing resolved
    retention_due = bool(state.retention_due) and state.retention_due <= today.isoformat()
    if (
        not fresh.stale
        and not fresh.drift
        and not rewrite
        and not upgrade
        and not upgrade_set
        and not retention_due
    ):
        # up to date: neither the requests nor the package files need parsing
        return LockOutcome(
            resolved=(),
            projects=len(state.files),
            versions=len({pin for r in state.requests.values() for pin in r.pins}),
            files=-1,
            written=(),
            deleted=(),
        )
    p = plan(
        root,
        config,
        state,
        fresh,
        upgrade=upgrade,
        upgrade_set=upgrade_set,
        today=as_of or today,
        dates=dates,
    )
    for note in p.notes:
        say(Note(text=note))
    resolved = resolve(p, env, say)
    return write(root, p, assemble(p, resolved, env, say))
