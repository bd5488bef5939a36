"""Vet every version of the catalog from the cached files themselves, and record the evidence.

For each version, each file is checked (:func:`check_file`, run in a process pool): its bytes match the
catalog's sha256; the archive opens; a wheel's ``RECORD`` hashes verify; the metadata's name and version
match the file name and the catalog; ``twine check`` passes. A wheel's ``METADATA`` is extracted byte for
byte into the cache (PEP 658). Then the version is judged (:func:`judge`, pure): licence against the
allow/deny lists, known vulnerabilities from OSV advisories, yanked, sdist-only targets, look-alike
names; the policy turns each finding into ``block`` or ``warn``, and a matching waiver into ``waived``
(an expired waiver blocks again). The result is the version's :class:`curate.vetting.VettingRecord`
(its ``vetting`` mapping in the catalog file).

When a version's ``inputs`` are unchanged (same files, advisories, policy, waivers and their expiry
state), its stored result is as ``curate vet`` wrote it (not edited by hand) and its extracted metadata
is in the cache, the stored result is kept as it is.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import multiprocessing
import os
import re
import tarfile
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path, PurePosixPath

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from curate.advisories import OSV_API_URL, Advisory, AdvisorySource, NoAdvisories, OsvApi, OsvDirectory
from curate.archive import (
    ArchiveError,
    read_zip_member,
    scan_tar,
    tar_problems,
    wheel_metadata_name,
    zip_problems,
)
from curate.cache import (
    blob_path,
    cache_root,
    format_missing,
    holds,
    metadata_path,
    missing_files,
    record_verified,
    stamp_of,
    wanted_files,
)
from curate.catalog import (
    FileEntry,
    Project,
    VersionEntry,
    load_catalog_fast,
    project_path,
    replace_catalog_files,
    writing,
)
from curate.codescan import ScanResult, rules_run, ruleset_id, scan_version
from curate.config import Config, Vetting, Waiver, load_config
from curate.cooldown import TOO_NEW, Cooldown, too_new_text
from curate.errors import CurateError
from curate.licensefiles import MATCHER_VERSION, LicenceFile, Match, identify, read_licence_files
from curate.licenses import READING_VERSION as LICENCE_READING
from curate.licenses import license_of, verdict
from curate.lookalike import NameIndex, popular_projects
from curate.names import NormalizedName, normalize
from curate.vetting import (
    FINDING_KINDS,
    AdvisorySourceKind,
    AppliedWaiver,
    CodeHit,
    CodeScan,
    Decision,
    FileEvidence,
    Finding,
    FindingKind,
    LicenseFileEvidence,
    LicenseSource,
    Status,
    VettingRecord,
    is_advisory_source,
    status_of,
)

SCHEMA = 4  # bump when the checks or the record change: every version is vetted again
_KIND_ORDER = {k: i for i, k in enumerate(FINDING_KINDS)}


class VetError(CurateError):
    """Vetting cannot run (files missing from the cache, an unreadable advisory source)."""


# -- per file: integrity and metadata, from the bytes ------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class FileResult:
    filename: str
    sha256: str  # the catalog's
    read_sha256: str  # of the bytes read from the cache: the same, unless an integrity problem says otherwise
    problems: tuple[tuple[FindingKind, str], ...]  # (kind, message): integrity or metadata
    metadata_sha256: str | None  # of the wheel's METADATA; None for sdists or when unreadable
    fields: MetadataFields | None  # None when the metadata could not be read
    licence_files: tuple[LicenceFile, ...] = ()  # read when asked (wheels; an sdist with no wheel)
    field_match: Match | None = None  # the matcher's reading of a whole licence text in ``License``


def check_file(
    cache: str,
    filename: str,
    sha256: str,
    size: int,
    project: str,
    version: str,
    scratch: str,
    licences: bool = True,
) -> FileResult:
    """Check one cached file. Top-level and picklable: runs in worker processes."""
    path = blob_path(Path(cache), sha256)
    problems: list[tuple[FindingKind, str]] = []
    digest = hashlib.sha256()
    got = 0
    with path.open("rb") as fh:
        before = os.fstat(fh.fileno())
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            got += len(chunk)
    read_sha256 = digest.hexdigest()
    if read_sha256 == sha256 and got == size:
        with contextlib.suppress(OSError):  # build will not hash it again (unless it changes)
            after = path.stat()
            if (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, got, before.st_mtime_ns):
                record_verified(Path(cache), sha256, after)

    def result(
        metadata_sha256: str | None = None,
        fields: MetadataFields | None = None,
        licence_files: tuple[LicenceFile, ...] = (),
        field_match: Match | None = None,
    ) -> FileResult:
        return FileResult(
            filename=filename,
            sha256=sha256,
            read_sha256=read_sha256,
            problems=tuple(problems),
            metadata_sha256=metadata_sha256,
            fields=fields,
            licence_files=licence_files,
            field_match=field_match,
        )

    if read_sha256 != sha256 or got != size:
        problems.append(
            (
                "integrity",
                f"cached bytes do not match the catalog (sha256 {read_sha256}, {got} bytes); "
                "delete the cache entry and run `curate fetch`",
            )
        )
        return result()
    meta: bytes | None = None
    metadata_sha256: str | None = None
    try:
        if filename.endswith(".whl"):
            name, ver = _wheel_name_version(filename)
            meta = _check_wheel(path, problems)
            if meta is not None:
                metadata_sha256 = hashlib.sha256(meta).hexdigest()
                _store_metadata(metadata_path(Path(cache), sha256), meta)
        else:
            name, ver = _sdist_name_version(filename)
            meta = _check_sdist(path, filename, problems)
    except (ArchiveError, InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        problems.append(("integrity", str(exc)))
        return result()
    fields: MetadataFields | None = None
    licence_files: tuple[LicenceFile, ...] = ()
    field_match: Match | None = None
    if meta is not None:
        fields = _fields(meta)
        _check_identity(fields, filename, name, ver, project, version, problems)
        _twine_check(path, filename, sha256, Path(scratch), meta, problems)
        if licences and all(kind == "metadata-version" for kind, _ in problems):
            try:
                memo = Path(cache) / "licences" / MATCHER_VERSION  # askalono's answers by text sha256
                licence_files = read_licence_files(path, filename, fields.license_files, memo)
            except ArchiveError as exc:
                problems.append(("integrity", str(exc)))
            if "\n" in fields.license.strip():
                field_match = identify(fields.license)
    return result(metadata_sha256, fields, licence_files, field_match)


def _store_metadata(target: Path, meta: bytes) -> None:
    """Put the extracted METADATA in the cache: a temporary file renamed into place.

    Unlike :func:`curate.atomic.atomic_write` there is no fsync (it costs more than the rest of
    vetting a small wheel): the file is reproducible from the cached wheel, and the catalog records
    its sha256 (``metadata_sha256``), so a reader can tell a file cut short by a power failure.
    """
    try:
        if target.read_bytes() == meta:
            return
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(meta)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _wheel_name_version(filename: str) -> tuple[str, Version]:
    name, ver, _, _ = parse_wheel_filename(filename)
    return name, ver


def _sdist_name_version(filename: str) -> tuple[str, Version]:
    name, ver = parse_sdist_filename(filename)
    return name, ver


def _unsafe(member: str) -> bool:
    """An archive path that would land outside the folder it is unpacked into."""
    p = PurePosixPath(member.replace("\\", "/"))
    if not p.parts:
        return True
    return p.is_absolute() or ".." in p.parts or ":" in p.parts[0]


def _member_digest(zf: zipfile.ZipFile, member: str, algo: str) -> str:
    """A member's RECORD-style digest, read in chunks (never the whole member in memory)."""
    h = hashlib.new(algo)
    with zf.open(member) as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def _check_wheel(path: Path, problems: list[tuple[FindingKind, str]]) -> bytes | None:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        problems.append(("integrity", f"not a zip archive: {exc}"))
        return None
    with zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
        bad = sorted(n for n in names if _unsafe(n))
        if bad:
            problems.append(("integrity", f"unsafe path in archive: {bad[0]}"))
            return None
        unsafe = zip_problems(zf, path.stat().st_size)  # before anything is inflated
        if unsafe:
            problems.extend(("integrity", p) for p in unsafe)
            return None
        try:
            meta_name = wheel_metadata_name(names)
        except ArchiveError as exc:
            problems.append(("integrity", str(exc)))
            return None
        dist_info = meta_name.rsplit("/", 1)[0]
        record_name = f"{dist_info}/RECORD"
        try:
            meta = read_zip_member(zf, meta_name)
            record = read_zip_member(zf, record_name).decode("utf-8")
        except KeyError:
            problems.append(("integrity", f"no {record_name}"))
            return None
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError, EOFError, ArchiveError) as exc:
            problems.append(("integrity", f"cannot read {meta_name}: {exc}"))
            return None
        listed: dict[str, str] = {}
        for row in csv.reader(io.StringIO(record)):
            if row:
                listed[row[0]] = row[1] if len(row) > 1 else ""
        mismatched: list[str] = []
        unhashed: list[str] = []
        for member in names:
            if member == record_name or member.endswith((".dist-info/RECORD.jws", ".dist-info/RECORD.p7s")):
                continue
            if member not in listed:
                unhashed.append(member)
                continue
            algo, _, value = listed[member].partition("=")
            if algo not in ("sha256", "sha384", "sha512", "blake2b") or not value:
                unhashed.append(member)
                continue
            try:
                digest = _member_digest(zf, member, algo)  # streamed: a member can be gigabytes
            except (zipfile.BadZipFile, OSError, EOFError) as exc:  # CRC errors land here
                mismatched.append(f"{member} ({exc})")
                continue
            if digest != value:
                mismatched.append(member)
        missing = sorted(set(listed) - set(names) - {record_name})
        if mismatched:
            problems.append(
                (
                    "integrity",
                    f"RECORD hash does not match for {len(mismatched)} file(s): {', '.join(sorted(mismatched)[:3])}",
                )
            )
        if unhashed:
            problems.append(
                (
                    "integrity",
                    f"{len(unhashed)} file(s) not in RECORD with a sha256 hash: {', '.join(sorted(unhashed)[:3])}",
                )
            )
        if missing:
            problems.append(
                (
                    "integrity",
                    f"RECORD lists {len(missing)} file(s) the wheel lacks: {', '.join(missing[:3])}",
                )
            )
        return meta


