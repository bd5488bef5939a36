"""Locking, the pure core: from requests, resolutions and upstream file lists to catalog projects.

Nothing here touches the network, uv or the disk (``commands/lock.py`` does). The pieces:

- :func:`needs_from_pins` turns one request's universal resolution into per-version needs (which
  targets, direct or via which parents), evaluating uv's markers for every target;
- :func:`build_projects` assembles the new catalog from every request's needs, keeping ``vetting``;
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from curate.catalog import (
    Dependency,
    FileEntry,
    Need,
    Project,
    VersionEntry,
)
from curate.config import Config
from curate.lockstate import LockState
from curate.names import NormalizedName, normalize
from curate.requests import Request
from curate.resolve import Requirement
from curate.selection import select_files
from curate.targets import Target

if TYPE_CHECKING:  # kept out of start-up: `curate lock --check` never resolves or reads an index
    from curate.resolve import Pin
    from curate.upstream import ListedFile


VersionKey = tuple[NormalizedName, str]  # (normalized name, canonical version)


def canonical_version(version: str) -> str:
    try:
        return str(Version(version))
    except InvalidVersion:
        return version


def requirements_for(request: Request, config: Config) -> list[Requirement]:
    """The requirements handed to uv: each requested package limited to its targets."""
    out = []
    for spec in sorted(request.packages, key=lambda s: s.normalized):
        targets = tuple(request.package_targets(spec, config))
        if targets:
            out.append(Requirement(text=spec.requirement(), targets=targets))
    return out


# -- from a resolution to needs ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Resolved:
    """One request's needs: per version, which targets, direct or via which parents."""

    request: str
    needs: dict[VersionKey, Need]
    names: dict[NormalizedName, str]  # display names uv gave
    index_urls: dict[NormalizedName, str]  # where each pin came from ("" = unknown)

    @property
    def pins(self) -> list[str]:
        return sorted(f"{name}=={version}" for name, version in self.needs)


def needs_from_pins(request: Request, config: Config, pins: Sequence[Pin]) -> Resolved:
    direct_targets: dict[NormalizedName, set[str]] = {}
    for spec in request.packages:
        direct_targets.setdefault(spec.normalized, set()).update(
            t.id for t in request.package_targets(spec, config)
        )
    targets: dict[VersionKey, set[str]] = defaultdict(set)
    via: dict[VersionKey, set[str]] = defaultdict(set)
    direct: dict[VersionKey, bool] = defaultdict(bool)
    for target in request.targets(config):
        here = [p for p in pins if p.applies(target)]
        present = {p.name for p in here}
        for p in here:
            key = (p.name, canonical_version(p.version))
            targets[key].add(target.id)
            via[key].update(v for v in p.via if v in present and v != p.name)
            if target.id in direct_targets.get(p.name, ()):
                direct[key] = True
    needs = {
        key: Need(
            request=request.id, targets=tuple(sorted(ts)), direct=direct[key], via=tuple(sorted(via[key]))
        )
        for key, ts in targets.items()
    }
    return Resolved(
        request=request.id,
        needs=needs,
        names={p.name: p.display for p in pins},
        index_urls={p.name: p.index_url for p in pins},
    )


def needs_from_catalog(catalog: Mapping[NormalizedName, Project], request_id: str) -> dict[VersionKey, Need]:
    """An unchanged request's needs, as the catalog recorded them."""
    out: dict[VersionKey, Need] = {}
    for name, project in catalog.items():
        for v in project.versions:
            for need in v.needed_by:
                if need.request == request_id:
                    out[(name, canonical_version(v.version))] = need
    return out


# -- assembling the catalog ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class MissingWheel:
    requests: tuple[str, ...]
    name: str
    version: str
    target: Target
    files: tuple[str, ...]


def dependencies_of(
    needs: Mapping[str, Mapping[VersionKey, Need]],
) -> dict[VersionKey, dict[NormalizedName, set[str]]]:
    """Per version: the packages it pulls in, and on which targets (from every request's needs)."""
    out: dict[VersionKey, dict[NormalizedName, set[str]]] = defaultdict(lambda: defaultdict(set))
    for request_needs in needs.values():
        on_target: dict[tuple[NormalizedName, str], str] = {}  # (name, target id) -> version
        for (name, version), need in request_needs.items():
            for t in need.targets:
                on_target[(name, t)] = version
        for (child, _), need in request_needs.items():
            for parent in need.via:
                pname = normalize(parent)
                for t in need.targets:
                    pv = on_target.get((pname, t))
                    if pv is not None:
                        out[(pname, pv)][child].add(t)
    return out


