"""The vetting record's vocabulary and the record itself (curate.vetting)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, get_args

import pytest

from curate.catalog import (
    FileEntry,
    Project,
    VersionEntry,
    load_catalog,
    load_catalog_fast,
    project_path,
    write_project,
)
from curate.config import Vetting, Waiver
from curate.errors import ValidationError
from curate.names import normalize
from curate.vetting import (
    DEFAULT_DECISION,
    FINDING_KINDS,
    AppliedWaiver,
    FileEvidence,
    Finding,
    FindingKind,
    VettingFormatError,
    VettingRecord,
    default_kinds,
    is_finding_kind,
    record_from,
)


def test_every_finding_kind_has_a_policy_default_and_the_config_takes_it() -> None:
    assert get_args(FindingKind) == FINDING_KINDS
    assert list(DEFAULT_DECISION) == list(FINDING_KINDS)  # one line each, in the same order
    policy = Vetting()
    assert set(policy.block) | set(policy.warn) == set(FINDING_KINDS)
    assert (
        policy.block
        == default_kinds("block")
        == ("integrity", "metadata", "license-denied", "vulnerability", "wheel-differs-from-sdist")
    )
    assert policy.warn == (
        "metadata-version",
        "suspicious-code",
        "license-unknown",
        "license-conflict",
        "yanked",
        "sdist-only",
        "lookalike",
        "too-new",
    )


def test_is_finding_kind() -> None:
    assert is_finding_kind("yanked")
    assert not is_finding_kind("Yanked")
    assert not is_finding_kind(None)


# -- the record ----------------------------------------------------------------------------------------

AS_VET_WRITES: dict[str, Any] = {
    "summary": "HTTP for humans",
    "license": "MIT",
    "license_source": "License-Expression",
    "license_note": "",
    "license_files": [
        {
            "path": "licenses/LICENSE",
            "sha256": "d" * 64,
            "licenses": ["MIT"],
            "closest": "MIT",
            "score": 1.0,
            "files": [],
        }
    ],
    "home_page": "https://httpish.upstream.example/",
    "requires_dist": ["certy>=2024"],
    "status": "warn",
    "findings": [
        {
            "id": "GHSA-xxxx-yyyy-zzzz",
            "kind": "vulnerability",
            "severity": "high",
            "file": "",
            "location": "",
            "message": "header injection (fixed in 1.3)",
            "aliases": ["CVE-2026-0001"],
            "fixed": ["1.3"],
            "decision": "waived",
            "waiver": {"justification": "internal hosts only", "expires": "2027-01-31"},
        },
        {
            "id": "yanked",
            "kind": "yanked",
            "severity": "",
            "file": "httpish-1.2.tar.gz",
            "location": "",
            "message": "yanked upstream: broken",
            "aliases": [],
            "fixed": [],
            "decision": "warn",
            "waiver": None,
        },
    ],
    "files": {
        "httpish-1.2-py3-none-any.whl": {"metadata_sha256": "a" * 64},
        "httpish-1.2.tar.gz": {"metadata_sha256": None},
    },
    "code_scan": {
        "ruleset": "guarddog-3.2.0+curate-1:0123456789abcdef",
        "hits": [
            {
                "rule": "pth-exec",
                "file": "httpish-1.2-py3-none-any.whl",
                "path": "httpish.pth",
                "line": 1,
                "message": "runs at every interpreter start: `import httpish._boot`",
            }
        ],
    },
    "inputs": "b" * 64,
}


def test_a_record_as_curate_vet_writes_it_round_trips() -> None:
    record = VettingRecord.from_dict(AS_VET_WRITES)
    assert record.to_dict() == AS_VET_WRITES
    assert list(record.to_dict()) == list(AS_VET_WRITES)  # the on-disk key order too
    waived, yanked = record.findings
    assert waived == Finding(
        id="GHSA-xxxx-yyyy-zzzz",
        kind="vulnerability",
        decision="waived",
        severity="high",
        message="header injection (fixed in 1.3)",
        aliases=("CVE-2026-0001",),
        fixed=("1.3",),
        waiver=AppliedWaiver(justification="internal hosts only", expires=dt.date(2027, 1, 31)),
    )
    assert waived.ids == {"GHSA-xxxx-yyyy-zzzz", "CVE-2026-0001"}
    assert (yanked.kind, yanked.file, yanked.waiver) == ("yanked", "httpish-1.2.tar.gz", None)
    assert record.status == "warn"
    assert not record.blocked
    assert record.metadata_sha256("httpish-1.2-py3-none-any.whl") == "a" * 64
    assert record.metadata_sha256("httpish-1.2.tar.gz") is None
    assert record.metadata_sha256("other.whl") is None


def test_not_vetted_yet_is_none_and_written_back_as_an_empty_mapping() -> None:
    assert record_from({}) is None
    assert record_from(None) is None
    version = VersionEntry.from_dict({"version": "1.0", "vetting": {}})
    assert version.vetting is None
    assert version.to_dict()["vetting"] == {}
    assert VersionEntry.from_dict({"version": "1.0"}).vetting is None


def test_a_partial_record_reads_with_defaults_and_its_status_from_the_findings() -> None:
    record = VettingRecord.from_dict({"findings": [{"id": "x", "kind": "yanked", "decision": "warn"}]})
    assert record.status == "warn"
    assert record.findings[0].message == ""
    assert record.license_source == "none"
    assert VettingRecord.from_dict({"findings": [{"id": "y", "kind": "yanked", "decision": "block"}]}).blocked
    assert VettingRecord.from_dict({"summary": "s"}).status == "pass"
    assert VettingRecord.from_dict({"status": "blocked"}).status == "block"  # the index's old spelling
    # YAML may give an unquoted expiry as a date
    f = Finding.from_dict(
        {
            "id": "x",
            "kind": "yanked",
            "decision": "waived",
            "waiver": {"justification": "j", "expires": dt.date(2027, 1, 1)},
        }
    )
    assert f.waiver is not None
    assert f.waiver.expires == dt.date(2027, 1, 1)


@pytest.mark.parametrize(
    ("vetting", "key", "message"),
    [
        ({"status": "fine"}, "status", "unknown status 'fine'"),
        ({"findings": {"id": "x"}}, "findings", "expected a list, got dict"),
        ({"findings": ["x"]}, "findings[0]", "expected a mapping, got str"),
        ({"findings": [{"kind": "yanked", "decision": "warn"}]}, "findings[0].id", "missing"),
        (
            {"findings": [{"id": "x", "kind": "typo", "decision": "warn"}]},
            "findings[0].kind",
            "unknown finding kind 'typo'",
        ),
        (
            {"findings": [{"id": "x", "kind": "yanked", "decision": "ok"}]},
            "findings[0].decision",
            "unknown decision 'ok'",
        ),
        (
            {
                "findings": [
                    {"id": "x", "kind": "yanked", "decision": "waived", "waiver": {"expires": "soon"}}
                ]
            },
            "findings[0].waiver.expires",
            "not a date: 'soon'",
        ),
        (
            {"findings": [{"id": "x", "kind": "yanked", "decision": "warn", "aliases": [{}]}]},
            "findings[0].aliases[0]",
            "expected text, got dict",
        ),
        ({"files": ["a.whl"]}, "files", "expected a mapping, got list"),
        ({"license_source": "a guess"}, "license_source", "unknown licence source 'a guess'"),
        ({"summary": ["a", "list"]}, "summary", "expected text, got list"),
        ({"advisories": "the web"}, "advisories", "unknown advisory source 'the web'"),
    ],
)
def test_a_malformed_record_says_where(vetting: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(VettingFormatError) as info:
        VettingRecord.from_dict(vetting)
    assert str(info.value) == f"{key}: {message}"


def test_a_malformed_record_in_a_catalog_file_names_the_line_and_the_fix(tmp_path: Path) -> None:
    version = VersionEntry(version="1.0", vetting=VettingRecord.from_dict(AS_VET_WRITES))
    write_project(tmp_path, Project(name="httpish", versions=(VersionEntry(version="0.9"), version)))
    path = project_path(tmp_path, "httpish")
    text = path.read_text("utf-8")
    path.write_text(text.replace("kind: yanked", "kind: yankd"), "utf-8")
    line = 1 + path.read_text("utf-8").splitlines().index("          kind: yankd")
    for load in (load_catalog, load_catalog_fast):
        with pytest.raises(ValidationError) as info:
            load(tmp_path)
        (problem,) = info.value.problems
        assert problem.path.endswith("catalog/packages/httpish.yaml")
        assert (problem.line, problem.key) == (line, "versions[1].vetting.findings[1].kind")
        assert problem.message == (
            "malformed vetting record: versions[1].vetting.findings[1].kind: unknown finding kind 'yankd'"
        )
        assert (
            problem.hint
            == "curate vet writes it: delete this version's `vetting:` mapping and run: curate vet"
        )
    path.write_text(text, "utf-8")
    assert load_catalog(tmp_path)[normalize("httpish")].versions[1] == version


def test_the_evidence_of_schema_2_round_trips_and_covers_exactly_the_files_vetted() -> None:
    wheel, sdist = "httpish-1.2-py3-none-any.whl", "httpish-1.2.tar.gz"
    head = {k: v for k, v in AS_VET_WRITES.items() if k not in ("findings", "files", "code_scan", "inputs")}
    raw = {
        **head,  # summary ... status
        "vetted": "2026-06-01",
        "policy": "c" * 64,
        "findings": AS_VET_WRITES["findings"],
        "files": {
            wheel: {"sha256": "1" * 64, "metadata_sha256": "a" * 64},
            sdist: {"sha256": "2" * 64, "metadata_sha256": None},
        },
        "inputs": AS_VET_WRITES["inputs"],
    }
    record = VettingRecord.from_dict(raw)
    assert record.to_dict() == raw
    assert list(record.to_dict()) == list(raw)
    assert (record.vetted, record.policy) == (dt.date(2026, 6, 1), "c" * 64)
    assert record.evidence(sdist) == FileEvidence(filename=sdist, sha256="2" * 64)

    def entry(filename: str, sha256: str) -> FileEntry:
        return FileEntry(filename=filename, sha256=sha256, size=1)

    assert record.covers([entry(sdist, "2" * 64), entry(wheel, "1" * 64)])
    assert not record.covers([entry(wheel, "1" * 64)])  # a file left out
    assert not record.covers([entry(wheel, "1" * 64), entry(sdist, "3" * 64)])  # other bytes
    extra = entry("httpish-1.2-cp312-cp312-win_amd64.whl", "4" * 64)
    assert not record.covers([entry(sdist, "2" * 64), entry(wheel, "1" * 64), extra])  # a file not vetted
    # a record written before schema 2 names no bytes: it covers nothing
    assert not VettingRecord.from_dict(AS_VET_WRITES).covers([entry(sdist, "2" * 64), entry(wheel, "1" * 64)])


def test_the_policy_digest_changes_with_the_rules_only() -> None:
    waiver = Waiver(id="x", project="p", versions="", justification="j", expires=dt.date(2027, 1, 1))
    base = Vetting()
    assert base.digest() == Vetting().digest()
    assert base.digest() == Vetting(waivers=(waiver,), advisories_path="elsewhere").digest()
    two = Vetting(license_allow=("MIT", "BSD-3-Clause"))
    assert two.digest() == Vetting(license_allow=("BSD-3-Clause", "MIT")).digest()  # a set, not a list
    others = [
        two,
        Vetting(license_allow=("MIT",)),
        Vetting(license_deny=("GPL-3.0-only",)),
        Vetting(advisories_source="osv-api"),
        Vetting(block=(*base.block, "yanked"), warn=tuple(k for k in base.warn if k != "yanked")),
        Vetting(lookalike_distance=2),
    ]
    assert len({base.digest(), *(o.digest() for o in others)}) == 1 + len(others)


@pytest.mark.parametrize(
    ("advisories", "says"),
    [
        ("osv-api", "known vulnerabilities: checked (osv-api)"),
        ("osv-dir", "known vulnerabilities: checked (osv-dir)"),
        ("none", "known vulnerabilities: not checked"),
        (None, "known vulnerabilities: not checked"),  # a record from before schema 3 claims nothing
    ],
)
def test_a_record_says_where_vulnerabilities_were_looked_up(advisories: str | None, says: str) -> None:
    raw: dict[str, Any] = {"status": "pass"}
    if advisories is not None:
        raw["advisories"] = advisories
    record = VettingRecord.from_dict(raw)
    assert record.vulnerabilities() == says
    assert VettingRecord.from_dict(record.to_dict()) == record
    assert ("advisories" in record.to_dict()) == (advisories is not None)
