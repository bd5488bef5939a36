"""Removals: a request's ``remove:`` entries against the catalog being locked.

A removal whose versions some request still needs blocks the lock (:func:`blocked_removals`); one that
matches nothing in the catalog (a misspelt name, a version it never had) is worth a note
(:func:`unmatched_removals`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence

from curate.catalog import Project
from curate.names import NormalizedName
from curate.requests import Removal, Request


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class BlockedRemoval:
    removal_request: str  # the request path that asks for the removal
    index: int  # of the entry in its remove: list
    line: int  # of the entry in the request file (0: unknown)
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
        for index, removal in enumerate(request.remove):
            project = projects.get(removal.normalized)
            if project is None:
                continue
            spec = removal.specifier_set
            for v in project.sorted_versions():
                if spec.contains(v.version, prereleases=True) and v.needed_by:
                    out.append(
                        BlockedRemoval(
                            removal_request=request.path,
                            index=index,
                            line=removal.line,
                            name=project.name,
                            version=v.version,
                            needed_by=v.requests,
                            reason=removal.reason,
                        )
                    )
    return out


def unmatched_removals(
    requests: Sequence[Request], catalog: Mapping[NormalizedName, Project], *, only: Collection[str]
) -> list[tuple[Request, Removal]]:
    """The removals of the requests in ``only`` (ids) that match no version of ``catalog``.

    Only requests locked in this run: an older request's removals were checked when it was locked and
    are done now."""
    out = []
    for request in requests:
        if request.id not in only:
            continue
        for removal in request.remove:
            in_catalog = catalog.get(removal.normalized)
            if in_catalog is None or not any(
                removal.specifier_set.contains(v.version, prereleases=True) for v in in_catalog.versions
            ):
                out.append((request, removal))
    return out