def build_projects(
    *,
    config: Config,
    needs: Mapping[str, Mapping[VersionKey, Need]],
    candidates: Mapping[VersionKey, Sequence[ListedFile | FileEntry]],
    old: Mapping[NormalizedName, Project],
    names: Mapping[NormalizedName, str],
) -> tuple[dict[NormalizedName, Project], list[MissingWheel]]:
    """The new catalog: every needed version with its files, needs and dependencies; vetting kept."""
    by_version: dict[VersionKey, list[Need]] = defaultdict(list)
    for request_needs in needs.values():
        for key, need in request_needs.items():
            by_version[key].append(need)
    deps = dependencies_of(needs)
    targets_by_id = {t.id: t for t in config.all_targets()}
    old_versions = {(name, canonical_version(v.version)): v for name, p in old.items() for v in p.versions}
    missing: list[MissingWheel] = []
    versions: dict[NormalizedName, list[VersionEntry]] = defaultdict(list)
    for key in sorted(by_version):
        name, version = key
        vneeds = sorted(by_version[key], key=lambda n: n.request)
        target_ids = sorted({t for n in vneeds for t in n.targets})
        targets = [targets_by_id[t] for t in target_ids if t in targets_by_id]
        files = list(candidates.get(key, ()))
        selection = select_files(files, targets, allow_sdist=config.allow_sdist)
        for target in selection.missing:
            missing.append(
                MissingWheel(
                    requests=tuple(n.request for n in vneeds if target.id in n.targets),
                    name=names.get(name, name),
                    version=version,
                    target=target,
                    files=tuple(sorted(f.filename for f in files)),
                )
            )
        kept = selection.files
        rp = next((f.requires_python for f in kept if f.requires_python), "")
        yanked = kept[0].yanked if kept and all(f.yanked is not None for f in kept) else None
        previous = old_versions.get(key)
        versions[name].append(
            VersionEntry(
                version=previous.version if previous else version,
                requires_python=rp,
                yanked=yanked,
                needed_by=tuple(vneeds),
                build_targets=selection.build_targets,
                files=kept,
                dependencies=tuple(
                    Dependency(name=child, targets=tuple(sorted(ts)))
                    for child, ts in sorted(deps.get(key, {}).items())
                ),
                vetting=previous.vetting if previous else None,
            )
        )
    projects = {
        name: Project(name=old[name].name if name in old else names.get(name, name), versions=tuple(vs))
        for name, vs in sorted(versions.items())
    }
    return projects, missing


# -- removals ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class BlockedRemoval:
    removal_request: str  # the request path that asks for the removal
    name: str
    version: str
    needed_by: tuple[str, ...]  # request ids
    reason: str


def blocked_removals(
    requests: Sequence[Request], projects: Mapping[NormalizedName, Project]
) -> list[BlockedRemoval]:
    """Removals whose versions some request still needs."""
    out = []
    for request in requests:
        for removal in request.remove:
            project = projects.get(removal.normalized)
            if project is None:
                continue
            spec = removal.specifier_set
            for v in project.sorted_versions():
                if spec.contains(v.version, prereleases=True) and v.needed_by:
                    out.append(
                        BlockedRemoval(
                            removal_request=request.path,
                            name=project.name,
                            version=v.version,
                            needed_by=v.requests,
                            reason=removal.reason,
                        )
                    )
    return out


def preferences_for(
    request: Request, state: LockState, catalog: Mapping[NormalizedName, Project], upgrade: Iterable[str] = ()
) -> dict[str, str]:
    """Versions uv should keep: this request's previous pins first, then the newest in the catalog."""
    skip = {normalize(n) for n in upgrade}
    prefs: dict[str, str] = {}
    for name, project in catalog.items():
        latest = project.latest()
        if latest is not None and name not in skip:
            prefs[name] = latest.version
    previous = state.requests.get(request.id)
    if previous is not None:
        for name, versions in previous.pinned().items():
            if name not in skip:
                prefs[name] = max(versions, key=Version)
    return prefs
