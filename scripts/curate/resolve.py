"""Resolution with uv: the only place that runs uv to resolve requirements.

One request is resolved in one universal ``uv pip compile`` run. Every requested package carries an
environment marker limiting it to the request's targets (its OS/architecture and Python versions, or the
package's own ``platforms``), so uv resolves exactly the environments the request is for and the
markers it writes tell, per target, which pins apply. uv never downloads an interpreter
(``UV_PYTHON_DOWNLOADS=never``), never builds an sdist unless the config allows sdists (``--no-build``),
and talks to ``upstream.index_url`` when it is configured, else to its own default index. The index a
pin came from is read back from uv's ``# from`` annotations, so curate never spells out a default.

uv runs with ``--fork-strategy fewest``: where one version of a package fits every Python of the request,
that one is chosen for all of them (uv's default prefers the newest per Python, which gives a lock
made on one Python versions the catalog does not serve for the others).

Existing pins are passed as preferences by seeding uv's output file: uv keeps a version already in the
output file when it still satisfies the requirements (``--upgrade`` / ``--upgrade-package`` lift that).

The release cooldown (:mod:`curate.cooldown`) is uv's ``--exclude-newer`` (and ``--exclude-newer-package``
for a waived exact pin); the environment's ``UV_EXCLUDE_NEWER*`` are dropped, so only the catalog's
policy decides.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import textwrap
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from packaging.markers import InvalidMarker, Marker

from curate.auth import split_credentials
from curate.errors import ResolutionError
from curate.names import NormalizedName, normalize
from curate.targets import Target

INPUT_NAME = "requirements.in"
OUTPUT_NAME = "requirements.txt"
DIRECT = f"-r {INPUT_NAME}"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Pin:
    """One line of uv's universal output: a pinned version, where it applies, and who pulls it in."""

    name: NormalizedName
    version: str
    display: str = ""  # the name as uv printed it
    marker: str = ""  # "" = everywhere
    via: tuple[NormalizedName, ...] = ()  # parents (normalized); direct requirements are marked apart
    direct: bool = False
    index_url: str = ""  # the index uv took it from ("" when uv did not say)

    def applies(self, target: Target) -> bool:
        return not self.marker or target.evaluate(self.marker)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Requirement:
    """A requirement handed to uv with the targets it applies to."""

    text: str  # PEP 508 without marker, e.g. "webapp[extra]>=1"
    targets: tuple[Target, ...]
    marker: str = ""  # its own marker (a build requirement's), and-ed with the targets'


def environment_marker(targets: Iterable[Target]) -> str:
    """A PEP 508 marker true exactly on ``targets`` (as far as markers can tell targets apart)."""
    by_platform: dict[tuple[str, str], list[str]] = {}
    for t in targets:
        env = t.marker_environment()
        key = (env["sys_platform"], env["platform_machine"])
        by_platform.setdefault(key, [])
        if t.python not in by_platform[key]:
            by_platform[key].append(t.python)
    # group platforms by the Python versions they need, so the common case stays short
    by_pythons: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for key, pys in sorted(by_platform.items()):
        by_pythons.setdefault(tuple(sorted(pys, key=_py_key)), []).append(key)
    clauses = []
    for versions, platforms in sorted(by_pythons.items()):
        plat = " or ".join(f"(sys_platform == '{s}' and platform_machine == '{m}')" for s, m in platforms)
        py = " or ".join(f"python_version == '{p}'" for p in versions)
        clauses.append(f"({plat}) and ({py})")
    return " or ".join(f"({c})" for c in clauses) if len(clauses) > 1 else clauses[0]


def _py_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def input_text(requirements: Sequence[Requirement]) -> str:
    return "".join(
        f"{r.text} ; "
        + (
            f"({r.marker}) and ({environment_marker(r.targets)})"
            if r.marker
            else environment_marker(r.targets)
        )
        + "\n"
        for r in requirements
    )


