"""Writing a change request: the one way `curate new` and `curate import` make a request file.

Both verbs gather the same fields (from flags, prompts or requirements files) and hand them here:
who asks by default, what the file is called, how it is rendered, and the checks of `curate check` run
on the text before anything is written.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, FoldedScalarString, LiteralScalarString

from curate.config import Config
from curate.errors import CurateError, Problem, UsageError, ValidationError, display_path
from curate.importers import ImportResult
from curate.importers.merge import Package
from curate.requests import (
    REQUESTS_DIR,
    SCHEMA_URL_PATH,
    SLUG,
    check_filename,
    parse_request,
    slugify,
)
from curate.yamlio import atomic_writer, dumps, loads

WRAP = 100  # long text is folded to lines of at most this many characters


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class DraftPackage:
    """One entry of ``packages:`` as it will be written, with the comments that go with it."""

    name: str  # the distribution, with extras: uvicorn[standard]
    version: str = ""  # a PEP 440 specifier set; "" = the latest release
    platforms: tuple[str, ...] | None = None  # None = the request's platforms
    comment: str = ""  # after the name, on its line: where the entry came from
    notes: tuple[str, ...] = ()  # comment lines above the entry


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Draft:
    """A request before it is written: its fields in the order of the file, and its comments.

    A field the request model gains (a key of ``REQUEST_KEYS`` or ``PACKAGE_KEYS``) is a field here
    and one line of :func:`render`.
    """

    title: str
    requested_by: str
    justification: str
    platforms: tuple[str, ...]
    python: tuple[str, ...] = ()  # () = the catalog's default versions (no key written)
    compliance: tuple[str, ...] = ()
    packages: tuple[DraftPackage, ...]
    header: tuple[str, ...] = ()  # comment lines under the schema line
    footer: tuple[str, ...] = ()  # comment lines after the request


_PACKAGE = re.compile(r"^\s*(?P<name>[A-Za-z0-9._-]+\s*(\[[^\]]*\])?)\s*(?P<version>.*?)\s*$")


def package_from_text(text: str) -> DraftPackage:
    """``'pandas>=2.2'`` (a --package value) -> name ``pandas``, version ``>=2.2``; the checks judge
    what is left (``'numpy 1.2.3'`` keeps ``1.2.3`` as its version, for check to refuse with a hint)."""
    m = _PACKAGE.match(text)
    if m is None:
        return DraftPackage(name=text.strip())
    return DraftPackage(name=re.sub(r"\s+", "", m["name"]), version=m["version"])


def imported_draft(
    result: ImportResult,
    *,
    title: str,
    requested_by: str,
    justification: str,
    platforms: Sequence[str],
    python: Sequence[str],
) -> Draft:
    """The request `curate import` writes: every package with the lines it came from, the skipped
    entries as comments at the end."""
    footer: tuple[str, ...] = ()
    if result.skips:
        footer = (
            f"Skipped ({len(result.skips)}): not part of this request",
            *(f"  {s.format()}" for s in result.skips),
        )
    return Draft(
        title=title,
        requested_by=requested_by,
        justification=justification,
        platforms=tuple(platforms),
        python=tuple(python),
        packages=tuple(_imported_package(p) for p in result.packages),
        header=(f"Imported by `curate import` from {', '.join(result.files)}.",),
        footer=footer,
    )


def _imported_package(pkg: Package) -> DraftPackage:
    origin = [", ".join(pkg.spellings)] if pkg.spellings else []
    origin.append(", ".join(pkg.sources))
    if pkg.via:
        origin.append("via " + ", ".join(pkg.via))
    return DraftPackage(
        name=pkg.name + (f"[{','.join(pkg.extras)}]" if pkg.extras else ""),
        version=pkg.specifier,
        platforms=pkg.platforms,
        comment="; ".join(origin),
        notes=pkg.notes,
    )


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


def default_requester(root: Path, env: Mapping[str, str]) -> str | None:
    """Who asks when --requested-by is not given: the e-mail address git would commit the request with.

    Git's own order: ``$GIT_AUTHOR_EMAIL``, then ``git config author.email`` and ``user.email`` (of the
    catalog repository at ``root``), then ``$EMAIL``. None when none of them is set (git's guess from
    the user and host names is not an address anyone reads).
    """
    if env.get("GIT_AUTHOR_EMAIL", "").strip():
        return env["GIT_AUTHOR_EMAIL"].strip()
    configured = _git_config_emails(root, env)
    for key in ("author.email", "user.email"):
        if configured.get(key):
            return configured[key]
    return env.get("EMAIL", "").strip() or None


def _git_config_emails(root: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``author.email`` and ``user.email`` as git config reads them at ``root`` (the last one set wins)."""
    try:
        out = subprocess.run(
            ["git", "config", "--get-regexp", r"^(author|user)\.email$"],
            cwd=root,
            env={**env, "GIT_TERMINAL_PROMPT": "0"},
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[str, str] = {}
    for line in out.stdout.splitlines() if out.returncode == 0 else []:
        key, _, value = line.partition(" ")
        if value.strip():
            found[key.lower()] = value.strip()
    return found


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Prepared:
    """A request rendered and checked, and where it goes; nothing is written yet."""

    path: Path | None  # None: standard output
    shown: str  # the file as messages name it (for standard output: where it would be saved)
    text: str
    problems: tuple[Problem, ...]  # what `curate check` would say about it; () = it passes


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
    draft: Draft,
    *,
    root: Path,
    config: Config | None,
    day: str,
    slug: str | None = None,
    output: Path | None = None,
) -> Prepared:
    """Render ``draft`` for its destination and run the checks of `curate check` on the text."""
    name = file_name(title=draft.title, day=day, slug=slug)
    path = request_destination(output, root, name)
    target = path if path is not None else root / REQUESTS_DIR / name
    schema_ref = os.path.relpath((root / SCHEMA_URL_PATH).resolve(), target.parent.resolve())
    text = render(draft, schema_ref=Path(schema_ref).as_posix())
    shown = display_path(target)
    return Prepared(
        path=path, shown=shown, text=text, problems=tuple(check_text(text, shown, target.name, config))
    )


def check_text(text: str, shown: str, filename: str, config: Config | None) -> list[Problem]:
    """The checks `curate check` runs on a request file, on text that is not written yet."""
    problems = check_filename(Path(filename), shown)
    doc, load_problems = loads(text.encode("utf-8"), shown)
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
        f"{shown} already exists; a request is never overwritten (choose another name with -o)"
    )
