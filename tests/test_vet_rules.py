"""The pure rules of curate vet: OSV ranges, licences, look-alike names, waivers, file checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from curate.advisories import OsvDirectory, dedupe, parse_advisory
from curate.cache import blob_path
from curate.catalog import Project
from curate.config import Vetting, Waiver
from curate.errors import ValidationError
from curate.licenses import license_of, verdict
from curate.lookalike import NameIndex, distance, fold, popular_projects
from curate.names import normalize
from curate.vet import Context, Observation, check_file, decide, waiver_for
from curate.vetting import DEFAULT_DECISION
from tests.wheels import Dist, build_wheel


def _record(events: list[dict[str, str]], versions: tuple[str, ...] = (), **more: Any) -> dict[str, Any]:
    return {
        "id": more.pop("id", "PYSEC-1"),
        "aliases": more.pop("aliases", []),
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": more.pop("name", "Pkg")},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                "versions": list(versions),
            }
        ],
        **more,
    }


@pytest.mark.parametrize(
    ("events", "versions", "affected"),
    [
        (
            [{"introduced": "0"}, {"fixed": "1.5"}],
            (),
            {"1.0": True, "1.4.9": True, "1.5": False, "2.0": False},
        ),
        (
            [{"introduced": "1.2"}, {"fixed": "1.3"}],
            (),
            {"1.1": False, "1.2": True, "1.2.5": True, "1.3": False},
        ),
        ([{"introduced": "1.0"}, {"last_affected": "1.4"}], (), {"1.4": True, "1.4.1": False, "0.9": False}),
        ([{"introduced": "1.0"}, {"limit": "2.0"}], (), {"1.9": True, "2.0": False}),
        ([{"introduced": "2.0"}], (), {"1.0": False, "2.0": True, "9.0": True}),
        (
            [{"introduced": "0"}, {"fixed": "1.0"}, {"introduced": "2.0"}, {"fixed": "2.1"}],
            (),
            {"0.5": True, "1.5": False, "2.0.1": True, "2.1": False},
        ),
        ([], ("1.1", "1.3.0"), {"1.1": True, "1.1.0": True, "1.3": True, "1.2": False}),
        ([{"introduced": "0"}, {"fixed": "not-a-version"}], (), {"1.0": True}),
    ],
    ids=["fixed", "window", "last-affected", "limit", "open-ended", "two-windows", "explicit", "bad-event"],
)
def test_osv_ranges(
    events: list[dict[str, str]], versions: tuple[str, ...], affected: dict[str, bool]
) -> None:
    adv = parse_advisory(_record(events, versions))
    assert adv is not None
    for version, expected in affected.items():
        assert adv.affects(normalize("pkg"), version) is expected, version


def test_osv_fields() -> None:
    adv = parse_advisory(
        _record(
            [{"introduced": "0"}, {"fixed": "1.10"}, {"introduced": "2"}, {"fixed": "2.0.3"}],
            id="GHSA-x",
            aliases=["CVE-1", "GHSA-x"],
            details="First line.\nMore.",
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}],
        )
    )
    assert adv is not None
    assert (adv.id, adv.aliases, adv.summary, adv.severity) == (
        "GHSA-x",
        ("CVE-1",),
        "First line.",
        "CVSS:3.1/AV:N",
    )
    assert adv.fixed_versions(normalize("pkg")) == ["1.10", "2.0.3"]
    assert parse_advisory({**_record([]), "withdrawn": "2026-01-01"}) is None
    other = _record([{"introduced": "0"}])
    other["affected"][0]["package"]["ecosystem"] = "npm"
    assert parse_advisory(other) is None
    with pytest.raises(ValueError, match="no 'id'"):
        parse_advisory({"affected": []})


def test_aliases_are_reported_once_with_every_alias() -> None:
    a = parse_advisory(_record([{"introduced": "0"}], id="PYSEC-9", aliases=["CVE-9"], summary="s"))
    b = parse_advisory(
        _record(
            [{"introduced": "0"}], id="GHSA-9", aliases=["PYSEC-9"], database_specific={"severity": "LOW"}
        )
    )
    assert a is not None
    assert b is not None
    (one,) = dedupe([a, b])
    assert (one.id, one.aliases, one.severity, one.summary) == ("GHSA-9", ("CVE-9", "PYSEC-9"), "LOW", "s")


PYPA_YAML = """\
id: PYSEC-2026-77
modified: 2026-01-01T00:00:00Z
aliases:
- CVE-2026-7777
details: A YAML advisory, as the PyPA advisory database writes them.
affected:
- package:
    name: yamlpkg
    ecosystem: PyPI
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: "0"
    - fixed: 3.0.1
  versions:
  - "2.0"
