"""What a change does to the catalog, for reviewers: the core behind ``curate diff``.

:func:`diff_catalog` reads the catalog at a git revision and in the working tree; :func:`compare` (pure)
turns two catalogs (by normalized name) into a :class:`Report`, rendered as text (coloured on a
terminal: green added, blue already present, red removed), Markdown (a pull-request comment or
``$GITHUB_STEP_SUMMARY``) or JSON.

- **added**: a version that was not in the base catalog, asked for directly, pulled in by which packages,
  or needed ``to build`` which sdist the catalog serves (a build dependency, :mod:`curate.builddeps`);
- **present**: a version already in the catalog that a request newly needs (nothing new to download);
- **superseded**: a version that requests needed at the base and none needs now: it stays served (the
  catalog is additive), and the report says which versions those requests moved to;
- **removed**: a version that leaves the catalog, with the reason: the ``remove:`` entry (its request
  and reason) or the retention rule that takes it out; a version gone for no such reason is flagged.

And the versions the release cooldown held back (:mod:`curate.cooldown`) in the requests the change
resolved, as ``catalog/lock.json`` records them: what reviewers would have got without the cooldown,
and the day each becomes eligible.

The OS and, when the versions of a change differ by Python, the Python versions of each change are shown.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from packaging.version import Version

from curate import git
from curate.catalog import PACKAGES_DIR, Project, VersionEntry, load_catalog, project_from
from curate.config import Config, Retention, load_config
from curate.cooldown import HeldBack
from curate.errors import CurateError, ValidationError, log_safe_json, one_line, terminal_text
from curate.lockstate import STATE_PATH, LockState, read_state
from curate.markup import code, inline
from curate.names import NormalizedName, normalize
from curate.requests import REQUESTS_DIR, Request, read_request, request_files
from curate.targets import OS_LABELS, OS_NAMES
from curate.vetting import DECISIONS, Decision, Finding
from curate.yamlio import CATALOG_LIMIT, loads

Status = Literal["added", "present", "superseded", "removed"]
STATUSES: tuple[Status, ...] = ("added", "present", "superseded", "removed")
UNEXPLAINED = "not in the catalog any more, and no remove: entry or retention rule explains it"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    name: str
    normalized: NormalizedName
    version: str
    status: Status
    direct: bool
    via: tuple[str, ...]
    requests: tuple[str, ...]  # requests needing it (base catalog's, for removals)
    new_requests: tuple[str, ...]  # requests that need it now and did not before
    targets: tuple[str, ...]
    oses: tuple[str, ...]
    new_files: tuple[tuple[str, int], ...]  # (filename, size) not in the base catalog
    build_targets: tuple[str, ...]
    findings: tuple[Finding, ...]  # as curate vet recorded them; none for a removed version
    reason: str = ""  # removed: why it leaves; superseded: what the requests moved to
    pythons: tuple[str, ...] = ()  # the Python versions of its targets
    vetted: bool = False  # whether curate vet has recorded a result for it
    advisories: str | None = None  # where its vetting looked up known vulnerabilities ("none": nowhere)
    to_build: tuple[str, ...] = ()  # the sdists (name==version) it is needed to build (a build dependency)

    @property
    def vulnerabilities_checked(self) -> bool:
        return self.vetted and self.advisories not in (None, "none")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "direct": self.direct,
            "via": list(self.via),
            "requests": list(self.requests),
            "new_requests": list(self.new_requests),
            "targets": list(self.targets),
            "os": list(self.oses),
            "python": list(self.pythons),
            "reason": self.reason,
            "new_files": [{"filename": f, "size": s} for f, s in self.new_files],
            "build_targets": list(self.build_targets),
            "to_build": list(self.to_build),
            "findings": [f.to_dict() for f in self.findings],
            "known_vulnerabilities": "checked" if self.vulnerabilities_checked else "not checked",
        }


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Held:
    """A version the release cooldown held back in a request the change resolved."""

    request: str  # the request's path
    held: HeldBack

    def to_dict(self) -> dict[str, str]:
        return {"request": self.request, **self.held.to_dict()}


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    base: str
    changes: tuple[Change, ...]
    held_back: tuple[Held, ...] = ()

    def of(self, status: Status) -> list[Change]:
        return [c for c in self.changes if c.status == status]

    @property
    def python_differs(self) -> bool:
        """Whether the changes are not all for the same Python versions (then a Python column is shown)."""
        return len({c.pythons for c in self.changes}) > 1

    def os_counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {os: dict.fromkeys(STATUSES, 0) for os in OS_NAMES}
        for c in self.changes:
            for os in c.oses:
                out.setdefault(os, dict.fromkeys(STATUSES, 0))[c.status] += 1
        return {os: counts for os, counts in out.items() if any(counts.values())}

    @property
    def new_files(self) -> list[tuple[str, int]]:
        return sorted({f for c in self.changes if c.status != "removed" for f in c.new_files})

    @property
    def download_size(self) -> int:
        return sum(size for _, size in self.new_files)

    def findings(self) -> dict[Decision, list[tuple[Change, Finding]]]:
        out: dict[Decision, list[tuple[Change, Finding]]] = {d: [] for d in DECISIONS}
        for c in self.changes:
            if c.status == "removed":
                continue
            for f in c.findings:
                out[f.decision].append((c, f))
        return out

    def vulnerabilities(self) -> str:
        """Whether the versions this change serves were checked for known vulnerabilities, in words
        (every report says it: vetting without an advisory source checks none); "" when it serves none."""
        kept = [c for c in self.changes if c.status != "removed"]
        if not kept:
            return ""
        missed = [c for c in kept if not c.vulnerabilities_checked]
        if not missed:
            sources = ", ".join(sorted({str(c.advisories) for c in kept}))
            return f"Known vulnerabilities: checked for all {len(kept)} version(s) (advisories: {sources})"
        why = []
        if unvetted := sum(not c.vetted for c in missed):
            why.append(f"{unvetted} not vetted yet")
        if unsourced := len(missed) - unvetted:
            why.append(
                f"{unsourced} vetted with no advisory source (vetting.advisories.source: none, or curate vet "
                "--no-advisories)"
            )
        return f"Known vulnerabilities: not checked for {len(missed)} of {len(kept)} version(s) ({'; '.join(why)})"

    def to_dict(self) -> dict[str, Any]:
        kept = [c for c in self.changes if c.status != "removed"]
        checked = sum(c.vulnerabilities_checked for c in kept)
        return {
            "base": self.base,
            "summary": {s: len(self.of(s)) for s in STATUSES},
            "known_vulnerabilities": {"checked": checked, "not_checked": len(kept) - checked},
            "os": self.os_counts(),
            "new_files": len(self.new_files),
            "download_size": self.download_size,
            "findings": {d: len(v) for d, v in self.findings().items()},
            "changes": [c.to_dict() for c in self.changes],
            "held_back": [h.to_dict() for h in self.held_back],
        }


def _os_of(target_id: str, os_of_platform: Mapping[str, str]) -> str | None:
    platform = target_id.rsplit("-py", 1)[0]
    if platform in os_of_platform:
        return os_of_platform[platform]
    return next((os for os in OS_NAMES if platform.startswith(os)), None)


def _findings(v: VersionEntry) -> tuple[Finding, ...]:
    return v.vetting.findings if v.vetting is not None else ()


def _python_of(target_id: str) -> str:
    return target_id.rsplit("-py", 1)[1] if "-py" in target_id else ""


def _py_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".") if x.isdigit())


def leave_reason(
    project: Project,
    version: VersionEntry,
    requests: Sequence[Request] = (),
    retention: Retention | None = None,
) -> str:
    """Why a version left the catalog: the ``remove:`` entry that matches it, else the retention rule
    that lets it go; :data:`UNEXPLAINED` when neither does (a reviewer should ask)."""
    for request in requests:
        for removal in request.remove:
            if removal.normalized == project.normalized and removal.specifier_set.contains(
                version.version, prereleases=True
            ):
                return f"removed by {request.path}: {removal.reason}"
    if retention is not None and version.superseded and retention.rule != "keep":
        since = f"; superseded since {version.superseded_since}" if version.superseded_since else ""
        return f"retention ({retention.describe()}{since})"
    return UNEXPLAINED


def _moved_to(name: NormalizedName, old: VersionEntry, head: Mapping[NormalizedName, Project]) -> str:
    """For a superseded version: the versions its requests need now, e.g. ``2.0 for 2026-11-21-web``."""
    project = head.get(name)
    now: dict[str, list[str]] = {}
    for rid in old.requests:
        for v in project.sorted_versions() if project is not None else ():
            if rid in v.requests:
                now.setdefault(v.version, []).append(rid)
    if not now:
        return "no request needs it any more; it stays served"
    moved = "; ".join(f"{version} for {', '.join(rids)}" for version, rids in now.items())
    return f"now {moved}; it stays served"


@functools.lru_cache(maxsize=4096)
def _where(
    targets: tuple[str, ...], platforms: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The operating systems and the Python versions of ``targets``, once per set of targets (the
    history's changes name the same ones again and again)."""
    os_of_platform = dict(platforms)
    oses = tuple(os for os in OS_NAMES if any(_os_of(t, os_of_platform) == os for t in targets))
    return oses, tuple(sorted({_python_of(t) for t in targets} - {""}, key=_py_key))


