"""The JSON Schema (draft 2020-12) of change requests, built from the request model's own constants.

The schema ships in the package as ``scripts/curate/data/request.schema.json``; request files point
editors at it (``# yaml-language-server: $schema=...``). It is made here from :mod:`curate.requests`
(the keys, the required ones, the minimum justification) and :mod:`curate.targets` (the platforms), so a
field added to the model is a key in ``REQUEST_KEYS`` or ``PACKAGE_KEYS``, a description and one
property below. ``curate check`` stays the authority: it also checks what a schema cannot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.atomic import write_if_changed
from curate.requests import MIN_JUSTIFICATION, PACKAGE_KEYS, REMOVE_KEYS, REQUEST_KEYS, REQUIRED_KEYS
from curate.targets import OS_NAMES
from curate.validate import LINE_PATTERN, TEXT_PATTERN

SCHEMA_FILE = Path(__file__).resolve().parent / "data" / "request.schema.json"

# A PEP 508 distribution name, optionally with extras: pandas, scikit-learn, uvicorn[standard]
NAME_PATTERN = r"^\s*[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?\s*(\[\s*[A-Za-z0-9._,\s-]*\])?\s*$"
# A PEP 440 specifier set (or nothing, '*', 'latest'); bare versions and Poetry syntax do not match.
_CLAUSE = r"(~=|===|==|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+"
VERSION_PATTERN = rf"^\s*(|\*|latest|any|{_CLAUSE}\s*(,\s*{_CLAUSE}\s*)*)$"
PYTHON_PATTERN = r"^3\.\d{1,2}$"

_DESCRIPTIONS: dict[str, str] = {
    "title": (
        "One line saying what the request is for, e.g. 'Data-science stack for the forecasting team'. No "
        "line break, tab or other control character."
    ),
    "requested_by": (
        "Who asks: an e-mail address or a team handle. `curate new` and `curate import` default to the "
        "address git commits with."
    ),
    "justification": (
        "Why the catalog should carry these packages: what they are for and who uses them. At least "
        f"{MIN_JUSTIFICATION} characters; placeholders such as TBD, n/a, - or test are refused. It may span "
        "lines and hold tabs, but no other control character."
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
    "python": (
        'Only for this package: a subset of the request\'s Python versions, as quoted strings (["3.11"]), '
        "e.g. a backport needed on older Pythons only, or a pin a lock file made for some Pythons."
    ),
    "note": "Free text for the reviewer: why this package, or why this version range.",
}
_REMOVE_DESCRIPTIONS: dict[str, str] = {
    "name": "The distribution to remove from the catalog.",
    "version": "A PEP 440 specifier set of the versions to remove; absent means every version.",
    "reason": "Why the versions leave the catalog: a CVE, end of life, replaced by another project, ...",
}


def _one_or_many(item: dict[str, Any], description: str, *, unique: bool = False) -> dict[str, Any]:
    """A value written as one item or as a non-empty list of them (``platforms: linux``)."""
    many: dict[str, Any] = {"type": "array", "items": item, "minItems": 1}
    if unique:
        many["uniqueItems"] = True
    return {"description": description, "anyOf": [item, many]}


def _platforms(description: str) -> dict[str, Any]:
    platform = {"type": "string", "enum": list(OS_NAMES), "description": "An operating system."}
    return _one_or_many(platform, description, unique=True)


def _python(description: str) -> dict[str, Any]:
    version = {"type": "string", "pattern": PYTHON_PATTERN, "description": "A Python version."}
    return _one_or_many(version, description)


def _text(description: str, *, min_length: int = 0, free: bool = False) -> dict[str, Any]:
    """One line of text (no tab, line break or control character), or with ``free`` text that may span
    lines and hold tabs (but no other control character); neither holds a noncharacter."""
    return {
        "type": "string",
        **({"minLength": min_length} if min_length else {}),
        "pattern": TEXT_PATTERN if free else LINE_PATTERN,
        "description": description,
    }


def _name(description: str) -> dict[str, Any]:
    return {"type": "string", "pattern": NAME_PATTERN, "description": description}


def _version(description: str) -> dict[str, Any]:
    return {"type": ["string", "null"], "pattern": VERSION_PATTERN, "description": description}


def _entries(
    description: str, item: str, props: dict[str, Any], keys: tuple[str, ...], required: list[str]
) -> dict[str, Any]:
    """A list of mappings with exactly ``keys`` (in the model's order)."""
    return {
        "type": "array",
        "description": description,
        "items": {
            "type": "object",
            "description": item,
            "additionalProperties": False,
            "required": required,
            "properties": {k: props[k] for k in keys},
        },
    }


def build_schema() -> dict[str, Any]:
    """The request schema, built from the same constants the validator uses."""
    package_props: dict[str, Any] = {
        "name": _name(_PACKAGE_DESCRIPTIONS["name"]),
        "version": _version(_PACKAGE_DESCRIPTIONS["version"]),
        "platforms": _platforms(_PACKAGE_DESCRIPTIONS["platforms"]),
        "python": _python(_PACKAGE_DESCRIPTIONS["python"]),
        "note": _text(_PACKAGE_DESCRIPTIONS["note"], free=True),
    }
    remove_props: dict[str, Any] = {
        "name": _name(_REMOVE_DESCRIPTIONS["name"]),
        "version": _version(_REMOVE_DESCRIPTIONS["version"]),
        "reason": _text(_REMOVE_DESCRIPTIONS["reason"], min_length=1, free=True),
    }
    props: dict[str, Any] = {
        "title": _text(_DESCRIPTIONS["title"], min_length=1),
        "requested_by": _text(_DESCRIPTIONS["requested_by"], min_length=1),
        "justification": _text(_DESCRIPTIONS["justification"], min_length=MIN_JUSTIFICATION, free=True),
        "platforms": _platforms(_DESCRIPTIONS["platforms"]),
        "python": _python(_DESCRIPTIONS["python"]),
        "compliance": _one_or_many(
            _text("A compliance need or tag.", min_length=1), _DESCRIPTIONS["compliance"]
        ),
        "packages": _entries(
            _DESCRIPTIONS["packages"], "One distribution to add.", package_props, PACKAGE_KEYS, ["name"]
        ),
        "remove": _entries(
            _DESCRIPTIONS["remove"],
            "Versions of one distribution to remove.",
            remove_props,
            REMOVE_KEYS,
            ["name", "reason"],
        ),
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
    """The schema as the shipped file holds it."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


def is_current(target: Path = SCHEMA_FILE) -> bool:
    """Whether ``target`` holds exactly the schema the code builds."""
    try:
        return target.read_text("utf-8") == schema_text()
    except FileNotFoundError:
        return False


def write_schema(target: Path = SCHEMA_FILE) -> bool:
    """Write the schema to ``target`` when it differs (atomically); return whether it changed."""
    return write_if_changed(target, schema_text())
