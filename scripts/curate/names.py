"""Distribution names: PEP 503 normalisation, validation, and import names people type by mistake."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import NewType

from packaging.utils import InvalidName, canonicalize_name

NormalizedName = NewType("NormalizedName", str)


def normalize(name: str) -> NormalizedName:
    return NormalizedName(canonicalize_name(name))


def is_valid(name: str) -> bool:
    try:
        canonicalize_name(name, validate=True)
    except InvalidName:
        return False
    return True


@functools.cache
def import_names() -> dict[str, str]:
    """Import name -> distribution name, for import names that are not the distribution's name.

    Generated from real distributions' ``top_level.txt`` / ``RECORD`` by ``tools/gen_import_names.py``.
    """
    # a plain path, like the other package data: importlib.resources costs `curate check` more to import
    raw = (Path(__file__).parent / "data" / "import_names.json").read_text("utf-8")
    data: dict[str, str] = json.loads(raw)["import_names"]
    return data


def import_name_hint(name: str) -> str | None:
    """The distribution to use when ``name`` is an import name, or None."""
    table = import_names()
    dist = table.get(name) or table.get(name.lower())
    if dist is None or normalize(dist) == normalize(name):
        return None
    return dist
