"""Suspicious code in a version's files: GuardDog's rules and curate's own checks.

The attacks on popular projects (a compromised release pipeline, a typosquat with an install-time
payload) leave marks in the code. :func:`scan_version` looks for them in every file of one version
(the sdist and the wheels) and returns :class:`curate.vetting.CodeHit` records (rule, file, path, line):

- GuardDog, DataDog's maintained scanner of malicious packages: its YARA source-code rules, run over
  the version's code (each distinct file once: what the wheels share with the sdist is scanned once).
  Only the rules of :data:`DEFAULT_RULES` run unless ``vetting.code_rules`` in catalog/config.yaml says
  otherwise; the site's vetting page says why each one was chosen. GuardDog's metadata rules are not
  run: they need the upstream's JSON API, and curate checks look-alike names itself.
- curate's own checks, where no library covers them: ``.pth`` files with executable lines (they run
  at every interpreter start), console scripts and entry points named like common commands (``pip``,
  ``python``, ``ls``, ...), and a wheel carrying Python code its sdist does not have.

What is scanned: the text files Python or a shell runs (``.py``, ``.pyx``, ``.pyi``, ``.pth``, ``.sh``,
``.bat``, ``.cmd``, ``.ps1``, ``.js``), at most :data:`MAX_MEMBER_BYTES` each; compiled extensions are
not (YARA's source rules do not read machine code). An archive member with an unsafe path, or beyond the
budget, is not extracted, and that is said in the hits (``scan-incomplete``) rather than passed over.

GuardDog is imported here only. When it loads, it refreshes its lists of popular packages from the
network, and writes them into its own installation: curate points it (``GUARDDOG_TOP_PACKAGES_CACHE_
LOCATION``, GuardDog's own setting) at a private folder of empty lists marked fresh, so a scan never talks
to any host. The scan runs in the process that calls it (``curate vet``'s worker processes).
"""

from __future__ import annotations

import configparser
import dataclasses
import functools
import hashlib
import importlib.util
import json
import logging
import os
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from curate.names import normalize
from curate.vetting import CodeHit

RuleDecision = Literal["block", "warn", "off"]
RULE_DECISIONS: tuple[RuleDecision, ...] = ("block", "warn", "off")

# curate's own checks; bump OWN_CHECKS_VERSION when what they find changes (every version is scanned
# again: the ruleset id changes).
OWN_CHECKS_VERSION = 1
OWN_RULES: dict[str, str] = {
    "pth-exec": "a .pth file with a line Python executes at every interpreter start",
    "command-shadowing": "a console script or entry point named like a common command",
    "wheel-only-code": "a wheel carries Python code its sdist does not have",
    "scan-incomplete": "part of the file could not be scanned (unsafe path, too large, unreadable)",
}

# The rules that run, and what the policy does with a match unless vetting.code_rules says otherwise.
# GuardDog's "capability-*" rules (network, filesystem, process use) describe what most libraries do,
# and its npm-, extension- and JavaScript-only rules do not apply to Python packages: they are not run.
# The reasons for each choice are on the site (site/reference/vetting.md).
DEFAULT_RULES: dict[str, RuleDecision] = {
    # install- or import-time payloads, none of which matched the 43 versions of the example catalog
    # (benchmarks/bench_codescan.py --rules threats): block
    "threat-runtime-obfuscation-base64exec": "block",
    "threat-network-reverse-shell": "block",
    "threat-process-cryptomining": "block",
    "threat-process-powershell-encoded": "block",
    "threat-setup-network-in-install": "block",
    # strong signals that also occur in legitimate code: warn, a reviewer looks (download-exec matches
    # pandas' clipboard module, which runs powershell)
    "threat-process-download-exec": "warn",
    "threat-setup-suspicious-imports": "warn",
    "threat-setup-import-aliasing": "warn",
    "threat-network-exfiltration": "warn",
    "threat-network-exfil-sysinfo": "warn",
    "threat-network-exfil-messenger": "warn",
    "threat-network-dns-exfil": "warn",
    "threat-network-outbound-shady-links": "warn",
    "threat-filesystem-autostart": "warn",
    "threat-filesystem-destruction": "warn",
    "threat-runtime-keylogging": "warn",
    "threat-runtime-screencapture": "warn",
    "threat-runtime-self-propagation": "warn",
    "threat-runtime-obfuscation-hidden-code": "warn",
    "threat-runtime-obfuscation-import-exec": "warn",
    "threat-runtime-obfuscation-pyarmor": "warn",
    "threat-process-injection-dll": "warn",
    # curate's own
    "pth-exec": "warn",
    "command-shadowing": "warn",
    "wheel-only-code": "warn",
    "scan-incomplete": "warn",
}

