"""Change requests: ``requests/YYYY-MM-DD-slug.yaml``, what a customer asks the catalog to add or remove."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet

from curate.config import Config
from curate.errors import Problem
from curate.names import NormalizedName, import_name_hint, is_valid, normalize
from curate.specs import parse_specifier
from curate.targets import OS_ALIASES, OS_NAMES, OSName, Target
from curate.validate import Reader, control_characters, hidden_characters
from curate.yamlio import REQUEST_LIMIT, Document, KeyPath, load

REQUESTS_DIR = Path("requests")
SCHEMA_URL_PATH = "scripts/curate/data/request.schema.json"
FILENAME = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})-(?P<slug>[a-z0-9-]+)\.yaml$")
SLUG = re.compile(r"[a-z0-9-]+")
PYTHON_VERSION = re.compile(r"3\.\d{1,2}")  # as requests write them: "3.12"
SLUG_MAX = 50  # characters of a slug made from a title
DEFAULT_SLUG = "request"  # when a title has no letter or digit to make one from


def slugify(text: str) -> str:
    """The slug of a request file name made from ``text`` (a title, a file name).

    Letters lose their accents (``Ü`` -> ``u``) and are lower-cased; every other run of characters
    becomes one ``-``; a slug longer than :data:`SLUG_MAX` is cut at the last ``-`` that keeps it that
    short (mid-word only when one word is longer); :data:`DEFAULT_SLUG` when nothing is left.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > SLUG_MAX:
        cut = slug.rfind("-", 0, SLUG_MAX + 1)
        slug = slug[:cut] if cut > 0 else slug[:SLUG_MAX]
    return slug or DEFAULT_SLUG


def request_files(root: Path) -> list[Path]:
    """Every request file of the catalog at ``root``: ``requests/*.yaml`` (and ``.yml``), sorted."""
    return yaml_files(root / REQUESTS_DIR)


def yaml_files(folder: Path) -> list[Path]:
    """The ``.yaml`` and ``.yml`` entries directly in ``folder`` but directories, sorted (a FIFO or a
    device with such a name is there too, for the reader to refuse with a message); none when
    ``folder`` is not a directory."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and not p.is_dir())


PLACEHOLDERS = {
    "tbd",
    "tba",
    "todo",
    "n/a",
    "na",
    "none",
    "-",
    "--",
    "test",
    "testing",
    "xxx",
    "...",
    "?",
    "asdf",
    "fixme",
    "wip",
}
MIN_JUSTIFICATION = 20

REQUEST_KEYS = (
    "title",
    "requested_by",
    "justification",
    "platforms",
    "python",
    "compliance",
    "packages",
    "remove",
)
REQUIRED_KEYS = ("title", "requested_by", "justification")
REQUIRED_HINTS = {
    "title": "add title: one line saying what the request is for",
    "requested_by": "add requested_by: your e-mail address or team handle",
    "justification": "add justification: what the packages are for and who uses them (20+ characters)",
}
PACKAGE_KEYS = ("name", "version", "platforms", "python", "note")
REMOVE_KEYS = ("name", "version", "reason")
# Free text that may span lines and hold tabs; every other text of a request is one line (a title)
FREE_TEXT_KEYS = ("justification", "note", "reason")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PackageSpec:
    """One requested distribution: ``name`` (with optional extras) and a PEP 440 specifier."""

    name: str  # as written, without extras
    normalized: NormalizedName
    extras: tuple[str, ...] = ()
    specifier: str = ""  # "" = the latest release
    platforms: tuple[OSName, ...] | None = None  # None = the request's platforms
    python: tuple[str, ...] | None = None  # None = the request's Python versions
    note: str = ""
    line: int = dataclasses.field(default=0, compare=False)  # of its entry in the file (0: unknown)

    @property
    def specifier_set(self) -> SpecifierSet:
        return SpecifierSet(self.specifier)

    def requirement(self) -> str:
        """The PEP 508 requirement string handed to the resolver."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return f"{self.normalized}{extras}{self.specifier}"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Removal:
    name: str
    normalized: NormalizedName
    specifier: str  # "" = every version
    reason: str
    line: int = dataclasses.field(default=0, compare=False)  # of its entry in the file (0: unknown)

    @property
    def specifier_set(self) -> SpecifierSet:
        return SpecifierSet(self.specifier)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Request:
    path: str  # as displayed, e.g. requests/2026-11-21-ml.yaml
    id: str  # file stem: 2026-11-21-ml
    date: dt.date
    slug: str
    title: str
    requested_by: str
    justification: str
    platforms: tuple[OSName, ...]
    python: tuple[str, ...]
    compliance: tuple[str, ...] = ()
    packages: tuple[PackageSpec, ...] = ()
    remove: tuple[Removal, ...] = ()

    def targets(self, config: Config) -> list[Target]:
        return config.targets_for(self.platforms, self.python)

    def package_targets(self, spec: PackageSpec, config: Config) -> list[Target]:
        """The targets one package is resolved and served for: its own ``platforms`` and ``python``
        where it gives them, the request's otherwise."""
        return config.targets_for(spec.platforms or self.platforms, spec.python or self.python)


