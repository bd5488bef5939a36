"""The install-and-import test (``curate smoke``): does a request's locked set install and import?

For each request and each of its targets this machine can run (same OS and architecture, its
platform tags accepted here, and the target's Python found without downloading one), :func:`smoke`

1. writes the request's locked set for that target from ``catalog/`` (:func:`locked_set`: every
   version the request needs there, ``name==version`` with the ``--hash`` of each file the target
   installs), and the set's hash (:func:`set_hash`);
2. creates a fresh virtual environment of that Python (``uv venv``);
3. installs the set from the *built* index only: ``public/`` served on 127.0.0.1 by curate's own
   server (or ``index_url``, an index already serving it), ``uv pip install --require-hashes``, with
   no configuration file, no other index, no proxy and an empty cache of its own, so every byte comes
   from the index and matches the catalog's sha256;
4. imports the top-level modules of each package the request asks for by name (the installed wheel's
   ``top_level.txt``, else the first part of each path of its ``RECORD``), in a fresh process per
   package (``python -I``, an empty working directory, a time limit), keeping the last line of each
   module's error (a crash or a timeout is that package's error).

Targets it cannot run are reported as ``not-run`` with the reason, never as passes. The results of
the targets it ran replace those recorded in ``catalog/smoke/<request>.yaml`` (the other targets keep
what another machine recorded: CI runs each OS on its own runner), with the hash of the installed set,
so a result made for another set (the request was locked again since) shows as stale
(:func:`recorded`). Policy (``smoke.failing_import`` in the config): ``block`` (default) makes a
failed target blocking (``curate smoke`` exits 1, the review report says so); ``warn`` reports it.

Every piece of text here (package names, uv's and Python's errors) is data for the caller to escape.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from curate.catalog import Project, load_catalog, replace_catalog_files, writing
from curate.config import Config
from curate.errors import CurateError, Problem, ValidationError, display_path
from curate.names import NormalizedName
from curate.requests import Request, request_files
from curate.targets import Target
from curate.yamlio import CATALOG_LIMIT, dumps, load

SMOKE_DIR = Path("catalog") / "smoke"  # catalog/smoke/<request>.yaml
HEADER = "# Written by `curate smoke` (install-and-import test per target); do not edit by hand.\n"
Status = Literal["pass", "fail", "not-run"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "not-run")
IMPORT_TIMEOUT = 300.0  # seconds one module may take to import
INSTALL_TIMEOUT = 1800.0  # seconds one install may take
ERROR_CHARS = 2000  # of an error kept in a record


class SmokeError(CurateError):
    """The test could not be run at all (no built index, a bad request name)."""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class SetEntry:
    """One package of a request's locked set on one target."""

    name: str  # as the catalog spells it
    normalized: NormalizedName
    version: str
    direct: bool  # the request asks for it by name
    sha256: tuple[str, ...]  # of each file the target installs, sorted

    def requirement(self) -> str:
        hashes = " ".join(f"--hash=sha256:{h}" for h in self.sha256)
        return f"{self.normalized}=={self.version} {hashes}".rstrip()


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Failure:
    package: str  # normalized name; "" for the install as a whole
    stage: Literal["install", "import"]
    module: str = ""  # the module that failed to import
    error: str = ""  # the last line of the error (uv's: its last lines)

    def to_dict(self) -> dict[str, Any]:
        return {"package": self.package, "stage": self.stage, "module": self.module, "error": self.error}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Failure:
        stage = str(d.get("stage") or "import")
        return cls(
            package=str(d.get("package") or ""),
            stage="install" if stage == "install" else "import",
            module=str(d.get("module") or ""),
            error=str(d.get("error") or ""),
        )

    def describe(self) -> str:
        if self.stage == "install":
            return f"install failed: {self.error}"
        return f"{self.package}: import {self.module} failed: {self.error}"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class TargetResult:
    """The test of one request on one target."""

    request: str
    target: str
    status: Status
    reason: str = ""  # not-run: why
    installed_set: str = ""  # sha256 of the locked set (set_hash); "" when not run
    packages: int = 0  # how many packages the set holds
    modules: tuple[str, ...] = ()  # the modules imported (or tried)
    python: str = ""  # the interpreter's full version
    installer: str = ""  # e.g. "uv 0.9.5"
    failures: tuple[Failure, ...] = ()
    seconds: float = 0.0  # not recorded: it would make the catalog differ on every run

    @property
    def ran(self) -> bool:
        return self.status != "not-run"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        if self.ran:
            out.update(
                installed_set=self.installed_set,
                packages=self.packages,
                modules=list(self.modules),
                python=self.python,
                installer=self.installer,
                failures=[f.to_dict() for f in self.failures],
            )
        return out

    @classmethod
    def from_dict(cls, request: str, d: Mapping[str, Any]) -> TargetResult:
        status = str(d.get("status") or "")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status[:40]!r}")
        return cls(
            request=request,
            target=str(d["target"]),
            status="pass" if status == "pass" else "fail" if status == "fail" else "not-run",
            reason=str(d.get("reason") or ""),
            installed_set=str(d.get("installed_set") or ""),
            packages=int(d.get("packages") or 0),
            modules=tuple(str(m) for m in d.get("modules") or ()),
            python=str(d.get("python") or ""),
            installer=str(d.get("installer") or ""),
            failures=tuple(Failure.from_dict(f) for f in d.get("failures") or ()),
        )

    def summary(self) -> str:
        """One line: pass / FAIL with the first failure / not run here with why."""
        if self.status == "pass":
            return f"pass ({self.packages} packages, {len(self.modules)} modules imported)"
        if self.status == "fail":
            first = self.failures[0].describe() if self.failures else "failed"
            more = f" (+{len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            return f"FAIL: {first}{more}"
        return f"not run here: {self.reason}"


