"""`curate smoke`: the install-and-import test per request and target, from the built index only.

One catalog for the module: ``ok`` asks for ``goodpkg`` (two top-level modules; it pulls in
``helperlib``), ``broken`` for ``badimport``, whose module raises ImportError when imported. Both for
Linux and Windows on the Python running the tests: this machine runs the Linux target (fresh venv, uv
from the index served on 127.0.0.1, hashes required), never the Windows one.
"""

from __future__ import annotations

import contextlib
import io
import json
import platform
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate import ci, report, smoke
from curate.build import build
from curate.catalog import load_catalog
from curate.config import load_config
from curate.errors import ValidationError
from curate.lock import load_requests
from curate.site import SiteRenderer, collect
from tests.catalogs import vet_as_is
from tests.conftest import REPO
from tests.lockutil import curate, lock_repo, write_request
from tests.test_index_helpers import fill_cache
from tests.upstream import make_upstream
from tests.wheels import Dist

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
LINUX = f"linux-x86_64-py{PY}"
WINDOWS = f"windows-amd64-py{PY}"
OK = "2026-11-21-ok"
BROKEN = "2026-11-22-broken"
# data in an error: it must reach HTML and Markdown inert
ERROR = "libfoo.so.1 <img src=x> @org/team: cannot open shared object file"

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.machine() != "x86_64",
    reason="the fixture catalog's runnable target is linux-x86_64",
)


def dists() -> list[Dist]:
    return [
        Dist(
            name="goodpkg", version="1.0", requires_dist=["helperlib"], top_level=["goodpkg", "goodpkg_extra"]
        ),
        Dist(
            name="helperlib",
            version="1.0",
            wheel_files=[("helperlib/__init__.py", b"raise ImportError('never imported: not requested')\n")],
        ),
        Dist(
            name="badimport",
            version="1.0",
            wheel_files=[("badimport/__init__.py", f"raise ImportError({ERROR!r})\n".encode())],
        ),
        Dist(name="addon", version="1.0"),
    ]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int, str, str]]:
    """The repository after `curate smoke`, its exit code, stdout and stderr (the upstream still serves,
    for a re-lock)."""
    base = tmp_path_factory.mktemp("smoke")
    with make_upstream(base / "upstream", dists()) as up:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("UV_CACHE_DIR", str(base / "uv-cache"))
            mp.setenv("UV_PYTHON_DOWNLOADS", "never")
            root = lock_repo(base / "repo", up.index_url)
            write_request(root, "ok", [("goodpkg", "")], python=(PY,))
            write_request(root, "broken", [("badimport", "")], python=(PY,), date="2026-11-22")
            assert curate(root, "lock", "-q") == 0
            fill_cache(up, base / "cache")
            vet_as_is(root)
            build(root=root, output=root / "public", cache_dir=base / "cache", env={}, site=False)
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = curate(root, "smoke", "--json", str(base / "runner-linux" / "smoke.json"))
        yield root, code, out.getvalue(), err.getvalue()


def test_a_request_that_installs_and_imports_passes(ran: tuple[Path, int, str, str]) -> None:
    root, _, out, err = ran
    recorded = smoke.read_results(root, OK)
    assert set(recorded) == {LINUX}  # the Windows target was not run, so nothing is recorded for it
    result = recorded[LINUX]
    assert result.status == "pass"
    # the requested package's modules, from its top_level.txt; helperlib (a dependency) is not imported
    assert result.modules == ("goodpkg", "goodpkg_extra")
    assert result.packages == 2
    assert result.python.startswith(PY + ".")
    assert result.installer.startswith("uv ")
    entries = smoke.locked_set(load_catalog(root), OK, LINUX)
    assert [e.normalized for e in entries] == ["goodpkg", "helperlib"]
    assert result.installed_set == smoke.set_hash(entries)
    assert f"{OK} {LINUX}" in out
    assert "pass (2 packages, 2 modules imported)" in out
    assert f"[1/2] {OK} {LINUX}: installing 2 package(s) from http://127.0.0.1:" in err  # progress


