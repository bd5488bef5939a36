"""``poetry.lock``: lock-version 1.x (hashes in ``[metadata.files]``) and 2.x (per-package ``files``).

Every package from an index becomes an exact ``==`` pin. Packages in the ``main`` group (category) are
imported; other groups with ``--group NAME`` (``--develop`` for ``dev``), optional packages with the
``--extra`` that lists them. git, URL, file and directory packages are skipped.
"""

from __future__ import annotations

from packaging.utils import canonicalize_name

from curate.importers.model import (
    DIRECT_REFERENCE,
    Lines,
    Options,
    Parsed,
    load_toml,
    package_lines,
    pin,
    selected_group,
    table,
)


def read_poetry_lock(raw: bytes, path: str, options: Options) -> Parsed:
    data = load_toml(raw, path)
    lines = Lines(raw.decode("utf-8", "replace"))
    out = Parsed(files=[path])
    packages = [p for p in data.get("package", []) if isinstance(p, dict)]
    where = package_lines(lines, "package", len(packages))
    extras = {k: v for k, v in table(data.get("extras")).items() if isinstance(v, list)}
    out.extras_seen |= set(extras)
    in_extras: dict[str, list[str]] = {}
    for extra, names in extras.items():
        for n in names:
            if isinstance(n, str):
                in_extras.setdefault(canonicalize_name(n.split(" ")[0]), []).append(extra)
    wanted_extras = {canonicalize_name(e) for e in options.extras}
    sources: dict[tuple[str, str], int] = {}  # (reference, url) -> line of its first package
    for pkg, line in zip(packages, where, strict=True):
        name, version = pkg.get("name"), pkg.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            out.skip(path, line, f"[[package]] {name!r}", "a package without a name or version")
            continue
        text = f"{name}=={version}"
        source = table(pkg.get("source"))
        if source.get("type") in ("git", "directory", "file", "url"):
            kind = "editable install" if pkg.get("develop") else "direct reference"
            out.skip(
                path,
                line,
                f"{text} ({source.get('type')}: {source.get('url')})",
                DIRECT_REFERENCE.replace("direct reference", kind),
            )
            continue
        groups = pkg.get("groups")
        category = pkg.get("category")
        names = (
            [g for g in groups if isinstance(g, str)]
            if isinstance(groups, list)
            else [category]
            if isinstance(category, str)
            else ["main"]
        )
        out.groups_seen |= {g for g in names if g != "main"}
        if "main" not in names and not any(selected_group(options, g) for g in names):
            flags = " or ".join("--develop" if g == "dev" else f"--group {g}" for g in names)
            out.skip(path, line, text, f"in group(s) {', '.join(names)}; pass {flags} to import it")
            continue
        if pkg.get("optional") is True:
            in_e = in_extras.get(canonicalize_name(name), [])
            if not any(canonicalize_name(e) in wanted_extras or "*" in options.extras for e in in_e):
                how = " or ".join(f"--extra {e}" for e in in_e) if in_e else "an extra that lists it"
                out.skip(path, line, text, f"optional (only for an extra); pass {how} to import it")
                continue
        marker = pkg.get("markers", pkg.get("marker", ""))
        if isinstance(marker, dict):  # Poetry 2: {group: marker}
            chosen = [str(m) for g, m in marker.items() if g == "main" or selected_group(options, g)]
            marker = " or ".join(f"({m})" for m in chosen) if len(chosen) > 1 else "".join(chosen)
        if source.get("type") == "legacy":  # said once per source, not above every package from it
            sources.setdefault((str(source.get("reference", "")), str(source.get("url", ""))), line)
        out.entries.append(pin(path, line, name, version, marker if isinstance(marker, str) else ""))
    for (reference, url), line in sources.items():
        out.skip(
            path,
            line,
            f"source = {reference!r} ({url})",
            "package source: clients use the catalog's index instead",
        )
    return out
