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

import contextlib
import dataclasses
import datetime as dt
import functools
import gzip
import hashlib
import json
import logging
import os
import pickle
import re
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import Markup, escape

from curate import git
from curate import history as hist
from curate.catalog import BuiltFile, FileEntry, Project, VersionEntry, iter_project_files, load_projects_fast
from curate.config import Config
from curate.diff import STATUSES
from curate.environments import Blocker, Environment, EnvPackage, RequestEnvironments, target_label
from curate.environments import plan as plan_environments
from curate.errors import BuildError, CurateError, Problem, ValidationError, display_path
from curate.index import Blobs, is_blocked, served_built, unserved
from curate.names import NormalizedName
from curate.requests import Request, read_request, request_files
from curate.reuse import PACKAGE, RECORD_DIR, LinkReuse, code_digest
from curate.smoke import Shown
from curate.smoke import recorded as recorded_smoke
from curate.staging import link_if_same
from curate.targets import OS_LABELS, OS_NAMES, Target
from curate.vetting import VettingRecord, today_from, vulnerability_status

TEMPLATES = Path(__file__).parent / "templates" / "site"
SHELL_DIR = "packages/_shell"  # '_' never occurs in a normalized name
REQUEST_SHELL_DIR = "requests/_shell"  # nor in a request's id
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
    "changes/index.md": "Changes",
}
CHANGES_SHELL_DIR = "changes/_shell"
# the Changes page's slot, left in it by the plugin until the history is here (fill_changes_page)
CHANGES_SLOT = '<div class="curate-slot" data-slot="changes-index"></div>'
PACKAGE_HISTORY_MAX = 100  # changes shown on a package page; all of them are in its api/changes/ file
ARCHIVE_CACHE = "history-pages"  # under the file cache: the Changes archive pages rendered, by content
API_CACHE = "history-api"  # under the file cache: what each api/changes/ file was written from
STATUS_LABELS = {
    "added": "Entered the catalog",
    "present": "Newly needed (already in the catalog)",
    "superseded": "Superseded (still served)",
    "removed": "Left the catalog",
}


# -- the data the pages show ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)  # no slots: the history's views are cached properties
class SiteData:
    config: Config
    projects: dict[NormalizedName, Project]
    requests: dict[str, Request]  # by id
    dependents: dict[NormalizedName, tuple[NormalizedName, ...]]
    last_changed: str  # YYYY-MM-DD, or "" when unknown
    targets: dict[str, Target]  # every configured target by id
    # every request's, by id (curate.environments); {} where another process plans them (planned_beside)
    environments: dict[str, RequestEnvironments]
    today: dt.date = dataclasses.field(default_factory=dt.date.today)  # what waivers' expiry is compared with
    smoke: dict[str, list[Shown]] = dataclasses.field(default_factory=dict)  # curate smoke, per request
    # the catalog's history, computed beside the build (curate.history.Background): waited for by the
    # first page that shows it (the properties below), after the rest of the site (write_history_pages)
    history_job: hist.Background = dataclasses.field(
        default_factory=lambda: hist.Background.ready(hist.no_history("not read"))
    )
    cache_dir: Path | None = None  # the file cache: rendered archive pages are kept there
    published: Path | None = None  # the previous build's output: unchanged api/changes/ files are linked
    # what is left to write once the history is here, when the caller asked to write it later
    # (build_site(later=True)): run by finish_site
    later: list[Callable[[], None]] = dataclasses.field(default_factory=list)
    # the environments are planned by another process (curate.build.EnvWriter): their statuses, when
    # this one needs them (waited for); None: planned here, in ``environments``
    planned_beside: Callable[[], Statuses] | None = None

    @functools.cached_property
    def env_statuses(self) -> Statuses:
        """Each request's environments' (target id, status), by request id: for the requests list."""
        if self.planned_beside is not None:
            return self.planned_beside()
        return statuses_of(self.environments)

    @functools.cached_property
    def history(self) -> hist.History:
        """The catalog's history (waited for, the first time)."""
        return self.history_job.result()

    @functools.cached_property
    def package_history(self) -> dict[NormalizedName, list[tuple[hist.Entry, hist.PackageChange]]]:
        """Each project's changes, newest first."""
        return self.history_job.by_package()

    @functools.cached_property
    def history_pages(self) -> dict[str, int]:
        """The archive page of every change, by commit."""
        return self.history_job.pages_of()

    def served(self, version: VersionEntry) -> bool:
        """Whether the index serves ``version`` (:func:`curate.index.unserved`): the site shows it as
        installable only then."""
        return unserved(version, self.config.vetting, self.today) is None

    @property
    def show_requesters(self) -> bool:
        """Whether the site names who asked (``site.show_requesters``; not by default)."""
        return self.config.show_requesters

    def target_os(self, target_id: str) -> str | None:
        t = self.targets.get(target_id)
        if t is not None:
            return t.os
        for os_name in OS_NAMES:  # a target the config no longer lists: go by its name
            if target_id.startswith(os_name):
                return os_name
        return None


Statuses = Mapping[str, tuple[tuple[str, str], ...]]  # each request's (target id, status), by id
# given what the site read (no environments planned yet): a way to their statuses when another process
# plans them (and writes them: curate.build.EnvWriter), else None (they are planned here)
PlanBeside = Callable[["SiteData"], Callable[[], Statuses] | None]


def statuses_of(plans: Mapping[str, RequestEnvironments]) -> dict[str, tuple[tuple[str, str], ...]]:
    """:attr:`SiteData.env_statuses` from the plans."""
    return {rid: tuple((e.target.id, e.status) for e in envs.environments) for rid, envs in plans.items()}


