"""Print the JSON Schema (draft 2020-12) of change requests.

The schema ships in the package as scripts/curate/data/request.schema.json; request files point
editors at it with a first line like
  # yaml-language-server: $schema=../scripts/curate/data/request.schema.json
so that keys, types and platforms are checked while typing. `curate check` remains the authority: it
also checks what a schema cannot (the catalog's Python versions, import names, duplicates, the file name).

--write rewrites the shipped file when it is out of date with the code; --check exits 1 when it is.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from curate.errors import display_path
from curate.requests import (
    MIN_JUSTIFICATION,
    PACKAGE_KEYS,
    REMOVE_KEYS,
    REQUEST_KEYS,
    REQUIRED_KEYS,
)
from curate.targets import OS_NAMES
from curate.yamlio import write_if_changed

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "data" / "request.schema.json"

# A PEP 508 distribution name, optionally with extras: pandas, scikit-learn, uvicorn[standard]
NAME_PATTERN = r"^\s*[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?\s*(\[\s*[A-Za-z0-9._,\s-]*\])?\s*$"
# A PEP 440 specifier set (or nothing, '*', 'latest'); bare versions and Poetry syntax do not match.
_CLAUSE = r"(~=|===|==|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+"
VERSION_PATTERN = rf"^\s*(|\*|latest|any|{_CLAUSE}\s*(,\s*{_CLAUSE}\s*)*)$"
PYTHON_PATTERN = r"^3\.\d{1,2}$"

_DESCRIPTIONS: dict[str, str] = {
    "title": "One line saying what the request is for, e.g. 'Data-science stack for the forecasting team'.",
    "requested_by": "Who asks: an e-mail address or a team handle. `curate new` uses `git config user.email`.",
    "justification": (
        "Why the catalog should carry these packages: what they are for and who uses them. At least "
        f"{MIN_JUSTIFICATION} characters; placeholders such as TBD, n/a, - or test are refused."
    ),
    "platforms": (
        "Operating systems the packages must install on: linux, windows, macos. Absent: the catalog's "
        "default (linux and windows). A single name or a list."
    ),
    "python": (
        'Python versions as quoted strings ("3.12"), each one the catalog supports (catalog/config.yaml '
        "python.supported). Absent: the catalog's default versions. A single version or a list."
    ),
    "compliance": "Compliance needs or tags (free text), e.g. soc2, customer-data. A single string or a list.",
    "packages": "Distributions to add, each with an optional PEP 440 version specifier.",
    "remove": "Versions to take out of the catalog, each with the reason.",
}
_PACKAGE_DESCRIPTIONS: dict[str, str] = {
    "name": (
        "The distribution name as on the index (scikit-learn, not sklearn; opencv-python, not cv2), "
        "optionally with extras: uvicorn[standard]. No version, marker or URL here."
    ),
    "version": (
        "A PEP 440 specifier set: '>=2.2', '==1.4.*', '~=3.1', '>=1,<2', '===1.0'. Quote it. Absent, "
        "empty, '*' or 'latest': the latest release. A bare '1.2.3' or Poetry '^1.2' is refused."
    ),
    "platforms": "Only for this package: a subset of the request's platforms (e.g. uvloop on linux and macos).",
    "note": "Free text for the reviewer: why this package, or why this version range.",
}
_REMOVE_DESCRIPTIONS: dict[str, str] = {
    "name": "The distribution to remove from the catalog.",
    "version": "A PEP 440 specifier set of the versions to remove; absent means every version.",
    "reason": "Why the versions leave the catalog: a CVE, end of life, replaced by another project, ...",
}


def _one_or_many(item: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "anyOf": [item, {"type": "array", "items": item, "minItems": 1}],
    }


def build_schema() -> dict[str, Any]:
    """The request schema, built from the same constants the validator uses."""
    platform = {"type": "string", "enum": list(OS_NAMES), "description": "An operating system."}
    platform_list = {
        "description": _DESCRIPTIONS["platforms"],
        "anyOf": [platform, {"type": "array", "items": platform, "minItems": 1, "uniqueItems": True}],
    }
    name = {"type": "string", "pattern": NAME_PATTERN}
    version = {"type": ["string", "null"], "pattern": VERSION_PATTERN}
    package_props: dict[str, Any] = {
        "name": {**name, "description": _PACKAGE_DESCRIPTIONS["name"]},
        "version": {**version, "description": _PACKAGE_DESCRIPTIONS["version"]},
        "platforms": {**platform_list, "description": _PACKAGE_DESCRIPTIONS["platforms"]},
        "note": {"type": "string", "description": _PACKAGE_DESCRIPTIONS["note"]},
    }
    remove_props: dict[str, Any] = {
        "name": {**name, "description": _REMOVE_DESCRIPTIONS["name"]},
        "version": {**version, "description": _REMOVE_DESCRIPTIONS["version"]},
        "reason": {"type": "string", "minLength": 1, "description": _REMOVE_DESCRIPTIONS["reason"]},
    }
    props: dict[str, Any] = {
        "title": {"type": "string", "minLength": 1, "description": _DESCRIPTIONS["title"]},
        "requested_by": {"type": "string", "minLength": 1, "description": _DESCRIPTIONS["requested_by"]},
        "justification": {
            "type": "string",
            "minLength": MIN_JUSTIFICATION,
            "description": _DESCRIPTIONS["justification"],
        },
        "platforms": platform_list,
        "python": _one_or_many(
            {"type": "string", "pattern": PYTHON_PATTERN, "description": "A Python version."},
            _DESCRIPTIONS["python"],
        ),
        "compliance": _one_or_many(
            {"type": "string", "minLength": 1, "description": "A compliance need or tag."},
            _DESCRIPTIONS["compliance"],
        ),
        "packages": {
            "type": "array",
            "description": _DESCRIPTIONS["packages"],
            "items": {
                "type": "object",
                "description": "One distribution to add.",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {k: package_props[k] for k in PACKAGE_KEYS},
            },
        },
        "remove": {
            "type": "array",
            "description": _DESCRIPTIONS["remove"],
            "items": {
                "type": "object",
                "description": "Versions of one distribution to remove.",
                "additionalProperties": False,
                "required": ["name", "reason"],
                "properties": {k: remove_props[k] for k in REMOVE_KEYS},
            },
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:curate:request.schema.json",
        "title": "curate change request",
        "description": (
            "A change request (requests/YYYY-MM-DD-slug.yaml) asks the curated catalog to add or remove "
            "packages. Validate with `curate check`; scaffold one with `curate new`."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED_KEYS),
        "anyOf": [{"required": ["packages"]}, {"required": ["remove"]}],
        "properties": {k: props[k] for k in REQUEST_KEYS},
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--write", action="store_true", help="rewrite the shipped request.schema.json if it is out of date"
    )
    group.add_argument(
        "--check", action="store_true", help="exit 1 if the shipped request.schema.json is out of date"
    )


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    return schema(write=args.write, check=args.check)


def schema(*, write: bool = False, check: bool = False, target: Path = SCHEMA_FILE) -> int:
    text = schema_text()
    if check:
        current = target.read_text("utf-8") if target.exists() else ""
        if current != text:
            print(f"{display_path(target)} is out of date; run: curate schema --write")
            return 1
        print(f"{display_path(target)} is up to date")
        return 0
    if write:
        changed = write_if_changed(target, text)
        print(f"{'wrote' if changed else 'up to date:'} {display_path(target)}")
        return 0
    print(text, end="")
    return 0