# -- the locked set --------------------------------------------------------------------------------


def locked_set(projects: Mapping[NormalizedName, Project], request: str, target: str) -> list[SetEntry]:
    """What ``request`` installs on ``target``, from the catalog's ``needed_by`` (not the versions it
    needs only to build an sdist: ``to_build``), sorted by name: each version with the sha256 of every
    file that serves the target (upstream files, and the wheels ``curate wheels`` built from its sdist)."""
    return locked_sets(projects).get((request, target), [])


def locked_sets(projects: Mapping[NormalizedName, Project]) -> dict[tuple[str, str], list[SetEntry]]:
    """Every request x target's locked set (:func:`locked_set`) in one pass over the catalog."""
    out: dict[tuple[str, str], list[SetEntry]] = {}
    for norm, project in sorted(projects.items()):
        for version in project.versions:
            direct: dict[tuple[str, str], bool] = {}
            for need in version.needed_by:
                if need.to_build:  # needed to build an sdist, not installed by the request
                    continue
                for target in need.targets:
                    key = (need.request, target)
                    direct[key] = direct.get(key, False) or need.direct
            for (request, target), is_direct in sorted(direct.items()):
                files = sorted(
                    {f.sha256 for f in version.files if target in f.targets}
                    | {b.sha256 for b in version.built if target in b.targets}  # built by curate wheels
                )
                out.setdefault((request, target), []).append(
                    SetEntry(
                        name=project.name,
                        normalized=norm,
                        version=version.version,
                        direct=is_direct,
                        sha256=tuple(files),
                    )
                )
    return out


def set_hash(entries: Iterable[SetEntry]) -> str:
    """The sha256 of a locked set: each package's name, version and file hashes (order-free)."""
    lines = sorted(f"{e.normalized}=={e.version} {' '.join(e.sha256)}" for e in entries)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def requirements_text(entries: Sequence[SetEntry]) -> str:
    return "".join(e.requirement() + "\n" for e in entries)


