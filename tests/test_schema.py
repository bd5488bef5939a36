"""The shipped JSON Schema (curate.schema) stays in sync with the request model and agrees with curate check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from curate import cli
from curate.checking import check_files
from curate.commands.schema import schema
from curate.requests import PACKAGE_KEYS, REMOVE_KEYS, REQUEST_KEYS, REQUIRED_KEYS
from curate.schema import SCHEMA_FILE, is_current, schema_text, write_schema
from curate.targets import OS_NAMES
from tests.conftest import REPO

SHIPPED = REPO / "scripts" / "curate" / "data" / "request.schema.json"


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SHIPPED.read_text("utf-8"))
    return data


def _load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def test_shipped_file_is_up_to_date() -> None:
    assert SHIPPED.read_text("utf-8") == schema_text(), "run: curate schema --write"


def test_the_core_reads_and_writes_the_shipped_file(tmp_path: Path) -> None:
    assert SCHEMA_FILE == SHIPPED
    assert is_current()
    target = tmp_path / "request.schema.json"
    assert not is_current(target)
    assert write_schema(target) is True
    assert is_current(target)
    assert write_schema(target) is False
    target.write_text("{}\n")
    assert not is_current(target)


def test_is_a_valid_draft_2020_12_schema(shipped: dict[str, Any]) -> None:
    assert shipped["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(shipped)


def test_matches_the_model(shipped: dict[str, Any]) -> None:
    props = shipped["properties"]
    assert tuple(props) == REQUEST_KEYS
    assert tuple(shipped["required"]) == REQUIRED_KEYS
    assert shipped["additionalProperties"] is False
    package = props["packages"]["items"]
    assert tuple(package["properties"]) == PACKAGE_KEYS
    assert package["required"] == ["name"]
    assert package["additionalProperties"] is False
    remove = props["remove"]["items"]
    assert tuple(remove["properties"]) == REMOVE_KEYS
    assert remove["required"] == ["name", "reason"]
    for platforms in (props["platforms"], package["properties"]["platforms"]):
        single, many = platforms["anyOf"]
        assert tuple(single["enum"]) == OS_NAMES
        assert tuple(many["items"]["enum"]) == OS_NAMES


def _walk(node: Any, path: str = "") -> list[str]:
    """Key paths of every property without a description."""
    missing: list[str] = []
    if isinstance(node, dict):
        for key, sub in node.get("properties", {}).items():
            if not sub.get("description"):
                missing.append(f"{path}.{key}")
            missing += _walk(sub, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            missing += _walk(node["items"], f"{path}[]")
    return missing


def test_every_field_has_a_description(shipped: dict[str, Any]) -> None:
    assert shipped["description"]
    assert _walk(shipped) == []


def test_cli_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["schema"]) == 0
    assert capsys.readouterr().out == SHIPPED.read_text("utf-8")


def test_write_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "request.schema.json"
    assert schema(check=True, target=target) == 1
    assert "is out of date; run: curate schema --write" in capsys.readouterr().out
    assert schema(write=True, target=target) == 0
    assert target.read_text("utf-8") == schema_text()
    assert "wrote" in capsys.readouterr().out
    mtime = target.stat().st_mtime_ns
    assert schema(write=True, target=target) == 0
    assert "up to date" in capsys.readouterr().out
    assert target.stat().st_mtime_ns == mtime
    assert schema(check=True, target=target) == 0
    assert cli.main(["schema", "--check"]) == 0


@pytest.mark.parametrize("path", sorted((REPO / "requests").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate(shipped: dict[str, Any], path: Path) -> None:
    jsonschema.validate(_load(path.read_text("utf-8")), shipped, cls=jsonschema.Draft202012Validator)


GOOD = """\
title: Data tools
requested_by: a@example.com
justification: The analytics team needs these for the weekly reports.
platforms: [linux, macos]
python: ["3.12"]
compliance: internal
packages:
  - name: numpy
    version: ">=1.26"
  - name: uvicorn[standard]
    version: "==0.30.*"
    platforms: [linux]
    note: the server
  - name: pandas