def _check_sdist(path: Path, filename: str, problems: list[tuple[FindingKind, str]]) -> bytes | None:
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                names = [i.filename for i in zf.infolist() if not i.is_dir()]
                pkg_info = _pkg_info_member(names)
                bad = sorted(n for n in names if _unsafe(n))
                if bad:
                    problems.append(("integrity", f"unsafe path in archive: {bad[0]}"))
                    return None
                unsafe = zip_problems(zf, path.stat().st_size)
                if unsafe:
                    problems.extend(("integrity", p) for p in unsafe)
                    return None
                if pkg_info is None:
                    problems.append(("integrity", "no PKG-INFO at the top of the sdist"))
                    return None
                return read_zip_member(zf, pkg_info)
        # one pass, front to back, never inflating more than the archive's budget
        scan = scan_tar(path, keep=lambda m: m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"))
        unsafe = tar_problems(scan.members)
        if unsafe:
            problems.extend(("integrity", p) for p in unsafe)
            return None
        pkg_info = _pkg_info_member([m.name for m in scan.members if m.isfile()])
        if pkg_info is None:
            problems.append(("integrity", "no PKG-INFO at the top of the sdist"))
            return None
        return scan.kept[pkg_info]
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, ArchiveError) as exc:
        problems.append(("integrity", f"archive does not open: {exc}"))
        return None


def _pkg_info_member(names: Sequence[str]) -> str | None:
    found = sorted(n for n in names if n.count("/") == 1 and n.endswith("/PKG-INFO"))
    return found[0] if found else None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class MetadataFields:
    """What vetting reads of a file's core metadata (a wheel's METADATA, an sdist's PKG-INFO)."""

    name: str
    version: str
    summary: str  # on one line
    license_expression: str
    license: str
    classifiers: tuple[str, ...]
    home_page: str
    project_urls: tuple[str, ...]
    requires_dist: tuple[str, ...]
    license_files: tuple[str, ...] = ()  # License-File entries (PEP 639)


