"""Known vulnerabilities from advisories in the OSV format.

Two sources, chosen in ``catalog/config.yaml`` (``vetting.advisories.source``):

- ``osv-dir``: a directory tree of OSV JSON or YAML files, for example a checkout of the PyPA advisory
  database (``vulns/<project>/PYSEC-*.yaml``) or an unpacked OSV export. Works air-gapped. Only the
  files that mention a project of the catalog are parsed in full.
- ``osv-api``: the OSV service (``/v1/query`` per name and version); online only.

Matching follows the OSV schema: ``affected[].package`` with ecosystem ``PyPI`` and the PEP 503 name,
``versions`` (explicit list) and ``ranges`` of type ``ECOSYSTEM`` or ``SEMVER`` with ``introduced``,
``fixed``, ``last_affected`` and ``limit`` events, compared as PEP 440 versions. Withdrawn advisories
are ignored; advisories that alias each other are reported once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from packaging.version import InvalidVersion, Version

from curate.errors import CurateError, Problem, ValidationError, display_path
from curate.names import NormalizedName, normalize
from curate.yamlio import loads

if TYPE_CHECKING:  # urllib3 is imported only when the service is asked
    from curate.httpclient import HttpClient

OSV_API_URL = "https://api.osv.dev/v1"
ECOSYSTEM = "PyPI"
_NAME_LINE = re.compile(r"""^\s*-?\s*["']?name["']?\s*:\s*["']?([A-Za-z0-9._-]+)""", re.MULTILINE)
# an OSV record's `modified` date (JSON or YAML), read cheaply from every file: how recent the data is
_MODIFIED = re.compile(rb"""["']?modified["']?\s*:\s*["']?(\d{4}-\d{2}-\d{2})""")


class AdvisoryError(CurateError):
    """The advisory source cannot be read."""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Affected:
    name: NormalizedName
    versions: frozenset[str]
    ranges: tuple[tuple[tuple[str, str], ...], ...]  # each range: its (event kind, version) pairs

    def contains(self, version: Version) -> bool:
        if str(version) in self.versions or any(_same(version, v) for v in self.versions):
            return True
        return any(_in_range(version, events) for events in self.ranges)

    def fixed(self) -> list[str]:
        return [v for events in self.ranges for kind, v in events if kind == "fixed"]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: str
    affected: tuple[Affected, ...]
    digest: str  # sha256 of the advisory's canonical JSON: part of a vetting result's inputs

    def names(self) -> set[NormalizedName]:
        return {a.name for a in self.affected}

    def affects(self, name: NormalizedName, version: str) -> bool:
        try:
            v = Version(version)
        except InvalidVersion:
            return False
        return any(a.name == name and a.contains(v) for a in self.affected)

    def fixed_versions(self, name: NormalizedName) -> list[str]:
        out = {f for a in self.affected if a.name == name for f in a.fixed()}
        return sorted(out, key=_sort_key)


def _sort_key(v: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(v))
    except InvalidVersion:
        return (1, v)


def _same(version: Version, text: str) -> bool:
    try:
        return Version(text) == version
    except InvalidVersion:
        return False


def _in_range(version: Version, events: tuple[tuple[str, str], ...]) -> bool:
    """OSV's evaluation: walk the events in version order, switching affected on and off."""
    parsed: list[tuple[Version, int, str]] = []
    order = {"introduced": 0, "fixed": 1, "last_affected": 2, "limit": 3}
    for kind, text in events:
        if kind == "introduced" and text == "0":
            parsed.append((Version("0"), 0, kind))
            continue
        try:
            parsed.append((Version(text), order.get(kind, 9), kind))
        except InvalidVersion:
            continue
    affected = False
    for v, _, kind in sorted(parsed):
        if kind == "introduced" and version >= v:
            affected = True
        elif (
            (kind == "fixed" and version >= v)
            or (kind == "last_affected" and version > v)
            or (kind == "limit" and version >= v)
        ):
            affected = False
    return affected


