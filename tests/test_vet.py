"""curate vet end to end: real fixture wheels in a fetched cache, findings written into the catalog."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from curate.cache import blob_path, metadata_path
from curate.catalog import load_catalog, project_path
from curate.cli import main
from curate.config import load_config
from curate.fetch import fetch_catalog
from curate.names import normalize
from curate.vetting import FileEvidence
from tests.catalogs import make_repo, write_catalog
from tests.upstream import Upstream, make_upstream, standard_dists
from tests.wheels import Dist

TODAY = "2026-06-01"
GPL = "License :: OSI Approved :: GNU General Public License v3 (GPLv3)"
EXTRA = [
    Dist(name="brokenrec", version="1.0", broken_record=True, sdist=False, summary="Tampered"),
    Dist(name="misnamed", version="1.0", metadata_name="othername", sdist=False),
    Dist(name="gplpkg", version="1.0", license_expression="GPL-3.0-only", sdist=False),
    Dist(name="gplclass", version="1.0", license_expression=None, classifiers=[GPL], sdist=False),
    Dist(name="mystery", version="1.0", license_expression=None, sdist=False),
    Dist(name="legacy", version="1.0", license_expression=None, license="BSD 3-Clause", sdist=False),
    Dist(name="reqeusts", version="1.0", sdist=False, summary="Totally requests"),
    Dist(name="vulnpkg", version="1.0", sdist=False),
    Dist(name="vulnpkg", version="1.5", sdist=False),
    Dist(name="vulnpkg", version="2.0", sdist=False),
    Dist(name="oddlic", version="1.0", license_expression="epl-2.0", sdist=False),
    Dist(name="badmeta", version="1.0", requires_dist=["not a requirement !!"], sdist=False),
]
PICKS = {
    "webapp": ["2.0"],
    "httpish": ["1.1", "1.2"],
    "certy": ["2024.1"],
    "oldsdist": ["0.9"],
    "brokenrec": ["1.0"],
    "misnamed": ["1.0"],
    "gplpkg": ["1.0"],
    "gplclass": ["1.0"],
    "mystery": ["1.0"],
    "legacy": ["1.0"],
    "reqeusts": ["1.0"],
    "vulnpkg": ["1.0", "1.5", "2.0"],
    "badmeta": ["1.0"],
    "oddlic": ["1.0"],
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Upstream]]:
    """A catalog repository and a cache holding all of its files (shared; tests copy the repo)."""
    base = tmp_path_factory.mktemp("vet")
    with make_upstream(base / "up", [*standard_dists(), *EXTRA]) as up:
        root = make_repo(base / "repo", index_url=up.index_url)
        write_catalog(root, up, PICKS)
        cache = base / "cache"
        done = fetch_catalog(root, env={}, cache_dir=cache, jobs=4)
        assert done.report is not None
        assert done.report.errors == ()
        yield root, cache, up


@pytest.fixture
def repo(world: tuple[Path, Path, Upstream], tmp_path: Path) -> Path:
    return Path(shutil.copytree(world[0], tmp_path / "repo"))


@pytest.fixture
def cache(world: tuple[Path, Path, Upstream]) -> Path:
    return world[1]


def _vet(repo: Path, cache: Path, *extra: str) -> int:
    return main(["-C", str(repo), "vet", "--cache-dir", str(cache), "--today", TODAY, "-j", "1", *extra])


def _vetting(repo: Path, name: str, version: str) -> dict[str, Any]:
    """The version's vetting record as the catalog file has it."""
    project = load_catalog(repo)[normalize(name)]
    record = next(v.vetting for v in project.versions if v.version == version)
    assert record is not None
    return record.to_dict()


def _kinds(vetting: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["kind"], f["id"], f["decision"]) for f in vetting["findings"]]


def _set_vetting(repo: Path, old: str, new: str) -> None:
    path = repo / "catalog" / "config.yaml"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")


def _waivers(repo: Path, yaml_items: str) -> None:
    _set_vetting(repo, "  waivers: []\n", "  waivers:\n" + yaml_items)