def read_request(
    path: Path, display: str, config: Config | None, *, root: Path | None = None
) -> tuple[Request | None, list[Problem]]:
    """Read and validate one request file. With ``root`` (the repository), a file whose symbolic links
    lead outside it is refused unread, as are devices, FIFOs and files over the size limit."""
    doc, load_problems = load(path, display, keep_going=True, limit=REQUEST_LIMIT, root=root)
    if doc is None and not path.is_file():  # missing: its name is beside the point
        return None, load_problems
    name_problems = check_filename(path, display)
    if doc is None:
        return None, name_problems + load_problems
    # duplicate keys come back with the document: report them and everything else in one run
    request, problems = parse_request(doc, config, filename=path.name)
    return (None if load_problems else request), name_problems + load_problems + problems


def check_filename(path: Path, display: str) -> list[Problem]:
    m = FILENAME.match(path.name)
    if m is None:
        day = re.match(r"^\d{4}-\d{2}-\d{2}", path.stem)
        rest = path.stem[day.end() :] if day else path.stem
        stem = slugify(rest)
        date = day[0] if day and _valid_date(day[0]) else dt.date.today().isoformat()
        hint = f"name it like requests/{date}-{stem}.yaml"
        if path.suffix == ".yml":
            hint = "use the .yaml extension; " + hint
        return [
            Problem(path=display, message=f"file name '{path.name}' is not YYYY-MM-DD-slug.yaml", hint=hint)
        ]
    try:
        dt.date.fromisoformat(m["date"])
    except ValueError:
        return [
            Problem(
                path=display,
                message=f"file name date '{m['date']}' is not a valid date",
                hint="use the date the request was made, YYYY-MM-DD",
            )
        ]
    return []