# -- this machine ------------------------------------------------------------------------------------

_ARCH = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "i686": "x86", "i386": "x86"}
_SYSTEM = {"Linux": "linux", "Windows": "windows", "Darwin": "macos"}


def normalised_arch(name: str) -> str:
    """``AMD64``/``amd64`` -> ``x86_64``, ``arm64`` -> ``aarch64``: one name per architecture."""
    lower = name.lower()
    return _ARCH.get(lower, lower)


_arch = normalised_arch


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Host:
    """What this machine runs: OS, architecture and the wheel platform tags its installers accept."""

    os: str  # linux / windows / macos / another platform.system() lowered
    arch: str  # normalised: x86_64, aarch64, ...
    platform_tags: frozenset[str]

    @classmethod
    def this(cls) -> Host:
        from packaging import tags

        system = platform.system()
        return cls(
            os=_SYSTEM.get(system, system.lower()),
            arch=_arch(platform.machine()),
            platform_tags=frozenset(tags.platform_tags()),
        )

    def cannot_run(self, target: Target) -> str:
        """Why this machine cannot run ``target`` ("" when it can, Python aside)."""
        if target.os != self.os or _arch(target.platform.arch) != self.arch:
            return (
                f"this machine is {self.os} {self.arch}; the target needs {target.os} {target.platform.arch}"
            )
        accepted = set(target.platform.accepted_platform_tags)
        if not accepted & self.platform_tags:
            return (
                f"this machine's platform tags accept none of the target's "
                f"({', '.join(target.platform.platform_tags)})"
            )
        return ""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Interpreter:
    path: str
    version: str  # full: 3.12.1


PythonFinder = Callable[[str], "Interpreter | str"]  # an interpreter, or why none was found


