"""The environment is read in one place, the CLI entry, and passed in from there (STYLE: pure core)."""

from __future__ import annotations

import re

from tests.conftest import REPO

ENTRY_POINTS = {
    "cli.py",  # curate's entry: main() builds env and hands it to every verb
    "mkdocs_plugin.py",  # mkdocs' entry into curate, when `mkdocs build` runs the plugin by itself
    # not a reader: it sets GuardDog's own GUARDDOG_TOP_PACKAGES_CACHE_LOCATION before GuardDog loads
    # (GuardDog reads it at import), so that loading it never reaches the network
    "codescan.py",
}


def test_only_the_entry_points_read_the_process_environment() -> None:
    package = REPO / "scripts" / "curate"
    readers = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if re.search(r"\bos\.environ\b|\bgetenv\b|\benviron\b\s*\[", path.read_text("utf-8"))
    )
    assert readers == sorted(ENTRY_POINTS)