def _valid_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_request(
    doc: Document, config: Config | None, *, filename: str
) -> tuple[Request | None, list[Problem]]:
    r = Reader(doc)
    r.problems.extend(hidden_characters(doc))
    r.problems.extend(control_characters(doc, free_text=FREE_TEXT_KEYS))
    data = doc.data
    if data is None:
        r.add((), "the request is empty", "run `curate new` to scaffold one")
        return None, r.problems
    top = r.mapping(data, (), REQUEST_KEYS, "a change request")
    if not isinstance(data, dict):
        return None, r.problems
    for key in REQUIRED_KEYS:
        r.require(top, (), key, "the request", REQUIRED_HINTS[key])
    title = r.string(top["title"], ("title",)) if top.get("title") is not None else None
    requested_by = (
        r.string(top["requested_by"], ("requested_by",)) if top.get("requested_by") is not None else None
    )
    justification = _justification(r, top.get("justification"))

    supported_os: tuple[str, ...] = OS_NAMES
    default_platforms: tuple[OSName, ...] = config.platforms_default if config else ("linux", "windows")
    platforms = (
        _platforms(r, top["platforms"], ("platforms",), supported_os)
        if top.get("platforms") is not None
        else default_platforms
    )
    python = (
        _python(r, top["python"], ("python",), config)
        if top.get("python") is not None
        else (config.python_default if config else ())
    )
    compliance: tuple[str, ...] = ()
    if top.get("compliance") is not None:
        compliance = tuple(r.string_list(top["compliance"], ("compliance",)) or ())

    packages = r.items(
        top.get("packages"),
        ("packages",),
        "packages",
        lambda v, k: _package(r, v, k, platforms, python, config),
    )
    remove = r.items(top.get("remove"), ("remove",), "remove", lambda v, k: _removal(r, v, k))
    if (
        not packages
        and not remove
        and ("packages",) not in r.doc.marks
        and not any("packages" in p.key for p in r.problems)
    ):
        r.add(
            (),
            "the request neither adds nor removes anything",
            "add a 'packages:' list (or a 'remove:' list)",
        )
    _duplicates(r, "packages", "packages", with_version=False)
    _duplicates(r, "remove", "remove", with_version=True)

    if r.problems or title is None or requested_by is None or justification is None:
        return None, r.problems
    m = FILENAME.match(filename)
    try:
        date = dt.date.fromisoformat(m["date"]) if m else dt.date(1970, 1, 1)
    except ValueError:  # reported by check_filename
        date = dt.date(1970, 1, 1)
    return (
        Request(
            path=doc.path,
            id=Path(filename).stem,
            date=date,
            slug=m["slug"] if m else Path(filename).stem,
            title=title,
            requested_by=requested_by,
            justification=justification,
            platforms=platforms,
            python=python,
            compliance=compliance,
            packages=tuple(packages),
            remove=tuple(remove),
        ),
        [],
    )


def _justification(r: Reader, value: Any) -> str | None:
    if value is None:
        return None
    text = r.string(value, ("justification",))
    if text is None:
        return None
    stripped = text.strip()
    if stripped.lower().strip(".!") in PLACEHOLDERS:
        r.add(
            ("justification",),
            f"justification '{stripped}' is a placeholder",
            "say what the packages are for and why the catalog should carry them",
        )
        return None
    if len(stripped) < MIN_JUSTIFICATION:
        r.add(
            ("justification",),
            f"justification is {len(stripped)} characters; at least {MIN_JUSTIFICATION} are needed",
            "say what the packages are for and who uses them, so a reviewer can approve it",
        )
        return None
    return stripped


def _platforms(r: Reader, value: Any, key: KeyPath, supported: tuple[str, ...]) -> tuple[OSName, ...]:
    names = r.string_list(value, key)
    if names is None:
        return ()
    if not names and not (isinstance(value, list) and value):  # [[linux]] is reported item by item
        r.add(key, "platforms must not be empty", f"choose from: {', '.join(OS_NAMES)}")
    out: list[OSName] = []
    for i, n in enumerate(names):
        k = (*key, i) if isinstance(value, list) else key
        got = r.choice(n, k, supported, "platform", OS_ALIASES)
        if got is not None and got not in out:
            out.append(got)  # type: ignore[arg-type]
    return tuple(out)


def _python(r: Reader, value: Any, key: KeyPath, config: Config | None) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for i, v in enumerate(items):
        k = (*key, i) if isinstance(value, list) else key
        if isinstance(v, float):
            text = r.doc.texts.get(k, str(v))
            r.add(
                k,
                f"Python version {text} must be quoted (YAML reads 3.10 as the number 3.1)",
                f'write "{text}"',
            )
            continue
        s = r.string(v, k)
        if s is None:
            continue
        if config is not None and s not in config.python_supported:
            r.add(
                k,
                f"Python {s} is not supported by this catalog",
                f"supported: {', '.join(config.python_supported)}",
            )
            continue
        if config is None and not PYTHON_VERSION.fullmatch(s):
            r.add(k, f"'{s}' is not a Python version like \"3.12\"", 'write it as "3.X"')
            continue
        if s not in out:
            out.append(s)
    if isinstance(value, list) and not value:
        r.add(key, "python must not be empty", "leave it out to use the catalog's default versions")
    return tuple(out)