def _probe(path: str, version: str) -> Interpreter | None:
    try:
        proc = subprocess.run(
            [path, "-I", "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    full = proc.stdout.strip()
    if proc.returncode != 0 or not (full == version or full.startswith(version + ".")):
        return None
    return Interpreter(path=path, version=full)


def _version_dir(path: Path) -> tuple[int, ...]:
    """``~/.pyenv/versions/3.12.1/bin/python3.12`` -> (3, 12, 1); a name that is no version sorts first."""
    name = next((p for p in path.parts if re.fullmatch(r"\d+\.\d+\.\d+", p)), "")
    return tuple(int(x) for x in name.split(".")) if name else ()


def python_finder(uv: str, env: Mapping[str, str]) -> PythonFinder:
    """Find a CPython ``X.Y`` without downloading one: uv's discovery (``UV_PYTHON_DOWNLOADS=never``:
    PATH, virtual environments, uv-managed installs, the Windows registry), then pyenv's versions
    (``$PYENV_ROOT``, else ``~/.pyenv``), whose shims uv cannot run."""
    uv_env = {**env, "UV_PYTHON_DOWNLOADS": "never"}

    def find(version: str) -> Interpreter | str:
        why = ""
        try:
            proc = subprocess.run(
                [uv, "python", "find", "--no-project", "--python-preference", "only-system", version],
                capture_output=True,
                text=True,
                env=uv_env,
                timeout=60,
                check=False,
            )
            if proc.returncode == 0 and (found := _probe(proc.stdout.strip(), version)):
                return found
            why = (proc.stderr.strip().splitlines() or ["not found"])[0]
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = str(exc)
        pyenv = Path(env.get("PYENV_ROOT") or Path(env.get("HOME") or Path.home()) / ".pyenv") / "versions"
        exe = "python.exe" if os.name == "nt" else f"bin/python{version}"
        candidates = sorted(pyenv.glob(f"{version}.*/{exe}"), key=_version_dir, reverse=True)
        for path in candidates:
            if found := _probe(str(path), version):
                return found
        return f"Python {version} is not installed here (uv: {why}; none in {pyenv})"

    return find


# -- one target --------------------------------------------------------------------------------------

# Run in the fresh environment: import each module named, in order, in this one process (one per
# package); print one JSON line per module as it finishes: "" or the error's last line.
_IMPORT = r"""
import importlib, json, sys, traceback
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        error = ""
    except BaseException as exc:
        lines = traceback.format_exception_only(type(exc), exc)
        error = (lines[-1] if lines else type(exc).__name__).strip()
    print(json.dumps([name, error]), flush=True)
"""
# Run in the fresh environment: the top-level modules of each named distribution, as JSON.
_MODULES = r"""
import importlib.metadata as md, json, sys
out = {}
for name in sys.argv[1:]:
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        out[name] = None
        continue
    mods = set()
    top = dist.read_text("top_level.txt")
    for line in (top or "").splitlines():
        line = line.strip().replace("\\", "/")
        if line and "/" not in line and line.isidentifier():
            mods.add(line)
    if not mods:
        for f in dist.files or ():
            parts = f.parts
            if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info", ".data")):
                continue
            first = parts[0]
            if len(parts) == 1:
                if first.endswith(".py"):
                    first = first[:-3]
                elif first.endswith((".so", ".pyd")):
                    first = first.split(".")[0]
                else:
                    continue
            if first.isidentifier():
                mods.add(first)
    out[name] = sorted(mods)
print(json.dumps(out))
"""


def _clip(text: str, limit: int = ERROR_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return _clip(lines[-1]) if lines else ""


def venv_python(venv: Path) -> Path:
    return venv / "Scripts" / "python.exe" if os.name == "nt" else venv / "bin" / "python"


def clean_env(env: Mapping[str, str], home: Path, cache: Path) -> dict[str, str]:
    """The environment uv and the imports run in: no index, proxy, config or path of the caller's."""
    keep = ("PATH", "SYSTEMROOT", "SYSTEMDRIVE", "COMSPEC", "PATHEXT", "WINDIR", "LANG", "LC_ALL", "TZ")
    out = {k: env[k] for k in keep if k in env}
    out.update(
        HOME=str(home),
        USERPROFILE=str(home),
        TMPDIR=str(home),
        TEMP=str(home),
        TMP=str(home),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(cache),
        UV_NO_PROGRESS="1",
        PYTHONDONTWRITEBYTECODE="1",
        NO_PROXY="*",
    )
    return out


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    request: str
    target: Target
    entries: tuple[SetEntry, ...]


def run_target(
    job: Job,
    *,
    uv: str,
    installer: str,
    interpreter: Interpreter,
    index_url: str,
    workdir: Path,
    env: Mapping[str, str],
    log: Callable[[str], None],
) -> TargetResult:
    """Create a fresh venv, install ``job``'s set from ``index_url`` (hashes required), import."""
    start = time.perf_counter()
    entries = job.entries
    base = TargetResult(
        request=job.request,
        target=job.target.id,
        status="fail",
        installed_set=set_hash(entries),
        packages=len(entries),
        python=interpreter.version,
        installer=installer,
    )
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    run_env = clean_env(env, home, workdir.parent / "uv-cache")
    venv = workdir / "venv"
    reqs = workdir / "requirements.txt"
    reqs.write_text(requirements_text(entries), "utf-8")

    def done(**changes: Any) -> TargetResult:
        return dataclasses.replace(base, seconds=time.perf_counter() - start, **changes)

    created = subprocess.run(
        [uv, "venv", "--quiet", "--no-project", "--python", interpreter.path, str(venv)],
        capture_output=True,
        text=True,
        env=run_env,
        timeout=300,
        check=False,
    )
    if created.returncode != 0:
        error = _clip(created.stderr or created.stdout or f"exit {created.returncode}")
        return done(failures=(Failure(package="", stage="install", error=f"uv venv: {error}"),))
    python = venv_python(venv)
    log(f"installing {len(entries)} package(s) from {index_url}")
    try:
        installed = subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--python",
                str(python),
                "--require-hashes",
                "--index-url",
                index_url,
                "--index-strategy",
                "first-index",
                "--link-mode",
                "hardlink",  # from the run's own cache, on the same filesystem
                "--no-config",
                "-r",
                str(reqs),
            ],
            capture_output=True,
            text=True,
            env=run_env,
            timeout=INSTALL_TIMEOUT,
            check=False,
            cwd=home,
        )
    except subprocess.TimeoutExpired:
        return done(
            failures=(Failure(package="", stage="install", error=f"timed out after {INSTALL_TIMEOUT:.0f}s"),)
        )
    if installed.returncode != 0:
        lines = [line for line in (installed.stderr or installed.stdout).splitlines() if line.strip()]
        error = _clip("\n".join(lines[-12:])) or f"exit {installed.returncode}"
        return done(failures=(Failure(package="", stage="install", error=error),))
    direct = [e.normalized for e in entries if e.direct]
    found = subprocess.run(
        [str(python), "-I", "-c", _MODULES, *direct],
        capture_output=True,
        text=True,
        env=run_env,
        timeout=120,
        check=False,
        cwd=home,
    )
    try:
        modules: dict[str, list[str] | None] = json.loads(found.stdout)
    except json.JSONDecodeError:
        error = _last_line(found.stderr) or f"exit {found.returncode}"
        return done(
            failures=(Failure(package="", stage="import", error=f"reading what was installed: {error}"),)
        )
    failures: list[Failure] = []
    tried: list[str] = []
    for name in direct:
        mods = modules.get(name)
        if mods is None:
            failures.append(Failure(package=name, stage="import", error="not installed"))
            continue
        if not mods:
            failures.append(
                Failure(package=name, stage="import", error="installs no importable top-level module")
            )
            continue
        log(f"import {', '.join(mods)} ({name})")
        tried.extend(mods)
        for module, error in import_errors(python, mods, env=run_env, cwd=home).items():
            if error:
                failures.append(Failure(package=name, stage="import", module=module, error=error))
    return done(status="fail" if failures else "pass", modules=tuple(tried), failures=tuple(failures))


def import_errors(
    python: Path, modules: Sequence[str], *, env: Mapping[str, str], cwd: Path
) -> dict[str, str]:
    """Import ``modules`` (one package's) in a fresh ``python -I``, in order: each module's error's
    last line ("" when it imports). A module the process never reached (it crashed, or ran past the
    time limit) gets how it ended."""
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _IMPORT, *modules],
            capture_output=True,
            text=True,
            env=dict(env),
            timeout=IMPORT_TIMEOUT,
            check=False,
            cwd=cwd,
        )
        stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or b""
        stdout = out.decode("utf-8", "replace") if isinstance(out, bytes) else out
        stderr, code = "", None
    errors: dict[str, str] = {}
    for line in stdout.splitlines():
        try:
            name, error = json.loads(line)
        except (json.JSONDecodeError, ValueError, TypeError):
            continue  # the package printed something at import
        if name in modules and isinstance(error, str):
            errors[name] = _clip(error)
    if code is None:
        ended = f"timed out after {IMPORT_TIMEOUT:.0f}s"
    elif code < 0:
        last = _last_line(stderr)
        ended = f"killed by signal {-code}" + (f" ({last})" if last else "")
    else:
        ended = _last_line(stderr) or f"exit {code}"
    return {m: errors.get(m, ended) for m in modules}


