"""The catalog site people browse: mkdocs-material plus pages generated from ``catalog/`` and ``requests/``.

``build_site`` runs mkdocs in-process (strict) with the ``curate`` plugin (curate.mkdocs_plugin), which
asks this module for the generated pages. Design, for 10,000 projects (see site/reference/site.md):

- the hand-written guides and a handful of generated pages (Home's figures, Packages, one page per OS,
  Requests) go through mkdocs' page pipeline and navigation;
- no page carries the list of all projects: Packages and the OS pages are small shells whose rows
  come from JSON files (``packages/index.json``, ``os/<os>.json``) that curate.js renders and filters;
- the one-per-project pages stay out of mkdocs' page pipeline and navigation: mkdocs renders one shell
  page (``packages/_shell/``) with the theme, and each project's page is that shell with the
  project's HTML (an autoescaped Jinja template) put in; they are left out of the built-in search
  index (package search is the Packages page) and listed in the sitemap.

Every piece of text from requests and package metadata goes through autoescaped templates or
``textContent`` in the browser; nothing from them reaches Markdown.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import logging
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup, escape

from curate import git
from curate.catalog import FileEntry, Project, VersionEntry, iter_project_files, load_projects_fast
from curate.config import Config
from curate.errors import BuildError, CurateError, Problem, ValidationError, display_path
from curate.index import is_blocked, unserved
from curate.names import NormalizedName
from curate.requests import Request, read_request, request_files
from curate.smoke import Shown
from curate.smoke import recorded as recorded_smoke
from curate.targets import OS_LABELS, OS_NAMES, Target
from curate.vetting import VettingRecord, today_from, vulnerability_status

TEMPLATES = Path(__file__).parent / "templates" / "site"
SHELL_DIR = "packages/_shell"  # '_' never occurs in a normalized name
SHELL_TITLE = "CURATE-SHELL-TITLE"
SHELL_SLOT = '<div class="curate-shell-slot"></div>'
OS_BIT: dict[str, int] = {o: 1 << i for i, o in enumerate(OS_NAMES)}  # packages/index.json
SUMMARY_MAX = 160  # characters of a summary carried in packages/index.json

# Pages the plugin generates (src path -> title); the nav in mkdocs.yml names them.
GENERATED_PAGES = {
    "packages/index.md": "Packages",
    "os/index.md": "Operating systems",
    "os/linux.md": "Linux",
    "os/windows.md": "Windows",
    "os/macos.md": "macOS",
    "requests.md": "Requests",
}


# -- the data the pages show ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class SiteData:
    config: Config
    projects: dict[NormalizedName, Project]
    requests: dict[str, Request]  # by id
    dependents: dict[NormalizedName, tuple[NormalizedName, ...]]
    last_changed: str  # YYYY-MM-DD, or "" when unknown
    targets: dict[str, Target]  # every configured target by id
    today: dt.date = dataclasses.field(default_factory=dt.date.today)  # what waivers' expiry is compared with
    smoke: dict[str, list[Shown]] = dataclasses.field(default_factory=dict)  # curate smoke, per request

    def served(self, version: VersionEntry) -> bool:
        """Whether the index serves ``version`` (:func:`curate.index.unserved`): the site shows it as
        installable only then."""
        return unserved(version, self.config.vetting, self.today) is None

    def target_os(self, target_id: str) -> str | None:
        t = self.targets.get(target_id)
        if t is not None:
            return t.os
        for os_name in OS_NAMES:  # a target the config no longer lists: go by its name
            if target_id.startswith(os_name):
                return os_name
        return None


def collect(root: Path, config: Config, *, env: Mapping[str, str], today: dt.date | None = None) -> SiteData:
    """Read the catalog and every request under ``root``; raise ValidationError on bad input.

    ``env``: the environment git runs with (for the date of the last change); ``today``: what waivers'
    expiry is compared with (default: ``$CURATE_TODAY``, else today)."""
    try:
        day = today if today is not None else today_from(env)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    projects = load_projects(list(iter_project_files(root)))
    requests: dict[str, Request] = {}
    problems: list[Problem] = []
    for path in request_files(root):
        request, found = read_request(path, display_path(path, root), config, root=root)
        problems.extend(found)
        if request is not None:
            requests[request.id] = request
    if problems:
        raise ValidationError(problems)
    dependents: dict[NormalizedName, set[NormalizedName]] = defaultdict(set)
    for norm, project in projects.items():
        for version in project.versions:
            for dep in version.dependencies:
                dependents[dep.name].add(norm)
    return SiteData(
        config=config,
        projects=dict(sorted(projects.items())),
        requests=requests,
        smoke=recorded_smoke(root, list(requests.values()), config, projects),
        dependents={k: tuple(sorted(v)) for k, v in dependents.items()},
        last_changed=last_changed(root, requests.values(), env=env),
        targets={t.id: t for t in config.all_targets()},
        today=day,
    )


# -- parallelism: 10,000 projects are parsed and rendered on every core ------------------------------

PARALLEL_MIN = 300  # projects; below this, one process is faster than starting workers


def workers(n_items: int) -> int:
    """How many processes to use: forked workers only when it is safe (no other threads) and pays off."""
    import multiprocessing
    import threading

    cpus = os.cpu_count() or 1
    if (
        n_items < PARALLEL_MIN
        or cpus < 2
        or threading.active_count() > 1  # forking a threaded process can deadlock
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 1
    return cpus


def _chunks(items: Sequence[Any], n: int) -> list[Sequence[Any]]:
    size = max(1, -(-len(items) // n))
    return [items[i : i + size] for i in range(0, len(items), size)]


_TASK: list[Any] = []  # the function forked workers run; inherited, never pickled


def _run_task(chunk: Sequence[Any]) -> Any:
    return _TASK[0](chunk)


def _map(fn: Any, chunks: list[Sequence[Any]], jobs: int) -> list[Any]:
    """``[fn(c) for c in chunks]``, in ``jobs`` forked processes when more than one."""
    if jobs <= 1:
        return [fn(c) for c in chunks]
    import multiprocessing

    _TASK[:] = [fn]
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            return pool.map(_run_task, chunks)
    finally:
        _TASK.clear()


def load_projects(paths: Sequence[Path]) -> dict[NormalizedName, Project]:
    # One process: parsing in workers costs as much again in pickling the projects back (measured).
    projects, problems = load_projects_fast(paths)
    if problems:
        raise ValidationError(problems)
    return {p.normalized: p for p in projects}


def last_changed(root: Path, requests: Iterable[Request], *, env: Mapping[str, str]) -> str:
    """The date of the last commit touching catalog/ or requests/; else the newest request's date."""
    date = git.last_commit_date(root, ["catalog", "requests"], env=env)
    if date is not None:
        return date
    dates = [r.date for r in requests]
    return max(dates).isoformat() if dates else ""