def plan_of(data: SiteData) -> dict[str, RequestEnvironments]:
    """Every request's environments (:func:`curate.environments.plan`) from what the site read."""
    return plan_environments(
        data.projects,
        data.requests.values(),
        data.config,
        today=data.today,
        built=Blobs(data.cache_dir).built_check(data.config),
    )


def collect(
    root: Path,
    config: Config,
    *,
    env: Mapping[str, str],
    today: dt.date | None = None,
    cache_dir: Path | None = None,
    published: Path | None = None,
    history: hist.Background | None = None,
    plan_beside: PlanBeside | None = None,
) -> SiteData:
    """Read the catalog, every request under ``root`` and the catalog's history; raise ValidationError
    on bad input.

    ``env``: the environment git runs with; ``today``: what waivers' expiry is compared with (default:
    ``$CURATE_TODAY``, else today); ``cache_dir``: where the history's cache lives (None: none);
    ``published``: the previous build's output (to tell when the history was rewritten since);
    ``history``: the history already being computed (:class:`curate.history.Background`); else it is
    started here, before the catalog is read, and computed beside (the caller stops it if it fails);
    ``plan_beside``: called with what was read, once the catalog and the requests are (the rest,
    :func:`read_later`, is not yet): what it returns, when not None, gives the environments' statuses
    (another process plans them), and ``environments`` stays {}."""
    try:
        day = today if today is not None else today_from(env)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    read = functools.partial(
        _collect,
        root,
        config,
        env=env,
        today=day,
        cache_dir=cache_dir,
        published=published,
        plan_beside=plan_beside,
    )
    if history is not None:
        return read(history=history)
    history = start_history(root, config, env=env, cache_dir=cache_dir, published=published)
    try:
        return read(history=history)
    except BaseException:
        history.stop()
        raise


def _collect(
    root: Path,
    config: Config,
    *,
    env: Mapping[str, str],
    today: dt.date,
    cache_dir: Path | None,
    published: Path | None,
    history: hist.Background,
    plan_beside: PlanBeside | None,
) -> SiteData:
    day = today
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
    read = SiteData(
        config=config,
        projects=dict(sorted(projects.items())),
        requests=requests,
        dependents={k: tuple(sorted(v)) for k, v in dependents.items()},
        last_changed="",
        targets={t.id: t for t in config.all_targets()},
        environments={},
        today=day,
        history_job=history,
        cache_dir=cache_dir,
        published=published,
    )
    # planned beside from here (what follows is this process's meanwhile): it is sent the rest
    # (read_later) before it needs it
    beside = plan_beside(read) if plan_beside is not None else None
    data = dataclasses.replace(
        read,
        smoke=recorded_smoke(root, list(requests.values()), config, projects),
        last_changed=last_changed(root, requests.values(), env=env),
    )
    if beside is not None:
        return dataclasses.replace(data, planned_beside=beside)
    return dataclasses.replace(data, environments=plan_of(data))


def read_later(data: SiteData) -> dict[str, Any]:
    """What :func:`collect` reads after it has called ``plan_beside`` (the fields of ``data``), for the
    process planning beside: its :class:`SiteData` is what it was called with, replaced with these."""
    return {"smoke": data.smoke, "last_changed": data.last_changed}


def start_history(
    root: Path,
    config: Config,
    *,
    env: Mapping[str, str],
    cache_dir: Path | None,
    published: Path | None,
) -> hist.Background:
    """Start computing the catalog's history beside this process (see :class:`curate.history.Background`),
    and what shows it (:func:`prepare_history`): ``published``, the previous build's output, tells
    whether it was rewritten since."""
    return hist.Background.start(
        root,
        env=env,
        os_of_platform={p.name: p.os for p in config.platforms},
        cache_dir=cache_dir,
        published_head=hist.previous_head(published),
        prepare=functools.partial(prepare_history, root=root, config=config, cache_dir=cache_dir),
    )


def prepare_history(
    job: hist.Background, stop: Callable[[], bool], *, root: Path, config: Config, cache_dir: Path | None
) -> dict[str, Any] | None:
    """What :func:`write_history` writes from the history alone, made beside the build once the history
    is computed (:class:`curate.history.Background`), while the build reads the catalog: when most of
    the history was computed (a first build: nothing of it is in the caches yet). Until ``stop()`` (the
    build waits): the archive pages, rendered into the file cache (:class:`_ArchiveCache`) with the
    catalog's projects and requests as their files are named (what the page links to: the key the
    build looks them up by is made from the catalog it read, so a page made from a wrong guess is not
    found, and is made again); then the ``api/changes/`` pages and package files, as bytes (None: none)."""
    history = job.result()
    if not history.entries or history.computed <= history.reused:
        return None
    if cache_dir is not None and history.fingerprint:
        projects, requests = _named(root)
        guess = SiteData(
            config=config,
            projects=dict.fromkeys(projects),  # type: ignore[arg-type]
            requests=dict.fromkeys(requests),  # type: ignore[arg-type]
            dependents={},
            last_changed="",
            targets={},
            environments={},
            history_job=job,
            cache_dir=cache_dir,
        )
        renderer = SiteRenderer(guess)
        pages = _ArchiveCache(cache_dir / ARCHIVE_CACHE)
        fp = renderer.archive_fingerprint()
        for number in range(history.pages, 0, -1):
            if stop():
                return None
            key = renderer.archive_key(number)
            assert key is not None  # the history has a fingerprint
            pages.get(fp, key, functools.partial(_archive_page, renderer, number))
    who = config.show_requesters
    files: dict[str, bytes] = {}
    for number in range(1, history.pages + 1):
        if stop():
            break
        files[f"{number}.json"] = _json_bytes(hist.page_json(history, number, requesters=who))
    pages_of = job.pages_of()
    for norm, items in job.by_package().items():
        if stop():
            break
        doc = hist.package_json(items[0][1].name, norm, items, pages_of, requesters=who)
        files[f"packages/{norm}.json"] = _json_bytes(doc)
    return {"requesters": who, "files": files}


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
            return pool.map(_run_task, chunks, chunksize=1)
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
    env.filters["xml"] = xml_text
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
    "b": '<td class="curate-b" title="built from source">built</td>',
    "n": '<td class="curate-n">–</td>',
}


