"""Build dependencies: what building an sdist the catalog serves needs, so that the catalog serves it too.

A version the catalog serves as an sdist for some targets (its ``build_targets``: no upstream wheel
there, ``files.allow_sdist: true``) is built by whoever installs it there, and the build backend comes
from the same index. ``curate lock`` therefore reads, per such sdist:

- ``[build-system]`` of its ``pyproject.toml`` (:func:`read_build_system`): ``requires`` (PEP 518's
  ``setuptools>=40.8.0`` when the file or the table is absent, with ``wheel``, which older pip installs
  too) and ``build-backend`` (setuptools' legacy backend when absent);
- what the backend asks for on top through ``get_requires_for_build_wheel`` (:func:`ask_backend`): pypa
  ``build``'s :class:`~build.ProjectBuilder` runs the hook in a fresh virtual environment holding the
  resolved static requirements, inside a sandbox (:func:`sandbox_prefix`: ``bwrap`` with no network, the
  file system read-only but for the unpacked sdist; ``unshare -n`` where bwrap is missing), with a time
  limit and none of the caller's environment (no proxies, no credentials). Where no sandbox works, the
  backend is not run: only the static requirements are used, and the record says so
  (``backend_asked: false``).

Both are recorded on the version (:class:`~curate.catalog.BuildSystem`), resolved with uv for the
targets that build it (wheels only: a build dependency is never built itself), and each version they
pin is a catalog version needed ``to_build`` that sdist by the requests that need it there
(:func:`needs_for`), fetched, vetted and served like any other; :func:`build_set` reads back what building
it on a target installs. The sandboxed hook runs on this machine's
Python and platform: what it asks for is taken for every target that builds the sdist.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import warnings
import zipfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement

from curate.archive import ArchiveError, scan_tar, tar_problems, zip_problems
from curate.catalog import FileEntry, Need, Project, VersionEntry
from curate.closure import VersionKey, canonical_version
from curate.errors import CurateError
from curate.names import NormalizedName

if TYPE_CHECKING:
    from curate.resolve import Pin
    from curate.targets import Target

# When pyproject.toml declares no build requirements: PEP 518's setuptools>=40.8.0, and wheel, which older
# pip also installs then (the 23.x that ensurepip brings with Python 3.11 and 3.12 fails without it)
DEFAULT_REQUIRES = ("setuptools>=40.8.0", "wheel")
DEFAULT_BACKEND = "setuptools.build_meta:__legacy__"  # PEP 517, when it names no build-backend
HOOK_TIMEOUT = 300  # seconds the backend may take to say what it needs
MAX_PYPROJECT = 1 << 20


class BuildDepsError(CurateError):
    """An sdist whose build requirements cannot be read or asked for (the message names it)."""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Declared:
    """``[build-system]`` as an sdist's pyproject.toml declares it (or PEP 517/518's defaults)."""

    requires: tuple[str, ...]
    backend: str
    backend_path: tuple[str, ...] = ()


def label(key: VersionKey) -> str:
    """How a need names the sdist it builds: ``name==version`` (normalized name, canonical version)."""
    return f"{key[0]}=={key[1]}"


def _top_dir(names: Sequence[str]) -> str:
    tops = {n.replace("\\", "/").removeprefix("./").split("/", 1)[0] for n in names if n.strip("./")}
    if len(tops) != 1:
        raise BuildDepsError(f"not one top-level folder but {len(tops)}")
    return tops.pop()


def parse_build_system(text: str) -> Declared:
    """``[build-system]`` of a pyproject.toml's text (PEP 518/517 defaults where it says nothing)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BuildDepsError(f"pyproject.toml is not valid TOML: {exc}") from None
    table = data.get("build-system")
    if table is None:
        return Declared(requires=DEFAULT_REQUIRES, backend=DEFAULT_BACKEND)
    if not isinstance(table, dict):
        raise BuildDepsError("pyproject.toml: [build-system] is not a table")
    requires = table.get("requires", list(DEFAULT_REQUIRES))
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise BuildDepsError("pyproject.toml: [build-system] requires is not a list of strings")
    backend = table.get("build-backend", DEFAULT_BACKEND)
    path = table.get("backend-path", [])
    if (
        not isinstance(backend, str)
        or not isinstance(path, list)
        or not all(isinstance(p, str) for p in path)
    ):
        raise BuildDepsError("pyproject.toml: [build-system] build-backend or backend-path is malformed")
    for r in requires:
        check_requirement(r)
    return Declared(requires=tuple(requires), backend=backend, backend_path=tuple(path))