SCANNED_SUFFIXES = (".py", ".pyx", ".pyi", ".pth", ".sh", ".bat", ".cmd", ".ps1", ".js")
MAX_MEMBER_BYTES = 4 << 20  # a source file larger than this is generated data, not code to read
MAX_VERSION_BYTES = 512 << 20  # what one version's scan extracts at most

# Commands a console script must not take over: an installed package's script lands on PATH beside them.
COMMON_COMMANDS = frozenset(
    [
        "python",
        "python3",
        "python2",
        "pip",
        "pip3",
        "pipx",
        "uv",
        "uvx",
        "poetry",
        "pdm",
        "conda",
        "virtualenv",
        "twine",
        "sh",
        "bash",
        "zsh",
        "fish",
        "dash",
        "ksh",
        "csh",
        "tcsh",
        "env",
        "sudo",
        "su",
        "doas",
        "login",
        "passwd",
        "ls",
        "cp",
        "mv",
        "rm",
        "mkdir",
        "rmdir",
        "cat",
        "less",
        "more",
        "head",
        "tail",
        "grep",
        "egrep",
        "fgrep",
        "find",
        "xargs",
        "sed",
        "awk",
        "sort",
        "uniq",
        "tar",
        "gzip",
        "gunzip",
        "zip",
        "unzip",
        "chmod",
        "chown",
        "chgrp",
        "ln",
        "touch",
        "date",
        "kill",
        "killall",
        "ps",
        "top",
        "id",
        "whoami",
        "which",
        "ssh",
        "scp",
        "sftp",
        "rsync",
        "curl",
        "wget",
        "git",
        "gpg",
        "openssl",
        "nc",
        "ncat",
        "netcat",
        "telnet",
        "ftp",
        "ping",
        "dig",
        "nslookup",
        "host",
        "apt",
        "apt-get",
        "dpkg",
        "yum",
        "dnf",
        "rpm",
        "brew",
        "apk",
        "systemctl",
        "service",
        "crontab",
        "mount",
        "umount",
        "make",
        "cmake",
        "gcc",
        "cc",
        "clang",
        "ld",
        "node",
        "npm",
        "npx",
        "docker",
        "kubectl",
        "helm",
        "terraform",
        "aws",
        "gcloud",
        "az",
        "cmd",
        "powershell",
        "pwsh",
        "explorer",
        "notepad",
        "reg",
        "regedit",
        "schtasks",
        "sc",
        "net",
        "netsh",
        "rundll32",
        "certutil",
    ]
)

_log = logging.getLogger(__name__)


# -- the ruleset ---------------------------------------------------------------------------------