def _fields(meta: bytes) -> MetadataFields:
    msg = BytesParser(policy=compat32).parsebytes(meta)

    def one(key: str) -> str:
        value = msg.get(key)
        return str(value).strip() if value is not None else ""

    def many(key: str) -> tuple[str, ...]:
        return tuple(str(v).strip() for v in msg.get_all(key) or ())

    return MetadataFields(
        name=one("Name"),
        version=one("Version"),
        summary=" ".join(one("Summary").split()),
        license_expression=one("License-Expression"),
        license=str(msg.get("License") or ""),
        classifiers=many("Classifier"),
        home_page=one("Home-page"),
        project_urls=many("Project-URL"),
        requires_dist=many("Requires-Dist"),
        license_files=many("License-File"),
    )


def _check_identity(
    fields: MetadataFields,
    filename: str,
    name: str,
    ver: Version,
    project: str,
    version: str,
    problems: list[tuple[FindingKind, str]],
) -> None:
    meta_name, meta_version = fields.name, fields.version
    if not meta_name or not meta_version:
        problems.append(("metadata", "the metadata has no Name or no Version"))
        return
    if canonicalize_name(meta_name) != canonicalize_name(name):
        problems.append(("metadata", f"metadata Name '{meta_name}' does not match the file name ({name})"))
    elif canonicalize_name(meta_name) != canonicalize_name(project):
        problems.append(("metadata", f"metadata Name '{meta_name}' is not the catalog's project '{project}'"))
    try:
        mv = Version(meta_version)
    except InvalidVersion:
        problems.append(("metadata", f"metadata Version '{meta_version}' is not a valid version"))
        return
    if mv != ver:
        problems.append(("metadata", f"metadata Version {meta_version} does not match the file name ({ver})"))
    elif mv != Version(version):
        problems.append(
            ("metadata", f"metadata Version {meta_version} is not the catalog's version {version}")
        )


def newer_fields(meta: bytes) -> str | None:
    """When the only fault of ``meta`` is that it uses fields newer than its own ``Metadata-Version``
    (hatchling wrote ``License-Expression`` under 2.1 for years): those fields, said for a finding.
    None when it declares no such field or is invalid for another reason too."""
    from packaging import metadata as pm

    raw, _ = pm.parse_email(meta)
    declared = raw.get("metadata_version")
    if not isinstance(declared, str):
        return None
    try:
        declared_version = Version(declared)
    except InvalidVersion:
        return None
    newer: list[tuple[str, str]] = []
    for key in raw:
        added = getattr(pm.Metadata.__dict__.get(key), "added", None)  # packaging's field validators
        if isinstance(added, str) and Version(added) > declared_version:
            newer.append((key.replace("_", "-"), added))
    if not newer:
        return None
    try:  # valid had it declared the version that introduced them?
        pm.Metadata.from_raw(
            {**raw, "metadata_version": max((a for _, a in newer), key=Version)}, validate=True
        )
    except (ExceptionGroup, ValueError):
        return None
    fields = ", ".join(f"{name} (introduced in {added})" for name, added in sorted(newer))
    return (
        f"Metadata-Version {declared} but it uses {fields}; otherwise valid "
        "(installers read it; twine check and index upload rules refuse it)"
    )


def _twine_check(
    path: Path,
    filename: str,
    sha256: str,
    scratch: Path,
    meta: bytes,
    problems: list[tuple[FindingKind, str]],
) -> None:
    """``twine check`` on the file under its real name (a symlink in a scratch folder). Metadata that is
    only older than the fields it uses is a ``metadata-version`` finding (warn by default), not ``metadata``."""
    from twine import exceptions as twine_exceptions
    from twine.commands import check as twine_check

    link = scratch / filename
    try:
        os.symlink(path.resolve(), link)
    except FileExistsError:
        if link.resolve() != path.resolve():  # the same name for other bytes: a folder of its own
            (scratch / sha256).mkdir(exist_ok=True)
            link = scratch / sha256 / filename
            with contextlib.suppress(FileExistsError):
                os.symlink(path.resolve(), link)
    stream = twine_check._WarningStream()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, ok = twine_check._check_file(str(link), stream)
    except twine_exceptions.InvalidDistribution as exc:
        newer = newer_fields(meta)
        if newer is not None:
            problems.append(("metadata-version", newer))
        else:
            problems.append(("metadata", f"twine check: {exc}"))
        return
    except Exception as exc:  # twine raising anything else is a failed check, not a crash of the run
        problems.append(("metadata", f"twine check failed: {type(exc).__name__}: {exc}"))
        return
    if not ok:
        detail = str(stream).splitlines()[0] if str(stream) else "markup errors"
        problems.append(("metadata", f"twine check: the long description does not render ({detail})"))


# -- per version: the judgement (pure) -----------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Observation:
    """What a check found, before the policy decides what it means (a :class:`Finding` then)."""

    id: str
    kind: FindingKind
    message: str
    severity: str = ""
    file: str = ""
    location: str = ""
    aliases: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Description:
    """What the version's metadata says of it (from a wheel when there is one, else the sdist)."""

    summary: str = ""
    license: str = ""
    license_source: LicenseSource = "none"
    license_note: str = ""
    license_files: tuple[LicenseFileEvidence, ...] = ()
    home_page: str = ""
    requires_dist: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Context:
    """What a version's judgement depends on besides its files."""

    project: str
    policy: Vetting
    today: dt.date
    advisories: tuple[Advisory, ...] = ()
    lookalikes: tuple[tuple[str, int, str], ...] = ()  # (name, distance, "popular" | "catalog")
    advisories_source: AdvisorySourceKind = "none"  # where vulnerabilities are looked up ("none": not)
    code_scan: CodeScan | None = None  # the suspicious-code scan of the version's files


