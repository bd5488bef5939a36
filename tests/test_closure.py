"""A request's closure: which of its package entries asks for, or pulls in, a project."""

from __future__ import annotations

import datetime as dt

import pytest

from curate.catalog import Need
from curate.closure import VersionKey, entries_needing
from curate.names import NormalizedName, normalize
from curate.requests import PackageSpec, Request


def request(*names: str) -> Request:
    return Request(
        path="requests/2026-11-21-x.yaml",
        id="2026-11-21-x",
        date=dt.date(2026, 11, 21),
        slug="x",
        title="x",
        requested_by="a@example.com",
        justification="The team needs these packages for its service.",
        platforms=("linux",),
        python=("3.12",),
        packages=tuple(
            PackageSpec(name=n, normalized=normalize(n), line=5 + 2 * i) for i, n in enumerate(names)
        ),
    )


def needs(**via: tuple[str, ...]) -> dict[VersionKey, Need]:
    return {
        (NormalizedName(name), "1.0"): Need(
            request="2026-11-21-x", targets=("t",), direct=not parents, via=parents
        )
        for name, parents in via.items()
    }


# web -> http -> certs; cli -> certs; cycle -> loop -> cycle
NEEDS = needs(web=(), cli=(), http=("web",), certs=("cli", "http"), loop=("cycle",), cycle=("loop",))


@pytest.mark.parametrize(
    ("project", "entries"),
    [
        ("web", [0]),  # asked for: its own entry, even when something else pulls it in too
        ("http", [0]),
        ("certs", [0, 1]),  # through http (web) and directly from cli
        ("loop", []),  # a cycle that reaches no entry ends
        ("unknown", []),
    ],
)
def test_entries_needing(project: str, entries: list[int]) -> None:
    assert entries_needing(request("Web", "cli"), NEEDS, NormalizedName(project)) == entries
