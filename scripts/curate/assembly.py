"""Project assembly: the new catalog from every request's needs and each version's candidate files.

:func:`build_projects` makes one :class:`~curate.catalog.Project` per needed project: every needed
version with the files its targets can install (:mod:`curate.selection`), who needs it on which targets,
the packages it pulls in (:func:`dependencies_of`), and the ``vetting`` the catalog already held for it.
A target left without a file is returned as a :class:`MissingWheel`.

**Build dependencies** (``build_needs``, from :mod:`curate.builddeps`): the versions building an sdist
needs are versions like any other, each with a need ``to_build`` that sdist per request, and the
dependencies among them; they must have a wheel for every target that builds the sdist (a build
dependency is never itself built from source), and the sdist's version records its ``build_system``.

**Served everywhere it installs** (:func:`widened_targets`): a version is served not only for the
targets that need it, but for every target on which some request needs any version of its project
(and, transitively, of a project that pulls it in there), wherever the upstream has a wheel for it and
its Requires-Python allows it. So a lock file made on one Python of a request, which may pick a version
another Python of the request was resolved to, installs on every Python and OS of the request. Only
the targets that need a version must have a file; the others get one when the upstream has one.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from curate.catalog import (
    BuildSystem,
    Dependency,
    FileEntry,
    Need,
    Project,
    VersionEntry,
)
from curate.closure import VersionKey, canonical_version
from curate.config import Config
from curate.names import NormalizedName, normalize
from curate.selection import FileSelection, select_files
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
    to_build: VersionKey | None = None  # a build dependency of that sdist (no wheel for a target building it)


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


def widened_targets(
    needs: Mapping[str, Mapping[VersionKey, Need]], platform_of: Mapping[str, str]
) -> dict[NormalizedName, set[str]]:
    """Per project: the targets its versions are served for where they can be.

    Every target on which some request needs some version of the project; and, to a fixpoint, every
    such target of a project that depends on it on that target's platform (a version served on more
    targets than resolved there brings its dependencies along)."""
    wanted: dict[NormalizedName, set[str]] = defaultdict(set)
    for request_needs in needs.values():
        for (name, _), need in request_needs.items():
            wanted[name].update(need.targets)
    edges: dict[NormalizedName, dict[NormalizedName, set[str]]] = defaultdict(lambda: defaultdict(set))
    for (parent, _), children in dependencies_of(needs).items():
        for child, targets in children.items():
            edges[parent][child].update(platform_of.get(t, t) for t in targets)
    changed = True
    while changed:
        changed = False
        for parent, children in edges.items():
            for child, platforms in children.items():
                extra = {t for t in wanted[parent] if platform_of.get(t, t) in platforms} - wanted[child]
                if extra:
                    wanted[child] |= extra
                    changed = True
    return dict(wanted)


def _widen(
    selection: FileSelection,
    candidates: Sequence[ListedFile | FileEntry],
    extra: Sequence[Target],
) -> tuple[FileEntry, ...]:
    """The selected files plus the wheels that serve ``extra`` targets (no sdist: nobody resolved there)."""
    more = select_files(candidates, extra, allow_sdist=False).files if extra else ()
    if not more:
        return selection.files
    served: dict[str, FileEntry] = {f.filename: f for f in selection.files}
    for f in more:
        have = served.get(f.filename)
        targets = f.targets if have is None else (*have.targets, *f.targets)
        served[f.filename] = dataclasses.replace(have or f, targets=tuple(sorted(set(targets))))
    return tuple(served[name] for name in sorted(served))


def build_projects(
    *,
    config: Config,
    needs: Mapping[str, Mapping[VersionKey, Need]],
    candidates: Mapping[VersionKey, Sequence[ListedFile | FileEntry]],
    old: Mapping[NormalizedName, Project],
    names: Mapping[NormalizedName, str],
    build_needs: Mapping[VersionKey, Mapping[str, Mapping[VersionKey, Need]]] | None = None,
    build_systems: Mapping[VersionKey, BuildSystem] | None = None,
) -> tuple[dict[NormalizedName, Project], list[MissingWheel]]:
    """The new catalog: every needed version with its files, needs and dependencies; vetting kept.
    ``build_needs``: per sdist, per request, what building it needs; ``build_systems``: per sdist, what
    its build system declares and its backend asked for."""
    by_version: dict[VersionKey, list[Need]] = defaultdict(list)
    for request_needs in needs.values():
        for key, need in request_needs.items():
            by_version[key].append(need)
    build_on: dict[VersionKey, dict[str, list[Need]]] = defaultdict(lambda: defaultdict(list))
    groups: dict[str, Mapping[VersionKey, Need]] = {}
    for sdist, per_request in (build_needs or {}).items():
        for rid, request_needs in per_request.items():
            groups[f"{rid}\x00{sdist[0]}\x00{sdist[1]}"] = request_needs
            for key, need in request_needs.items():
                by_version[key].append(need)
                build_on[key][need.to_build].extend([need])
    deps = dependencies_of(needs)
    for key, children in dependencies_of(groups).items():  # among the build dependencies of one sdist
        for child, ts in children.items():
            deps.setdefault(key, defaultdict(set))[child].update(ts)
    targets_by_id = {t.id: t for t in config.all_targets()}
    widened = widened_targets(needs, {t.id: t.platform.name for t in targets_by_id.values()})
    old_versions = {(name, canonical_version(v.version)): v for name, p in old.items() for v in p.versions}
    missing: list[MissingWheel] = []
    versions: dict[NormalizedName, list[VersionEntry]] = defaultdict(list)
    for key in sorted(by_version):
        name, version = key
        vneeds = sorted(by_version[key], key=lambda n: n.sort_key)
        target_ids = sorted({t for n in vneeds for t in n.targets})
        run_ids = {t for n in vneeds if not n.to_build for t in n.targets}
        targets = [targets_by_id[t] for t in target_ids if t in run_ids and t in targets_by_id]
        files = list(candidates.get(key, ()))
        selection = select_files(
            files,
            targets,
            allow_sdist=config.allow_sdist,
            sdist_beside_pure=config.build.from_source == "pure",
        )
        for sdist_label, bneeds in sorted(build_on.get(key, {}).items()):  # a wheel where it builds one
            ids = sorted({t for n in bneeds for t in n.targets})
            for target in select_files(
                files, [targets_by_id[t] for t in ids if t in targets_by_id], allow_sdist=False
            ).missing:
                sname, _, sversion = sdist_label.partition("==")
                missing.append(
                    MissingWheel(
                        requests=tuple(sorted({n.request for n in bneeds if target.id in n.targets})),
                        project=name,
                        name=names.get(name, name),
                        version=version,
                        target=target,
                        files=tuple(sorted(f.filename for f in files)),
                        to_build=(normalize(sname), sversion),
                    )
                )
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
        extra = [
            targets_by_id[t]
            for t in sorted((widened.get(name, set()) | set(target_ids)) - run_ids)
            if t in targets_by_id
        ]
        kept = _widen(selection, files, extra)
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
                build_system=(build_systems or {}).get(key) if selection.build_targets else None,
                # what curate wheels built stays while the sdist it was built from is still a file
                built=tuple(b for b in previous.built if b.sdist_sha256 in {f.sha256 for f in kept})
                if previous
                else (),
                build_failures=tuple(
                    b for b in previous.build_failures if b.sdist_sha256 in {f.sha256 for f in kept}
                )
                if previous
                else (),
            )
        )
    projects = {
        name: Project(name=old[name].name if name in old else names.get(name, name), versions=tuple(vs))
        for name, vs in sorted(versions.items())
    }
    return projects, missing