# -- the stage ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class SmokeOutcome:
    results: tuple[TargetResult, ...]
    policy: str  # block / warn
    written: tuple[Path, ...] = ()  # catalog files that changed

    @property
    def failed(self) -> tuple[TargetResult, ...]:
        return tuple(r for r in self.results if r.status == "fail")

    @property
    def blocking(self) -> bool:
        return self.policy == "block" and bool(self.failed)


def request_targets(request: Request, config: Config) -> list[Target]:
    """The targets some package of the request is resolved for, in the config's order."""
    wanted = {t.id for spec in request.packages for t in request.package_targets(spec, config)}
    return [t for t in config.all_targets() if t.id in wanted]


def plan_jobs(
    requests: Sequence[Request],
    config: Config,
    projects: Mapping[NormalizedName, Project],
    *,
    targets: Sequence[str] = (),
) -> Iterator[tuple[Request, Target, tuple[SetEntry, ...]]]:
    sets = locked_sets(projects)
    for request in requests:
        for target in request_targets(request, config):
            if targets and target.id not in targets and target.platform.name not in targets:
                continue
            yield request, target, tuple(sets.get((request.id, target.id), ()))


def uv_version(uv: str) -> str:
    proc = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
    words = proc.stdout.split()
    return " ".join(words[:2]) if proc.returncode == 0 and words else "uv"