@functools.lru_cache(maxsize=8192)
def _version(text: str) -> Version:
    """``VersionEntry.parsed``, once per text (the history compares the same versions commit after
    commit)."""
    return Version(text)


def compare(
    base: Mapping[NormalizedName, Project],
    head: Mapping[NormalizedName, Project],
    *,
    base_ref: str = "",
    os_of_platform: Mapping[str, str] | None = None,
    base_state: LockState | None = None,
    head_state: LockState | None = None,
    requests: Sequence[Request] = (),
    retention: Retention | None = None,
) -> Report:
    """Every added, newly needed, superseded and removed version between two catalogs, and what the
    release cooldown held back in the requests whose lock state changed.

    ``requests`` and ``retention`` (the head's) explain why a removed version left."""
    platforms = tuple(sorted((os_of_platform or {}).items()))
    base_versions = {(n, _version(v.version)): v for n, p in base.items() for v in p.versions}
    head_versions = {(n, _version(v.version)): v for n, p in head.items() for v in p.versions}
    base_files = {(f.filename, f.sha256) for v in base_versions.values() for f in v.files}
    changes = []
    for key in sorted(set(base_versions) | set(head_versions)):
        name = key[0]
        old, new = base_versions.get(key), head_versions.get(key)
        if old is not None and new is not None and old.needed_by == new.needed_by:
            continue  # no request newly needs it, nor has it been superseded (below)
        entry = new or old
        assert entry is not None
        project = head.get(name) or base[name]
        reason = ""
        if new is None:
            assert old is not None
            status: Status = "removed"
            new_requests: tuple[str, ...] = ()
            reason = leave_reason(base[name], old, requests, retention)
        else:
            new_requests = tuple(r for r in new.requests if old is None or r not in old.requests)
            if old is None:
                status = "added"
            elif new_requests:
                status = "present"
            elif old.needed_by and not new.needed_by:
                status = "superseded"
                reason = _moved_to(name, old, head)
            else:
                continue
        gone = status in ("removed", "superseded")
        needs = [n for n in entry.needed_by if n.request in new_requests] if not gone else []
        needs = needs or list((old if gone and old is not None else entry).needed_by)
        targets = tuple(
            sorted({t for n in needs for t in n.targets} or {t for f in entry.files for t in f.targets})
        )
        oses, pythons = _where(targets, platforms)
        changes.append(
            Change(
                name=project.name,
                normalized=name,
                version=entry.version,
                status=status,
                direct=any(n.direct for n in needs),
                via=tuple(sorted({v for n in needs for v in n.via})),
                to_build=tuple(sorted({n.to_build for n in needs if n.to_build})),
                requests=(old.requests if gone and old is not None else entry.requests),
                new_requests=new_requests,
                targets=targets,
                oses=oses,
                new_files=tuple(
                    (f.filename, f.size)
                    for f in entry.files
                    if status != "removed" and (f.filename, f.sha256) not in base_files
                ),
                build_targets=entry.build_targets if status != "removed" else (),
                findings=_findings(entry) if status != "removed" else (),
                reason=reason,
                pythons=pythons,
                vetted=entry.vetting is not None and status != "removed",
                advisories=entry.vetting.advisories
                if entry.vetting is not None and status != "removed"
                else None,
            )
        )
    order = {s: i for i, s in enumerate(STATUSES)}
    changes.sort(key=lambda c: (order[c.status], c.normalized, c.version))
    return Report(base=base_ref, changes=tuple(changes), held_back=held_back(base_state, head_state))


