"""The additive catalog: what a lock keeps that no request needs any more, and what leaves, and why.

A version that was approved stays served until a reviewed change takes it out. When a lock moves a
request to another version (an upgrade, an edited or deleted request), the version no request needs
any more stays in the catalog as *superseded* (:func:`keep_superseded`): still served, still vetted by
every rescan, with the day it was superseded. It leaves only through (:func:`departures`):

- a request's ``remove:`` entry matching it (a removal of a version some request still needs is
  refused, see :mod:`curate.removals`);
- the configured retention rule (``retention.superseded`` in ``catalog/config.yaml``): ``keep`` (the
  default: nothing leaves on its own), ``drop-after: N`` days after it was superseded, or
  ``keep-latest: N`` superseded versions per project (the newest).

A version that vetting blocks is never dropped for that: it stays in the catalog, unserved, with its
finding, and leaves the same two ways. Everything here is pure: catalogs in, catalogs and records out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Literal

from curate.catalog import Project, VersionEntry
from curate.config import Retention
from curate.names import NormalizedName
from curate.requests import Request

DepartureKind = Literal["remove", "retention"]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Departure:
    """One version that leaves the catalog, and why."""

    name: str  # as displayed
    normalized: NormalizedName
    version: str
    kind: DepartureKind
    reason: str  # the remove: entry's reason, or the retention rule and the day it was superseded
    request: str = ""  # the request path whose remove: entry takes it out
    line: int = 0  # of that entry

    def describe(self) -> str:
        if self.kind == "remove":
            return f"removed by {self.request}: {self.reason}"
        return f"retention ({self.reason})"


def _key(v: VersionEntry) -> str:
    return str(v.parsed)


def keep_superseded(
    projects: Mapping[NormalizedName, Project], old: Mapping[NormalizedName, Project], today: dt.date
) -> tuple[dict[NormalizedName, Project], tuple[tuple[str, str], ...]]:
    """``projects`` (every needed version) with each version of ``old`` that no request needs any more,
    kept as superseded (no ``needed_by``; ``superseded_since`` kept, or today for a newly superseded one).

    Returns the catalog and the (name, version) of the versions superseded in this lock."""
    out = dict(projects)
    newly: list[tuple[str, str]] = []
    for name, before in old.items():
        now = out.get(name)
        needed = {_key(v) for v in now.versions} if now is not None else set()
        kept = []
        for v in before.versions:
            if _key(v) in needed:
                continue
            since = v.superseded_since
            if not since:
                since = today.isoformat()
                newly.append((before.name, v.version))
            kept.append(dataclasses.replace(v, needed_by=(), superseded_since=since))
        if not kept:
            continue
        if now is None:
            out[name] = Project(name=before.name, versions=tuple(kept))
        else:
            out[name] = dataclasses.replace(now, versions=(*now.versions, *kept))
    return dict(sorted(out.items())), tuple(sorted(newly))


def departures(
    projects: Mapping[NormalizedName, Project],
    requests: Sequence[Request],
    retention: Retention,
    today: dt.date,
) -> tuple[dict[NormalizedName, Project], tuple[Departure, ...], str]:
    """Take out the superseded versions a ``remove:`` entry or the retention rule lets go.

    Returns the catalog left, what left (sorted by project and version) and the first day a
    ``drop-after`` rule takes another version out ("" when none will)."""
    gone: dict[tuple[NormalizedName, str], Departure] = {}
    for request in requests:
        for removal in request.remove:
            project = projects.get(removal.normalized)
            if project is None:
                continue
            spec = removal.specifier_set
            for v in project.versions:
                if v.needed_by or not spec.contains(v.version, prereleases=True):
                    continue  # a needed version: refused by curate.removals
                gone.setdefault(
                    (removal.normalized, _key(v)),
                    Departure(
                        name=project.name,
                        normalized=removal.normalized,
                        version=v.version,
                        kind="remove",
                        reason=removal.reason,
                        request=request.path,
                        line=removal.line,
                    ),
                )
    due = ""
    for name, project in projects.items():
        superseded = [v for v in project.sorted_versions() if not v.needed_by and v.superseded_since]
        if retention.rule == "drop-after":
            for v in superseded:
                since = dt.date.fromisoformat(v.superseded_since)
                leaves = since + dt.timedelta(days=retention.days)
                if leaves <= today:
                    reason = f"drop-after: {retention.days} days; superseded since {v.superseded_since}"
                    gone.setdefault(
                        (name, _key(v)),
                        Departure(
                            name=project.name,
                            normalized=name,
                            version=v.version,
                            kind="retention",
                            reason=reason,
                        ),
                    )
                elif (name, _key(v)) not in gone and (not due or leaves.isoformat() < due):
                    due = leaves.isoformat()
        elif retention.rule == "keep-latest":
            staying = [v for v in superseded if (name, _key(v)) not in gone]
            cut = len(staying) - retention.count
            for v in staying[: max(cut, 0)]:
                newer = ", ".join(x.version for x in staying[cut:]) or "none"
                gone[(name, _key(v))] = Departure(
                    name=project.name,
                    normalized=name,
                    version=v.version,
                    kind="retention",
                    reason=f"keep-latest: {retention.count}; newer superseded versions kept: {newer}",
                )
    out: dict[NormalizedName, Project] = {}
    for name, project in projects.items():
        versions = tuple(v for v in project.versions if (name, _key(v)) not in gone)
        if versions:
            out[name] = dataclasses.replace(project, versions=versions)
    return out, tuple(gone[k] for k in sorted(gone, key=lambda k: (k[0], _sort_version(k[1])))), due


def _sort_version(version: str) -> tuple[int, object]:
    from packaging.version import InvalidVersion, Version

    try:
        return (0, Version(version))
    except InvalidVersion:  # pragma: no cover - catalog versions parse
        return (1, version)
