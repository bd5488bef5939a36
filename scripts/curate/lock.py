"""The lock step: from ``requests/`` and the config to ``catalog/``, as plan -> resolve -> assemble -> write.

- :func:`plan` reads the requests and decides which to resolve again, and why (new, changed, the config
  changed, an upgrade, a package file edited by hand); the others keep the needs the catalog recorded.
- :func:`resolve` runs uv for each of those (a few at a time) and turns its pins into needs
  (:mod:`curate.closure`); a failure names the request and the first target that fails on its own.
- :func:`assemble` reads the candidate files of each needed version (the catalog's when they still cover
  its targets, else the upstream's), builds the projects (:mod:`curate.assembly`) and refuses a missing
  wheel or a removal some request still needs (:mod:`curate.removals`).
- :func:`write` renders the package files and the lock state (:mod:`curate.lockstate`) and swaps them
  in as one step: on any failure before it, ``catalog/`` is left exactly as it was.

:func:`lock` runs the four and returns a :class:`LockOutcome`; progress goes to an ``on_event``
callback as :data:`LockEvent` records, for the command to print.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from curate.assembly import MissingWheel, build_projects
from curate.atomic import replace_files
from curate.catalog import PACKAGES_DIR, FileEntry, Need, Project, iter_project_files, load_catalog_fast
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
from curate.errors import CurateError, LockError, Problem, ResolutionError, ValidationError
from curate.lockstate import (
    STATE_PATH,
    Freshness,
    LockState,
    RequestState,
    config_fingerprint,
    config_matches,
    freshness,
    lock_part_hash,
    read_state,
    request_fingerprint,
    request_matches,
)
from curate.names import NormalizedName, normalize
from curate.removals import blocked_removals, unmatched_removals
from curate.requests import REQUESTS_DIR, Request
from curate.resolve import compile_requirements, failing_target
from curate.selection import describe_upstream_files, file_version

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


LockEvent = Note | Step | RequestResolved


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class LockOutcome:
    resolved: tuple[str, ...]  # request paths resolved in this run
    projects: int
    versions: int
    files: int  # -1 when nothing was locked (the package files were not even read)
    written: tuple[str, ...]
    deleted: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.resolved or self.written or self.deleted)


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

    @property
    def refresh(self) -> bool:
        """Whether every needed version's files are read from the upstream again."""
        return self.upgrade or not config_matches(self.state.config, self.config)


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
) -> LockPlan:
    """Read every request and decide which to resolve again, and why."""
    requests = load_requests(root)
    to_resolve: list[Planned] = []
    config_changed = not config_matches(state.config, config)
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
    try:
        pins = compile_requirements(
            requirements,
            python_version=pythons[0],
            index_url=config.index_url,
            allow_build=config.allow_sdist,
            env=env,
            preferences=preferences,
            upgrade=p.upgrade,
            upgrade_packages=upgrade_packages,
        )
    except ResolutionError as exc:
        explanation, label, hint = str(exc), "its targets", ""
        if "No solution found" in explanation:  # a conflict: name the first target that has it
            target, explanation = failing_target(
                requirements,
                index_url=config.index_url,
                allow_build=config.allow_sdist,
                env=env,
                universal_error=explanation,
            )
            label = target.label if target is not None else "its targets together"
            hint = (
                "change the versions asked for, or limit a package to the platforms and Pythons that "
                "have it (its 'platforms:', the request's 'python:')"
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
    return needs_from_pins(request, config, pins)


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _named_package(request: Request, explanation: str) -> int | None:
    """The index of the request's package entry that uv's explanation names first, if it names one."""
    index = {spec.normalized: i for i, spec in enumerate(request.packages)}
    for word in _WORD.findall(explanation):
        i = index.get(normalize(word.rstrip(".")))
        if i is not None:
            return i
    return None


# -- assemble --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Assembly:
    """The new catalog, computed and checked, not yet written."""

    projects: dict[NormalizedName, Project]
    needs: dict[str, Mapping[VersionKey, Need]]  # request id -> its needs


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
    candidates = _candidates(p, needs, resolved, env, on_event)
    names: dict[NormalizedName, str] = {}
    for result in resolved.values():
        names.update(result.names)
    for request in p.requests:  # a requested project is spelled as its request spells it
        names.update({spec.normalized: spec.name for spec in request.packages})
    projects, missing = build_projects(
        config=p.config, needs=needs, candidates=candidates, old=p.old, names=names
    )
    login = (p.config.index_url,) if p.config.index_url else ()
    listed = {
        f.filename: f.url for files in candidates.values() for f in files if not isinstance(f, FileEntry)
    }
    projects = _fill_sizes(projects, listed, env, on_event, login=login, limits=p.config.http_limits())
    if missing:
        raise LockError(problems=_missing_wheel_problems(p, needs, missing))
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
    again = {item.request.id for item in p.to_resolve}
    for request, removal in unmatched_removals(p.requests, p.old, only=again):
        on_event(
            Note(text=f"{request.path}: remove {removal.name} {removal.specifier or '(all)'} matches nothing")
        )
    return Assembly(projects=projects, needs=needs)


def _missing_wheel_problems(
    p: LockPlan, needs: Mapping[str, Mapping[VersionKey, Need]], missing: Sequence[MissingWheel]
) -> list[Problem]:
    """One problem per request and version without a file for some target, on the request's entry that
    asks for the package or pulls it in."""
    grouped: dict[tuple[str, NormalizedName, str, str, tuple[str, ...]], list[str]] = {}
    for m in missing:
        for rid in m.requests:
            grouped.setdefault((rid, m.project, m.name, m.version, m.files), []).append(m.target.label)
    by_id = {r.id: r for r in p.requests}
    problems = []
    for (rid, project, name, version, files), labels in grouped.items():
        request = by_id[rid]
        entries = entries_needing(request, needs.get(rid, {}), project)
        what = f"{name} {version}"
        if entries and request.packages[entries[0]].normalized != project:
            what += f" (pulled in by {', '.join(request.packages[i].name for i in entries)})"
        problems.append(
            Problem(
                path=request.path,
                line=request.packages[entries[0]].line if entries else 0,
                key=f"packages[{entries[0]}]" if entries else "",
                message=f"{what} has no wheel for {', '.join(labels)} ({describe_upstream_files(files)})",
                hint="limit the package to the platforms that have wheels (its 'platforms:' in the request), "
                "ask for another version, or allow sdists (files.allow_sdist in catalog/config.yaml)",
            )
        )
    return problems


def _candidates(
    p: LockPlan,
    needs: Mapping[str, Mapping[VersionKey, Need]],
    resolved: Mapping[str, Resolved],
    env: Mapping[str, str],
    on_event: Callable[[LockEvent], None],
) -> dict[VersionKey, list[ListedFile | FileEntry]]:
    """Each needed version's candidate files: the catalog's when they still cover its targets, else upstream's."""
    wanted: dict[VersionKey, set[str]] = {}
    for request_needs in needs.values():
        for key, need in request_needs.items():
            wanted.setdefault(key, set()).update(need.targets)
    old_versions = {(n, canonical_version(v.version)): v for n, pr in p.old.items() for v in pr.versions}
    out: dict[VersionKey, list[ListedFile | FileEntry]] = {}
    fetch: dict[NormalizedName, str] = {}
    index_of: dict[NormalizedName, str] = {}
    for result in resolved.values():
        for name, url in result.index_urls.items():
            if url:
                index_of.setdefault(name, url)
    for key, targets in sorted(wanted.items()):
        name = key[0]
        previous = old_versions.get(key)
        reuse = previous is not None and not p.refresh and name not in p.upgrade_set
        if previous is not None and reuse and targets <= set(previous.targets):
            out[key] = list(previous.files)
            continue
        url = p.config.index_url or index_of.get(name, "")
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
                out[key] = [f for f in pages[key[0]] if file_version(f.filename) == (key[0], key[1])]
    return out


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
    new_state = LockState(
        config=config_fingerprint(p.config),
        requests={
            r.id: RequestState(
                path=r.path,
                sha256=hashlib.sha256((root / r.path).read_bytes()).hexdigest(),
                fingerprint=request_fingerprint(r, p.config),
                pins=tuple(sorted(f"{n}=={v}" for n, v in assembly.needs[r.id])),
            )
            for r in p.requests
        },
        files=hashes,
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
    changed = set(replace_files(changes))
    return LockOutcome(
        resolved=tuple(item.request.path for item in p.to_resolve),
        projects=len(projects),
        versions=sum(len(pr.versions) for pr in projects.values()),
        files=sum(len(v.files) for pr in projects.values() for v in pr.versions),
        written=tuple(name for name in sorted(texts) if folder / name in changed),
        deleted=tuple(path.name for path in stale),
    )


# -- the whole step --------------------------------------------------------------------------------------


def lock(
    *,
    root: Path,
    env: Mapping[str, str],
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    on_event: Callable[[LockEvent], None] | None = None,
) -> LockOutcome:
    """Lock the catalog; raise (leaving catalog/ untouched) on any failure."""
    say = on_event or (lambda event: None)
    config = load_config(root)
    on_disk = read_state(root)
    state = on_disk or LockState()
    fresh = freshness(root, config, on_disk)
    upgrade_set = frozenset(normalize(n) for n in upgrade_packages)
    rewrite = bool(fresh.legacy) or fresh.legacy_state  # an older lock's format: rewritten, nothing resolved
    if not fresh.stale and not fresh.drift and not rewrite and not upgrade and not upgrade_set:
        # up to date: neither the requests nor the package files need parsing
        return LockOutcome(
            resolved=(),
            projects=len(state.files),
            versions=len({pin for r in state.requests.values() for pin in r.pins}),
            files=-1,
            written=(),
            deleted=(),
        )
    p = plan(root, config, state, fresh, upgrade=upgrade, upgrade_set=upgrade_set)
    for note in p.notes:
        say(Note(text=note))
    resolved = resolve(p, env, say)
    return write(root, p, assemble(p, resolved, env, say))