def os_of_version(data: SiteData, version: VersionEntry) -> set[str]:
    """The operating systems a version can be installed on (a file, or a build from its sdist); none
    when the index leaves it out (not vetted as these bytes, or blocked: :func:`curate.index.unserved`)."""
    out: set[str] = set()
    if not data.served(version):
        return out
    for f in version.files:
        for t in f.targets:
            if (o := data.target_os(t)) is not None:
                out.add(o)
    for t in version.build_targets:
        if (o := data.target_os(t)) is not None:
            out.add(o)
    return out


def os_of_file(data: SiteData, f: FileEntry) -> list[str]:
    found = {data.target_os(t) for t in f.targets}
    return [o for o in OS_NAMES if o in found]


def vetting_of(version: VersionEntry | None) -> VettingRecord | None:
    return version.vetting if version is not None else None


def stats(data: SiteData) -> dict[str, Any]:
    per_os: dict[str, dict[str, int]] = {o: {"projects": 0, "versions": 0, "files": 0} for o in OS_NAMES}
    n_versions = n_files = 0
    served = not_checked = left_out = 0
    sources: set[str] = set()
    for project in data.projects.values():
        project_os: set[str] = set()
        for version in project.versions:
            n_versions += 1
            if not data.served(version):
                left_out += 1
            else:
                served += 1
                if version.vetting is None or not version.vetting.vulnerabilities_checked:
                    not_checked += 1
                else:
                    sources.add(str(version.vetting.advisories))
            v_os = os_of_version(data, version)
            project_os |= v_os
            for o in v_os:
                per_os[o]["versions"] += 1
            for f in version.files:
                n_files += 1
                for o in os_of_file(data, f) if v_os else ():
                    per_os[o]["files"] += 1
        for o in project_os:
            per_os[o]["projects"] += 1
    return {
        "projects": len(data.projects),
        "versions": n_versions,
        "files": n_files,
        "requests": len(data.requests),
        "per_os": [{"os": o, "label": OS_LABELS[o], **per_os[o]} for o in OS_NAMES],
        "last_changed": data.last_changed,
        # known vulnerabilities, over the served versions: checked only with an advisory source
        "served": served,
        "not_checked": not_checked,
        "left_out": left_out,  # not vetted as these bytes, or blocked: the index leaves them out
        "advisory_sources": sorted(sources),
    }


