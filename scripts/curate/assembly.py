"""Project assembly: the new catalog from every request's needs and each version's candidate files.

:func:`build_projects` makes one :class:`~curate.catalog.Project` per needed project: every needed
version with the files its targets can install (:mod:`curate.selection`), who needs it on which targets,
the packages it pulls in (:func:`dependencies_of`), and the ``vetting`` the catalog already held for it.
A target left without a file is returned as a :class:`MissingWheel`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from curate.catalog import (
    Dependency,
    FileEntry,
    Need,
    Project,
    VersionEntry,
)
from curate.closure import VersionKey, canonical_version
from curate.config import Config
from curate.names import NormalizedName, normalize
from curate.selection import select_files
from curate.targets import Target

if TYPE_CHECKING:  # kept out of start-up: `curate lock --check` never reads an index
    from curate.upstream import ListedFile


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class MissingWheel:
    requests: tuple[str, ...]  # ids of the requests that need the version on the target
    project: NormalizedName
    name: str  # as displayed
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
                    project=name,
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
