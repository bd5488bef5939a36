"""Pipenv's ``Pipfile`` (TOML) and ``Pipfile.lock`` (JSON), every layout since pipfile-spec 1.

``[packages]`` (``default`` in the lock) is always imported; ``[dev-packages]`` (``develop``) with
``--develop``; pipenv's custom package categories with ``--group NAME``.
"""

from __future__ import annotations

import re
from typing import Any

from curate.importers.model import (
    DIRECT_REFERENCE,
    Entry,
    Lines,
    Options,
    Parsed,
    and_markers,
    load_json,
    load_toml,
    table,
)
from curate.specs import parse_specifier

_NOT_PACKAGES = {"source", "requires", "scripts", "pipenv", "dev-packages", "packages"}
_DIRECT_KEYS = ("git", "hg", "svn", "bzr", "path", "file", "uri", "url")
_MARKER_KEYS = (
    "os_name",
    "sys_platform",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_version",
    "python_full_version",
    "implementation_name",
    "implementation_version",
)
_OPERATOR = re.compile(r"^\s*(===|==|!=|~=|<=|>=|<|>|not in|in)\s*")


def read_pipfile(raw: bytes, path: str, options: Options) -> Parsed:
    data = load_toml(raw, path)
    lines = Lines(raw.decode("utf-8", "replace"))
    out = Parsed(files=[path])
    requires = table(data.get("requires"))
    for key, value in requires.items():
        version = re.fullmatch(r"\s*(3\.\d{1,2})(\.\d+)*\s*", value) if isinstance(value, str) else None
        if key in ("python_version", "python_full_version") and version is not None:
            out.python.append(version[1])  # the request's python, unless --python says otherwise
            continue
        out.skip(
            path,
            lines.key(key, lines.table("requires")),
            f"{key} = {value!r}",
            "not a package, and not a Python version the request can take: the request's 'python' "
            "comes from --python or the catalog's default",
        )
    sources = data.get("source")
    start = 1
    for source in sources if isinstance(sources, list) else []:
        if isinstance(source, dict) and isinstance(source.get("url"), str):
            start = lines.table("source", start)
            line = lines.key("url", start) if start else 0
            out.skip(
                path,
                line,
                f"[[source]] {source.get('name', '')} = {source['url']}".replace("  ", " "),
                "package source: clients use the catalog's index instead",
            )
            start = (line or start) + 1
    sections = [("packages", True, "")]
    sections.append(("dev-packages", options.develop or "dev" in options.groups, "--develop"))
    for name, value in data.items():
        if name not in _NOT_PACKAGES and isinstance(value, dict):
            out.groups_seen.add(name)
            sections.append((name, name in options.groups or "*" in options.groups, f"--group {name}"))
    if "dev-packages" in data:
        out.groups_seen.add("dev")
    for section, selected, flag in sections:
        start = lines.table(section)
        for name, value in table(data.get(section)).items():
            line = lines.key(name, start + 1) if start else 0
            text = f"{name} = {_show(value)}"
            if not selected:
                out.skip(path, line, text, f"in [{section}]; pass {flag} to import it")
                continue
            entry = _pipfile_entry(out, path, line, name, value, text)
            if entry is not None:
                out.entries.append(entry)
    return out


def _pipfile_entry(out: Parsed, path: str, line: int, name: str, value: Any, text: str) -> Entry | None:
    if isinstance(value, str):
        spec: Any = value
        extras: list[str] = []
        marker = ""
    elif isinstance(value, dict):
        if any(k in value for k in _DIRECT_KEYS) or value.get("editable"):
            out.skip(path, line, text, DIRECT_REFERENCE)
            return None
        spec = value.get("version", "*")
        extras = [e for e in value.get("extras", []) if isinstance(e, str)]
        marker_parts = [str(value["markers"])] if isinstance(value.get("markers"), str) else []
        for key in _MARKER_KEYS:
            if isinstance(value.get(key), str):
                marker_parts.append(_marker_key(key, value[key]))
        marker = and_markers(*marker_parts)
    else:
        out.skip(path, line, text, "expected a version string or a table")
        return None
    if not isinstance(spec, str):
        out.skip(path, line, text, "the version must be a string")
        return None
    parsed, error, hint = parse_specifier(spec)
    if parsed is None:
        out.skip(path, line, text, f"{error}; {hint}" if hint else error)
        return None
    return Entry(
        path=path,
        line=line,
        text=text,
        name=name,
        extras=tuple(sorted(extras)),
        specifier=str(parsed),
        marker=marker,
    )


def _marker_key(key: str, value: str) -> str:
    """Pipenv's ``sys_platform = "== 'linux'"`` as the marker ``sys_platform == 'linux'``."""
    if _OPERATOR.match(value):
        return f"{key} {value.strip()}"
    return f"{key} == {value.strip()!r}"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {_show(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def read_pipfile_lock(raw: bytes, path: str, options: Options) -> Parsed:
    data = load_json(raw, path)
    lines = Lines(raw.decode("utf-8", "replace"))
    out = Parsed(files=[path])
    if not isinstance(data, dict):
        out.skip(path, 1, "the file", "not a Pipfile.lock: expected a JSON object")
        return out
    sections = [
        (s, s == "default" or options.develop or "*" in options.groups) for s in ("default", "develop")
    ]
    for name, value in data.items():
        if name not in ("_meta", "default", "develop") and isinstance(value, dict):
            out.groups_seen.add(name)
            sections.append((name, name in options.groups or "*" in options.groups))
    if "develop" in data:
        out.groups_seen.add("dev")
    for section, selected in sections:
        start = lines.find(rf'^\s*"{re.escape(section)}"\s*:')
        for name, value in table(data.get(section)).items():
            line = lines.key(name, start + 1) if start else 0
            version = value.get("version") if isinstance(value, dict) else None
            text = f"{name}{version or ''}" if isinstance(version, str) else f"{name} = {_show(value)}"
            if not selected:
                flag = "--develop" if section == "develop" else f"--group {section}"
                out.skip(path, line, text, f"in '{section}'; pass {flag} to import it")
                continue
            if not isinstance(value, dict):
                out.skip(path, line, text, "expected a JSON object")
                continue
            if any(k in value for k in _DIRECT_KEYS) or value.get("editable"):
                out.skip(path, line, text, DIRECT_REFERENCE)
                continue
            if not isinstance(version, str):
                out.skip(path, line, text, "no version is locked")
                continue
            parsed, error, hint = parse_specifier(version)
            if parsed is None:
                out.skip(path, line, text, f"{error}; {hint}" if hint else error)
                continue
            markers = value.get("markers")
            out.entries.append(
                Entry(
                    path=path,
                    line=line,
                    text=text,
                    name=name,
                    extras=tuple(sorted(e for e in value.get("extras", []) if isinstance(e, str))),
                    specifier=str(parsed),
                    marker=markers if isinstance(markers, str) else "",
                )
            )
    return out