def test_vet_records_findings_and_blocks(
    repo: Path, cache: Path, capsys: pytest.CaptureFixture[str], world: tuple[Path, Path, Upstream]
) -> None:
    assert _vet(repo, cache) == 1
    out, err = capsys.readouterr()

    webapp = _vetting(repo, "webapp", "2.0")
    assert webapp["status"] == "pass"
    assert webapp["summary"] == "A web framework"
    assert webapp["license"] == "MIT"
    assert webapp["license_source"] == "License-Expression"
    assert webapp["home_page"] == "https://webapp.upstream.example/"
    assert webapp["requires_dist"] == ["httpish>=1.1", 'wincolor>=0.4; sys_platform == "win32"']
    assert list(webapp) == [
        "summary",
        "license",
        "license_source",
        "license_note",
        "license_files",
        "home_page",
        "requires_dist",
        "status",
        "vetted",
        "policy",
        "advisories",
        "findings",
        "files",
        "code_scan",
        "inputs",
    ]
    assert webapp["code_scan"]["hits"] == []  # a clean package: nothing suspicious
    assert webapp["code_scan"]["ruleset"].startswith("guarddog-")
    assert webapp["vetted"] == TODAY
    assert webapp["advisories"] == "none"  # the test catalogs look up no advisories: it says so
    assert webapp["policy"] == load_config(repo).vetting.digest()
    (wheel,) = webapp["files"]
    up = world[2].file(wheel)
    assert up.metadata is not None
    assert webapp["files"][wheel] == {
        "sha256": up.sha256,  # the bytes vetted
        "metadata_sha256": hashlib.sha256(up.metadata).hexdigest(),
    }
    assert metadata_path(cache, up.sha256).read_bytes() == up.metadata  # byte for byte (PEP 658)
    # every record covers exactly the files of its version
    for project in load_catalog(repo).values():
        for version in project.versions:
            assert version.vetting is not None
            assert version.vetting.covers(version.files)

    broken = _vetting(repo, "brokenrec", "1.0")
    assert broken["status"] == "block"
    (f,) = broken["findings"]
    assert (f["kind"], f["decision"], f["file"]) == ("integrity", "block", "brokenrec-1.0-py3-none-any.whl")
    assert f["message"] == "RECORD hash does not match for 1 file(s): brokenrec/__init__.py"

    misnamed = _vetting(repo, "misnamed", "1.0")
    assert _kinds(misnamed) == [("metadata", "metadata", "block")]
    assert misnamed["findings"][0]["message"] == (
        "metadata Name 'othername' does not match the file name (misnamed)"
    )

    assert _kinds(_vetting(repo, "gplpkg", "1.0")) == [("license-denied", "license-denied", "block")]
    gplclass = _vetting(repo, "gplclass", "1.0")
    assert (gplclass["license"], gplclass["license_source"]) == ("GPL-3.0-only", "classifiers")
    assert _kinds(gplclass) == [("license-denied", "license-denied", "block")]
    mystery = _vetting(repo, "mystery", "1.0")
    assert (mystery["license"], mystery["license_source"], mystery["status"]) == ("", "none", "warn")
    assert mystery["findings"][0]["message"] == "the metadata declares no licence: needs review"
    legacy = _vetting(repo, "legacy", "1.0")
    assert (legacy["license"], legacy["license_source"]) == ("BSD-3-Clause", "License")
    assert legacy["findings"] == []
    oddlic = _vetting(repo, "oddlic", "1.0")
    assert _kinds(oddlic) == [("license-unknown", "license-unknown", "warn")]
    assert oddlic["findings"][0]["message"] == "licence EPL-2.0 is neither allowed nor denied: needs review"

    yanked = _vetting(repo, "httpish", "1.2")
    assert _kinds(yanked) == [("yanked", "yanked", "warn")]
    assert yanked["findings"][0]["message"] == "yanked upstream: broken release"
    assert _vetting(repo, "httpish", "1.1")["status"] == "pass"

    sdist = _vetting(repo, "oldsdist", "0.9")
    assert _kinds(sdist) == [("sdist-only", "sdist-only", "warn")]
    assert sdist["files"] == {
        "oldsdist-0.9.tar.gz": {
            "sha256": world[2].file("oldsdist-0.9.tar.gz").sha256,
            "metadata_sha256": None,
        }
    }
    assert (
        "built from the sdist there: linux-aarch64 (py3.10, py3.11, py3.12, py3.13), "
        in (sdist["findings"][0]["message"])
    )

    look = _vetting(repo, "reqeusts", "1.0")
    assert _kinds(look) == [("lookalike", "lookalike", "warn")]
    assert "'requests' (popular, distance 1)" in look["findings"][0]["message"]

    # the report: every blocking finding with its waiver
    assert "5 finding(s) block:" in err
    assert (
        "badmeta 1.0 (badmeta-1.0-py3-none-any.whl): metadata: twine check: Invalid distribution metadata"
        in err
    )
    assert "brokenrec 1.0 (brokenrec-1.0-py3-none-any.whl): integrity: RECORD hash does not match" in err
    assert "gplpkg 1.0: license-denied: licence GPL-3.0-only is on the deny list" in err
    assert "      - id: license-denied\n        project: gplpkg\n" in err
    assert '        versions: "==1.0"\n' in err
    assert "        expires: 2026-08-30\n" in err
    assert "warn: httpish 1.2: yanked: yanked upstream: broken release" in out
    assert "vetted 17 version(s) (17 re-checked, 17 file(s)): 7 pass, 5 warn, 5 block;" in out