def _guarddog_root() -> Path | None:
    """Where GuardDog is installed, found without importing it (importing it starts its refresh)."""
    spec = importlib.util.find_spec("guarddog")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def guarddog_rules() -> dict[str, str]:
    """GuardDog's source-code rules as installed: rule name -> sha256 of its rule file."""
    root = _guarddog_root()
    if root is None:
        return {}
    folder = root / "analyzer" / "sourcecode"
    return {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.yar"))}


def known_rules() -> tuple[str, ...]:
    """Every rule ``vetting.code_rules`` may name: GuardDog's installed rules and curate's own."""
    return tuple(sorted({*guarddog_rules(), *OWN_RULES}))


def rule_decisions(overrides: Mapping[str, RuleDecision]) -> dict[str, RuleDecision]:
    """What the policy does with each rule's matches: :data:`DEFAULT_RULES` with the config's overrides."""
    out = dict(DEFAULT_RULES)
    out.update(overrides)
    return dict(sorted(out.items()))


def rules_run(overrides: Mapping[str, RuleDecision]) -> tuple[str, ...]:
    return tuple(r for r, d in rule_decisions(overrides).items() if d != "off")


def guarddog_version() -> str:
    import importlib.metadata  # here: curate.config imports this module, and every verb reads the config

    try:
        return importlib.metadata.version("guarddog")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def ruleset_id(overrides: Mapping[str, RuleDecision]) -> str:
    """Names the ruleset a scan ran with: GuardDog's version, curate's checks and the rules run (with the
    content of GuardDog's rule files). A scan recorded with another ruleset is run again."""
    installed = guarddog_rules()
    rules = rules_run(overrides)
    doc = json.dumps([[r, installed.get(r, "curate")] for r in rules], sort_keys=True)
    digest = hashlib.sha256(doc.encode()).hexdigest()[:16]
    return f"guarddog-{guarddog_version()}+curate-{OWN_CHECKS_VERSION}:{digest}"


# -- GuardDog ------------------------------------------------------------------------------------


@functools.cache
def _analyzer() -> Any:
    """GuardDog's analyzer, loaded without its network refresh (see the module's docstring)."""
    # GuardDog's setting, for GuardDog: curate itself reads nothing from the environment here
    if "GUARDDOG_TOP_PACKAGES_CACHE_LOCATION" not in os.environ:
        # GuardDog's own lists, marked as downloaded now, in a folder of curate's
        root = _guarddog_root()
        lists = Path(tempfile.mkdtemp(prefix="curate-guarddog-"))
        shipped = sorted((root / "analyzer" / "metadata" / "resources").glob("top_*.json")) if root else []
        for source in shipped:
            try:
                doc = json.loads(source.read_text("utf-8"))
            except (OSError, ValueError):
                doc = {}
            packages = doc.get("packages") if isinstance(doc, dict) else doc
            fresh = {"downloaded_timestamp": int(time.time()), "packages": packages or ["-"]}
            (lists / source.name).write_text(json.dumps(fresh), "utf-8")
        os.environ["GUARDDOG_TOP_PACKAGES_CACHE_LOCATION"] = str(lists)
    logging.getLogger("guarddog").setLevel(logging.ERROR)
    from guarddog.analyzer import analyzer
    from guarddog.ecosystems import ECOSYSTEM

    # GuardDog compiles every rule file again on each scan (most of a small version's scan time); its
    # rule files do not change while curate runs, so its analyzer gets them compiled once
    if not isinstance(analyzer.yara, _CompiledOnce):
        analyzer.yara = _CompiledOnce(analyzer.yara)
    return analyzer.Analyzer(ECOSYSTEM.PYPI)


class _CompiledOnce:
    """The ``yara`` module as GuardDog's analyzer sees it, with ``compile(filepath=...)`` memoised."""

    def __init__(self, yara: Any) -> None:
        self._yara = yara
        self._compiled: dict[str, Any] = {}

    def compile(self, *args: Any, **kwargs: Any) -> Any:
        path = kwargs.get("filepath")
        if args or set(kwargs) != {"filepath"} or not isinstance(path, str):
            return self._yara.compile(*args, **kwargs)
        if path not in self._compiled:
            self._compiled[path] = self._yara.compile(filepath=path)
        return self._compiled[path]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._yara, name)


def _guarddog_hits(tree: Path, rules: Sequence[str], origin: Mapping[str, tuple[str, str]]) -> list[CodeHit]:
    """GuardDog's source-code rules over ``tree``; ``origin`` maps a path in it to (file, member path)."""
    wanted = {r for r in rules if r in guarddog_rules()}
    if not wanted:
        return []
    result = _analyzer().analyze_sourcecode(str(tree), rules=wanted)
    hits = []
    for rule, matches in sorted(result.get("results", {}).items()):
        if not isinstance(matches, list):
            continue
        for m in matches:
            where, _, line = str(m.get("location", "")).rpartition(":")
            if not where:
                where, line = str(m.get("location", "")), "0"
            file, path = origin.get(where, ("", where))
            excerpt = " ".join(str(m.get("match", "")).split())[:80]
            message = str(m.get("message") or f"{rule} matched")
            hits.append(
                CodeHit(
                    rule=rule,
                    file=file,
                    path=path,
                    line=int(line) if line.isdigit() else 0,
                    message=f"{message}: `{excerpt}`" if excerpt else message,
                )
            )
    for rule, error in sorted(result.get("errors", {}).items()):
        hits.append(CodeHit(rule="scan-incomplete", file="", path="", line=0, message=f"{rule}: {error}"))
    return hits


