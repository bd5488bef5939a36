"""Removals, for the lock: a request's ``remove:`` entries against the catalog being locked."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from curate.catalog import Project
from curate.names import NormalizedName
from curate.requests import Request


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
