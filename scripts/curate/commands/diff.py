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

from curate.diff import diff_catalog, render
from curate.errors import UsageError


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
    report = diff_catalog(root, base=args.base, env=env)
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