# -- reading the archives ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Member:
    path: str  # inside the archive, as written there
    data: bytes


def _safe(member: str) -> bool:
    p = PurePosixPath(member.replace("\\", "/"))
    return bool(p.parts) and not p.is_absolute() and ".." not in p.parts and ":" not in p.parts[0]


def _members(path: Path, filename: str, problems: list[CodeHit]) -> list[Member]:
    """The archive's members that are scanned (see the module docstring), read within the budget."""
    out: list[Member] = []
    total = 0

    def keep(name: str, size: int) -> bool:
        nonlocal total
        if not name.lower().endswith(SCANNED_SUFFIXES) and not name.endswith("entry_points.txt"):
            return False
        if not _safe(name):
            problems.append(_incomplete(filename, name, "unsafe path, not scanned"))
            return False
        if size > MAX_MEMBER_BYTES or total + size > MAX_VERSION_BYTES:
            problems.append(_incomplete(filename, name, f"{size} bytes, more than the scan reads"))
            return False
        total += size
        return True

    try:
        if filename.endswith((".whl", ".zip")):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if not info.is_dir() and keep(info.filename, info.file_size):
                        with zf.open(info) as fh:
                            out.append(Member(path=info.filename, data=fh.read(MAX_MEMBER_BYTES + 1)))
        else:
            with tarfile.open(path, "r:*") as tf:
                for m in tf:
                    if m.isfile() and keep(m.name, m.size):
                        member = tf.extractfile(m)
                        if member is not None:
                            out.append(Member(path=m.name, data=member.read(MAX_MEMBER_BYTES + 1)))
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        problems.append(_incomplete(filename, "", f"the archive does not open: {exc}"))
    return out


def _incomplete(filename: str, path: str, why: str) -> CodeHit:
    return CodeHit(rule="scan-incomplete", file=filename, path=path, line=0, message=why)


# -- curate's own checks ---------------------------------------------------------------------------


def _installed_path(member: str) -> str | None:
    """Where a wheel member lands relative to site-packages (None for scripts, headers, data)."""
    parts = PurePosixPath(member).parts
    if parts and parts[0].endswith(".data"):
        if len(parts) > 2 and parts[1] in ("purelib", "platlib"):
            return "/".join(parts[2:])
        return None
    return member


def pth_hits(filename: str, members: Iterable[Member]) -> list[CodeHit]:
    """``.pth`` files a wheel installs into site-packages whose lines Python executes (``import ...``)."""
    hits = []
    for m in members:
        where = _installed_path(m.path)
        if where is None or "/" in where or not where.endswith(".pth"):
            continue
        for n, line in enumerate(m.data.decode("utf-8", "replace").splitlines(), 1):
            if line.startswith(("import ", "import\t")):
                shown = " ".join(line.split())[:100]
                hits.append(
                    CodeHit(
                        rule="pth-exec",
                        file=filename,
                        path=m.path,
                        line=n,
                        message=f"runs at every interpreter start: `{shown}`",
                    )
                )
    return hits


def command_hits(filename: str, project: str, members: Iterable[Member]) -> list[CodeHit]:
    """Console scripts, GUI scripts and ``.data/scripts`` named like a common command."""
    own = normalize(project)
    hits = []

    def check(name: str, path: str, line: int, what: str) -> None:
        command = name.strip().lower().removesuffix(".exe")
        if (
            command in COMMON_COMMANDS
            and not normalize(command).startswith(own)
            and not own.startswith(command)
        ):
            hits.append(
                CodeHit(
                    rule="command-shadowing",
                    file=filename,
                    path=path,
                    line=line,
                    message=f"{what} '{command}' takes the name of a common command",
                )
            )

    for m in members:
        parts = PurePosixPath(m.path).parts
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "entry_points.txt":
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            try:
                parser.read_string(m.data.decode("utf-8", "replace"))
            except configparser.Error:
                continue
            lines = m.data.decode("utf-8", "replace").splitlines()
            for section in ("console_scripts", "gui_scripts"):
                if not parser.has_section(section):
                    continue
                for name in parser.options(section):
                    line = next((i for i, t in enumerate(lines, 1) if t.strip().startswith(name)), 0)
                    check(name, m.path, line, section.replace("_", " ").rstrip("s"))
        elif len(parts) == 3 and parts[0].endswith(".data") and parts[1] == "scripts":
            check(
                parts[2].rsplit(".", 1)[0] if parts[2].endswith((".py", ".exe")) else parts[2],
                m.path,
                0,
                "script",
            )
    return hits


