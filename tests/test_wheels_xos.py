"""curate wheels for targets other than Linux (issue 14): the repair tool of a macOS or Windows builder.

This machine is Linux: neither delocate (it edits Mach-O files with macOS's install_name_tool and
codesign) nor a Windows build can run here, so **the real delocate-wheel and delvewheel are not run by
these tests**. What is tested is curate's side of them, on its real code path: ``curate wheels`` with the
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
from curate.catalog import VersionEntry, load_catalog
from curate.names import normalize
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

def retag(src, dest_dir, platform):
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
            zf.writestr(zipfile.ZipInfo(n, (2024, 1, 1, 0, 0, 0)), data)
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
retag(wheel, out, "win_amd64")
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

    def fresh(self, name: str) -> Path:
        """A copy of the locked, vetted repository (nothing built yet) to run one builder in."""
        dest = self.tmp / name
        shutil.copytree(self.root, dest)
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