def built_served(data: SiteData, v: VersionEntry) -> list[BuiltFile]:
    """The wheels curate wheels built for ``v`` that the index serves (curate.index.served_built: from
    its vetted sdist, without problems, under ``build.serve``, and only while the cache holds exactly
    the recorded bytes), so the site says "built" where an installer finds one."""
    if not v.built:
        return []
    return served_built(v, data.config, Blobs(data.cache_dir).built_check(data.config))[0]


def project_view(data: SiteData, project: Project) -> dict[str, Any]:
    """Everything one project page shows, as plain data for templates/site/package.html."""
    versions = list(reversed(project.sorted_versions()))
    latest = latest_served(data, project)
    vet = vetting_of(latest)
    cols = matrix_columns(data, project)
    rows = []
    for v in versions:
        served = data.served(v)  # the index leaves it out otherwise
        # an upstream wheel, else a wheel curate wheels built, else the sdist (installers build it)
        wheel = {t for f in v.files if f.is_wheel for t in f.targets} if served else set()
        built = {t for b in built_served(data, v) for t in b.targets} if served else set()
        build = (
            {*v.build_targets, *(t for f in v.files if not f.is_wheel for t in f.targets)}
            if served
            else set()
        )
        cells = "".join(
            _CELL[
                "y" if c.target in wheel else "b" if c.target in built else "s" if c.target in build else "n"
            ]
            for c in cols
        )
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
    changed = data.package_history.get(project.normalized, [])
    history = [
        {
            "sha": e.sha,
            "day": e.day,
            "page": data.history_pages.get(e.sha, 1),
            "label": STATUS_LABELS[c.status],
            "where": where_text(c),
            "c": c,
        }
        for e, c in changed[:PACKAGE_HISTORY_MAX]
    ]
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
        "history": history,
        "history_more": max(0, len(changed) - PACKAGE_HISTORY_MAX),
        "history_state": data.history.state,
        "history_notes": data.history.notes,
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
                "targets": data.env_statuses.get(request.id, ()),
            }
        )
    return out


# -- the catalog's history ------------------------------------------------------------------------------

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(value: object) -> Markup:
    """``value`` as XML character data: escaped (even when it is already markup, so HTML meant for a
    feed reader arrives as text), and any character XML 1.0 cannot carry, even escaped, replaced."""
    return escape(_XML_INVALID.sub("\ufffd", str(value)))


def entry_view(data: SiteData, e: hist.Entry, *, up: str, link: str | None) -> dict[str, Any]:
    """One change as the Changes pages and the feed show it; ``up``: the way to the site's root from
    the page (or the site's URL), ``link``: the entry's permanent link, if not this page."""
    return {
        "sha": e.sha,
        "short": e.sha[:12],
        "day": e.day,
        "date": e.date,
        "subject": e.subject,
        "link": link,
        "boundary": e.boundary,
        "notes": e.notes,
        "requests": [
            {
                "id": r.id,
                "path": r.path,
                "action": r.action,
                "title": r.title,
                "requested_by": r.requested_by if data.show_requesters else "",
                "link": f"{up}requests/#{r.id}" if r.id in data.requests else None,
            }
            for r in e.requests
        ],
        "groups": [
            (status, STATUS_LABELS[status], [change_view(data, c) for c in e.of(status)])
            for status in STATUSES
            if e.of(status)
        ],
    }


def _blocker_text(b: Blocker) -> str:
    """What stops one version, for a line that already names the project and version."""
    if b.kind == "blocked":
        return "blocked by vetting"
    if b.kind == "waiver-expired":
        return "a waiver it relies on expired (renew it or upgrade, then: curate vet)"
    if b.kind == "unvetted-bytes":
        return f"{b.filename} is not the file vetting covered (run: curate vet)"
    if b.kind == "left-out":
        return f"not served by the index: {b.detail}"
    if b.kind == "not-vetted":
        return "not vetted yet (run: curate vet)"
    if b.kind == "no-file":
        return "no file for this target"
    return b.message


def package_view(p: EnvPackage) -> dict[str, Any]:
    """One package of an environment's table."""
    return {
        "name": p.name,
        "normalized": p.normalized,
        "version": p.version.version,
        "direct": p.direct,
        "filename": p.file.filename,
        "built": p.built is not None,  # a wheel curate wheels built from the vetted sdist
        "size": p.file.size,
        "status": p.version.vetting.status if p.version.vetting is not None else "",
        "advisories": [
            f for f in (p.version.vetting.findings if p.version.vetting else ()) if f.kind == "vulnerability"
        ],
    }


def environment_view(data: SiteData, env: Environment, *, packages: bool = True) -> dict[str, Any]:
    """One target of a request's page: its commands and packages (``packages``: their views too), or
    why it has none."""
    base = data.config.base_url
    paths = {fmt: env.path(fmt) for fmt in ("pylock", "requirements", "cyclonedx")}
    return {
        "target": env.target.id,
        "label": f"{target_label(env.target)} ({env.target.id})",
        "status": env.status,
        "paths": paths,
        "urls": {fmt: base + quote(path) for fmt, path in paths.items()},
        "index": data.config.simple_url,
        "count": len(env.packages),
        "size": sum(p.file.size for p in env.packages),
        "packages": [package_view(p) for p in env.packages] if packages else [],
        "blockers": [
            {
                "project": b.project,
                "normalized": b.normalized if b.normalized in data.projects else "",
                "version": b.version,
                "text": _blocker_text(b) if b.normalized in data.projects else b.message,
                "findings": b.findings,
            }
            for b in env.blockers
        ],
    }