_GENERATED = ("_version.py", "version.py", "__version__.py", "_build_info.py", "_git_version.py")


def wheel_only_code(
    wheels: Mapping[str, Sequence[Member]], sdist: tuple[str, Sequence[Member]] | None
) -> list[CodeHit]:
    """Python files a wheel installs that its sdist does not have (by path, under any source folder).

    Generated version files (``_version.py`` and the like) are expected and not reported."""
    if sdist is None:
        return []
    sdist_files = {"/".join(PurePosixPath(m.path).parts[1:]) for m in sdist[1]}
    hits = []
    for filename, members in sorted(wheels.items()):
        extra = []
        for m in members:
            where = _installed_path(m.path)
            if where is None or not where.endswith(".py") or ".dist-info/" in where:
                continue
            if PurePosixPath(where).name in _GENERATED:
                continue
            if not any(s == where or s.endswith("/" + where) for s in sdist_files):
                extra.append(m.path)
        if extra:
            shown = ", ".join(sorted(extra)[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
            hits.append(
                CodeHit(
                    rule="wheel-only-code",
                    file=filename,
                    path=sorted(extra)[0],
                    line=0,
                    message=f"{len(extra)} Python file(s) not in {sdist[0]}: {shown}",
                )
            )
    return hits


# -- one version -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ScanResult:
    hits: tuple[CodeHit, ...]
    seconds: float  # the time GuardDog took (the rest is reading the archives and curate's checks)


def scan_version(
    project: str, files: Sequence[tuple[str, Path]], rules: Sequence[str], scratch: Path
) -> ScanResult:
    """Scan one version's files (``(filename, path)``) with ``rules``; ``scratch`` is an empty folder."""
    problems: list[CodeHit] = []
    read = {filename: _members(path, filename, problems) for filename, path in files}
    hits: list[CodeHit] = []
    if "pth-exec" in rules or "command-shadowing" in rules:
        for filename, members in read.items():
            if filename.endswith(".whl"):
                if "pth-exec" in rules:
                    hits += pth_hits(filename, members)
                if "command-shadowing" in rules:
                    hits += command_hits(filename, project, members)
    if "wheel-only-code" in rules:
        sdists = sorted(f for f in read if not f.endswith(".whl"))
        hits += wheel_only_code(
            {f: m for f, m in read.items() if f.endswith(".whl")},
            (sdists[0], read[sdists[0]]) if sdists else None,
        )
    # GuardDog over the distinct files: the sdist first, then what each wheel adds
    seen: set[str] = set()
    origin: dict[str, tuple[str, str]] = {}
    for i, filename in enumerate(sorted(read, key=lambda f: (f.endswith(".whl"), f))):
        for m in read[filename]:
            digest = hashlib.sha256(m.data).hexdigest()
            if digest in seen or not m.path.lower().endswith(SCANNED_SUFFIXES):
                continue
            seen.add(digest)
            rel = f"{i}/{m.path}"
            target = scratch / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(m.data[:MAX_MEMBER_BYTES])
            origin[rel] = (filename, m.path)
    started = time.perf_counter()
    hits += _guarddog_hits(scratch, rules, origin)
    seconds = time.perf_counter() - started
    if "scan-incomplete" in rules:
        hits += problems
    unique = sorted(set(hits), key=lambda h: (h.rule, h.file, h.path, h.line, h.message))
    return ScanResult(hits=tuple(unique), seconds=seconds)
