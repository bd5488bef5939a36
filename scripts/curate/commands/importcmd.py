"""Turn existing requirements files into a change request.

Reads requirements.txt / .in / constraints files (with -r/-c includes), Pipfile and Pipfile.lock,
pyproject.toml (PEP 621, PEP 735 dependency groups, Poetry, PDM), poetry.lock, uv.lock and
pylock.toml; the format is detected from the file name and content (--format overrides). Lock files
become exact == pins. Writes requests/DATE-SLUG.yaml (or -o FILE), which passes `curate check`, and
never overwrites a file.

Every entry ends up in the request or in the skipped list (printed as path:line: entry: reason and
kept as comments at the end of the request): direct references (URLs, VCS, local paths, editables),
pip options, import names used as distribution names, entries whose markers never hold on the
request's targets, and everything in extras or groups that were not selected. sys_platform,
platform_system and os_name markers become per-package platforms; other markers are dropped with a
note. --strict exits 1 (and writes nothing) when anything was skipped. Never runs code from a file
and never uses the network.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from curate.authoring import default_requester, imported_draft, prepare, write
from curate.config import Config, load_config
from curate.errors import CurateError, UsageError, ValidationError, display_path
from curate.importers import ImportResult, Options, Selection, import_files
from curate.importers.detect import FORMATS
from curate.importers.model import Format
from curate.targets import OS_ALIASES, OS_NAMES, OSName
from curate.validate import did_you_mean


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="requirements files to import")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="the request to write, a directory to write it in, or - to print it (default: requests/DATE-SLUG.yaml)",
    )
    parser.add_argument("--title", help="the request's title (default: 'Import of FILE, ...')")
    parser.add_argument(
        "--justification",
        help="why the catalog should carry these packages (required; asked for on a terminal)",
    )
    parser.add_argument(
        "--requested-by",
        metavar="WHO",
        help="who asks (default: $GIT_AUTHOR_EMAIL, git config author.email or user.email, $EMAIL)",
    )
    parser.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS",
        help=f"a target OS ({', '.join(OS_NAMES)}); repeat for several (default: the catalog's)",
    )
    parser.add_argument(
        "--python", action="append", default=[], metavar="X.Y", help="a Python version; repeat for several"
    )
    parser.add_argument(
        "--extra", action="append", default=[], metavar="NAME", help="import an optional extra ('*' for all)"
    )
    parser.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="NAME",
        help="import a dependency group (PEP 735, Poetry, PDM, Pipfile category; '*' for all)",
    )
    parser.add_argument(
        "--develop",
        action="store_true",
        help="import development dependencies too (dev-packages, the dev group)",
    )
    parser.add_argument("--format", choices=FORMATS, help="the format of every FILE (default: detected)")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 and write nothing if anything is skipped"
    )


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    justification = args.justification
    if justification is None and sys.stdin.isatty() and sys.stdout.isatty():
        try:
            justification = (
                input("Justification (what the packages are for, who uses them): ").strip() or None
            )
        except EOFError:  # Ctrl-D at the prompt: the usual "needs a justification" error below
            print(file=sys.stderr)
    requested_by = args.requested_by or default_requester(root, env)
    return import_request(
        root=root,
        files=args.files,
        output=args.output,
        title=args.title,
        justification=justification,
        requested_by=requested_by,
        platforms=args.platform,
        python=args.python,
        extras=args.extra,
        groups=args.group,
        develop=args.develop,
        fmt=args.format,
        strict=args.strict,
        today=dt.date.today(),
    )


def import_request(
    *,
    root: Path,
    files: Sequence[Path],
    output: Path | None,
    title: str | None,
    justification: str | None,
    requested_by: str | None,
    platforms: Sequence[str] = (),
    python: Sequence[str] = (),
    extras: Sequence[str] = (),
    groups: Sequence[str] = (),
    develop: bool = False,
    fmt: Format | None = None,
    strict: bool = False,
    today: dt.date,
) -> int:
    if not justification or not justification.strip():
        raise UsageError(
            "a request needs a justification: pass --justification 'what the packages are for and who uses them'"
        )
    if not requested_by:
        raise UsageError("who is asking? pass --requested-by NAME-OR-EMAIL (or set git config user.email)")
    config = load_config(root)
    selection = Selection(
        platforms=_platforms(platforms, config),
        python=_python(python, config),
        catalog_platforms=config.platforms,
    )
    result = import_files(
        files,
        options=Options(extras=frozenset(extras), groups=frozenset(groups), develop=develop),
        selection=selection,
        display=display_path,
        fmt=fmt,
    )
    for skip in result.skips:
        print(skip.format(), file=sys.stderr)
    for pkg in result.packages:
        for note in pkg.notes:
            print(f"note: {pkg.name} ({', '.join(pkg.sources)}): {note}", file=sys.stderr)
    shown = [display_path(f) for f in files]
    if not result.packages:
        raise CurateError(
            f"nothing to import from {', '.join(shown)}: "
            + (
                (
                    "its only entry was skipped (listed above)"
                    if len(result.skips) == 1
                    else f"all {len(result.skips)} entries were skipped (listed above)"
                )
                if result.skips
                else "no requirements found"
            )
        )
    draft = imported_draft(
        result,
        title=title or _default_title(shown),
        requested_by=requested_by,
        justification=justification.strip(),
        platforms=selection.platforms,
        python=selection.python,
    )
    prepared = prepare(draft, root=root, config=config, day=today.isoformat(), output=output)
    if prepared.problems:
        print(f"not writing {prepared.shown}: the request would not pass curate check", file=sys.stderr)
        raise ValidationError(prepared.problems)
    if strict and result.skips:
        print(
            f"{len(result.skips)} entr{'y was' if len(result.skips) == 1 else 'ies were'} skipped; "
            f"--strict: {prepared.shown} not written",
            file=sys.stderr,
        )
        return 1
    if prepared.path is None:
        sys.stdout.write(prepared.text)
        print(_summary("the request to standard output", result), file=sys.stderr)
        return 0
    write(prepared)
    print(_summary(prepared.shown, result))
    return 0


def _summary(out: str, result: ImportResult) -> str:
    return f"wrote {out}: {len(result.packages)} package(s) from {len(result.files)} file(s)" + (
        f"; {len(result.skips)} skipped (listed above and at the end of the request)" if result.skips else ""
    )


def _platforms(given: Sequence[str], config: Config) -> tuple[OSName, ...]:
    if not given:
        return config.platforms_default
    out: list[OSName] = []
    for raw in given:
        for name in (p.strip() for p in raw.split(",") if p.strip()):
            os_name = name.lower() if name.lower() in OS_NAMES else OS_ALIASES.get(name.lower())
            if os_name is None or os_name not in OS_NAMES:
                hint = did_you_mean(name, OS_NAMES, OS_ALIASES) or f"choose from: {', '.join(OS_NAMES)}"
                raise UsageError(f"--platform {name}: unknown platform; {hint}")
            if os_name not in out:
                out.append(os_name)
    return tuple(o for o in OS_NAMES if o in out)


def _python(given: Sequence[str], config: Config) -> tuple[str, ...]:
    if not given:
        return config.python_default
    out: list[str] = []
    for raw in given:
        for v in (p.strip() for p in raw.split(",") if p.strip()):
            if v not in config.python_supported:
                raise UsageError(
                    f"--python {v}: not supported by this catalog (supported: {', '.join(config.python_supported)})"
                )
            if v not in out:
                out.append(v)
    return tuple(out)


def _default_title(files: Sequence[str]) -> str:
    names = ", ".join(Path(f).name for f in files)
    return f"Import of {names}" if len(names) <= 80 else f"Import of {len(files)} requirements files"