def smoke(
    root: Path,
    *,
    config: Config,
    requests: Sequence[Request],
    env: Mapping[str, str],
    public: Path | None = None,
    index_url: str = "",
    targets: Sequence[str] = (),
    record: bool = True,
    host: Host | None = None,
    find_python: PythonFinder | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> SmokeOutcome:
    """Test ``requests`` on every target this machine runs; record the results under ``catalog/smoke/``.

    ``public``: the built tree to serve on 127.0.0.1 (default ``root/public``); ``index_url``: an index
    already serving it instead. ``targets``: only these target ids or platform names. ``record``:
    write ``catalog/smoke/`` (False: only return the results)."""
    from curate.resolve import find_uv

    projects = load_catalog(root)
    uv = find_uv(env)
    host = host or Host.this()
    finder = find_python or python_finder(uv, env)
    jobs = list(plan_jobs(requests, config, projects, targets=targets))
    if targets:
        known = {t.id for t in config.all_targets()} | {p.name for p in config.platforms}
        unknown = [t for t in targets if t not in known]
        if unknown:
            raise SmokeError(f"--target {unknown[0]}: no such target (targets: {', '.join(sorted(known))})")
    pythons: dict[str, Interpreter | str] = {}
    runnable: list[tuple[Job, Interpreter]] = []
    results: list[TargetResult] = []
    for request, target, entries in jobs:
        why = host.cannot_run(target)
        if not why:
            if target.python not in pythons:
                pythons[target.python] = finder(target.python)
            found = pythons[target.python]
            if isinstance(found, str):
                why = found
            else:
                runnable.append((Job(request=request.id, target=target, entries=entries), found))
                continue
        results.append(TargetResult(request=request.id, target=target.id, status="not-run", reason=why))
    if runnable:
        results.extend(
            _run_all(
                runnable, uv=uv, root=root, public=public, index_url=index_url, env=env, progress=progress
            )
        )
    order = {(r.id, t.id): i for i, (r, t, _) in enumerate(jobs)}
    results.sort(key=lambda r: order[(r.request, r.target)])
    written: tuple[Path, ...] = ()
    if record and any(r.ran for r in results):
        written = tuple(write_results(root, results, requests, config))
    return SmokeOutcome(results=tuple(results), policy=config.smoke_failing_import, written=written)


def _clean_cache(uv: str, cache: Path, env: Mapping[str, str]) -> None:
    """Empty the run's uv cache with uv itself: it makes its entries read-only, which makes a plain
    recursive delete retry file by file (tens of seconds for a scientific stack)."""
    if cache.is_dir():
        subprocess.run(
            [uv, "cache", "clean", "--quiet", "--cache-dir", str(cache)],
            capture_output=True,
            env={**env, "UV_PYTHON_DOWNLOADS": "never"},
            timeout=600,
            check=False,
        )


def _prefixed(progress: Callable[[str], None], where: str) -> Callable[[str], None]:
    def log(line: str) -> None:
        progress(f"{where}: {line}")

    return log


def _run_all(
    runnable: Sequence[tuple[Job, Interpreter]],
    *,
    uv: str,
    root: Path,
    public: Path | None,
    index_url: str,
    env: Mapping[str, str],
    progress: Callable[[str], None],
) -> list[TargetResult]:
    from curate import serve

    stop: Callable[[], None] | None = None
    if not index_url:
        tree = public if public is not None else root / "public"
        if not (tree / "simple").is_dir():
            raise SmokeError(
                f"{display_path(tree, root)} has no simple/ index: build it first with `curate build` "
                "(the test installs from the built index only)"
            )
        server = serve.make_server(tree, port=0, quiet=True)
        stop = serve.serve_in_thread(server)
        index_url = serve.url_of(server) + "/simple/"
    installer = uv_version(uv)
    out: list[TargetResult] = []
    try:
        with tempfile.TemporaryDirectory(prefix="curate-smoke-") as tmp:
            for n, (job, interpreter) in enumerate(runnable, 1):
                where = f"[{n}/{len(runnable)}] {job.request} {job.target.id}"
                progress(f"{where}: Python {interpreter.version}, {len(job.entries)} package(s)")
                workdir = Path(tmp) / f"t{n}"
                workdir.mkdir()
                result = run_target(
                    job,
                    uv=uv,
                    installer=installer,
                    interpreter=interpreter,
                    index_url=index_url,
                    workdir=workdir,
                    env=env,
                    log=_prefixed(progress, where),
                )
                shutil.rmtree(workdir, ignore_errors=True)
                progress(f"{where}: {result.summary()} ({result.seconds:.1f}s)")
                out.append(result)
            _clean_cache(uv, Path(tmp) / "uv-cache", env)
    finally:
        if stop is not None:
            stop()
    return out


# -- the record in catalog/smoke/ -----------------------------------------------------------------


def results_path(root: Path, request: str) -> Path:
    return root / SMOKE_DIR / f"{request}.yaml"


def read_results(root: Path, request: str) -> dict[str, TargetResult]:
    """The results recorded for ``request``, by target ({} when none); ValidationError when malformed."""
    path = results_path(root, request)
    if not path.is_file():
        return {}
    display = display_path(path, root)
    doc, problems = load(path, display, limit=CATALOG_LIMIT)
    if doc is None:
        raise ValidationError(problems)
    try:
        data = doc.data
        if data.get("request") != request:
            raise ValueError(f"holds request {str(data.get('request'))[:80]!r}")
        results = [TargetResult.from_dict(request, d) for d in data.get("targets") or ()]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(
            [
                Problem(
                    path=display, message=f"malformed smoke results ({exc})", hint="run `curate smoke` again"
                )
            ]
        ) from None
    return {r.target: r for r in results}


def dumps_results(request: str, results: Iterable[TargetResult]) -> str:
    ran = sorted((r for r in results if r.ran), key=lambda r: r.target)
    return dumps({"request": request, "targets": [r.to_dict() for r in ran]}, header=HEADER)


def write_results(
    root: Path, results: Sequence[TargetResult], requests: Sequence[Request], config: Config
) -> list[Path]:
    """Merge what ran into each request's file (other targets keep their records; targets the request
    no longer has are dropped; files of requests whose file is gone from ``requests/`` are deleted: the
    other requests' records stay, tested this time or not), as one step. ``requests``: those that ran."""
    live = {r.id: {t.id for t in request_targets(r, config)} for r in requests}
    present = {p.stem for p in request_files(root)}
    by_request: dict[str, list[TargetResult]] = {}
    for r in results:
        if r.ran:
            by_request.setdefault(r.request, []).append(r)
    changes: dict[Path, bytes | None] = {}
    with writing(root, "curate smoke"):
        for request, ran in by_request.items():
            kept = read_results(root, request)
            kept.update({r.target: r for r in ran})
            merged = [r for t, r in kept.items() if t in live.get(request, set())]
            changes[results_path(root, request)] = dumps_results(request, merged).encode()
        folder = root / SMOKE_DIR
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                if path.stem not in present:
                    changes[path] = None
        (root / SMOKE_DIR).mkdir(parents=True, exist_ok=True)
        return replace_catalog_files(root, changes)


# -- what the report and the site show -----------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Shown:
    """One request x target as the report and the site show it."""

    request: str
    target: str
    status: Literal["pass", "fail", "not-run", "stale", "untested"]
    text: str  # one line, data (escape it)
    blocking: bool = False


def shown(result: TargetResult | None, *, request: str, target: str, current_set: str, policy: str) -> Shown:
    """How a recorded (or fresh) result reads against the catalog's current set for that target."""
    if result is None:
        return Shown(
            request=request,
            target=target,
            status="untested",
            text="not tested yet: run curate smoke on a machine of this OS",
        )
    if result.ran and result.installed_set != current_set:
        return Shown(
            request=request,
            target=target,
            status="stale",
            text=f"stale: {result.status} for another locked set (re-locked since); run `curate smoke` again",
        )
    blocking = result.status == "fail" and policy == "block"
    return Shown(
        request=request, target=target, status=result.status, text=result.summary(), blocking=blocking
    )


def recorded(
    root: Path,
    requests: Sequence[Request],
    config: Config,
    projects: Mapping[NormalizedName, Project],
    *,
    fresh: Mapping[tuple[str, str], TargetResult] | None = None,
    only_fresh: bool = False,
) -> dict[str, list[Shown]]:
    """Per request, each target's result: ``fresh`` (a run's results, e.g. merged from CI runners)
    first, else (unless ``only_fresh``) what ``catalog/smoke/`` records; stale when recorded for
    another locked set. ValidationError (the file, and the fix) when a recorded file is malformed."""
    out: dict[str, list[Shown]] = {}
    saved: dict[str, TargetResult] = {}
    for request, target, entries in plan_jobs(requests, config, projects):
        if request.id not in out:
            out[request.id] = []
            saved = {} if only_fresh else read_results(root, request.id)
        result = (fresh or {}).get((request.id, target.id)) or saved.get(target.id)
        if result is None and only_fresh:
            result = TargetResult(
                request=request.id,
                target=target.id,
                status="not-run",
                reason="no runner of this run tested it",
            )
        out[request.id].append(
            shown(
                result,
                request=request.id,
                target=target.id,
                current_set=set_hash(entries),
                policy=config.smoke_failing_import,
            )
        )
    return out


# -- results as JSON (one file per CI runner; merged for the report) ---------------------------------


def results_json(outcome: SmokeOutcome) -> str:
    return json.dumps(
        {
            "policy": outcome.policy,
            # seconds too: the catalog's record leaves them out (they differ on every run)
            "results": [
                {"request": r.request, **r.to_dict(), "seconds": round(r.seconds, 2)} for r in outcome.results
            ],
        },
        indent=1,
        sort_keys=True,
    )


def merge_json(paths: Iterable[Path]) -> dict[tuple[str, str], TargetResult]:
    """Results of several runners: a target any runner ran wins over a ``not-run`` elsewhere."""
    merged: dict[tuple[str, str], TargetResult] = {}
    for path in sorted(paths):
        try:
            data = json.loads(path.read_text("utf-8"))
            items = [TargetResult.from_dict(str(d["request"]), d) for d in data["results"]]
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SmokeError(f"{path}: not smoke results written by `curate smoke --json` ({exc})") from None
        for r in items:
            key = (r.request, r.target)
            old = merged.get(key)
            if old is None or (not old.ran and r.ran):
                merged[key] = r
            elif not old.ran and not r.ran and r.reason not in old.reason:
                merged[key] = dataclasses.replace(old, reason=f"{old.reason}; {r.reason}")
    return merged
