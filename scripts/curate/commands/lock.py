"""Resolve every change request for every target and write the locked catalog.

Each request in requests/ is resolved with uv, with all of its transitive dependencies, for each of its
targets (its platforms x Python versions; a package's own 'platforms' narrows it). For every pinned
version, exactly the upstream files some target needing it can install are kept, with URL, sha256,
size, upload time and requires-python. catalog/packages/<name>.yaml is written for every project some
request needs; the others are deleted. catalog/lock.json records what the catalog was locked from.

Stable: a request whose content is unchanged since the last lock is not resolved again, and new
resolutions prefer the versions already in the catalog. --upgrade re-resolves everything to the newest
versions; --upgrade-package NAME lets NAME move forward in the requests that use it.

--check uses neither uv nor the network: it exits 1, saying which request or file is out of date, when
catalog/ does not match requests/ and catalog/config.yaml (a changed or new request, a changed config,
a hand-edited package file). On any failure catalog/ is left exactly as it was.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from curate.assembly import build_projects
from curate.catalog import PACKAGES_DIR, FileEntry, Need, Project, iter_project_files, load_catalog_fast
from curate.checking import check_files
from curate.closure import (
    Resolved,
    VersionKey,
    canonical_version,
    needs_from_catalog,
    needs_from_pins,
    preferences_for,
    requirements_for,
)
from curate.config import CONFIG_PATH, Config, load_config
from curate.errors import (
    CurateError,
    LockError,
    ResolutionError,
    ValidationError,
    github_actions,
)
from curate.lockstate import (
    STATE_PATH,
    LockState,
    RequestState,
    config_fingerprint,
    freshness,
    lock_part_hash,
    read_state,
    request_fingerprint,
)
from curate.names import NormalizedName, normalize
from curate.removals import blocked_removals, unmatched_removals
from curate.requests import REQUESTS_DIR, Request
from curate.resolve import Requirement, compile_requirements
from curate.selection import describe_upstream_files, file_version

if TYPE_CHECKING:
    from curate.upstream import ListedFile
from curate.atomic import replace_files
from curate.targets import Target

RESOLVE_WORKERS = 4  # concurrent uv runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if catalog/ is out of date with requests/ and the config (no uv, no network)",
    )
    parser.add_argument(
        "-U", "--upgrade", action="store_true", help="re-resolve every request to the newest versions"
    )
    parser.add_argument(
        "-P",
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME",
        help="let NAME move to its newest version in the requests that use it (repeatable)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    if args.check:
        return check(root=root, annotate=github_actions(env))
    outcome = lock(
        root=root,
        env=env,
        upgrade=args.upgrade,
        upgrade_packages=args.upgrade_package,
        progress=None if args.quiet else sys.stderr,
    )
    print(outcome.summary())
    return 0


# -- reading ------------------------------------------------------------------------------------------


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


def check(*, root: Path, out: TextIO | None = None, annotate: bool = False) -> int:
    """``--check``: exit 1 naming each stale request or file (``annotate``: also as ``::error`` lines)."""
    config = load_config(root)
    state = read_state(root)
    stale = freshness(root, config, state).stale
    if stale:
        for s in stale:
            print(f"{s.path}: {s.message}", file=out or sys.stderr)
            if annotate:
                print(s.problem().annotation())
        print("catalog/ is out of date: run `curate lock` and commit the result", file=out or sys.stderr)
        return 1
    n = len(state.requests) if state is not None else 0
    print(f"catalog/ is up to date with {n} request(s)", file=out or sys.stdout)
    return 0


# -- locking --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class LockOutcome:
    resolved: tuple[str, ...]  # request paths resolved in this run
    projects: int
    versions: int
    files: int
    written: tuple[str, ...]
    deleted: tuple[str, ...]

    def summary(self) -> str:
        if not self.resolved and not self.written and not self.deleted:
            return f"catalog/ is up to date ({self.projects} projects, {self.versions} versions)"
        return (
            f"locked: {len(self.resolved)} request(s) resolved; {self.projects} projects, {self.versions} versions, "
            f"{self.files} files; {len(self.written)} file(s) written, {len(self.deleted)} deleted"
        )


def _say(progress: TextIO | None, text: str) -> None:
    if progress is not None:
        print(text, file=progress, flush=True)


def lock(
    *,
    root: Path,
    env: Mapping[str, str],
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    progress: TextIO | None = None,
) -> LockOutcome:
    """Lock the catalog; raise (leaving catalog/ untouched) on any failure."""
    config = load_config(root)
    on_disk_state = read_state(root)
    state = on_disk_state or LockState()
    fresh = freshness(root, config, on_disk_state)
    upgrade_set = {normalize(n) for n in upgrade_packages}
    if not fresh.stale and not fresh.drift and not upgrade and not upgrade_set:
        # up to date: neither the requests nor the package files need parsing
        return LockOutcome(
            resolved=(),
            projects=len(state.files),
            versions=len({pin for r in state.requests.values() for pin in r.pins}),
            files=-1,
            written=(),
            deleted=(),
        )
    requests = load_requests(root)
    files_edited = fresh.files_edited

    to_resolve: list[tuple[Request, str]] = []
    config_changed = state.config != config_fingerprint(config)
    for request in requests:
        previous = state.requests.get(request.id)
        direct = {spec.normalized for spec in request.packages}
        if upgrade:
            why = "upgrade"
        elif previous is None:
            why = "new request"
        elif previous.fingerprint != request_fingerprint(request, config):
            untouched = previous.sha256 == hashlib.sha256((root / request.path).read_bytes()).hexdigest()
            why = "config changed" if untouched and config_changed else "changed"
        elif upgrade_set & (set(previous.pinned()) | direct):
            why = "upgrade " + ", ".join(sorted(upgrade_set & (set(previous.pinned()) | direct)))
        elif files_edited:
            why = "catalog edited by hand"
        else:
            continue
        to_resolve.append((request, why))
    used = {n for r in requests for n in {s.normalized for s in r.packages}}
    used |= {n for r in state.requests.values() for n in r.pinned()}
    for name in sorted(upgrade_set - used):
        _say(progress, f"note: --upgrade-package {name}: no request asks for or pins it")

    old = load_catalog_fast(root)

    needs: dict[str, Mapping[VersionKey, Need]] = {}
    resolved: dict[str, Resolved] = {}
    again = {r.id for r, _ in to_resolve}
    for request in requests:
        if request.id not in again:
            needs[request.id] = needs_from_catalog(old, request.id)
    # requests resolve independently: a few uv runs at a time; progress is printed as each one ends
    done = 0
    errors: dict[str, CurateError] = {}

    def work(item: tuple[Request, str]) -> tuple[Request, str, Resolved | CurateError]:
        request, why = item
        try:
            result: Resolved | CurateError = _resolve(
                request,
                config,
                env,
                state=state,
                old=old,
                upgrade=upgrade,
                upgrade_packages=sorted(upgrade_set),
            )
        except CurateError as exc:
            result = exc
        return request, why, result

    workers = max(1, min(RESOLVE_WORKERS, len(to_resolve), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for request, why, result in pool.map(work, to_resolve):
            done += 1
            targets = request.targets(config)
            lines = [f"[{done}/{len(to_resolve)}] {request.path} ({why}): {len(targets)} target(s)"]
            if isinstance(result, CurateError):
                errors[request.id] = result
                lines.append("    failed")
            else:
                resolved[request.id] = result
                needs[request.id] = result.needs
                for target in targets:
                    count = sum(1 for n in result.needs.values() if target.id in n.targets)
                    lines.append(f"    {target.label}: {count} package(s)")
            _say(progress, "\n".join(lines))
    if errors:
        raise errors[min(errors)]

    typed_needs = needs
    candidates = _candidates(
        config,
        typed_needs,
        resolved,
        old,
        refresh=upgrade or state.config != config_fingerprint(config),
        upgrade_set=upgrade_set,
        progress=progress,
        env=env,
    )
    names: dict[NormalizedName, str] = {}
    for result in resolved.values():
        names.update(result.names)
    for request in requests:  # a requested project is spelled as its request spells it
        names.update({spec.normalized: spec.name for spec in request.packages})
    projects, missing = build_projects(
        config=config, needs=typed_needs, candidates=candidates, old=old, names=names
    )

    projects = _fill_sizes(projects, progress, env, login=(config.index_url,) if config.index_url else ())
    paths = {r.id: r.path for r in requests}
    if missing:
        grouped: dict[tuple[tuple[str, ...], str, str, tuple[str, ...]], list[str]] = {}
        for m in missing:
            grouped.setdefault((m.requests, m.name, m.version, m.files), []).append(m.target.label)
        lines = [
            f"{', '.join(paths.get(r, r) for r in reqs)}: {name} {version} has no wheel for "
            f"{', '.join(labels)} ({describe_upstream_files(files)})"
            for (reqs, name, version, files), labels in grouped.items()
        ]
        lines.append(
            "hint: limit the package to the platforms that have wheels (its 'platforms:' in the request), "
            "ask for another version, or allow sdists (files.allow_sdist in catalog/config.yaml)"
        )
        raise LockError("\n".join(lines))
    blocked = blocked_removals(requests, projects)
    if blocked:
        lines = [
            f"{b.removal_request}: cannot remove {b.name} {b.version}: still needed by "
            + ", ".join(paths.get(r, r) for r in b.needed_by)
            for b in blocked
        ]
        lines.append("hint: change those requests so they no longer need it (or drop the removal)")
        raise LockError("\n".join(lines))
    for request, removal in unmatched_removals(requests, old, only=again):
        _say(
            progress,
            f"note: {request.path}: remove {removal.name} {removal.specifier or '(all)'} matches nothing",
        )

    # everything is computed: now write, the lock state last
    # (a project equal to what its untouched file holds keeps its bytes: no need to render it again)
    texts: dict[str, str] = {}
    hashes: dict[str, str] = {}
    for name, project in projects.items():
        filename = f"{name}.yaml"
        if not files_edited and old.get(name) == project and filename in state.files:
            hashes[filename] = state.files[filename]
            continue
        texts[filename] = project.dumps()
        hashes[filename] = lock_part_hash(texts[filename])
    new_state = LockState(
        config=config_fingerprint(config),
        requests={
            r.id: RequestState(
                path=r.path,
                sha256=hashlib.sha256((root / r.path).read_bytes()).hexdigest(),
                fingerprint=request_fingerprint(r, config),
                pins=tuple(sorted(f"{n}=={v}" for n, v in needs[r.id])),
            )
            for r in requests
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
    written = [name for name in sorted(texts) if folder / name in changed]
    deleted = [path.name for path in stale]
    return LockOutcome(
        resolved=tuple(r.path for r, _ in to_resolve),
        projects=len(projects),
        versions=sum(len(p.versions) for p in projects.values()),
        files=sum(len(v.files) for p in projects.values() for v in p.versions),
        written=tuple(written),
        deleted=tuple(deleted),
    )


def _resolve(
    request: Request,
    config: Config,
    env: Mapping[str, str],
    *,
    state: LockState,
    old: Mapping[NormalizedName, Project],
    upgrade: bool,
    upgrade_packages: Sequence[str],
) -> Resolved:
    requirements = requirements_for(request, config)
    if not requirements:
        return needs_from_pins(request, config, [])
    preferences = {} if upgrade else preferences_for(request, state, old, upgrade_packages)
    pythons = sorted(
        {t.python for r in requirements for t in r.targets}, key=lambda p: tuple(map(int, p.split(".")))
    )
    try:
        pins = compile_requirements(
            requirements,
            python_version=pythons[0],
            index_url=config.index_url,
            allow_build=config.allow_sdist,
            env=env,
            preferences=preferences,
            upgrade=upgrade,
            upgrade_packages=upgrade_packages,
        )
    except ResolutionError as exc:
        explanation, label = str(exc), "its targets"
        if "No solution found" in explanation:  # a conflict: name the first target that has it
            target, explanation = _failing_target(requirements, config, env, explanation)
            label = target.label if target is not None else "its targets together"
        raise ResolutionError(
            f"Unable to resolve {request.path} for {label}:\n{textwrap.indent(explanation, '    ')}"
        ) from None
    return needs_from_pins(request, config, pins)


def _failing_target(
    requirements: Sequence[Requirement], config: Config, env: Mapping[str, str], universal_error: str
) -> tuple[Target | None, str]:
    """Resolve target by target to name the first one that fails, with uv's explanation for it."""
    targets: list[Target] = []
    for r in requirements:
        targets.extend(t for t in r.targets if t not in targets)
    for target in targets:
        alone = [Requirement(text=r.text, targets=(target,)) for r in requirements if target in r.targets]
        try:
            compile_requirements(
                alone,
                python_version=target.python,
                index_url=config.index_url,
                allow_build=config.allow_sdist,
                env=env,
            )
        except ResolutionError as exc:
            return target, str(exc)
    return None, universal_error


