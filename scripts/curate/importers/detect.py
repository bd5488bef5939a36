"""Which format a file is in: by its name first, then by its content."""

from __future__ import annotations

import json
import re
import tomllib
import typing

from curate.importers.model import Format

FORMATS: tuple[Format, ...] = typing.get_args(Format)

_BY_SUFFIX: tuple[tuple[str, Format], ...] = (
    ("pipfile.lock", "pipfile-lock"),
    ("poetry.lock", "poetry-lock"),
    ("uv.lock", "uv-lock"),
    ("pylock.toml", "pylock"),
    ("pyproject.toml", "pyproject"),
    ("pipfile", "pipfile"),
)
_PYLOCK_NAME = re.compile(r"(^|[^a-z0-9])pylock\.[^/]+\.toml$")


def detect(name: str, raw: bytes) -> Format:
    """The format of a file called ``name`` (a path's last part) with contents ``raw``."""
    lower = name.lower()
    for suffix, fmt in _BY_SUFFIX:
        if lower.endswith(suffix):
            return fmt
    if _PYLOCK_NAME.search(lower):
        return "pylock"
    if lower.endswith((".txt", ".in")):
        return "requirements"
    return _by_content(raw)


def _by_content(raw: bytes) -> Format:
    text = raw.decode("utf-8", "replace").lstrip("\ufeff")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and ("_meta" in data or "default" in data):
            return "pipfile-lock"
    try:
        toml = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return "requirements"
    if "lock-version" in toml and isinstance(toml.get("packages"), list):
        return "pylock"
    if isinstance(toml.get("package"), list):
        metadata = toml.get("metadata")
        if isinstance(metadata, dict) and ("lock-version" in metadata or "content-hash" in metadata):
            return "poetry-lock"
        if isinstance(toml.get("version"), int):
            return "uv-lock"
        return "poetry-lock"
    if any(k in toml for k in ("project", "tool", "build-system", "dependency-groups")):
        return "pyproject"
    if any(k in toml for k in ("packages", "dev-packages", "source", "requires")):
        return "pipfile"
    return "requirements"
