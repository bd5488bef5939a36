"""``pyproject.toml``: PEP 621 dependencies and extras, PEP 735 dependency groups, Poetry, PDM, flit.

Selected on the command line: ``[project].dependencies`` and Poetry's main dependencies always;
``optional-dependencies`` / Poetry extras / flit ``requires-extra`` with ``--extra NAME``; PEP 735
groups, Poetry groups, PDM dev-dependency groups and uv's legacy dev-dependencies with ``--group NAME``
(``--develop`` selects the ``dev`` group and Poetry's legacy ``dev-dependencies``). Everything not
selected is listed as skipped with the flag that would select it.
"""

from __future__ import annotations

from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from curate.importers.model import (
    DIRECT_REFERENCE,
    Entry,
    Lines,
    Options,
    Parsed,
    and_markers,
    from_pep508,
    load_toml,
    table,
)
from curate.specs import poetry_to_pep440

_POETRY_DIRECT = ("git", "url", "path", "file")
_PYTHON_NOT_A_PACKAGE = (
    "the Python requirement is not a package: the request's 'python' comes from --python or the "
    "catalog's default"
)


class _Reader:
    def __init__(self, raw: bytes, path: str, options: Options) -> None:
        self.data = load_toml(raw, path)
        self.lines = Lines(raw.decode("utf-8", "replace"))
        self.path = path
        self.options = options
        self.out = Parsed(files=[path])
        project = table(self.data.get("project"))
        poetry = table(table(self.data.get("tool")).get("poetry"))
        own = project.get("name") or poetry.get("name")
        self.own_name = canonicalize_name(own) if isinstance(own, str) else None

    def group_selected(self, group: str) -> bool:
        g = canonicalize_name(group)
        wanted = {canonicalize_name(x) for x in self.options.groups}
        return "*" in self.options.groups or g in wanted or (self.options.develop and g == "dev")

    def extra_selected(self, extra: str) -> bool:
        wanted = {canonicalize_name(x) for x in self.options.extras}
        return "*" in self.options.extras or canonicalize_name(extra) in wanted

    # -- PEP 508 string lists (PEP 621, PEP 735, PDM, flit, uv) -------------------------------------

    def strings(self, items: Any, start: int, *, selected: bool, flag: str, where: str) -> None:
        cursor = start
        if not isinstance(items, list):
            if items is not None:
                self.out.skip(
                    self.path, start, f"{where} = {items!r}", "expected a list of requirement strings"
                )
            return
        for item in items:
            if isinstance(item, dict) and "include-group" in item:
                continue  # handled by the dependency-groups walk
            if not isinstance(item, str):
                self.out.skip(self.path, start, repr(item), "expected a requirement string")
                continue
            line = self.lines.value(item, cursor) or start
            cursor = line + 1 if line >= cursor else cursor
            if not selected:
                self.out.skip(self.path, line, item, f"in {where}; pass {flag} to import it")
                continue
            text = item.strip()
            if text.startswith(("-e ", "-e\t", "--editable")):
                self.out.skip(
                    self.path, line, item, DIRECT_REFERENCE.replace("direct reference", "editable install")
                )
                continue
            entry = from_pep508(self.out, text, self.path, line)
            if entry is None:
                continue
            if self.own_name is not None and canonicalize_name(entry.name) == self.own_name:
                self.out.skip(
                    self.path, line, item, "the project itself (its extras are imported with --extra)"
                )
                continue
            self.out.entries.append(entry)

    def pep621(self) -> None:
        project = table(self.data.get("project"))
        if not project:
            return
        t = self.lines.table("project")
        deps_line = self.lines.key("dependencies", t + 1) or t
        self.strings(
            project.get("dependencies"), deps_line, selected=True, flag="", where="[project].dependencies"
        )
        optional = table(project.get("optional-dependencies"))
        self.out.extras_seen |= set(optional)
        selected = self._extras_closure(optional)
        ot = self.lines.table("project.optional-dependencies") or t
        for extra, items in optional.items():
            line = self.lines.key(extra, ot + 1) or ot
            self.strings(
                items,
                line,
                selected=canonicalize_name(extra) in selected,
                flag=f"--extra {extra}",
                where=f"optional-dependencies '{extra}'",
            )

    def _extras_closure(self, optional: dict[str, Any]) -> set[str]:
        """Selected extras plus the extras they pull in through ``project[extra]`` self-references."""
        todo = [canonicalize_name(e) for e in optional if self.extra_selected(e)]
        by_name = {canonicalize_name(k): v for k, v in optional.items()}
        seen: set[str] = set()
        while todo:
            e = todo.pop()
            if e in seen:
                continue
            seen.add(e)
            for item in by_name.get(e) or []:
                if isinstance(item, str) and self.own_name is not None:
                    from packaging.requirements import InvalidRequirement, Requirement

                    try:
                        req = Requirement(item)
                    except InvalidRequirement:
                        continue
                    if canonicalize_name(req.name) == self.own_name:
                        todo.extend(canonicalize_name(x) for x in req.extras)
        return seen

    def pep735(self) -> None:
        groups = table(self.data.get("dependency-groups"))
        if not groups:
            return
        self.out.groups_seen |= set(groups)
        by_name = {canonicalize_name(k): k for k in groups}
        t = self.lines.table("dependency-groups")
        selected: set[str] = set()

        def visit(name: str, stack: tuple[str, ...]) -> None:
            key = canonicalize_name(name)
            if key in selected:
                return
            selected.add(key)
            for item in groups.get(by_name.get(key, name)) or []:
                if isinstance(item, dict) and isinstance(item.get("include-group"), str):
                    inc = item["include-group"]
                    line = self.lines.value(inc, t) or t
                    if canonicalize_name(inc) not in by_name:
                        self.out.skip(self.path, line, f"include-group = {inc!r}", "no such dependency group")
                    elif canonicalize_name(inc) in stack:
                        chain = " -> ".join([*stack, canonicalize_name(inc)])
                        self.out.skip(self.path, line, f"include-group = {inc!r}", f"include cycle ({chain})")
                    else:
                        visit(inc, (*stack, canonicalize_name(inc)))

        for g in groups:
            if self.group_selected(g):
                visit(g, (canonicalize_name(g),))
        for g, items in groups.items():
            line = self.lines.key(g, t + 1) or t
            self.strings(
                items,
                line,
                selected=canonicalize_name(g) in selected,
                flag=f"--group {g}",
                where=f"dependency group '{g}'",
            )

    def pdm_uv_flit(self) -> None:
        tool = table(self.data.get("tool"))
        pdm = table(table(tool.get("pdm")).get("dev-dependencies"))
        self.out.groups_seen |= set(pdm)
        t = self.lines.table("tool.pdm.dev-dependencies")
        for g, items in pdm.items():
            line = self.lines.key(g, t + 1) or t
            self.strings(
                items,
                line,
                selected=self.group_selected(g) or self.options.develop,
                flag=f"--group {g}",
                where=f"PDM dev-dependencies '{g}'",
            )
        uv = table(tool.get("uv"))
        if "dev-dependencies" in uv:
            self.out.groups_seen.add("dev")
            t = self.lines.table("tool.uv")
            line = self.lines.key("dev-dependencies", t + 1) or t
            self.strings(
                uv["dev-dependencies"],
                line,
                selected=self.group_selected("dev"),
                flag="--develop",
                where="[tool.uv].dev-dependencies",
            )
        flit = table(table(tool.get("flit")).get("metadata"))
        if flit:
            t = self.lines.table("tool.flit.metadata")
            line = self.lines.key("requires", t + 1) or t
            self.strings(flit.get("requires"), line, selected=True, flag="", where="flit requires")
            extras = table(flit.get("requires-extra"))
            self.out.extras_seen |= set(extras)
            et = self.lines.table("tool.flit.metadata.requires-extra") or t
            for extra, items in extras.items():
                line = self.lines.key(extra, et + 1) or et
                self.strings(
                    items,
                    line,
                    selected=self.extra_selected(extra),
                    flag=f"--extra {extra}",
                    where=f"flit requires-extra '{extra}'",
                )

    # -- Poetry -------------------------------------------------------------------------------------

    def poetry(self) -> None:
        poetry = table(table(self.data.get("tool")).get("poetry"))
        if not poetry:
            return
        extras = {k: v for k, v in table(poetry.get("extras")).items() if isinstance(v, list)}
        self.out.extras_seen |= set(extras)
        in_extras: dict[str, list[str]] = {}
        for extra, names in extras.items():
            for n in names:
                if isinstance(n, str):
                    in_extras.setdefault(canonicalize_name(n), []).append(extra)
        sections: list[tuple[str, Any, bool, str, str]] = [
            ("tool.poetry.dependencies", poetry.get("dependencies"), True, "", "[tool.poetry.dependencies]")
        ]
        if "dev-dependencies" in poetry:
            self.out.groups_seen.add("dev")
            sections.append(
                (
                    "tool.poetry.dev-dependencies",
                    poetry["dev-dependencies"],
                    self.group_selected("dev"),
                    "--develop",
                    "[tool.poetry.dev-dependencies]",
                )
            )
        for g, body in table(poetry.get("group")).items():
            self.out.groups_seen.add(g)
            sections.append(
                (
                    f"tool.poetry.group.{g}.dependencies",
                    table(body).get("dependencies"),
                    self.group_selected(g),
                    f"--group {g}",
                    f"Poetry group '{g}'",
                )
            )
        for header, deps, selected, flag, where in sections:
            t = self.lines.table(header)
            for name, value in table(deps).items():
                line = self.lines.key(name, t + 1) if t else 0
                text = f"{name} = {_show(value)}"
                if name == "python" and header == "tool.poetry.dependencies":
                    self.out.skip(self.path, line, text, _PYTHON_NOT_A_PACKAGE)
                    continue
                if not selected:
                    self.out.skip(self.path, line, text, f"in {where}; pass {flag} to import it")
                    continue
                alternatives = value if isinstance(value, list) else [value]
                optional = any(isinstance(a, dict) and a.get("optional") is True for a in alternatives)
                if optional and header == "tool.poetry.dependencies":
                    names = in_extras.get(canonicalize_name(name), [])
                    if not names:
                        self.out.skip(self.path, line, text, "optional, and in no [tool.poetry.extras] extra")
                        continue
                    if not any(self.extra_selected(e) for e in names):
                        flags = " or ".join(f"--extra {e}" for e in names)
                        self.out.skip(
                            self.path, line, text, f"optional (in an extra); pass {flags} to import it"
                        )
                        continue
                for alt in alternatives:
                    alt_text = f"{name} = {_show(alt)}" if isinstance(value, list) else text
                    entry = self._poetry_entry(name, alt, line, alt_text)
                    if entry is not None:
                        self.out.entries.append(entry)

    def _poetry_entry(self, name: str, value: Any, line: int, text: str) -> Entry | None:
        path = self.path
        if isinstance(value, str):
            value = {"version": value}
        if not isinstance(value, dict):
            self.out.skip(path, line, text, "expected a version string, a table or a list of tables")
            return None
        if any(k in value for k in _POETRY_DIRECT):
            kind = "editable install" if value.get("develop") else "direct reference"
            self.out.skip(path, line, text, DIRECT_REFERENCE.replace("direct reference", kind))
            return None
        version = value.get("version", "*")
        if not isinstance(version, str):
            self.out.skip(path, line, text, "the version must be a string")
            return None
        spec = poetry_to_pep440(version)
        if spec is None:
            if "|" in version:
                reason = (
                    f"'{version.strip()}': Poetry's '||' (or) leaves a gap between its ranges, which "
                    "PEP 440 cannot express; write the one range the request needs by hand"
                )
            else:
                reason = f"'{version.strip()}' is not a Poetry version constraint"
            self.out.skip(path, line, text, reason)
            return None
        markers: list[str] = []
        dropped: list[str] = []
        if isinstance(value.get("markers"), str):
            markers.append(value["markers"])
        if isinstance(value.get("python"), str):
            py = _python_marker(value["python"])
            if py is None:
                dropped.append(f"python = {value['python']!r} (not a version constraint curate understands)")
            else:
                markers.append(py)
        if isinstance(value.get("platform"), str):
            markers.append(_platform_marker(value["platform"]))
        if isinstance(value.get("source"), str):
            dropped.append(f"source = {value['source']!r} (the catalog's index serves every package)")
        extras = value.get("extras", [])
        return Entry(
            path=path,
            line=line,
            text=text,
            name=name,
            extras=tuple(sorted(e for e in extras if isinstance(e, str))) if isinstance(extras, list) else (),
            specifier=str(SpecifierSet(spec)),
            marker=and_markers(*markers),
            dropped=tuple(dropped),
        )


def _python_marker(constraint: str) -> str | None:
    spec = poetry_to_pep440(constraint)
    if spec is None:
        return None
    parts = []
    for s in SpecifierSet(spec):
        # Poetry writes python = "3.11" for any 3.11.x: compare python_version, as Poetry does
        short = s.operator in ("==", "!=") and s.version.count(".") < 2 and "*" not in s.version
        parts.append(f'{"python_version" if short else "python_full_version"} {s.operator} "{s.version}"')
    return " and ".join(parts)


_POETRY_PLATFORMS = {"windows": "win32", "win": "win32", "macos": "darwin", "osx": "darwin"}


def _platform_marker(platform: str) -> str:
    values = [p.strip() for p in platform.replace("||", "|").split("|") if p.strip()]
    return " or ".join(f'sys_platform == "{_POETRY_PLATFORMS.get(v.lower(), v)}"' for v in values)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def read_pyproject(raw: bytes, path: str, options: Options) -> Parsed:
    reader = _Reader(raw, path, options)
    reader.pep621()
    reader.pep735()
    reader.poetry()
    reader.pdm_uv_flit()
    return reader.out