def check_requirement(text: str) -> Requirement:
    """A build requirement the catalog can serve: PEP 508, by name (a URL is refused)."""
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise BuildDepsError(f"build requirement {text!r} is not valid PEP 508: {exc}") from None
    if req.url:
        raise BuildDepsError(
            f"build requirement {text!r} names a URL: a catalog serves packages by name only"
        )
    return req


def read_build_system(sdist: Path, filename: str = "") -> Declared:
    """The sdist's ``[build-system]``, from the ``pyproject.toml`` at the top of its one folder, read
    without unpacking it (bounded like vetting reads archives). ``filename``: its name (``sdist`` may be
    a cache blob, named by its sha256)."""
    name = filename or sdist.name
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as zf:
                names = zf.namelist()
                top = _top_dir(names)
                member = f"{top}/pyproject.toml"
                if member not in names:
                    return parse_build_system("")
                info = zf.getinfo(member)
                if info.file_size > MAX_PYPROJECT:
                    raise BuildDepsError("pyproject.toml is too large")
                return parse_build_system(zf.read(info).decode("utf-8", "replace"))
        scan = scan_tar(
            sdist,
            keep=lambda m: m.name.removeprefix("./").count("/") == 1 and m.name.endswith("/pyproject.toml"),
            limit=MAX_PYPROJECT,
        )
        top = _top_dir([m.name for m in scan.members])
        for name, data in scan.kept.items():
            if name.removeprefix("./") == f"{top}/pyproject.toml":
                return parse_build_system(data.decode("utf-8", "replace"))
        return parse_build_system("")
    except (ArchiveError, tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BuildDepsError(f"cannot read {name}: {exc}") from None


def unpack_sdist(sdist: Path, dest: Path, filename: str = "") -> Path:
    """Unpack an sdist into ``dest`` after checking nothing in it lands outside (links, devices, paths);
    return its one top-level folder. ``filename``: its name (``sdist`` may be a cache blob)."""
    name = filename or sdist.name
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as zf:
                problems = zip_problems(zf, sdist.stat().st_size)
                if problems:
                    raise BuildDepsError(f"{name} is not safe to unpack: {'; '.join(problems[:3])}")
                top = _top_dir(zf.namelist())
                zf.extractall(dest)
        else:
            scan = scan_tar(sdist, keep=lambda m: False)
            problems = tar_problems(scan.members)
            if problems:
                raise BuildDepsError(f"{name} is not safe to unpack: {'; '.join(problems[:3])}")
            top = _top_dir([m.name for m in scan.members])
            with tarfile.open(sdist) as tf:
                tf.extractall(dest, filter="data")
    except (ArchiveError, tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BuildDepsError(f"cannot unpack {name}: {exc}") from None
    source = dest / top
    if not source.is_dir():
        raise BuildDepsError(f"{name} holds no folder {top}/")
    return source


# -- running the backend in a sandbox --------------------------------------------------------------------


def own_install_under_tmp() -> list[str]:
    """bwrap arguments that show curate's own installation again inside a sandbox's fresh ``/tmp``: a
    virtual environment (or Python) under /tmp (a clone checked out there, a CI workspace) would be
    hidden by it, and with it the programs the sandbox runs (uv, pyproject_hooks' in-process script)."""
    tmp = Path("/tmp").resolve()
    out: list[str] = []
    for prefix in sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}):
        if prefix.is_relative_to(tmp) and prefix != tmp:
            out += ["--ro-bind", str(prefix), str(prefix)]
    return out


def _bwrap(binds: Sequence[Path], readonly: Sequence[Path] = ()) -> list[str]:
    cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    cmd += own_install_under_tmp()
    for path in readonly:
        cmd += ["--ro-bind", str(path), str(path)]
    for path in binds:
        cmd += ["--bind", str(path), str(path)]
    return [*cmd, "--unshare-net", "--unshare-ipc", "--die-with-parent", "--new-session", "--"]