def change_view(data: SiteData, c: hist.PackageChange) -> dict[str, Any]:
    """One change as the Changes pages and the feed show it (its fields, whether the project has a page,
    and where it installs)."""
    return {**c.to_dict(), "known": c.normalized in data.projects, "where": where_text(c)}


def where_text(c: hist.PackageChange) -> str:
    """Where a change applies, as a line of text: its operating systems, then its Python versions."""
    text = ", ".join(OS_LABELS.get(o, o) for o in c.os)
    return f"{text}; Python {', '.join(c.python)}" if c.python else text


def entry_title(e: hist.Entry) -> str:
    what = "; ".join(r.title or r.id for r in e.requests) or e.subject or e.sha[:12]
    return f"{e.day}: {what}"


def entry_summary(e: hist.Entry) -> str:
    if e.boundary:
        return "The history in this clone starts here: what this commit changed is unknown."
    n = e.counts()
    parts = [
        f"{n['added']} entered",
        f"{n['present']} newly needed",
        f"{n['superseded']} superseded",
        f"{n['removed']} left",
    ]
    requests = ", ".join(f"{r.id} ({r.action})" for r in e.requests)
    return ", ".join(parts) + (f"; requests: {requests}" if requests else "")


def _pager(history: hist.History) -> list[tuple[int, str, str]]:
    out = []
    for k in range(1, history.pages + 1):
        entries = history.page(k)
        out.append((k, entries[-1].day, entries[0].day))
    return out


def request_view(data: SiteData, request: Request, *, packages: bool = True) -> dict[str, Any]:
    """Everything one request's page shows, as plain data for templates/site/request.html."""
    envs = data.environments.get(request.id)
    return {
        "request": request,
        "packages": [(p, p.normalized in data.projects) for p in request.packages],
        "remove": [(x, x.normalized in data.projects) for x in request.remove],
        "platforms": [OS_LABELS[p] for p in request.platforms],
        "environments": [environment_view(data, e, packages=packages) for e in envs.environments]
        if envs is not None
        else [],
        "smoke": data.smoke.get(request.id, []),  # curate smoke's results per target
    }


def pickled(value: object) -> bytes:
    """``value`` in full, as bytes: what unpickling needs to make it again, every field of every object
    in it (equal bytes, equal data; what cannot be pickled raises). What a page is keyed by
    (:meth:`SiteRenderer.request_key`); its sets' order may differ between processes (a missed reuse,
    never a wrong one)."""
    return pickle.dumps(value, protocol=5)


def code_fingerprint(package: Path = PACKAGE) -> str:
    """curate's code and templates as ``package`` holds them now (the views, the filters, the shell's
    filling, every template: :func:`curate.reuse.code_digest`), with the template libraries that run
    them."""
    return code_digest(("jinja2", "markupsafe"), package)


# what this process runs: its modules were imported just before, its templates are compiled after (a
# build whose code or templates change while it runs, as the fingerprint before its pages are recorded
# says, keeps no record of them: PageReuse.save)
CODE = code_fingerprint()


def request_fingerprint(config: Config, code: str = CODE) -> str:
    """What a request's page is made with besides its data: curate's code and templates
    (:func:`code_fingerprint`) and the site's settings."""
    return hashlib.sha256(code.encode() + pickled(config)).hexdigest()


# what an environment's package row shows (environment_view), but its advisories
_ROW_KEYS = ("name", "normalized", "version", "direct", "filename", "built", "size", "status")