def sdist_only_targets(version: VersionEntry) -> list[str]:
    """Targets of the version that no wheel serves (an sdist must be built there).

    ``curate lock`` records them in ``build_targets``; for a catalog written otherwise they are
    worked out from the files' targets. Vetting reports them and never rewrites the lock's fields.
    """
    if version.build_targets:
        return sorted(version.build_targets)
    wheel_targets = {t for f in version.files if f.is_wheel for t in f.targets}
    sdist_targets = {t for f in version.files if not f.is_wheel for t in f.targets}
    return (
        sorted((set(version.targets) | sdist_targets) - wheel_targets)
        if any(not f.is_wheel for f in version.files)
        else []
    )


def findings_for(
    version: VersionEntry, results: Mapping[str, FileResult], ctx: Context
) -> tuple[list[Observation], Description]:
    """Every finding of one version, and the descriptive fields (summary, licence, ...)."""
    found: list[Observation] = []
    for f in sorted(version.files, key=lambda f: f.filename):
        r = results[f.filename]
        by_kind: dict[FindingKind, list[str]] = {}
        for kind, message in r.problems:
            by_kind.setdefault(kind, []).append(message)
        for kind, messages in sorted(by_kind.items()):
            found.append(Observation(id=kind, kind=kind, file=f.filename, message="; ".join(messages)))
    if ctx.code_scan is not None:
        found.extend(code_observations(ctx.code_scan))
    primary = _primary(version, results)
    fields = primary.fields if primary is not None else None
    licence_files, evidence = _licence_files(version, results)
    lic = license_of(
        license_expression=(fields.license_expression or None) if fields is not None else None,
        license=(fields.license or None) if fields is not None else None,
        classifiers=fields.classifiers if fields is not None else (),
        files=licence_files,
        field_match=primary.field_match if primary is not None else None,
    )
    if lic.expression:
        v = verdict(lic.expression, ctx.policy.license_allow, ctx.policy.license_deny)
        if v == "denied":
            found.append(
                Observation(
                    id="license-denied",
                    kind="license-denied",
                    message=f"licence {lic.expression} is on the deny list",
                )
            )
        elif v == "unknown":
            found.append(
                Observation(
                    id="license-unknown",
                    kind="license-unknown",
                    message=f"licence {lic.expression} is neither allowed nor denied: needs review",
                )
            )
    elif fields is not None:
        found.append(
            Observation(id="license-unknown", kind="license-unknown", message=f"{lic.note}: needs review")
        )
    if lic.conflict:
        found.append(
            Observation(
                id="license-conflict",
                kind="license-conflict",
                message=f"the licence sources disagree: {lic.conflict}",
            )
        )
    name = normalize(ctx.project)
    for adv in ctx.advisories:
        fixed = tuple(adv.fixed_versions(name))
        message = adv.summary or "known vulnerability"
        message += f" (fixed in {', '.join(fixed)})" if fixed else " (no fixed version)"
        found.append(
            Observation(
                id=adv.id,
                kind="vulnerability",
                severity=adv.severity,
                message=message,
                aliases=adv.aliases,
                fixed=fixed,
            )
        )
    yanked_files = [f for f in version.files if f.yanked is not None]
    if version.yanked is not None or (yanked_files and len(yanked_files) == len(version.files)):
        reason = version.yanked if version.yanked is not None else yanked_files[0].yanked
        found.append(
            Observation(id="yanked", kind="yanked", message=f"yanked upstream: {reason or 'no reason given'}")
        )
    else:
        for f in yanked_files:
            found.append(
                Observation(
                    id="yanked",
                    kind="yanked",
                    file=f.filename,
                    message=f"yanked upstream: {f.yanked or 'no reason given'}",
                )
            )
    build = sdist_only_targets(version)
    if build:
        sdists = sorted(f.filename for f in version.files if not f.is_wheel)
        found.append(
            Observation(
                id="sdist-only",
                kind="sdist-only",
                file=sdists[0] if sdists else "",
                message=f"no wheel for {len(build)} target(s), built from the sdist there: {_targets_text(build)}",
            )
        )
    if ctx.lookalikes:
        near = ", ".join(f"'{n}' ({where}, distance {d})" for n, d, where in ctx.lookalikes)
        found.append(
            Observation(
                id="lookalike",
                kind="lookalike",
                message=f"name '{name}' looks like {near}: is this the project that was meant?",
            )
        )
    too_new = too_new_text(version.files, _cooldown(ctx))
    if too_new is not None:
        found.append(Observation(id=TOO_NEW, kind=TOO_NEW, message=too_new))
    found.extend(differs_from_sdist(version))
    info = Description(
        summary=fields.summary if fields is not None else "",
        license=lic.expression,
        license_source=lic.source,
        license_note=lic.note if lic.expression else "",
        license_files=evidence,
        home_page=_home_page(fields) if fields is not None else "",
        requires_dist=tuple(sorted(set(fields.requires_dist))) if fields is not None else (),
    )
    return found, info


WHEEL_DIFFERS: FindingKind = "wheel-differs-from-sdist"


def differs_from_sdist(version: VersionEntry) -> list[Observation]:
    """``wheel-differs-from-sdist`` for each upstream wheel of the version that ``curate wheels``
    (``build.from_source: pure``) found to differ from a build of its vetted sdist."""
    served = {f.filename for f in version.files}
    out = []
    for b in sorted(version.built, key=lambda b: b.compared_with):
        if b.upstream_differs and b.compared_with in served:
            parts = [f"adds {', '.join(b.added)}"] if b.added else []
            parts += [f"changes {', '.join(b.changed)}"] if b.changed else []
            out.append(
                Observation(
                    id=WHEEL_DIFFERS,
                    kind=WHEEL_DIFFERS,
                    file=b.compared_with,
                    message=f"the upstream wheel is not what its sdist {b.sdist} builds: it {'; it '.join(parts)}",
                )
            )
    return out


def _comparisons(version: VersionEntry) -> list[list[object]]:
    return [
        [b.compared_with, b.sdist_sha256, list(b.added), list(b.changed)]
        for b in sorted(version.built, key=lambda b: b.compared_with)
        if b.compared_with
    ]


def _cooldown(ctx: Context) -> Cooldown:
    return Cooldown(days=ctx.policy.min_release_age_days, as_of=ctx.today)