def unshare_net() -> list[str]:
    """``unshare`` with a network namespace of its own: as root directly, else in a user namespace too.
    (Windows has no ``geteuid`` and no ``unshare``: the prefix is then never found, never a crash.)"""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return ["unshare", "-n"] if root else ["unshare", "-r", "-n"]


@functools.cache
def _works(kind: str) -> bool:
    probe = _bwrap([]) if kind == "bwrap" else unshare_net()
    if shutil.which(probe[0]) is None:
        return False
    try:
        proc = subprocess.run([*probe, "true"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def sandbox_prefix(binds: Sequence[Path], readonly: Sequence[Path] = ()) -> tuple[str, list[str]] | None:
    """The command prefix that runs a program with no network (and, with bwrap, a read-only file system
    but for ``binds``, and an empty /tmp but for ``readonly``); its name; None when neither works here."""
    if _works("bwrap"):
        return "bwrap", _bwrap(binds, readonly)
    if _works("unshare"):
        return "unshare", unshare_net()
    return None


def _hook_env(source: Path) -> dict[str, str]:
    """The environment the backend runs in: none of the caller's (no proxies, tokens or index logins)."""
    return {
        "PATH": os.defpath,
        "HOME": str(source),
        "LANG": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PIP_NO_INDEX": "1",
        "SOURCE_DATE_EPOCH": "315532800",
    }


def ask_backend(
    source: Path, python: str, *, environment: Path, timeout: float = HOOK_TIMEOUT
) -> tuple[str, ...] | None:
    """What the backend of the unpacked sdist at ``source`` asks for through
    ``get_requires_for_build_wheel``, run by ``python`` (of the virtual environment ``environment``,
    holding the static build requirements, read-only to it) in a sandbox with no network; None when no sandbox works on this machine (the backend
    is then not run). Raises :class:`BuildDepsError` with the last lines of its output when it fails."""
    from build import BuildBackendException, BuildException, ProjectBuilder

    def runner(
        cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None
    ) -> None:
        control = Path(cmd[-1])  # pyproject_hooks' folder holding the hook's input and output
        found = sandbox_prefix([source, control], readonly=[environment])
        assert found is not None
        env = {**_hook_env(source), **(extra_environ or {})}
        try:
            proc = subprocess.run(
                [*found[1], *cmd],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BuildDepsError(f"the build backend ran past its time limit ({timeout:.0f} s)") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise BuildDepsError(f"the build backend failed (exit code {proc.returncode}):\n{tail}")

    if sandbox_prefix([]) is None:
        return None
    try:
        builder = ProjectBuilder(source, python_executable=python, runner=runner)
        with warnings.catch_warnings():  # the backend's warnings are its text: never printed as curate's
            warnings.simplefilter("ignore")
            asked = builder.get_requires_for_build("wheel")
    except BuildBackendException as exc:
        cause = exc.exception
        if isinstance(cause, BuildDepsError):
            raise cause from None
        raise BuildDepsError(f"the build backend failed: {exc}") from None
    except BuildException as exc:
        raise BuildDepsError(str(exc)) from None
    for r in asked:
        check_requirement(r)
    return tuple(sorted(asked))


def host_pins(pins: Sequence[Pin]) -> list[str]:
    """The pins that apply on this machine (where the backend is asked), as ``name==version``."""
    from packaging.markers import Marker

    return sorted(f"{p.name}=={p.version}" for p in pins if not p.marker or Marker(p.marker).evaluate())


def python_executable() -> str:
    return sys.executable


# -- from a build resolution to needs -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    """One sdist the catalog serves, and who builds it where."""

    key: VersionKey
    name: str  # as displayed
    version: str
    sha256: str  # the sdist's
    filename: str
    size: int
    targets: tuple[str, ...]  # its build targets
    by_request: Mapping[str, tuple[str, ...]]  # request id -> its build targets among them

    @property
    def label(self) -> str:
        return label(self.key)


def jobs_from(
    projects: Mapping[NormalizedName, Sequence[VersionEntry]], names: Mapping[NormalizedName, str]
) -> list[Job]:
    """Every version served as an sdist somewhere (its build targets), with the requests building it."""
    jobs = []
    for name, versions in sorted(projects.items()):
        for v in versions:
            if not v.build_targets:
                continue
            sdist = next(
                (f for f in v.files if not f.is_wheel and set(f.targets) & set(v.build_targets)), None
            )
            if sdist is None:
                continue
            build = set(v.build_targets)
            by_request: dict[str, set[str]] = defaultdict(set)
            for need in v.needed_by:
                if not need.to_build:
                    by_request[need.request].update(set(need.targets) & build)
            jobs.append(
                Job(
                    key=(name, canonical_version(v.version)),
                    name=names.get(name, name),
                    version=v.version,
                    sha256=sdist.sha256,
                    filename=sdist.filename,
                    size=sdist.size,
                    targets=tuple(sorted(build)),
                    by_request={r: tuple(sorted(ts)) for r, ts in sorted(by_request.items()) if ts},
                )
            )
    return jobs


def needs_for(job: Job, pins: Sequence[Pin], targets: Sequence[Target]) -> dict[str, dict[VersionKey, Need]]:
    """Per request: the versions building ``job``'s sdist needs on its targets (uv's pins, evaluated per
    target), each a :class:`~curate.catalog.Need` ``to_build`` it."""
    on: dict[VersionKey, set[str]] = defaultdict(set)
    via: dict[VersionKey, set[str]] = defaultdict(set)
    for target in targets:
        if target.id not in job.targets:
            continue
        here = [p for p in pins if p.applies(target)]
        present = {p.name for p in here}
        for p in here:
            key = (p.name, canonical_version(p.version))
            on[key].add(target.id)
            via[key].update(v for v in p.via if v in present and v != p.name)
    return _attribute(job, {k: (tuple(sorted(ts)), tuple(sorted(via[k]))) for k, ts in on.items()})


def needs_recorded(job: Job, old: Mapping[VersionKey, Sequence[Need]]) -> dict[str, dict[VersionKey, Need]]:
    """Per request: the build needs of ``job``, from what the catalog recorded for its sdist (every
    request's needs ``to_build`` it, merged), given again to the requests that build it now."""
    merged: dict[VersionKey, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for key, needs in old.items():
        mine = [n for n in needs if n.to_build == job.label]
        if mine:
            merged[key] = (
                tuple(sorted({t for n in mine for t in n.targets})),
                tuple(sorted({v for n in mine for v in n.via})),
            )
    return _attribute(job, merged)


def _attribute(
    job: Job, pinned: Mapping[VersionKey, tuple[tuple[str, ...], tuple[str, ...]]]
) -> dict[str, dict[VersionKey, Need]]:
    out: dict[str, dict[VersionKey, Need]] = {}
    for rid, builds in job.by_request.items():
        mine: dict[VersionKey, Need] = {}
        for key, (targets, via) in sorted(pinned.items()):
            here = tuple(sorted(set(targets) & set(builds)))
            if here:
                mine[key] = Need(request=rid, targets=here, direct=False, via=via, to_build=job.label)
        if mine:
            out[rid] = mine
    return out


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class BuildPin:
    """One version in the environment that builds an sdist on a target, with its wheel for that target."""

    name: NormalizedName
    version: str
    wheel: FileEntry


def build_set(projects: Mapping[NormalizedName, Project], sdist: VersionKey, target: str) -> list[BuildPin]:
    """What building the sdist of ``sdist`` on ``target`` installs, as the catalog locked it: every
    version with a need ``to_build`` it on that target, and its wheel for the target (the build stage's
    only package source). Empty when nothing is needed there (or the sdist is not built there)."""
    wanted = label(sdist)
    out = []
    for name, project in sorted(projects.items()):
        for v in project.versions:
            if any(n.to_build == wanted and target in n.targets for n in v.needed_by):
                wheel = next((f for f in v.files if f.is_wheel and target in f.targets), None)
                if wheel is not None:
                    out.append(BuildPin(name=name, version=v.version, wheel=wheel))
    return out
