"""The vetting record: what ``curate vet`` found about one catalog version, and on which evidence.

:mod:`curate.vet` writes a :class:`VettingRecord` into each version's ``vetting`` mapping of
``catalog/packages/<name>.yaml``; everything after it reads the record (the index leaves blocked versions
out; the site, ``curate diff`` and ``api/`` show the findings). On disk (``vetting: {}`` is a version not
vetted yet, ``None`` here)::

    vetting:
      summary: str
      license: str             # normalised SPDX expression, "" when unknown
      license_source: str      # License-Expression | License | classifiers | license-files | none
      license_note: str        # how the licence files took part, or why the licence is unknown
      license_files:           # every licence file read, what its text is (askalono's score)
        - {path, sha256, licenses: [spdx], closest: spdx, score, files: [filename]}  # files: [] = all
      home_page: str
      requires_dist: [str]
      status: pass | warn | block
      vetted: YYYY-MM-DD       # the day this result was reached (a re-run that changes nothing keeps it)
      policy: str              # sha256 of the policy it was judged by (config.Vetting.digest)
      advisories: none | osv-dir | osv-api   # where known vulnerabilities were looked up; none: not checked
      findings: [{id, kind, severity, file, message, aliases, fixed, decision, waiver}]
      files: {filename: {sha256: str, metadata_sha256: str | null}}   # every file vetted, by its bytes
      code_scan: {ruleset: str, hits: [{rule, file, path, line, message}]}  # GuardDog + curate's checks
      inputs: str              # sha256 over everything the result depends on, and the result itself

``vetted``, ``policy`` and the files' ``sha256`` came with curate.vet's schema 2, ``advisories`` with
schema 3; ``license_note``, ``license_files``, ``code_scan`` and a finding's ``location`` with schema 4. A
record written before reads without them (and ``curate vet`` vets that version again). A record without
``advisories`` says nothing about known vulnerabilities: it reads as not checked.

A new finding kind is one line in :data:`FindingKind` and one in :data:`DEFAULT_DECISION` (what the policy
does with it when ``catalog/config.yaml`` does not say); the config's ``vetting.block`` / ``vetting.warn``
accept it from then on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol, TypeGuard, get_args

FindingKind = Literal[
    "integrity",
    "metadata",
    "metadata-version",  # a field newer than the file's own Metadata-Version, valid otherwise
    "suspicious-code",
    "license-denied",
    "license-unknown",
    "license-conflict",
    "vulnerability",
    "yanked",
    "sdist-only",
    "lookalike",
    "too-new",  # uploaded fewer than vetting.min_release_age_days ago (curate.cooldown)
    "wheel-differs-from-sdist",  # build.from_source: pure: the upstream wheel is not what its sdist builds
]
FINDING_KINDS: tuple[FindingKind, ...] = get_args(FindingKind)  # also the order findings are listed in

# What the policy does with a finding: block the version, warn about it, or accept it (a waiver).
Decision = Literal["block", "warn", "waived"]
DECISIONS: tuple[Decision, ...] = get_args(Decision)
PolicyDecision = Literal["block", "warn"]  # what vetting.block / vetting.warn assign to a kind

# A version's verdict: the worst decision among its findings ("waived" counts as a pass).
Status = Literal["pass", "warn", "block"]
STATUSES: tuple[Status, ...] = get_args(Status)

DEFAULT_DECISION: dict[FindingKind, PolicyDecision] = {
    "integrity": "block",
    "metadata": "block",
    "metadata-version": "warn",  # installers read it; only the upload rules of an index refuse it
    "suspicious-code": "warn",  # vetting.code_rules decides per rule (curate.codescan.DEFAULT_RULES)
    "license-denied": "block",
    "license-unknown": "warn",
    "license-conflict": "warn",
    "vulnerability": "block",
    "yanked": "warn",
    "sdist-only": "warn",
    "lookalike": "warn",
    "too-new": "warn",  # the lock enforces the cooldown; vetting tells what is still young
    "wheel-differs-from-sdist": "block",
}


def today_from(env: Mapping[str, str]) -> dt.date:
    """The day waivers' expiry is compared with: ``$CURATE_TODAY`` (YYYY-MM-DD) when set, else today.
    ValueError when it is set to something else."""
    value = env.get("CURATE_TODAY")
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"$CURATE_TODAY must be a date like 2026-06-01, not {value!r}") from None


def is_finding_kind(value: object) -> TypeGuard[FindingKind]:
    return value in FINDING_KINDS


def default_kinds(decision: PolicyDecision) -> tuple[FindingKind, ...]:
    """The kinds the policy gives ``decision`` when the config does not list them."""
    return tuple(k for k in FINDING_KINDS if DEFAULT_DECISION[k] == decision)


def is_decision(value: object) -> TypeGuard[Decision]:
    return value in DECISIONS


def is_status(value: object) -> TypeGuard[Status]:
    return value in STATUSES


# Where the licence came from: a metadata field, the classifiers, the licence files' texts, or nowhere.
LicenseSource = Literal["License-Expression", "License", "classifiers", "license-files", "none"]
LICENSE_SOURCES: tuple[LicenseSource, ...] = get_args(LicenseSource)

# Where known vulnerabilities come from (vetting.advisories.source); "none": they were not checked.
AdvisorySourceKind = Literal["none", "osv-dir", "osv-api"]
ADVISORY_SOURCES: tuple[AdvisorySourceKind, ...] = get_args(AdvisorySourceKind)


def is_advisory_source(value: object) -> TypeGuard[AdvisorySourceKind]:
    return value in ADVISORY_SOURCES


Key = tuple[str | int, ...]


class VettingFormatError(ValueError):
    """A ``vetting`` mapping that is not what ``curate vet`` writes; ``key`` is where, from the mapping."""

    def __init__(self, key: Key, message: str) -> None:
        super().__init__(f"{_format_key(key)}: {message}" if key else message)
        self.key = key
        self.message = message

    def within(self, *prefix: str | int) -> VettingFormatError:
        """The same error, located from an enclosing mapping."""
        return VettingFormatError((*prefix, *self.key), self.message)


def _format_key(key: Key) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# -- the record -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class AppliedWaiver:
    """The waiver (from ``vetting.waivers`` in catalog/config.yaml) a finding was judged with."""

    justification: str
    expires: dt.date

    def to_dict(self) -> dict[str, str]:
        return {"justification": self.justification, "expires": self.expires.isoformat()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AppliedWaiver:
        return cls(justification=_text(d, "justification"), expires=_date(d, "expires"))


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """One thing vetting found about a version, and what the policy decided of it."""

    id: str  # an advisory id (GHSA-..., PYSEC-...), or the kind for the other kinds
    kind: FindingKind
    decision: Decision
    message: str = ""
    severity: str = ""
    file: str = ""  # the file it concerns; "" for the whole version
    location: str = ""  # where in that file: "path/inside.py:12" (suspicious code); "" otherwise
    aliases: tuple[str, ...] = ()  # other ids of the same advisory (CVE-...)
    fixed: tuple[str, ...] = ()  # versions that fix a vulnerability
    waiver: AppliedWaiver | None = None  # the waiver that matched; an expired one leaves decision "block"

    @property
    def ids(self) -> frozenset[str]:
        """Every id a waiver may name this finding by."""
        return frozenset((self.id, *self.aliases))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "file": self.file,
            "location": self.location,
            "message": self.message,
            "aliases": list(self.aliases),
            "fixed": list(self.fixed),
            "decision": self.decision,
            "waiver": self.waiver.to_dict() if self.waiver is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        if "id" not in d or d["id"] is None:
            raise VettingFormatError(("id",), "missing")
        kind, decision = d.get("kind"), d.get("decision")
        if not is_finding_kind(kind):
            raise VettingFormatError(("kind",), f"unknown finding kind {kind!r}")
        if not is_decision(decision):
            raise VettingFormatError(("decision",), f"unknown decision {decision!r}")
        waiver = d.get("waiver")
        try:
            applied = AppliedWaiver.from_dict(_mapping(waiver, ())) if waiver is not None else None
        except VettingFormatError as exc:
            raise exc.within("waiver") from None
        return cls(
            id=str(d["id"]),
            kind=kind,
            decision=decision,
            message=_text(d, "message"),
            severity=_text(d, "severity"),
            file=_text(d, "file"),
            location=_text(d, "location"),
            aliases=_texts(d, "aliases"),
            fixed=_texts(d, "fixed"),
            waiver=applied,
        )


class HashedFile(Protocol):
    """A file named with the sha256 of its bytes (a catalog :class:`curate.catalog.FileEntry`)."""

    @property
    def filename(self) -> str: ...
    @property
    def sha256(self) -> str: ...


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class FileEvidence:
    """What vetting recorded of one file of the version."""

    filename: str
    sha256: str | None = None  # of the bytes vetted; None in a record written before schema 2
    metadata_sha256: str | None = None  # of the wheel's METADATA as extracted (PEP 658); None for sdists

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.sha256 is None else {"sha256": self.sha256}
        out["metadata_sha256"] = self.metadata_sha256
        return out

    @classmethod
    def from_dict(cls, filename: str, d: Mapping[str, Any]) -> FileEvidence:
        sha256, meta = d.get("sha256"), d.get("metadata_sha256")
        return cls(
            filename=filename,
            sha256=str(sha256) if sha256 else None,
            metadata_sha256=str(meta) if meta else None,
        )


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class LicenseFileEvidence:
    """One licence file read, and what the matcher said its text is."""

    path: str  # inside the distribution, without its top folder: "licenses/LICENSE"
    sha256: str  # of the file's bytes
    licenses: tuple[str, ...] = ()  # the SPDX ids its text is; () when it names none
    closest: str = ""  # the matcher's best match for the whole text
    score: float = 0.0  # how close (0 to 1); a licence is named from curate.licensefiles.MATCH_THRESHOLD
    files: tuple[str, ...] = ()  # the distribution files that carry it; () when every one read does

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "licenses": list(self.licenses),
            "closest": self.closest,
            "score": self.score,
            "files": list(self.files),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LicenseFileEvidence:
        score = d.get("score") or 0.0
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise VettingFormatError(("score",), f"expected a number, got {type(score).__name__}")
        return cls(
            path=_text(d, "path"),
            sha256=_text(d, "sha256"),
            licenses=_texts(d, "licenses"),
            closest=_text(d, "closest"),
            score=float(score),
            files=_texts(d, "files"),
        )


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class CodeHit:
    """One match of a suspicious-code rule (GuardDog's or curate's own) in a version's files."""

    rule: str  # "threat-process-download-exec", "pth-exec", ...
    file: str  # the distribution file
    path: str  # inside it
    line: int  # 1-based; 0 when the rule is about the whole file
    message: str

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "file": self.file,
            "path": self.path,
            "line": self.line,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CodeHit:
        line = d.get("line") or 0
        if isinstance(line, bool) or not isinstance(line, int):
            raise VettingFormatError(("line",), f"expected a line number, got {type(line).__name__}")
        return cls(
            rule=_text(d, "rule"),
            file=_text(d, "file"),
            path=_text(d, "path"),
            line=line,
            message=_text(d, "message"),
        )


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class CodeScan:
    """What the suspicious-code scan found in a version's files, and with which ruleset."""

    ruleset: str  # curate.codescan.ruleset_id(): GuardDog's version, curate's checks and the rules run
    hits: tuple[CodeHit, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"ruleset": self.ruleset, "hits": [h.to_dict() for h in self.hits]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CodeScan:
        hits = []
        for i, item in enumerate(_list(d, "hits")):
            try:
                hits.append(CodeHit.from_dict(_mapping(item, ())))
            except VettingFormatError as exc:
                raise exc.within("hits", i) from None
        return cls(ruleset=_text(d, "ruleset"), hits=tuple(hits))


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class VettingRecord:
    """The result of vetting one version: the verdict, the findings, and the evidence they rest on."""

    status: Status
    vetted: dt.date | None = None  # the day this result was reached; None before schema 2
    policy: str = ""  # config.Vetting.digest() of the policy it was judged by; "" before schema 2
    advisories: AdvisorySourceKind | None = None  # where vulnerabilities were looked up; None before schema 3
    findings: tuple[Finding, ...] = ()
    files: tuple[FileEvidence, ...] = ()  # sorted by filename
    summary: str = ""
    license: str = ""  # normalised SPDX expression; "" when unknown
    license_source: LicenseSource = "none"
    license_note: str = ""  # how the licence files took part, or why the licence is unknown
    license_files: tuple[LicenseFileEvidence, ...] = ()  # sorted by path
    home_page: str = ""
    requires_dist: tuple[str, ...] = ()
    code_scan: CodeScan | None = None  # None: not scanned (a record written before schema 3)
    inputs: str = ""  # the seal: see curate.vet.sealed

    @property
    def blocked(self) -> bool:
        return self.status == "block"

    @property
    def vulnerabilities_checked(self) -> bool:
        """Whether known vulnerabilities were looked up (an advisory source other than none)."""
        return self.advisories not in (None, "none")

    def vulnerabilities(self) -> str:
        """What this record says about known vulnerabilities, as every report words it."""
        return f"known vulnerabilities: {vulnerability_status(self)}"

    def covers(self, files: Iterable[HashedFile]) -> bool:
        """Whether this record vetted exactly these files, byte for byte (by name and sha256)."""
        wanted = {(f.filename, f.sha256) for f in files}
        return wanted == {(e.filename, e.sha256) for e in self.files}

    def evidence(self, filename: str) -> FileEvidence | None:
        return next((f for f in self.files if f.filename == filename), None)

    def metadata_sha256(self, filename: str) -> str | None:
        """The sha256 of a wheel's METADATA as vetting extracted it, if it did."""
        found = self.evidence(filename)
        return found.metadata_sha256 if found is not None else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "summary": self.summary,
            "license": self.license,
            "license_source": self.license_source,
            "license_note": self.license_note,
            "license_files": [f.to_dict() for f in self.license_files],
            "home_page": self.home_page,
            "requires_dist": list(self.requires_dist),
            "status": self.status,
        }
        if self.vetted is not None:  # absent from a record written before schema 2: it stays as it was
            out["vetted"] = self.vetted.isoformat()
        if self.policy:
            out["policy"] = self.policy
        if self.advisories is not None:
            out["advisories"] = self.advisories
        out["findings"] = [f.to_dict() for f in self.findings]
        out["files"] = {f.filename: f.to_dict() for f in self.files}
        if self.code_scan is not None:
            out["code_scan"] = self.code_scan.to_dict()
        out["inputs"] = self.inputs
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VettingRecord:
        """A record as read from a catalog file; raises :class:`VettingFormatError` where it is not one."""
        findings = []
        for i, item in enumerate(_list(d, "findings")):
            try:
                findings.append(Finding.from_dict(_mapping(item, ())))
            except VettingFormatError as exc:
                raise exc.within("findings", i) from None
        files = []
        for name, item in sorted(_mapping(d.get("files") or {}, ("files",)).items(), key=lambda x: str(x[0])):
            try:
                files.append(FileEvidence.from_dict(str(name), _mapping(item or {}, ())))
            except VettingFormatError as exc:
                raise exc.within("files", str(name)) from None
        license_files = []
        for i, item in enumerate(_list(d, "license_files")):
            try:
                license_files.append(LicenseFileEvidence.from_dict(_mapping(item, ())))
            except VettingFormatError as exc:
                raise exc.within("license_files", i) from None
        code_scan = None
        if d.get("code_scan") is not None:
            try:
                code_scan = CodeScan.from_dict(_mapping(d["code_scan"], ()))
            except VettingFormatError as exc:
                raise exc.within("code_scan") from None
        status = d.get("status")
        if status is None:
            status = status_of(findings)  # written by hand: the findings say it
        elif status == "blocked":
            status = "block"
        if not is_status(status):
            raise VettingFormatError(("status",), f"unknown status {status!r}")
        source = d.get("license_source") or "none"
        if source not in LICENSE_SOURCES:
            raise VettingFormatError(("license_source",), f"unknown licence source {source!r}")
        advisories = d.get("advisories")
        if advisories is not None and not is_advisory_source(advisories):
            raise VettingFormatError(("advisories",), f"unknown advisory source {advisories!r}")
        return cls(
            status=status,
            vetted=_date(d, "vetted") if d.get("vetted") is not None else None,
            policy=_text(d, "policy"),
            advisories=advisories,
            findings=tuple(findings),
            files=tuple(files),
            summary=_text(d, "summary"),
            license=_text(d, "license"),
            license_source=source,
            license_note=_text(d, "license_note"),
            license_files=tuple(license_files),
            home_page=_text(d, "home_page"),
            requires_dist=_texts(d, "requires_dist"),
            code_scan=code_scan,
            inputs=_text(d, "inputs"),
        )


