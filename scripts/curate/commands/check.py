"""Validate change requests and the catalog config.

With no FILES, checks catalog/config.yaml and every requests/*.yaml. Reports every problem in every
file in one run as path:line:col: message, with a hint; exits 1 when there is any, 0 with a one-line
summary when everything is clean. Under GitHub Actions (GITHUB_ACTIONS=true) each problem is also
printed as an ::error annotation on the file's line. Never modifies a file and never uses the network.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from curate.checking import check_files
from curate.errors import Reporter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILES",
        help="request files or directories of them (or the config) to check",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing when everything is clean")


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    return check_requests(root=root, files=args.files, env=env, quiet=args.quiet)


def check_requests(*, root: Path, files: Sequence[Path], env: Mapping[str, str], quiet: bool = False) -> int:
    result = check_files(root, list(files))
    if result.problems:
        reporter = Reporter(env)
        reporter.problems(result.problems)
        n_files = len({p.path for p in result.problems})
        reporter.text(f"{len(result.problems)} problem(s) in {n_files} of {result.checked} file(s)")
        return 1
    if not quiet:
        print(f"checked {result.checked} file(s): {result.requests} request(s), all valid")
    return 0
