"""Write a new change request, requests/<today>-<slug>.yaml, from flags or by asking.

Every --package is a distribution with an optional PEP 440 specifier ('pandas>=2.2', 'httpx',
'uvicorn[standard]~=0.30'); repeat the flag for more. Values not given on the command line are asked
for when stdin is a terminal (and an answer that would not pass `curate check` is asked for again);
otherwise a missing required value is an error naming its flag.
--requested-by defaults to the address git would commit with ($GIT_AUTHOR_EMAIL, git config
author.email or user.email, $EMAIL); --platform and --python default to the catalog's defaults
(catalog/config.yaml).

The request is validated with the same code as `curate check` before anything is written; an invalid
request is refused with its problems. An existing file is never overwritten. The first line points
editors at the shipped JSON Schema; the rest is laid out as `curate import` lays out a request (short
lists inline, versions quoted, long text folded).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from curate.authoring import Draft, default_requester, package_from_text, prepare, write
from curate.config import CONFIG_PATH, Config, read_config
from curate.errors import CurateError, UsageError, ValidationError, display_path
from curate.requests import (
    SLUG_MAX,
)
from curate.targets import OS_NAMES

Ask = Callable[[str], str]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--package",
        "-p",
        action="append",
        default=[],
        metavar="REQ",
        help="a distribution and optional specifier, e.g. 'pandas>=2.2' (repeatable)",
    )
    parser.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS",
        help=f"{', '.join(OS_NAMES)} (repeatable or comma-separated; default: the catalog's default)",
    )
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="X.Y",
        help="a Python version (repeatable or comma-separated; default: the catalog's default)",
    )
    parser.add_argument("--title", help="one line saying what the request is for")
    parser.add_argument(
        "--requested-by",
        metavar="WHO",
        help="who asks (default: $GIT_AUTHOR_EMAIL, git config author.email or user.email, $EMAIL)",
    )
    parser.add_argument(
        "--justification", help="why the catalog should carry these packages (20+ characters)"
    )
    parser.add_argument(
        "--compliance",
        action="append",
        default=[],
        metavar="TAG",
        help="a compliance need or tag (repeatable)",
    )
    parser.add_argument(
        "--slug",
        help=f"the file name's slug, [a-z0-9-]+ (default: the title's, at most {SLUG_MAX} characters)",
    )
    parser.add_argument("--date", help="the file name's date, YYYY-MM-DD (default: today)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="PATH",
        help="write here instead of requests/<date>-<slug>.yaml (a directory: <date>-<slug>.yaml in it; '-': print it)",
    )


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    interactive = sys.stdin.isatty()
    path = new_request(
        root=root,
        packages=args.package,
        platforms=_split(args.platform),
        python=_split(args.python),
        title=args.title,
        requested_by=args.requested_by,
        justification=args.justification,
        compliance=args.compliance,
        slug=args.slug,
        date=args.date,
        output=args.output,
        ask=_ask if interactive else None,
        env=env,
    )
    print(f"wrote {display_path(path)}; check it with: curate check {display_path(path)}")
    return 0


def _ask(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:  # Ctrl-D at a prompt
        print(file=sys.stderr)
        raise CurateError("no answer (end of input); nothing was written") from None


def _split(values: Sequence[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _config(root: Path) -> Config | None:
    path = root / CONFIG_PATH
    if not path.exists():
        return None
    config, _problems = read_config(path, display_path(path))
    return config


def new_request(
    *,
    root: Path,
    packages: Sequence[str],
    title: str | None,
    justification: str | None,
    requested_by: str | None = None,
    platforms: Sequence[str] = (),
    python: Sequence[str] = (),
    compliance: Sequence[str] = (),
    slug: str | None = None,
    date: str | None = None,
    output: Path | None = None,
    ask: Ask | None = None,
    env: Mapping[str, str],
) -> Path:
    """Validate and write a new request; return its path. Raises CurateError subclasses."""
    config = _config(root)
    default_platforms = list(config.platforms_default) if config else ["linux", "windows"]
    default_python = list(config.python_default) if config else []
    requested_by = requested_by or default_requester(root, env)

    def need(value: str | None, flag: str, prompt: str, default: str | None = None) -> str:
        if value:
            return value
        if ask is None:
            if default:
                return default
            raise UsageError(f"{flag} is required (stdin is not a terminal, so curate new cannot ask)")
        suffix = f" [{default}]" if default else ""
        while True:
            answer = ask(f"{prompt}{suffix}: ").strip() or (default or "")
            if answer:
                return answer
            print(f"  {flag.lstrip('-')} is required", file=sys.stderr)

    title = need(title, "--title", "Title (what is the request for?)")
    requested_by = need(requested_by, "--requested-by", "Requested by (e-mail or team)")
    justification = need(
        justification, "--justification", "Justification (what the packages are for, who uses them)"
    )
    pkgs = list(packages)
    if not pkgs:
        if ask is None:
            raise UsageError("--package is required at least once, e.g. --package 'pandas>=2.2'")
        print(
            "Packages, one per line as NAME[SPECIFIER] (e.g. pandas>=2.2); an empty line ends:",
            file=sys.stderr,
        )
        while True:
            line = ask("  package: ").strip()
            if not line:
                if pkgs:
                    break
                print("  at least one package is required", file=sys.stderr)
                continue
            pkgs.append(line)
    if not platforms and ask is not None:
        platforms = _split([need(None, "--platform", "Platforms", ", ".join(default_platforms))])
    if not python and ask is not None and default_python:
        python = _split([need(None, "--python", "Python versions", ", ".join(default_python))])
    platforms = list(platforms) or default_platforms
    python = list(python) or default_python

    day = date or dt.date.today().isoformat()
    while True:
        draft = Draft(
            title=title,
            requested_by=requested_by,
            justification=justification,
            platforms=tuple(platforms),
            python=tuple(python),
            compliance=tuple(compliance),
            packages=tuple(package_from_text(p) for p in pkgs),
        )
        prepared = prepare(draft, root=root, config=config, day=day, slug=slug, output=output)
        if not prepared.problems:
            break
        fields = [_field(p.key) for p in prepared.problems]
        if ask is None or not all(f is not None for f in fields):
            print(f"not writing {prepared.shown}: the request would not pass curate check", file=sys.stderr)
            raise ValidationError(prepared.problems)
        # on a terminal, ask again for exactly what is wrong instead of throwing the answers away
        for problem in prepared.problems:
            print(f"  {problem.message}" + (f" ({problem.hint})" if problem.hint else ""), file=sys.stderr)
        wrong = set(fields)
        if "title" in wrong:
            title = need(None, "--title", "Title (what is the request for?)")
        if "requested_by" in wrong:
            requested_by = need(None, "--requested-by", "Requested by (e-mail or team)")
        if "justification" in wrong:
            justification = need(
                None, "--justification", "Justification (what the packages are for, who uses them)"
            )
        if "platforms" in wrong:
            platforms = _split([need(None, "--platform", "Platforms", ", ".join(default_platforms))])
        if "python" in wrong and default_python:
            python = _split([need(None, "--python", "Python versions", ", ".join(default_python))])
        bad = sorted({int(f[1]) for f in fields if isinstance(f, tuple)})
        for i in bad:
            pkgs[i] = ask(f"  replace package '{pkgs[i]}' with (empty: drop it): ").strip()
        pkgs = [p for p in pkgs if p]
        while not pkgs:
            pkgs = [line for line in [ask("  package: ").strip()] if line]

    if prepared.path is None:
        sys.stdout.write(prepared.text)
        return Path("-")
    return write(prepared)


_ASKED = ("title", "requested_by", "justification", "platforms", "python")


def _field(key: str) -> str | tuple[str, str] | None:
    """Which answer a problem's key path belongs to: a field name, ("packages", index), or None."""
    m = re.match(r"^packages\[(\d+)\]", key)
    if m:
        return ("packages", m[1])
    head = re.match(r"^[a-z_]+", key)
    return head[0] if head and head[0] in _ASKED else None
