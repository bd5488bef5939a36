"""Writing a change request: the one way `curate new` and `curate import` make a request file.

Both verbs gather the same :class:`RequestFields` (from flags and prompts) and packages (typed in, or
read from requirements files by :mod:`curate.importers`) and hand them here: who asks by default
(:func:`default_requester`), what the file is called (:func:`file_name`, with the one slug rule of
:func:`curate.requests.slugify`), how it looks (:func:`render`, the one YAML renderer), the checks of
`curate check` on the text (:func:`prepare`), and writing it without ever replacing a file
(:func:`write`).

A field added to the request model (a per-package ``python`` list, say) is a field of
:class:`DraftPackage` or :class:`Draft`, one line of :func:`render`, and, when a flag or an importer
fills it, a field of :class:`RequestFields` or one line of :func:`_imported_package`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, FoldedScalarString, LiteralScalarString

from curate import git
from curate.atomic import atomic_writer
from curate.config import CONFIG_PATH, Config, read_config
from curate.errors import CurateError, Problem, UsageError, ValidationError, display_path
from curate.importers import ImportResult, Options, Selection, import_files
from curate.importers.merge import Package
from curate.importers.model import Format
from curate.requests import (
    PYTHON_VERSION,
    REQUESTS_DIR,
    SCHEMA_URL_PATH,
    SLUG,
    check_filename,
    parse_request,
    slugify,
)
from curate.targets import OS_ALIASES, OS_NAMES, OSName
from curate.validate import did_you_mean
from curate.yamlio import REQUEST_LIMIT, dumps, loads

WRAP = 100  # long text is folded to lines of at most this many characters


# -- records ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RequestFields:
    """The request's own fields and where it goes, as given (flags, answers); empty: not given."""

    title: str | None = None  # None: the verb's default title (curate import: 'Import of FILE, ...')
    requested_by: str | None = None
    justification: str | None = None
    platforms: tuple[str, ...] = ()  # names or aliases, comma-separated or not; (): the catalog's default
    python: tuple[str, ...] = ()  # (): the catalog's default versions
    compliance: tuple[str, ...] = ()
    slug: str | None = None  # None: the title's
    date: str | None = None  # None: today
    output: Path | None = None  # None: requests/; a directory; a file; '-': standard output


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class DraftPackage:
    """One entry of ``packages:`` as it will be written, with the comments that go with it."""

    name: str  # the distribution, with extras: uvicorn[standard]
    version: str = ""  # a PEP 440 specifier set; "" = the latest release
    platforms: tuple[str, ...] | None = None  # None = the request's platforms
    python: tuple[str, ...] | None = None  # None = the request's Python versions
    comment: str = ""  # after the name, on its line: where the entry came from
    notes: tuple[str, ...] = ()  # comment lines above the entry


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Draft:
    """A request before it is written: its fields in the order of the file, and its comments."""

    title: str
    requested_by: str
    justification: str
    platforms: tuple[str, ...]
    python: tuple[str, ...] = ()  # () = the catalog's default versions (no key written)
    compliance: tuple[str, ...] = ()
    packages: tuple[DraftPackage, ...]
    header: tuple[str, ...] = ()  # comment lines under the schema line
    footer: tuple[str, ...] = ()  # comment lines after the request


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Prepared:
    """A request rendered and checked, and where it goes; nothing is written yet."""

    path: Path | None  # None: standard output
    shown: str  # the file as messages name it (for standard output: where it would be saved)
    text: str
    problems: tuple[Problem, ...]  # what `curate check` would say about it; () = it passes


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Imported:
    """What `curate import` read, and the request made of it (None: nothing could be imported)."""

    result: ImportResult
    prepared: Prepared | None
    shown: tuple[str, ...]  # the files named on the command line, as displayed

    def nothing_imported(self) -> str:
        """Why there is no request, for when :attr:`prepared` is None."""
        skips = self.result.skips
        why = (
            "no requirements found"
            if not skips
            else "its only entry was skipped (listed above)"
            if len(skips) == 1
            else f"all {len(skips)} entries were skipped (listed above)"
        )
        return f"nothing to import from {', '.join(self.shown)}: {why}"


# -- defaults and flag values -------------------------------------------------------------------------