def code_observations(scan: CodeScan) -> list[Observation]:
    """One finding per rule and file: where it matched first, and where else."""
    groups: dict[tuple[str, str], list[CodeHit]] = {}
    for hit in scan.hits:
        groups.setdefault((hit.rule, hit.file), []).append(hit)
    out = []
    for (rule, file), hits in sorted(groups.items()):
        first, more = hits[0], hits[1:]
        message = first.message
        if more:
            shown = ", ".join(h.location for h in more[:5]) + (" ..." if len(more) > 5 else "")
            message += f" (also at {shown})"
        out.append(
            Observation(
                id=rule,
                kind="suspicious-code",
                file=file,
                location=first.location,
                message=message,
            )
        )
    return out


def _licence_files(
    version: VersionEntry, results: Mapping[str, FileResult]
) -> tuple[list[LicenceFile], tuple[LicenseFileEvidence, ...]]:
    """The licence files of the version's wheels (of its sdist when it has no wheel), each distinct
    text once, and the evidence recorded of them."""
    wheels = sorted(f.filename for f in version.files if f.is_wheel)
    readers = [n for n in wheels if n in results] or sorted(
        f.filename for f in version.files if not f.is_wheel and f.filename in results
    )
    carried: dict[tuple[str, str], tuple[LicenceFile, list[str]]] = {}
    for name in readers:
        for lf in results[name].licence_files:
            carried.setdefault((lf.path, lf.sha256), (lf, []))[1].append(name)
    files = [lf for lf, _ in carried.values()]
    evidence = tuple(
        LicenseFileEvidence(
            path=lf.path,
            sha256=lf.sha256,
            licenses=lf.licenses,
            closest=lf.match.license if lf.match is not None else "",
            score=lf.match.score if lf.match is not None else 0.0,
            files=() if len(names) == len(readers) else tuple(names),
        )
        for (_, _), (lf, names) in sorted(carried.items())
    )
    return sorted(files, key=lambda f: (f.path, f.sha256)), evidence


def _targets_text(targets: Sequence[str]) -> str:
    """``linux-x86_64 (py3.11, py3.12), windows-amd64 (py3.12)``: targets grouped by platform."""
    groups: dict[str, list[str]] = {}
    for t in sorted(targets):
        platform, sep, python = t.rpartition("-py")
        groups.setdefault(platform if sep else t, []).append(f"py{python}" if sep else "")
    return ", ".join(
        f"{p} ({', '.join(x for x in pys if x)})" if any(pys) else p for p, pys in groups.items()
    )


def _primary(version: VersionEntry, results: Mapping[str, FileResult]) -> FileResult | None:
    ordered = sorted(version.files, key=lambda f: (not f.is_wheel, f.filename))
    for f in ordered:
        r = results.get(f.filename)
        if r is not None and r.fields is not None:
            return r
    return None


def _home_page(fields: MetadataFields) -> str:
    if fields.home_page:
        return fields.home_page
    urls: dict[str, str] = {}
    for item in fields.project_urls:
        label, _, url = item.partition(",")
        key = "".join(c for c in label.lower() if c.isalnum())
        urls.setdefault(key, url.strip())
    for key in ("homepage", "home", "source", "sourcecode", "repository"):
        if urls.get(key):
            return urls[key]
    return ""


def waivers_matching(
    ids: Iterable[str], project: str, version: str, waivers: Iterable[Waiver]
) -> list[Waiver]:
    """Every waiver that names one of these finding ids (an id or an alias), this project and version."""
    wanted = set(ids)
    return [w for w in waivers if any(w.covers(i, project, version) for i in wanted)]


def waiver_for(found: Observation, project: str, version: str, waivers: Iterable[Waiver]) -> Waiver | None:
    """The waiver covering this finding: the latest-expiring one when several match."""
    matching = waivers_matching((found.id, *found.aliases), project, version, waivers)
    return max(matching, key=lambda w: (w.expires, w.id)) if matching else None


def decide(
    found: Iterable[Observation], project: str, version: str, ctx: Context
) -> tuple[tuple[Finding, ...], Status]:
    """Apply the policy and the waivers; kinds in neither ``block`` nor ``warn`` are not reported."""
    out: list[Finding] = []
    rules = ctx.policy.rule_decisions()
    for f in sorted(found, key=lambda f: (_KIND_ORDER[f.kind], f.id, f.file, f.location, f.message)):
        if f.kind not in ctx.policy.block and f.kind not in ctx.policy.warn:
            continue
        decision: Decision = "block" if f.kind in ctx.policy.block else "warn"
        if f.kind == "suspicious-code":  # each rule has its own decision (vetting.code_rules)
            rule = rules.get(f.id, "warn")
            if rule == "off":
                continue
            decision = rule
        message = f.message
        waiver = waiver_for(f, project, version, ctx.policy.waivers)
        applied = None
        if waiver is not None:
            applied = AppliedWaiver(justification=waiver.justification, expires=waiver.expires)
            if waiver.expires >= ctx.today:
                decision = "waived"
            else:
                message += f" (waiver expired on {waiver.expires.isoformat()})"
        out.append(
            Finding(
                id=f.id,
                kind=f.kind,
                severity=f.severity,
                file=f.file,
                location=f.location,
                message=message,
                aliases=tuple(sorted(f.aliases)),
                fixed=f.fixed,
                decision=decision,
                waiver=applied,
            )
        )
    return tuple(out), status_of(out)


def inputs_digest(version: VersionEntry, ctx: Context, advisory_digests: Sequence[str]) -> str:
    """sha256 over everything a version's vetting depends on; file contents are named by their sha256."""
    policy = ctx.policy
    relevant = [
        {**w.to_dict(), "expired": w.expires < ctx.today}
        for w in sorted(policy.waivers, key=lambda w: (w.id, w.versions, w.expires))
        if normalize(w.project) == normalize(ctx.project)
    ]
    doc = {
        "schema": SCHEMA,
        "project": normalize(ctx.project),
        "version": version.version,
        "yanked": version.yanked,
        "build_targets": sdist_only_targets(version),
        "files": [
            [f.filename, f.sha256, f.size, f.yanked] for f in sorted(version.files, key=lambda f: f.filename)
        ],
        "policy": policy.digest(),
        "waivers": relevant,
        "advisories": sorted(advisory_digests),
        "lookalikes": [list(x) for x in ctx.lookalikes],
        "advisories_source": ctx.advisories_source,
        "too_new": too_new_text(version.files, _cooldown(ctx)),  # changes once, when it becomes eligible
        "code_ruleset": ruleset_id(dict(policy.code_rules)),
        "licence_matcher": MATCHER_VERSION,
        "licence_reading": LICENCE_READING,
    }
    compared = _comparisons(version)
    if compared:  # only then: the digests of versions curate wheels never compared stay
        doc["compared"] = compared
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


