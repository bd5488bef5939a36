"""The static package index: ``simple/`` (PEP 503 HTML + PEP 691 JSON), ``files/`` and ``api/``.

Layout of the tree this writes (under ``public/``)::

    simple/index.html, simple/index.json           every project (PEP 503 / PEP 691)
    simple/<normalized>/index.html, index.json     one project's files (PEP 592/629/658/700/714/792)
    files/<normalized>/<filename>                  mirror mode: the vetted file (hard link to the cache)
    files/<normalized>/<filename>.metadata         mirror mode: the wheel's METADATA, byte for byte (PEP 658)
    api/<normalized>.json, api/catalog.json        the machine-readable catalog
    .curate-index.json                             the manifest that makes rebuilds incremental
    .curate-nginx-projects.map                     nginx: a project's URL spelt otherwise -> its own (curate.nginx)

Planning (:func:`plan_project`) and rendering (:class:`IndexRenderer`) are pure; :func:`build_index` does
the IO. Only catalog files appear, and a version only when its vetting record covers exactly the sha256
of each of its files, was judged by the policy in ``catalog/config.yaml`` and passes it (:func:`unserved`
says why another is left out), and a project with nothing
left is marked ``quarantined`` (PEP 792). Hrefs are relative (no ``<base>``) in mirror mode, so the tree
works from any URL prefix and from ``file://``; in link mode they point at ``files.base_url`` or at
the URL the upstream's project page gives for the file (:data:`Links`, looked up at build time by
:mod:`curate.locate`: the catalog records no URL), and no ``.metadata`` is advertised (it would have to
live beside the linked file).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict, TypeGuard
from urllib.parse import quote, urlsplit, urlunsplit

from curate.accept import HTML_TYPE as HTML_TYPE  # re-exported: the PEP 691 names
from curate.accept import JSON_TYPE as JSON_TYPE
from curate.archive import ArchiveError, read_wheel_metadata
from curate.atomic import remove_temporaries, write_if_changed
from curate.cache import blob_path, holds, metadata_path, stamp_of
from curate.catalog import BuiltFile, FileEntry, Project, VersionEntry
from curate.config import Config, Vetting
from curate.errors import BuildError
from curate.names import NormalizedName
from curate.nginx import PROJECTS_MAP, projects_map
from curate.staging import Staging, WriteBehind, link_or_copy
from curate.vetting import vulnerability_status

# PEP 629 version of what we serve: 1.1 for PEP 700 (versions/size/upload-time), 1.4 for PEP 792
# (project status). Keys of 1.2 (PEP 708 tracks) and 1.3 (PEP 740 provenance) are optional.
REPOSITORY_VERSION = "1.4"
MANIFEST = ".curate-index.json"
UPDATING = ".curate-updating"  # there while `curate build --index-only` updates the tree in place
FORMAT = 4  # bump whenever the bytes written for the same input change
# From this many projects on, a fresh tree is written by a helper process (curate.staging.WriteBehind),
# so that creating the files overlaps rendering; below it, starting the helper costs more than it saves.
WRITE_BEHIND_MIN = 500


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ServedFile:
    """One file the index serves: a link on a project page, with everything the spec lets us say about it
    (how the upstream lists a file is curate.upstream's business, a different type)."""

    filename: str
    href: str  # percent-encoded, without the #sha256 fragment
    path: str  # mirror mode: where it lives under public/ ("" in link mode)
    sha256: str
    size: int
    upload_time: str  # RFC 3339 ending in Z, or ""
    requires_python: str
    yanked: str | None  # the reason; "" when the upstream gave none; None when not yanked
    metadata_sha256: str | None  # of the .metadata file (PEP 658/714); None when not served
    version: str
    targets: tuple[str, ...]
    origin: str = ""  # "built": curate wheels built it from the version's vetted sdist


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ProjectPage:
    project: Project
    ordered: tuple[VersionEntry, ...]  # the served versions, oldest first
    name: str
    normalized: NormalizedName
    status: str  # PEP 792: active or quarantined
    status_reason: str
    versions: tuple[str, ...]  # PEP 700, PEP 440 order
    files: tuple[ServedFile, ...]
    blocked: tuple[str, ...]  # versions left out because vetting blocked them
    left_out: tuple[tuple[str, str], ...] = ()  # (version, why) of every version left out, blocked ones too
    until: str = ""  # ISO date: the earliest expiry of a waiver a served version relies on ("" when none)


class Entry(TypedDict):
    """What the root pages and api/catalog.json need of one project (kept in the manifest)."""

    name: str
    normalized: str
    status: str  # PEP 792: active or quarantined
    summary: str
    latest: str
    versions: list[str]
    os: list[str]


class ManifestRecord(TypedDict):
    """What the manifest (``.curate-index.json``) keeps of one project from the build that wrote it.

    The manifest's JSON as it is, typed: every build reads and writes 10,000 of them, so they are
    checked (:func:`read_manifest`) but not copied into objects.
    """

    stamp: str  # Source.stamp of its catalog file
    digest: str  # Source.digest(): the sha256 of its catalog file
    entry: Entry  # its line on the root pages and in api/catalog.json
    outputs: list[str]  # every file written for it, relative to public/
    files: dict[str, list[str]]  # of those, the distribution files (mirror mode): path -> [the sha256 they
    # hold, the stamp (curate.cache.stamp_of) of the file there when it was found to hold it]
    left_out: list[list[str]]  # [version, why] of each version not served
    until: str  # reused only up to this ISO date (a waiver it relies on expires after it); "" for ever


_ENTRY_KEYS = frozenset(Entry.__annotations__)


def _is_record(value: object) -> TypeGuard[ManifestRecord]:
    """Whether a manifest value has the shape of a :class:`ManifestRecord` (the lists' items are not
    checked one by one: the manifest is ours and its fingerprint matched)."""
    if type(value) is not dict:
        return False
    entry, outputs = value.get("entry"), value.get("outputs")
    return (
        type(value.get("stamp")) is str
        and type(value.get("digest")) is str
        and type(value.get("until")) is str
        and type(value.get("files")) is dict
        and type(value.get("left_out")) is list
        and type(outputs) is list
        and type(entry) is dict
        and entry.keys() >= _ENTRY_KEYS
        and type(entry["versions"]) is list
        and type(entry["os"]) is list
    )


# -- planning (pure) --------------------------------------------------------------------------------


def upload_time_z(value: str) -> str:
    """PEP 700 wants ``yyyy-mm-ddThh:mm:ss[.ffffff]Z``; accept the ``+00:00`` spelling too, convert
    another offset to UTC (no offset: taken as UTC), and leave out ("") what is not a timestamp."""
    if not value or (value.endswith("Z") and value[10:11] == "T"):
        return value
    if value.endswith("+00:00") and value[10:11] == "T":
        return value[: -len("+00:00")] + "Z"
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.astimezone(datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ" if when.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    )


def _yanked(f: FileEntry, v: VersionEntry) -> str | None:
    """The yank reason as the upstream gave it ("" for none: never one made up); None when not yanked."""
    return f.yanked if f.yanked is not None else v.yanked


def yanked_json(reason: str | None) -> str | bool:
    """PEP 691's ``yanked``: the reason, ``true`` when there is none (``""`` reads as not yanked to
    pip and pdm's unearth), ``false`` when not yanked. In HTML, ``data-yanked=""`` is yanked for all."""
    if reason is None:
        return False
    return reason or True


def _api_yanked(reason: str | None) -> str | bool | None:
    """``api/``'s ``yanked``: the reason, ``true`` when none was given, ``null`` when not yanked."""
    return None if reason is None else (reason or True)


def is_blocked(v: VersionEntry) -> bool:
    return v.vetting is not None and v.vetting.blocked


@functools.lru_cache(maxsize=8)
def policy_digest(policy: Vetting) -> str:
    return policy.digest()


def unserved(v: VersionEntry, policy: Vetting, today: datetime.date) -> str | None:
    """Why the index and the site leave ``v`` out; None when they serve it: its vetting record covers
    exactly the sha256 of each of its files, was reached under ``policy`` and passes it (a waiver it
    relies on has not expired by ``today``)."""
    record = v.vetting
    if record is None:
        return "not vetted (run: curate fetch && curate vet)"
    if any(e.sha256 is None for e in record.files) or not record.covers(v.files):
        return "its vetting record does not cover exactly its files' sha256 (run: curate vet)"
    if record.policy != policy_digest(policy):
        return "vetted under another vetting policy than catalog/config.yaml's (run: curate vet)"
    if record.blocked:
        kinds = sorted({f.kind for f in record.findings if f.decision == "block"})
        return "blocked by vetting" + (f" ({', '.join(kinds)})" if kinds else "")
    expired = sorted(
        f"{f.id} (expired {f.waiver.expires.isoformat()})"
        for f in record.findings
        if f.decision == "waived" and f.waiver is not None and f.waiver.expires < today
    )
    if expired:
        return f"a waiver it relies on expired: {', '.join(expired)} (run: curate vet)"
    # an upstream wheel that is not what its sdist builds: refused unless waived, or unless the policy
    # lists the kind under warn (fail closed: a policy written before the kind existed blocks it)
    differs = sorted(b.compared_with for b in v.built if b.upstream_differs)
    waived = {
        f.file for f in record.findings if f.kind == "wheel-differs-from-sdist" and f.decision == "waived"
    }
    warned = "wheel-differs-from-sdist" in policy.warn and "wheel-differs-from-sdist" not in policy.block
    if not warned and [d for d in differs if d not in waived and d in {f.filename for f in v.files}]:
        return (
            "an upstream wheel differs from what its sdist builds (wheel-differs-from-sdist): "
            + ", ".join(d for d in differs if d not in waived)
        )
    return None


BUILT_LEFT_OUT = "built wheel "  # how a left-out built wheel's reason starts (its version stays served)
# Why a built wheel is not served (None: it is): its bytes are not in the cache, link mode, ...
BuiltCheck = Callable[[BuiltFile], str | None]


def served_built(
    v: VersionEntry, config: Config, check: BuiltCheck | None
) -> tuple[list[BuiltFile], list[str]]:
    """The wheels ``curate wheels`` built for a served version that the index serves too, and why each
    other one is not: built from one of the version's vetted files (its sdist), checked without
    problems, not standing in for an upstream wheel unless ``build.serve: built``, its bytes at hand
    (``check``: the cache holds exactly the recorded sha256; None: no cache, nothing built is served)."""
    upstream = {f.filename: f for f in v.files}
    out: list[BuiltFile] = []
    why: list[str] = []
    for b in sorted(v.built, key=lambda b: b.filename):
        if b.sdist_sha256 not in {f.sha256 for f in v.files} or b.problems:
            continue  # built from another sdist (a re-lock) or failed its checks: curate wheels says so
        if b.compared_with and (config.build.serve != "built" or b.upstream_differs):
            continue  # the upstream wheel is served (or blocked): the rebuild was for comparison
        if b.filename in upstream and not b.compared_with:
            continue
        reason = check(b) if check is not None else "no cache to serve it from"
        if reason is not None:
            why.append(f"{BUILT_LEFT_OUT}{b.filename} (sha256 {b.sha256[:12]}...): {reason}")
            continue
        out.append(b)
    return out, why


def served_files(
    v: VersionEntry, config: Config, check: BuiltCheck | None
) -> tuple[list[tuple[FileEntry, BuiltFile | None]], list[str]]:
    """Every file the index serves of a served version, each with the built wheel it is (None for an
    upstream file), and why each other built wheel is not served (:func:`served_built`): the upstream
    files but those a built wheel stands in for (``build.serve: built``), then the built wheels."""
    extra, why = served_built(v, config, check)
    replaced = {b.compared_with for b in extra if b.compared_with}
    files: list[tuple[FileEntry, BuiltFile | None]] = [
        (f, None) for f in v.files if f.filename not in replaced
    ]
    files.extend((b.as_file(), b) for b in extra)
    return files, why


def _waived_until(v: VersionEntry) -> str:
    """The earliest expiry among the waivers a served version relies on ("" when none)."""
    if v.vetting is None:
        return ""
    dates = [f.waiver.expires for f in v.vetting.findings if f.decision == "waived" and f.waiver is not None]
    return min(dates).isoformat() if dates else ""


def recorded_metadata_sha256(v: VersionEntry, filename: str) -> str | None:
    """The sha256 of a wheel's METADATA as ``curate vet`` recorded it, if it did."""
    return v.vetting.metadata_sha256(filename) if v.vetting is not None else None


def _recorded_for(v: VersionEntry, f: FileEntry) -> str | None:
    """As :func:`recorded_metadata_sha256`, for these bytes only (a built wheel may share an upstream
    wheel's name: ``build.serve: built``)."""
    evidence = v.vetting.evidence(f.filename) if v.vetting is not None else None
    return evidence.metadata_sha256 if evidence is not None and evidence.sha256 == f.sha256 else None


# Link mode without files.base_url: the upstream's URL of each file of the given projects, by sha256
# (curate.build makes one from curate.locate). Called once per build with every project to render.
Links = Callable[[Sequence[Project]], Mapping[str, str]]


def file_href(config: Config, normalized: str, f: FileEntry, upstream_url: str = "") -> tuple[str, str]:
    """(href from simple/<name>/, path under public/) of one file; ``upstream_url``: where the upstream
    serves it (link mode without ``files.base_url``)."""
    quoted = quote(f.filename)  # '+' and friends are percent-encoded; '/' cannot occur in a filename
    if config.files_mode == "mirror":
        path = f"files/{normalized}/{f.filename}"
        return f"../../files/{normalized}/{quoted}", path
    if config.files_base_url:
        base = config.files_base_url if config.files_base_url.endswith("/") else config.files_base_url + "/"
        return f"{base}{normalized}/{quoted}", ""
    if not upstream_url:
        raise BuildError(f"{f.filename}: link mode, but no upstream URL was looked up for it")
    url = upstream_url.split("#", 1)[0]
    if "+" in url:  # as the upstream gave it: a raw '+' in the path reads as a space to object stores
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(path=parts.path.replace("+", "%2B")))
    return url, ""


def plan_project(
    project: Project,
    config: Config,
    metadata_sha256: Callable[[VersionEntry, FileEntry], str | None],
    links: Mapping[str, str] | None = None,
    *,
    today: datetime.date | None = None,
    built: BuiltCheck | None = None,
) -> ProjectPage:
    """The page of one project: versions that are not to be served (:func:`unserved`) dropped, files
    sorted, metadata hashes attached. ``links``: the upstream's URL of each file by sha256 (link mode
    without ``files.base_url``); ``today``: what waivers' expiry is compared with (default: today)."""
    day = today if today is not None else datetime.date.today()
    normalized = project.normalized
    files: list[ServedFile] = []
    served: list[VersionEntry] = []
    blocked: list[str] = []
    left_out: list[tuple[str, str]] = []
    until = ""
    for v in project.sorted_versions():
        if not v.files:
            continue
        why = unserved(v, config.vetting, day)
        if why is not None:
            left_out.append((v.version, why))
            if is_blocked(v):
                blocked.append(v.version)
            continue
        served.append(v)
        expires = _waived_until(v)
        until = min(until, expires) if until and expires else (until or expires)
        pairs, why_not = served_files(v, config, built)
        left_out.extend((v.version, reason) for reason in why_not)
        for f, made in pairs:
            origin = "built" if made is not None else ""
            href, path = file_href(config, normalized, f, (links or {}).get(f.sha256, ""))
            meta = metadata_sha256(v, f) if f.is_wheel and config.files_mode == "mirror" else None
            files.append(
                ServedFile(
                    filename=f.filename,
                    href=href,
                    path=path,
                    sha256=f.sha256,
                    size=f.size,
                    upload_time=upload_time_z(f.upload_time),
                    requires_python=f.requires_python or v.requires_python,
                    yanked=_yanked(f, v),
                    metadata_sha256=meta,
                    version=v.version,
                    targets=f.targets,
                    origin=origin,
                )
            )
    files.sort(key=lambda x: x.filename)
    status, reason = "active", ""
    if left_out and not served:
        status = "quarantined"
        if len(blocked) == len(left_out):
            reason = "every version was blocked by vetting: " + ", ".join(blocked)
        else:
            reason = "no version is served: " + "; ".join(f"{version}: {why}" for version, why in left_out)
    return ProjectPage(
        project=project,
        ordered=tuple(served),
        name=project.name,
        normalized=normalized,
        status=status,
        status_reason=reason,
        versions=tuple(v.version for v in served),
        files=tuple(files),
        blocked=tuple(blocked),
        left_out=tuple(left_out),
        until=until,
    )


def target_os(config: Config) -> dict[str, str]:
    return {t.id: t.platform.os for t in config.all_targets()}


def entry_of(page: ProjectPage, os_of: Mapping[str, str]) -> Entry:
    latest = page.ordered[-1] if page.ordered else None
    summary = latest.vetting.summary if latest is not None and latest.vetting is not None else ""
    oses = sorted({os_of[t] for f in page.files for t in f.targets if t in os_of})
    return Entry(
        name=page.name,
        normalized=page.normalized,
        status=page.status,
        summary=summary,
        latest=latest.version if latest is not None else "",
        versions=list(page.versions),
        os=oses,
    )


# -- rendering (pure) -------------------------------------------------------------------------------


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _dumps(data: Any) -> str:
    return _ENCODE(data) + "\n"


class IndexRenderer:
    """Compiled templates plus the JSON shapes; one instance renders a whole build."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.os_of = target_os(config)
        self._os_cache: dict[tuple[str, ...], dict[str, list[str]]] = {}
        import jinja2  # here: curate wheels and vet read unserved() without rendering anything

        env = jinja2.Environment(
            loader=jinja2.PackageLoader("curate", "templates/index"),
            autoescape=True,
            keep_trailing_newline=True,
            undefined=jinja2.StrictUndefined,
        )
        self._root = env.get_template("root.html")
        self._project = env.get_template("project.html")

    def root_html(self, entries: Sequence[Entry]) -> str:
        return self._root.render(repository_version=REPOSITORY_VERSION, projects=entries)

    def root_json(self, entries: Sequence[Entry]) -> str:
        return _dumps(
            {"meta": {"api-version": REPOSITORY_VERSION}, "projects": [{"name": e["name"]} for e in entries]}
        )

    def project_html(self, page: ProjectPage) -> str:
        return self._project.render(repository_version=REPOSITORY_VERSION, page=page)

    def project_json(self, page: ProjectPage) -> str:
        files = []
        for f in page.files:
            d: dict[str, Any] = {
                "filename": f.filename,
                "url": f.href,
                "hashes": {"sha256": f.sha256},
            }
            if f.requires_python:
                d["requires-python"] = f.requires_python
            if f.metadata_sha256:
                d["core-metadata"] = {"sha256": f.metadata_sha256}  # never the PEP 658 key (PEP 714)
            d["size"] = f.size
            if f.upload_time:
                d["upload-time"] = f.upload_time
            d["yanked"] = yanked_json(f.yanked)
            files.append(d)
        status: dict[str, str] = {"status": page.status}
        if page.status_reason:
            status["reason"] = page.status_reason
        return _dumps(
            {
                "meta": {"api-version": REPOSITORY_VERSION},
                "name": page.normalized,
                "project-status": status,
                "versions": list(page.versions),
                "files": files,
            }
        )

    def api_project(self, page: ProjectPage) -> str:
        by_version: dict[str, list[ServedFile]] = {}
        for f in page.files:
            by_version.setdefault(f.version, []).append(f)
        versions = []
        for v in page.ordered:
            files = by_version[v.version]
            targets = sorted({t for f in files for t in f.targets})
            versions.append(
                {
                    "version": v.version,
                    "requires_python": v.requires_python,
                    "yanked": _api_yanked(v.yanked),
                    "superseded_since": v.superseded_since,  # "": some request needs it
                    "targets": targets,
                    "os": self._os_targets(targets),
                    "build_targets": list(v.build_targets),
                    # what building its sdist needs, and the sdists (name==version) it is needed to build
                    "build_system": v.build_system.to_dict() if v.build_system is not None else None,
                    "to_build": list(v.to_build),
                    "requests": list(v.requests),
                    "dependencies": [d.to_dict() for d in sorted(v.dependencies, key=lambda d: d.name)],
                    "vetting": v.vetting.to_dict() if v.vetting is not None else {},
                    "known_vulnerabilities": vulnerability_status(
                        v.vetting
                    ),  # not checked | checked (SOURCE)
                    "files": [self._api_file(f) for f in files],
                }
            )
        return _dumps(
            {
                "name": page.name,
                "normalized": page.normalized,
                "status": page.status,
                "status_reason": page.status_reason,
                "index": f"{self.config.simple_url}{page.normalized}/",
                "blocked_versions": list(page.blocked),
                "left_out": [{"version": version, "reason": why} for version, why in page.left_out],
                "versions": versions,
            }
        )

    def _os_targets(self, targets: Iterable[str]) -> dict[str, list[str]]:
        """Targets grouped by OS. Cached, as the same few target lists recur on every file: the shared
        dicts are only ever serialised, never changed."""
        key = tuple(targets)
        cached = self._os_cache.get(key)
        if cached is None:
            out: dict[str, list[str]] = {}
            for t in key:
                if t in self.os_of:
                    out.setdefault(self.os_of[t], []).append(t)
            cached = self._os_cache[key] = dict(sorted(out.items()))
        return cached

    def _api_file(self, f: ServedFile) -> dict[str, Any]:
        return {
            "filename": f.filename,
            "url": self.config.base_url + quote(f.path) if f.path else f.href,
            "sha256": f.sha256,
            "size": f.size,
            "upload_time": f.upload_time,
            "requires_python": f.requires_python,
            "yanked": _api_yanked(f.yanked),
            "metadata_sha256": f.metadata_sha256,
            "targets": list(f.targets),
            "os": self._os_targets(f.targets),
            **({"origin": f.origin} if f.origin else {}),
        }

    def api_catalog(self, entries: Sequence[Entry]) -> str:
        return _dumps(
            {
                "name": self.config.site_name,
                "index": self.config.simple_url,
                "repository_version": REPOSITORY_VERSION,
                "projects": list(entries),
            }
        )


# -- the files behind the links ---------------------------------------------------------------------


class Blobs:
    """Verified files and extracted METADATA from the content-addressed cache."""

    def __init__(self, cache: Path | None) -> None:
        self.cache = cache
        self._metadata: dict[str, bytes] = {}

    def metadata(self, v: VersionEntry, f: FileEntry) -> bytes:
        if f.sha256 in self._metadata:
            return self._metadata[f.sha256]
        if self.cache is None:
            raise BuildError(f"{f.filename}: no cache to read METADATA from (pass --cache-dir)")
        path = metadata_path(self.cache, f.sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            try:
                data = read_wheel_metadata(self.blob(f))
            except ArchiveError as exc:
                raise BuildError(str(exc)) from exc
        recorded = _recorded_for(v, f)
        if recorded and hashlib.sha256(data).hexdigest() != recorded:
            raise BuildError(
                f"{f.filename}: METADATA in the cache does not match the sha256 curate vet recorded; "
                "run curate fetch and curate vet again"
            )
        self._metadata[f.sha256] = data
        return data

    def metadata_sha256(self, v: VersionEntry, f: FileEntry) -> str:
        return hashlib.sha256(self.metadata(v, f)).hexdigest()

    def blob(self, f: FileEntry) -> Path:
        return self.verified_blob(f.sha256, f.filename, f.size)

    def verified_blob(self, sha256: str, filename: str, size: int | None = None) -> Path:
        """The cache's blob of ``sha256`` when it holds those bytes; BuildError naming the file otherwise."""
        if self.cache is None:
            raise BuildError(f"{filename}: no cache to copy from (pass --cache-dir)")
        path = blob_path(self.cache, sha256)
        if not path.exists():
            raise BuildError(
                f"{filename} (sha256 {sha256[:12]}...) is not in the cache {self.cache}; run: curate fetch"
            )
        if not holds(self.cache, path, sha256, size=size):
            raise BuildError(
                f"{filename}: the cached copy {path} is not the catalog's bytes (sha256 {sha256});"
                " nothing was published\n    hint: run curate fetch: it downloads the file again"
            )
        return path

    def built_check(self, config: Config) -> BuiltCheck:
        """Why a built wheel cannot be served from this cache (None: it can): fail closed, the bytes
        with its recorded sha256 or nothing (``curate wheels`` rebuilds them and keeps a rebuild only
        when it reproduces that sha256)."""

        def check(b: BuiltFile) -> str | None:
            if config.files_mode == "link" and not config.files_base_url:
                return "link mode serves upstream URLs, and a built wheel has none (set files.base_url)"
            if self.cache is None:
                return "no cache to serve it from"
            if not holds(self.cache, blob_path(self.cache, b.sha256), b.sha256, size=b.size):
                return "its bytes are not in the cache (run: curate wheels, which must reproduce them)"
            return None

        return check

    def holds(self, path: Path, sha256: str) -> bool:
        """Whether ``path`` (a copy the previous build served) still holds the bytes ``sha256``."""
        return self.cache is not None and holds(self.cache, path, sha256)


# -- writing ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Source:
    """One catalog project as the builder sees it: how to tell whether it changed, and how to load it.

    ``stamp`` is cheap (a file's size, mtime and inode): when it matches the previous build's, the
    project is unchanged without reading anything. Otherwise ``digest()`` (the sha256 of its bytes)
    decides, so a touched but identical file is not rendered again either.
    """

    normalized: NormalizedName
    stamp: str
    digest: Callable[[], str]
    load: Callable[[], Project]


@dataclasses.dataclass(kw_only=True, slots=True)
class Stats:
    projects: int = 0
    rendered: int = 0
    reused: int = 0
    removed: int = 0
    files: int = 0
    blocked: list[str] = dataclasses.field(default_factory=list)  # "name version" blocked by vetting
    left_out: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # (name, version, why)
    removed_names: list[str] = dataclasses.field(default_factory=list)  # projects the previous build served


def fingerprint(config: Config, upstream: str = "") -> str:
    """What, besides a project's own YAML, changes the bytes of its pages (``upstream``: the index the
    file links were looked up on, in link mode without ``files.base_url``)."""
    template_dir = Path(__file__).parent / "templates" / "index"
    parts = [
        str(FORMAT),
        REPOSITORY_VERSION,
        config.files_mode,
        config.files_base_url or "",
        upstream,
        config.base_url,
        config.site_name,
        policy_digest(config.vetting),  # which versions are served
        json.dumps(sorted(target_os(config).items())),
        *(p.read_text("utf-8") for p in sorted(template_dir.glob("*.html"))),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _manifest_data(tree: Path | None) -> dict[str, Any]:
    if tree is None:
        return {}
    try:
        data = json.loads((tree / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def manifest_projects(data: Mapping[str, Any]) -> set[str]:
    """The projects a previous build's manifest lists, however it was built."""
    projects = data.get("projects")
    return {str(k) for k in projects} if isinstance(projects, dict) else set()


def read_manifest(
    tree: Path | None, fp: str, data: Mapping[str, Any] | None = None
) -> dict[str, ManifestRecord]:
    """The previous build's per-project records, or {} when there are none, they were built differently or
    they do not read (then every project is rendered again). ``data``: the manifest, already read."""
    if data is None:
        data = _manifest_data(tree)
    if data.get("fingerprint") != fp:
        return {}
    projects = data.get("projects")
    if not isinstance(projects, dict) or not all(_is_record(r) for r in projects.values()):
        return {}
    return projects


def manifest_json(fp: str, records: Mapping[str, ManifestRecord]) -> str:
    return _dumps({"format": FORMAT, "fingerprint": fp, "projects": records})


class _Writer:
    """Writes into the live tree (each file swapped in by rename) or, through ``staging``, into a fresh
    staging tree (plain writes: the whole tree is swapped in at the end)."""

    def __init__(self, out: Path, *, staging: Staging | None) -> None:
        self.out = out
        self.staging = staging
        self._dirs: set[Path] = set()

    def _parent(self, rel: str) -> Path:
        path = self.out / rel
        if path.parent not in self._dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(path.parent)
        return path

    def text(self, rel: str, content: str) -> None:
        self.bytes(rel, content.encode("utf-8"))

    def bytes(self, rel: str, data: bytes) -> None:
        if self.staging is not None:
            self.staging.write(rel, data)  # a fresh tree: build.build keeps the live tree's unchanged files
        else:
            write_if_changed(self._parent(rel), data)  # unchanged bytes keep their file: ETag, Last-Modified

    def link(self, rel: str, src: Path) -> None:
        if self.staging is not None:
            self.staging.link(rel, src)
            return
        dst = self._parent(rel)
        with contextlib.suppress(FileNotFoundError):
            if os.path.samefile(src, dst):
                return  # already that file: renaming a second link onto it would leave the link behind
        tmp = dst.with_name(f".{dst.name}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            link_or_copy(src, tmp)  # a copy (another filesystem) can fail part way: a full disk
            os.replace(tmp, dst)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise


def project_outputs(page: ProjectPage) -> list[str]:
    n = page.normalized
    outs = [f"simple/{n}/index.html", f"simple/{n}/index.json", f"api/{n}.json"]
    for f in page.files:
        if f.path:
            outs.append(f.path)
            if f.metadata_sha256:
                outs.append(f.path + ".metadata")
    return outs


def build_index(
    out: Path,
    sources: Sequence[Source],
    *,
    config: Config,
    blobs: Blobs,
    previous: Path | None = None,
    in_place: bool = False,
    reuse: bool = True,
    write_behind: bool | None = None,
    links: Links | None = None,
    upstream: str = "",
    today: datetime.date | None = None,
) -> Stats:
    """Write simple/, files/, api/ and the manifest for ``sources`` into ``out``.

    Only versions :func:`unserved` finds nothing against are served (``today``: what a waiver's expiry is
    compared with; default: today); the others are in ``Stats.left_out``. A distribution file is served
    only as the bytes vetted: the cache's blob, or the previous build's copy, each verified by
    :func:`curate.cache.holds` (its stamp, else its hash).

    ``links`` (link mode without ``files.base_url``): called once with every project to render, gives
    the upstream's URL of each file by sha256; ``upstream`` names the index they come from (a change
    renders every project again).

    ``previous`` is the live tree: projects whose digest matches its manifest are not rendered again;
    they are hard-linked from it (``in_place=False``, ``out`` is a fresh staging tree) or left as they
    are (``in_place=True``, ``out`` is ``previous``: changed files are swapped in one by one by rename,
    new files before the pages that link to them, the root pages after the project pages, removals
    last, the manifest at the very end).

    ``write_behind`` (a fresh tree only; default: from :data:`WRITE_BEHIND_MIN` projects on) has a helper
    process create the files while this one renders; the bytes are the same either way.
    """
    if in_place and previous is None:
        raise ValueError("in_place needs the previous tree")
    fp = fingerprint(config, upstream)
    data = _manifest_data(previous)
    old = read_manifest(previous, fp, data)
    # what the live tree holds, however it was built: what this build does not write again goes (a
    # changed policy or config re-renders everything, and the files it no longer serves must not stay)
    # (the same records as ``old`` when the fingerprint is unchanged: read and checked once)
    live_records = (old or read_manifest(previous, str(data.get("fingerprint")), data)) if in_place else {}
    before = manifest_projects(data)
    if not reuse:
        old = {k: {**v, "digest": "", "stamp": ""} for k, v in old.items()}  # still known: stale files go
    renderer = IndexRenderer(config)
    staging: Staging | None = None
    if in_place:
        _begin_update(out)
    else:
        if write_behind is None:
            write_behind = len(sources) >= WRITE_BEHIND_MIN and (os.cpu_count() or 1) > 1
        staging = WriteBehind(out) if write_behind else Staging(out)
    try:
        stats = _write_index(
            out,
            sources,
            config,
            blobs,
            previous,
            old,
            fp,
            renderer,
            _Writer(out, staging=staging),
            links,
            today if today is not None else datetime.date.today(),
            live_records,
        )
        stats.removed_names = sorted(before - {s.normalized for s in sources})
        stats.removed = len(stats.removed_names)
        if staging is not None:
            staging.close()
    except BaseException:
        if staging is not None:
            staging.abort()
        else:  # every temporary file was deleted on the way out: nothing to sweep next time
            (out / UPDATING).unlink(missing_ok=True)
        raise
    if in_place:
        (out / UPDATING).unlink(missing_ok=True)
    return stats


def _begin_update(out: Path) -> None:
    """Mark ``out`` as being updated in place; when the mark is there already, an update was killed
    part way: its temporary files (``.<name>.tmp``, ``.<name>.<random>.tmp``) are deleted first. The
    caller holds the build lock (:func:`curate.staging.build_lock`)."""
    marker = out / UPDATING
    if marker.exists():
        remove_temporaries(out)
        for part in ("simple", "files", "api"):
            for folder, _, _ in os.walk(out / part):
                remove_temporaries(Path(folder))
    marker.touch()


def _write_index(
    out: Path,
    sources: Sequence[Source],
    config: Config,
    blobs: Blobs,
    previous: Path | None,
    old: Mapping[str, ManifestRecord],
    fp: str,
    renderer: IndexRenderer,
    writer: _Writer,
    links: Links | None,
    today: datetime.date,
    live_records: Mapping[str, ManifestRecord],
) -> Stats:
    in_place = writer.staging is None
    stats = Stats()
    records: dict[str, ManifestRecord] = {}
    todo: list[tuple[Source, ManifestRecord | None, str]] = []  # to render: (source, previous record, digest)
    for src in sorted(sources, key=lambda s: s.normalized):
        stats.projects += 1
        prev = old.get(src.normalized)
        digest = ""
        if (
            prev is not None
            and previous is not None
            and (not prev["until"] or today.isoformat() <= prev["until"])
            # a built wheel left out for want of its bytes is looked for again (curate wheels may have
            # reproduced them since)
            and not any(why.startswith(BUILT_LEFT_OUT) for _, why in prev["left_out"])
        ):
            same = bool(src.stamp) and prev["stamp"] == src.stamp
            if not same:
                digest = src.digest()
                same = prev["digest"] == digest
            if same:
                stats.reused += 1
                kept: dict[str, list[str]] = {}
                for rel in prev["outputs"]:
                    held = prev["files"].get(rel)
                    if held is not None:  # a distribution file: served only as the bytes vetted
                        sha256, stamp = held
                        _, stamp = _serve_file(writer, blobs, rel, sha256, previous / rel, stamp)
                        kept[rel] = [sha256, stamp]
                    elif not in_place:
                        writer.link(rel, previous / rel)
                _record_left_out(stats, prev["entry"]["name"], prev["left_out"])
                records[src.normalized] = {**prev, "stamp": src.stamp, "files": kept}
                continue
        todo.append((src, prev, digest))
    loaded: dict[str, Project] = {}
    urls: Mapping[str, str] = {}
    if links is not None and todo:  # one lookup for all: the upstream's pages are read a few at a time
        loaded = {src.normalized: src.load() for src, _, _ in todo}
        urls = links(list(loaded.values()))
    for src, prev, digest in todo:
        project = loaded.pop(src.normalized, None) or src.load()
        page = plan_project(
            project, config, blobs.metadata_sha256, urls, today=today, built=blobs.built_check(config)
        )
        _record_left_out(stats, page.name, [list(x) for x in page.left_out])
        stats.blocked.extend(f"{page.name} {v}" for v in page.blocked)
        served: dict[str, list[str]] = {}
        for f in page.files:  # files first: a page never links to something not there yet
            if not f.path:
                continue
            version = next(v for v in page.project.versions if v.version == f.version)
            entry = next(
                x for x in [*version.files, *(b.as_file() for b in version.built)] if x.sha256 == f.sha256
            )
            live = out / f.path if in_place and prev is not None and f.path in prev["outputs"] else None
            known = prev["files"].get(f.path) if live is not None and prev is not None else None
            stamp = known[1] if known is not None and known[0] == f.sha256 else ""
            linked, stamp = _serve_file(
                writer, blobs, f.path, f.sha256, live, stamp, filename=entry.filename, size=entry.size
            )
            stats.files += linked
            served[f.path] = [f.sha256, stamp]
            if f.metadata_sha256:
                writer.bytes(f.path + ".metadata", blobs.metadata(version, entry))
        writer.text(f"simple/{page.normalized}/index.html", renderer.project_html(page))
        writer.text(f"simple/{page.normalized}/index.json", renderer.project_json(page))
        writer.text(f"api/{page.normalized}.json", renderer.api_project(page))
        stats.rendered += 1
        records[src.normalized] = ManifestRecord(
            stamp=src.stamp,
            digest=digest or src.digest(),
            entry=entry_of(page, renderer.os_of),
            outputs=project_outputs(page),
            files=served,
            left_out=[list(x) for x in page.left_out],
            until=page.until,
        )
    entries = [records[n]["entry"] for n in sorted(records)]
    writer.text("simple/index.html", renderer.root_html(entries))
    writer.text("simple/index.json", renderer.root_json(entries))
    writer.text("api/catalog.json", renderer.api_catalog(entries))
    writer.text(PROJECTS_MAP, projects_map(sorted(records)))  # nginx: /simple/Pillow/ -> /simple/pillow/
    if in_place:
        _remove_stale(out, {**live_records, **old}, records)
    writer.text(MANIFEST, manifest_json(fp, records))
    return stats


def _record_left_out(stats: Stats, name: str, left_out: Iterable[Sequence[str]]) -> None:
    stats.left_out.extend((name, version, why) for version, why in left_out)


def _serve_file(
    writer: _Writer,
    blobs: Blobs,
    rel: str,
    sha256: str,
    live: Path | None,
    stamp: str = "",
    *,
    filename: str = "",
    size: int | None = None,
) -> tuple[bool, str]:
    """Put the file holding ``sha256`` at ``rel``: ``live`` (the previous build's copy) when it still holds
    those bytes, else the cache's verified blob. ``live`` holds them when it is unchanged since a build
    found it did (``stamp``: one ``os.stat``, nothing read), else when :func:`curate.cache.holds` says so
    (its stamp in the cache, else its hash). Return whether the file came from the cache, and the stamp
    to trust it by next time ("" when unknown: a copy the helper process has yet to make)."""
    if live is not None:
        try:
            now = stamp_of(os.stat(live))
        except OSError:
            now = ""
        if now and (now == stamp or blobs.holds(live, sha256)):
            if writer.staging is not None:
                writer.link(rel, live)  # a hard link: the same inode, so the same stamp
            return False, now
    blob = blobs.verified_blob(sha256, filename or rel.rsplit("/", 1)[-1], size)
    writer.link(rel, blob)
    try:
        linked = os.stat(writer.out / rel) if writer.staging is None else None
        return True, stamp_of(linked if linked is not None else os.stat(blob))
    except OSError:
        return True, ""


def _remove_stale(out: Path, old: Mapping[str, ManifestRecord], records: Mapping[str, ManifestRecord]) -> int:
    keep = {rel for r in records.values() for rel in r["outputs"]}
    removed = 0
    for name, rec in old.items():
        stale = [rel for rel in rec["outputs"] if rel not in keep]
        for rel in stale:
            with contextlib.suppress(FileNotFoundError):
                (out / rel).unlink()
        if name not in records:
            removed += 1
            for d in (out / "simple" / name, out / "files" / name):
                with contextlib.suppress(OSError):
                    d.rmdir()
    return removed