def default_requester(root: Path, env: Mapping[str, str]) -> str | None:
    """Who asks when --requested-by is not given: the e-mail address git would commit the request with.

    Git's own order: ``$GIT_AUTHOR_EMAIL``, then ``git config author.email`` and ``user.email`` (of the
    catalog repository at ``root``), then ``$EMAIL``. None when none of them is set (git's guess from
    the user and host names is not an address anyone reads).
    """
    if env.get("GIT_AUTHOR_EMAIL", "").strip():
        return env["GIT_AUTHOR_EMAIL"].strip()
    configured = git.config_values(root, r"^(author|user)\.email$", env=env)
    for key in ("author.email", "user.email"):
        if configured.get(key):
            return configured[key]
    return env.get("EMAIL", "").strip() or None


def catalog_config(root: Path) -> Config | None:
    """The catalog's config for `curate new`, which also works without one (or with a broken one,
    that `curate check` reports): None then, and the request model's defaults apply."""
    path = root / CONFIG_PATH
    if not path.exists():
        return None
    config, _problems = read_config(path, display_path(path))
    return config


def split_values(values: Sequence[str]) -> list[str]:
    """Repeated and comma-separated flag values as one list: ``['linux,macos', 'windows']``."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def parse_platforms(values: Sequence[str], config: Config | None) -> tuple[OSName, ...]:
    """--platform values (names or aliases such as ``win``) -> the request's platforms, in the catalog's
    order; none given: the catalog's default (linux and windows without a config)."""
    if not split_values(values):
        return config.platforms_default if config else ("linux", "windows")
    found: set[str] = set()
    for name in split_values(values):
        os_name = name.lower() if name.lower() in OS_NAMES else OS_ALIASES.get(name.lower())
        if os_name is None or os_name not in OS_NAMES:
            hint = did_you_mean(name, OS_NAMES, OS_ALIASES) or f"choose from: {', '.join(OS_NAMES)}"
            raise UsageError(f"--platform {name}: unknown platform; {hint}")
        found.add(os_name)
    return tuple(o for o in OS_NAMES if o in found)


def parse_python(values: Sequence[str], config: Config | None) -> tuple[str, ...]:
    """--python values -> the request's Python versions, each one the catalog supports; none given:
    the catalog's default versions (none without a config: the file then leaves the key out)."""
    out: list[str] = []
    for version in split_values(values):
        if config is not None and version not in config.python_supported:
            supported = ", ".join(config.python_supported)
            raise UsageError(f"--python {version}: not supported by this catalog (supported: {supported})")
        if config is None and not PYTHON_VERSION.fullmatch(version):
            raise UsageError(f"--python {version}: not a Python version like 3.12")
        if version not in out:
            out.append(version)
    return tuple(out) or (config.python_default if config else ())


_PACKAGE = re.compile(r"^\s*(?P<name>[A-Za-z0-9._-]+\s*(\[[^\]]*\])?)\s*(?P<version>.*?)\s*$")


def package_from_text(text: str) -> DraftPackage:
    """``'pandas>=2.2'`` (a --package value) -> name ``pandas``, version ``>=2.2``; the checks judge
    what is left (``'numpy 1.2.3'`` keeps ``1.2.3`` as its version, for check to refuse with a hint)."""
    m = _PACKAGE.match(text)
    if m is None:
        return DraftPackage(name=text.strip())
    return DraftPackage(name=re.sub(r"\s+", "", m["name"]), version=m["version"])


# -- naming, checking, writing ------------------------------------------------------------------------


def request_destination(output: Path | None, root: Path, name: str) -> Path | None:
    """Where ``-o`` puts a new request file called ``name``: requests/NAME without ``-o``, NAME in a
    directory, the path itself otherwise; None for ``-`` (standard output)."""
    if output is None:
        return root / REQUESTS_DIR / name
    if str(output) == "-":
        return None
    return output / name if output.is_dir() else output


def file_name(*, title: str, day: str, slug: str | None = None) -> str:
    """``<day>-<slug>.yaml``: the slug given (``--slug``, checked) or the title's (:func:`slugify`)."""
    if slug is None:
        slug = slugify(title)
    elif not SLUG.fullmatch(slug):
        raise UsageError(f"--slug '{slug}' must match [a-z0-9-]+ (lower-case letters, digits and '-')")
    return f"{day}-{slug}.yaml"