# -- the run ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class VersionFinding:
    """A recorded finding, with the project version it is about."""

    project: str
    version: str
    finding: Finding


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class VetReport:
    versions: int
    vetted: int  # versions whose inputs changed (the rest were kept)
    files_checked: int
    changed: tuple[str, ...]  # project files rewritten
    counts: dict[Status, int]  # status -> versions
    blockers: tuple[VersionFinding, ...]
    warnings: tuple[VersionFinding, ...]
    unused_waivers: tuple[Waiver, ...] = ()  # waivers no recorded finding matches (a typo, or obsolete)
    advisories: str = ""  # whether known vulnerabilities were checked, against what, which day's data
    not_checked: int = 0  # versions whose record says known vulnerabilities were not checked
    scanned: int = 0  # versions whose files the suspicious-code scan read in this run
    scans_reused: int = 0  # versions vetted again whose scan (same files, same ruleset) was reused


def lookalikes_for(
    projects: Mapping[NormalizedName, Project], distance: int, popular: frozenset[NormalizedName]
) -> dict[NormalizedName, tuple[tuple[str, int, str], ...]]:
    """Look-alike neighbours of each project to check: those not popular themselves and new to the
    catalog (never vetted), or already carrying a look-alike finding (it stays until renamed or waived)."""
    if distance <= 0:
        return {}
    candidates = []
    for name, project in projects.items():
        if name in popular:
            continue
        vetted_before = [v.vetting for v in project.versions if v.vetting is not None]
        flagged_before = any(f.kind == "lookalike" for v in vetted_before for f in v.findings)
        if not vetted_before or flagged_before:
            candidates.append(name)
    if not candidates:
        return {}
    popular_index = NameIndex(popular, distance)
    catalog_index = NameIndex(projects, distance)
    out: dict[NormalizedName, tuple[tuple[str, int, str], ...]] = {}
    for name in sorted(candidates):
        near: dict[str, tuple[int, str]] = {}
        for other, d in popular_index.near(name):
            near[other] = (d, "popular")
        for other, d in catalog_index.near(name):
            near.setdefault(other, (d, "catalog"))
        if near:
            out[name] = tuple(sorted(((n, d, w) for n, (d, w) in near.items()), key=lambda x: (x[1], x[0])))
    return out


def advisory_source(
    root: Path,
    config: Config,
    env: Mapping[str, str],
    override: Path | None,
    names: Sequence[str],
    *,
    none: bool = False,
) -> AdvisorySource:
    """Where known vulnerabilities come from: nowhere when ``none`` (--no-advisories), ``override`` (a
    directory of OSV files), else ``vetting.advisories`` in the config (``$CURATE_OSV_API_URL`` points
    osv-api at another instance)."""
    if none:
        return NoAdvisories("curate vet --no-advisories")
    if override is not None:
        return OsvDirectory.load(override, list(names))
    source = config.vetting.advisories_source
    if source == "osv-dir":
        return OsvDirectory.load(root / config.vetting.advisories_path, list(names))
    if source == "osv-api":
        from curate.httpclient import HttpClient

        return OsvApi(
            env.get("CURATE_OSV_API_URL") or OSV_API_URL, client=HttpClient(env, limits=config.http_limits())
        )
    return NoAdvisories()


