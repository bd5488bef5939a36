"""curate wheels for targets other than Linux (issue 14): the repair tool of a macOS or Windows builder.

This machine is Linux: neither delocate (it edits Mach-O files with macOS's install_name_tool and
codesign) nor a Windows build can run here, so **the real delocate-wheel is not run by these tests**, and
the full ``curate wheels`` path runs a stand-in delvewheel. (delvewheel itself runs on any OS: the last
test runs the real one on a Windows wheel cross-compiled with mingw-w64.) What is tested is curate's side
of them, on its real code path: ``curate wheels`` with the
builder's OS taken as macOS or Windows (``curate.wheels._system``), a real sandboxed ``uv build`` of a C
extension with gcc, then the repair step calling a small stand-in ``delocate-wheel`` / ``delvewheel`` put
on PATH. The stand-in checks the command line it is given (exit 2 otherwise) and writes the wheel the
real tool writes into the output directory (delocate-wheel: renamed to the lowest macOS version its
binaries allow, its WHEEL tags and RECORD rewritten; delvewheel: the Windows wheel). curate then takes
the one wheel there, checks its tags against the target's platform tags and records the tool's version
in ``built:``; a failing tool is a failure naming the package, version, target and its log's last lines.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate import wheels
from curate.catalog import BuiltFile, VersionEntry, load_catalog
from curate.names import normalize
from curate.targets import Target
from curate.wheels import Builder, repair_command
from tests.lockutil import curate, lock_repo, write_request
from tests.test_wheels import C_SOURCE, PY, _backend_wheels, _capture, _sandbox, _setuptools, make_sdist
from tests.upstream import Upstream
from tests.wheels import Dist

CP = f"cp{PY.replace('.', '')}"

# Rewrites a wheel as the real repair tool leaves it: under another platform tag, with its WHEEL's Tag
# lines and its RECORD made to match (what delocate's _update_wheelfile and rewrite_record do).
_RETAG = r"""
import base64, hashlib, zipfile

