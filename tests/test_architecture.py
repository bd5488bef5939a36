"""ARCHITECTURE.md stays true to the package.

Its "Modules by concern" section names every module of ``scripts/curate`` (``lock``, ``importers/merge``,
``commands/_authoring``; the verbs' own modules are covered by the pipeline table's verb column): a module
named there must exist, and a module that exists must be named there. Every verb is in the pipeline table
and in the README.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from curate import cli

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "scripts" / "curate"
TEXT = (REPO / "ARCHITECTURE.md").read_text("utf-8")
VERB_MODULES = {f"commands/{module}" for module, _ in cli.VERBS.values()}


def _modules() -> set[str]:
    out = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("").as_posix()
        if not rel.endswith("__init__") and rel != "__main__":
            out.add(rel)
    return out


def _section(title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", TEXT, re.M | re.S)
    assert m is not None, f"ARCHITECTURE.md has no section '## {title}'"
    return m.group(1)


def _named_modules() -> set[str]:
    """Code spans of the section that look like a module: ``lock``, ``importers/merge`` (not folders or paths)."""
    spans = re.findall(r"`([^`]+)`", _section("Modules by concern"))
    return {s for s in spans if re.fullmatch(r"(?:[a-z_]+/)?[a-z_][a-z0-9_]*", s)}


def test_every_module_named_exists() -> None:
    missing = sorted(_named_modules() - _modules())
    assert not missing, f"ARCHITECTURE.md names modules that do not exist: {missing}"


@pytest.mark.parametrize("module", sorted(_modules() - VERB_MODULES))
def test_every_module_is_named(module: str) -> None:
    assert module in _named_modules(), (
        f"scripts/curate/{module}.py is not named in ARCHITECTURE.md's 'Modules by concern': say where it belongs"
    )


@pytest.mark.parametrize("verb", sorted(cli.VERBS))
def test_every_verb_is_documented(verb: str) -> None:
    assert f"`{verb}`" in _section("The pipeline"), f"ARCHITECTURE.md's pipeline table does not list {verb}"
    readme = (REPO / "README.md").read_text("utf-8")
    assert f"curate {verb}" in readme, f"README.md never mentions `curate {verb}`"


def test_the_check_itself_notices_a_module_that_is_not_there() -> None:
    assert "no_such_module" not in _modules()
    spans = re.findall(r"`([^`]+)`", "a `no_such_module` b")
    assert spans == ["no_such_module"]