def vet_repository(
    *,
    root: Path,
    env: Mapping[str, str],
    today: dt.date,
    cache_dir: Path | None = None,
    advisories_dir: Path | None = None,
    no_advisories: bool = False,
    jobs: int | None = None,
    force: bool = False,
    scan_base: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> VetReport:
    """``curate vet`` on the repository at ``root``: its config, catalog, cache and advisories
    (none with ``no_advisories``: every record then says known vulnerabilities were not checked). One
    run at a time (``curate lock`` and ``curate vet`` hold the catalog's lock: :func:`curate.catalog.writing`).

    ``scan_base``: a git revision whose catalog's suspicious-code scans are reused for the versions it
    has with the same files and ruleset (the others are scanned): a pull request scans only what it adds.
    """
    config = load_config(root)
    cache = cache_root(root, config, env, cache_dir)
    with writing(root, "curate vet"):
        return _vet_repository(
            root=root,
            config=config,
            cache=cache,
            env=env,
            today=today,
            advisories_dir=advisories_dir,
            no_advisories=no_advisories,
            jobs=jobs,
            force=force,
            scan_base=scan_base,
            on_progress=on_progress,
        )


def _vet_repository(
    *,
    root: Path,
    config: Config,
    cache: Path,
    env: Mapping[str, str],
    today: dt.date,
    advisories_dir: Path | None,
    no_advisories: bool,
    jobs: int | None,
    force: bool,
    scan_base: str | None,
    on_progress: Callable[[int, int], None] | None,
) -> VetReport:
    projects = load_catalog_fast(root)
    earlier = None
    if scan_base is not None:
        from curate.diff import catalog_at

        base = catalog_at(root, scan_base, env=env)
        earlier = {
            (name, v.version): v.vetting
            for name, project in base.items()
            for v in project.versions
            if v.vetting is not None
        }
    return vet_catalog(
        root=root,
        projects=projects,
        cache=cache,
        policy=config.vetting,
        advisories=advisory_source(root, config, env, advisories_dir, list(projects), none=no_advisories),
        today=today,
        jobs=jobs,
        force=force,
        scans_from=earlier,
        on_progress=on_progress,
    )


def vet_catalog(
    *,
    root: Path,
    projects: Mapping[NormalizedName, Project],
    cache: Path,
    policy: Vetting,
    advisories: AdvisorySource,
    today: dt.date,
    jobs: int | None = None,
    force: bool = False,
    popular: frozenset[NormalizedName] | None = None,
    scans_from: Mapping[tuple[NormalizedName, str], VettingRecord] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> VetReport:
    """Vet the catalog ``projects``; write what changed under ``root``.

    A version vetted again keeps its suspicious-code scan when the record it is reused from covers the
    same files and names the same ruleset: its own record (unless ``force``), or ``scans_from``'s (the
    records of another revision, by project and version) when given; every other version is scanned.
    """
    wanted = wanted_files(projects.values())
    missing = missing_files(cache, wanted)
    if missing:
        raise VetError(
            format_missing(missing, cache) + "\n    hint: run `curate fetch` first (it downloads them again)"
        )
    looks = lookalikes_for(
        projects, policy.lookalike_distance, popular if popular is not None else popular_projects()
    )

    source_kind: AdvisorySourceKind = advisories.kind if is_advisory_source(advisories.kind) else "none"
    scanning = "suspicious-code" in policy.block or "suspicious-code" in policy.warn
    ruleset = ruleset_id(dict(policy.code_rules))
    plans: list[tuple[Project, VersionEntry, Context, str]] = []
    todo: dict[str, tuple[FileEntry, str, str, bool]] = {}  # sha256 -> (file, project, version, licences)
    to_scan: dict[tuple[str, str], tuple[str, list[FileEntry]]] = {}  # (name, version) -> what to scan
    reused: dict[tuple[str, str], CodeScan] = {}
    for name in sorted(projects):
        project = projects[name]
        for version in project.sorted_versions():
            ctx = Context(
                project=project.name,
                policy=policy,
                today=today,
                advisories=tuple(advisories.for_version(name, version.version)),
                lookalikes=looks.get(name, ()),
                advisories_source=source_kind,
            )
            digest = inputs_digest(version, ctx, advisories.digests(name, version.version))
            plans.append((project, version, ctx, digest))
            if not force and _kept(version, digest) and _metadata_present(cache, version):
                continue
            has_wheel = any(f.is_wheel for f in version.files)
            for f in version.files:
                todo.setdefault(f.sha256, (f, project.name, version.version, f.is_wheel or not has_wheel))
            if scanning:
                source = scans_from.get((name, version.version)) if scans_from is not None else None
                if scans_from is None and not force:
                    source = version.vetting
                earlier = source.code_scan if source is not None else None
                if (
                    earlier is not None
                    and earlier.ruleset == ruleset
                    and source is not None
                    and source.covers(version.files)
                ):
                    reused[(name, version.version)] = earlier
                else:
                    to_scan[(name, version.version)] = (project.name, list(version.files))

    results = _check_files(cache, list(todo.values()), jobs=jobs, on_progress=on_progress)
    # the files check_file found to hold the catalog's bytes: the scan must read those same bytes
    verified = {sha for sha, r in results.items() if r.read_sha256 == sha}
    scans = _scan_versions(cache, to_scan, policy, jobs=jobs, verified=verified)

    blockers: list[VersionFinding] = []
    warns: list[VersionFinding] = []
    used_waivers: set[Waiver] = set()
    counts: dict[Status, int] = {"pass": 0, "warn": 0, "block": 0}
    vetted = 0
    not_checked = 0
    new_versions: dict[str, list[VersionEntry]] = {}
    for project, version, ctx, digest in plans:
        if all(f.sha256 in results for f in version.files) and (
            force or not _kept(version, digest) or not _metadata_present(cache, version)
        ):
            by_name = {f.filename: results[f.sha256] for f in version.files}
            key = (normalize(project.name), version.version)
            scan = reused.get(key) or scans.get(key)
            ctx = dataclasses.replace(ctx, code_scan=scan)
            found, info = findings_for(version, by_name, ctx)
            findings, status = decide(found, project.name, version.version, ctx)
            record = VettingRecord(
                status=status,
                vetted=today,
                policy=policy.digest(),
                advisories=source_kind,
                findings=findings,
                files=tuple(
                    FileEvidence(
                        filename=f.filename,
                        sha256=by_name[f.filename].read_sha256,
                        metadata_sha256=by_name[f.filename].metadata_sha256,
                    )
                    for f in sorted(version.files, key=lambda f: f.filename)
                ),
                summary=info.summary,
                license=info.license,
                license_source=info.license_source,
                license_note=info.license_note,
                license_files=info.license_files,
                home_page=info.home_page,
                requires_dist=info.requires_dist,
                code_scan=scan,
            )
            record = _seal(record, digest, version.vetting)
            version = dataclasses.replace(version, vetting=record)  # the lock's fields stay as they are
            vetted += 1
        recorded = version.vetting
        counts[recorded.status if recorded is not None else "pass"] += 1
        not_checked += recorded is None or not recorded.vulnerabilities_checked
        for finding in recorded.findings if recorded is not None else ():
            used_waivers.update(waivers_matching(finding.ids, project.name, version.version, policy.waivers))
            flagged = VersionFinding(project=project.name, version=version.version, finding=finding)
            if finding.decision == "block":
                blockers.append(flagged)
            elif finding.decision == "warn":
                warns.append(flagged)
        new_versions.setdefault(project.name, []).append(version)
    writes: dict[Path, bytes | None] = {}
    for name in sorted(projects):
        project = projects[name]
        updated = dataclasses.replace(project, versions=tuple(new_versions.get(project.name, [])))
        if updated != project:
            writes[project_path(root, updated.name)] = updated.dumps().encode("utf-8")
    # all or nothing: every result staged first, then renamed in one step (a kill -9 between the
    # renames is completed by the next run), so the catalog never mixes two runs' results
    written = set(replace_catalog_files(root, writes))
    changed = [name for name in sorted(projects) if project_path(root, projects[name].name) in written]
    return VetReport(
        versions=len(plans),
        vetted=vetted,
        files_checked=len(results),
        changed=tuple(changed),
        counts=counts,
        blockers=tuple(blockers),
        warnings=tuple(warns),
        unused_waivers=tuple(w for w in policy.waivers if w not in used_waivers),
        advisories=advisories.describe(today),
        not_checked=not_checked,
        scanned=len(scans),
        scans_reused=len(reused),
    )


def sealed(digest: str, record: VettingRecord) -> str:
    """The recorded ``inputs``: sha256 over the inputs' digest and the result itself, so a hand edit
    of a version's ``vetting`` (a finding deleted, a status changed) makes it look stale, not vetted."""
    result = record.to_dict()
    del result["inputs"]
    return hashlib.sha256(json.dumps([digest, result], sort_keys=True, default=str).encode()).hexdigest()


def _seal(record: VettingRecord, digest: str, previous: VettingRecord | None) -> VettingRecord:
    """The record with its ``inputs``; vetted on the day of ``previous`` when it is the same result of
    the same inputs (``--force``, or the metadata extracted again), so a re-run changes no byte."""
    if previous is not None and previous.vetted is not None:
        again = dataclasses.replace(record, vetted=previous.vetted)
        again = dataclasses.replace(again, inputs=sealed(digest, again))
        if again == previous:
            return again
    return dataclasses.replace(record, inputs=sealed(digest, record))


def _kept(version: VersionEntry, digest: str) -> bool:
    """Whether the recorded result is for these inputs and untouched since ``curate vet`` wrote it."""
    return version.vetting is not None and version.vetting.inputs == sealed(digest, version.vetting)


def _metadata_present(cache: Path, version: VersionEntry) -> bool:
    return all(metadata_path(cache, f.sha256).exists() for f in version.files if f.is_wheel)


def _check_files(
    cache: Path,
    items: list[tuple[FileEntry, str, str, bool]],
    *,
    jobs: int | None,
    on_progress: Callable[[int, int], None] | None,
) -> dict[str, FileResult]:
    results: dict[str, FileResult] = {}
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="curate-vet-") as scratch:
        args = [
            (str(cache), f.filename, f.sha256, f.size, project, version, scratch, licences)
            for f, project, version, licences in items
        ]
        if workers <= 1 or len(items) < 32:
            for i, a in enumerate(args, 1):
                r = check_file(*a)
                results[r.sha256] = r
                if on_progress is not None:
                    on_progress(i, len(args))
            return results
        chunk = max(1, min(64, len(args) // (workers * 4)))
        # Not fork: the calling process may run threads (a server in the tests, a thread pool).
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for i, r in enumerate(pool.map(_check_file_star, args, chunksize=chunk), 1):
                results[r.sha256] = r
                if on_progress is not None:
                    on_progress(i, len(args))
    return results


def _check_file_star(a: tuple[str, str, str, int, str, str, str, bool]) -> FileResult:
    return check_file(*a)


def _scan_versions(
    cache: Path,
    todo: Mapping[tuple[str, str], tuple[str, list[FileEntry]]],
    policy: Vetting,
    *,
    jobs: int | None,
    verified: Set[str] = frozenset(),
) -> dict[tuple[str, str], CodeScan]:
    """The suspicious-code scan of each version in ``todo`` (in worker processes when there are many).

    ``verified``: the sha256 of the files just found to hold the catalog's bytes; VetError when one of
    them no longer does while it is scanned. (A file found to hold other bytes is blocked as
    ``integrity`` by its record, which names the bytes read: its scan does not matter.)"""
    if not todo:
        return {}
    ruleset = ruleset_id(dict(policy.code_rules))
    rules = rules_run(dict(policy.code_rules))
    args = [
        (
            str(cache),
            project,
            tuple(
                (f.filename, f.sha256 if f.sha256 in verified else "", str(blob_path(cache, f.sha256)))
                for f in files
            ),
            rules,
        )
        for project, files in todo.values()
    ]
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if workers <= 1 or len(args) < 16:  # a pool's workers each load GuardDog first (about a second)
        found = [_scan_star(a) for a in args]
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            found = list(pool.map(_scan_star, args))
    altered = sorted({name for _, names in found for name in names})
    if altered:  # nothing is written: vet is all or nothing
        raise VetError(
            "the cache's copy of these files changed while curate vet read them (not the bytes vetted): "
            + ", ".join(altered)
            + "\n    hint: run `curate fetch` (it downloads them again), then `curate vet`"
        )
    return {key: CodeScan(ruleset=ruleset, hits=r.hits) for key, (r, _) in zip(todo, found, strict=True)}


def _scan_star(
    a: tuple[str, str, tuple[tuple[str, str, str], ...], tuple[str, ...]],
) -> tuple[ScanResult, list[str]]:
    """One version's scan, over the cached files as the bytes the catalog names: each one with a
    sha256 is checked to hold it before (by the stamp :func:`check_file` just recorded) and to be
    unchanged after; the files that were not are returned with the result."""
    cache, project, files, rules = a
    before = {}
    altered = []
    for name, sha256, path in files:
        if not sha256:
            continue
        try:
            st = os.stat(path)
        except OSError:
            altered.append(name)
            continue
        if not holds(Path(cache), Path(path), sha256):
            altered.append(name)
        before[name] = stamp_of(st)
    with tempfile.TemporaryDirectory(prefix="curate-scan-") as scratch:
        result = scan_version(project, [(n, Path(p)) for n, _, p in files], rules, Path(scratch))
    for name, _, path in files:
        try:
            if name in before and stamp_of(os.stat(path)) != before[name]:
                altered.append(name)
        except OSError:
            altered.append(name)
    return result, altered


def waiver_snippet(flagged: VersionFinding, today: dt.date) -> str:
    """YAML to paste under ``vetting.waivers`` in catalog/config.yaml to accept this finding."""
    f = flagged.finding
    expires = today + dt.timedelta(days=90)
    return (
        f"- id: {_yaml_scalar(f.id)}\n"
        f"  project: {_yaml_scalar(normalize(flagged.project))}\n"
        f"  versions: {json.dumps('==' + flagged.version)}\n"
        f'  justification: "<why {f.kind} is acceptable here, and who decided>"\n'
        f"  expires: {expires.isoformat()}\n"
    )


def _yaml_scalar(text: str) -> str:
    """``text`` as a YAML scalar that reads back as itself: plain when it is a simple id, else a
    double-quoted (JSON) string, so that an advisory id from the upstream cannot add YAML of its own."""
    return text if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text) else json.dumps(text)
