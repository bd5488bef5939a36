"""Show reviewers what a change does to the catalog.

Compares catalog/packages at REF (default: the merge base of HEAD with main, or HEAD when there is no
main) with the working tree, per project and version: added (new; asked for directly or pulled in by
which packages), already present (newly needed by a request, but already in the catalog), removed
(nobody needs it any more); per-OS counts; the new files and their total download size; and, when
`curate vet` has run, a summary of its findings.

--format text is coloured on a terminal (green added, blue present, red removed; NO_COLOR turns it
off); markdown is for a pull-request comment or $GITHUB_STEP_SUMMARY; json is for machines.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from curate import git
from curate.catalog import PACKAGES_DIR, Project, load_catalog
from curate.config import load_config
from curate.diff import compare, render
from curate.errors import CurateError, UsageError, ValidationError
from curate.names import NormalizedName, normalize
from curate.yamlio import loads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        metavar="REF",
        default=None,
        help="the git revision to compare with (default: the merge base with main)",
    )
    parser.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", help="output format (default: text)"
    )
    parser.add_argument("-o", "--output", type=Path, default=None, help="write to FILE instead of stdout")


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    base = args.base or git.fork_point(root, env=env)
    head = load_catalog(root)
    report = compare(
        read_catalog_at(root, base, env=env),
        head,
        base_ref=base,
        os_of_platform=_platform_oses(root),
    )
    colour = (
        args.output is None
        and args.format == "text"
        and sys.stdout.isatty()
        and not env.get("NO_COLOR")
        and env.get("TERM") != "dumb"
    )
    text = render(report, args.format, colour=colour)
    if args.output is not None:
        try:
            args.output.write_text(text, "utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
    return 0


def _platform_oses(root: Path) -> dict[str, str]:
    try:
        config = load_config(root)
    except CurateError:
        return {}
    return {p.name: p.os for p in config.platforms}


def read_catalog_at(root: Path, ref: str, *, env: Mapping[str, str]) -> dict[NormalizedName, Project]:
    """The catalog's projects as committed at ``ref``."""
    folder = PACKAGES_DIR.as_posix()
    out: dict[NormalizedName, Project] = {}
    for name, body in sorted(git.files_at(root, ref, folder, env=env).items()):
        if "/" in name or not name.endswith(".yaml"):
            continue
        display = f"{ref}:{folder}/{name}"
        doc, problems = loads(body, display)
        if doc is None:
            raise ValidationError(problems)
        try:
            project = Project.from_dict(doc.data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{display}: malformed catalog file ({exc!r})") from exc
        out[normalize(project.name)] = project
    return out