def seed_text(preferences: Mapping[str, str]) -> str:
    """uv's output file, pre-filled: versions uv should keep when they still fit."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(preferences.items()))


def uv_command(
    *,
    uv: str,
    python_version: str,
    index_url: str | None,
    allow_build: bool,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    exclude_newer: str | None = None,
    exclude_newer_packages: Mapping[str, str] | None = None,
) -> list[str]:
    """The ``uv pip compile`` command line (run in a scratch directory holding the input and seed)."""
    cmd = [
        uv,
        "pip",
        "compile",
        INPUT_NAME,
        "--output-file",
        OUTPUT_NAME,
        "--universal",
        "--fork-strategy",
        "fewest",  # one version across the request's Pythons wherever one fits them all
        "--python-version",
        python_version,
        "--python",
        sys.executable,  # never discover (let alone download) an interpreter
        "--no-python-downloads",
        "--emit-index-annotation",
        "--annotation-style",
        "line",
        "--no-header",
        "--quiet",
        "--color",
        "never",
    ]
    if index_url:
        cmd += ["--index-url", index_url]
    if not allow_build:
        cmd.append("--no-build")
    if upgrade:
        cmd.append("--upgrade")
    for name in upgrade_packages:
        cmd += ["--upgrade-package", name]
    if exclude_newer:
        cmd += ["--exclude-newer", exclude_newer]
    for name, moment in sorted((exclude_newer_packages or {}).items()):
        cmd += ["--exclude-newer-package", f"{name}={moment}"]
    return cmd


def uv_env(env: Mapping[str, str]) -> dict[str, str]:
    out = {k: v for k, v in env.items() if not k.startswith("UV_EXCLUDE_NEWER")}
    out["UV_PYTHON_DOWNLOADS"] = "never"
    out["NO_COLOR"] = "1"
    return out


_UV_LOCK = threading.Lock()
_uv_bin: str | None = None


def find_uv(env: Mapping[str, str]) -> str:
    """`CURATE_UV`, else the uv installed with curate.

    Looked up once, under a lock: `curate lock` resolves from several threads, and on Python 3.11
    `sysconfig` (which uv's finder reads) can hand a half-initialised config to a concurrent caller.
    """
    global _uv_bin
    if env.get("CURATE_UV"):
        return env["CURATE_UV"]
    with _UV_LOCK:
        if _uv_bin is None:
            from uv import find_uv_bin

            _uv_bin = find_uv_bin()
        return _uv_bin


def compile_requirements(
    requirements: Sequence[Requirement],
    *,
    python_version: str,
    index_url: str | None,
    allow_build: bool,
    env: Mapping[str, str],
    preferences: Mapping[str, str] | None = None,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    exclude_newer: str | None = None,
    exclude_newer_packages: Mapping[str, str] | None = None,
) -> list[Pin]:
    """Run uv once; return the pins, or raise ResolutionError carrying uv's explanation."""
    import subprocess
    import tempfile

    cmd = uv_command(
        uv=find_uv(env),
        python_version=python_version,
        index_url=index_url,
        allow_build=allow_build,
        upgrade=upgrade,
        upgrade_packages=upgrade_packages,
        exclude_newer=exclude_newer,
        exclude_newer_packages=exclude_newer_packages,
    )
    with tempfile.TemporaryDirectory(prefix="curate-resolve-") as tmp:
        work = Path(tmp)
        (work / INPUT_NAME).write_text(input_text(requirements), "utf-8")
        if preferences and not upgrade:
            (work / OUTPUT_NAME).write_text(seed_text(preferences), "utf-8")
        try:
            proc = subprocess.run(
                cmd, cwd=work, env=uv_env(env), capture_output=True, text=True, check=False, timeout=900
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ResolutionError(f"could not run uv: {exc}") from exc
        if proc.returncode != 0:
            raise ResolutionError(clean_uv_error(proc.stderr or proc.stdout))
        return parse_compiled((work / OUTPUT_NAME).read_text("utf-8"))


def install_exact(
    pins: Sequence[str], *, into: Path, index_url: str | None, env: Mapping[str, str], timeout: float = 600
) -> str:
    """A fresh virtual environment at ``into`` (on curate's own Python) holding exactly ``pins``
    (``name==version``, wheels only, no dependencies of their own); return its interpreter. Used to ask
    a build backend what it needs (:mod:`curate.builddeps`)."""
    import subprocess

    uv = find_uv(env)
    python = into / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    steps = [[uv, "venv", "--quiet", "--python", sys.executable, "--no-python-downloads", str(into)]]
    if pins:
        install = [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            "--no-deps",
            "--only-binary",
            ":all:",
        ]
        if index_url:
            install += ["--index-url", index_url]
        steps.append([*install, *pins])
    for cmd in steps:
        try:
            proc = subprocess.run(
                cmd, env=uv_env(env), capture_output=True, text=True, check=False, timeout=timeout
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ResolutionError(f"could not run uv: {exc}") from exc
        if proc.returncode != 0:
            raise ResolutionError(clean_uv_error(proc.stderr or proc.stdout))
    return str(python)


def default_index(probes: Sequence[str], *, env: Mapping[str, str]) -> str:
    """The index uv resolves from when curate names none: its default, or what ``UV_DEFAULT_INDEX``,
    ``UV_INDEX_URL`` or uv's own configuration says. curate spells out no index itself: it reads the
    ``# from`` annotation of a ``uv pip compile --no-deps`` run on one project (``probes``: names of
    projects that index serves, tried in order until one resolves; at most three are tried).
    """
    import subprocess
    import tempfile

    if not probes:
        raise ResolutionError("no project to ask uv about: the catalog is empty")
    cmd = [
        find_uv(env),
        "pip",
        "compile",
        INPUT_NAME,
        "--output-file",
        OUTPUT_NAME,
        "--universal",  # any project will do, whatever its platforms
        "--no-deps",
        "--no-build",
        "--python",
        sys.executable,
        "--no-python-downloads",
        "--emit-index-annotation",
        "--no-header",
        "--quiet",
        "--color",
        "never",
    ]
    errors = []
    for name in probes[:3]:
        with tempfile.TemporaryDirectory(prefix="curate-index-") as tmp:
            work = Path(tmp)
            (work / INPUT_NAME).write_text(f"{name}\n", "utf-8")
            try:
                proc = subprocess.run(
                    cmd, cwd=work, env=uv_env(env), capture_output=True, text=True, check=False, timeout=300
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ResolutionError(f"could not run uv: {exc}") from exc
            if proc.returncode != 0:
                errors.append(f"{name}: {clean_uv_error(proc.stderr or proc.stdout)}")
                continue
            pins = parse_compiled((work / OUTPUT_NAME).read_text("utf-8"))
            url = next((p.index_url for p in pins if p.index_url), "")
            if url:  # uv masks a password it shows ('****'): the login comes from netrc instead
                return split_credentials(url)[0]
            errors.append(f"{name}: uv did not say which index it came from")
    raise ResolutionError(
        "cannot tell which index uv resolves from (set upstream.index_url in catalog/config.yaml):\n"
        + "\n".join(textwrap.indent(e, "    ") for e in errors)
    )


def failing_target(
    requirements: Sequence[Requirement],
    *,
    index_url: str | None,
    allow_build: bool,
    env: Mapping[str, str],
    universal_error: str,
    exclude_newer: str | None = None,
    exclude_newer_packages: Mapping[str, str] | None = None,
) -> tuple[Target | None, str]:
    """After a universal resolution failed: resolve target by target to name the first one that fails,
    with uv's explanation for it (None and ``universal_error`` when each target resolves on its own)."""
    targets: list[Target] = []
    for r in requirements:
        targets.extend(t for t in r.targets if t not in targets)
    for target in targets:
        alone = [Requirement(text=r.text, targets=(target,)) for r in requirements if target in r.targets]
        try:
            compile_requirements(
                alone,
                python_version=target.python,
                index_url=index_url,
                allow_build=allow_build,
                env=env,
                exclude_newer=exclude_newer,
                exclude_newer_packages=exclude_newer_packages,
            )
        except ResolutionError as exc:
            return target, str(exc)
    return None, universal_error


def clean_uv_error(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    if lines and lines[0].startswith("error: "):
        lines[0] = lines[0].removeprefix("error: ")
    return "\n".join(lines).replace(INPUT_NAME, "the request") or "uv failed without saying why"


_LINE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)\s*(?:;\s*(?P<marker>[^#]*?))?\s*(?:#\s*via\s+(?P<via>.*))?$"
)
_FROM = re.compile(r"^#\s*from\s+(?P<url>\S+)\s*$")


def parse_compiled(text: str) -> list[Pin]:
    """Parse uv's ``requirements.txt`` output (line annotations, index annotations, markers)."""
    pins: list[Pin] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if m := _FROM.match(line):
            if pins:
                pins[-1] = dataclasses.replace(pins[-1], index_url=m["url"])
            continue
        if line.startswith(("#", "-")):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ResolutionError(f"unexpected line in uv's output: {line!r}")
        marker = (m["marker"] or "").strip()
        if marker:
            try:
                Marker(marker)
            except InvalidMarker as exc:
                raise ResolutionError(f"uv wrote a marker curate cannot read: {marker!r}") from exc
        parents = [p.strip() for p in (m["via"] or "").split(",") if p.strip()]
        pins.append(
            Pin(
                name=normalize(m["name"]),
                version=m["version"],
                display=m["name"],
                marker=marker,
                via=tuple(sorted({normalize(p.split("[")[0]) for p in parents if not p.startswith("-")})),
                direct=any(p.startswith("-r ") for p in parents),
            )
        )
    return pins