# -- JSON the browser loads --------------------------------------------------------------------------


def latest_served(data: SiteData, project: Project) -> VersionEntry | None:
    """The newest version the index serves (what an unpinned install gets); the newest of all when
    it serves none, so the page still has something to describe."""
    versions = project.sorted_versions()
    served = [v for v in versions if data.served(v)]
    return (served or versions)[-1] if versions else None


def packages_index(data: SiteData) -> dict[str, Any]:
    """Every project in one compact document: what the Packages page searches.

    ``rows`` are ``[name, latest version, summary, licence, OS bit mask, status]``; bit i of the
    mask is ``os[i]``. Summaries are cut at SUMMARY_MAX characters to bound the download.
    """
    rows = []
    for project in data.projects.values():
        latest = latest_served(data, project)
        vet = vetting_of(latest)
        mask = 0
        for version in project.versions:
            for o in os_of_version(data, version):
                mask |= OS_BIT[o]
        summary = vet.summary if vet is not None else ""
        if len(summary) > SUMMARY_MAX:
            summary = summary[: SUMMARY_MAX - 1] + "…"
        rows.append(
            [
                project.name,
                latest.version if latest else "",
                summary,
                vet.license if vet is not None else "",
                mask,
                vet.status if vet is not None else "",
            ]
        )
    return {
        "version": 1,
        "os": list(OS_NAMES),
        "fields": ["name", "latest", "summary", "license", "os", "status"],
        "rows": rows,
    }


def os_index(data: SiteData, os_name: str) -> dict[str, Any]:
    """Every project and version installable on one OS: ``rows`` are ``[name, [versions, newest first]]``."""
    rows = []
    for project in data.projects.values():
        versions = [
            v.version for v in reversed(project.sorted_versions()) if os_name in os_of_version(data, v)
        ]
        if versions:
            rows.append([project.name, versions])
    return {"version": 1, "os": os_name, "fields": ["name", "versions"], "rows": rows}


def dumps_json(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=False) + "\n"


# -- HTML --------------------------------------------------------------------------------------------


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["filesize"] = filesize
    env.filters["safe_url"] = safe_url
    env.globals["OS_LABELS"] = OS_LABELS
    return env