_DIRECT_REF = re.compile(r"(@|://|^\.{0,2}/|^git\+|\.whl$|\.tar\.gz$|\.zip$)")


def _name(r: Reader, value: Any, key: KeyPath) -> tuple[str, NormalizedName, tuple[str, ...]] | None:
    name = r.string(value, key)
    if name is None:
        return None
    text = name.strip()
    if ";" in text:
        r.add(
            key,
            f"environment markers are not allowed: '{text}'",
            "OS and Python belong in the request's 'platforms' and 'python' (or the package's own)",
        )
        return None
    if _DIRECT_REF.search(text):
        r.add(
            key,
            f"direct references are not allowed: '{text}'",
            "the catalog only serves vetted files from its index; give the distribution name and a version",
        )
        return None
    m = re.match(r"^([A-Za-z0-9._-]+)\s*(\[[^\]]*\])?\s*(.*)$", text)
    if m and m[3] and m[3][0] in "<>=!~^(0123456789":
        rest = m[3].strip()
        r.add(
            key,
            f"'{text}' has a version in the name",
            f'write name: {m[1]}{m[2] or ""} and version: "{rest}"',
        )
        return None
    parsed = _split_requirement(text)
    if parsed is None or not is_valid(parsed[0]):
        r.add(
            key,
            f"'{text}' is not a valid distribution name",
            "names use letters, digits, '.', '-' and '_', and start and end with a letter or digit",
        )
        return None
    req_name, extras = parsed
    dist = import_name_hint(req_name)
    if dist is not None:
        r.add(key, f"'{req_name}' is the import name; the distribution is '{dist}'", f"write name: {dist}")
        return None
    return req_name, normalize(req_name), tuple(sorted(extras))


_PLAIN_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


def _split_requirement(text: str) -> tuple[str, set[str]] | None:
    """The name and extras of a PEP 508 requirement, or None when packaging cannot parse it."""
    if _PLAIN_NAME.fullmatch(text):  # a bare name, as packaging reads it (its parser is slow to import)
        return text, set()
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    return req.name, req.extras


def _version(r: Reader, value: Any, key: KeyPath) -> str | None:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = r.doc.texts.get(key, str(value))
        r.add(key, f"version {number} is a number, not a specifier", f'write version: "=={number}" (quoted)')
        return None
    text = r.string(value, key, allow_empty=True)
    if text is None:
        return None
    if ";" in text:
        r.add(
            key,
            f"environment markers are not allowed: '{text}'",
            "OS and Python belong in 'platforms' and 'python' (the request's or the package's)",
        )
        return None
    if _DIRECT_REF.search(text.strip()):
        r.add(
            key,
            f"direct references are not allowed: '{text}'",
            "the catalog only serves vetted files from its index; use a PEP 440 specifier",
        )
        return None
    spec, error, hint = parse_specifier(text)
    if spec is None:
        r.add(key, error, hint)
        return None
    return str(spec)