def retag(src, dest_dir, platform, year=2024):
    import os
    name = os.path.basename(src)
    stem = name[: -len(".whl")].split("-")
    new = "-".join([*stem[:-1], platform]) + ".whl"
    with zipfile.ZipFile(src) as zf:
        items = [(i.filename, zf.read(i)) for i in zf.infolist()]
    record = next(n for n, _ in items if n.endswith(".dist-info/RECORD"))
    out, lines = [], []
    for n, data in items:
        if n.endswith(".dist-info/WHEEL"):
            text = data.decode()
            kept = [l for l in text.splitlines() if not l.startswith("Tag:")]
            tags = [f"Tag: {stem[-3]}-{stem[-2]}-{platform}"]
            data = ("\n".join(kept + tags) + "\n").encode()
        if n != record:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            lines.append(f"{n},sha256={digest},{len(data)}")
            out.append((n, data))
    out.append((record, ("\n".join(lines + [f"{record},,"]) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(dest_dir, new), "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in out:
            zf.writestr(zipfile.ZipInfo(n, (year, 1, 1, 0, 0, 0)), data)
"""

FAKE_DELOCATE = '''
"""Stands in for delocate-wheel (macOS only) in curate's tests: checks its command line, then writes
the wheel into -w DIR renamed as delocate-wheel renames it (the real tool was not run)."""
import os, sys
args = sys.argv[1:]
if args == ["--version"]:
    print("delocate-wheel 0.13.0")
    raise SystemExit(0)
if len(args) != 6 or args[0] != "--require-archs" or args[2] != "-w" or args[4] != "-v":
    print("unexpected arguments:", args)
    raise SystemExit(2)
arch, out, wheel = args[1], args[3], args[5]
print("Fixing: " + wheel)
if MODE == "fail":
    print("delocate.libsana.DelocationError: Library dependencies do not satisfy target MacOS version 12.0:")
    print("  cfast.so has a minimum target of 14.0")
    raise SystemExit(1)
# a dylib it links needs a newer macOS: delocate names the wheel after it
retag(wheel, out, f"macosx_15_0_{arch}" if MODE == "too-new" else f"macosx_10_9_{arch}")
'''

FAKE_DELVEWHEEL = '''
"""Stands in for delvewheel (Windows wheels) in curate's tests: checks its command line, then writes
the wheel into -w DIR as a Windows build repaired by delvewheel would be (the real tool was not run)."""
import sys
args = sys.argv[1:]
if args == ["--help"]:
    print("usage: delvewheel [-h] {show,repair,needed,replace-needed} ...")
    print()
    print("delvewheel 1.13.2: Create self-contained wheels for Windows")
    raise SystemExit(0)
if len(args) != 4 or args[:2] != ["repair", "-w"]:
    print("unexpected arguments:", args)
    raise SystemExit(2)
out, wheel = args[2], args[3]
print("repairing " + wheel)
if MODE == "fail":
    print("FileNotFoundError: Unable to find library: libfoo.dll")
    raise SystemExit(1)
print("no external dependencies are needed")
retag(wheel, out, "win_amd64", year=2025 if MODE == "other-bytes" else 2024)
'''


def _fake(folder: Path, name: str, body: str, mode: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!{sys.executable}\nMODE = {mode!r}\n{_RETAG}\n{body}", "utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class XosFlow:
    def __init__(self, root: Path, cache: Path, tmp: Path) -> None:
        self.root, self.cache, self.tmp = root, cache, tmp
        self.runs = 0

    def fresh(self, name: str) -> Path:
        """A copy of the locked, vetted repository (nothing built yet) to run one builder in."""
        dest = self.tmp / name
        shutil.copytree(self.root, dest)
        return dest

    def own_cache(self, name: str) -> Path:
        """A cache of its own (a fresh runner's, or the author's machine): the fetched files, nothing built."""
        dest = self.tmp / f"cache-{name}"
        shutil.copytree(self.tmp / "cache-pristine", dest)
        return dest


@pytest.fixture(scope="module")
def xos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XosFlow]:
    backends = _backend_wheels()
    _sandbox()
    tmp = tmp_path_factory.mktemp("xos")
    cext = _setuptools(
        "cfast",
        "from setuptools import Extension, setup\nsetup(ext_modules=[Extension('cfast', ['cfast.c'])])\n",
    )
    del cext["cfast.py"]
    cext["cfast.c"] = C_SOURCE
    up = Upstream(tmp / "upstream")
    up.add_file(
        Dist(name="cfast", version="1.0", wheel_tags=()), make_sdist(tmp / "sdists", "cfast", "1.0", cext)
    )
    for wheel in backends:
        dist_name, version = wheel.name.split("-")[:2]
        up.add_file(Dist(name=dist_name, version=version), wheel)
    cache = tmp / "cache"
    with up:
        root = lock_repo(tmp / "repo", up.index_url, allow_sdist=True)
        config = root / "catalog" / "config.yaml"
        text = config.read_text("utf-8").replace("min_release_age_days: 7", "min_release_age_days: 0")
        config.write_text(text + "build:\n  time_limit: 300\n", "utf-8")
        write_request(
            root, "native", [("cfast", "==1.0")], platforms=("linux", "windows", "macos"), python=(PY,)
        )
        os.environ["CURATE_CACHE_DIR"] = str(cache)
        try:
            assert curate(root, "lock") == 0
            assert curate(root, "fetch") == 0
            assert curate(root, "vet", "--no-advisories") == 0
            shutil.copytree(cache, tmp / "cache-pristine")  # the fetched and vetted files, nothing built
            yield XosFlow(root, cache, tmp)
        finally:
            os.environ.pop("CURATE_CACHE_DIR", None)


def _as_builder(monkeypatch: pytest.MonkeyPatch, system: str, tools: Path) -> None:
    monkeypatch.setattr(wheels, "_system", lambda: system)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")


def _version(root: Path) -> VersionEntry:
    return load_catalog(root)[normalize("cfast")].versions[0]


def test_a_macos_builder_repairs_with_delocate_and_records_it(
    xos: XosFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = xos.fresh("macos")
    _as_builder(monkeypatch, "macos", xos.tmp / "tools-mac")
    _fake(xos.tmp / "tools-mac", "delocate-wheel", FAKE_DELOCATE, "ok")
    code, text = _capture(lambda: curate(root, "wheels"))
    assert code == 1, text  # the targets of other builders fail, saying which builder they need
    assert "delocate 0.13.0" in text  # the builder line names the repair tool
    v = _version(root)
    (b,) = v.built
    assert b.filename == f"cfast-1.0-{CP}-{CP}-macosx_10_9_x86_64.whl"
    assert b.targets == (f"macos-x86_64-py{PY}",)
    assert b.repair == "delocate 0.13.0"
    assert b.reproducible == "identical"
    assert b.isolation == "bwrap"  # the sandbox this Linux machine has (a macOS runner: sandbox-exec)
    assert not b.problems, b.problems  # checked as curate vet checks an upstream wheel: WHEEL, RECORD
    failures = {t: f.reason for f in v.build_failures for t in f.targets}
    assert failures[f"linux-x86_64-py{PY}"] == "needs a linux x86_64 builder (this one is macos x86_64)"
    assert failures[f"windows-amd64-py{PY}"] == "needs a windows AMD64 builder (this one is macos x86_64)"
    assert failures[f"macos-arm64-py{PY}"] == "needs a macos arm64 builder (this one is macos x86_64)"


def test_a_windows_builder_repairs_with_delvewheel_and_records_it(
    xos: XosFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = xos.fresh("windows")
    _as_builder(monkeypatch, "windows", xos.tmp / "tools-win")
    _fake(xos.tmp / "tools-win", "delvewheel", FAKE_DELVEWHEEL, "ok")
    code, text = _capture(lambda: curate(root, "wheels", "--no-recheck"))
    assert code == 1, text
    (b,) = _version(root).built
    assert b.filename == f"cfast-1.0-{CP}-{CP}-win_amd64.whl"
    assert b.targets == (f"windows-amd64-py{PY}",)
    assert b.repair == "delvewheel 1.13.2"
    assert not b.problems, b.problems


@pytest.mark.parametrize(
    ("system", "tool", "body", "message", "log"),
    [
        (
            "macos",
            "delocate-wheel",
            FAKE_DELOCATE,
            f"failed: cfast 1.0 for macos-x86_64-py{PY}: delocate-wheel failed (exit status 1)",
            "  cfast.so has a minimum target of 14.0",
        ),
        (
            "windows",
            "delvewheel",
            FAKE_DELVEWHEEL,
            f"failed: cfast 1.0 for windows-amd64-py{PY}: delvewheel repair failed (exit status 1)",
            "FileNotFoundError: Unable to find library: libfoo.dll",
        ),
    ],
    ids=["delocate", "delvewheel"],
)
def test_a_failing_repair_names_package_version_target_and_log(
    xos: XosFlow,
    monkeypatch: pytest.MonkeyPatch,
    system: str,
    tool: str,
    body: str,
    message: str,
    log: str,
) -> None:
    root = xos.fresh(f"fail-{system}")
    _as_builder(monkeypatch, system, xos.tmp / f"tools-fail-{system}")
    _fake(xos.tmp / f"tools-fail-{system}", tool, body, "fail")
    code, text = _capture(lambda: curate(root, "wheels", "--no-recheck"))
    assert code == 1
    assert message in text, text
    assert f"    | {log.strip()}" in text  # the last lines of the tool's log
    v = _version(root)
    assert not v.built
    assert any(message.split(": ", 2)[2] == f.reason for f in v.build_failures)


def test_a_repaired_wheel_the_target_does_not_accept_is_a_failure_naming_its_tag(
    xos: XosFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = xos.fresh("too-new")
    _as_builder(monkeypatch, "macos", xos.tmp / "tools-wrong")
    _fake(xos.tmp / "tools-wrong", "delocate-wheel", FAKE_DELOCATE, "too-new")
    code, text = _capture(lambda: curate(root, "wheels", "--no-recheck"))
    assert code == 1
    name = f"cfast-1.0-{CP}-{CP}-macosx_15_0_x86_64.whl"
    assert (
        f"failed: cfast 1.0 for macos-x86_64-py{PY}: the built wheel {name} has tags no target accepts"
        in text
    )
    assert not _version(root).built


@pytest.mark.parametrize(
    ("os_name", "arch", "expected"),
    [
        ("linux", "x86_64", ["python", "-m", "auditwheel", "repair", "--wheel-dir", "/o", "/w.whl"]),
        ("macos", "arm64", ["/bin/delocate-wheel", "--require-archs", "arm64", "-w", "/o", "-v", "/w.whl"]),
        ("macos", "x86_64", ["/bin/delocate-wheel", "--require-archs", "x86_64", "-w", "/o", "-v", "/w.whl"]),
        ("windows", "AMD64", ["/bin/delvewheel", "repair", "-w", "/o", "/w.whl"]),
    ],
)
def test_repair_command_lines(os_name: str, arch: str, expected: list[str]) -> None:
    cmd = {
        "linux": ("python", "-m", "auditwheel"),
        "macos": ("/bin/delocate-wheel",),
        "windows": ("/bin/delvewheel",),
    }[os_name]
    builder = Builder(os=os_name, arch=arch, description="", uv="uv", frontend="", repair="x", repair_cmd=cmd)
    assert repair_command(builder, Path("/w.whl"), Path("/o")) == expected


def test_a_missing_repair_tool_records_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without delocate-wheel / delvewheel (not installed: they come with curate only on their OS), the
    builder has no repair step; the wheel's tags are then judged as the frontend made them."""
    assert wheels._repair_tool("macos", {"PATH": str(tmp_path)})[0] in (
        "",
        wheels._repair_tool("macos", {})[0],
    )
    _fake(tmp_path, "delocate-wheel", FAKE_DELOCATE, "ok")
    assert wheels._repair_tool("macos", {"PATH": str(tmp_path)}) == (
        "delocate 0.13.0",
        (str(tmp_path / "delocate-wheel"),),
    )
    _fake(tmp_path, "delvewheel", FAKE_DELVEWHEEL, "ok")
    assert wheels._repair_tool("windows", {"PATH": str(tmp_path)}) == (
        "delvewheel 1.13.2",
        (str(tmp_path / "delvewheel"),),
    )


# -- isolation where there is no bubblewrap -----------------------------------------------------------------


def _sexp(text: str) -> list[object]:
    """The profile read as S-expressions (strings and #"regex" literals kept whole): a syntax check."""
    import re

    tokens = re.findall(r'#?"(?:[^"\\]|\\.)*"|[()]|[^\s()]+', text)
    stack: list[list[object]] = [[]]
    for tok in tokens:
        if tok == "(":
            stack.append([])
        elif tok == ")":
            assert len(stack) > 1, "unbalanced )"
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok)
    assert len(stack) == 1, "unbalanced ("
    return stack[0]


def test_the_sandbox_exec_profile_denies_the_network_writes_and_secrets() -> None:
    """macOS's sandbox-exec is not on this machine: the profile is checked as text (never run here)."""
    profile = wheels.SANDBOX_EXEC_PROFILE % ""
    rules = _sexp(wheels._sandbox_exec_profile())
    heads = [(r[0], r[1]) for r in rules if isinstance(r, list) and len(r) > 1]
    assert heads[:4] == [
        ("version", "1"),
        ("allow", "default"),
        ("deny", "network*"),
        ("deny", "file-write*"),
    ]
    (writes,) = [r for r in rules if isinstance(r, list) and r[:2] == ["allow", "file-write*"]]
    assert ["subpath", ["param", '"BUILD_DIR"']] in writes
    assert not any("subpath" in str(w) and "BUILD_DIR" not in str(w) for w in writes[2:])  # nothing else
    (secrets,) = [r for r in rules if isinstance(r, list) and r[:3] == ["deny", "file-read*", "file-write*"]]
    hidden = {str(s[1][2]).strip('"') for s in secrets[3:] if isinstance(s, list) and isinstance(s[1], list)}
    assert hidden == {f"/{s}" for s in wheels._SECRETS}
    assert "(allow network" not in profile


def test_sandbox_exec_wraps_the_command_with_resolved_paths(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(
        real
    )  # macOS: /tmp is /private/tmp, and the sandbox matches resolved paths
    sandbox = wheels.Sandbox(kind="sandbox-exec", home=str(tmp_path / "home"))
    cmd = sandbox.wrap(["uv", "build"], [(tmp_path / "link", "/ignored", True), (tmp_path, "/x", False)])
    assert cmd[:3] == ["/usr/bin/sandbox-exec", "-p", wheels._sandbox_exec_profile()]
    assert cmd[3:] == ["-D", f"BUILD_DIR={real}", "-D", f"HOME={tmp_path / 'home'}", "uv", "build"]
    assert sandbox.inside(tmp_path, wheels.BUILD_MOUNT) == tmp_path  # no remapping outside bwrap


def test_runner_isolation_only_on_a_github_hosted_runner_unless_forced() -> None:
    hosted = {"GITHUB_ACTIONS": "true", "RUNNER_ENVIRONMENT": "github-hosted"}
    assert wheels.find_sandbox(allow_none=False, env=hosted, mode="runner").kind == "runner"
    for env in ({}, {"GITHUB_ACTIONS": "true", "RUNNER_ENVIRONMENT": "self-hosted"}, {"CI": "true"}):
        with pytest.raises(wheels.WheelsError, match="not a GitHub-hosted runner") as info:
            wheels.find_sandbox(allow_none=True, env=env, mode="runner")
        assert "--force-runner" in str(info.value)
    assert wheels.find_sandbox(allow_none=False, env={}, mode="runner", force=True).kind == "runner"
    runner = wheels.Sandbox(kind="runner")
    assert runner.wrap(["uv", "build"], [(Path("/b"), "/b", True)]) == ["uv", "build"]
    assert "the CI job is the isolation" in runner.describe()


def test_an_explicit_sandbox_that_does_not_work_here_is_refused() -> None:
    with pytest.raises(wheels.WheelsError, match="--sandbox sandbox-exec: it does not work on this machine"):
        wheels.find_sandbox(allow_none=True, env={}, mode="sandbox-exec")  # this is Linux
    with pytest.raises(wheels.WheelsError, match="not a sandbox"):
        wheels.find_sandbox(allow_none=True, env={}, mode="chroot")


def test_the_isolation_a_wheel_was_built_with_is_recorded(
    xos: XosFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Windows runner has no sandbox tool: --sandbox runner (on a GitHub-hosted runner) says so in built:."""
    root = xos.fresh("windows-runner")
    _as_builder(monkeypatch, "windows", xos.tmp / "tools-win-runner")
    _fake(xos.tmp / "tools-win-runner", "delvewheel", FAKE_DELVEWHEEL, "ok")
    code, text = _capture(lambda: curate(root, "wheels", "--no-recheck", "--sandbox", "runner"))
    assert code == 1
    assert "--sandbox runner: this is not a GitHub-hosted runner" in text  # nothing built, nothing written
    assert not _version(root).built
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("RUNNER_ENVIRONMENT", "github-hosted")
    code, text = _capture(lambda: curate(root, "wheels", "--no-recheck", "--sandbox", "runner"))
    assert "sandbox: runner: none around the build; the CI job is the isolation" in text
    (b,) = _version(root).built
    assert b.isolation == "runner"
    assert "isolation: runner" in (root / "catalog" / "packages" / "cfast.yaml").read_text("utf-8")


# -- the records of other runners, merged back into the pull request ------------------------------------


def _runner(
    xos: XosFlow, monkeypatch: pytest.MonkeyPatch, system: str, platform_name: str, mode: str = "ok"
) -> Path:
    """One runner of pr.yml's matrix: a fresh checkout and cache, `curate wheels --export DIR` for real
    (on this Linux machine; a Windows runner's delvewheel is the stand-in), DIR named as the artifact."""
    xos.runs += 1
    name = f"{platform_name}-{mode}-{xos.runs}"
    with monkeypatch.context() as m:
        root = xos.fresh(f"runner-{name}")
        m.setenv("CURATE_CACHE_DIR", str(xos.own_cache(name)))
        if system != "linux":
            _as_builder(m, system, xos.tmp / f"tools-runner-{name}")
            _fake(xos.tmp / f"tools-runner-{name}", "delvewheel", FAKE_DELVEWHEEL, mode)
        export = xos.tmp / f"artifacts-{name}" / f"curate-built-{platform_name}"
        code, text = _capture(lambda: curate(root, "wheels", "--no-recheck", "--export", str(export)))
        assert code == 1, text  # the other OS's targets need another builder
    assert (export / wheels.RECORDS_FILE).is_file()
    return export


def test_runners_records_merge_into_the_pull_request(xos: XosFlow, monkeypatch: pytest.MonkeyPatch) -> None:
    """pr.yml: a Linux and a Windows runner each build and export; the checks job reports both and the
    command; the author merges them; curate build serves each merged wheel only while its bytes are had."""
    from curate import ci
    from curate.cache import blob_path

    linux = _runner(xos, monkeypatch, "linux", "linux-x86_64")
    windows = _runner(xos, monkeypatch, "windows", "windows-amd64")
    author = xos.fresh("author")
    cache = xos.own_cache("author")
    monkeypatch.setenv("CURATE_CACHE_DIR", str(cache))
    # the checks job: both runners' folders downloaded side by side; the report merges them in memory
    downloaded = xos.tmp / "downloaded"
    for export in (linux, windows):
        shutil.copytree(export, downloaded / export.name)
    env = {**os.environ, "GITHUB_RUN_ID": "4242", "GITHUB_REPOSITORY": "acme/catalog"}
    md, conflicts = ci.built_report(author, env, downloaded)
    assert conflicts == 0
    # (a real Windows runner says AMD64: this one is Linux, taken as Windows)
    assert (
        "`curate-built-linux-x86_64` (`linux x86_64`), `curate-built-windows-amd64` (`windows x86_64`)" in md
    )
    assert f"`cfast-1.0-{CP}-{CP}-win_amd64.whl`" in md
    assert "manylinux" in md
    assert md.count("new: not in this pull request yet") == 2
    assert "gh run download 4242 --repo acme/catalog --pattern 'curate-built-*' --dir built-4242" in md
    assert "curate wheels --merge built-4242/*" in md
    assert not _version(author).built  # the report wrote nothing
    # the author runs the command (the artifacts downloaded one folder each)
    code, text = _capture(lambda: curate(author, "wheels", "--merge", str(linux), str(windows)))
    assert code == 0, text
    assert "2 wheel(s) merged, 0 conflict(s); 1 catalog file(s) updated" in text
    v = _version(author)
    by_target = {t: b for b in v.built for t in b.targets}
    assert by_target[f"windows-amd64-py{PY}"].filename == f"cfast-1.0-{CP}-{CP}-win_amd64.whl"
    assert by_target[f"windows-amd64-py{PY}"].repair == "delvewheel 1.13.2"
    assert "manylinux" in by_target[f"linux-x86_64-py{PY}"].filename
    assert all(not b.problems for b in v.built)  # checked again here, not taken from the runner
    failing = {t for f in v.build_failures for t in f.targets}
    assert failing == {f"macos-arm64-py{PY}", f"macos-x86_64-py{PY}"}  # no macOS runner in this run
    for b in v.built:
        assert blob_path(cache, b.sha256).stat().st_size == b.size  # the bytes came along, by sha256
    md, _ = ci.built_report(author, env, downloaded)
    assert md.count("already recorded") == 2
    assert "Nothing to merge" in md
    # served with its bytes; not served without them
    win = by_target[f"windows-amd64-py{PY}"]
    served = author / "public" / "files" / "cfast" / win.filename
    code, text = _capture(lambda: curate(author, "build", "--index-only"))
    assert served.is_file(), text
    blob_path(cache, win.sha256).unlink()
    # publish.yml: one wheels job per platform that built a recorded wheel, each rebuilding only its own
    from curate.config import load_config

    matrix = ci.built_matrix(load_config(author), {str(k): p for k, p in load_catalog(author).items()})
    assert [(e.platform, e.sandbox, e.pythons) for e in matrix.entries] == [
        ("linux-x86_64", "bwrap", (PY,)),
        ("windows-amd64", "runner", (PY,)),
    ]
    code, text = _capture(lambda: curate(author, "wheels", "--reproduce-only", "--platform", "linux-x86_64"))
    assert code == 0, text
    assert "0 build job(s)" in text  # the Linux job leaves the Windows wheel to the Windows job
    # a builder of another OS is asked anyway (this one): it says so, builds nothing, and fails nothing
    code, text = _capture(lambda: curate(author, "wheels", "--reproduce-only", "--platform", "windows-amd64"))
    assert code == 0, text
    assert (
        f"left to another builder: cfast 1.0: {win.filename}: needs a windows AMD64 builder"
        " (this one is linux x86_64)"
    ) in text
    code, text = _capture(lambda: curate(author, "wheels", "--reproduce-only", "--platform", "riscv"))
    assert code == 1
    assert "--platform riscv: not a platform of the config" in text
    shutil.rmtree(author / "public")
    code, text = _capture(lambda: curate(author, "build", "--index-only"))
    assert not served.exists()
    assert f"built wheel {win.filename}" in text
    assert "its bytes are not in the cache" in text


def test_a_conflict_between_runners_is_a_finding_not_a_pick(
    xos: XosFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same version and target built to different bytes on two runners: both listed, neither merged."""
    from curate import ci, report

    first = _runner(xos, monkeypatch, "windows", "windows-amd64")
    second = _runner(xos, monkeypatch, "windows", "windows-amd64", mode="other-bytes")
    author = xos.fresh("author-conflict")
    monkeypatch.setenv("CURATE_CACHE_DIR", str(xos.own_cache("author-conflict")))
    code, text = _capture(lambda: curate(author, "wheels", "--merge", str(first), str(second)))
    assert code == 1
    assert f"conflict: cfast 1.0 for windows-amd64-py{PY} built to different bytes" in text
    assert text.count("conflict: cfast 1.0") == 1  # its file name too, but one finding
    assert not _version(author).built
    # the first merged; the second runner then differs from the catalog
    code, text = _capture(lambda: curate(author, "wheels", "--merge", str(first)))
    assert code == 0, text
    [had] = _version(author).built
    assert had.isolation == "runner"  # a Windows runner's: whatever sandbox this machine's build said
    downloaded = xos.tmp / "downloaded-conflict"
    shutil.copytree(second, downloaded / second.name)
    md, conflicts = ci.built_report(author, dict(os.environ), downloaded)
    assert conflicts == 1
    assert "**1 conflict(s)**" in md
    assert f"`cfast 1.0` for `windows-amd64-py{PY}`" in md
    assert md.count("❌ conflict: not merged") == 1
    body = report.pr_report(outcomes={"check": "success"}, diff_markdown="", built=md, built_blocking=True)
    assert "wheels built on the runners (conflict)" in body
    # a wheel whose bytes did not come along is not merged either
    (second / f"cfast-1.0-{CP}-{CP}-win_amd64.whl").unlink()
    code, text = _capture(lambda: curate(author, "wheels", "--merge", str(second)))
    assert "bytes missing (not merged)" in text
    assert _version(author).built == (had,)


def test_records_that_do_not_read_are_named(tmp_path: Path, xos: XosFlow) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / wheels.RECORDS_FILE).write_text("{not json", "utf-8")
    forged = tmp_path / "curate-built-linux-x86_64"
    forged.mkdir()
    (forged / wheels.RECORDS_FILE).write_text(
        '{"format": 1, "builder": {"os": "linux", "arch": "x86_64"}, "versions": '
        '[{"project": "cfast", "version": "1.0", "sdist_sha256": "x", "built": [{"filename": "../evil.whl",'
        f' "sha256": "{"0" * 64}", "size": 1}}]}}]}}',
        "utf-8",
    )
    merged = wheels.merge_built(
        root=xos.root,
        env=os.environ,
        dirs=[tmp_path / "empty", tmp_path / "bad", forged, tmp_path / "absent"],
        write=False,
    )
    assert merged.problems[0] == f"{tmp_path / 'absent'}: no such folder"
    assert merged.problems[1].startswith("bad/built-records.json: does not read")
    assert merged.problems[2].startswith("curate-built-linux-x86_64/built-records.json: versions[0]:")
    assert "evil.whl" in merged.problems[2]
    assert "empty: no built-records.json" in merged.problems[3]
    assert not merged.offered
    assert [(r.source, r.platform) for r in merged.runners] == [("curate-built-linux-x86_64", "linux-x86_64")]


# -- what a runner's records may not decide ------------------------------------------------------------------

PURE = "cfast-1.0-py3-none-any.whl"


def _export(
    root: Path,
    parent: Path,
    folder: str,
    data: bytes,
    targets: list[str],
    os_arch: tuple[str, str],
    **extra: object,
) -> Path:
    """A hand-made export folder: one pure wheel's bytes and its record, as a hostile runner may write it."""
    import hashlib
    import json

    sdist = wheels.sdist_of(load_catalog(root)[normalize("cfast")].versions[0])
    assert sdist is not None
    out = parent / folder
    out.mkdir(parents=True)
    (out / PURE).write_bytes(data)
    record = {
        "filename": PURE,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "targets": targets,
        "sdist_sha256": sdist.sha256,
        **extra,
    }
    doc = {
        "format": 1,
        "builder": {"os": os_arch[0], "arch": os_arch[1]},
        "versions": [{"project": "cfast", "version": "1.0", "sdist_sha256": sdist.sha256, "built": [record]}],
    }
    (out / wheels.RECORDS_FILE).write_text(json.dumps(doc), "utf-8")
    return out


def _with_built(root: Path, **fields: object) -> BuiltFile:
    """Give the catalog (a copy) one built record of PURE."""
    import dataclasses

    from curate.catalog import BuiltFile, project_path

    path = project_path(root, "cfast")
    project = load_catalog(root)[normalize("cfast")]
    v = project.versions[0]
    sdist = wheels.sdist_of(v)
    assert sdist is not None
    b = BuiltFile(filename=PURE, sdist_sha256=sdist.sha256, size=1, **fields)  # type: ignore[arg-type]
    v = dataclasses.replace(v, built=(b,))
    path.write_text(dataclasses.replace(project, versions=(v,)).dumps(), "utf-8")
    return b


LINUX, WINDOWS = f"linux-x86_64-py{PY}", f"windows-amd64-py{PY}"


def test_a_runner_never_makes_nor_replaces_a_comparison_with_the_upstream_wheel(
    xos: XosFlow, tmp_path: Path
) -> None:
    """build.from_source: pure's comparison decides wheel-differs-from-sdist: a runner's is refused, and
    the catalog's is never replaced (other bytes under its file name are a conflict)."""
    import hashlib

    author = xos.fresh("author-compared")
    had = _with_built(
        author,
        sha256=hashlib.sha256(b"A").hexdigest(),
        targets=(LINUX, WINDOWS),
        compared_with=PURE,
        changed=("cfast.py",),
    )
    forged = _export(
        xos.root,
        tmp_path / "a",
        "curate-built-linux-x86_64",
        b"W",
        [LINUX, WINDOWS],
        ("linux", "x86_64"),
        compared_with=PURE,
        changed=[],
        added=[],
    )
    merged = wheels.merge_built(root=author, env=os.environ, dirs=[forged], write=True)
    assert [(o.status, o.why) for o in merged.offered] == [
        ("refused", "a comparison with the upstream wheel: made only by this catalog's curate wheels")
    ]
    assert _version(author).built == (had,)
    assert _version(author).built[0].upstream_differs
    # the same file name with other bytes, no comparison claimed: a conflict, the catalog's kept
    plain = _export(
        xos.root, tmp_path / "b", "curate-built-windows-amd64", b"W", [WINDOWS], ("windows", "AMD64")
    )
    merged = wheels.merge_built(root=author, env=os.environ, dirs=[plain], write=True)
    assert [o.status for o in merged.offered] == ["conflict"]
    [conflict] = merged.conflicts
    assert conflict.filename == PURE
    assert conflict.target == ""
    assert {where for where, _, _ in conflict.wheels} == {"catalog", "curate-built-windows-amd64"}
    assert not merged.changed
    assert _version(author).built == (had,)
    code, text = _capture(lambda: curate(author, "wheels", "--merge", str(plain), str(forged)))
    assert code == 1
    assert f"conflict: cfast 1.0 file {PURE} built to different bytes: catalog: {PURE}" in text
    assert f"refused (not merged): cfast 1.0 {PURE} from curate-built-linux-x86_64" in text


def _platform(name: str, os_name: str, arch: str, *tags: str) -> Target:
    from curate.targets import Platform

    return Target(platform=Platform(name=name, os=os_name, arch=arch, platform_tags=tags), python=PY)  # type: ignore[arg-type]


def _builder(os_name: str, arch: str) -> wheels.Builder:
    return wheels.Builder(os=os_name, arch=arch, description="", uv="uv", frontend="uv build", repair="")


def test_a_windows_build_sees_where_windows_and_msvc_are_and_no_more(monkeypatch: pytest.MonkeyPatch) -> None:
    """The build's environment on Windows: the machine's variables that MSVC's discovery and Python need
    (not the runner's tokens or user paths), Windows' folders on PATH, the temporary and profile folders
    in the build's folder, and MSVC's /Brepro (no timestamp: the wheel can reproduce)."""
    monkeypatch.setattr(wheels, "_native_os", lambda: "windows")
    host = {
        "SYSTEMROOT": "C:\\Windows",
        "PROGRAMFILES(X86)": "C:\\Program Files (x86)",
        "PATHEXT": ".COM;.EXE;.BAT",
        "PROCESSOR_ARCHITECTURE": "AMD64",
        "ACTIONS_RUNTIME_TOKEN": "secret",
        "GITHUB_TOKEN": "secret",
        "USERPROFILE": "C:\\Users\\runneradmin",
        "PATH": "C:\\hostedtoolcache\\whatever",
    }
    env = wheels.platform_environ(_builder("windows", "AMD64"), (), home="H", tmp="T", host=host)
    assert env["PATH"].split(";")[1:] == [
        "C:\\Windows\\System32",
        "C:\\Windows",
        "C:\\Windows\\System32\\Wbem",
    ]
    assert {k: env[k] for k in ("SYSTEMROOT", "PROGRAMFILES(X86)", "PATHEXT", "PROCESSOR_ARCHITECTURE")} == {
        k: host[k] for k in ("SYSTEMROOT", "PROGRAMFILES(X86)", "PATHEXT", "PROCESSOR_ARCHITECTURE")
    }
    assert (env["TEMP"], env["TMP"], env["USERPROFILE"], env["APPDATA"], env["LOCALAPPDATA"]) == (
        "T",
        "T",
        "H",
        "H",
        "H",
    )
    assert (env["CL"], env["LINK"]) == ("/Brepro", "/Brepro")
    assert "secret" not in env.values()
    assert set(env) <= {
        *wheels.WINDOWS_MACHINE,
        "PATH",
        "TEMP",
        "TMP",
        "USERPROFILE",
        "APPDATA",
        "LOCALAPPDATA",
        "CL",
        "LINK",
    }


def test_a_macos_build_targets_the_oldest_macos_its_targets_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """MACOSX_DEPLOYMENT_TARGET is the lowest macOS the build's targets' tags name (so the wheel installs on
    each, not only on the runner's own macOS), for the builder's one architecture (ARCHFLAGS)."""
    monkeypatch.setattr(wheels, "_native_os", lambda: "macos")
    targets = (
        _platform("macos-arm64", "macos", "arm64", "macosx_14_0_arm64"),
        _platform("macos-arm64-old", "macos", "arm64", "macosx_11_0_arm64", "macosx_12_3_arm64"),
        _platform("linux-x86_64", "linux", "x86_64", "manylinux_2_28_x86_64"),
    )
    env = wheels.platform_environ(_builder("macos", "arm64"), targets, home="H", tmp="T", host={})
    assert env == {"MACOSX_DEPLOYMENT_TARGET": "11.0", "ARCHFLAGS": "-arch arm64"}
    assert wheels.platform_environ(_builder("macos", "arm64"), targets[2:], home="H", tmp="T", host={}) == {}
    # not on this machine's OS (a test standing in for a macOS builder): nothing
    monkeypatch.setattr(wheels, "_native_os", lambda: "linux")
    assert wheels.platform_environ(_builder("macos", "arm64"), targets, home="H", tmp="T", host={}) == {}
    assert wheels.platform_environ(_builder("linux", "x86_64"), targets, home="H", tmp="T", host={}) == {}


def test_a_runner_exports_no_comparison_with_the_upstream_wheel(xos: XosFlow, tmp_path: Path) -> None:
    """The records a runner exports leave out its comparisons (which --merge refuses): the PR report lists
    only the wheels a runner built, not a "refused" line for every wheel the catalog compared."""
    import hashlib
    import json

    runner = xos.fresh("runner-compared")
    _with_built(
        runner,
        sha256=hashlib.sha256(b"A").hexdigest(),
        targets=(LINUX, WINDOWS),
        compared_with=PURE,
        changed=("cfast.py",),
    )
    dest = tmp_path / "curate-built-linux-x86_64"
    wheels.export_built(root=runner, env=os.environ, dest=dest)
    doc = json.loads((dest / wheels.RECORDS_FILE).read_text("utf-8"))
    assert [v["built"] for v in doc["versions"]] == [[]]
    merged = wheels.merge_built(root=xos.fresh("author-of-export"), env=os.environ, dirs=[dest], write=False)
    assert merged.offered == ()


def test_one_file_name_with_two_sha256_is_a_conflict_whatever_the_targets(
    xos: XosFlow, tmp_path: Path
) -> None:
    """Two runners' wheels under one file name, different bytes, for different targets: not one wheel."""
    linux = _export(xos.root, tmp_path / "a", "curate-built-linux-x86_64", b"L", [LINUX], ("linux", "x86_64"))
    windows = _export(
        xos.root, tmp_path / "b", "curate-built-windows-amd64", b"W", [WINDOWS], ("windows", "AMD64")
    )
    merged = wheels.merge_built(root=xos.root, env=os.environ, dirs=[linux, windows], write=False)
    assert [o.status for o in merged.offered] == ["conflict", "conflict"]
    [conflict] = merged.conflicts
    assert conflict.filename == PURE
    assert len({sha for _, _, sha in conflict.wheels}) == 2
    # the same bytes from both: one wheel, their targets together
    same = _export(
        xos.root, tmp_path / "c", "curate-built-windows-amd64", b"L", [WINDOWS], ("windows", "AMD64")
    )
    merged = wheels.merge_built(root=xos.root, env=os.environ, dirs=[linux, same], write=False)
    assert not merged.conflicts
    assert [o.status for o in merged.new] == ["new", "new"]


def test_the_runner_is_the_platform_its_artifact_is_named_for(xos: XosFlow, tmp_path: Path) -> None:
    """What a runner is comes from its folder's name (pr.yml's artifact), not from its records."""
    liar = _export(xos.root, tmp_path / "a", "curate-built-windows-amd64", b"L", [LINUX], ("linux", "x86_64"))
    unnamed = _export(
        xos.root, tmp_path / "b", "curate-built-windows-amd64-forged", b"L", [LINUX], ("linux", "x86_64")
    )
    merged = wheels.merge_built(root=xos.root, env=os.environ, dirs=[liar, unnamed], write=False)
    assert not merged.runners
    assert not merged.offered
    assert merged.problems[0].startswith(
        "curate-built-windows-amd64/built-records.json: says it was built on linux x86_64, but"
        " curate-built-windows-amd64 is the export of windows-amd64 (windows "
    )
    assert merged.problems[1].startswith(
        "curate-built-windows-amd64-forged: not the export of a configured platform (one of "
    )
    assert "curate-built-linux-x86_64" in merged.problems[1]
    code, text = _capture(lambda: curate(xos.root, "wheels", "--merge", str(unnamed)))
    assert code == 1
    assert "cannot read: curate-built-windows-amd64-forged: not the export of a configured platform" in text
    # the isolation a record claims is at most what a runner of that OS has
    win = _export(
        xos.root,
        tmp_path / "c",
        "curate-built-windows-amd64",
        b"W",
        [WINDOWS],
        ("windows", "AMD64"),
        isolation="bwrap",
    )
    lin = _export(
        xos.root,
        tmp_path / "d",
        "curate-built-linux-x86_64",
        b"W",
        [LINUX],
        ("linux", "x86_64"),
        isolation="unshare",
    )
    merged = wheels.merge_built(root=xos.root, env=os.environ, dirs=[win, lin], write=False)
    assert {o.source: o.file.isolation for o in merged.new} == {
        "curate-built-windows-amd64": "runner",
        "curate-built-linux-x86_64": "unshare",
    }
    assert [(r.platform, r.os, r.arch) for r in merged.runners] == [
        ("linux-x86_64", "linux", "x86_64"),
        ("windows-amd64", "windows", "x86_64"),
    ]


# -- delvewheel for real: it runs on any OS ------------------------------------------------------------------

MINGW = shutil.which("x86_64-w64-mingw32-gcc")


def _windows_wheel(out: Path, dll_dir: Path) -> Path:
    """A win_amd64 wheel whose extension (cross-compiled with mingw-w64, no Python headers needed: only
    what delvewheel reads) links ``libanswer.dll``, which is outside the wheel (in ``dll_dir``)."""
    import base64
    import hashlib
    import subprocess
    import zipfile

    work = out / "src"
    work.mkdir(parents=True)
    dll_dir.mkdir(parents=True)
    (work / "answer.c").write_text("__declspec(dllexport) int answer(void) { return 42; }\n", "utf-8")
    (work / "cfast.c").write_text(
        "__declspec(dllimport) int answer(void);\n"
        "__declspec(dllexport) void *PyInit_cfast(void) { return (void *)(long long)answer(); }\n",
        "utf-8",
    )
    assert MINGW is not None
    subprocess.run(
        [MINGW, "-shared", "-o", str(dll_dir / "libanswer.dll"), str(work / "answer.c")], check=True
    )
    subprocess.run(
        [
            MINGW,
            "-shared",
            "-o",
            str(work / "cfast.pyd"),
            str(work / "cfast.c"),
            str(dll_dir / "libanswer.dll"),
        ],
        check=True,
    )
    tag = f"{CP}-{CP}-win_amd64"
    files = {
        "cfast.pyd": (work / "cfast.pyd").read_bytes(),
        "cfast-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: cfast\nVersion: 1.0\n",
        "cfast-1.0.dist-info/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(),
    }
    record = "".join(
        f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}\n"
        for n, d in files.items()
    )
    files["cfast-1.0.dist-info/RECORD"] = (record + "cfast-1.0.dist-info/RECORD,,\n").encode()
    wheel = out / "dist" / f"cfast-1.0-{tag}.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    return wheel


@pytest.mark.skipif(
    MINGW is None,
    reason="x86_64-w64-mingw32-gcc (Debian package gcc-mingw-w64-x86-64-win32) is not installed: no Windows"
    " extension can be cross-compiled for the real delvewheel to repair",
)
def test_the_real_delvewheel_repairs_a_windows_wheel(tmp_path: Path) -> None:
    """delvewheel runs on any OS (its documentation says so): curate's repair step runs the real one, with
    curate's command line, on a Windows wheel cross-compiled here, and takes the wheel it writes."""
    import zipfile

    env_path = str(Path(sys.executable).parent)
    repair, cmd = wheels._repair_tool("windows", {"PATH": env_path})
    assert repair.startswith("delvewheel 1."), repair  # read from the real tool's --help
    builder = Builder(
        os="windows", arch="AMD64", description="", uv="uv", frontend="", repair=repair, repair_cmd=cmd
    )
    workdir = tmp_path / "build"
    wheel = _windows_wheel(workdir, tmp_path / "dlls")
    base = {"PATH": os.pathsep.join([env_path, "/usr/bin", "/bin"]), "SOURCE_DATE_EPOCH": "1700000000"}
    sandbox = wheels.Sandbox(kind="none")  # what is tested here is the tool, not the sandbox
    # the DLL is nowhere delvewheel looks (a build's environment has no PATH to it): it fails, naming it
    failed = wheels.repair_wheel(
        wheel, builder=builder, sandbox=sandbox, workdir=workdir, mounts=[], env=base, time_limit=120
    )
    assert failed.wheel is None
    assert failed.reason == "delvewheel repair failed (exit status 1)"
    assert any("libanswer.dll" in line for line in failed.log), failed.log
    # found (on PATH, as on a Windows builder): vendored into the wheel under a mangled name
    env = {**base, "PATH": f"{tmp_path / 'dlls'}{os.pathsep}{base['PATH']}"}
    done = wheels.repair_wheel(
        wheel, builder=builder, sandbox=sandbox, workdir=workdir, mounts=[], env=env, time_limit=120
    )
    assert done.repaired, done
    assert done.wheel is not None
    assert done.wheel.parent == workdir / "repaired"
    assert done.wheel.name == wheel.name  # delvewheel keeps the name: the Windows build's tag stands
    with zipfile.ZipFile(done.wheel) as zf:
        names = zf.namelist()
    # a top-level module: the DLL goes beside it (through the wheel's .data/platlib), its name mangled
    vendored = [n for n in names if n.startswith("cfast-1.0.data/platlib/libanswer-") and n.endswith(".dll")]
    assert len(vendored) == 1, names
    assert "cfast-1.0.dist-info/DELVEWHEEL" in names


def test_the_merge_command_names_this_run_or_says_what_to_download() -> None:
    from curate import ci

    env = {"GITHUB_RUN_ID": "77", "GITHUB_REPOSITORY": "acme/catalog"}
    assert ci.merge_command(env).splitlines()[:2] == [
        "gh run download 77 --repo acme/catalog --pattern 'curate-built-*' --dir built-77",
        "curate wheels --merge built-77/*",
    ]
    for odd in ({}, {"GITHUB_RUN_ID": "77", "GITHUB_REPOSITORY": "acme/catalog; curl x | sh"}):
        first, second, _ = ci.merge_command(odd).splitlines()
        assert first == "# download this run's curate-built-* artifacts, one folder each, into built/"
        assert second == "curate wheels --merge built/*"