def vulnerability_status(record: VettingRecord | None) -> str:
    """``not checked`` (not vetted, or vetted with no advisory source) or ``checked (SOURCE)``."""
    if record is None or not record.vulnerabilities_checked:
        return "not checked"
    return f"checked ({record.advisories})"


def status_of(findings: Iterable[Finding]) -> Status:
    """The verdict the findings make: block when one blocks, else warn when one warns, else pass."""
    decisions = {f.decision for f in findings}
    return "block" if "block" in decisions else "warn" if "warn" in decisions else "pass"


def record_from(raw: object) -> VettingRecord | None:
    """A version's ``vetting`` as read from its catalog file: None for ``{}`` (or no key): not vetted yet."""
    if raw is None or raw == {}:
        return None
    return VettingRecord.from_dict(_mapping(raw, ()))


# -- reading plain data ----------------------------------------------------------------------------------


def _mapping(value: object, key: Key) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise VettingFormatError(key, f"expected a mapping, got {type(value).__name__}")
    return value


def _list(d: Mapping[str, Any], key: str) -> list[Any]:
    value = d.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise VettingFormatError((key,), f"expected a list, got {type(value).__name__}")
    return value


def _text(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    if value is None:
        return ""
    if isinstance(value, Mapping | list):
        raise VettingFormatError((key,), f"expected text, got {type(value).__name__}")
    return str(value)


def _date(d: Mapping[str, Any], key: str) -> dt.date:
    """A date as curate vet writes it (``'2026-12-31'``), or as YAML reads an unquoted one."""
    value = d.get(key)
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise VettingFormatError((key,), f"not a date: {value!r}")


def _texts(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    out = []
    for i, item in enumerate(_list(d, key)):
        if item is None or isinstance(item, Mapping | list):
            raise VettingFormatError((key, i), f"expected text, got {type(item).__name__}")
        out.append(str(item))
    return tuple(out)
