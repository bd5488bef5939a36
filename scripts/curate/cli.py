"""The ``curate`` command line: one module per verb under :mod:`curate.commands`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from curate import __version__
from curate.errors import CurateError, Reporter

# verb -> (module under curate.commands, one-line help). Each module defines
# ``add_arguments(parser)`` and ``run(args, root, env) -> int``.
VERBS: dict[str, tuple[str, str]] = {
    "check": ("check", "validate change requests and the catalog config"),
    "lock": ("lock", "resolve every request for every target and write the locked catalog"),
    "diff": ("diff", "show reviewers what a change does to the catalog"),
    "fetch": ("fetch", "download every catalog file into the verified cache"),
    "vet": ("vet", "vet every catalog version and record the findings"),
    "wheels": ("wheels", "build wheels from vetted sdists where no upstream wheel serves a target"),
    "env": ("env", "write a request's environment for one target: pylock.toml, requirements.txt or SBOM"),
    "build": ("build", "build public/: the package index and the site, swapped in atomically"),
    "publish": ("publish", "publish public/ to GitHub Pages, an S3 bucket or a repository manager"),
    "smoke": ("smoke", "install and import each request's locked set from the built index, per target"),
    "serve": ("serve", "serve public/ locally with content negotiation (previews and tests)"),
    "nginx-config": ("nginx_config", "write an nginx server block that serves public/"),
    "new": ("new", "write a new change request"),
    "schema": ("schema", "print the JSON Schema of change requests"),
    "import": ("importcmd", "turn requirements files (pip, Pipfile, pyproject, lock files) into a request"),
    "ci": ("ci", "run the GitHub workflows' steps locally (ci pr: the pull-request checks)"),
}

DESCRIPTION = """\
curate: a GitOps curated Python package catalog.

Customers ask for packages with change requests (requests/*.yaml); curate validates them, resolves
them for every target OS and Python version, vets every file, and builds a static package index
and a browsable site from the vetted catalog (catalog/).
"""


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Build the parser; only the verb named in ``argv`` is imported (start-up stays fast)."""
    chosen = next((a for a in argv if a in VERBS), None)
    parser = argparse.ArgumentParser(
        prog="curate",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'curate VERB --help' for the options of one verb.",
    )
    parser.add_argument("--version", action="version", version=f"curate {__version__}")
    parser.add_argument(
        "-C",
        "--root",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="the catalog repository (default: the current directory)",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    for verb, (module_name, help_text) in VERBS.items():
        if verb != chosen:
            sub.add_parser(verb, help=help_text)
            continue
        module = importlib.import_module(f"curate.commands.{module_name}")
        doc = (module.__doc__ or help_text).strip()
        p = sub.add_parser(
            verb, help=help_text, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(argv)
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    env = dict(os.environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    try:
        code: int = args._module.run(args, root=args.root, env=env)
    except CurateError as exc:
        # every problem on its file and line (also as an annotation in CI), credentials redacted
        Reporter(env).failure(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the machine's, not the input's: a full disk, a permission, a lost mount
        where = f"{os.fsdecode(exc.filename)}: " if exc.filename is not None else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
