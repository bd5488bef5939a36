"""``uv.lock``: every package from a registry becomes an exact ``==`` pin.

The dependency graph is walked from the workspace members (editable or virtual sources): packages
reached only through an extra or a development group that is not selected are skipped, and a package
reached only through marked edges keeps those markers (ORed). Without a workspace member every
registry package is imported.
"""

from __future__ import annotations

from typing import Any

from packaging.utils import canonicalize_name

from curate.importers.model import (
    DIRECT_REFERENCE,
    PROJECT_ITSELF,
    Lines,
    Options,
    Parsed,
    load_toml,
    package_lines,
    pin,
    selected_group,
    table,
)


def read_uv_lock(raw: bytes, path: str, options: Options) -> Parsed:
    data = load_toml(raw, path)
    lines = Lines(raw.decode("utf-8", "replace"))
    out = Parsed(files=[path])
    packages = [p for p in data.get("package", []) if isinstance(p, dict)]
    where = package_lines(lines, "package", len(packages))
    roots = [i for i, p in enumerate(packages) if _uv_local(p)]
    by_name: dict[str, list[int]] = {}
    for i, p in enumerate(packages):
        if isinstance(p.get("name"), str):
            by_name.setdefault(canonicalize_name(p["name"]), []).append(i)

    # reachability from the workspace members, with the marker of each edge
    markers: dict[int, set[str]] = {}
    reason: dict[int, str] = {}
    todo: list[tuple[dict[str, Any], str]] = []
    wanted_extras = {canonicalize_name(e) for e in options.extras}
    for r in roots:
        root = packages[r]
        todo += [(d, "") for d in root.get("dependencies", []) if isinstance(d, dict)]
        for extra, deps in table(root.get("optional-dependencies")).items():
            out.extras_seen.add(extra)
            if "*" in options.extras or canonicalize_name(extra) in wanted_extras:
                todo += [(d, "") for d in deps if isinstance(d, dict)]
        for group, deps in table(root.get("dev-dependencies")).items():
            out.groups_seen.add(group)
            if selected_group(options, group):
                todo += [(d, "") for d in deps if isinstance(d, dict)]
    seen_edges: set[tuple[int, str, tuple[str, ...]]] = set()
    while todo:
        dep, _parent = todo.pop()
        dep_name = canonicalize_name(str(dep.get("name", "")))
        candidates = by_name.get(dep_name, [])
        if isinstance(dep.get("version"), str):
            candidates = [i for i in candidates if packages[i].get("version") == dep["version"]] or candidates
        edge_marker = str(dep.get("marker", ""))
        dep_extras = tuple(sorted(str(e) for e in dep.get("extra", []) if isinstance(e, str)))
        for i in candidates:
            key = (i, edge_marker, dep_extras)
            if key in seen_edges:
                continue
            seen_edges.add(key)
            markers.setdefault(i, set()).add(edge_marker)
            todo += [(d, "") for d in packages[i].get("dependencies", []) if isinstance(d, dict)]
            for extra in dep_extras:
                todo += [
                    (d, "")
                    for d in table(packages[i].get("optional-dependencies")).get(extra, [])
                    if isinstance(d, dict)
                ]

    for i, (pkg, line) in enumerate(zip(packages, where, strict=True)):
        name, version = pkg.get("name"), pkg.get("version")
        if not isinstance(name, str):
            out.skip(path, line, "[[package]]", "a package without a name")
            continue
        text = f"{name}=={version}" if isinstance(version, str) else name
        source = table(pkg.get("source"))
        if i in roots:
            out.skip(path, line, text, PROJECT_ITSELF)
            continue
        if "registry" not in source:
            kind = next(iter(source), "unknown")
            out.skip(path, line, f"{text} ({kind} source)", DIRECT_REFERENCE)
            continue
        if not isinstance(version, str):
            out.skip(path, line, text, "no version is locked")
            continue
        if roots and i not in markers:
            out.skip(
                path,
                line,
                text,
                reason.get(i, "only needed by an extra or group that is not selected (--extra / --group)"),
            )
            continue
        edge = markers.get(i, {""})
        marker = "" if "" in edge else " or ".join(f"({m})" for m in sorted(edge))
        forks = [str(m) for m in pkg.get("resolution-markers", []) if isinstance(m, str)]
        if forks and len(by_name.get(canonicalize_name(name), [])) > 1:  # a fork: only where it applies
            fork = " or ".join(f"({m})" for m in forks)
            marker = f"({marker}) and ({fork})" if marker else fork
        out.entries.append(pin(path, line, name, version, marker))
    return out


def _uv_local(pkg: dict[str, Any]) -> bool:
    source = table(pkg.get("source"))
    return any(k in source for k in ("editable", "virtual")) or (
        "directory" in source and pkg.get("name") is not None and source.get("directory") == "."
    )