remove:
  - name: six
    version: "<1.16"
    reason: no longer needed
"""

BAD = {
    "unknown-key": GOOD + "platfroms: [linux]\n",
    "missing-title": GOOD.replace("title: Data tools\n", ""),
    "missing-justification": GOOD.replace(
        "justification: The analytics team needs these for the weekly reports.\n", ""
    ),
    "short-justification": GOOD.replace("The analytics team needs these for the weekly reports.", "TBD"),
    "title-list": GOOD.replace("title: Data tools", "title: [a]"),
    "packages-string": GOOD.split("packages:")[0] + "packages: numpy\n",
    "package-string": GOOD.replace("  - name: pandas\n", "  - pandas\n"),
    "package-unknown-key": GOOD.replace("    note: the server", "    notes: the server"),
    "package-no-name": GOOD.replace("  - name: pandas\n", "  - version: '>=1'\n"),
    "platform-win": GOOD.replace("[linux, macos]", "[linux, win]"),
    "platforms-empty": GOOD.replace("[linux, macos]", "[]"),
    "python-float": GOOD.replace('["3.12"]', "[3.12]"),
    "python-bad": GOOD.replace('["3.12"]', '["three"]'),
    "version-number": GOOD.replace('">=1.26"', "1.26"),
    "version-bare": GOOD.replace('">=1.26"', '"1.26"'),
    "version-poetry": GOOD.replace('">=1.26"', '"^1.26"'),
    "name-with-space": GOOD.replace("name: pandas", "name: pan das"),
    "name-with-url": GOOD.replace("name: pandas", "name: pandas @ https://files.example/p.whl"),
    "remove-no-reason": GOOD.replace("    reason: no longer needed\n", ""),
    "nothing-asked": GOOD.split("packages:")[0],
    "top-level-list": "- title: x\n",
    "title-newline": GOOD.replace("title: Data tools", 'title: "Data\\ntools"'),
    "title-tab": GOOD.replace("title: Data tools", 'title: "Data\\ttools"'),
    "title-escape": GOOD.replace("title: Data tools", 'title: "Data\\e[31mtools"'),
    "title-noncharacter": GOOD.replace("title: Data tools", 'title: "Data tools\\uFFFE"'),
    "justification-nul": GOOD.replace("weekly reports.", 'weekly reports.\\x00"').replace(
        "justification: The", 'justification: "The'
    ),
    "note-bell": GOOD.replace("note: the server", 'note: "the server\\a"'),
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("schema")
    (root / "catalog").mkdir()
    (root / "catalog" / "config.yaml").write_text((REPO / "catalog" / "config.yaml").read_text("utf-8"))
    (root / "requests").mkdir()
    return root


def test_multi_line_free_text_passes_both(shipped: dict[str, Any], root: Path) -> None:
    text = GOOD.replace("note: the server", 'note: "the\\n\\tserver"').replace(
        "justification: The analytics team needs these for the weekly reports.",
        "justification: |\n  The analytics team needs these\n  \tfor the weekly reports.",
    )
    jsonschema.validate(_load(text), shipped, cls=jsonschema.Draft202012Validator)
    path = root / "requests" / "2026-11-21-multi-line.yaml"
    path.write_text(text)
    assert check_files(root, [path]).problems == []


def test_good_request_passes_both(shipped: dict[str, Any], root: Path) -> None:
    jsonschema.validate(_load(GOOD), shipped, cls=jsonschema.Draft202012Validator)
    path = root / "requests" / "2026-11-21-good.yaml"
    path.write_text(GOOD)
    assert check_files(root, [path]).problems == []


@pytest.mark.parametrize(("ident", "text"), list(BAD.items()), ids=list(BAD))
def test_bad_requests_fail_both(shipped: dict[str, Any], root: Path, ident: str, text: str) -> None:
    validator = jsonschema.Draft202012Validator(shipped)
    assert list(validator.iter_errors(_load(text))), "the schema accepts it"
    path = root / "requests" / f"2026-11-21-{ident}.yaml"
    path.write_text(text)
    assert check_files(root, [path]).problems, "curate check accepts it"