class SiteRenderer:
    """The site's templates, each compiled once when first used (a rebuild's writer that links every
    request page renders none); each method returns an HTML fragment (the package index's pages are
    :class:`curate.index.IndexRenderer`'s)."""

    def __init__(self, data: SiteData) -> None:
        self.data = data
        self.env = environment()
        self._rows: dict[tuple[Any, ...], str] = {}
        self._env_rows: dict[tuple[Any, ...], tuple[object, object, object, str]] = {}
        self._row_keys: dict[tuple[Any, ...], tuple[object, object, object, bytes]] = {}
        self.code = CODE  # what request_key keys the pages' code and templates by
        self._fingerprint = ""

    @functools.cached_property
    def _package(self) -> jinja2.Template:
        return self.env.get_template("package.html")

    @functools.cached_property
    def _request(self) -> jinja2.Template:
        return self.env.get_template("request.html")

    @functools.cached_property
    def _package_row(self) -> jinja2.Template:
        return self.env.get_template("_env_package.html")

    def package(self, project: Project) -> str:
        return self._package.render(p=project_view(self.data, project), site=self.data.config)

    def request(self, request: Request) -> str:
        q = request_view(self.data, request, packages=False)
        envs = self.data.environments.get(request.id)
        for e, env in zip(q["environments"], envs.environments if envs is not None else (), strict=True):
            e["rows"] = Markup("".join(self._env_row(p) for p in env.packages))
        return self._request.render(q=q, site=self.data.config)

    def request_key(self, request: Request) -> str:
        """A digest of everything :meth:`request` makes the request's page body of: its whole view (the
        request, its packages and removals and whether each has a page here, its platforms, its smoke
        results, each environment's target, status, files, URLs, size and blockers) and every package
        row's whole view, all in full (:func:`pickled`), with :func:`request_fingerprint`. Equal keys
        mean equal bodies."""
        if not self._fingerprint:
            self._fingerprint = request_fingerprint(self.data.config, self.code)
        q = request_view(self.data, request, packages=False)
        envs = self.data.environments.get(request.id)
        rows = [[self._row_key(p) for p in env.packages] for env in (envs.environments if envs else ())]
        h = hashlib.sha256(self._fingerprint.encode())
        h.update(pickled(q))
        for env_rows in rows:  # (each pickle ends where it says: counted, the rows are told apart)
            h.update(b"\0%d\0" % len(env_rows) + b"".join(env_rows))
        return h.hexdigest()

    def _row_key(self, p: EnvPackage) -> bytes:
        """A package row's whole view (:func:`pickled`), made once per project, version, file and
        whether asked for (as :meth:`_env_row`)."""
        key = (id(p.project), id(p.version), id(p.file), p.built is not None, p.direct, p.normalized)
        found = self._row_keys.get(key)
        if found is None:
            found = self._row_keys[key] = (p.project, p.version, p.file, pickled(package_view(p)))
        return found[3]

    def _env_row(self, p: EnvPackage) -> str:
        """:meth:`_row` of the package's view, once per project, version, file and whether asked for
        (by the identity of the plan's objects, kept alive here: a package recurs in many environments)."""
        key = (id(p.project), id(p.version), id(p.file), p.built is not None, p.direct, p.normalized)
        found = self._env_rows.get(key)
        if found is None:
            found = self._env_rows[key] = (p.project, p.version, p.file, self._row(package_view(p)))
        return found[3]

    def _row(self, p: dict[str, Any]) -> str:
        """One package's row of an environment's table, rendered once for every page it is on."""
        key = (*(p[k] for k in _ROW_KEYS), tuple((f.id, f.decision) for f in p["advisories"]))
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = self._package_row.render(p=p)
        return row

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

    def changes_page(self) -> str:
        """``changes/``: the newest changes, with the way to every archive page."""
        history = self.data.history
        entries = history.latest()
        pages = self.data.history_pages
        older = None
        if len(history.entries) > len(entries):  # the page with the next older change
            older = f"{history.page_of(len(entries))}/"
        return self.page(
            "changes.html",
            intro=True,
            notes=history.notes,
            up="../",
            entries=[entry_view(self.data, e, up="../", link=f"{pages[e.sha]}/#{e.sha}") for e in entries],
            pager=_pager(history) if history.pages > 1 else [],
            current=None,
            page_prefix="",
            newer=None,
            older=older,
        )

    def archive_context(self, number: int) -> dict[str, Any]:
        """What archive page ``number`` (``changes/<number>/``, 1 = the oldest changes) shows: its changes, the way to its neighbours, the oldest page
        and the list of all pages (on ``changes/``), so that it changes only when what it shows does
        (its entries, a request or project it links to coming or going, the history's notes)."""
        history = self.data.history
        return {
            "intro": number == history.pages,
            "notes": history.notes,
            "up": "../../",
            "entries": [entry_view(self.data, e, up="../../", link=None) for e in history.page(number)],
            "pager": [],
            "current": number,
            "page_prefix": "../",
            "newer": f"../{number + 1}/" if number < history.pages else "../",
            "older": f"../{number - 1}/" if number > 1 else None,
        }

    def archive_key(self, number: int) -> dict[str, Any] | None:
        """What archive page ``number`` shows, in short (None where it cannot be told so): its entries
        by commit (with the history's fingerprint, a commit fixes its entry: :class:`curate.history.Entry`),
        which of the projects and requests they name have pages here, whether requesters are named, the
        history's notes, and its place (whether it is the newest page); with :meth:`archive_fingerprint`,
        everything :meth:`archive_context` is made of."""
        history = self.data.history
        if not history.fingerprint:
            return None
        entries = history.page(number)
        projects, requests = self.data.projects, self.data.requests
        return {
            "fingerprint": history.fingerprint,
            "number": number,
            "newest": number == history.pages,
            "notes": history.notes,
            "requesters": self.data.show_requesters,
            "entries": [f"{e.sha}{'*' if e.boundary else ''}" for e in entries],
            "known": "".join("1" if c.normalized in projects else "0" for e in entries for c in e.changes),
            "linked": "".join("1" if r.id in requests else "0" for e in entries for r in e.requests),
        }

    def archive_fingerprint(self) -> str:
        """The templates an archive page is rendered with, the code that makes what they show (this
        module) and the site's settings they may read."""
        assert self.env.loader is not None
        text = [self.env.loader.get_source(self.env, name)[0] for name in ("changes.html", "_history.html")]
        text += [Path(__file__).read_text("utf-8"), repr(self.data.config)]
        return hashlib.sha256("\0".join(text).encode()).hexdigest()

    def feed(self) -> str:
        """``changes.xml``: the newest changes as an Atom feed, with absolute links."""
        history = self.data.history
        base = self.data.config.base_url
        pages = self.data.history_pages
        entry_html = self.env.get_template("_feed_entry.html")
        entries = []
        for e in history.latest(hist.FEED_ENTRIES):
            url = f"{base}changes/{pages[e.sha]}/#{e.sha}"
            view = entry_view(self.data, e, up=base, link=url)
            entries.append(
                {
                    "id": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'curate-change:' + e.sha)}",
                    "title": entry_title(e),
                    "updated": e.date,
                    "url": url,
                    "summary": entry_summary(e),
                    "html": Markup(entry_html.render(e=view, up=base, OS_LABELS=OS_LABELS)),
                }
            )
        return self.env.get_template("changes.xml").render(
            feed_id=f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, base + 'changes.xml')}",
            title=f"{self.data.config.site_name}: changes",
            subtitle=" ".join(["What each merged change did to the catalog.", *history.notes]),
            updated=history.entries[0].date if history.entries else "1970-01-01T00:00:00Z",
            self_url=f"{base}changes.xml",
            site_url=f"{base}changes/",
            entries=entries,
        )


