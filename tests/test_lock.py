"""`curate lock` end to end against the fixture upstream: closure per OS, pins, stability, upgrades,
removals, --check and failures that leave the catalog untouched."""

from __future__ import annotations

import errno
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.atomic import replace_files
from curate.catalog import Project, load_catalog, load_catalog_fast, project_path
from curate.config import load_config
from curate.lockstate import freshness, read_state
from curate.names import NormalizedName
from curate.selection import describe_upstream_files
from tests.lockutil import curate, lock_repo, snapshot, write_request
from tests.upstream import LINUX, Upstream, make_upstream
from tests.wheels import Dist

PY311 = ("3.11", "3.12")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with make_upstream(tmp_path_factory.mktemp("upstream")) as up:
        yield up


@pytest.fixture(autouse=True)
def _uv_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path_factory.getbasetemp() / "uv-cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))


@pytest.fixture
def repo(tmp_path: Path, upstream: Upstream) -> Path:
    return lock_repo(tmp_path / "repo", upstream.index_url)


def versions(catalog: dict[NormalizedName, Project], name: str) -> list[str]:
    return [v.version for v in catalog[NormalizedName(name)].sorted_versions()]


def test_transitive_closure_per_target_then_stable(
    repo: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    write_request(
        repo,
        "web",
        [("webapp", ""), ("newpy", ""), ("fastmath", ""), ("linuxonly", "", ["linux"])],
        python=PY311,
    )
    assert curate(repo, "lock") == 0
    err = capsys.readouterr().err
    assert "[1/1] requests/2026-11-21-web.yaml (new request): 4 target(s)" in err
    assert "    windows-amd64 / Python 3.12: 6 package(s)" in err
    assert "    linux-x86_64 / Python 3.12: 6 package(s)" in err

    catalog = load_catalog(repo)
    assert load_catalog_fast(repo) == catalog  # the fast reader agrees with the careful one
    assert sorted(catalog) == ["certy", "fastmath", "httpish", "linuxonly", "newpy", "webapp", "wincolor"]
    # wincolor only where webapp's marker pulls it in: Windows
    (wincolor,) = catalog[NormalizedName("wincolor")].versions
    (need,) = wincolor.needed_by
    assert need.targets == ("windows-amd64-py3.11", "windows-amd64-py3.12")
    assert (need.direct, need.via) == (False, ("webapp",))
    # the yanked httpish 1.2 is not picked; certy comes via httpish
    assert versions(catalog, "httpish") == ["1.1"]
    assert catalog[NormalizedName("certy")].versions[0].needed_by[0].via == ("httpish",)
    # Requires-Python: newpy 1.0 needs 3.12, so the one version that fits both Pythons is 0.9 (uv's
    # fewest fork strategy), and a lock file made on either Python installs on the other
    newpy = {v.version: v.targets for v in catalog[NormalizedName("newpy")].versions}
    assert newpy == {
        "0.9": ("linux-x86_64-py3.11", "linux-x86_64-py3.12", "windows-amd64-py3.11", "windows-amd64-py3.12")
    }
    assert catalog[NormalizedName("linuxonly")].versions[0].targets == (
        "linux-x86_64-py3.11",
        "linux-x86_64-py3.12",
    )
    # exactly the files each target can install, with the upstream's facts
    (fastmath,) = catalog[NormalizedName("fastmath")].versions
    assert {f.filename: f.targets for f in fastmath.files} == {
        "fastmath-1.5-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": (
            "linux-x86_64-py3.11",
            "linux-x86_64-py3.12",
        ),
        "fastmath-1.5-py3-none-win_amd64.whl": ("windows-amd64-py3.11", "windows-amd64-py3.12"),
    }
    for f in fastmath.files:
        real = upstream.file(f.filename)
        assert (f.sha256, f.size, f.upload_time) == (real.sha256, real.size, real.upload_time)
    # upstream-neutral: no file records where it came from
    for path in [repo / "catalog" / "lock.json", *(repo / "catalog" / "packages").iterdir()]:
        text = path.read_text("utf-8")
        assert "url:" not in text
        assert upstream.url.removeprefix("http://") not in text
    (webapp,) = catalog[NormalizedName("webapp")].versions
    assert {d.name: d.targets for d in webapp.dependencies} == {
        "httpish": (
            "linux-x86_64-py3.11",
            "linux-x86_64-py3.12",
            "windows-amd64-py3.11",
            "windows-amd64-py3.12",
        ),
        "wincolor": ("windows-amd64-py3.11", "windows-amd64-py3.12"),
    }

    # stable: nothing changed, nothing resolved or fetched, no byte changed
    before = snapshot(repo)
    upstream.log.clear()
    assert curate(repo, "lock") == 0
    assert "catalog/ is up to date" in capsys.readouterr().out
    assert upstream.log == []
    assert snapshot(repo) == before
    assert curate(repo, "lock", "--check") == 0


def test_requests_pin_different_versions_reuse_and_upgrade(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_request(repo, "old", [("webapp", "<2"), ("httpish", "==1.0")])
    assert curate(repo, "lock") == 0
    assert versions(load_catalog(repo), "webapp") == ["1.0"]
    # a new request shares webapp: the catalog's pin is reused; another request pins httpish 1.1
    write_request(repo, "new", [("webapp", ""), ("httpish", ">=1.1")], date="2026-11-22")
    assert curate(repo, "lock") == 0
    catalog = load_catalog(repo)
    assert versions(catalog, "httpish") == ["1.0", "1.1"]
    webapp = catalog[NormalizedName("webapp")].versions
    assert [(v.version, v.requests) for v in webapp] == [("1.0", ("2026-11-21-old", "2026-11-22-new"))]
    # --upgrade-package moves webapp where the request allows it; the old request keeps 1.0
    capsys.readouterr()
    assert curate(repo, "lock", "--upgrade-package", "webapp", "--upgrade-package", "webap") == 0
    err = capsys.readouterr().err
    assert "(upgrade webapp)" in err
    assert "note: --upgrade-package webap: no request asks for or pins it" in err  # a typo is not silent
    catalog = load_catalog(repo)
    assert [(v.version, v.requests) for v in catalog[NormalizedName("webapp")].sorted_versions()] == [
        ("1.0", ("2026-11-21-old",)),
        ("2.0", ("2026-11-22-new",)),
    ]
    assert versions(catalog, "wincolor") == ["0.4"]  # webapp 2.0 on Windows
    assert curate(repo, "lock", "--upgrade") == 0
    assert curate(repo, "lock", "--check") == 0


def test_removal_blocked_then_applied(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_request(repo, "old", [("httpish", "==1.0")])
    assert curate(repo, "lock") == 0
    before = snapshot(repo)
    write_request(repo, "drop", remove=[("httpish", "==1.0"), ("htttpish", "")], date="2026-11-22")
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:  # in CI: an annotation on the removal's entry
        mp.setenv("GITHUB_ACTIONS", "true")
        assert curate(repo, "lock") == 1
    out, err = capsys.readouterr()
    needed = "cannot remove httpish 1.0: still needed by requests/2026-11-21-old.yaml"
    assert f"requests/2026-11-22-drop.yaml:7: {needed}\n    hint: change those requests" in err
    assert "error: 1 problem(s) found; catalog/ was left as it was" in err
    assert f"::error file=requests/2026-11-22-drop.yaml,line=7::{needed} (hint: change those" in out
    assert snapshot(repo) == before
    write_request(repo, "old", [("httpish", ">=1.1")])
    assert curate(repo, "lock") == 0
    assert versions(load_catalog(repo), "httpish") == ["1.1"]
    # a removal naming a project the catalog never had is a likely typo: said, not silently ignored
    assert (
        "note: requests/2026-11-22-drop.yaml: remove htttpish (all) matches nothing"
        in capsys.readouterr().err
    )
    assert curate(repo, "lock", "--check") == 0
    # once done, a removal is not reported again by later locks of other requests
    write_request(repo, "more", [("certy", "")], date="2026-11-23")
    assert curate(repo, "lock") == 0
    assert "matches nothing" not in capsys.readouterr().err


def test_check_notices_stale_and_hand_edited(
    repo: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    assert curate(repo, "lock", "--check") == 0  # nothing asked, nothing locked
    write_request(repo, "web", [("httpish", "")])
    assert curate(repo, "lock", "--check") == 1
    assert "requests/2026-11-21-web.yaml: not locked yet" in capsys.readouterr().err
    with pytest.MonkeyPatch.context() as mp:  # in CI, the request file carries the annotation
        mp.setenv("GITHUB_ACTIONS", "true")
        assert curate(repo, "lock", "--check") == 1
    assert "::error file=requests/2026-11-21-web.yaml::not locked yet" in capsys.readouterr().out
    assert curate(repo, "lock") == 0
    assert curate(repo, "lock", "--check") == 0

    # vetting is curate vet's: editing it is not staleness
    path = project_path(repo, "httpish")
    vetted = path.read_text("utf-8").replace(
        "vetting: {}",
        "vetting:\n      summary: ''\n      license: ''\n      license_source: none\n      home_page: ''\n"
        "      requires_dist: []\n      status: warn\n      findings:\n        - id: x\n          kind: yanked\n"
        "          severity: ''\n          file: ''\n          message: ''\n          aliases: []\n"
        "          fixed: []\n          decision: warn\n          waiver:\n      files: {}\n      inputs: ''",
    )
    path.write_text(vetted, "utf-8")
    assert curate(repo, "lock", "--check") == 0
    path.write_text(vetted.replace("size: ", "size: 1"), "utf-8")
    capsys.readouterr()
    assert curate(repo, "lock", "--check") == 1
    assert "catalog/packages/httpish.yaml: edited by hand" in capsys.readouterr().err
    path.write_text(vetted, "utf-8")

    # a new title changes nothing locked: still up to date, and re-locking resolves nothing
    request = repo / "requests" / "2026-11-21-web.yaml"
    request.write_text(request.read_text("utf-8").replace("title: Request web", "title: Web"), "utf-8")
    assert curate(repo, "lock", "--check") == 0
    upstream.log.clear()
    assert curate(repo, "lock") == 0
    assert upstream.log == []
    assert path.read_text("utf-8") == vetted  # curate vet's findings survive a re-lock

    write_request(repo, "web", [("httpish", ">=1.0")])
    assert curate(repo, "lock", "--check") == 1
    assert "requests/2026-11-21-web.yaml: changed since the last lock" in capsys.readouterr().err
    (repo / "requests" / "2026-11-21-web.yaml").unlink()
    assert curate(repo, "lock", "--check") == 1
    assert "requests/2026-11-21-web.yaml: deleted" in capsys.readouterr().err
    # locking with no requests keeps what was approved, superseded (still served) until removed
    assert curate(repo, "lock") == 0
    catalog = load_catalog(repo)
    assert sorted(catalog) == ["certy", "httpish"]
    assert all(v.superseded and v.superseded_since for p in catalog.values() for v in p.versions)
    assert curate(repo, "lock", "--check") == 0


def test_freshness_gives_each_difference_a_kind(repo: Path) -> None:
    """What --check reports and what lock decides on are typed records, not sentences to search."""
    write_request(repo, "web", [("httpish", "")])
    write_request(repo, "gone", [("certy", "")], date="2026-11-20")
    bad = write_request(repo, "bad", [("certy", "")], date="2026-11-19")
    assert curate(repo, "lock", "-q") == 0

    def kinds() -> list[tuple[str, str]]:
        fresh = freshness(repo, load_config(repo), read_state(repo))
        return [(s.kind, s.path) for s in fresh.stale]

    assert kinds() == []
    bad.write_text(bad.read_text("utf-8").replace("title: Request bad", "title: [bad"), "utf-8")
    write_request(repo, "web", [("httpish", ">=1.0")])
    write_request(repo, "new", [("certy", "")], date="2026-11-22")
    (repo / "requests" / "2026-11-20-gone.yaml").unlink()
    packages = repo / "catalog" / "packages"
    (packages / "stray.yaml").write_text("name: stray\n", "utf-8")
    (packages / "certy.yaml").unlink()
    httpish = packages / "httpish.yaml"
    httpish.write_text(httpish.read_text("utf-8").replace("size: ", "size: 1"), "utf-8")
    config = repo / "catalog" / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("allow_sdist: false", "allow_sdist: true"), "utf-8")
    assert kinds() == [
        ("config-changed", "catalog/config.yaml"),
        ("invalid", "requests/2026-11-19-bad.yaml"),
        ("changed", "requests/2026-11-21-web.yaml"),
        ("not-locked", "requests/2026-11-22-new.yaml"),
        ("deleted", "requests/2026-11-20-gone.yaml"),
        ("missing", "catalog/packages/certy.yaml"),
        ("edited", "catalog/packages/httpish.yaml"),
        ("foreign", "catalog/packages/stray.yaml"),
    ]
    assert freshness(repo, load_config(repo), read_state(repo)).files_edited


def test_resolution_failure_names_request_and_target(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_request(repo, "ok", [("httpish", "")])
    assert curate(repo, "lock") == 0
    before = snapshot(repo)
    write_request(repo, "ml", [("httpish", ""), ("conflict-a", "")], date="2026-11-22")
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:  # in CI: an annotation on the package uv names
        mp.setenv("GITHUB_ACTIONS", "true")
        assert curate(repo, "lock") == 1
    out, err = capsys.readouterr()
    assert "requests/2026-11-22-ml.yaml:8: unable to resolve for linux-x86_64 / Python 3.12:\n" in err
    assert "error: 1 request(s) could not be resolved; catalog/ was left as it was" in err
    (annotation,) = out.splitlines()
    assert annotation.startswith(
        "::error file=requests/2026-11-22-ml.yaml,line=8::unable to resolve for linux-x86_64 / Python 3.12:%0A"
    )
    assert "certy<2000" in annotation
    # uv words it "all versions of conflict-a depend on" or "conflict-a==1.0 depends on", wrapped to
    # the terminal's width: check the facts, not the phrasing
    flat = " ".join(err.split())
    assert "conflict-a" in flat
    assert "certy<2000" in flat
    assert snapshot(repo) == before


def test_missing_wheel_fails_naming_package_and_target(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(repo)
    write_request(repo, "lin", [("linuxonly", "")])
    with pytest.MonkeyPatch.context() as mp:  # in CI: an annotation on the package's entry
        mp.setenv("GITHUB_ACTIONS", "true")
        assert curate(repo, "lock") == 1
    out, err = capsys.readouterr()
    message = (
        "linuxonly 1.0 has no wheel for windows-amd64 / Python 3.12 "
        "(the upstream's wheels are for manylinux2014_x86_64, manylinux_2_17_x86_64; no sdist)"
    )
    assert f"requests/2026-11-21-lin.yaml:7: {message}\n    hint: limit the package" in err
    assert "has no wheel for linux" not in err
    assert f"::error file=requests/2026-11-21-lin.yaml,line=7::{message} (hint: limit the package" in out
    assert snapshot(repo) == before


def test_missing_wheel_of_a_dependency_points_at_the_package_that_pulls_it_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dists = [
        Dist(name="linuxonly", version="1.0", wheel_tags=[LINUX], sdist=False),
        Dist(name="lintool", version="2.0", requires_dist=["linuxonly"]),
        Dist(name="plain", version="1.0"),
    ]
    with make_upstream(tmp_path / "upstream", dists) as up:
        repo = lock_repo(tmp_path / "repo", up.index_url)
        write_request(repo, "tools", [("plain", ""), ("lintool", "")])
        write_request(repo, "more", [("lintool", "")], date="2026-11-22")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("GITHUB_ACTIONS", "true")
            assert curate(repo, "lock", "-q") == 1
    out, err = capsys.readouterr()
    message = "linuxonly 1.0 (pulled in by lintool) has no wheel for windows-amd64 / Python 3.12"
    # every request that needs it, each on the entry that pulls it in
    assert [line.split(" (the upstream")[0] for line in out.splitlines()] == [
        f"::error file=requests/2026-11-21-tools.yaml,line=8::{message}",
        f"::error file=requests/2026-11-22-more.yaml,line=7::{message}",
    ]
    assert f"requests/2026-11-21-tools.yaml:8: {message}" in err
    assert "error: 2 problem(s) found; catalog/ was left as it was" in err


@pytest.mark.parametrize(
    ("files", "text"),
    [
        ([], "the upstream lists no files"),
        (["x-1.0.tar.gz"], "the upstream has only an sdist"),
        (
            ["x-1.0-cp312-cp312-win_amd64.whl", "x-1.0-cp311-cp311-win_amd64.whl", "x-1.0.tar.gz"],
            "the upstream's wheels are for win_amd64; it also has an sdist",
        ),
        (
            [f"x-1.0-py3-none-macosx_10_{i}_x86_64.whl" for i in range(10)],
            "the upstream's wheels are for macosx_10_0_x86_64, macosx_10_1_x86_64, macosx_10_2_x86_64, "
            "macosx_10_3_x86_64, macosx_10_4_x86_64, macosx_10_5_x86_64, macosx_10_6_x86_64, "
            "macosx_10_7_x86_64 and 2 more; no sdist",
        ),
    ],
)
def test_describe_upstream_files(files: list[str], text: str) -> None:
    assert describe_upstream_files(files) == text


def test_a_config_change_says_so(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_request(repo, "web", [("httpish", "")])
    assert curate(repo, "lock", "-q") == 0
    config = repo / "catalog" / "config.yaml"
    config.write_text(config.read_text("utf-8").replace("allow_sdist: false", "allow_sdist: true"), "utf-8")
    capsys.readouterr()
    assert curate(repo, "lock") == 0
    # the request file was not touched: the reason to resolve it again is the config
    assert "[1/1] requests/2026-11-21-web.yaml (config changed): " in capsys.readouterr().err


def test_sdist_allowed_marks_build_targets(tmp_path: Path, upstream: Upstream) -> None:
    root = lock_repo(tmp_path / "repo", upstream.index_url, allow_sdist=True)
    write_request(root, "old", [("oldsdist", "")])
    assert curate(root, "lock") == 0
    (version,) = load_catalog(root)[NormalizedName("oldsdist")].versions
    assert version.build_targets == ("linux-x86_64-py3.12", "windows-amd64-py3.12")
    assert [f.filename for f in version.files] == ["oldsdist-0.9.tar.gz"]


def test_default_index_comes_from_uv_and_yanked_pins_are_marked(
    tmp_path: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No upstream configured: uv's default (here from UV_DEFAULT_INDEX) is used, and curate reads the
    file lists from the index uv reports, without naming one itself."""
    root = lock_repo(tmp_path / "repo", "")
    assert load_config(root).index_url is None
    monkeypatch.setenv("UV_DEFAULT_INDEX", upstream.index_url)
    write_request(root, "pinned", [("httpish", "==1.2")])
    assert curate(root, "lock") == 0
    (version,) = load_catalog(root)[NormalizedName("httpish")].versions
    assert version.yanked == "broken release"
    assert [(f.filename, f.yanked) for f in version.files] == [
        ("httpish-1.2-py3-none-any.whl", "broken release")
    ]


def test_a_failed_write_leaves_the_catalog_as_it_was(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_request(repo, "ok", [("httpish", "")])
    assert curate(repo, "lock") == 0
    before = snapshot(repo)
    write_request(repo, "web", [("webapp", "")], date="2026-11-22")  # new project files and lock.json
    calls: list[int] = []
    real_fsync = os.fsync

    def disk_full_on_the_second_file(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full_on_the_second_file)
    capsys.readouterr()
    assert curate(repo, "lock") == 1
    assert "error: No space left on device" in capsys.readouterr().err
    assert snapshot(repo) == before  # nothing renamed in, and no temporary file left behind
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert curate(repo, "lock") == 0
    assert curate(repo, "lock", "--check") == 0


def test_replace_files_holds_ctrl_c_until_every_file_is_in(tmp_path: Path) -> None:
    a, b, gone = tmp_path / "a.yaml", tmp_path / "sub" / "b.yaml", tmp_path / "gone.yaml"
    a.write_bytes(b"old a\n")
    gone.write_bytes(b"stale\n")
    real_replace = os.replace

    def interrupted_replace(src: str, dst: Path) -> None:
        real_replace(src, dst)
        signal.raise_signal(signal.SIGINT)  # Ctrl-C after the first rename

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "replace", interrupted_replace)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C raises, whatever ran before
        with pytest.raises(KeyboardInterrupt):
            replace_files({a: b"new a\n", b: b"new b\n", gone: None})
    # the interrupt came only after every rename and deletion
    assert (a.read_bytes(), b.read_bytes(), gone.exists()) == (b"new a\n", b"new b\n", False)
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []
    assert replace_files({a: b"new a\n", b: b"newer b\n"}) == [b]  # unchanged bytes are not touched


def test_an_index_url_with_credentials_is_not_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token in upstream.index_url must not reach a CI log when the upstream cannot be reached."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = lock_repo(tmp_path / "repo", f"http://ci-bot:s3cret-token@127.0.0.1:{port}/simple/")
    write_request(repo, "web", [("httpish", "")])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GITHUB_ACTIONS", "true")
        mp.setenv("UV_HTTP_RETRIES", "0")  # nothing will answer: no need to wait for uv's retries
        assert curate(repo, "lock") == 1
    out, err = capsys.readouterr()
    assert "requests/2026-11-21-web.yaml:7: unable to resolve for its targets:" in err
    assert "::error file=requests/2026-11-21-web.yaml,line=7::unable to resolve" in out
    assert "s3cret-token" not in out + err