def _package(
    r: Reader,
    value: Any,
    key: KeyPath,
    platforms: tuple[OSName, ...],
    python: tuple[str, ...],
    config: Config | None,
) -> PackageSpec | None:
    if isinstance(value, str):
        r.add(
            key,
            f"package entries are mappings, not a string ('{value}')",
            f"write: - name: {value.split('=')[0].split('>')[0].split('<')[0].strip()}",
        )
        return None
    entry = r.mapping(value, key, PACKAGE_KEYS, f"packages[{key[-1]}]")
    name_hint = "add name: the distribution name as on the index, e.g. name: pandas"
    if not isinstance(value, dict) or not r.require(entry, key, "name", f"packages[{key[-1]}]", name_hint):
        return None
    got = _name(r, entry["name"], (*key, "name"))
    version = _version(r, entry.get("version"), (*key, "version"))
    pkg_platforms: tuple[OSName, ...] | None = None
    if entry.get("platforms") is not None:
        pkg_platforms = _platforms(r, entry["platforms"], (*key, "platforms"), OS_NAMES)
        for os_name in pkg_platforms:
            if platforms and os_name not in platforms:  # no platforms: the request's are wrong, reported
                r.add(
                    (*key, "platforms"),
                    f"platform '{os_name}' is not one of the request's platforms ({', '.join(platforms)})",
                    "add it to the request's 'platforms' too",
                )
    pkg_python: tuple[str, ...] | None = None
    if entry.get("python") is not None:
        pkg_python = _python(r, entry["python"], (*key, "python"), config)
        for i, py in enumerate(pkg_python):
            if python and py not in python:  # no python: the request's are wrong, reported
                where = (*key, "python", i) if isinstance(entry["python"], list) else (*key, "python")
                r.add(
                    where,
                    f"Python {py} is not one of the request's Python versions ({', '.join(python)})",
                    "add it to the request's 'python' too",
                )
    note = r.string(entry.get("note", ""), (*key, "note"), allow_empty=True) if "note" in entry else ""
    if got is None or version is None:
        return None
    name, normalized, extras = got
    return PackageSpec(
        name=name,
        normalized=normalized,
        extras=extras,
        specifier=version,
        platforms=pkg_platforms,
        python=pkg_python or None,
        note=note or "",
        line=r.doc.mark(key)[0],
    )


def _removal(r: Reader, value: Any, key: KeyPath) -> Removal | None:
    entry = r.mapping(value, key, REMOVE_KEYS, f"remove[{key[-1]}]")
    if not isinstance(value, dict):
        return None
    ok = r.require(entry, key, "name", f"remove[{key[-1]}]", "add name: the distribution to remove")
    if entry.get("reason") is None:
        r.add(
            key,
            f"missing required field 'reason' in remove[{key[-1]}]",
            "say why the version leaves the catalog (a CVE, end of life, replaced by ...)",
        )
        ok = False
    if not ok:
        return None
    got = _name(r, entry["name"], (*key, "name"))
    version = _version(r, entry.get("version"), (*key, "version"))
    reason = r.string(entry["reason"], (*key, "reason"))
    if got is None or version is None or reason is None:
        return None
    return Removal(name=got[0], normalized=got[1], specifier=version, reason=reason, line=r.doc.mark(key)[0])


def _duplicates(r: Reader, key: str, what: str, *, with_version: bool) -> None:
    """Entries whose names are equal after PEP 503 normalization (and, for removals, the same version).

    Two package entries may name the same project for different Pythons: each with its own ``python``
    and no version in common (a lock file that pins one version on 3.11 and another on 3.12)."""
    raw = r.doc.data.get(key) if isinstance(r.doc.data, dict) else None
    if not isinstance(raw, list):
        return
    seen: dict[tuple[str, str], list[int]] = {}
    for i, entry in enumerate(raw):
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)):
            continue
        m = re.match(r"^\s*([A-Za-z0-9._-]+)", entry["name"])
        if not m:
            continue
        ident = (normalize(m[1]), str(entry.get("version") or "") if with_version else "")
        earlier = seen.setdefault(ident, [])
        mine = None if with_version else _entry_pythons(entry)
        clash = next(
            (
                j
                for j in earlier
                if mine is None or (theirs := _entry_pythons(raw[j])) is None or mine & theirs
            ),
            None,
        )
        if clash is not None:
            line = r.doc.mark((key, clash, "name"))[0]
            hint = "merge the two entries into one"
            if not with_version:
                hint += " (or give each its own 'python:' versions, none in common)"
            r.add(
                (key, i, "name"),
                f"'{entry['name']}' is listed twice in {what} (both are '{ident[0]}'; first on line {line})",
                hint,
            )
        earlier.append(i)


def _entry_pythons(entry: dict[str, Any]) -> frozenset[str] | None:
    """The Python versions a raw package entry names (None: it names none, so it covers them all)."""
    value = entry.get("python")
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return frozenset(str(v) for v in items)