def _fill_sizes(
    projects: dict[NormalizedName, Project],
    progress: TextIO | None,
    env: Mapping[str, str],
    login: tuple[str, ...] = (),
) -> dict[NormalizedName, Project]:
    """Ask the upstream for the sizes its HTML pages did not give, only for the files kept."""
    unknown = [f.url for p in projects.values() for v in p.versions for f in v.files if f.size < 0]
    if not unknown:
        return projects
    from curate.httpclient import HttpClient
    from curate.upstream import file_sizes

    _say(progress, f"asking the upstream for the size of {len(unknown)} file(s)")
    with HttpClient(env) as client:
        sizes = file_sizes(unknown, login=login, client=client)
    return {
        name: dataclasses.replace(
            p,
            versions=tuple(
                dataclasses.replace(
                    v,
                    files=tuple(
                        dataclasses.replace(f, size=sizes[f.url]) if f.size < 0 else f for f in v.files
                    ),
                )
                for v in p.versions
            ),
        )
        for name, p in projects.items()
    }


def _candidates(
    config: Config,
    needs: Mapping[str, Mapping[VersionKey, Need]],
    resolved: Mapping[str, Resolved],
    old: Mapping[NormalizedName, Project],
    *,
    refresh: bool,
    upgrade_set: set[NormalizedName],
    progress: TextIO | None,
    env: Mapping[str, str],
) -> dict[VersionKey, list[ListedFile | FileEntry]]:
    """Each needed version's candidate files: the catalog's when they still cover its targets, else upstream's."""
    wanted: dict[VersionKey, set[str]] = {}
    for request_needs in needs.values():
        for key, need in request_needs.items():
            wanted.setdefault(key, set()).update(need.targets)
    old_versions = {(n, canonical_version(v.version)): v for n, p in old.items() for v in p.versions}
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
        reuse = previous is not None and not refresh and name not in upgrade_set
        if previous is not None and reuse and targets <= set(previous.targets):
            out[key] = list(previous.files)
            continue
        url = config.index_url or index_of.get(name, "")
        if not url:
            raise LockError(
                f"uv did not say which index {name} came from; set upstream.index_url in {CONFIG_PATH.as_posix()}"
            )
        fetch[name] = url
    if fetch:
        from curate.httpclient import HttpClient
        from curate.upstream import many_project_files

        _say(progress, f"reading {len(fetch)} project page(s) from the upstream index")
        with HttpClient(env) as client:
            pages = many_project_files(fetch, client=client)
        for key in wanted:
            if key[0] in pages:
                out[key] = [f for f in pages[key[0]] if file_version(f.filename) == (key[0], key[1])]
    return out