def test_vetting_again_changes_nothing(repo: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _vet(repo, cache)
    before = {p.name: p.read_bytes() for p in (repo / "catalog" / "packages").iterdir()}
    capsys.readouterr()
    assert _vet(repo, cache) == 1
    assert "(0 re-checked, 0 file(s))" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in (repo / "catalog" / "packages").iterdir()} == before
    _vet(repo, cache, "--force")
    assert {p.name: p.read_bytes() for p in (repo / "catalog" / "packages").iterdir()} == before


def test_a_vetting_block_edited_by_hand_is_vetted_again(
    repo: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deleting a blocking finding from the YAML must not make the version pass."""
    _vet(repo, cache)
    before = project_path(repo, "gplpkg").read_text("utf-8")
    assert "      status: block\n" in before
    start, end = before.index("      status: block\n"), before.index("      files:\n")
    project_path(repo, "gplpkg").write_text(
        before[:start] + "      status: pass\n      findings: []\n" + before[end:]
    )
    capsys.readouterr()
    assert _vet(repo, cache) == 1
    out, err = capsys.readouterr()
    assert "(1 re-checked, 1 file(s))" in out
    assert "gplpkg 1.0: license-denied" in err
    assert project_path(repo, "gplpkg").read_text("utf-8") == before


def test_a_re_run_keeps_the_day_a_result_was_reached_and_a_new_policy_is_recorded(
    repo: Path, cache: Path
) -> None:
    _vet(repo, cache)
    before = {p.name: p.read_bytes() for p in (repo / "catalog" / "packages").iterdir()}
    main(["-C", str(repo), "vet", "--cache-dir", str(cache), "--today", "2026-06-09", "-j", "1", "--force"])
    assert {p.name: p.read_bytes() for p in (repo / "catalog" / "packages").iterdir()} == before
    assert _vetting(repo, "httpish", "1.2")["vetted"] == TODAY

    old_policy = _vetting(repo, "httpish", "1.2")["policy"]
    _set_vetting(repo, "  lookalike_distance: 1\n", "  lookalike_distance: 2\n")
    main(["-C", str(repo), "vet", "--cache-dir", str(cache), "--today", "2026-06-09", "-j", "1"])
    after = _vetting(repo, "httpish", "1.2")
    assert (after["vetted"], after["status"]) == ("2026-06-09", "warn")
    assert after["policy"] == load_config(repo).vetting.digest() != old_policy


def test_altered_cache_bytes_are_not_vetted(
    repo: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cached file of the right size but other bytes is not the catalog's file: vet refuses to run
    (fetch downloads it again) rather than record a finding about bytes nobody asked for."""
    mine = Path(shutil.copytree(cache, tmp_path / "cache"))
    project = load_catalog(repo)[normalize("httpish")]
    version = next(v for v in project.versions if v.version == "1.1")
    (wheel,) = (f for f in version.files if f.is_wheel)
    blob = blob_path(mine, wheel.sha256)
    blob.chmod(0o644)
    blob.write_bytes(b"x" * wheel.size)  # same size, other bytes
    before = (repo / "catalog" / "packages" / "httpish.yaml").read_bytes()
    assert _vet(repo, mine) == 1
    err = capsys.readouterr().err
    assert f"  httpish 1.1: {wheel.filename} (sha256 {wheel.sha256}) (altered)" in err
    assert "hint: run `curate fetch` first (it downloads them again)" in err
    assert (repo / "catalog" / "packages" / "httpish.yaml").read_bytes() == before


def test_a_record_covers_only_the_bytes_it_vetted(
    repo: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes altered while vetting read them (after the cache said they were the catalog's): the record
    names the bytes it read, so it covers no file of the catalog and nothing is served."""
    mine = Path(shutil.copytree(cache, tmp_path / "cache"))
    project = load_catalog(repo)[normalize("httpish")]
    version = next(v for v in project.versions if v.version == "1.1")
    (wheel,) = (f for f in version.files if f.is_wheel)
    blob = blob_path(mine, wheel.sha256)
    blob.chmod(0o644)
    blob.write_bytes(b"x" * wheel.size)  # same size, other bytes
    monkeypatch.setattr("curate.vet.missing_files", lambda cache, wanted: [])  # the race: checked before
    assert _vet(repo, mine) == 1
    record = next(v for v in load_catalog(repo)[normalize("httpish")].versions if v.version == "1.1").vetting
    assert record is not None
    assert record.blocked
    assert record.findings[0].kind == "integrity"
    assert record.evidence(wheel.filename) == FileEvidence(
        filename=wheel.filename, sha256=hashlib.sha256(b"x" * wheel.size).hexdigest(), metadata_sha256=None
    )
    assert not record.covers(version.files)


def test_the_lock_fields_are_kept(repo: Path, cache: Path) -> None:
    before = load_catalog(repo)
    _vet(repo, cache)
    after = load_catalog(repo)
    for name, project in before.items():
        for old, new in zip(project.sorted_versions(), after[name].sorted_versions(), strict=True):
            assert old.files == new.files
            assert old.needed_by == new.needed_by
            assert old.dependencies == new.dependencies
            assert old.yanked == new.yanked


def test_waivers_valid_and_expired(repo: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _waivers(
        repo,
        "    - id: license-denied\n      project: GPLPkg\n      versions: '>=1.0'\n"
        "      justification: internal tool only\n      expires: 2026-12-31\n"
        "    - id: license-denied\n      project: gplclass\n"
        "      justification: was fine last year\n      expires: 2026-01-31\n"
        "    - id: lookalike\n      project: reqeusts\n      versions: '==2.0'\n"
        "      justification: another version\n      expires: 2026-12-31\n",
    )
    _vet(repo, cache)
    (waived,) = _vetting(repo, "gplpkg", "1.0")["findings"]
    assert waived["decision"] == "waived"
    assert waived["waiver"] == {"justification": "internal tool only", "expires": "2026-12-31"}
    assert _vetting(repo, "gplpkg", "1.0")["status"] == "pass"
    (expired,) = _vetting(repo, "gplclass", "1.0")["findings"]
    assert expired["decision"] == "block"
    assert expired["message"].endswith("(waiver expired on 2026-01-31)")
    assert expired["waiver"] == {"justification": "was fine last year", "expires": "2026-01-31"}
    assert _vetting(repo, "reqeusts", "1.0")["findings"][0]["decision"] == "warn"  # other version
    out, err = capsys.readouterr()
    assert "gplpkg" not in err
    assert "4 finding(s) block:" in err
    # a waiver that matches no finding (here: a version the catalog does not have) is pointed out
    assert "note: the waiver for lookalike in reqeusts ==2.0 matches no finding in the catalog" in out
    assert out.count("note: the waiver") == 1  # the expired one still matches its finding
    # the expired waiver is to be renewed, not duplicated
    assert (
        "gplclass 1.0: license-denied: licence GPL-3.0-only is on the deny list (waiver expired on 2026-01-31)\n"
        "    its waiver expired: to accept it again, renew that entry of vetting.waivers"
    ) in err


def test_a_waiver_expiring_re_vets(repo: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _waivers(
        repo,
        "    - id: license-denied\n      project: gplpkg\n"
        "      justification: ok until June\n      expires: 2026-06-01\n",
    )
    _vet(repo, cache)
    assert _vetting(repo, "gplpkg", "1.0")["status"] == "pass"
    main(["-C", str(repo), "vet", "--cache-dir", str(cache), "--today", "2026-06-02", "-j", "1"])
    assert _vetting(repo, "gplpkg", "1.0")["status"] == "block"
    assert "expired on 2026-06-01" in capsys.readouterr().err


def _osv(
    directory: Path, adv_id: str, name: str, *, aliases: list[str], events: list[dict[str, str]], **more: Any
) -> None:
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": adv_id,
        "modified": "2026-01-01T00:00:00Z",
        "aliases": aliases,
        "summary": f"{name} does something bad",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                "versions": more.pop("versions", []),
            }
        ],
        **more,
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{adv_id}.json").write_text(json.dumps(record), "utf-8")


@pytest.fixture
def advisories(tmp_path: Path) -> Path:
    d = tmp_path / "advisories"
    _osv(
        d / "vulns" / "vulnpkg",
        "PYSEC-2026-1",
        "VulnPkg",
        aliases=["CVE-2026-0001", "GHSA-aaaa-bbbb-cccc"],
        events=[{"introduced": "0"}, {"fixed": "1.5"}],
        database_specific={"severity": "HIGH"},
    )
    _osv(  # the same vulnerability again, as the GHSA record: reported once
        d / "ghsa",
        "GHSA-aaaa-bbbb-cccc",
        "vulnpkg",
        aliases=["CVE-2026-0001", "PYSEC-2026-1"],
        events=[{"introduced": "0"}, {"fixed": "1.5"}],
    )
    _osv(  # explicit versions only
        d / "vulns" / "vulnpkg",
        "PYSEC-2026-2",
        "vulnpkg",
        aliases=["CVE-2026-0002"],
        events=[],
        versions=["1.5"],
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    )
    _osv(
        d / "other",
        "PYSEC-2026-3",
        "vulnpkg",
        aliases=[],
        events=[{"introduced": "0"}, {"fixed": "1.0"}],
        withdrawn="2026-02-01T00:00:00Z",
    )
    _osv(d / "other", "PYSEC-2026-4", "not-in-catalog", aliases=[], events=[{"introduced": "0"}])
    return d


def test_vulnerabilities_from_an_osv_directory(
    repo: Path, cache: Path, advisories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _vet(repo, cache, "--advisories", str(advisories)) == 1
    (f,) = _vetting(repo, "vulnpkg", "1.0")["findings"]
    assert f == {
        "id": "GHSA-aaaa-bbbb-cccc",
        "kind": "vulnerability",
        "severity": "HIGH",
        "file": "",
        "location": "",
        "message": "vulnpkg does something bad (fixed in 1.5)",
        "aliases": ["CVE-2026-0001", "PYSEC-2026-1"],
        "fixed": ["1.5"],
        "decision": "block",
        "waiver": None,
    }
    (g,) = _vetting(repo, "vulnpkg", "1.5")["findings"]
    assert (g["id"], g["aliases"], g["fixed"]) == ("PYSEC-2026-2", ["CVE-2026-0002"], [])
    assert g["severity"].startswith("CVSS:3.1/")
    assert g["message"].endswith("(no fixed version)")
    assert _vetting(repo, "vulnpkg", "2.0")["findings"] == []
    err = capsys.readouterr().err
    assert "vulnpkg 1.0: vulnerability GHSA-aaaa-bbbb-cccc [CVE-2026-0001, PYSEC-2026-1]" in err
    assert "      - id: GHSA-aaaa-bbbb-cccc\n" in err


def test_a_waiver_by_alias_and_a_new_advisory_re_vets(repo: Path, cache: Path, advisories: Path) -> None:
    _set_vetting(repo, "    source: none", f"    source: osv-dir\n    path: {advisories}")
    _waivers(
        repo,
        "    - id: CVE-2026-0001\n      project: vulnpkg\n      versions: <1.5\n"
        "      justification: not reachable from our code\n      expires: 2027-01-01\n",
    )
    _vet(repo, cache)
    assert _vetting(repo, "vulnpkg", "1.0")["findings"][0]["decision"] == "waived"
    before = _vetting(repo, "vulnpkg", "2.0")
    _osv(advisories / "new", "PYSEC-2026-9", "vulnpkg", aliases=[], events=[{"introduced": "2.0"}])
    _vet(repo, cache)
    after = _vetting(repo, "vulnpkg", "2.0")
    assert after["inputs"] != before["inputs"]
    assert [f["id"] for f in after["findings"]] == ["PYSEC-2026-9"]


def test_policy_moves_a_kind_between_block_and_warn(repo: Path, cache: Path) -> None:
    _set_vetting(
        repo,
        "  block: [integrity, metadata, license-denied, vulnerability, wheel-differs-from-sdist]\n"
        "  warn: [metadata-version, suspicious-code, license-unknown, license-conflict, yanked, sdist-only, lookalike, too-new]\n",
        "  block: [integrity, metadata, vulnerability, yanked]\n  warn: [license-denied]\n",
    )
    assert _vet(repo, cache) == 1
    assert _kinds(_vetting(repo, "gplpkg", "1.0")) == [("license-denied", "license-denied", "warn")]
    assert _vetting(repo, "httpish", "1.2")["status"] == "block"
    assert _vetting(repo, "mystery", "1.0")["findings"] == []  # in neither list: not reported
    assert _vetting(repo, "reqeusts", "1.0")["status"] == "pass"


def test_missing_files_tell_to_fetch(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _vet(repo, tmp_path / "empty") == 1
    err = capsys.readouterr().err
    assert "file(s) missing from the cache:" in err
    assert "run `curate fetch` first" in err


def test_catalog_look_alikes_and_settled_projects(repo: Path, cache: Path) -> None:
    _vet(repo, cache)
    # vetted before with no look-alike finding: not checked again, whatever joins the catalog later
    assert _vetting(repo, "httpish", "1.1")["status"] == "pass"
    from curate.catalog import Project
    from curate.vet import lookalikes_for

    projects = load_catalog(repo)
    fresh = Project(name="httpisj", versions=())
    looks = lookalikes_for({**projects, normalize("httpisj"): fresh}, 1, frozenset())
    assert looks == {"httpisj": (("httpish", 1, "catalog"),)}


class _FakeOsv(BaseHTTPRequestHandler):
    records: ClassVar[list[dict[str, Any]]] = []
    queries: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.queries.append(body)
        name, version = body["package"]["name"], body["version"]
        vulns = [r for r in self.records if r["affected"][0]["package"]["name"] == name and version == "1.0"]
        data = json.dumps({"vulns": vulns} if vulns else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_osv_api_client_against_a_local_service(
    repo: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _osv(tmp_path / "recs", "GHSA-zzzz-zzzz-zzzz", "vulnpkg", aliases=[], events=[{"introduced": "0"}])
    _FakeOsv.records = [json.loads((tmp_path / "recs" / "GHSA-zzzz-zzzz-zzzz.json").read_text())]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOsv)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _set_vetting(repo, "    source: none", "    source: osv-api")
        monkeypatch.setenv("CURATE_OSV_API_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
        _vet(repo, cache)
    finally:
        server.shutdown()
        server.server_close()
    assert [f["id"] for f in _vetting(repo, "vulnpkg", "1.0")["findings"]] == ["GHSA-zzzz-zzzz-zzzz"]
    assert _vetting(repo, "vulnpkg", "2.0")["findings"] == []
    assert {"version": "1.0", "package": {"name": "vulnpkg", "ecosystem": "PyPI"}} in _FakeOsv.queries


def test_github_annotations(repo: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    os.environ["GITHUB_ACTIONS"] = "true"
    try:
        _vet(repo, cache, "-q")
    finally:
        del os.environ["GITHUB_ACTIONS"]
    out = capsys.readouterr().out
    path = project_path(Path(), "gplpkg").as_posix()
    assert f"::error file={path}::gplpkg 1.0: license-denied" in out


def test_today_defaults_from_the_environment(
    repo: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CURATE_TODAY", "2030-01-01")
    _waivers(
        repo,
        "    - id: license-denied\n      project: gplpkg\n      justification: x\n      expires: 2029-12-31\n",
    )
    main(["-C", str(repo), "vet", "--cache-dir", str(cache), "-j", "1"])
    assert _vetting(repo, "gplpkg", "1.0")["status"] == "block"
    assert dt.date(2029, 12, 31).isoformat() in _vetting(repo, "gplpkg", "1.0")["findings"][0]["message"]
    monkeypatch.setenv("CURATE_TODAY", "next week")
    assert main(["-C", str(repo), "vet", "--cache-dir", str(cache), "-j", "1"]) == 2
    assert "$CURATE_TODAY must be a date like 2026-06-01, not 'next week'" in capsys.readouterr().err


# -- say what was checked (issue 13, item 15) ---------------------------------------------------------------


def test_every_record_and_the_summary_say_when_vulnerabilities_were_not_checked(
    repo: Path, cache: Path, advisories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _vet(repo, cache)  # the test config: vetting.advisories.source: none
    out = capsys.readouterr().out
    assert "known vulnerabilities: not checked (vetting.advisories.source is none)\n" in out
    records = [v.vetting for p in load_catalog(repo).values() for v in p.versions]
    assert {r.advisories for r in records if r is not None} == {"none"}
    assert all(r is not None and r.vulnerabilities() == "known vulnerabilities: not checked" for r in records)

    # the same catalog against a directory of advisories: every version is vetted again, and says where
    assert _vet(repo, cache, "--advisories", str(advisories)) == 1
    out = capsys.readouterr().out
    assert f"known vulnerabilities: checked against the OSV advisories in {advisories} " in out
    assert "(data up to 2026-01-01; 3 on catalog projects)" in out
    assert "vetted 17 version(s) (17 re-checked" in out  # each one again: the source changed
    record = _vetting(repo, "webapp", "2.0")
    assert record["advisories"] == "osv-dir"


def test_an_unreachable_advisory_service_stops_vet_and_says_how_to_go_on(
    repo: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on: refused, as an unreachable service
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _set_vetting(repo, "    source: none", "    source: osv-api")
    monkeypatch.setenv("CURATE_OSV_API_URL", f"http://127.0.0.1:{port}/v1")
    before = {p: p.read_bytes() for p in (repo / "catalog" / "packages").iterdir()}
    assert _vet(repo, cache) == 1
    err = capsys.readouterr().err
    assert "error: advisory service unreachable:" in err
    assert "curate vet --no-advisories" in err
    assert {p: p.read_bytes() for p in (repo / "catalog" / "packages").iterdir()} == before  # nothing written

    # on purpose and on the record: vetted without advisories
    assert _vet(repo, cache, "--no-advisories") == 1  # gplpkg's licence still blocks
    out = capsys.readouterr().out
    assert "known vulnerabilities: not checked (curate vet --no-advisories)\n" in out
    assert _vetting(repo, "webapp", "2.0")["advisories"] == "none"


def test_the_service_and_its_day_are_named(
    repo: Path,
    cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _FakeOsv.records = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOsv)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _set_vetting(repo, "    source: none", "    source: osv-api")
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        monkeypatch.setenv("CURATE_OSV_API_URL", url)
        _vet(repo, cache)
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr().out
    assert (
        f"known vulnerabilities: checked against the OSV service at {url}, as it answered on {TODAY}\n" in out
    )
    assert _vetting(repo, "webapp", "2.0")["advisories"] == "osv-api"
