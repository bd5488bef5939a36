"""``curate wheels``: wheels built from the catalog's vetted sdists, hermetically, and recorded in catalog/.

For every served version (:func:`curate.index.unserved` is None) with targets no upstream wheel serves
(``build_targets``), and, with ``build.from_source: pure``, for every pure-Python version with an sdist,
the vetted sdist is built into a wheel:

- **Hermetic**: the PEP 517 frontend (``uv build --wheel``) runs with ``--no-index --find-links`` over a
  directory of hard links to the catalog's own served files in the cache (the only package source), in
  a sandbox (:class:`Sandbox`: ``bwrap`` with no network, ``/`` read-only but the build's own directory, a
  fresh ``/tmp``, credentials files hidden; else ``unshare -n``: no network only), with a clean
  environment (no token or secret of the caller: ``HOME``, ``TMPDIR`` and uv's cache inside the build
  directory), ``SOURCE_DATE_EPOCH`` from the sdist's newest member, ``UV_PYTHON_DOWNLOADS=never`` and a
  time limit (``build.time_limit``). With bwrap, the builds of one build-dependency set share one
  environment (:func:`prepare_build_env`: made once per run from the set's wheels, running none of
  their code) mounted read-only, and build in it with no build isolation.
- **Repaired** by the tool of the builder's OS (:func:`repair_command`): on Linux a wheel with native
  code goes through ``auditwheel repair`` (with ``patchelf``) to a manylinux tag, on macOS through
  ``delocate-wheel --require-archs ARCH``, on Windows through ``delvewheel repair``; the tool's version is
  recorded like auditwheel's. The result must be accepted by each target's configured platform tags,
  else the target fails naming the tag that came out. A target of another OS or architecture needs a
  builder of its own (a CI runner): here it fails with "needs a <os> <arch> builder" unless the wheel is
  pure. (delocate and delvewheel have run only as stand-ins in the Linux test suite, never for real.)
- **Checked**: built twice, the two compared (``reproducible: identical``, or the files that differ);
  the wheel enters the content-addressed cache under its sha256 (like a fetched file) and is checked as
  :func:`curate.vet.check_file` checks upstream files (archive, RECORD, metadata name and version, twine
  check), its Requires-Dist against the sdist's.
- **Recorded**: each version's ``built:`` (:class:`curate.catalog.BuiltFile`, ``origin: built``: hashes,
  never bytes) and ``build_failures:``, written in one step under the catalog's write lock.

Where the bytes live (fail closed): only in the cache. ``curate build`` serves a built wheel only while
the cache holds exactly the recorded sha256; elsewhere (a fresh CI runner) ``curate wheels`` rebuilds a
recorded wheel whose bytes are missing and keeps the result only when it reproduces that sha256
(:attr:`WheelsReport.unreproduced` otherwise, and the wheel stays unserved).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import functools
import glob
import hashlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import typing
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from curate.cache import blob_path, cache_root, holds, record_verified, sha256_of
from curate.catalog import (
    BuildFailure,
    BuiltFile,
    FileEntry,
    Project,
    VersionEntry,
    load_catalog_fast,
    project_path,
    replace_catalog_files,
    writing,
)
from curate.config import Config, load_config
from curate.errors import CurateError
from curate.names import NormalizedName
from curate.targets import Platform, Target

SandboxKind = Literal["bwrap", "unshare", "sandbox-exec", "runner", "none"]
SANDBOX_KINDS: tuple[SandboxKind, ...] = typing.get_args(SandboxKind)
LOG_LINES = 20  # last lines of a failing build's log that are reported
MAX_SDIST_MEMBERS = 100_000
_SECRETS = (".netrc", ".pypirc", ".git-credentials", ".ssh", ".aws", ".docker", ".config/pip", ".config/gh")


class WheelsError(CurateError):
    """curate wheels cannot run here (no sandbox, no interpreter, no uv)."""


# -- the sandbox ---------------------------------------------------------------------------------------


# macOS's own sandbox (sandbox-exec, deprecated but shipped with every macOS and present on GitHub's macOS
# runners): everything allowed but the network, writes outside the build directory (and the few device
# files every program writes to), and reads of credential files. Paths come in as -D parameters, resolved
# (/tmp is /private/tmp there, and the sandbox matches resolved paths). The pattern (allow default, then
# deny network* and file-write*, then allow writes under the build's own directories) is the one Bazel's
# and Nix's macOS sandboxes generate. Tested here as text only: this machine is Linux.
SANDBOX_EXEC_PROFILE = """(version 1)
(allow default)
(deny network*)
(deny file-write*)
(allow file-write*
    (subpath (param "BUILD_DIR"))
    (literal "/dev/null")
    (literal "/dev/zero")
    (literal "/dev/dtracehelper")
    (regex #"^/dev/tty")
    (regex #"^/dev/fd/"))
(deny file-read* file-write*
%s)
"""


def _sandbox_exec_profile() -> str:
    secrets = "\n".join(f'    (subpath (string-append (param "HOME") "/{s}"))' for s in _SECRETS)
    return SANDBOX_EXEC_PROFILE % secrets


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Sandbox:
    """How a build is isolated (recorded as each built wheel's ``isolation``):

    - ``bwrap`` (Linux): no network; ``/`` read-only but the build directory; fresh ``/tmp``; credential
      files hidden; its own PID namespace;
    - ``unshare`` (Linux without bubblewrap): no network only;
    - ``sandbox-exec`` (macOS): no network, no writes outside the build directory, credential files
      unreadable (:data:`SANDBOX_EXEC_PROFILE`);
    - ``runner`` (a GitHub-hosted runner, where the OS offers none of these: Windows): nothing around the
      build itself; the CI job is the isolation (a fresh virtual machine thrown away after the job, a
      read-only token, no secret). Refused outside such a runner unless forced;
    - ``none`` (``--no-sandbox``): nothing at all.
    """

    kind: SandboxKind
    home: str = ""

    def describe(self) -> str:
        return {
            "bwrap": "bwrap: no network, read-only filesystem but the build directory",
            "unshare": "unshare -n: no network (the filesystem is not confined: install bubblewrap)",
            "sandbox-exec": "sandbox-exec: no network, no writes outside the build directory",
            "runner": "runner: none around the build; the CI job is the isolation (an ephemeral runner, "
            "a read-only token, no secrets): the build can reach the network and write anywhere on it",
            "none": "none (--no-sandbox): the build can reach the network and write anywhere",
        }[self.kind]

    def inside(self, path: Path, mount: str) -> Path:
        """Where ``path`` is seen inside the sandbox: bwrap mounts the build directory (and the find-links
        directory) at fixed paths, so that two builds see the same paths (compilers record them)."""
        return Path(mount) if self.kind == "bwrap" else path

    def wrap(self, cmd: Sequence[str], mounts: Sequence[tuple[Path, str, bool]]) -> list[str]:
        """``cmd`` run in the sandbox; ``mounts``: (directory, where inside, writable)."""
        if self.kind in ("none", "runner"):
            return list(cmd)
        if self.kind == "unshare":
            from curate.builddeps import unshare_net

            return [*unshare_net(), "--", *cmd]
        if self.kind == "sandbox-exec":
            rw = [directory for directory, _, w in mounts if w]
            if len(rw) != 1:
                raise WheelsError(f"sandbox-exec: one writable directory expected, got {len(rw)}")
            home = self.home or os.path.expanduser("~")
            return [
                "/usr/bin/sandbox-exec",
                "-p",
                _sandbox_exec_profile(),
                "-D",
                f"BUILD_DIR={os.path.realpath(rw[0])}",
                "-D",
                f"HOME={os.path.realpath(home)}",
                *cmd,
            ]
        from curate.builddeps import own_install_under_tmp

        args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        args += own_install_under_tmp()
        for secret in _SECRETS:  # whatever the build reads ends up in a wheel we publish
            path = Path(self.home or os.path.expanduser("~")) / secret
            if path.is_dir():
                args += ["--tmpfs", str(path)]
            elif path.exists():
                args += ["--ro-bind", "/dev/null", str(path)]
        chdir = ""
        for directory, inside, writable in mounts:
            args += ["--bind" if writable else "--ro-bind", str(directory), inside]
            chdir = chdir or inside
        args += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--new-session"]
        args += ["--die-with-parent", *(["--chdir", chdir] if chdir else []), "--", *cmd]
        return args


BUILD_MOUNT = "/tmp/curate-build"  # where bwrap shows the build directory (the same for every build)
LINKS_MOUNT = "/tmp/curate-find-links"
ENV_MOUNT = "/tmp/curate-build-env"  # where bwrap shows a prepared build environment (read-only)


@functools.cache
def _works(*probe: str) -> bool:
    try:
        return subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def on_hosted_runner(env: Mapping[str, str]) -> bool:
    """Whether this is a GitHub-hosted Actions runner: a fresh virtual machine per job, thrown away after it
    (a self-hosted runner may be kept, and is not)."""
    return env.get("GITHUB_ACTIONS") == "true" and env.get("RUNNER_ENVIRONMENT") == "github-hosted"


_NO_SANDBOX_HINT = (
    "\n    hint: install bubblewrap (Linux); on a GitHub-hosted runner of an OS without a sandbox tool "
    "(Windows) pass --sandbox runner; --no-sandbox builds without one (on a throwaway machine)"
)


def find_sandbox(
    *, allow_none: bool, env: Mapping[str, str], mode: str = "auto", force: bool = False
) -> Sandbox:
    """The sandbox ``mode`` asks for (``auto``: the strongest this machine offers: bwrap, unshare -n,
    sandbox-exec on macOS); WheelsError when it does not work here, or when ``auto`` finds none and
    ``allow_none`` is off. ``runner`` is refused outside a GitHub-hosted runner unless ``force``."""
    home = env.get("HOME", "")
    if mode not in ("auto", *SANDBOX_KINDS):
        raise WheelsError(f"--sandbox {mode}: not a sandbox (one of auto, {', '.join(SANDBOX_KINDS)})")
    if mode == "none":
        return Sandbox(kind="none", home=home)
    if mode == "runner":
        if not (force or on_hosted_runner(env)):
            raise WheelsError(
                "--sandbox runner: this is not a GitHub-hosted runner (GITHUB_ACTIONS=true and "
                "RUNNER_ENVIRONMENT=github-hosted), whose job is the build's only isolation: a fresh "
                "machine thrown away afterwards, a read-only token, no secrets"
                "\n    hint: on a machine you throw away after the build, add --force-runner"
            )
        return Sandbox(kind="runner", home=home)
    from curate.builddeps import unshare_net

    probes: dict[str, Callable[[], bool]] = {
        "bwrap": lambda: (
            bool(shutil.which("bwrap"))
            and _works(
                "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-net", "--die-with-parent", "true"
            )
        ),
        "unshare": lambda: bool(shutil.which("unshare")) and _works(*unshare_net(), "true"),
        "sandbox-exec": lambda: (
            _system() == "macos"
            and os.path.exists("/usr/bin/sandbox-exec")
            and _works(
                "/usr/bin/sandbox-exec",
                "-p",
                _sandbox_exec_profile(),
                "-D",
                "BUILD_DIR=/private/tmp",
                "-D",
                f"HOME={home or '/var/empty'}",
                "/usr/bin/true",
            )
        ),
    }
    kinds: tuple[SandboxKind, ...] = (
        ("bwrap", "unshare", "sandbox-exec") if mode == "auto" else (typing.cast(SandboxKind, mode),)
    )
    for kind in kinds:
        if probes[kind]():
            return Sandbox(kind=kind, home=home)
        if mode != "auto":
            raise WheelsError(f"--sandbox {mode}: it does not work on this machine" + _NO_SANDBOX_HINT)
    if allow_none:
        return Sandbox(kind="none", home=home)
    raise WheelsError(
        "no sandbox to build in: neither bwrap (Debian package bubblewrap) nor unshare -n works here, nor "
        "sandbox-exec (macOS); builds run untrusted code from sdists and must not reach the network"
        + _NO_SANDBOX_HINT
    )


# -- the builder ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Builder:
    """This machine as a builder: what it can build for and which tools it builds with."""

    os: str  # linux | macos | windows
    arch: str  # platform.machine()
    description: str  # OS, architecture, image / C library, as recorded
    uv: str
    frontend: str
    repair: str  # the repair tool's version as recorded; "" when no repair tool runs here
    repair_cmd: tuple[str, ...] = ()  # its argv before the options (see :func:`repair_command`)

    def builds_for(self, target: Target) -> bool:
        return target.platform.os == self.os and _arch(target.platform.arch) == _arch(self.arch)

    def needs(self, target: Target) -> str:
        return (
            f"needs a {target.platform.os} {target.platform.arch} builder (this one is {self.os} {self.arch})"
        )


def _arch(arch: str) -> str:
    a = arch.lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(a, a)


def _os_release() -> str:
    try:
        text = Path("/etc/os-release").read_text("utf-8")
    except OSError:
        return ""
    found = re.search(r'^PRETTY_NAME="?([^"\n]*)"?$', text, re.MULTILINE)
    return found.group(1) if found else ""


def _version_of(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text and out.returncode == 0 else ""


def _system() -> str:
    """This machine's OS as targets name it: linux, macos, windows (else platform.system() as it is)."""
    return {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}.get(
        platform.system(), platform.system()
    )


# The repair tool of each builder OS: what copies the shared libraries a native wheel needs into it and
# gives it the platform's tag. Linux: auditwheel (run as ``python -m auditwheel``, with patchelf); macOS:
# delocate's ``delocate-wheel``; Windows: ``delvewheel``. The latter two are installed with curate only on
# their OS (environment markers in pyproject.toml) and looked up on PATH, then beside this interpreter.
REPAIR_TOOLS: dict[str, str] = {"linux": "auditwheel", "macos": "delocate-wheel", "windows": "delvewheel"}


def _tool(name: str, env: Mapping[str, str]) -> str:
    """The executable ``name`` on the caller's PATH, else beside this interpreter (a venv's bin/ or
    Scripts/), as an absolute path (the build's environment has its own PATH); "" when there is none."""
    found = shutil.which(name, path=env.get("PATH") or None) or shutil.which(
        name, path=str(Path(sys.executable).parent)
    )
    return str(Path(found).absolute()) if found else ""


def _repair_tool(system: str, env: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """(the repair tool's version as recorded, its argv) for a builder of ``system``; ("", ()) when the
    tool is missing (native wheels are then left as the frontend made them, and the tag check judges)."""
    if system == "linux":
        auditwheel = _version_of([sys.executable, "-m", "auditwheel", "--version"])
        if not auditwheel:
            return "", ()
        auditwheel = " ".join(auditwheel.split()[:2])
        patchelf = _version_of([_patchelf(), "--version"])
        return (f"{auditwheel} ({patchelf})" if patchelf else auditwheel), (
            sys.executable,
            "-m",
            "auditwheel",
        )
    if system == "macos":
        exe = _tool("delocate-wheel", env)
        version = _version_of([exe, "--version"]) if exe else ""  # "delocate-wheel 0.13.0"
        found = re.search(r"(\d+(?:\.\d+)+\S*)", version)
        return (f"delocate {found.group(1)}", (exe,)) if found else ("", ())
    if system == "windows":
        exe = _tool("delvewheel", env)
        # delvewheel has no --version: its help's description says "delvewheel 1.13.2: ..."
        helped = _help_of([exe, "--help"]) if exe else ""
        found = re.search(r"delvewheel (\d+(?:\.\d+)+\S*?):", helped)
        return (f"delvewheel {found.group(1)}", (exe,)) if found else ("", ())
    return "", ()


def _help_of(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout if out.returncode == 0 else ""


def _mac_arch(arch: str) -> str:
    """An architecture as delocate's ``--require-archs`` and macOS name it (arm64, x86_64)."""
    return {"aarch64": "arm64"}.get(_arch(arch), _arch(arch))


def repair_command(builder: Builder, wheel: Path, out_dir: Path) -> list[str]:
    """The repair tool's command line for ``wheel`` on ``builder``; it writes the repaired wheel into
    ``out_dir`` (the one wheel there is the result, whatever the tool named it):

    - Linux: ``auditwheel repair --wheel-dir OUT WHEEL`` (a manylinux tag);
    - macOS: ``delocate-wheel --require-archs ARCH -w OUT -v WHEEL``: the dylibs the extension links
      outside the system copied into ``.dylibs``, every Mach-O file checked to hold the builder's
      architecture, and the wheel renamed to the lowest macOS version its binaries allow;
    - Windows: ``delvewheel repair -w OUT WHEEL``: the DLLs it links outside Windows (found on PATH)
      copied into the wheel with mangled names (``<package>.libs/``, or beside a top-level module through
      ``<name>.data/platlib/``), the same file name (a wheel with none is copied as it is).
      ``SOURCE_DATE_EPOCH`` (set for every build) keeps its diagnostic record, which holds the time,
      out of the wheel.
    """
    if builder.os == "macos":
        return [
            *builder.repair_cmd,
            "--require-archs",
            _mac_arch(builder.arch),
            "-w",
            str(out_dir),
            "-v",
            str(wheel),
        ]
    if builder.os == "windows":
        return [*builder.repair_cmd, "repair", "-w", str(out_dir), str(wheel)]
    return [*builder.repair_cmd, "repair", "--wheel-dir", str(out_dir), str(wheel)]


def find_builder(env: Mapping[str, str]) -> Builder:
    from curate.resolve import find_uv

    system = _system()
    uv = find_uv(env)
    uv_version = _version_of([uv, "--version"])
    if not uv_version:
        raise WheelsError(f"uv does not run ({uv}): it is the build frontend")
    libc = " ".join(x for x in platform.libc_ver() if x)
    description = env.get("CURATE_BUILDER_IMAGE") or ", ".join(
        x for x in (_os_release(), f"{system} {platform.machine()}", libc) if x
    )
    repair, repair_cmd = _repair_tool(system, env)
    return Builder(
        os=system,
        arch=platform.machine(),
        description=description,
        uv=uv,
        frontend=f"{uv_version} (uv build)",
        repair=repair,
        repair_cmd=repair_cmd,
    )


def _patchelf() -> str:
    beside = Path(sys.executable).parent / "patchelf"
    return str(beside) if beside.exists() else (shutil.which("patchelf") or "patchelf")


_PYTHONS: dict[str, Path | None] = {}
_PYTHONS_LOCK = threading.Lock()


def find_python(version: str, env: Mapping[str, str]) -> Path | None:
    """A CPython ``version`` ("3.12") interpreter on this machine: ``$CURATE_PYTHON_3_12``, this one,
    pyenv's, or ``python3.12`` on PATH (each checked by running it); None when there is none."""
    with _PYTHONS_LOCK:
        if version in _PYTHONS:
            return _PYTHONS[version]
        candidates = [env.get("CURATE_PYTHON_" + version.replace(".", "_"), "")]
        if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
            candidates.append(sys.executable)
        root = env.get("PYENV_ROOT") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".pyenv")
        candidates += sorted(
            glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}"))
        )
        for folder in (env.get("PATH") or "").split(os.pathsep):
            if folder and "shims" not in folder:
                candidates.append(os.path.join(folder, f"python{version}"))
        found: Path | None = None
        for c in candidates:
            if (
                c
                and os.access(c, os.X_OK)
                and _version_of([c, "-c", _PRINT_VERSION]).startswith(version + ".")
            ):
                found = Path(c)
                break
        _PYTHONS[version] = found
        return found


_PRINT_VERSION = "import platform; print(platform.python_version())"


# -- one build -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Attempt:
    """One build of one sdist: the wheel, or why there is none (with the last lines of its log)."""

    wheel: Path | None
    reason: str = ""
    log: tuple[str, ...] = ()
    repaired: bool = False


def source_date_epoch(path: Path) -> int:
    """The newest modification time among the sdist's members (>= 1980-01-01: zip cannot say less)."""
    newest = 0
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist()[:MAX_SDIST_MEMBERS]:
                with contextlib.suppress(ValueError, OverflowError):
                    newest = max(newest, int(dt.datetime(*info.date_time, tzinfo=dt.UTC).timestamp()))
    else:
        with tarfile.open(path, "r:*") as tf:
            for i, member in enumerate(tf):
                if i >= MAX_SDIST_MEMBERS:
                    break
                newest = max(newest, int(member.mtime))
    return max(newest, 315532800)


# Unpack an sdist (argv 1) into a folder (argv 2): tar with the "data" filter (no links out, no devices,
# no absolute paths), zip through zipfile (which drops ".." and absolute parts); then say so (UNPACKED,
# in the log) and become the build (argv 3...), given the one folder the sdist holds.
# One process in one sandbox for both: no second sandbox and interpreter start per build.
UNPACKED = "curate: unpacked the sdist"
_UNPACK_THEN_BUILD = f"""
import os, sys, tarfile, zipfile
src, dest, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
if src.endswith(".zip"):
    zipfile.ZipFile(src).extractall(dest)
else:
    with tarfile.open(src) as tf:
        tf.extractall(dest, filter="data")
trees = [e.path for e in os.scandir(dest) if e.is_dir(follow_symlinks=False)]
if len(trees) != 1:
    sys.exit("the sdist holds " + str(len(trees)) + " folders")
print({UNPACKED!r}, flush=True)
if os.name == "nt":  # no exec there (os.execv starts another process and returns at once)
    import subprocess
    sys.exit(subprocess.call([*cmd, trees[0]]))
os.execvp(cmd[0], [*cmd, trees[0]])
"""

_NETWORK = re.compile(
    r"Network is unreachable|Temporary failure in name resolution|Name or service not known|"
    r"\[Errno (?:101|111|-2|-3)\]|getaddrinfo failed|No address associated with hostname|Connection refused"
)
_READ_ONLY = re.compile(r"Read-only file system|\[Errno 30\]")


def _reason(code: int, log: Sequence[str], what: str) -> str:
    text = "\n".join(log)
    if _NETWORK.search(text):
        return f"{what} tried to reach the network (builds have none)"
    if _READ_ONLY.search(text):
        return f"{what} tried to write outside its build directory"
    return f"{what} failed (exit status {code})"


def _run(
    cmd: list[str], *, env: Mapping[str, str], cwd: Path, time_limit: float
) -> tuple[int | None, list[str]]:
    """Run ``cmd`` in its own process group; (exit status, log lines); None when it ran past the limit."""
    with subprocess.Popen(
        cmd,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as proc:
        try:
            out, _ = proc.communicate(timeout=time_limit)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            out, _ = proc.communicate()
            return None, out.decode("utf-8", "replace").splitlines()
        return proc.returncode, out.decode("utf-8", "replace").splitlines()


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc`` and everything it started: its process group on POSIX; on Windows (no process
    groups, no SIGKILL) ``taskkill /T /F``, which walks the child processes, then the process itself."""
    if os.name == "nt":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["taskkill", "/T", "/F", "/PID", str(proc.pid)], capture_output=True, timeout=60, check=False
            )
        with contextlib.suppress(OSError):
            proc.kill()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _tail(lines: Sequence[str], workdir: Path) -> tuple[str, ...]:
    cleaned = [
        line.replace(str(workdir), "<build>").replace(BUILD_MOUNT, "<build>").rstrip()
        for line in lines
        if line.strip()
    ]
    return tuple(cleaned[-LOG_LINES:])


# What a Windows build sees of the machine, copied from curate's own environment: where Windows, its
# shell and the compilers are (setuptools finds MSVC through vswhere under ProgramFiles(x86)), and the
# processor (distutils picks the target architecture from it). Nothing else of the runner's: no token,
# no user path. Names are upper case, as Windows' environment reaches Python.
WINDOWS_MACHINE = (
    "SYSTEMROOT",
    "SYSTEMDRIVE",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "PROGRAMFILES",
    "PROGRAMFILES(X86)",
    "PROGRAMW6432",
    "COMMONPROGRAMFILES",
    "COMMONPROGRAMFILES(X86)",
    "COMMONPROGRAMW6432",
    "PROGRAMDATA",
    "NUMBER_OF_PROCESSORS",
    "PROCESSOR_ARCHITECTURE",
    "PROCESSOR_IDENTIFIER",
    "OS",
)
_MACOSX_TAG = re.compile(r"^macosx_(\d+)_(\d+)_(\w+)$")


def platform_environ(
    builder: Builder, targets: Iterable[Target], *, home: str, tmp: str, host: Mapping[str, str]
) -> dict[str, str]:
    """The build's environment particular to the builder's OS (beside curate's own for every build):

    - Windows: :data:`WINDOWS_MACHINE` from ``host``, ``PATH`` with Windows' own folders, ``TEMP``,
      ``TMP``, ``USERPROFILE``, ``APPDATA`` and ``LOCALAPPDATA`` in the build's folder, and ``CL`` /
      ``LINK`` = ``/Brepro`` so MSVC writes no timestamp (the wheel can then reproduce);
    - macOS: for the macOS targets of the build, ``MACOSX_DEPLOYMENT_TARGET`` (the lowest version their
      ``macosx_X_Y_ARCH`` tags name, so the wheel installs on each) and ``ARCHFLAGS`` for the builder's
      one architecture (not a universal2 build from a universal2 Python), as cibuildwheel sets them;
    - Linux: nothing more; nor anywhere the builder's OS is not this machine's (a test standing in for
      a macOS or Windows builder)."""
    if builder.os != _native_os():
        return {}
    if builder.os == "windows":
        out = {k: host[k] for k in WINDOWS_MACHINE if host.get(k)}
        root = host.get("SYSTEMROOT", "C:\\Windows")
        system = [f"{root}\\System32", root, f"{root}\\System32\\Wbem"]
        out["PATH"] = ";".join([str(Path(sys.executable).parent), *system])
        out |= {"TEMP": tmp, "TMP": tmp, "USERPROFILE": home, "APPDATA": home, "LOCALAPPDATA": home}
        out |= {"CL": "/Brepro", "LINK": "/Brepro"}
        return out
    if builder.os == "macos":
        versions = sorted(
            (int(m[1]), int(m[2]))
            for t in targets
            if t.platform.os == "macos"
            for tag in t.platform.platform_tags
            if (m := _MACOSX_TAG.match(tag))
        )
        if not versions:
            return {}
        major, minor = versions[0]
        return {
            "MACOSX_DEPLOYMENT_TARGET": f"{major}.{minor}",
            "ARCHFLAGS": f"-arch {_mac_arch(builder.arch)}",
        }
    return {}


def _native_os() -> str:
    return {"darwin": "macos", "win32": "windows"}.get(sys.platform, "linux")


def build_once(
    sdist: Path,
    *,
    python: Path,
    findlinks: Path,
    workdir: Path,
    builder: Builder,
    sandbox: Sandbox,
    time_limit: float,
    epoch: int,
    buildenv: Path | None = None,
    targets: Sequence[Target] = (),
    host: Mapping[str, str] | None = None,
) -> Attempt:
    """Build ``sdist`` into a wheel in ``workdir`` (fresh), repaired when it has native code (:func:`repair_wheel`),
    for ``targets`` (what :func:`platform_environ` sets for them, with ``host``: curate's environment).

    With ``buildenv`` (a :func:`prepare_build_env` environment; bwrap only), the build runs in it, mounted
    read-only, with no build isolation: nothing is installed for the build. Without, ``uv build`` makes an
    isolated environment in the build directory and installs the build requirements from ``findlinks``."""
    workdir.mkdir(parents=True)
    for sub in ("home", "tmp", "uv-cache", "dist", "repaired", "src"):
        (workdir / sub).mkdir()
    shutil.copyfile(sdist, workdir / sdist.name)
    inside = sandbox.inside(workdir, BUILD_MOUNT)
    links = sandbox.inside(findlinks, LINKS_MOUNT)
    mounts = [(workdir, BUILD_MOUNT, True), (findlinks, LINKS_MOUNT, False)]
    if buildenv is not None:
        if sandbox.kind != "bwrap":
            raise WheelsError("a shared build environment needs bwrap (it is mounted read-only)")
        mounts = [(workdir, BUILD_MOUNT, True), (buildenv, ENV_MOUNT, False)]
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(inside / "home"),
        "TMPDIR": str(inside / "tmp"),
        "UV_CACHE_DIR": str(inside / "uv-cache"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_CONFIG": "1",
        "NO_COLOR": "1",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "SOURCE_DATE_EPOCH": str(epoch),
    }
    env |= platform_environ(builder, targets, home=env["HOME"], tmp=env["TMPDIR"], host=host or {})
    started = time.monotonic()
    source = ["--no-index", "--find-links", str(links), "--python", str(python)]
    if buildenv is not None:
        source = ["--no-index", "--no-build-isolation", "--python", f"{ENV_MOUNT}/bin/python"]
    build = [builder.uv, "build", "--wheel", *source, "--out-dir", str(inside / "dist")]
    # unpacked in the sandbox too (an archive is input like any other), at the same path in every build,
    # by the process that then becomes the build (given the unpacked folder)
    cmd = [
        sys.executable,
        "-I",
        "-c",
        _UNPACK_THEN_BUILD,
        str(inside / sdist.name),
        str(inside / "src"),
        *build,
    ]
    code, log = _run(sandbox.wrap(cmd, mounts), env=env, cwd=workdir, time_limit=time_limit)
    if UNPACKED not in log:  # (only the build, which starts after it, could print it too)
        if code is None:
            reason = f"unpacking the sdist ran past its time limit ({time_limit:g} s)"
        else:
            reason = "the sdist did not unpack into one folder"
        return Attempt(wheel=None, reason=reason, log=_tail(log, workdir))
    log.remove(UNPACKED)
    if code is None:
        return Attempt(
            wheel=None,
            reason=f"the build ran past its time limit ({time_limit:g} s)",
            log=_tail(log, workdir),
        )
    wheels = sorted((workdir / "dist").glob("*.whl"))
    if code != 0 or len(wheels) != 1:
        return Attempt(wheel=None, reason=_reason(code, log, "the build"), log=_tail(log, workdir))
    wheel = wheels[0]
    if _is_pure(wheel.name) or not builder.repair_cmd:
        return Attempt(wheel=wheel)
    left = max(1.0, time_limit - (time.monotonic() - started))
    return repair_wheel(
        wheel, builder=builder, sandbox=sandbox, workdir=workdir, mounts=mounts, env=env, time_limit=left
    )


def repair_wheel(
    wheel: Path,
    *,
    builder: Builder,
    sandbox: Sandbox,
    workdir: Path,
    mounts: Sequence[tuple[Path, str, bool]],
    env: Mapping[str, str],
    time_limit: float,
) -> Attempt:
    """``wheel`` (in ``workdir/dist``) through the builder's repair tool (:func:`repair_command`) into
    ``workdir/repaired``: the one wheel there is the result; a failing tool (or none or several wheels
    left) is the reason, with the last lines of its log."""
    inside = sandbox.inside(workdir, BUILD_MOUNT)
    (workdir / "repaired").mkdir(exist_ok=True)
    repair = repair_command(builder, inside / "dist" / wheel.name, inside / "repaired")
    tool = Path(builder.repair_cmd[0])
    if sandbox.kind == "bwrap" and tool.is_absolute() and tool.parent.resolve().is_relative_to("/tmp"):
        mounts = [*mounts, (tool.parent, str(tool.parent), False)]  # hidden by the sandbox's fresh /tmp
    code, rlog = _run(sandbox.wrap(repair, mounts), env=env, cwd=workdir, time_limit=time_limit)
    repaired = sorted((workdir / "repaired").glob("*.whl"))
    if code == 0 and len(repaired) == 1:
        return Attempt(wheel=repaired[0], repaired=True)
    text = "\n".join(rlog)
    if builder.os == "linux" and ("does not look like a platform wheel" in text or "no ELF" in text):
        return Attempt(wheel=wheel)  # nothing native inside after all: the frontend's tag stands
    what = REPAIR_TOOLS.get(builder.os, "the repair tool") + (" repair" if builder.os != "macos" else "")
    if code is None:
        reason = f"{what} ran past the time limit"
    elif code == 0:
        found = ", ".join(p.name for p in repaired) or "none"
        reason = f"{what} left {len(repaired)} wheels in its output directory, not one ({found})"
    else:
        reason = _reason(code, rlog, what)
    return Attempt(wheel=None, reason=reason, log=_tail(rlog, workdir))


def prepare_build_env(
    dest: Path,
    *,
    python: Path,
    requirements: Sequence[str],
    findlinks: Path,
    builder: Builder,
    sandbox: Sandbox,
    time_limit: float,
) -> tuple[Path | None, tuple[str, ...]]:
    """A virtual environment (``dest/env``) holding exactly ``requirements`` (one build set's pins, each
    ``name==version``) from ``findlinks``, its modules compiled to bytecode: the environment every build
    with that build set runs in, mounted read-only (:func:`build_once`), instead of each build making
    one and unpacking its backend again. (env, ()), or (None, the log's last lines) when it cannot be made.

    No code of the packages runs here: uv installs wheels by unpacking them (``--no-build``: never an
    sdist), and ``python -I -S -m compileall`` compiles without importing anything (no ``site``, so no
    ``.pth`` file runs). It runs in the sandbox all the same (no network; only ``dest`` writable), at the
    path the builds see it at (``/tmp/curate-build-env``). bwrap only: it is what mounts it read-only."""
    if sandbox.kind != "bwrap":
        raise WheelsError("a shared build environment needs bwrap (it is mounted read-only)")
    env_dir, work = dest / "env", dest / "work"
    for folder in (env_dir, work, work / "home", work / "tmp", work / "uv-cache"):
        folder.mkdir(parents=True)
    mounts = [(work, BUILD_MOUNT, True), (findlinks, LINKS_MOUNT, False), (env_dir, ENV_MOUNT, True)]
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": f"{BUILD_MOUNT}/home",
        "TMPDIR": f"{BUILD_MOUNT}/tmp",
        "UV_CACHE_DIR": f"{BUILD_MOUNT}/uv-cache",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_CONFIG": "1",
        "NO_COLOR": "1",
        "LC_ALL": "C.UTF-8",
    }
    uv, env_python = builder.uv, f"{ENV_MOUNT}/bin/python"
    install = ["--python", env_python, "--no-index", "--find-links", LINKS_MOUNT, "--no-build"]
    compile_all = ["-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    steps = [
        [uv, "venv", "--python", str(python), ENV_MOUNT],
        [uv, "pip", "install", *install, "--link-mode", "copy", *requirements],
        [env_python, "-I", "-S", *compile_all, f"{ENV_MOUNT}/lib"],
    ]
    started = time.monotonic()
    try:
        for step in steps:
            left = max(1.0, time_limit - (time.monotonic() - started))
            code, log = _run(sandbox.wrap(step, mounts), env=env, cwd=work, time_limit=left)
            if code != 0:
                return None, _tail(log, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return env_dir, ()


def is_pure(filename: str) -> bool:
    """Whether a wheel's file name says pure Python (every tag ``*-none-any``): one build serves every OS."""
    return _is_pure(filename)


def _is_pure(filename: str) -> bool:
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    return all(t.abi == "none" and t.platform == "any" for t in tags)


def zip_digests(path: Path) -> dict[str, str]:
    """sha256 of each member of a zip, by name."""
    out: dict[str, str] = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.is_dir():
                out[info.filename] = hashlib.sha256(zf.read(info)).hexdigest()
    return out


def differing_files(a: Path, b: Path) -> tuple[str, ...]:
    """The members of two wheels whose bytes (or presence) differ; () when the wheels are identical."""
    if sha256_of(a) == sha256_of(b):
        return ()
    da, db = zip_digests(a), zip_digests(b)
    names = sorted(n for n in set(da) | set(db) if da.get(n) != db.get(n))
    return tuple(names) or ("(zip metadata: timestamps or member order)",)


# -- rebuild-and-compare (build.from_source: pure) -------------------------------------------------------------


def _dist_info_files(digests: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(files outside ``*.dist-info/``, files inside it by their name within it)."""
    outside: dict[str, str] = {}
    inside: dict[str, str] = {}
    for name, digest in digests.items():
        top, _, rest = name.partition("/")
        if top.endswith(".dist-info") and rest:
            inside[rest] = digest
        else:
            outside[name] = digest
    return outside, inside


def _metadata_fields(zf: zipfile.ZipFile) -> dict[str, tuple[str, ...]]:
    from email.parser import BytesParser

    name = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1), "")
    if not name:
        return {}
    msg = BytesParser().parsebytes(zf.read(name))

    from packaging.requirements import InvalidRequirement, Requirement

    def reqs(values: Iterable[str]) -> tuple[str, ...]:
        out = []
        for v in values:
            try:
                out.append(str(Requirement(v)))
            except InvalidRequirement:
                out.append(v.strip())
        return tuple(sorted(out))

    return {
        "Name": (str(msg.get("Name", "")).lower().replace("_", "-"),),
        "Version": (str(msg.get("Version", "")),),
        "Requires-Python": (str(msg.get("Requires-Python", "")).replace(" ", ""),),
        "Requires-Dist": reqs(msg.get_all("Requires-Dist") or ()),
        "Provides-Extra": tuple(sorted(msg.get_all("Provides-Extra") or ())),
    }


def _entry_points(zf: zipfile.ZipFile) -> dict[str, dict[str, str]]:
    import configparser

    name = next(
        (n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt") and n.count("/") == 1), ""
    )
    if not name:
        return {}
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(zf.read(name).decode("utf-8", "replace"))
    except configparser.Error:
        return {"(unreadable)": {}}
    return {s: {k: v.replace(" ", "") for k, v in parser[s].items()} for s in parser.sections()}


def compare_with_upstream(upstream: Path, built: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(added, changed): files the upstream wheel has that the build from the sdist has not, and files
    both have with other bytes. ``.dist-info`` is normalised: its METADATA is compared by the fields that
    say what is installed (name, version, Requires-Python, Requires-Dist, Provides-Extra) and its
    entry points by their values; RECORD, WHEEL, licence files and the like are not compared."""
    up_out, _ = _dist_info_files(zip_digests(upstream))
    built_out, _ = _dist_info_files(zip_digests(built))
    added = tuple(sorted(n for n in up_out if n not in built_out))
    changed = [n for n in sorted(up_out) if n in built_out and up_out[n] != built_out[n]]
    with zipfile.ZipFile(upstream) as zu, zipfile.ZipFile(built) as zb:
        mu, mb = _metadata_fields(zu), _metadata_fields(zb)
        for key in sorted(set(mu) | set(mb)):
            if mu.get(key) != mb.get(key):
                changed.append(f"*.dist-info/METADATA ({key})")
        eu, eb = _entry_points(zu), _entry_points(zb)
        for section in sorted(set(eu) | set(eb)):
            if eu.get(section) != eb.get(section):
                changed.append(f"*.dist-info/entry_points.txt [{section}]")
    return added, tuple(changed)


# -- the plan -------------------------------------------------------------------------------------------------


Kind = Literal["missing", "pure", "reproduce"]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    """One version to build: its sdist, the targets it needs a wheel for, and why."""

    project: NormalizedName
    name: str
    version: str
    sdist: FileEntry
    targets: tuple[Target, ...]
    kind: Kind
    upstream: FileEntry | None = None  # pure: the upstream wheel to compare with
    expect: BuiltFile | None = None  # reproduce: the recorded wheel whose bytes are missing


def reproducing_platforms(config: Config, b: BuiltFile) -> set[str]:
    """The configured platforms whose builder rebuilds ``b`` where its bytes are missing (publish.yml's
    wheels jobs, one per platform: ``curate ci matrix --built``): a native wheel's own (its targets'),
    a pure-Python wheel's the first Linux platform (the one builder every catalog has)."""
    if _is_pure(b.filename):
        linux = next((p.name for p in config.platforms if p.os == "linux"), "")
        return {linux} if linux else set()
    platform_of = {t.id: t.platform.name for t in config.all_targets()}
    return {platform_of[t] for t in b.targets if t in platform_of}


def sdist_of(version: VersionEntry) -> FileEntry | None:
    return next((f for f in sorted(version.files, key=lambda f: f.filename) if not f.is_wheel), None)


def plan(
    projects: Mapping[NormalizedName, Project],
    config: Config,
    cache: Path,
    *,
    today: dt.date,
    retry_failed: bool = False,
    only: Sequence[NormalizedName] = (),
    reproduce_only: bool = False,
    platform: str = "",
) -> tuple[list[Job], int]:
    """What to build, and how many versions are already built (or failed) as they are. With
    ``reproduce_only`` (the publish job), only the recorded wheels whose bytes the cache lacks; with
    ``platform`` too, only those :func:`reproducing_platforms` gives that platform."""
    from curate.index import unserved

    targets = {t.id: t for t in config.all_targets()}
    jobs: list[Job] = []
    up_to_date = 0
    for name in sorted(projects):
        if only and name not in only:
            continue
        project = projects[name]
        for v in project.sorted_versions():
            sdist = sdist_of(v)
            if sdist is None or unserved(v, config.vetting, today) is not None:
                continue
            built = [b for b in v.built if b.sdist_sha256 == sdist.sha256]
            done = {t for b in built if not b.compared_with for t in b.targets}
            failed = {t for f in v.build_failures if f.sdist_sha256 == sdist.sha256 for t in f.targets}
            skip = done | (set() if retry_failed else failed)
            want = [targets[t] for t in sorted(v.build_targets) if t in targets and t not in skip]
            if reproduce_only:
                want = []
            had_job = False
            for b in built:
                if reproduce_only and platform and platform not in reproducing_platforms(config, b):
                    continue
                if not holds(cache, blob_path(cache, b.sha256), b.sha256, size=b.size):
                    jobs.append(
                        Job(
                            project=name,
                            name=project.name,
                            version=v.version,
                            sdist=sdist,
                            targets=tuple(targets[t] for t in b.targets if t in targets),
                            kind="reproduce",
                            expect=b,
                        )
                    )
                    had_job = True
            if want:
                jobs.append(
                    Job(
                        project=name,
                        name=project.name,
                        version=v.version,
                        sdist=sdist,
                        targets=tuple(want),
                        kind="missing",
                    )
                )
                had_job = True
            if config.build.from_source == "pure" and not reproduce_only:
                compared = {b.compared_with for b in built if b.compared_with}
                for wheel in v.files:
                    if wheel.is_wheel and _is_pure(wheel.filename) and wheel.filename not in compared:
                        jobs.append(
                            Job(
                                project=name,
                                name=project.name,
                                version=v.version,
                                sdist=sdist,
                                targets=tuple(targets[t] for t in sorted(wheel.targets) if t in targets),
                                kind="pure",
                                upstream=wheel,
                            )
                        )
                        had_job = True
            if not had_job and (built or v.build_targets):
                up_to_date += 1
    return jobs, up_to_date


# -- the stage ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Failed:
    name: str
    version: str
    targets: tuple[str, ...]
    reason: str
    log: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Made:
    name: str
    version: str
    file: BuiltFile


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WheelsReport:
    sandbox: str
    builder: str
    jobs: int
    up_to_date: int  # versions with nothing to build
    built: tuple[Made, ...]
    failed: tuple[Failed, ...]
    reproduced: tuple[Made, ...]  # recorded wheels whose bytes were missing, rebuilt to the same sha256
    unreproduced: tuple[Failed, ...]  # ... rebuilt to other bytes (or not at all): not served
    differs: tuple[Made, ...]  # build.from_source: pure: upstream wheels that differ from their sdist
    changed: tuple[str, ...]  # catalog files written
    seconds: float
    environments: int = 0  # build environments prepared (one per build set and Python, shared read-only)
    elsewhere: tuple[Failed, ...] = ()  # recorded native wheels only a builder of another OS can make


@dataclasses.dataclass(kw_only=True, slots=True)
class _Run:
    config: Config
    cache: Path
    builder: Builder
    sandbox: Sandbox
    findlinks: Path
    build_deps: str
    scratch: Path
    env: Mapping[str, str]
    recheck: bool
    projects: Mapping[NormalizedName, Project] = dataclasses.field(default_factory=dict)
    served: Mapping[str, tuple[Path, str]] = dataclasses.field(default_factory=dict)  # filename -> blob, sha
    counter: list[int] = dataclasses.field(default_factory=lambda: [0])
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    # prepared build environments, by (build set digest, interpreter): None when one could not be made
    envs: dict[tuple[str, str], concurrent.futures.Future[Path | None]] = dataclasses.field(
        default_factory=dict
    )

    def workdir(self, label: str) -> Path:
        with self.lock:
            self.counter[0] += 1
            n = self.counter[0]
        return self.scratch / f"{n:04d}-{re.sub(r'[^A-Za-z0-9._-]', '_', label)[:80]}"


def build_links(run: _Run, job: Job, target: Target) -> tuple[Path, str, str, tuple[str, ...]]:
    """The package source of one build, its digest, "" (or why the build cannot run), and its pins
    (``name==version``; none when the catalog records no build set for it): the versions
    the catalog locked to build this sdist on ``target`` (:func:`curate.builddeps.build_set`), each as its
    served wheel; a catalog that records none (locked before build dependencies were, or a pure rebuild)
    gets every file the catalog serves."""
    from curate.builddeps import build_set
    from curate.closure import canonical_version

    pins = build_set(run.projects, (job.project, canonical_version(job.version)), target.id)
    if not pins:
        return run.findlinks, run.build_deps, "", ()
    missing = [f"{p.name} {p.version}" for p in pins if p.wheel.filename not in run.served]
    if missing:
        why = f"its build dependencies are not served (blocked, or not vetted as these bytes): {', '.join(missing)}"
        return run.findlinks, "", why, ()
    folder = run.workdir(f"{job.name}-{job.version}-links")
    folder.mkdir()
    digest = hashlib.sha256()
    for pin in sorted(pins, key=lambda p: p.wheel.filename):
        path, sha256 = run.served[pin.wheel.filename]
        digest.update(f"{pin.wheel.filename} {sha256}\n".encode())
        try:
            os.link(path, folder / pin.wheel.filename)
        except OSError:
            shutil.copyfile(path, folder / pin.wheel.filename)
    requirements = tuple(sorted(f"{p.name}=={p.version}" for p in pins))
    return folder, digest.hexdigest(), "", requirements


def shared_env(run: _Run, python: Path, links: Path, digest: str, requirements: Sequence[str]) -> Path | None:
    """The prepared build environment of this build set and interpreter (made once per run, by whichever
    build needs it first; the others wait for it); None where builds make their own: no bwrap to mount it
    read-only, no recorded build set, or it could not be made (the builds then show why)."""
    if run.sandbox.kind != "bwrap" or not requirements:
        return None
    key = (digest, str(python))
    with run.lock:
        future = run.envs.get(key)
        mine = future is None
        if future is None:
            future = run.envs[key] = concurrent.futures.Future()
    if not mine:
        return future.result()
    try:
        env, _log = prepare_build_env(
            run.workdir("build-env"),
            python=python,
            requirements=requirements,
            findlinks=links,
            builder=run.builder,
            sandbox=run.sandbox,
            time_limit=run.config.build.time_limit,
        )
    except BaseException as exc:
        future.set_exception(exc)
        raise
    future.set_result(env)
    return env


@dataclasses.dataclass(kw_only=True, slots=True)
class _Result:
    job: Job
    built: list[BuiltFile] = dataclasses.field(default_factory=list)
    failures: list[Failed] = dataclasses.field(default_factory=list)
    reproduced: bool = False
    elsewhere: str = ""  # reproduce: a native wheel of another OS or architecture; what it needs


def _store(cache: Path, wheel: Path) -> tuple[str, int]:
    """Put ``wheel`` into the cache under its sha256 (atomically); (sha256, size)."""
    sha256 = sha256_of(wheel)
    target = blob_path(cache, sha256)
    if not holds(cache, target, sha256):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            shutil.copyfile(wheel, tmp)
            os.chmod(tmp, 0o444)
            if sha256_of(Path(tmp)) != sha256:
                raise WheelsError(f"{wheel.name}: changed while it was copied into the cache")
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        record_verified(cache, sha256, target.stat())
    return sha256, target.stat().st_size


def _check(
    run: _Run, job: Job, wheel_name: str, sha256: str, size: int, version: VersionEntry
) -> tuple[str, ...]:
    return check_built(run.cache, run.scratch, run.config, job.name, version, wheel_name, sha256, size)


def check_built(
    cache: Path,
    scratch: Path,
    config: Config,
    name: str,
    version: VersionEntry,
    wheel_name: str,
    sha256: str,
    size: int,
) -> tuple[str, ...]:
    """What checking the built wheel as curate vet checks an upstream one finds: integrity and metadata;
    its own licence (its metadata and licence files) against the one the version was vetted with and the
    deny list; its Requires-Dist against the sdist's, when the sdist's metadata lists them."""
    from curate.licenses import license_of, verdict
    from curate.vet import check_file

    result = check_file(str(cache), wheel_name, sha256, size, name, version.version, str(scratch))
    problems = [f"{kind}: {message}" for kind, message in result.problems]
    record = version.vetting
    if result.fields is not None:
        fields = result.fields
        lic = license_of(
            license_expression=fields.license_expression or None,
            license=fields.license or None,
            classifiers=fields.classifiers,
            files=result.licence_files,
            field_match=result.field_match,
        )
        policy = config.vetting
        if lic.expression and verdict(lic.expression, policy.license_allow, policy.license_deny) == "denied":
            problems.append(f"license-denied: the built wheel's licence {lic.expression} is on the deny list")
        elif lic.expression and record is not None and record.license and lic.expression != record.license:
            problems.append(
                f"license: the built wheel's licence is {lic.expression}, the version was vetted as "
                f"{record.license}"
            )
    if (
        result.fields is not None
        and record is not None
        and record.requires_dist
        and not any(f.is_wheel for f in version.files)
    ):
        from packaging.requirements import InvalidRequirement, Requirement

        def norm(reqs: Iterable[str]) -> set[str]:
            out = set()
            for r in reqs:
                try:
                    out.add(str(Requirement(r)))
                except InvalidRequirement:
                    out.add(r)
            return out

        if norm(result.fields.requires_dist) != norm(record.requires_dist):
            problems.append("metadata: Requires-Dist differs from the sdist's")
    return tuple(problems)


def _build_pair(
    run: _Run, job: Job, python: Path, links: Path, buildenv: Path | None
) -> tuple[Attempt, Attempt | None]:
    """Two builds of the job's sdist, side by side (the second one says whether it reproduces)."""
    sdist = blob_path(run.cache, job.sdist.sha256)
    epoch = source_date_epoch(sdist)
    staged = run.workdir(f"{job.name}-{job.version}-sdist")
    staged.mkdir()
    named = staged / job.sdist.filename
    os.link(sdist, named) if _same_device(sdist, staged) else shutil.copyfile(sdist, named)

    def one(i: int) -> Attempt:
        return build_once(
            named,
            python=python,
            findlinks=links,
            workdir=run.workdir(f"{job.name}-{job.version}-{i}"),
            builder=run.builder,
            sandbox=run.sandbox,
            time_limit=run.config.build.time_limit,
            epoch=epoch,
            buildenv=buildenv,
            targets=job.targets,
            host=run.env,
        )

    if not run.recheck:
        return one(1), None
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first, second = pool.submit(one, 1), pool.submit(one, 2)
        return first.result(), second.result()


def _same_device(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


@functools.cache
def _python_full(python: Path) -> str:
    return _version_of([str(python), "-c", _PRINT_VERSION])


def _do_job(run: _Run, job: Job, version: VersionEntry) -> _Result:
    result = _Result(job=job)
    expect = job.expect
    if (
        expect is not None
        and not _is_pure(expect.filename)
        and not any(map(run.builder.builds_for, job.targets))
    ):
        # a native wheel another OS's runner built (merged with --merge): left to a builder of that OS (in
        # publish.yml, the wheels job of that platform); not a failure here, and its wheel stays unserved
        # wherever its bytes are not had (curate wheels --import and curate build say so)
        result.elsewhere = (
            run.builder.needs(job.targets[0]) if job.targets else "needs the builder it was built on"
        )
        return result
    pending = list(job.targets)
    if job.kind == "reproduce" and job.expect is not None:
        pythons = [job.expect.python.rsplit(".", 1)[0]] if job.expect.python.count(".") == 2 else []
        pythons = pythons or sorted({t.python for t in pending}, key=_py_key, reverse=True)
    else:
        pythons = sorted({t.python for t in pending}, key=_py_key, reverse=True)
    if job.kind == "pure":
        pythons = pythons[:1] or [run.config.python_default[-1]]
    for py in pythons:
        group = [t for t in pending if t.python == py]
        if not pending or (not group and job.kind == "missing"):
            continue
        interpreter = find_python(py, run.env)
        if interpreter is None:
            local = [t for t in group if run.builder.builds_for(t)]
            if local:
                result.failures.append(_failed(job, local, f"no Python {py} interpreter on this builder"))
                pending = [t for t in pending if t not in local]
            continue
        links, build_deps, why_not, requirements = build_links(run, job, (group or pending)[0])
        if why_not:
            result.failures.append(_failed(job, group or pending, why_not))
            pending = [t for t in pending if t not in group]
            continue
        buildenv = shared_env(run, interpreter, links, build_deps, requirements)
        first, second = _build_pair(run, job, interpreter, links, buildenv)
        if first.wheel is None:
            here = [t for t in group if run.builder.builds_for(t)] if job.kind == "missing" else group
            result.failures.append(_failed(job, here or group or pending, first.reason, first.log))
            for t in [t for t in group if t not in here]:  # it may build on its own OS: say what it needs
                result.failures.append(_failed(job, [t], run.builder.needs(t)))
            pending = [t for t in pending if t not in group]
            if job.kind != "missing":
                pending = []
            continue
        sha256, size = _store(run.cache, first.wheel)
        differs: tuple[str, ...] = ()
        if second is not None:
            differs = (
                differing_files(first.wheel, second.wheel)
                if second.wheel is not None
                else ("(the second build failed: " + second.reason + ")",)
            )
        name = first.wheel.name
        covered = [t for t in pending if t.accepts_wheel(name)]
        if job.kind == "reproduce" and job.expect is not None:
            if sha256 == job.expect.sha256:
                result.reproduced = True
                result.built.append(job.expect)
            else:
                result.failures.append(
                    _failed(
                        job,
                        job.targets,
                        f"{job.expect.filename}: rebuilt to other bytes (sha256 {sha256[:16]}..., recorded "
                        f"{job.expect.sha256[:16]}...): the recorded wheel cannot be had, it is not served",
                    )
                )
            return result
        compared_with = ""
        added: tuple[str, ...] = ()
        changed: tuple[str, ...] = ()
        if job.kind == "pure" and job.upstream is not None:
            upstream = blob_path(run.cache, job.upstream.sha256)
            compared_with = job.upstream.filename
            added, changed = compare_with_upstream(upstream, first.wheel)
            covered = list(job.targets)
        elif not covered:
            tags = ", ".join(sorted({p for t in group for p in t.platform.platform_tags}))
            result.failures.append(
                _failed(
                    job,
                    [t for t in group if run.builder.builds_for(t)] or group,
                    f"the built wheel {name} has tags no target accepts (platform tags: {tags})",
                )
            )
            pending = [t for t in pending if t not in group]
            continue
        built = BuiltFile(
            filename=name,
            sha256=sha256,
            size=size,
            targets=tuple(sorted(t.id for t in covered)),
            requires_python=version.requires_python,
            sdist=job.sdist.filename,
            sdist_sha256=job.sdist.sha256,
            frontend=run.builder.frontend,
            repair=run.builder.repair if first.repaired else "",
            builder=run.builder.description,
            isolation=run.sandbox.kind,
            python=_python_full(interpreter),
            build_deps=build_deps,
            reproducible=("identical" if not differs else "differs") if second is not None else "not checked",
            differs=differs,
            problems=_check(run, job, name, sha256, size, version),
            compared_with=compared_with,
            added=added,
            changed=changed,
        )
        result.built.append(built)
        pending = [t for t in pending if t not in covered]
        if job.kind == "pure":
            return result
        for t in [t for t in group if t in pending]:
            tag_list = ", ".join(t.platform.platform_tags)
            why = (
                run.builder.needs(t)
                if not run.builder.builds_for(t)
                else f"the built wheel {name} is not accepted by {t.id} (its platform tags: {tag_list})"
            )
            result.failures.append(_failed(job, [t], why))
            pending.remove(t)
    for t in pending:  # no build covered them: another OS, or a Python this builder lacks
        result.failures.append(
            _failed(job, [t], run.builder.needs(t) if not run.builder.builds_for(t) else "not built")
        )
    return result


def _py_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".") if x.isdigit())


def _failed(job: Job, targets: Sequence[Target], reason: str, log: Sequence[str] = ()) -> Failed:
    return Failed(
        name=job.name,
        version=job.version,
        targets=tuple(sorted(t.id for t in targets)),
        reason=reason,
        log=tuple(log),
    )


def findlinks_set(
    projects: Mapping[NormalizedName, Project], config: Config, cache: Path, today: dt.date
) -> list[tuple[str, Path, str]]:
    """(filename, cached blob, sha256) of every file the catalog serves: the build's only package source."""
    from curate.index import unserved

    out: dict[str, tuple[str, Path, str]] = {}
    for project in projects.values():
        for v in project.versions:
            if unserved(v, config.vetting, today) is not None:
                continue
            files = [*v.files, *(b.as_file() for b in v.built if not b.problems and not b.compared_with)]
            for f in files:
                path = blob_path(cache, f.sha256)
                if f.filename not in out and holds(cache, path, f.sha256, size=f.size):
                    out[f.filename] = (f.filename, path, f.sha256)
    return [out[k] for k in sorted(out)]


def build_wheels(
    *,
    root: Path,
    env: Mapping[str, str],
    today: dt.date,
    cache_dir: Path | None = None,
    jobs: int | None = None,
    no_sandbox: bool = False,
    sandbox: str = "auto",
    force_runner: bool = False,
    retry_failed: bool = False,
    recheck: bool = True,
    only: Sequence[NormalizedName] = (),
    reproduce_only: bool = False,
    platform: str = "",
    on_progress: Callable[[Job, _Result], None] | None = None,
) -> WheelsReport:
    """``curate wheels`` on the repository at ``root``: build what the catalog lacks, record it in one step."""
    started = time.monotonic()
    config = load_config(root)
    cache = cache_root(root, config, env, cache_dir)
    names = [p.name for p in config.platforms]
    if platform and platform not in names:
        raise WheelsError(
            f"--platform {platform}: not a platform of the config (its platforms: {', '.join(names)})"
        )
    with writing(root, "curate wheels"):
        projects = load_catalog_fast(root)
        todo, up_to_date = plan(
            projects,
            config,
            cache,
            today=today,
            retry_failed=retry_failed,
            only=only,
            reproduce_only=reproduce_only,
            platform=platform,
        )
        if not todo:
            return WheelsReport(
                sandbox="",
                builder="",
                jobs=0,
                up_to_date=up_to_date,
                built=(),
                failed=(),
                reproduced=(),
                unreproduced=(),
                differs=(),
                changed=(),
                seconds=time.monotonic() - started,
            )
        isolation = find_sandbox(allow_none=no_sandbox, env=env, mode=sandbox, force=force_runner)
        builder = find_builder(env)
        with tempfile.TemporaryDirectory(
            prefix="curate-wheels-", dir=env.get("CURATE_BUILD_DIR") or None
        ) as tmp:
            scratch = Path(tmp).resolve()
            findlinks = scratch / "find-links"
            findlinks.mkdir()
            digest = hashlib.sha256()
            served = {}
            for filename, path, sha256 in findlinks_set(projects, config, cache, today):
                served[filename] = (path, sha256)
                digest.update(f"{filename} {sha256}\n".encode())
                try:
                    os.link(path, findlinks / filename)
                except OSError:
                    shutil.copyfile(path, findlinks / filename)
            run = _Run(
                config=config,
                cache=cache,
                builder=builder,
                sandbox=isolation,
                findlinks=findlinks,
                build_deps=digest.hexdigest(),
                scratch=scratch,
                env=env,
                recheck=recheck,
                projects=projects,
                served=served,
            )
            versions = {(j.project, j.version): _version(projects[j.project], j.version) for j in todo}
            results: list[_Result] = []
            workers = max(1, jobs if jobs is not None else min(2, os.cpu_count() or 1))
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                futures = {pool.submit(_do_job, run, j, versions[(j.project, j.version)]): j for j in todo}
                for future in concurrent.futures.as_completed(futures):
                    res = future.result()
                    results.append(res)
                    if on_progress is not None:
                        on_progress(res.job, res)
            environments = sum(
                1 for f in run.envs.values() if f.done() and not f.exception() and f.result() is not None
            )
        changed = _write(root, projects, results)
    made = [
        Made(name=r.job.name, version=r.job.version, file=b)
        for r in results
        if r.job.kind != "reproduce"
        for b in r.built
    ]
    return WheelsReport(
        sandbox=isolation.describe(),
        builder=f"{builder.description}; {builder.frontend}"
        + (f"; {builder.repair}" if builder.repair else ""),
        jobs=len(todo),
        up_to_date=up_to_date,
        built=tuple(sorted(made, key=_made_key)),
        failed=tuple(
            sorted((f for r in results if r.job.kind != "reproduce" for f in r.failures), key=_failed_key)
        ),
        reproduced=tuple(
            sorted(
                (
                    Made(name=r.job.name, version=r.job.version, file=b)
                    for r in results
                    if r.reproduced
                    for b in r.built
                ),
                key=_made_key,
            )
        ),
        unreproduced=tuple(
            sorted((f for r in results if r.job.kind == "reproduce" for f in r.failures), key=_failed_key)
        ),
        elsewhere=tuple(
            sorted(
                (
                    _failed(r.job, r.job.targets, f"{r.job.expect.filename}: {r.elsewhere}")
                    for r in results
                    if r.elsewhere and r.job.expect is not None
                ),
                key=_failed_key,
            )
        ),
        differs=tuple(m for m in sorted(made, key=_made_key) if m.file.upstream_differs),
        changed=tuple(changed),
        seconds=time.monotonic() - started,
        environments=environments,
    )


def _made_key(m: Made) -> tuple[str, str, str]:
    return (m.name.lower(), m.version, m.file.filename)


def _failed_key(f: Failed) -> tuple[str, str, tuple[str, ...]]:
    return (f.name.lower(), f.version, f.targets)


def _version(project: Project, version: str) -> VersionEntry:
    return next(v for v in project.versions if v.version == version)


def _write(root: Path, projects: Mapping[NormalizedName, Project], results: Sequence[_Result]) -> list[str]:
    """Merge the results into each version's ``built`` / ``build_failures``, and write them as one step."""
    by_version: dict[tuple[NormalizedName, str], list[_Result]] = {}
    for r in results:
        by_version.setdefault((r.job.project, r.job.version), []).append(r)
    writes: dict[Path, bytes | None] = {}
    touched: set[NormalizedName] = set()
    updated: dict[NormalizedName, Project] = dict(projects)
    for (name, version), rs in sorted(by_version.items()):
        project = updated[name]
        versions = []
        for v in project.versions:
            if v.version != version:
                versions.append(v)
                continue
            sdist = sdist_of(v)
            current = sdist.sha256 if sdist else ""
            new_built = [b for r in rs if r.job.kind != "reproduce" for b in r.built]
            attempted = {t.id for r in rs if r.job.kind == "missing" for t in r.job.targets}
            compared = {b.compared_with for b in new_built if b.compared_with}
            keep = [
                b
                for b in v.built
                if b.sdist_sha256 == current
                and b.filename not in {n.filename for n in new_built}
                and (not b.compared_with or b.compared_with not in compared)
                and not (set(b.targets) & attempted and not b.compared_with)
            ]
            fails = [
                f for f in v.build_failures if f.sdist_sha256 == current and not (set(f.targets) & attempted)
            ]
            fails += [
                BuildFailure(targets=f.targets, reason=f.reason, sdist_sha256=current)
                for r in rs
                if r.job.kind == "missing"
                for f in r.failures
            ]
            versions.append(
                dataclasses.replace(
                    v,
                    built=tuple(sorted([*keep, *new_built], key=lambda b: b.filename)),
                    build_failures=tuple(fails),
                )
            )
        new = dataclasses.replace(project, versions=tuple(versions))
        if new != project:
            updated[name] = new
            touched.add(name)
            writes[project_path(root, new.name)] = new.dumps().encode("utf-8")
    written = set(replace_catalog_files(root, writes))
    return [n for n in sorted(touched) if project_path(root, updated[n].name) in written]


# -- handing built wheels from one job to another (by sha256) -------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Handed:
    """What :func:`export_built` wrote or :func:`import_built` took, and what it could not."""

    files: tuple[str, ...]  # filenames
    missing: tuple[str, ...]  # recorded wheels whose bytes were not had (not served)


def _recorded(root: Path) -> list[BuiltFile]:
    projects = load_catalog_fast(root)
    return sorted(
        {b.sha256: b for p in projects.values() for v in p.versions for b in v.built}.values(),
        key=lambda b: b.filename,
    )


def export_built(*, root: Path, env: Mapping[str, str], dest: Path, cache_dir: Path | None = None) -> Handed:
    """Copy the bytes of every wheel catalog/ records as built, from the cache, into ``dest`` (by file name):
    what a job that built them hands to the one that publishes (which checks each against its sha256)."""
    config = load_config(root)
    cache = cache_root(root, config, env, cache_dir)
    dest.mkdir(parents=True, exist_ok=True)
    done, missing, sums = [], [], []
    for b in _recorded(root):
        path = blob_path(cache, b.sha256)
        if holds(cache, path, b.sha256, size=b.size):
            shutil.copyfile(path, dest / b.filename)
            done.append(b.filename)
            sums.append(f"{b.sha256}  {b.filename}\n")
        else:
            missing.append(b.filename)
    (dest / "SHA256SUMS").write_text("".join(sums), "utf-8")  # always there: the folder is never empty
    import json  # what this catalog records (built: and build_failures:), for curate wheels --merge

    doc = _records_doc(load_catalog_fast(root))
    (dest / RECORDS_FILE).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", "utf-8")
    return Handed(files=tuple(done), missing=tuple(missing))


def import_built(*, root: Path, env: Mapping[str, str], src: Path, cache_dir: Path | None = None) -> Handed:
    """Take into the cache each recorded built wheel ``src`` (or a folder in it: one per wheels job's
    artifact) holds with exactly its recorded sha256 (and nothing else: a file with other bytes is
    ignored, and that wheel stays unserved unless another folder holds the right bytes: one job cannot
    hide another's wheel by uploading a file of the same name). Builds nothing."""
    config = load_config(root)
    cache = cache_root(root, config, env, cache_dir)
    folders = (
        [src, *sorted(d for d in src.iterdir() if d.is_dir() and not d.is_symlink())] if src.is_dir() else []
    )
    done, missing = [], []
    for b in _recorded(root):
        if holds(cache, blob_path(cache, b.sha256), b.sha256, size=b.size):
            done.append(b.filename)
            continue
        for candidate in (folder / b.filename for folder in folders):
            if (
                candidate.is_file()
                and not candidate.is_symlink()
                and candidate.stat().st_size == b.size
                and sha256_of(candidate) == b.sha256
            ):
                _store(cache, candidate)
                done.append(b.filename)
                break
        else:
            missing.append(b.filename)
    return Handed(files=tuple(done), missing=tuple(missing))


# -- built-wheel records from other runners, merged back (pr.yml's OS matrix) ----------------------------

RECORDS_FILE = "built-records.json"  # beside the wheels --export writes: what that runner's catalog records
_RECORDS_FORMAT = 1


def _records_doc(projects: Mapping[NormalizedName, Project]) -> dict[str, object]:
    versions: list[dict[str, object]] = []
    for name in sorted(projects):
        project = projects[name]
        for v in project.sorted_versions():
            sdist = sdist_of(v)
            if sdist is None or not (v.built or v.build_failures):
                continue
            versions.append(
                {
                    "project": project.name,
                    "version": v.version,
                    "sdist_sha256": sdist.sha256,
                    # a comparison with the upstream wheel is this catalog's own record: --merge refuses
                    # one from a runner, so a runner does not offer it (its PR report would list it)
                    "built": [
                        b.to_dict()
                        for b in v.built
                        if b.sdist_sha256 == sdist.sha256 and not (b.compared_with or b.added or b.changed)
                    ],
                    "build_failures": [
                        f.to_dict() for f in v.build_failures if f.sdist_sha256 == sdist.sha256
                    ],
                }
            )
    return {
        "format": _RECORDS_FORMAT,
        "builder": {"os": _system(), "arch": platform.machine()},
        "versions": versions,
    }


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Runner:
    """One folder ``--merge`` read: what one runner exported (its artifact)."""

    source: str  # the folder's name (pr.yml: the artifact's, curate-built-<platform>)
    platform: str  # the configured platform that name names: what the runner is, whatever its records say
    os: str  # that platform's
    arch: str  # that platform's (normalised: x86_64, aarch64)

    def builds_for(self, target: Target) -> bool:
        return target.platform.os == self.os and _arch(target.platform.arch) == _arch(self.arch)


MergeStatus = Literal["new", "known", "conflict", "stale", "missing", "foreign", "refused"]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Offered:
    """A wheel a runner recorded as built, and what the merge made of it:

    ``new`` (merged: not in the catalog yet), ``known`` (the catalog records these bytes already),
    ``conflict`` (another runner, or the catalog, has other bytes for one of its targets: a finding,
    not merged), ``stale`` (built from an sdist the catalog no longer has), ``missing`` (its bytes are
    not in the folder with the recorded sha256: not merged), ``foreign`` (it claims targets that runner
    cannot build for: not merged), ``refused`` (a record no runner may make: a comparison with the
    upstream wheel, which only this catalog's own curate wheels makes: not merged)."""

    source: str
    name: str
    version: str
    file: BuiltFile
    status: MergeStatus
    why: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Conflict:
    """The same version and target built to different bytes (by two runners, or a runner and the catalog);
    or, with ``filename``, one wheel file name with different bytes (whatever their targets)."""

    name: str
    version: str
    target: str  # "" for a file name conflict
    wheels: tuple[tuple[str, str, str], ...]  # (where: a runner's folder or "catalog", filename, sha256)
    filename: str = ""  # the file name two sides hold different bytes under


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Merged:
    runners: tuple[Runner, ...]
    offered: tuple[Offered, ...]
    conflicts: tuple[Conflict, ...]
    failures: tuple[Failed, ...]  # the build failures the merged catalog records for the versions touched
    problems: tuple[str, ...]  # folders or records that could not be read
    changed: tuple[str, ...]  # catalog files written

    @property
    def new(self) -> tuple[Offered, ...]:
        return tuple(o for o in self.offered if o.status == "new")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Entry:
    runner: Runner
    name: str
    version: str
    sdist_sha256: str
    built: tuple[BuiltFile, ...]
    failures: tuple[BuildFailure, ...]


def _artifact_platform(name: str, config: Config) -> Platform | None:
    """The configured platform a ``curate-built-<platform>`` folder (pr.yml's artifact) is the export of."""
    from curate.ci import BUILT_ARTIFACT

    if not name.startswith(BUILT_ARTIFACT):
        return None
    return next((p for p in config.platforms if p.name == name[len(BUILT_ARTIFACT) :]), None)


# The isolation a merged record may say it was built in on a runner of each OS: what find_sandbox can
# pick there, or less; any other claim is taken as that OS's runner sandbox (curate.ci.RUNNER_SANDBOX).
_OS_ISOLATION: dict[str, tuple[str, ...]] = {"linux": ("bwrap", "unshare"), "macos": ("sandbox-exec",)}


def _runner_isolation(claim: str, os_name: str) -> str:
    from curate.ci import RUNNER_SANDBOX

    if claim in ("", "none", "runner", *_OS_ISOLATION.get(os_name, ())):
        return claim
    return RUNNER_SANDBOX.get(os_name, "none")


def _read_export(folder: Path, config: Config) -> tuple[Runner | None, list[_Entry], list[str]]:
    """A runner's export folder: its records (validated: they are data from a job that ran builds). The
    runner is the platform the folder's name (``curate-built-<platform>``) names; records that say
    another OS or architecture are refused."""
    import json

    path = folder / RECORDS_FILE
    where = f"{folder.name}/{RECORDS_FILE}"
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        if not folder.is_dir():
            return None, [], [f"{folder}: no such folder"]
        return None, [], [f"{folder}: no {RECORDS_FILE} (not a folder curate wheels --export wrote)"]
    except (OSError, ValueError) as exc:
        return None, [], [f"{where}: does not read ({exc})"]
    builder = doc.get("builder") if isinstance(doc, dict) else None
    if not (
        isinstance(doc, dict)
        and doc.get("format") == _RECORDS_FORMAT
        and isinstance(builder, dict)
        and isinstance(builder.get("os"), str)
        and isinstance(builder.get("arch"), str)
        and isinstance(doc.get("versions"), list)
    ):
        return None, [], [f"{where}: not a records file of format {_RECORDS_FORMAT}"]
    plat = _artifact_platform(folder.name, config)
    if plat is None:
        names = ", ".join(f"curate-built-{p.name}" for p in config.platforms)
        return None, [], [f"{folder.name}: not the export of a configured platform (one of {names})"]
    if builder["os"] != plat.os or _arch(builder["arch"]) != _arch(plat.arch):
        return (
            None,
            [],
            [
                f"{where}: says it was built on {builder['os']} {builder['arch']}, but {folder.name} is the"
                f" export of {plat.name} ({plat.os} {plat.arch}): not merged"
            ],
        )
    runner = Runner(source=folder.name, platform=plat.name, os=plat.os, arch=_arch(plat.arch))
    entries: list[_Entry] = []
    problems: list[str] = []
    for i, item in enumerate(doc["versions"]):
        try:
            if not isinstance(item, dict):
                raise ValueError("not a mapping")
            name, version, sdist = item.get("project"), item.get("version"), item.get("sdist_sha256")
            if not (isinstance(name, str) and isinstance(version, str) and isinstance(sdist, str)):
                raise ValueError("project, version and sdist_sha256 must be strings")
            built = tuple(BuiltFile.from_dict(dict(b)) for b in item.get("built") or ())
            fails = tuple(BuildFailure.from_dict(dict(f)) for f in item.get("build_failures") or ())
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            what = f"{exc.args[0]!r} missing" if isinstance(exc, KeyError) else str(exc)
            problems.append(f"{where}: versions[{i}]: {what}")
            continue
        entries.append(
            _Entry(runner=runner, name=name, version=version, sdist_sha256=sdist, built=built, failures=fails)
        )
    return runner, entries, problems


def merge_built(
    *,
    root: Path,
    env: Mapping[str, str],
    dirs: Sequence[Path],
    cache_dir: Path | None = None,
    write: bool = True,
) -> Merged:
    """Merge the ``built:`` records (and the wheels) that runners exported with ``curate wheels --export``
    into this catalog; with ``write`` off, only say what merging would do (the review report).

    A runner's wheel is merged only when the catalog holds its version with the sdist it was built from,
    for the targets of the config its tags are accepted by and that runner could build for (its OS and
    architecture; any, for a pure-Python wheel), and when the folder holds its bytes with the recorded
    sha256: they go into the cache (by sha256) and are checked again as curate vet checks a file. Two
    different sha256 for the same version and target, or for the same file name (two runners, or a runner
    and the catalog) are a :class:`Conflict`: neither is merged, and no catalog record is ever replaced.
    A runner is the configured platform its folder's name says (``curate-built-<platform>``): folders
    named for none, or whose records say another OS or architecture, are refused, and a record's isolation
    is at most that OS's runner sandbox. Comparisons with the upstream wheel are never taken from a runner. The build failures of each version touched are those of the
    runner that could build the target (else the catalog's, else any runner's), and none for a target a
    wheel now serves. Everything is written in one step, under the catalog's write lock."""
    config = load_config(root)
    cache = cache_root(root, config, env, cache_dir)
    guard = writing(root, "curate wheels --merge") if write else contextlib.nullcontext()
    with guard:
        projects = load_catalog_fast(root)
        targets = {t.id: t for t in config.all_targets()}
        runners: list[Runner] = []
        entries: list[tuple[Path, _Entry]] = []
        problems: list[str] = []
        for folder in sorted(dirs, key=lambda d: d.name):
            runner, found, bad = _read_export(folder, config)
            problems += bad
            if runner is not None:
                runners.append(runner)
                entries += [(folder, e) for e in found]
        offered: list[Offered] = []
        # per version: the candidates (folder, runner source, BuiltFile with the targets kept)
        candidates: dict[tuple[NormalizedName, str], list[tuple[Path, Offered]]] = {}
        touched: dict[tuple[NormalizedName, str], list[_Entry]] = {}
        for folder, e in entries:
            key = (NormalizedName(_normalize(e.name)), e.version)
            project = projects.get(key[0])
            v = next((x for x in project.versions if x.version == e.version), None) if project else None
            sdist = sdist_of(v) if v is not None else None
            for b in e.built:
                offer = functools.partial(_offered, e, b)
                if b.compared_with or b.added or b.changed:
                    offered.append(
                        offer(
                            "refused",
                            "a comparison with the upstream wheel: made only by this catalog's curate wheels",
                        )
                    )
                    continue
                if (
                    v is None
                    or sdist is None
                    or sdist.sha256 != e.sdist_sha256
                    or b.sdist_sha256 != sdist.sha256
                ):
                    offered.append(offer("stale", "the catalog has no such version built from that sdist"))
                    continue
                if any(x.sha256 == b.sha256 and x.filename == b.filename for x in v.built):
                    offered.append(offer("known"))
                    continue
                kept = tuple(
                    t
                    for t in b.targets
                    if t in targets
                    and targets[t].accepts_wheel(b.filename)
                    and (_is_pure(b.filename) or e.runner.builds_for(targets[t]))
                )
                if not kept:
                    offered.append(
                        offer("foreign", f"its targets are not ones {e.runner.os} {e.runner.arch} builds")
                    )
                    continue
                path = folder / b.filename
                if not (path.is_file() and path.stat().st_size == b.size and sha256_of(path) == b.sha256):
                    offered.append(
                        offer("missing", "its bytes are not in the folder with the recorded sha256")
                    )
                    continue
                isolation = _runner_isolation(b.isolation, e.runner.os)
                candidates.setdefault(key, []).append(
                    (path, offer("new", file=dataclasses.replace(b, targets=kept, isolation=isolation)))
                )
            if v is not None and sdist is not None and sdist.sha256 == e.sdist_sha256:
                touched.setdefault(key, []).append(e)
        conflicts: list[Conflict] = []
        merged: dict[tuple[NormalizedName, str], list[tuple[Path, Offered]]] = {}
        for key, cands in sorted(candidates.items()):
            v = _version(projects[key[0]], key[1])
            current = sdist_of(v)
            have = [b for b in v.built if current is not None and b.sdist_sha256 == current.sha256]
            losing: set[int] = set()
            for t in sorted({t for _, o in cands for t in o.file.targets}):
                shas = {o.file.sha256 for _, o in cands if t in o.file.targets}
                shas |= {b.sha256 for b in have if t in b.targets and not b.compared_with}
                if len(shas) > 1:
                    wheels_ = [("catalog", b.filename, b.sha256) for b in have if t in b.targets]
                    wheels_ += [
                        (o.source, o.file.filename, o.file.sha256) for _, o in cands if t in o.file.targets
                    ]
                    conflicts.append(
                        Conflict(
                            name=projects[key[0]].name,
                            version=key[1],
                            target=t,
                            wheels=tuple(sorted(set(wheels_))),
                        )
                    )
                    losing |= {i for i, (_, o) in enumerate(cands) if t in o.file.targets}
            # one file name is one wheel: other bytes under it (the catalog's, any record, or another
            # runner's) are a conflict whatever the targets; never one record replacing the other
            listed = {
                w
                for c in conflicts
                if (c.name, c.version) == (projects[key[0]].name, key[1])
                for w in c.wheels
            }
            for filename in sorted({o.file.filename for _, o in cands}):
                sides = {("catalog", b.filename, b.sha256) for b in v.built if b.filename == filename}
                sides |= {
                    (o.source, filename, o.file.sha256) for _, o in cands if o.file.filename == filename
                }
                if len({sha for _, _, sha in sides}) < 2:
                    continue
                if not sides <= listed:
                    conflicts.append(
                        Conflict(
                            name=projects[key[0]].name,
                            version=key[1],
                            target="",
                            wheels=tuple(sorted(sides)),
                            filename=filename,
                        )
                    )
                losing |= {i for i, (_, o) in enumerate(cands) if o.file.filename == filename}
            for i, (path, o) in enumerate(cands):
                if i in losing:
                    offered.append(
                        dataclasses.replace(
                            o, status="conflict", why="other bytes for the same target or file name"
                        )
                    )
                else:
                    offered.append(o)
                    merged.setdefault(key, []).append((path, o))
        writes: dict[Path, bytes | None] = {}
        failures: list[Failed] = []
        updated: dict[NormalizedName, Project] = {}
        for key in sorted(set(touched) | set(merged)):
            project = updated.get(key[0], projects[key[0]])
            v = _version(project, key[1])
            sdist = sdist_of(v)
            if sdist is None:  # touched and merged hold only versions with the sdist they were built from
                continue
            by_file: dict[tuple[str, str], BuiltFile] = {}  # (file name, sha256): conflicts are not here
            for path, o in merged.get(key, []):
                prior = by_file.get((o.file.filename, o.file.sha256))
                if prior is not None:  # the same bytes from two runners: one record, their targets together
                    by_file[(o.file.filename, o.file.sha256)] = dataclasses.replace(
                        prior, targets=tuple(sorted(set(prior.targets) | set(o.file.targets)))
                    )
                    continue
                problems_ = o.file.problems
                if write:
                    _store(cache, path)
                    problems_ = _recheck(cache, config, o, v, env)
                by_file[(o.file.filename, o.file.sha256)] = dataclasses.replace(o.file, problems=problems_)
            # the catalog's records are kept as they are (a new file name never is one of theirs)
            built = [*v.built, *by_file.values()]
            served = {
                t for b in built if b.sdist_sha256 == sdist.sha256 and not b.compared_with for t in b.targets
            }
            fails = _merged_failures(v, sdist.sha256, touched.get(key, []), targets, served)
            failures += [
                Failed(name=project.name, version=v.version, targets=f.targets, reason=f.reason)
                for f in fails
            ]
            new_v = dataclasses.replace(
                v, built=tuple(sorted(built, key=lambda b: b.filename)), build_failures=tuple(fails)
            )
            if new_v != v:
                new = dataclasses.replace(
                    project, versions=tuple(new_v if x.version == v.version else x for x in project.versions)
                )
                updated[key[0]] = new
        for _, project in sorted(updated.items()):
            writes[project_path(root, project.name)] = project.dumps().encode("utf-8")
        changed: list[str] = []
        if write and writes:
            written = set(replace_catalog_files(root, writes))
            changed = [str(p.relative_to(root)) for p in sorted(written)]
    return Merged(
        runners=tuple(runners),
        offered=tuple(sorted(offered, key=lambda o: (o.name.lower(), o.version, o.file.filename, o.source))),
        conflicts=tuple(conflicts),
        failures=tuple(failures),
        problems=tuple(problems),
        changed=tuple(changed),
    )


def _offered(
    e: _Entry, b: BuiltFile, status: MergeStatus, why: str = "", file: BuiltFile | None = None
) -> Offered:
    return Offered(
        source=e.runner.source, name=e.name, version=e.version, file=file or b, status=status, why=why
    )


def _normalize(name: str) -> str:
    from curate.names import normalize

    return str(normalize(name))


def _recheck(
    cache: Path, config: Config, o: Offered, v: VersionEntry, env: Mapping[str, str]
) -> tuple[str, ...]:
    """The merged wheel checked here as curate wheels checks what it builds (never fewer problems than
    its runner reported): the runner's word is not taken for it."""
    with tempfile.TemporaryDirectory(prefix="curate-merge-", dir=env.get("CURATE_BUILD_DIR") or None) as tmp:
        found = check_built(cache, Path(tmp), config, o.name, v, o.file.filename, o.file.sha256, o.file.size)
    return tuple(dict.fromkeys([*o.file.problems, *found]))


def _merged_failures(
    v: VersionEntry,
    sdist_sha256: str,
    entries: Sequence[_Entry],
    targets: Mapping[str, Target],
    served: set[str],
) -> list[BuildFailure]:
    """Per target no wheel serves: the failure of the runner that could build it, else the catalog's,
    else the first runner's (one that needs another builder); grouped by reason."""
    chosen: dict[str, str] = {}
    every = {t for f in v.build_failures if f.sdist_sha256 == sdist_sha256 for t in f.targets}
    every |= {t for e in entries for f in e.failures for t in f.targets}
    for t in sorted(every - served):
        own = [
            f.reason
            for e in entries
            for f in e.failures
            if t in f.targets and t in targets and e.runner.builds_for(targets[t])
        ]
        had = [f.reason for f in v.build_failures if f.sdist_sha256 == sdist_sha256 and t in f.targets]
        other = [f.reason for e in entries for f in e.failures if t in f.targets]
        reason = (own or had or other or [""])[0]
        if reason:
            chosen[t] = reason
    by_reason: dict[str, list[str]] = {}
    for t, reason in sorted(chosen.items()):
        by_reason.setdefault(reason, []).append(t)
    return [
        BuildFailure(targets=tuple(ts), reason=reason, sdist_sha256=sdist_sha256)
        for reason, ts in sorted(by_reason.items(), key=lambda kv: kv[1])
    ]