def prepare(
    fields: RequestFields,
    packages: Sequence[DraftPackage],
    *,
    root: Path,
    config: Config | None,
    header: Sequence[str] = (),
    footer: Sequence[str] = (),
) -> Prepared:
    """The request for the catalog at ``root``, rendered for where it goes and checked as `curate check`
    would check the file; nothing is written. ``fields`` must hold a title, a requester and a
    justification (the verbs ask for them); unknown platforms and Python versions raise UsageError."""
    title, requested_by, justification = fields.title, fields.requested_by, fields.justification
    if not (title and requested_by and justification):
        raise ValueError("a request needs a title, a requester and a justification")
    draft = Draft(
        title=title,
        requested_by=requested_by,
        justification=justification.strip(),
        platforms=parse_platforms(fields.platforms, config),
        python=parse_python(fields.python, config),
        compliance=fields.compliance,
        packages=tuple(packages),
        header=tuple(header),
        footer=tuple(footer),
    )
    name = file_name(title=title, day=fields.date or dt.date.today().isoformat(), slug=fields.slug)
    path = request_destination(fields.output, root, name)
    target = path if path is not None else root / REQUESTS_DIR / name
    schema_ref = Path(os.path.relpath((root / SCHEMA_URL_PATH).resolve(), target.parent.resolve()))
    text = render(draft, schema_ref=schema_ref.as_posix())
    shown = display_path(target)
    return Prepared(path=path, shown=shown, text=text, problems=tuple(check_text(text, shown, config)))


def check_text(text: str, shown: str, config: Config | None) -> list[Problem]:
    """The checks `curate check` runs on the request file ``shown``, on text that is not written yet."""
    filename = Path(shown).name
    problems = check_filename(Path(filename), shown)
    doc, load_problems = loads(text.encode("utf-8"), shown, limit=REQUEST_LIMIT)
    if doc is None:
        return problems + load_problems
    _request, request_problems = parse_request(doc, config, filename=filename)
    return problems + load_problems + request_problems


def write(prepared: Prepared) -> Path:
    """Write a prepared request that passed the checks: atomically, and never over an existing file.

    Raises ValidationError when it did not pass, CurateError when the file exists (or appears while it
    is written); nothing is left half-written either way.
    """
    if prepared.problems:
        raise ValidationError(prepared.problems)
    path = prepared.path
    if path is None:
        raise ValueError("a request for standard output is printed, not written")
    if path.exists():
        raise _exists(prepared.shown)
    with atomic_writer(path) as fh:
        fh.write(prepared.text)
        if path.exists():
            raise _exists(prepared.shown)
    return path


def _exists(shown: str) -> CurateError:
    return CurateError(
        f"{shown} already exists; a request is never overwritten (choose another name with --slug or -o)"
    )


# -- curate import ------------------------------------------------------------------------------------


def import_request(
    files: Sequence[Path],
    fields: RequestFields,
    *,
    root: Path,
    config: Config,
    options: Options,
    fmt: Format | None = None,
) -> Imported:
    """Read requirements files into a request for the catalog at ``root``, rendered and checked: every
    package with the lines it came from, the skipped entries as comments at the end.

    Raises ValidationError for unreadable files and contradictions, UsageError for unknown platforms
    or Python versions. The title defaults to ``Import of <file names>``.
    """
    selection = Selection(
        platforms=parse_platforms(fields.platforms, config),
        python=parse_python(fields.python, config),
        catalog_platforms=config.platforms,
    )
    result = import_files(files, options=options, selection=selection, display=display_path, fmt=fmt)
    required = tuple(v for v in result.python if v in config.python_supported)
    if not fields.python and required and required != selection.python:
        # the files say which Python (Pipfile's [requires]): the request is for it, markers judged on it
        fields = dataclasses.replace(fields, python=required)
        selection = dataclasses.replace(selection, python=required)
        result = import_files(files, options=options, selection=selection, display=display_path, fmt=fmt)
    elif not fields.python and result.python and not required:
        from curate.importers.model import Skip

        unsupported = Skip(
            path=result.files[0],
            line=0,
            entry=f"python_version = {', '.join(result.python)}",
            reason=f"not a Python version this catalog supports ({', '.join(config.python_supported)}); "
            "the request takes the catalog's default",
        )
        result = dataclasses.replace(result, skips=(*result.skips, unsupported))
    shown = tuple(display_path(f) for f in files)
    if not result.packages:
        return Imported(result=result, prepared=None, shown=shown)
    footer: tuple[str, ...] = ()
    if result.skips:
        footer = (
            f"Skipped ({len(result.skips)}): not part of this request",
            *(f"  {s.format()}" for s in result.skips),
        )
    prepared = prepare(
        dataclasses.replace(fields, title=fields.title or _import_title(shown)),
        [_imported_package(p) for p in result.packages],
        root=root,
        config=config,
        header=[f"Imported by `curate import` from {', '.join(result.files)}."],
        footer=footer,
    )
    return Imported(result=result, prepared=prepared, shown=shown)