def test_testing_one_request_keeps_the_others_records(
    ran: tuple[Path, int, str, str], tmp_path: Path
) -> None:
    src, _, _, _ = ran
    root = tmp_path / "repo"
    shutil.copytree(src, root)
    broken = smoke.results_path(root, BROKEN).read_bytes()
    (root / "requests" / "2026-11-01-gone.yaml").write_bytes((root / "requests" / f"{OK}.yaml").read_bytes())
    gone = smoke.results_path(root, "2026-11-01-gone")
    gone.write_bytes(smoke.results_path(root, OK).read_bytes().replace(OK.encode(), b"2026-11-01-gone"))
    (root / "requests" / "2026-11-01-gone.yaml").unlink()  # a request that was removed: its record goes
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
        assert curate(root, "smoke", "-r", OK, "-q") == 0
    assert smoke.results_path(root, BROKEN).read_bytes() == broken  # not tested this time: kept as it was
    assert smoke.read_results(root, OK)[LINUX].status == "pass"
    assert not gone.exists()
    assert "removed catalog/smoke/2026-11-01-gone.yaml (its request is gone)" in out.getvalue()


def test_a_failing_import_is_reported_with_its_error_and_blocks(ran: tuple[Path, int, str, str]) -> None:
    root, code, out, err = ran
    assert code == 1  # smoke.failing_import defaults to block
    result = smoke.read_results(root, BROKEN)[LINUX]
    assert result.status == "fail"
    (failure,) = result.failures
    assert (failure.package, failure.stage, failure.module) == ("badimport", "import", "badimport")
    assert failure.error == f"ImportError: {ERROR}"
    assert (
        f"error: smoke test failed: request {BROKEN}, target {LINUX}: badimport: import badimport failed"
        in err
    )
    assert "a failed install-and-import test blocks" in err
    assert "2 passed" not in out
    assert "1 passed, 1 failed" in out


def test_a_target_this_machine_cannot_run_is_reported_not_run(
    ran: tuple[Path, int, str, str], tmp_path: Path
) -> None:
    root, _, out, _ = ran
    assert f"{OK} {WINDOWS}" in out
    assert "not run here: this machine is linux x86_64; the target needs windows AMD64" in out
    # a missing Python is "not run here" too, with why, and nothing is run or recorded
    config = load_config(root)
    outcome = smoke.smoke(
        root,
        config=config,
        requests=load_requests(root),
        env={},
        public=tmp_path / "nothing-built",  # never served: no target runs
        find_python=lambda version: f"Python {version} is not installed here",
    )
    assert {(r.target, r.status, r.reason) for r in outcome.results if r.request == OK} == {
        (LINUX, "not-run", f"Python {PY} is not installed here"),
        (WINDOWS, "not-run", "this machine is linux x86_64; the target needs windows AMD64"),
    }
    assert not outcome.failed
    assert not outcome.blocking
    assert outcome.written == ()
    # the JSON a CI runner writes says the same
    data = json.loads(smoke.results_json(outcome))
    assert {d["status"] for d in data["results"]} == {"not-run"}


def test_a_stale_result_shows_after_a_relock(ran: tuple[Path, int, str, str], tmp_path: Path) -> None:
    src, _, _, _ = ran
    root = tmp_path / "repo"
    shutil.copytree(src, root, ignore=shutil.ignore_patterns("public"))
    config = load_config(root)

    def rows() -> dict[str, dict[str, smoke.Shown]]:
        got = smoke.recorded(root, load_requests(root), config, load_catalog(root))
        return {req: {s.target: s for s in items} for req, items in got.items()}

    before = rows()
    assert (before[OK][LINUX].status, before[OK][WINDOWS].status) == ("pass", "untested")
    assert before[BROKEN][LINUX].status == "fail"
    assert before[BROKEN][LINUX].blocking
    # the request asks for one more package: the re-lock changes its locked set
    write_request(root, "ok", [("goodpkg", ""), ("addon", "")], python=(PY,))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
        assert curate(root, "lock", "-q") == 0
    after = rows()
    assert after[OK][LINUX].status == "stale"
    assert "stale: pass for another locked set (re-locked since)" in after[OK][LINUX].text
    assert after[BROKEN][LINUX].status == "fail"  # its set did not change
    # the site's request page and the review report say so (the error is data: inert in both)
    data = collect(root, config, env={})
    renderer = SiteRenderer(data)
    for page in (
        renderer.requests_page(),
        renderer.request(data.requests[OK]),
        renderer.request(data.requests[BROKEN]),
    ):
        assert "Install-and-import test" in page
        assert "<img src=x>" not in page
    assert "⚠️ stale: pass for another locked set" in renderer.requests_page()
    assert "⚠️ stale: pass for another locked set" in renderer.request(data.requests[OK])
    assert "&lt;img src=x&gt;" in renderer.request(data.requests[BROKEN])
    markdown, blocking = ci.smoke_report(root, None)
    assert blocking
    assert "As recorded in `catalog/smoke/`" in markdown
    assert f"| `{OK}` | `{LINUX}` | ⚠️ stale: " in markdown
    assert "&lt;img src=x&gt; @&#8203;org/team" in markdown