def held_back(base: LockState | None, head: LockState | None) -> tuple[Held, ...]:
    """The held-back versions of the requests resolved since ``base`` (their lock state differs)."""
    if head is None:
        return ()
    before = base.requests if base is not None else {}
    out: list[Held] = []
    for rid, state in sorted(head.requests.items()):
        if before.get(rid) == state:
            continue
        out.extend(Held(request=state.path, held=h) for h in sorted(state.held_back))
    return tuple(out)


# -- reading the two catalogs ---------------------------------------------------------------------------


def diff_catalog(root: Path, *, base: str | None, env: Mapping[str, str]) -> Report:
    """The catalog in the working tree against the one committed at ``base`` (default: where this
    branch forked from main, or HEAD when there is no main)."""
    ref = base or git.fork_point(root, env=env)
    old = catalog_at(root, ref, env=env)
    committed = git.file_at(root, ref, STATE_PATH.as_posix(), env=env)
    config = _config(root)
    return compare(
        old,
        load_catalog(root),
        base_ref=ref,
        os_of_platform={p.name: p.os for p in config.platforms} if config else {},
        base_state=LockState.loads(committed.decode("utf-8", "replace")) if committed is not None else None,
        head_state=read_state(root),
        requests=_requests(root, config),
        retention=config.retention if config else None,
    )


