"""Flags, prompts and printing shared by the verbs that write a request: `curate new`, `curate import`.

Not a verb. The work (defaults, the file name, rendering, the checks, writing) is done by
:mod:`curate.authoring`; this module declares the flags both verbs take, asks on a terminal, and
prints or saves the request.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn

from curate.authoring import Prepared, RequestFields, default_requester, write
from curate.errors import CurateError, UsageError, ValidationError
from curate.requests import SLUG_MAX
from curate.targets import OS_NAMES

Ask = Callable[[str], str]

TITLE_PROMPT = "Title (what is the request for?)"
REQUESTER_PROMPT = "Requested by (e-mail or team)"
JUSTIFICATION_PROMPT = "Justification (what the packages are for, who uses them)"


def add_request_arguments(parser: argparse.ArgumentParser, *, title_help: str) -> None:
    """The request's fields and where it goes: the same flags, with the same meaning, for both verbs."""
    parser.add_argument("--title", help=title_help)
    parser.add_argument(
        "--justification",
        help="why the catalog should carry these packages, 20+ characters (required; asked for on a terminal)",
    )
    parser.add_argument(
        "--requested-by",
        metavar="WHO",
        help="who asks (default: $GIT_AUTHOR_EMAIL, git config author.email or user.email, $EMAIL)",
    )
    for flag, metavar, what in (
        ("--platform", "OS", f"a target OS: {', '.join(OS_NAMES)}"),
        ("--python", "X.Y", "a Python version the catalog supports"),
    ):
        parser.add_argument(
            flag,
            action="append",
            default=[],
            metavar=metavar,
            help=f"{what} (repeatable or comma-separated; default: the catalog's default)",
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
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="the file name's date (default: today)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="PATH",
        help="write here instead of requests/<date>-<slug>.yaml (a directory: that name in it; '-': print it)",
    )


def fields_from_args(args: argparse.Namespace) -> RequestFields:
    """The flags :func:`add_request_arguments` declared, as the record :mod:`curate.authoring` takes."""
    return RequestFields(
        title=args.title,
        requested_by=args.requested_by,
        justification=args.justification,
        platforms=tuple(args.platform),
        python=tuple(args.python),
        compliance=tuple(args.compliance),
        slug=args.slug,
        date=args.date,
        output=args.output,
    )


def terminal_ask() -> Ask | None:
    """Ask for missing values when stdin is a terminal; None (fail instead) when it is not."""
    return _ask if sys.stdin.isatty() else None


def _ask(prompt: str) -> str:
    """One answer; the prompt goes to stderr, so that a request printed with ``-o -`` stays clean."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    try:
        return input("")
    except EOFError:  # Ctrl-D at a prompt
        print(file=sys.stderr)
        raise CurateError("no answer (end of input); nothing was written") from None


def need(
    value: str | None, flag: str, prompt: str, ask: Ask | None, *, verb: str, default: str | None = None
) -> str:
    """``value``, or an answer asked for until one is given; without a terminal, the default or a
    UsageError naming the flag."""
    if value:
        return value
    if ask is None:
        if default:
            return default
        raise UsageError(f"{flag} is required (stdin is not a terminal, so curate {verb} cannot ask)")
    suffix = f" [{default}]" if default else ""
    while True:
        answer = ask(f"{prompt}{suffix}: ").strip() or (default or "")
        if answer:
            return answer
        print(f"  {flag.lstrip('-')} is required", file=sys.stderr)


def complete(
    fields: RequestFields, *, root: Path, env: Mapping[str, str], ask: Ask | None, verb: str, title: bool
) -> RequestFields:
    """``fields`` with a requester (by default the address git commits with) and a justification, and
    a title when ``title`` says so: asked for on a terminal, a UsageError naming the flag otherwise."""
    return dataclasses.replace(
        fields,
        title=need(fields.title, "--title", TITLE_PROMPT, ask, verb=verb) if title else fields.title,
        requested_by=need(
            fields.requested_by or default_requester(root, env),
            "--requested-by",
            REQUESTER_PROMPT,
            ask,
            verb=verb,
        ),
        justification=need(fields.justification, "--justification", JUSTIFICATION_PROMPT, ask, verb=verb),
    )


def refuse(prepared: Prepared) -> NoReturn:
    print(f"not writing {prepared.shown}: the request would not pass curate check", file=sys.stderr)
    raise ValidationError(prepared.problems)


def save(prepared: Prepared) -> Path | None:
    """Write the request (or print it, for ``-o -``); return the path written, None when printed."""
    if prepared.problems:
        refuse(prepared)
    if prepared.path is None:
        sys.stdout.write(prepared.text)
        return None
    return write(prepared)