def test_the_report_merges_the_runners_results(ran: tuple[Path, int, str, str], tmp_path: Path) -> None:
    root, _, _, _ = ran
    runners = tmp_path / "smoke"
    shutil.copytree(root.parent / "runner-linux", runners / "smoke-linux-x86_64")
    # a Windows runner that found no Python for the request's version
    windows = smoke.SmokeOutcome(
        results=(smoke.TargetResult(request=OK, target=WINDOWS, status="not-run", reason="no Python here"),),
        policy="block",
    )
    (runners / "smoke-windows-amd64").mkdir()
    (runners / "smoke-windows-amd64" / "smoke.json").write_text(smoke.results_json(windows), "utf-8")
    markdown, blocking = ci.smoke_report(root, runners)
    assert blocking
    assert "From this run: 2 runner(s) tested 1 target(s)" in markdown
    assert f"| `{OK}` | `{LINUX}` | ✅ pass: " in markdown
    assert (
        f"| `{BROKEN}` | `{LINUX}` | ❌ FAIL: badimport: import badimport failed: ImportError: " in markdown
    )
    # each runner says why it did not run a target; the reasons of several are kept
    assert f"| `{OK}` | `{WINDOWS}` | ⏭️ not run: this machine is linux x86\\_64" in markdown
    assert "; no Python here |" in markdown
    body = report.pr_report(
        outcomes={"check": "success"}, diff_markdown="", smoke=markdown, smoke_blocking=True
    )
    assert "**1 check(s) failed:** install-and-import test" in body
    (runners / "bad.json").write_text("[]", "utf-8")
    markdown, blocking = ci.smoke_report(root, runners)
    assert "could not be read" in markdown
    assert "not smoke results" in markdown
    assert not blocking


def test_policy_and_malformed_records(tmp_path: Path) -> None:
    failed = smoke.TargetResult(
        request=OK,
        target=LINUX,
        status="fail",
        installed_set="a" * 64,
        failures=(smoke.Failure(package="x", stage="import", module="x", error="ImportError: no"),),
    )
    assert smoke.SmokeOutcome(results=(failed,), policy="block").blocking
    assert not smoke.SmokeOutcome(results=(failed,), policy="warn").blocking
    shown = smoke.shown(failed, request=OK, target=LINUX, current_set="a" * 64, policy="warn")
    assert (shown.status, shown.blocking) == ("fail", False)
    root = tmp_path
    (root / "catalog" / "smoke").mkdir(parents=True)
    (root / "catalog" / "smoke" / f"{OK}.yaml").write_text(
        f"request: {OK}\ntargets:\n- target: {LINUX}\n  status: passed\n", "utf-8"
    )
    with pytest.raises(ValidationError) as exc:
        smoke.read_results(root, OK)
    (problem,) = exc.value.problems
    assert problem.path == f"catalog/smoke/{OK}.yaml"
    assert "status must be one of pass, fail, not-run" in problem.message
    # the site's build and the review report read them too: they name the file, never "not tested"
    requests = load_requests(REPO)  # the example requests, whose results are malformed here
    (root / "catalog" / "smoke" / f"{requests[0].id}.yaml").write_text("request: someone-else\n", "utf-8")
    with pytest.raises(ValidationError) as exc:
        smoke.recorded(root, requests, load_config(REPO), {})
    assert exc.value.problems[0].path == f"catalog/smoke/{requests[0].id}.yaml"