def parse_advisory(data: Any) -> Advisory | None:
    """An OSV record as an Advisory, or None when it is withdrawn or concerns no PyPI package."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ValueError("not an OSV record (no 'id')")
    if data.get("withdrawn"):
        return None
    affected = []
    severities: list[str] = []
    for a in data.get("affected") or ():
        pkg = a.get("package") or {}
        if str(pkg.get("ecosystem", "")).split(":")[0] != ECOSYSTEM or not pkg.get("name"):
            continue
        ranges = []
        for r in a.get("ranges") or ():
            if r.get("type") not in ("ECOSYSTEM", "SEMVER"):
                continue
            events = []
            for e in r.get("events") or ():
                for kind in ("introduced", "fixed", "last_affected", "limit"):
                    if kind in e:
                        events.append((kind, str(e[kind])))
            ranges.append(tuple(events))
        affected.append(
            Affected(
                name=normalize(str(pkg["name"])),
                versions=frozenset(str(v) for v in a.get("versions") or ()),
                ranges=tuple(ranges),
            )
        )
        eco = a.get("ecosystem_specific") or {}
        if isinstance(eco, dict) and eco.get("severity"):
            severities.append(str(eco["severity"]))
    if not affected:
        return None
    db = data.get("database_specific") or {}
    severity = str(db.get("severity") or "") if isinstance(db, dict) else ""
    if not severity:
        scores = [s for s in data.get("severity") or () if isinstance(s, dict) and s.get("score")]
        severity = str(scores[0]["score"]) if scores else (severities[0] if severities else "")
    summary = str(data.get("summary") or "").strip()
    if not summary:
        details = str(data.get("details") or "").strip()
        summary = details.splitlines()[0][:200] if details else ""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return Advisory(
        id=data["id"],
        aliases=tuple(sorted({str(x) for x in data.get("aliases") or ()} - {data["id"]})),
        summary=summary,
        severity=severity,
        affected=tuple(affected),
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
    )


class AdvisorySource(Protocol):
    kind: str  # none | osv-dir | osv-api

    def describe(self, today: dt.date) -> str:
        """Whether known vulnerabilities are checked, against what and which day's data: for the
        summary ``curate vet`` prints."""
        ...

    def for_version(self, name: NormalizedName, version: str) -> list[Advisory]:
        """Advisories affecting this version, one per group of aliases, sorted by id."""
        ...

    def digests(self, name: NormalizedName, version: str) -> list[str]:
        """What a vetting result of this version depends on (changes when an advisory does)."""
        ...


def dedupe(advisories: Iterable[Advisory]) -> list[Advisory]:
    """One advisory per group of ids that alias each other; the smallest id wins, with every alias."""
    out: list[Advisory] = []
    for adv in sorted(advisories, key=lambda a: a.id):
        ids = {adv.id, *adv.aliases}
        for i, kept in enumerate(out):
            if ids & {kept.id, *kept.aliases}:
                aliases = tuple(sorted((ids | set(kept.aliases)) - {kept.id}))
                out[i] = dataclasses.replace(
                    kept,
                    aliases=aliases,
                    severity=kept.severity or adv.severity,
                    summary=kept.summary or adv.summary,
                )
                break
        else:
            out.append(adv)
    return out


class NoAdvisories:
    """No advisory source: known vulnerabilities are not checked, and every record says so."""

    kind = "none"

    def __init__(self, why: str = "vetting.advisories.source is none") -> None:
        self.why = why

    def describe(self, today: dt.date) -> str:
        return f"not checked ({self.why})"

    def for_version(self, name: NormalizedName, version: str) -> list[Advisory]:
        return []

    def digests(self, name: NormalizedName, version: str) -> list[str]:
        return []


class OsvDirectory:
    """Advisories from a directory tree of OSV JSON/YAML files, indexed by project name."""

    kind = "osv-dir"

    def __init__(
        self, by_name: Mapping[NormalizedName, list[Advisory]], *, directory: str = "", newest: str = ""
    ) -> None:
        self.by_name = dict(by_name)
        self.directory = directory  # as displayed
        self.newest = newest  # the latest `modified` date of any advisory in the directory

    def describe(self, today: dt.date) -> str:
        n = sum(len(a) for a in self.by_name.values())
        data = f"data up to {self.newest}" if self.newest else "no advisory in it carries a date"
        return f"checked against the OSV advisories in {self.directory or 'a directory'} ({data}; {n} on catalog projects)"

    @classmethod
    def load(cls, directory: Path, names: Iterable[str] | None = None) -> OsvDirectory:
        """Read every advisory under ``directory`` (only those naming one of ``names``, when given)."""
        if not directory.is_dir():
            raise AdvisoryError(
                f"advisory directory {directory} does not exist\n"
                "    hint: check vetting.advisories.path in catalog/config.yaml, or pass --advisories DIR"
            )
        wanted = {normalize(n) for n in names} if names is not None else None
        by_name: dict[NormalizedName, dict[str, Advisory]] = {}
        problems: list[Problem] = []
        newest = ""
        for path in sorted(directory.rglob("*")):
            suffix = path.suffix.lower()
            if suffix not in (".json", ".yaml", ".yml") or not path.is_file():
                continue
            if any(part.startswith(".") for part in path.relative_to(directory).parts):
                continue
            try:
                raw = path.read_bytes()
            except OSError as exc:
                problems.append(Problem(path=display_path(path), message=f"cannot read: {exc}"))
                continue
            newest = max([newest, *(m.decode() for m in _MODIFIED.findall(raw))])
            if wanted is not None and not _mentions(raw, wanted):
                continue
            display = display_path(path)
            if suffix == ".json":
                try:
                    data = json.loads(raw)
                except ValueError as exc:
                    problems.append(Problem(path=display, message=f"not valid JSON: {exc}"))
                    continue
            else:
                doc, yaml_problems = loads(raw, display)
                if doc is None:
                    problems.extend(yaml_problems)
                    continue
                data = doc.data
            try:
                adv = parse_advisory(data)
            except (ValueError, TypeError, AttributeError) as exc:
                problems.append(Problem(path=display, message=f"not an OSV advisory: {exc}"))
                continue
            if adv is None:
                continue
            for name in adv.names():
                if wanted is None or name in wanted:
                    by_name.setdefault(name, {})[adv.id] = adv
        if problems:
            raise ValidationError(problems)
        return cls(
            {n: sorted(a.values(), key=lambda x: x.id) for n, a in by_name.items()},
            directory=display_path(directory),
            newest=newest,
        )

    def for_version(self, name: NormalizedName, version: str) -> list[Advisory]:
        return dedupe(a for a in self.by_name.get(name, ()) if a.affects(name, version))

    def digests(self, name: NormalizedName, version: str) -> list[str]:
        return sorted(a.digest for a in self.by_name.get(name, ()))


def _mentions(raw: bytes, wanted: set[NormalizedName]) -> bool:
    """A cheap look before parsing: does the file name any wanted project?"""
    try:
        text = raw.decode("utf-8", errors="replace")
    except (UnicodeDecodeError, ValueError):  # pragma: no cover - errors="replace" never raises
        return True
    if raw.lstrip().startswith(b"{"):
        return any(normalize(m) in wanted for m in re.findall(r'"name"\s*:\s*"([^"]+)"', text))
    return any(normalize(m) in wanted for m in _NAME_LINE.findall(text))


class OsvApi:
    """The OSV service: one ``POST /v1/query`` per name and version. Online only.

    ``client``: the run's HTTP client (proxies from the CLI's environment); without one, a client with
    no proxy. A connection that fails or breaks is tried up to :attr:`ATTEMPTS` times."""

    kind = "osv-api"
    ATTEMPTS = 4

    def __init__(self, base_url: str = OSV_API_URL, *, client: HttpClient | None = None) -> None:
        from curate.httpclient import HttpClient

        self.base_url = base_url.rstrip("/")
        self.http = client if client is not None else HttpClient({})
        self._cache: dict[tuple[str, str], list[Advisory]] = {}

    def describe(self, today: dt.date) -> str:
        return f"checked against the OSV service at {self.base_url}, as it answered on {today.isoformat()}"

    def _post(self, body: dict[str, Any]) -> Any:
        from curate.httpclient import ConnectError, HttpError, TransferError

        url = f"{self.base_url}/query"
        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                return self.http.post_json(url, body).json()
            except (ConnectError, TransferError) as exc:
                if attempt == self.ATTEMPTS:
                    raise AdvisoryError(
                        f"advisory service unreachable: {exc}\n"
                        "    hint: vetting.advisories.source is osv-api, and known vulnerabilities cannot be "
                        "checked without it; nothing was written. Retry where the service is reachable, point "
                        "$CURATE_OSV_API_URL at a mirror, use a local copy (curate vet --advisories DIR), or "
                        "vet without them: curate vet --no-advisories (every record then says 'known "
                        "vulnerabilities: not checked')"
                    ) from None
            except HttpError as exc:
                raise AdvisoryError(f"advisory service: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _query(self, name: NormalizedName, version: str) -> list[Advisory]:
        key = (name, version)
        if key in self._cache:
            return self._cache[key]
        found: list[Advisory] = []
        body: dict[str, Any] = {"version": version, "package": {"name": name, "ecosystem": ECOSYSTEM}}
        for _ in range(100):  # pages
            data = self._post(body)
            if not isinstance(data, dict):
                raise AdvisoryError(f"advisory service {self.base_url}: the answer is not a JSON object")
            for record in data.get("vulns") or ():
                try:
                    adv = parse_advisory(record)
                except (ValueError, TypeError, AttributeError) as exc:
                    raise AdvisoryError(
                        f"advisory service {self.base_url}: not an OSV advisory: {exc}"
                    ) from None
                if adv is not None:
                    found.append(adv)
            token = data.get("next_page_token")
            if not token:
                break
            body["page_token"] = token
        self._cache[key] = found
        return found

    def for_version(self, name: NormalizedName, version: str) -> list[Advisory]:
        # The service matched already; match again so both sources follow one rule.
        return dedupe(a for a in self._query(name, version) if a.affects(name, version))

    def digests(self, name: NormalizedName, version: str) -> list[str]:
        return sorted(a.digest for a in self._query(name, version))
