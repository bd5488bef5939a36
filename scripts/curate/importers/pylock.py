"""``pylock.toml`` (PEP 751): every package with a version becomes an exact ``==`` pin.

Markers are evaluated as lock-file markers: ``extras`` are the ``--extra`` names, ``dependency_groups``
the file's ``default-groups`` plus ``--group`` names (``dev`` with ``--develop``). Packages from VCS,
directories and archives are skipped.
"""

from __future__ import annotations

from curate.importers.model import (
    DIRECT_REFERENCE,
    Lines,
    Options,
    Parsed,
    load_toml,
    package_lines,
    pin,
)


def read_pylock(raw: bytes, path: str, options: Options) -> Parsed:
    data = load_toml(raw, path)
    lines = Lines(raw.decode("utf-8", "replace"))
    out = Parsed(files=[path])
    packages = [p for p in data.get("packages", []) if isinstance(p, dict)]
    where = package_lines(lines, "packages", len(packages))
    declared_extras = [e for e in data.get("extras", []) if isinstance(e, str)]
    declared_groups = [g for g in data.get("dependency-groups", []) if isinstance(g, str)]
    default_groups = [g for g in data.get("default-groups", []) if isinstance(g, str)]
    out.extras_seen |= set(declared_extras)
    out.groups_seen |= set(declared_groups)
    extras = frozenset(declared_extras if "*" in options.extras else options.extras)
    groups = frozenset(
        declared_groups
        if "*" in options.groups
        else [*default_groups, *options.groups, *(["dev"] if options.develop else [])]
    )
    for pkg, line in zip(packages, where, strict=True):
        name, version = pkg.get("name"), pkg.get("version")
        if not isinstance(name, str):
            out.skip(path, line, "[[packages]]", "a package without a name")
            continue
        text = f"{name}=={version}" if isinstance(version, str) else name
        direct = next((k for k in ("vcs", "directory", "archive") if k in pkg), None)
        if direct:
            out.skip(path, line, f"{text} ({direct})", DIRECT_REFERENCE)
            continue
        if not isinstance(version, str):
            out.skip(path, line, text, "no version is locked")
            continue
        marker = pkg.get("marker", "")
        out.entries.append(
            pin(
                path,
                line,
                name,
                version,
                marker if isinstance(marker, str) else "",
                lock_context=(extras, groups),
            )
        )
    return out