def filesize(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


def safe_url(url: object) -> str:
    """An http(s) URL as given, or "" (no javascript:, data: or relative links from package metadata)."""
    text = str(url or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    return text if parts.scheme in ("http", "https") and parts.netloc else ""


def install_command(config: Config, name: str) -> str:
    return f"pip install --index-url {config.simple_url} {name}"


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    target: str
    os: str
    platform: str
    arch: str
    python: str


def matrix_columns(data: SiteData, project: Project) -> list[Column]:
    """Configured targets, grouped by OS then platform, for the Python versions this project has."""
    seen_py = {
        data.targets[t].python
        for v in project.versions
        for f in v.files
        for t in f.targets
        if t in data.targets
    } | {data.targets[t].python for v in project.versions for t in v.build_targets if t in data.targets}
    pythons = [p for p in data.config.python_supported if p in seen_py] or list(data.config.python_supported)
    cols = []
    for os_name in OS_NAMES:
        for platform in data.config.platforms:
            if platform.os != os_name:
                continue
            for py in pythons:
                cols.append(
                    Column(
                        target=f"{platform.name}-py{py}",
                        os=os_name,
                        platform=platform.name,
                        arch=platform.arch,
                        python=py,
                    )
                )
    return cols


def _spans(cols: Sequence[Column], key: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for c in cols:
        value = getattr(c, key) if key != "platform" else c.platform
        if out and out[-1][0] == value:
            out[-1] = (value, out[-1][1] + 1)
        else:
            out.append((value, 1))
    return out


_CELL = {
    "y": '<td class="curate-y">✓</td>',
    "s": '<td class="curate-s">src</td>',
    "n": '<td class="curate-n">–</td>',
}


def project_view(data: SiteData, project: Project) -> dict[str, Any]:
    """Everything one project page shows, as plain data for templates/site/package.html."""
    versions = list(reversed(project.sorted_versions()))
    latest = latest_served(data, project)
    vet = vetting_of(latest)
    cols = matrix_columns(data, project)
    rows = []
    for v in versions:
        served = data.served(v)  # the index leaves it out otherwise
        wheel = {t for f in v.files for t in f.targets} if served else set()
        build = set(v.build_targets) if served else set()
        cells = "".join(_CELL["y" if c.target in wheel else "s" if c.target in build else "n"] for c in cols)
        rows.append(
            {
                "version": v.version,
                "yanked": v.yanked,
                "superseded": v.superseded,
                "blocked": is_blocked(v),
                "unserved": not served,  # blocked, or not vetted as these bytes (curate.index.unserved)
                "cells": Markup(cells),
            }
        )
    by_request: dict[str, dict[str, Any]] = {}
    for v in versions:
        for need in v.needed_by:
            entry = by_request.setdefault(
                need.request,
                {"id": need.request, "versions": [], "direct": False, "via": set(), "to_build": set()},
            )
            if v.version not in entry["versions"]:
                entry["versions"].append(v.version)
            entry["direct"] = entry["direct"] or need.direct
            if need.to_build:  # a build dependency: the sdist it builds, not its parents in that build
                entry["to_build"].add(need.to_build)
            else:
                entry["via"].update(need.via)
    needs = []
    for rid in sorted(by_request, reverse=True):
        entry = by_request[rid]
        request = data.requests.get(rid)
        needs.append(
            {
                **entry,
                "via": [(x, x in data.projects) for x in sorted(entry["via"])],
                "to_build": [_built(data, b) for b in sorted(entry["to_build"])],
                "request": request,
            }
        )
    deps = sorted({d.name for v in project.versions for d in v.dependencies})
    osset = set().union(*(os_of_version(data, v) for v in versions)) if versions else set()
    return {
        "name": project.name,
        "norm": project.normalized,
        "latest": latest.version if latest else "",
        "summary": vet.summary if vet is not None else "",
        "license": vet.license if vet is not None else "",
        "vulnerabilities": vulnerability_status(vet),
        "home_page": safe_url(vet.home_page if vet is not None else ""),
        "home_text": vet.home_page if vet is not None else "",
        "install": install_command(data.config, project.name),
        "os": [o for o in OS_NAMES if o in osset],
        "cols": cols,
        "os_spans": _spans(cols, "os"),
        "platform_spans": [
            (name, n, next(c.arch for c in cols if c.platform == name))
            for name, n in _spans(cols, "platform")
        ],
        "rows": rows,
        "versions": [
            {
                "version": v.version,
                "requires_python": v.requires_python,
                "yanked": v.yanked,
                "superseded": v.superseded,
                "superseded_since": v.superseded_since,
                "blocked": is_blocked(v),
                "files": [
                    {
                        "filename": f.filename,
                        "size": f.size,
                        "sha256": f.sha256,
                        "os": os_of_file(data, f),
                        "yanked": f.yanked,
                    }
                    for f in sorted(v.files, key=lambda f: f.filename)
                ],
                "build_targets": v.build_targets,
                "build_system": v.build_system,
                "to_build": [_built(data, b) for b in v.to_build],
                "left_out": unserved(v, data.config.vetting, data.today) or "",
                "vetting": v.vetting,
                "findings": list(v.vetting.findings) if v.vetting is not None else [],
            }
            for v in versions
        ],
        "needs": needs,
        "dependencies": [(d, d in data.projects) for d in deps],
        "dependents": data.dependents.get(project.normalized, ()),
    }


def _built(data: SiteData, to_build: str) -> tuple[str, str, bool]:
    """A need's ``to_build`` (``name==version``): the project, its version, and whether it has a page."""
    name, _, version = to_build.partition("==")
    return name, version, NormalizedName(name) in data.projects


def requests_view(data: SiteData) -> list[dict[str, Any]]:
    out = []
    for request in sorted(data.requests.values(), key=lambda r: (r.date, r.id), reverse=True):
        out.append(
            {
                "r": request,
                "packages": [(p, p.normalized in data.projects) for p in request.packages],
                "remove": [(x, x.normalized in data.projects) for x in request.remove],
                "platforms": [OS_LABELS[p] for p in request.platforms],
                "smoke": data.smoke.get(request.id, []),
            }
        )
    return out


class SiteRenderer:
    """The site's templates compiled once; each method returns an HTML fragment (the package index's
    pages are :class:`curate.index.IndexRenderer`'s)."""

    def __init__(self, data: SiteData) -> None:
        self.data = data
        self.env = environment()
        self._package = self.env.get_template("package.html")

    def package(self, project: Project) -> str:
        return self._package.render(p=project_view(self.data, project), site=self.data.config)

    def page(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(site=self.data.config, **context)

    def packages_list(self) -> str:
        return self.page("packages.html", count=len(self.data.projects))

    def os_page(self, os_name: str) -> str:
        count = sum(
            1
            for p in self.data.projects.values()
            if any(os_name in os_of_version(self.data, v) for v in p.versions)
        )
        return self.page("os.html", os=os_name, label=OS_LABELS[os_name], count=count)

    def os_index(self) -> str:
        """``os/``: the OS pages, with the configured targets and the catalog's figures for each."""
        arches: dict[str, list[str]] = {o: [] for o in OS_NAMES}
        for p in self.data.config.platforms:
            arches[p.os].append(p.arch)
        pythons = self.data.config.python_supported
        return self.page("os-index.html", s=stats(self.data), arches=arches, pythons=pythons)

    def requests_page(self) -> str:
        return self.page("requests.html", requests=requests_view(self.data))

    def home_stats(self) -> str:
        return self.page("stats.html", s=stats(self.data))


def write_package_pages(data: SiteData, renderer: SiteRenderer, site_dir: Path) -> list[str]:
    """Fill the theme's rendered shell with each project's page; return the pages' URLs (relative)."""
    shell_path = site_dir / SHELL_DIR / "index.html"
    try:
        shell = shell_path.read_text("utf-8")
    except OSError as exc:
        raise BuildError(f"the package page shell was not rendered ({shell_path}): {exc}") from exc
    if shell.count(SHELL_SLOT) != 1:
        raise BuildError(f"the package page shell {shell_path} lost its slot; is the theme overriding it?")
    before, after = shell.split(SHELL_SLOT)
    names = list(data.projects)
    jobs = workers(len(names))
    job = _PageJob(data=data, renderer=renderer, site_dir=site_dir, before=before, after=after)
    urls = [u for chunk in _map(job.run, _chunks(names, jobs * 4), jobs) for u in chunk]
    for leftover in (shell_path.parent / f for f in os.listdir(shell_path.parent)):
        leftover.unlink()
    shell_path.parent.rmdir()
    return urls


@dataclasses.dataclass(frozen=True, slots=True)
class _PageJob:
    data: SiteData
    renderer: SiteRenderer
    site_dir: Path
    before: str
    after: str

    def run(self, names: Sequence[NormalizedName]) -> list[str]:
        shell_url = SHELL_DIR.split("/")[-1] + "/"
        urls = []
        for norm in names:
            project = self.data.projects[norm]
            title = str(escape(project.name))
            head = self.before.replace(SHELL_TITLE, title).replace(shell_url, f"{norm}/")
            tail = self.after.replace(SHELL_TITLE, title)
            out = self.site_dir / "packages" / norm
            out.mkdir(parents=True, exist_ok=True)
            (out / "index.html").write_text(head + self.renderer.package(project) + tail, "utf-8")
            urls.append(f"packages/{norm}/")
        return urls


def write_json(data: SiteData, site_dir: Path) -> None:
    (site_dir / "packages").mkdir(parents=True, exist_ok=True)
    (site_dir / "packages" / "index.json").write_text(dumps_json(packages_index(data)), "utf-8")
    (site_dir / "os").mkdir(parents=True, exist_ok=True)
    for os_name in OS_NAMES:
        (site_dir / "os" / f"{os_name}.json").write_text(dumps_json(os_index(data, os_name)), "utf-8")


def rewrite_sitemap(site_dir: Path, site_url: str, package_urls: Sequence[str]) -> None:
    """List the package pages in sitemap.xml (mkdocs wrote it before they existed), drop the shell."""
    path = site_dir / "sitemap.xml"
    if not path.exists():
        return
    text = path.read_text("utf-8")
    text = re.sub(r"\s*<lastmod>[^<]*</lastmod>", "", text)  # the build date: not from the data
    text = re.sub(r"\s*<url>\s*<loc>[^<]*" + re.escape(SHELL_DIR) + r"/</loc>.*?</url>", "", text, flags=re.S)
    entries = "".join(
        f"\n    <url>\n         <loc>{escape(site_url + u)}</loc>\n    </url>" for u in package_urls
    )
    text = text.replace("</urlset>", entries.lstrip("\n") + "\n</urlset>" if entries else "</urlset>")
    path.write_text(text, "utf-8")
    gz = site_dir / "sitemap.xml.gz"
    if gz.exists():
        with open(gz, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
            f.write(text.encode("utf-8"))


# -- the build ---------------------------------------------------------------------------------------

FALLBACK_MKDOCS = """\
# Written by curate.site for a catalog repository without its own mkdocs.yml.
site_name: {site_name}
docs_dir: {docs_dir}
theme:
  name: material
  font: false
  features:
    - navigation.indexes
extra:
  generator: false
plugins:
  - search
  - curate:
      root: {root}
nav:
  - Home: index.md
  - Packages: packages/index.md
  - Operating systems:
      - os/index.md
      - Linux: os/linux.md
      - Windows: os/windows.md
      - macOS: os/macos.md
  - Requests: requests.md
"""


def build_site(
    root: Path, config: Config, out_dir: Path, *, env: Mapping[str, str], today: dt.date | None = None
) -> None:
    """Build the catalog site into ``out_dir`` (emptied first by mkdocs) with ``root``'s mkdocs.yml.

    A repository without an mkdocs.yml gets the generated pages and a default home page. ``env``: the
    environment the CLI was given (git runs with it).
    """
    from mkdocs.commands.build import build
    from mkdocs.config import load_config as load_mkdocs
    from mkdocs.exceptions import MkDocsException

    from curate.mkdocs_plugin import CuratePlugin

    with tempfile.TemporaryDirectory(prefix="curate-site-") as tmp:
        config_file = root / "mkdocs.yml"
        if not config_file.is_file():
            docs = Path(tmp) / "docs"
            docs.mkdir()
            config_file = Path(tmp) / "mkdocs.yml"
            config_file.write_text(
                FALLBACK_MKDOCS.format(
                    site_name=json.dumps(config.site_name),
                    docs_dir=json.dumps(str(docs)),
                    root=json.dumps(str(root.resolve())),
                ),
                "utf-8",
            )
        mk_logger = logging.getLogger("mkdocs")
        level = mk_logger.level
        if level == logging.NOTSET or level > logging.WARNING:
            # mkdocs' own INFO lines only when the caller asks; warnings always (strict counts them)
            mk_logger.setLevel(logging.WARNING)
        warnings = _Collect()
        mk_logger.addHandler(warnings)
        try:
            mk_config = load_mkdocs(
                str(config_file),
                site_dir=str(out_dir.resolve()),
                strict=True,
                site_url=config.base_url,
            )
            for plugin in mk_config.plugins.values():
                if isinstance(plugin, CuratePlugin):
                    plugin.env = env
                    plugin.today = today
            mk_config.plugins.on_startup(command="build", dirty=False)
            try:
                build(mk_config)
            finally:
                mk_config.plugins.on_shutdown()
        except CurateError:
            raise
        except MkDocsException as exc:
            details = "".join(f"\n  {m}" for m in warnings.messages)
            raise BuildError(f"the site did not build (mkdocs --strict): {exc}{details}") from exc
        finally:
            mk_logger.removeHandler(warnings)
            mk_logger.setLevel(level)


class _Collect(logging.Handler):
    """The warnings mkdocs logs, for the error message when strict mode aborts."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