def _import_title(files: Sequence[str]) -> str:
    names = ", ".join(Path(f).name for f in files)
    return f"Import of {names}" if len(names) <= 80 else f"Import of {len(files)} requirements files"


def _imported_package(pkg: Package) -> DraftPackage:
    origin = [", ".join(pkg.spellings)] if pkg.spellings else []
    origin.append(", ".join(pkg.sources))
    if pkg.via:
        origin.append("via " + ", ".join(pkg.via))
    return DraftPackage(
        name=pkg.name + (f"[{','.join(pkg.extras)}]" if pkg.extras else ""),
        version=pkg.specifier,
        platforms=pkg.platforms,
        python=pkg.python,
        comment="; ".join(origin),
        notes=pkg.notes,
    )


# -- the renderer -------------------------------------------------------------------------------------


def render(draft: Draft, *, schema_ref: str) -> str:
    """The request as YAML that reads as if written by hand: short lists inline, versions quoted, long
    text folded, the schema line first so that editors check the file while it is edited."""
    top = CommentedMap()
    top["title"] = _text(draft.title)
    top["requested_by"] = draft.requested_by
    top["justification"] = _text(draft.justification)
    top["platforms"] = _flow(draft.platforms)
    if draft.python:
        top["python"] = _flow(draft.python, quote=True)
    if draft.compliance:
        top["compliance"] = _flow(draft.compliance)
    packages = CommentedSeq()
    for i, pkg in enumerate(draft.packages):
        item = CommentedMap()
        item["name"] = pkg.name
        if pkg.version:
            item["version"] = DoubleQuotedScalarString(pkg.version)
        if pkg.platforms is not None:
            item["platforms"] = _flow(pkg.platforms)
        if pkg.python is not None:
            item["python"] = _flow(pkg.python, quote=True)
        if pkg.comment:
            item.yaml_add_eol_comment(_one_line(pkg.comment), "name")
        packages.append(item)
        if pkg.notes:
            packages.yaml_set_comment_before_after_key(i, before="\n".join(pkg.notes), indent=2)
    top["packages"] = packages
    header = "".join(f"{line}\n" for line in (f"yaml-language-server: $schema={schema_ref}", *draft.header))
    text = dumps(top, "".join(f"# {line}" for line in header.splitlines(keepends=True)))
    if draft.footer:
        text += "\n" + "".join(f"# {_one_line(line)}\n" for line in draft.footer)
    return text


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def _flow(items: Sequence[str], *, quote: bool = False) -> CommentedSeq:
    seq = CommentedSeq([DoubleQuotedScalarString(i) if quote else i for i in items])
    seq.fa.set_flow_style()
    return seq


def _text(value: str) -> str:
    """Long text as a folded block (wrapped at spaces), multi-line text as a literal block."""
    if "\n" in value.strip():
        literal: str = LiteralScalarString(value.strip() + "\n")
        return literal
    if len(value) <= WRAP - 20:
        return value
    folded = FoldedScalarString(value)
    positions: list[int] = []
    start = 0
    while len(value) - start > WRAP:
        cut = value.rfind(" ", start, start + WRAP)
        if cut <= start or value[cut - 1] == " " or value[cut + 1 : cut + 2] == " ":
            break
        positions.append(cut)
        start = cut + 1
    folded.fold_pos = positions
    text: str = folded
    return text