def _config(root: Path) -> Config | None:
    try:
        return load_config(root)
    except CurateError:
        return None


def _requests(root: Path, config: Config | None) -> list[Request]:
    """The requests in the working tree that read (an invalid one is `curate check`'s to report)."""
    out = []
    for path in request_files(root):
        request, _problems = read_request(path, (REQUESTS_DIR / path.name).as_posix(), config)
        if request is not None:
            out.append(request)
    return out


def catalog_at(root: Path, ref: str, *, env: Mapping[str, str]) -> dict[NormalizedName, Project]:
    """The catalog's projects as committed at ``ref``."""
    folder = PACKAGES_DIR.as_posix()
    out: dict[NormalizedName, Project] = {}
    for name, body in sorted(git.files_at(root, ref, folder, env=env).items()):
        if "/" in name or not name.endswith(".yaml"):
            continue
        doc, problems = loads(body, f"{ref}:{folder}/{name}", limit=CATALOG_LIMIT)
        if doc is None:
            raise ValidationError(problems)
        project = project_from(doc)
        out[normalize(project.name)] = project
    return out


def platform_oses(root: Path) -> dict[str, str]:
    """The OS of each configured platform; none when the config does not read (targets are then
    placed by their names)."""
    try:
        config = load_config(root)
    except CurateError:
        return {}
    return {p.name: p.os for p in config.platforms}


# -- rendering ------------------------------------------------------------------------------------------


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _why(c: Change) -> str:
    parts = []
    if c.direct:
        parts.append("requested")
    if c.via:
        parts.append("via " + ", ".join(c.via))
    if c.to_build:
        parts.append("to build " + ", ".join(build_label(b) for b in c.to_build))
    return "; ".join(parts) or "needed"