def test_the_policy_is_configured(tmp_path: Path) -> None:
    from tests.catalogs import make_repo

    root = make_repo(tmp_path / "warn", extra_config="smoke:\n  failing_import: warn\n")
    assert load_config(root).smoke_failing_import == "warn"
    root = make_repo(tmp_path / "bad", extra_config="smoke:\n  failing_import: maybe\n")
    with pytest.raises(ValidationError) as exc:
        load_config(root)
    assert any(p.key == "smoke.failing_import" for p in exc.value.problems), exc.value.problems


def test_smoke_results_are_no_lock_change(tmp_path: Path) -> None:
    """`curate ci relock` compares the locked part of catalog/: results recorded by `curate smoke` (like
    `vetting:`) are evidence, so committing them is no change a re-resolution must reproduce."""
    base, mine = tmp_path / "base", tmp_path / "mine"
    for tree in (base, mine):
        (tree / "smoke").mkdir(parents=True)
    (mine / "smoke" / f"{OK}.yaml").write_text(f"request: {OK}\ntargets: []\n", "utf-8")
    assert ci._locked_part_changes(base, mine) == []
    (mine / "lock.json").write_text("{}", "utf-8")
    assert ci._locked_part_changes(base, mine) == ["lock.json"]


def test_one_process_per_package_keeps_each_modules_error(tmp_path: Path) -> None:
    got = smoke.import_errors(
        Path(sys.executable), ["json", "no_such_module_x", "email"], env={}, cwd=tmp_path
    )
    assert got == {
        "json": "",
        "no_such_module_x": "ModuleNotFoundError: No module named 'no_such_module_x'",
        "email": "",
    }


def test_the_locked_set_takes_the_wheels_built_from_sdists() -> None:
    from curate.catalog import BuiltFile, FileEntry, Need, Project, VersionEntry
    from curate.names import NormalizedName

    version = VersionEntry(
        version="1.0",
        needed_by=(Need(request=OK, targets=(LINUX, WINDOWS), direct=True),),
        build_targets=(LINUX,),
        files=(FileEntry(filename="x-1.0.tar.gz", sha256="a" * 64, size=1, targets=(LINUX, WINDOWS)),),
        built=(BuiltFile(filename="x-1.0-py3-none-any.whl", sha256="b" * 64, size=1, targets=(LINUX,)),),
    )
    projects = {NormalizedName("x"): Project(name="x", versions=(version,))}
    (linux,) = smoke.locked_set(projects, OK, LINUX)
    assert linux.sha256 == ("a" * 64, "b" * 64)
    assert linux.requirement() == f"x==1.0 --hash=sha256:{'a' * 64} --hash=sha256:{'b' * 64}"
    (windows,) = smoke.locked_set(projects, OK, WINDOWS)
    assert windows.sha256 == ("a" * 64,)
    assert smoke.set_hash([linux]) != smoke.set_hash([windows])


def test_python_is_found_without_downloading_one(tmp_path: Path) -> None:
    """uv's discovery first; where it fails (pyenv's shims, which uv cannot run), pyenv's versions."""
    full = platform.python_version()
    pyenv = tmp_path / "pyenv"
    (pyenv / "versions" / full / "bin").mkdir(parents=True)
    (pyenv / "versions" / full / "bin" / f"python{PY}").symlink_to(sys.executable)
    failing_uv = tmp_path / "uv"
    failing_uv.write_text("#!/bin/sh\necho 'error: no interpreter found' >&2\nexit 2\n", "utf-8")
    failing_uv.chmod(0o755)
    found = smoke.python_finder(str(failing_uv), {"PYENV_ROOT": str(pyenv)})(PY)
    assert found == smoke.Interpreter(
        path=str(pyenv / "versions" / full / "bin" / f"python{PY}"), version=full
    )
    missing = smoke.python_finder(str(failing_uv), {"PYENV_ROOT": str(pyenv)})("3.99")
    assert (
        missing
        == f"Python 3.99 is not installed here (uv: error: no interpreter found; none in {pyenv / 'versions'})"
    )