def write_package_pages(
    data: SiteData, renderer: SiteRenderer, site_dir: Path, *, with_history: bool = False
) -> list[str]:
    """Fill the theme's rendered shell with each project's page; return the pages' URLs (relative).
    ``with_history``: write the history's pages too (:func:`write_history`), in one of the processes
    the project pages are written by when there are several; their URLs come last."""
    before, after = _read_shell(site_dir, SHELL_DIR, "package page")
    names = list(data.projects)
    jobs = workers(len(names))
    job = _PageJob(data=data, renderer=renderer, site_dir=site_dir, before=before, after=after)

    def run(task: tuple[str, Sequence[NormalizedName]]) -> list[str]:
        kind, chunk = task
        return write_history(data, renderer, site_dir) if kind == "history" else job.run(chunk)

    tasks: list[Any] = [("history", ())] if with_history else []  # first: it takes the longest
    tasks += [("packages", chunk) for chunk in _chunks(names, jobs * 4)]
    done = _map(run, tasks, jobs)
    urls = [u for chunk in done[1 if with_history else 0 :] for u in chunk]
    _remove_shell(site_dir, SHELL_DIR)
    return urls + (done[0] if with_history else [])


def write_with_history(
    data: SiteData, renderer: SiteRenderer, site_dir: Path, site_url: str, more_urls: Sequence[str]
) -> None:
    """What shows the catalog's history, written once it is here (waited for first): the Changes page's
    newest changes (into its rendered page's slot), every project's page, the archive pages,
    ``changes.xml`` and ``api/changes/``; then the sitemap, with the pages mkdocs did not list (those
    and ``more_urls``)."""
    data.history_job.result()
    _ = data.package_history, data.history_pages  # here, not in each process the package pages fork
    fill_changes_page(renderer, site_dir)
    urls = write_package_pages(data, renderer, site_dir, with_history=True)
    rewrite_sitemap(site_dir, site_url, [*urls, *more_urls])


def finish_site(data: SiteData) -> None:
    """Write what a site built with ``build_site(later=True)`` left to write (:func:`write_with_history`)."""
    while data.later:
        data.later.pop(0)()


def fill_changes_page(renderer: SiteRenderer, site_dir: Path) -> None:
    """Put the newest changes into the Changes page mkdocs rendered (it left :data:`CHANGES_SLOT` in it:
    the page is out of the search index, and nothing after mkdocs' page pipeline reads its content)."""
    path = site_dir / "changes" / "index.html"
    before, after = _rendered(path, CHANGES_SLOT, "Changes page")
    path.write_text(before + renderer.changes_page() + after, "utf-8")


RequestPages = Callable[[str, str], None]  # (before, after): the shell, to another process writing the pages


def write_request_pages(
    data: SiteData, renderer: SiteRenderer, site_dir: Path, *, beside: RequestPages | None = None
) -> list[str]:
    """Each request's page (``requests/<id>/``) in the theme's shell; return the pages' URLs (relative).
    ``beside``: another process writes them (:class:`curate.build.EnvWriter`, which writes the
    environments' files from the same plan): it is sent the shell, cut at its slot, and writes them
    with :func:`fill_request_pages` while this one goes on."""
    before, after = _read_shell(site_dir, REQUEST_SHELL_DIR, "request page")
    _remove_shell(site_dir, REQUEST_SHELL_DIR)
    if beside is not None:
        beside(before, after)
    else:
        fill_request_pages(data, renderer, site_dir, before, after)
    return [f"requests/{rid}/" for rid in sorted(data.requests)]


def fill_request_pages(
    data: SiteData,
    renderer: SiteRenderer,
    site_dir: Path,
    before: str,
    after: str,
    *,
    live: Path | None = None,
    bodies: Mapping[str, str] | None = None,
    reuse: PageReuse | None = None,
) -> None:
    """Each request's page into the shell cut at its slot (``before``, ``after``). ``live``: the
    published tree (not ``site_dir``): a page that is the same bytes there is hard-linked from there
    instead of written (:func:`curate.staging.link_if_same`: what :func:`curate.staging.keep_unchanged`
    does before the swap, done here, by the process writing the pages). ``bodies``: what
    ``renderer.request`` made of each request already (by id), rendered before the shell was there.
    ``reuse``: the published pages a page's key (:meth:`PageReuse.key`: its body's, and the shell's)
    says are this page are hard-linked from there, their bytes checked, without rendering it."""
    shell_url = REQUEST_SHELL_DIR.split("/")[-1] + "/"
    shell = shell_key(before, after)
    for rid in sorted(data.requests):
        request = data.requests[rid]
        out = site_dir / "requests" / rid
        out.mkdir(parents=True, exist_ok=True)
        key = reuse.key(rid, shell) if reuse is not None else ""
        if reuse is not None and reuse.pages.reused(f"{rid}/index.html", key):
            continue
        title = str(escape(request.title))
        head = before.replace(SHELL_TITLE, title).replace(shell_url, f"{rid}/")
        body = bodies[rid] if bodies is not None and rid in bodies else renderer.request(request)
        page = (head + body + after.replace(SHELL_TITLE, title)).encode("utf-8")
        rel = f"requests/{rid}/index.html"
        if live is None or not link_if_same(f"{live}/{rel}", f"{site_dir}/{rel}", page):
            (out / "index.html").write_bytes(page)
        if reuse is not None:
            reuse.pages.made(f"{rid}/index.html", key, page)
    if reuse is not None:
        reuse.pages.note = shell
        reuse.save()