def build_label(to_build: str) -> str:
    """``name==version`` (a need's ``to_build``) as people read it: ``name version``."""
    name, _, version = to_build.partition("==")
    return f"{name} {version}".strip()


_COLOURS = {"added": "\033[32m", "present": "\033[34m", "superseded": "\033[33m", "removed": "\033[31m"}
_SIGNS = {"added": "+", "present": "=", "superseded": "~", "removed": "-"}
_TITLES = {
    "added": "Added",
    "present": "Already present",
    "superseded": "Superseded (still served)",
    "removed": "Removed",
}


def _detail(c: Change) -> str:
    if c.status in ("removed", "superseded"):
        return c.reason
    text = _why(c)
    if c.status == "present":
        text += f" (now also for {', '.join(c.new_requests)})"
    return text


def _pythons(c: Change) -> str:
    return ", ".join(c.pythons) or "?"


def render_text(report: Report, *, colour: bool = False) -> str:
    """The report for a terminal (and a CI log): every piece of data on its line, made safe there."""
    base = f" since {one_line(report.base)}" if report.base else ""
    if not report.changes:
        text = terminal_text(f"No change to the catalog{base}.\n")
        return text + "".join(f"{terminal_text(line)}\n" for line in _held_back_text(report))
    lines = [f"Catalog changes{base}:"]
    for status in STATUSES:
        changes = report.of(status)
        if not changes:
            continue
        lines.append(f"\n{_TITLES[status]} ({len(changes)}):")
        for c in changes:
            where = ", ".join(OS_LABELS.get(o, o) for o in c.oses)
            if report.python_differs:
                where += f"; Python {_pythons(c)}"
            # names, versions, request ids and reasons come from catalog and request files: data, one line each
            text = f"  {_SIGNS[status]} {one_line(c.name)} {one_line(c.version)}  [{where}]  {one_line(_detail(c))}"
            if c.build_targets and status != "superseded":
                text += f"  sdist build on {len(c.build_targets)} target(s)"
            text = terminal_text(text)
            lines.append(f"{_COLOURS[status]}{text}\033[0m" if colour else text)
    lines.append("")
    for os, counts in report.os_counts().items():
        lines.append(
            f"{OS_LABELS.get(os, os)}: {counts['added']} added, {counts['present']} already present, "
            f"{counts['superseded']} superseded, {counts['removed']} removed"
        )
    lines.append(f"New files: {len(report.new_files)}, {human_size(report.download_size)} to download")
    if vulnerabilities := report.vulnerabilities():
        lines.append(vulnerabilities)
    lines.extend(terminal_text(line) for line in _findings_text(report))
    lines.extend(terminal_text(line) for line in _held_back_text(report))
    return "\n".join(lines) + "\n"


def _held_back_text(report: Report) -> list[str]:
    if not report.held_back:
        return []
    out = [f"Held back by the release cooldown ({len(report.held_back)}):"]
    out += [f"  {h.held.describe()}  [{h.request}]" for h in report.held_back]
    return out


def _findings_text(report: Report) -> list[str]:
    found = report.findings()
    if not any(found.values()):
        return []
    out = ["Vetting: " + ", ".join(f"{len(found[d])} {d}" for d in DECISIONS)]
    for c, f in found.get("block", []):
        out.append("  blocked: " + one_line(f"{c.name} {c.version}: {finding_label(f)}"))
    return out


def finding_label(f: Finding) -> str:
    """A finding as a reviewer reads it: its id (and kind, when the id is not the kind), what was found,
    and for a waived one the waiver's justification and expiry."""
    text = f.id if f.kind == f.id else f"{f.id} ({f.kind})"
    if f.message:
        text += f": {f.message}"
    if f.location:
        text += f" (in {f.file}: {f.location})"
    if f.decision == "waived" and f.waiver is not None:
        text += f" [waived until {f.waiver.expires.isoformat()}: {f.waiver.justification}]"
    return text


