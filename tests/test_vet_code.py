"""curate vet end to end for the licence files and suspicious code: fixture packages in a fetched cache."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from curate.catalog import load_catalog
from curate.cli import main
from curate.codescan import scan_version
from curate.fetch import fetch_catalog
from curate.names import normalize
from tests.catalogs import make_repo, write_catalog
from tests.test_codescan import BASE64_EXEC, DOWNLOAD_EXEC, PTH
from tests.upstream import Upstream, make_upstream
from tests.wheels import Dist

TODAY = "2026-06-01"
TEXTS = Path(__file__).parent / "data" / "licences"
BSD = "License :: OSI Approved :: BSD License"

DISTS = [
    Dist(
        name="fetchexec",
        version="1.0",
        wheel_tags=(),  # only an sdist: its setup.py runs when it is built
        sdist_files=[("setup.py", DOWNLOAD_EXEC)],
    ),
    Dist(name="b64exec", version="1.0", wheel_files=[("b64exec/_boot.py", BASE64_EXEC)], sdist=False),
    Dist(name="pthhook", version="1.0", wheel_files=[("pthhook-init.pth", PTH)], sdist=False),
    Dist(
        name="bsdlib",
        version="1.0",
        license_expression=None,
        classifiers=[BSD],
        license_files=[("LICENSE.txt", (TEXTS / "BSD-3-Clause-click.txt").read_text("utf-8"))],
        sdist=False,
    ),
    Dist(
        name="oauthish",
        version="1.0",
        license_expression=None,
        license="ISC",
        classifiers=[BSD],
        license_files=[("LICENSE", (TEXTS / "ISC-requests-oauthlib.txt").read_text("utf-8"))],
        sdist=False,
    ),
    Dist(
        name="srconly",
        version="1.0",
        license_expression=None,
        wheel_tags=(),
        license_files=[("COPYING", (TEXTS / "ISC-requests-oauthlib.txt").read_text("utf-8"))],
    ),
    Dist(
        name="bundlelib",
        version="1.0",
        license_expression=None,
        classifiers=[BSD],
        license_files=[("LICENSE.txt", (TEXTS / "scipy-bundle.txt").read_text("utf-8"))],
        sdist=False,
    ),
    Dist(name="cleanpkg", version="1.0", sdist=False),
    Dist(name="cleanpkg", version="2.0", sdist=False),
]
PICKS = {
    "fetchexec": ["1.0"],
    "b64exec": ["1.0"],
    "pthhook": ["1.0"],
    "bsdlib": ["1.0"],
    "oauthish": ["1.0"],
    "srconly": ["1.0"],
    "bundlelib": ["1.0"],
    "cleanpkg": ["1.0"],
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Upstream]]:
    base = tmp_path_factory.mktemp("vetcode")
    with make_upstream(base / "up", DISTS) as up:
        root = make_repo(base / "repo", index_url=up.index_url)
        write_catalog(root, up, PICKS)
        cache = base / "cache"
        _fetch(root, cache)
        assert _vet(root, cache) == 1  # vetted once here: the tests start from the recorded scans
        yield root, cache, up


@pytest.fixture
def repo(world: tuple[Path, Path, Upstream], tmp_path: Path) -> Path:
    return Path(shutil.copytree(world[0], tmp_path / "repo"))


def _fetch(root: Path, cache: Path) -> None:
    done = fetch_catalog(root, env={}, cache_dir=cache, jobs=4)
    assert done.report is not None
    assert done.report.errors == ()


def _vet(repo: Path, cache: Path, *extra: str) -> int:
    return main(["-C", str(repo), "vet", "--cache-dir", str(cache), "--today", TODAY, "-j", "1", *extra])


def _vetting(repo: Path, name: str, version: str = "1.0") -> dict[str, Any]:
    project = load_catalog(repo)[normalize(name)]
    record = next(v.vetting for v in project.versions if v.version == version)
    assert record is not None
    return record.to_dict()


def _code(vetting: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [
        (f["id"], f["decision"], f["file"], f["location"])
        for f in vetting["findings"]
        if f["kind"] == "suspicious-code"
    ]


def test_suspicious_code_is_found_with_rule_file_and_line(world: tuple[Path, Path, Upstream]) -> None:
    root = world[0]
    fetch = _vetting(root, "fetchexec")
    assert fetch["status"] == "block"
    assert (
        "threat-setup-network-in-install",
        "block",
        "fetchexec-1.0.tar.gz",
        "fetchexec-1.0/setup.py:5",
    ) in _code(fetch)
    assert (
        "threat-process-download-exec",
        "warn",
        "fetchexec-1.0.tar.gz",
        "fetchexec-1.0/setup.py:5",
    ) in _code(fetch)
    assert (
        "threat-setup-suspicious-imports",
        "warn",
        "fetchexec-1.0.tar.gz",
        "fetchexec-1.0/setup.py:2",
    ) in _code(fetch)
    b64 = _vetting(root, "b64exec")
    assert _code(b64) == [
        (
            "threat-runtime-obfuscation-base64exec",
            "block",
            "b64exec-1.0-py3-none-any.whl",
            "b64exec/_boot.py:2",
        )
    ]
    pth = _vetting(root, "pthhook")
    assert _code(pth) == [("pth-exec", "warn", "pthhook-1.0-py3-none-any.whl", "pthhook-init.pth:2")]
    assert pth["status"] == "warn"
    assert pth["code_scan"]["hits"] == [
        {
            "rule": "pth-exec",
            "file": "pthhook-1.0-py3-none-any.whl",
            "path": "pthhook-init.pth",
            "line": 2,
            "message": "runs at every interpreter start: `import os; os.system('id')`",
        }
    ]
    clean = _vetting(root, "cleanpkg")
    assert clean["status"] == "pass"
    assert clean["code_scan"]["hits"] == []


def test_the_licence_file_settles_a_family_classifier_with_its_score_as_evidence(
    world: tuple[Path, Path, Upstream],
) -> None:
    bsd = _vetting(world[0], "bsdlib")
    assert (bsd["license"], bsd["license_source"], bsd["status"]) == ("BSD-3-Clause", "license-files", "pass")
    (evidence,) = bsd["license_files"]
    assert evidence["path"] == "licenses/LICENSE.txt"
    assert (evidence["licenses"], evidence["closest"], evidence["files"]) == (
        ["BSD-3-Clause"],
        "BSD-3-Clause",
        [],
    )
    assert 0.9 <= evidence["score"] <= 1.0
    assert bsd["license_note"].startswith("the classifiers say only 'BSD License'")
    # no wheel: the sdist's licence files
    src = _vetting(world[0], "srconly")
    assert (src["license"], src["license_source"]) == ("ISC", "license-files")
    assert [(e["path"], e["licenses"]) for e in src["license_files"]] == [("COPYING", ["ISC"])]
    oauth = _vetting(world[0], "oauthish")
    assert (oauth["license"], oauth["status"]) == ("ISC", "warn")
    (conflict,) = [f for f in oauth["findings"] if f["kind"] == "license-conflict"]
    assert conflict["message"].startswith(
        "the licence sources disagree: License says ISC; the classifiers say only 'BSD License'"
    )


def test_a_licence_file_listing_bundled_software_is_needs_review_with_the_list(
    world: tuple[Path, Path, Upstream],
) -> None:
    """scipy's wheels: a BSD classifier and a LICENSE.txt that is BSD-3-Clause, then a Name:/License:
    block per library the wheel carries (the GCC runtime among them)."""
    bundled = _vetting(world[0], "bundlelib")
    assert (bundled["license"], bundled["license_source"], bundled["status"]) == ("", "none", "warn")
    (evidence,) = bundled["license_files"]
    assert (evidence["path"], evidence["licenses"]) == ("licenses/LICENSE.txt", [])
    (finding,) = [f for f in bundled["findings"] if f["kind"] == "license-unknown"]
    assert finding["message"] == (
        "the classifiers say only 'BSD License' (a BSD licence: which one?); licenses/LICENSE.txt is no one"
        " licence: its own text is BSD-3-Clause (0.95), and it lists the software bundled with it: OpenBLAS"
        " (BSD-3-Clause), LAPACK (BSD-3-Clause-Open-MPI), GCC runtime library (GPL-3.0-or-later WITH"
        " GCC-exception-3.1), libquadmath (LGPL-2.1-or-later): needs review"
    )


def _config(repo: Path, old: str, new: str) -> None:
    path = repo / "catalog" / "config.yaml"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")


def test_code_rules_decide_per_rule_and_waivers_expire(
    repo: Path, world: tuple[Path, Path, Upstream]
) -> None:
    cache = world[1]
    _config(
        repo,
        "  waivers: []\n",
        "  code_rules:\n    pth-exec: block\n    threat-runtime-obfuscation-base64exec: off\n"
        "  waivers:\n"
        "    - id: threat-process-download-exec\n      project: fetchexec\n      versions: '==1.0'\n"
        "      justification: the stage-two URL is our own test server (ticket SEC-1)\n      expires: 2026-12-31\n"
        "    - id: threat-setup-network-in-install\n      project: fetchexec\n"
        "      justification: reviewed\n      expires: 2026-01-31\n",
    )
    assert _vet(repo, cache) == 1
    assert _code(_vetting(repo, "pthhook")) == [
        ("pth-exec", "block", "pthhook-1.0-py3-none-any.whl", "pthhook-init.pth:2")
    ]
    b64 = _vetting(repo, "b64exec")
    assert (_code(b64), b64["status"]) == ([], "pass")  # the rule is off: not run, not recorded
    assert b64["code_scan"]["hits"] == []
    decisions = {f[0]: f[1] for f in _code(_vetting(repo, "fetchexec"))}
    assert decisions["threat-process-download-exec"] == "waived"
    assert decisions["threat-setup-network-in-install"] == "block"  # its waiver expired
    assert "(waiver expired on 2026-01-31)" in next(
        f["message"]
        for f in _vetting(repo, "fetchexec")["findings"]
        if f["id"] == "threat-setup-network-in-install"
    )


def test_only_versions_not_scanned_with_this_ruleset_are_scanned(
    repo: Path, world: tuple[Path, Path, Upstream], capsys: pytest.CaptureFixture[str]
) -> None:
    cache = world[1]
    # a policy change vets every version again, but the files and the ruleset did not change
    _config(repo, "lookalike_distance: 1", "lookalike_distance: 2")
    capsys.readouterr()
    _vet(repo, cache)
    assert (
        "suspicious-code scan: 0 version(s) scanned, 8 reused (same files and ruleset)"
        in capsys.readouterr().out
    )
    # --force trusts no stored result: it scans again
    _vet(repo, cache, "--force")
    assert "suspicious-code scan: 8 version(s) scanned, 0 reused" in capsys.readouterr().out
    # a new ruleset (a rule turned off) scans every version again
    _config(repo, "  waivers: []\n", "  code_rules:\n    wheel-only-code: off\n  waivers: []\n")
    _vet(repo, cache)
    assert "suspicious-code scan: 8 version(s) scanned, 0 reused" in capsys.readouterr().out


def test_a_pull_request_scans_only_what_it_adds(
    repo: Path, world: tuple[Path, Path, Upstream], capsys: pytest.CaptureFixture[str]
) -> None:
    cache, up = world[1], world[2]
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    write_catalog(repo, up, {**PICKS, "cleanpkg": ["1.0", "2.0"]})  # the pull request adds cleanpkg 2.0
    _fetch(repo, cache)
    capsys.readouterr()
    _vet(repo, cache, "--force", "--scan-base", "main")
    assert "suspicious-code scan: 1 version(s) scanned, 8 reused" in capsys.readouterr().out
    assert _vetting(repo, "cleanpkg", "2.0")["code_scan"]["hits"] == []


def test_a_cached_file_changed_while_it_is_scanned_stops_vet_and_writes_nothing(
    repo: Path,
    world: tuple[Path, Path, Upstream],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The scan reads the cached bytes that were hashed: a file replaced between the hash and the scan
    (or during it) is not scanned as the bytes vetted. vet stops, and catalog/ is as it was."""
    cache = Path(shutil.copytree(world[1], tmp_path / "cache"))
    before = {p.name: p.read_bytes() for p in (repo / "catalog" / "packages").iterdir()}

    def tamper(project: str, files: Any, rules: Any, scratch: Path) -> Any:
        for filename, path in files:
            if filename.startswith("pthhook"):
                Path(path).write_bytes(Path(path).read_bytes() + b"\0")  # another payload, same path
        return scan_version(project, files, rules, scratch)

    monkeypatch.setattr("curate.vet.scan_version", tamper)
    capsys.readouterr()
    assert _vet(repo, cache, "--force") != 0
    err = capsys.readouterr().err
    assert "changed while curate vet read them (not the bytes vetted): pthhook-1.0-py3-none-any.whl" in err
    assert {p.name: p.read_bytes() for p in (repo / "catalog" / "packages").iterdir()} == before
