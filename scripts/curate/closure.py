"""A request's closure: what it needs, per version and per target, and what uv is asked for.

:func:`requirements_for` turns a request into the requirements handed to uv (each requested package
limited to its targets) and :func:`preferences_for` into the versions uv should keep;
:func:`needs_from_pins` turns uv's one universal resolution back into per-version needs (which targets,
direct or via which parents), evaluating uv's markers for every target; :func:`needs_from_catalog`
reads an unchanged request's needs back from the catalog. Versions are keyed by :data:`VersionKey`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from curate.catalog import Need, Project
from curate.config import Config
from curate.lockstate import LockState
from curate.names import NormalizedName, normalize
from curate.requests import Request
from curate.resolve import Requirement

if TYPE_CHECKING:
    from curate.cooldown import HeldBack
    from curate.resolve import Pin

VersionKey = tuple[NormalizedName, str]  # (normalized name, canonical version)


def canonical_version(version: str) -> str:
    """A version as PEP 440 normalizes it (``1.0.0a1`` for ``1.0.0-alpha1``); unparsable ones as they are."""
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
    held_back: tuple[HeldBack, ...] = ()  # what the release cooldown kept it from taking

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
    """An unchanged request's needs, as the catalog recorded them (not the versions it needs only to
    build an sdist: those are locked again from the sdists, :mod:`curate.builddeps`)."""
    out: dict[VersionKey, Need] = {}
    for name, project in catalog.items():
        for v in project.versions:
            for need in v.needed_by:
                if need.request == request_id and not need.to_build:
                    out[(name, canonical_version(v.version))] = need
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


def entries_needing(request: Request, needs: Mapping[VersionKey, Need], project: NormalizedName) -> list[int]:
    """The indexes of the request's package entries that ask for ``project``, or else pull it in
    (directly or through other packages), following the parents its needs record."""
    index = {spec.normalized: i for i, spec in enumerate(request.packages)}
    if project in index:
        return [index[project]]
    parents: dict[NormalizedName, set[NormalizedName]] = {}
    for (name, _), need in needs.items():
        parents.setdefault(name, set()).update(normalize(v) for v in need.via)
    found: set[int] = set()
    seen = {project}
    todo = [project]
    while todo:
        for parent in sorted(parents.get(todo.pop(), ())):
            if parent in index:
                found.add(index[parent])
            elif parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return sorted(found)