def shell_key(before: str, after: str) -> str:
    """A digest of the request pages' shell, cut at its slot."""
    return hashlib.sha256(f"{len(before)}:{before}{after}".encode()).hexdigest()


REQUEST_PAGES_RECORD = "request-pages.json"  # under the file cache's curate.reuse.RECORD_DIR


@dataclasses.dataclass(frozen=True, slots=True)
class PageReuse:
    """The published request pages a build may link instead of rendering (:class:`LinkReuse`, each
    page's sha256 verified), by each page's key: its body's (:meth:`SiteRenderer.request_key`) and its
    shell's (:func:`shell_key`)."""

    pages: LinkReuse
    bodies: Mapping[str, str]  # the key of each request's body, by id
    code: str  # curate's code and templates the keys were made with (code_fingerprint)

    @classmethod
    def of(
        cls, renderer: SiteRenderer, site_dir: Path, live: Path | None, cache_dir: Path | None
    ) -> PageReuse | None:
        """The pages of ``live`` (the published tree, if any) for those of ``site_dir``; None without a
        file cache (where the record is kept)."""
        if cache_dir is None:
            return None
        record = cache_dir / RECORD_DIR / REQUEST_PAGES_RECORD
        published = live / "requests" if live is not None else None
        pages = LinkReuse(record, published, site_dir / "requests", verify=True)
        keys = {rid: renderer.request_key(request) for rid, request in sorted(renderer.data.requests.items())}
        return cls(pages, keys, renderer.code)

    def save(self) -> None:
        """Record the pages written or linked, with their keys; none when curate's code or templates
        changed while this build ran (:func:`code_fingerprint` now is not what the keys were made with:
        a page rendered by what was loaded before would be recorded as what the new code makes)."""
        self.pages.save(keep=code_fingerprint() == self.code)

    def key(self, rid: str, shell: str) -> str:
        return f"{self.bodies[rid]} {shell}"

    def to_render(self) -> list[str]:
        """The requests whose pages the published tree does not hold from the same key, as the record
        says, with the shell the last build used (a guess: the pages are rendered ahead of their shell,
        while mkdocs renders it; those the guess misses are rendered once it comes)."""
        return [
            rid
            for rid in self.bodies
            if not self.pages.recorded(f"{rid}/index.html", self.key(rid, self.pages.note))
        ]


def _read_shell(site_dir: Path, shell_dir: str, what: str) -> tuple[str, str]:
    """The theme's rendered shell page, cut at its slot: (before, after)."""
    return _rendered(site_dir / shell_dir / "index.html", SHELL_SLOT, f"{what} shell")