def render_markdown(report: Report) -> str:
    """The report as GitHub Markdown (the pull-request comment, the job summary): every piece of
    request, catalog and upstream text is inert there (see curate.markup)."""
    counts = {s: len(report.of(s)) for s in STATUSES}
    out = [
        "## Catalog changes" + (f" since {code(report.base)}" if report.base else ""),
        "",
        f"**{counts['added']} added**, {counts['present']} already present, {counts['superseded']} "
        f"superseded (still served), {counts['removed']} removed; "
        f"{len(report.new_files)} new file(s), {human_size(report.download_size)} to download.",
        "",
    ]
    if vulnerabilities := report.vulnerabilities():
        head, _, rest = vulnerabilities.partition(" for ")
        bold = "not checked" in head
        out += [(f"**{head}** for {rest}" if bold else vulnerabilities) + ".", ""]
    if not report.changes:
        out.append("No change to the catalog.")
        out += ["", *_held_back_markdown(report)] if report.held_back else []
        return "\n".join(out) + "\n"
    os_counts = report.os_counts()
    if os_counts:
        out += ["| OS | added | already present | superseded | removed |", "|---|---:|---:|---:|---:|"]
        for os, n in os_counts.items():
            out.append(
                f"| {OS_LABELS.get(os, os)} | {n['added']} | {n['present']} | {n['superseded']} | {n['removed']} |"
            )
        out.append("")
    python = report.python_differs
    for status in STATUSES:
        changes = report.of(status)
        if not changes:
            continue
        out += [f"### {_TITLES[status]} ({len(changes)})", ""]
        if python:
            out += ["| Package | Version | OS | Python | Why | Requests |", "|---|---|---|---|---|---|"]
        else:
            out += ["| Package | Version | OS | Why | Requests |", "|---|---|---|---|---|"]
        for c in changes:
            why = _detail(c) if status != "present" else _why(c)
            if c.build_targets and status not in ("superseded", "removed"):
                why += f"; sdist build on {len(c.build_targets)} target(s)"
            reqs = c.requests if status in ("removed", "superseded") else (c.new_requests or c.requests)
            py = f" {_pythons(c)} |" if python else ""
            out.append(
                f"| {code(c.name, table=True)} | {inline(c.version)} "
                f"| {', '.join(OS_LABELS.get(o, o) for o in c.oses)} |{py} {inline(why)} | {inline(', '.join(reqs))} |"
            )
        out.append("")
    found = report.findings()
    if any(found.values()):
        out += ["### Vetting", "", ", ".join(f"{len(found[d])} {d}" for d in DECISIONS), ""]
        for decision in DECISIONS:
            for c, f in found.get(decision, []):
                out.append(f"- **{decision}** {code(c.name)} {inline(c.version)}: {inline(finding_label(f))}")
        out.append("")
    out += _held_back_markdown(report)
    return "\n".join(out)


def _held_back_markdown(report: Report) -> list[str]:
    """The versions the release cooldown held back: a reviewer sees what the change did not take yet."""
    if not report.held_back:
        return []
    out = [
        f"### Held back by the release cooldown ({len(report.held_back)})",
        "",
        "Newer versions these requests would have taken, uploaded too recently "
        "(`vetting.min_release_age_days`); a later `curate lock --upgrade-package NAME` takes them once eligible.",
        "",
        "| Package | Held back | Locked instead | Uploaded | Eligible on | Request |",
        "|---|---|---|---|---|---|",
    ]
    for h in report.held_back:
        b = h.held
        out.append(
            f"| {code(b.name, table=True)} | {inline(b.version)} | {inline(b.locked) if b.locked else 'not locked'} "
            f"| {inline(b.uploaded) if b.uploaded else 'unknown'} | {inline(b.eligible) if b.eligible else 'unknown'} "
            f"| {inline(h.request)} |"
        )
    out.append("")
    return out


def render_json(report: Report) -> str:
    return log_safe_json(json.dumps(report.to_dict(), indent=2, sort_keys=False)) + "\n"


def render(report: Report, fmt: str, *, colour: bool = False) -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "markdown":
        return render_markdown(report)
    return render_text(report, colour=colour)