"""


def test_osv_directory_reads_yaml_and_json_and_reports_bad_files(tmp_path: Path) -> None:
    (tmp_path / "vulns" / "yamlpkg").mkdir(parents=True)
    (tmp_path / "vulns" / "yamlpkg" / "PYSEC-2026-77.yaml").write_text(PYPA_YAML)
    (tmp_path / "x.json").write_text(json.dumps(_record([{"introduced": "0"}], id="OSV-1", name="jsonpkg")))
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "junk.json").write_text("{not json")
    db = OsvDirectory.load(tmp_path, ["yamlpkg", "jsonpkg", "other"])
    assert [a.id for a in db.for_version(normalize("yamlpkg"), "3.0")] == ["PYSEC-2026-77"]
    assert db.for_version(normalize("yamlpkg"), "3.0.1") == []
    assert [a.id for a in db.for_version(normalize("jsonpkg"), "1")] == ["OSV-1"]
    assert db.digests(normalize("other"), "1") == []
    only = OsvDirectory.load(tmp_path, ["jsonpkg"])
    assert set(only.by_name) == {"jsonpkg"}  # the YAML file was not parsed at all
    (tmp_path / "bad.json").write_text('{"name": "jsonpkg", ')
    with pytest.raises(ValidationError, match=r"bad.json: not valid JSON"):
        OsvDirectory.load(tmp_path, ["jsonpkg"])


@pytest.mark.parametrize(
    ("expression", "license", "classifiers", "expected"),
    [
        ("mit", None, [], ("MIT", "License-Expression", "")),
        ("Apache-2.0 OR MIT", "ignored", [], ("Apache-2.0 OR MIT", "License-Expression", "")),
        ("GPL-3.0+", None, [], ("GPL-3.0-or-later", "License-Expression", "")),
        (None, "MIT License", [], ("MIT", "License", "")),
        (None, "Apache 2.0", [], ("Apache-2.0", "License", "")),
        (None, "BSD-3-Clause", [], ("BSD-3-Clause", "License", "")),
        (
            None,
            "Copyright (c) 2020 Someone\n\nPermission is hereby granted...",
            ["License :: OSI Approved :: MIT License"],
            ("MIT", "classifiers", ""),
        ),
        (
            None,
            None,
            ["License :: OSI Approved :: MIT License", "License :: OSI Approved :: Apache Software License"],
            ("Apache-2.0 OR MIT", "classifiers", ""),
        ),
        (
            None,
            None,
            ["License :: OSI Approved :: BSD License"],
            (
                "",
                "none",
                "the classifiers say only 'BSD License' (a BSD licence: which one?); no licence file settles it",
            ),
        ),
        (None, "Proprietary", [], ("", "none", "License 'Proprietary' is not a known licence name")),
        (
            "Not SPDX",
            None,
            [],
            ("", "License-Expression", "License-Expression 'Not SPDX' is not a valid SPDX expression"),
        ),
        (None, None, [], ("", "none", "the metadata declares no licence")),
        # PEP 639: user-defined LicenseRef- identifiers are valid expressions (the allow list decides)
        ("LicenseRef-Acme-Internal", None, [], ("LicenseRef-Acme-Internal", "License-Expression", "")),
        ("MIT OR LicenseRef-Acme-1.0", None, [], ("MIT OR LicenseRef-Acme-1.0", "License-Expression", "")),
        (
            "LicenseRef-Acme AND Not-Spdx",
            None,
            [],
            (
                "",
                "License-Expression",
                "License-Expression 'LicenseRef-Acme AND Not-Spdx' is not a valid SPDX expression",
            ),
        ),
    ],
)
def test_license_normalisation(
    expression: str | None, license: str | None, classifiers: list[str], expected: tuple[str, str, str]
) -> None:
    info = license_of(license_expression=expression, license=license, classifiers=classifiers)
    assert (info.expression, info.source, info.note) == expected


ALLOW = ["MIT", "Apache-2.0", "LGPL-2.1-or-later", "GPL-2.0-only WITH Classpath-exception-2.0"]
DENY = ["GPL-3.0-only", "AGPL-3.0-or-later"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("MIT", "allowed"),
        ("MIT OR GPL-3.0-only", "allowed"),
        ("MIT AND Apache-2.0", "allowed"),
        ("MIT AND GPL-3.0-only", "denied"),
        ("GPL-3.0-only OR AGPL-3.0-or-later", "denied"),
        ("GPL-3.0-only OR BSD-3-Clause", "unknown"),
        ("BSD-3-Clause", "unknown"),
        ("GPL-2.0-only WITH Classpath-exception-2.0", "allowed"),
        ("", "unknown"),
        ("LicenseRef-Proprietary", "unknown"),  # needs review, unless the config allows it
    ],
)
def test_license_verdict(expression: str, expected: str) -> None:
    assert verdict(expression, ALLOW, DENY) == expected


def test_a_license_ref_can_be_allowed_or_denied() -> None:
    assert verdict("LicenseRef-Acme-Internal", ["LicenseRef-Acme-Internal"], []) == "allowed"
    assert verdict("LicenseRef-Proprietary", [], ["LicenseRef-Proprietary"]) == "denied"


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [
        ("requests", "reqeusts", 1),
        ("requests", "request", 1),
        ("requests", "requestz", 1),
        ("abc", "cba", 2),
        ("numpy", "numpy", 0),
        ("flask", "falsk", 1),
        ("", "ab", 2),
    ],
)
def test_distance(a: str, b: str, d: int) -> None:
    assert distance(a, b) == d


def test_name_index() -> None:
    index = NameIndex(["requests", "python-dateutil", "numpy", "six"], 1)
    assert index.near("reqeusts") == [("requests", 1)]
    assert index.near("Python_DateUtil") == []  # the same project
    assert index.near("pythondateutil") == [("python-dateutil", 0)]
    assert index.near("numpyy") == [("numpy", 1)]
    assert index.near("totally-different") == []
    wide = NameIndex(["requests"], 3)
    assert wide.near("rqeusst") == [("requests", 3)]
    assert {"requests", "numpy", "boto3"} <= popular_projects()


@pytest.fixture(scope="module")
def popular_index() -> NameIndex:
    return NameIndex(popular_projects(), 1)


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("cljango", "django"),  # cl -> d
        ("pyyarnl", "pyyaml"),  # rn -> m
        ("reqvvests", "requests"),  # vv -> w, then one letter off
        ("rnatplotlib", "matplotlib"),  # rn -> m
        ("f1ask", "flask"),  # 1 -> l
        ("b0to3", "boto3"),  # 0 -> o
        ("djang0-rest-framevvork", "djangorestframework"),  # two look-alikes and the separators
    ],
)
def test_look_alike_letters_are_folded(popular_index: NameIndex, name: str, meant: str) -> None:
    """Found at the default distance 1 against the real list of popular projects (issue 13, item 14)."""
    near = dict(popular_index.near(name))
    assert near.get(normalize(meant), 9) <= 1


def test_vet_flags_a_look_alike_by_letters() -> None:
    from curate.vet import lookalikes_for

    found = lookalikes_for(
        {normalize("cljango"): Project(name="cljango", versions=())}, 1, popular_projects()
    )
    assert ("django", 0, "popular") in found[normalize("cljango")]


def test_folding_leaves_real_neighbours_apart() -> None:
    assert fold("modern") == "modem"  # both sides are folded: 'modern' is still 'modern' to itself
    index = NameIndex(["django", "modern", "clean"], 1)
    assert index.near("modern") == []
    assert index.near("dean") == [("clean", 0)]  # 'clean' reads as 'dean': both are flagged, rightly


def _waiver(**kw: Any) -> Waiver:
    base: dict[str, Any] = {
        "id": "license-denied",
        "project": "Pkg",
        "versions": "",
        "justification": "ok",
        "expires": dt.date(2026, 12, 31),
    }
    return Waiver(**{**base, **kw})


def test_waiver_matching() -> None:
    f = Observation(id="GHSA-1", kind="vulnerability", message="m", aliases=("CVE-1",))
    assert waiver_for(f, "pkg", "1.0", [_waiver(id="CVE-1")]) is not None
    assert waiver_for(f, "pkg", "1.0", [_waiver(id="GHSA-1", versions=">=2")]) is None
    assert waiver_for(f, "other", "1.0", [_waiver(id="GHSA-1")]) is None
    assert waiver_for(f, "pkg", "1.0rc1", [_waiver(id="GHSA-1", versions="<2")]) is not None
    late = _waiver(id="GHSA-1", expires=dt.date(2027, 1, 1))
    assert waiver_for(f, "pkg", "1.0", [_waiver(id="GHSA-1"), late]) == late


def test_decide_sorts_and_applies_policy() -> None:
    ctx = Context(project="pkg", policy=Vetting(waivers=(_waiver(),)), today=dt.date(2026, 6, 1))
    findings = [
        Observation(id="lookalike", kind="lookalike", message="l"),
        Observation(id="license-denied", kind="license-denied", message="d"),
        Observation(id="integrity", kind="integrity", message="i", file="b.whl"),
        Observation(id="integrity", kind="integrity", message="i", file="a.whl"),
    ]
    out, status = decide(findings, "pkg", "1.0", ctx)
    assert status == "block"
    assert [(f.id, f.file, f.decision) for f in out] == [
        ("integrity", "a.whl", "block"),
        ("integrity", "b.whl", "block"),
        ("license-denied", "", "waived"),
        ("lookalike", "", "warn"),
    ]


def _cache_wheel(cache: Path, d: Dist, tmp: Path, mutate: Any = None) -> tuple[str, str, int]:
    path = build_wheel(d, "py3-none-any", tmp)
    data = path.read_bytes()
    if mutate is not None:
        data = mutate(data)
    sha = hashlib.sha256(data).hexdigest()
    target = blob_path(cache, sha)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return path.name, sha, len(data)


def _rezip(data: bytes, extra: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        for name, content in extra.items():
            dst.writestr(name, content)
    return buf.getvalue()


def test_check_file_catches_tampering(tmp_path: Path) -> None:
    cache, scratch = tmp_path / "cache", tmp_path / "scratch"
    scratch.mkdir()
    d = Dist(name="pkg", version="1.0")
    name, sha, size = _cache_wheel(cache, d, tmp_path / "w")
    ok = check_file(str(cache), name, sha, size, "pkg", "1.0", str(scratch))
    assert ok.problems == ()
    assert ok.metadata_sha256 is not None

    wrong = check_file(str(cache), name, sha, size, "pkg", "2.0", str(scratch))  # the catalog says 2.0
    assert wrong.problems == (("metadata", "metadata Version 1.0 is not the catalog's version 2.0"),)

    original = blob_path(cache, sha).read_bytes()
    blob_path(cache, sha).write_bytes(b"garbage")
    bad = check_file(str(cache), name, sha, size, "pkg", "1.0", str(scratch))
    assert bad.problems[0][0] == "integrity"
    assert "cached bytes do not match the catalog" in bad.problems[0][1]
    blob_path(cache, sha).write_bytes(original)

    name2, sha2, size2 = _cache_wheel(
        cache, d, tmp_path / "w2", lambda b: _rezip(b, {"pkg/extra.py": b"x", "../evil.py": b"x"})
    )
    evil = check_file(str(cache), name2, sha2, size2, "pkg", "1.0", str(scratch))
    assert evil.problems == (("integrity", "unsafe path in archive: ../evil.py"),)

    name3, sha3, size3 = _cache_wheel(cache, d, tmp_path / "w3", lambda b: _rezip(b, {"pkg/extra.py": b"x"}))
    extra = check_file(str(cache), name3, sha3, size3, "pkg", "1.0", str(scratch))
    assert extra.problems == (("integrity", "1 file(s) not in RECORD with a sha256 hash: pkg/extra.py"),)


def test_fields_newer_than_the_metadata_version_warn_instead_of_blocking(tmp_path: Path) -> None:
    """hatchling wrote License-Expression under Metadata-Version 2.1 for years (attrs 23.2.0): pip and uv
    install such wheels, twine check refuses them. A finding of its own (warn by default), and the licence is
    still read; the same metadata with a real fault stays a blocking metadata finding."""
    cache, scratch = tmp_path / "cache", tmp_path / "scratch"
    scratch.mkdir()
    old = Dist(name="oldmeta", version="1.0", metadata_version="2.1", license_expression="MIT")
    name, sha, size = _cache_wheel(cache, old, tmp_path / "w")
    r = check_file(str(cache), name, sha, size, "oldmeta", "1.0", str(scratch))
    assert r.problems == (
        (
            "metadata-version",
            "Metadata-Version 2.1 but it uses license-expression (introduced in 2.4); otherwise valid "
            "(installers read it; twine check and index upload rules refuse it)",
        ),
    )
    assert r.fields is not None
    assert r.fields.license_expression == "MIT"
    assert DEFAULT_DECISION["metadata-version"] == "warn"

    broken = dataclasses.replace(old, name="oldbroken", requires_dist=["not a requirement !!"])
    name, sha, size = _cache_wheel(cache, broken, tmp_path / "w2")
    r = check_file(str(cache), name, sha, size, "oldbroken", "1.0", str(scratch))
    assert [k for k, _ in r.problems] == ["metadata"]
    assert r.problems[0][1].startswith("twine check: Invalid distribution metadata")


def test_check_file_not_a_zip(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    data = b"not a zip"
    sha = hashlib.sha256(data).hexdigest()
    blob_path(cache, sha).parent.mkdir(parents=True)
    blob_path(cache, sha).write_bytes(data)
    r = check_file(str(cache), "pkg-1.0-py3-none-any.whl", sha, len(data), "pkg", "1.0", str(tmp_path))
    assert r.problems[0][0] == "integrity"
    assert r.problems[0][1].startswith("not a zip archive")


@pytest.mark.online
def test_the_osv_service_knows_an_old_vulnerability() -> None:
    from curate.advisories import OsvApi

    found = OsvApi().for_version(normalize("jinja2"), "2.10")
    assert any("CVE-2019-10906" in (a.id, *a.aliases) for a in found)
    assert all(a.affects(normalize("jinja2"), "2.10") for a in found)


def test_many_files_are_checked_in_worker_processes(tmp_path: Path) -> None:
    from curate.catalog import FileEntry
    from curate.vet import _check_files

    cache = tmp_path / "cache"
    items = []
    for i in range(40):
        d = Dist(name=f"pkg{i}", version="1.0", broken_record=i == 3)
        name, sha, size = _cache_wheel(cache, d, tmp_path / "w")
        items.append((FileEntry(filename=name, sha256=sha, size=size), f"pkg{i}", "1.0", True))
    seen: list[int] = []
    results = _check_files(cache, items, jobs=2, on_progress=lambda i, n: seen.append(i))
    assert len(results) == 40
    assert seen[-1] == 40
    bad = [r.filename for r in results.values() if r.problems]
    assert bad == ["pkg3-1.0-py3-none-any.whl"]
    assert len([p for p in (cache / "metadata").rglob("*") if p.is_file()]) == 40