def _rendered(path: Path, slot: str, what: str) -> tuple[str, str]:
    """A page mkdocs rendered, cut at ``slot`` (there once): (before, after)."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise BuildError(f"the {what} was not rendered ({path}): {exc}") from exc
    if text.count(slot) != 1:
        raise BuildError(f"the {what} {path} lost its slot; is the theme overriding it?")
    before, after = text.split(slot)
    return before, after


def _remove_shell(site_dir: Path, shell_dir: str) -> None:
    folder = site_dir / shell_dir
    for leftover in (folder / f for f in os.listdir(folder)):
        leftover.unlink()
    folder.rmdir()


def _named(root: Path) -> tuple[list[NormalizedName], list[str]]:
    """The projects and the requests of the catalog at ``root`` as their files are named (what an archive
    page reads of the catalog: whether a project or a request is in it), unread."""
    return [NormalizedName(p.stem) for p in iter_project_files(root)], [p.stem for p in request_files(root)]


def write_history(data: SiteData, renderer: SiteRenderer, site_dir: Path) -> list[str]:
    """The Changes archive pages (into the theme's shell), ``changes.xml`` and ``api/changes/``; return
    the archive pages' URLs (relative). An archive page rendered before with the same content is taken
    from the file cache (:data:`ARCHIVE_CACHE`): a build after one more merged change renders one or
    two pages, not the whole archive; on a first build, those :func:`prepare_history` made beside are
    there, and so are the ``api/changes/`` files it made."""
    history = data.history
    before, after = _read_shell(site_dir, CHANGES_SHELL_DIR, "Changes page")
    pages = _ArchiveCache(data.cache_dir / ARCHIVE_CACHE if data.cache_dir is not None else None)
    fp = renderer.archive_fingerprint() if pages.folder is not None else ""
    urls = []
    for number in range(1, history.pages + 1):
        title = str(escape(f"Changes, page {number}"))
        head = before.replace(SHELL_TITLE, title).replace("_shell/", f"{number}/")
        out = site_dir / "changes" / str(number)
        out.mkdir(parents=True, exist_ok=True)
        key = renderer.archive_key(number) if pages.folder is not None else None
        if key is None:
            context = renderer.archive_context(number)
            body = pages.get(fp, context, functools.partial(renderer.page, "changes.html", **context))
        else:  # the page's content is rendered only when it is not in the cache
            body = pages.get(fp, key, functools.partial(_archive_page, renderer, number))
        (out / "index.html").write_text(head + body + after.replace(SHELL_TITLE, title), "utf-8")
        urls.append(f"changes/{number}/")
    pages.prune()
    _remove_shell(site_dir, CHANGES_SHELL_DIR)
    (site_dir / "changes.xml").write_text(renderer.feed(), "utf-8")
    api = site_dir / "api" / "changes"
    (api / "packages").mkdir(parents=True, exist_ok=True)
    who = data.show_requesters
    (api / "index.json").write_text(dumps_json(hist.index_json(history, requesters=who)), "utf-8")
    reuse = LinkReuse(
        data.cache_dir / API_CACHE / f"{history.fingerprint}.json"
        if data.cache_dir is not None and history.fingerprint
        else None,
        data.published / "api" / "changes" if data.published is not None else None,
        api,
        verify=True,  # a published file changed since (by hand, or made a link) is written again
    )
    # what was made beside the build (prepare_history), for the same requesters' setting
    prepared = data.history_job.prepared()
    made: dict[str, bytes] = {}
    if isinstance(prepared, dict) and prepared.get("requesters") == who:
        made = prepared["files"]

    def write(rel: str, key: str, make: Callable[[], Any]) -> None:
        reuse.write(rel, key, lambda: made.pop(rel, None) or _json_bytes(make()))

    base = f"{who}\n{history.pages}"
    for number in range(1, history.pages + 1):
        shas = "".join(f"\n{e.sha}{'*' if e.boundary else ''}" for e in history.page(number))
        write(
            f"{number}.json",
            f"{base}\n{number}{shas}",
            functools.partial(hist.page_json, history, number, requesters=who),
        )
    pages_of = data.history_pages
    for norm, items in data.package_history.items():
        shas = "".join(f"\n{e.sha} {pages_of[e.sha]}" for e, _ in items)
        write(
            f"packages/{norm}.json",
            f"{who}{shas}",
            functools.partial(hist.package_json, items[0][1].name, norm, items, pages_of, requesters=who),
        )
    reuse.save()
    return urls


def _archive_page(renderer: SiteRenderer, number: int) -> str:
    return renderer.page("changes.html", **renderer.archive_context(number))


def _json_bytes(doc: Any) -> bytes:
    return dumps_json(doc).encode("utf-8")


class _ArchiveCache:
    """Rendered archive pages by a hash of everything they show (:meth:`SiteRenderer.archive_key`, else
    the page's whole context), each file headed by its page's sha256 (best effort: a file that cannot
    be read or written, or does not match its sha256, is rendered again); the pages a build did not
    use are dropped after it."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.used: set[str] = set()

    def get(self, fp: str, context: Mapping[str, Any], render: Callable[[], str]) -> str:
        if self.folder is None:
            return render()
        text = json.dumps([fp, context], sort_keys=True, separators=(",", ":"), default=str)
        key = hashlib.sha256(text.encode()).hexdigest()
        self.used.add(key)
        path = self.folder / f"{key}.html"
        with contextlib.suppress(OSError, UnicodeDecodeError, ValueError):
            digest, body = path.read_bytes().split(b"\n", 1)
            if hashlib.sha256(body).hexdigest().encode() == digest:
                return body.decode("utf-8")
        text = render()
        body = text.encode("utf-8")
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True)
            # not fsynced (two hundred pages on a cold build): what a crash leaves half-written does not
            # match the sha256 it starts with, and is rendered again
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
            os.replace(tmp, path)
        return text

    def prune(self) -> None:
        if self.folder is None:
            return
        with contextlib.suppress(OSError):
            for leftover in self.folder.glob("*.html"):
                if leftover.stem not in self.used:
                    leftover.unlink(missing_ok=True)
            for leftover in self.folder.glob(".*.tmp"):  # a killed build's
                leftover.unlink(missing_ok=True)


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
    for shell in (SHELL_DIR, REQUEST_SHELL_DIR, CHANGES_SHELL_DIR):
        text = re.sub(r"\s*<url>\s*<loc>[^<]*" + re.escape(shell) + r"/</loc>.*?</url>", "", text, flags=re.S)
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
  - Changes: changes/index.md
"""


def build_site(
    root: Path,
    config: Config,
    out_dir: Path,
    *,
    env: Mapping[str, str],
    today: dt.date | None = None,
    cache_dir: Path | None = None,
    published: Path | None = None,
    on_planned: Callable[[SiteData], RequestPages | None] | None = None,
    history: hist.Background | None = None,
    later: bool = False,
    plan_beside: PlanBeside | None = None,
) -> SiteData:
    """Build the catalog site into ``out_dir`` (emptied first by mkdocs) with ``root``'s mkdocs.yml;
    return what the site was built from (the catalog, the requests and their environments, none where
    another process plans them: ``plan_beside``; the catalog's history as the site shows it), for the
    rest of the build.

    A repository without an mkdocs.yml gets the generated pages and a default home page. ``env``: the
    environment the CLI was given (git runs with it); ``cache_dir``: the file cache (the history's cache
    lives there; default: as ``curate fetch`` finds it); ``published``: the live output, if any;
    ``on_planned``: called with the site's data once the catalog is read and mkdocs has emptied
    ``out_dir``, before the pages are rendered (so other files can be written into it meanwhile); what
    it returns, when not None, is sent the request pages' shell and writes them
    (:func:`write_request_pages`' ``beside``);
    ``history``: the catalog's history, being computed beside (else the site starts it when it reads the
    catalog); ``later``: leave what shows the history to :func:`finish_site` (the caller does other
    work first, while the history is computed), else it is written last, once the history is here;
    ``plan_beside``: :func:`collect`'s (another process plans the environments).
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
            plugins = [p for p in mk_config.plugins.values() if isinstance(p, CuratePlugin)]
            if not plugins:
                raise BuildError(f"{display_path(config_file, root)} does not name the curate plugin")
            for plugin in plugins:
                plugin.env = env
                plugin.today = today
                plugin.cache_dir = cache_dir
                plugin.published = published
                plugin.history = history
                plugin.later = later
            plugins[0].on_planned = on_planned
            plugins[0].plan_beside = plan_beside
            mk_config.plugins.on_startup(command="build", dirty=False)
            try:
                build(mk_config)
            finally:
                mk_config.plugins.on_shutdown()
            assert plugins[0].data is not None
            return plugins[0].data
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
