"""Turn existing requirements files into a change request.

Reads requirements.txt / .in / constraints files (with -r/-c includes), Pipfile and Pipfile.lock,
pyproject.toml (PEP 621, PEP 735 dependency groups, Poetry, PDM), poetry.lock, uv.lock and
pylock.toml; the format is detected from the file name and content (--format overrides). Lock files
become exact == pins. Writes requests/DATE-SLUG.yaml (or -o FILE), which passes `curate check`, and
never overwrites a file. The request's own fields take the flags `curate new` takes, with the same
defaults; a missing --justification (or requester) is asked for when stdin is a terminal.

Every entry ends up in the request or in the skipped list (printed as path:line: entry: reason and
kept as comments at the end of the request): direct references (URLs, VCS, local paths, editables),
pip options, import names used as distribution names, entries whose markers never hold on the
request's targets, and everything in extras or groups that were not selected. sys_platform,
platform_system and os_name markers become per-package platforms, python_version and
python_full_version markers per-package python; a lock file's resolution forks (one version on 3.11,
another on 3.12) become one entry per fork; Pipfile's [requires] python_version sets the request's
python; other markers that do not always hold are dropped with a note. --strict exits 1 (and writes nothing) when anything was skipped. Never runs code from a file
and never uses the network.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from curate import authoring
from curate.authoring import RequestFields
from curate.commands._authoring import (
    Ask,
    add_request_arguments,
    complete,
    fields_from_args,
    refuse,
    save,
    terminal_ask,
)
from curate.config import load_config
from curate.errors import CurateError
from curate.importers import ImportResult, Options
from curate.importers.detect import FORMATS
from curate.importers.model import Format


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="requirements files to import")
    add_request_arguments(parser, title_help="the request's title (default: 'Import of FILE, ...')")
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
    options = Options(extras=frozenset(args.extra), groups=frozenset(args.group), develop=args.develop)
    fields, ask = fields_from_args(args), terminal_ask()
    return import_request(
        fields, args.files, options, ask, root=root, env=env, fmt=args.format, strict=args.strict
    )


def import_request(
    fields: RequestFields,
    files: Sequence[Path],
    options: Options | None = None,
    ask: Ask | None = None,
    *,
    root: Path,
    env: Mapping[str, str],
    fmt: Format | None = None,
    strict: bool = False,
) -> int:
    fields = complete(fields, root=root, env=env, ask=ask, verb="import", title=False)
    config = load_config(root)
    imported = authoring.import_request(
        files, fields, root=root, config=config, options=options or Options(), fmt=fmt
    )
    result = imported.result
    for skip in result.skips:
        print(skip.format(), file=sys.stderr)
    for pkg in result.packages:
        for note in pkg.notes:
            print(f"note: {pkg.name} ({', '.join(pkg.sources)}): {note}", file=sys.stderr)
    prepared = imported.prepared
    if prepared is None:
        raise CurateError(imported.nothing_imported())
    if prepared.problems:
        refuse(prepared)
    if strict and result.skips:
        print(
            f"{len(result.skips)} entr{'y was' if len(result.skips) == 1 else 'ies were'} skipped; "
            f"--strict: {prepared.shown} not written",
            file=sys.stderr,
        )
        return 1
    if save(prepared) is None:
        print(_summary("the request to standard output", result), file=sys.stderr)
    else:
        print(_summary(prepared.shown, result))
    return 0


def _summary(out: str, result: ImportResult) -> str:
    return f"wrote {out}: {len(result.packages)} package(s) from {len(result.files)} file(s)" + (
        f"; {len(result.skips)} skipped (listed above and at the end of the request)" if result.skips else ""
    )
