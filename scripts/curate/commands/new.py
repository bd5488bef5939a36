"""Write a new change request, requests/<today>-<slug>.yaml, from flags or by asking.

Every --package is a distribution with an optional PEP 440 specifier ('pandas>=2.2', 'httpx',
'uvicorn[standard]~=0.30'); repeat the flag for more. Values not given on the command line are asked
for when stdin is a terminal (and an answer that would not pass `curate check` is asked for again);
otherwise a missing required value is an error naming its flag.
--requested-by defaults to the address git would commit with ($GIT_AUTHOR_EMAIL, git config
author.email or user.email, $EMAIL); --platform and --python default to the catalog's defaults
(catalog/config.yaml). The slug is made from the title (at most 50 characters, cut at a word).

The request is validated with the same code as `curate check` before anything is written; an invalid
request is refused with its problems. An existing file is never overwritten. The first line points
editors at the shipped JSON Schema; the rest is laid out as `curate import` lays out a request (short
lists inline, versions quoted, long text folded).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from curate.authoring import (
    RequestFields,
    catalog_config,
    package_from_text,
    parse_platforms,
    parse_python,
    prepare,
)
from curate.commands._authoring import (
    JUSTIFICATION_PROMPT,
    REQUESTER_PROMPT,
    TITLE_PROMPT,
    Ask,
    add_request_arguments,
    complete,
    fields_from_args,
    need,
    save,
    terminal_ask,
)
from curate.config import Config
from curate.errors import Problem, UsageError, display_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--package",
        "-p",
        action="append",
        default=[],
        metavar="REQ",
        help="a distribution and optional specifier, e.g. 'pandas>=2.2' (repeatable)",
    )
    add_request_arguments(
        parser,
        title_help="one line saying what the request is for, without a line break, tab or other control "
        "character (the slug is made from it)",
    )


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    fields = fields_from_args(args)
    path = new_request(fields, args.package, terminal_ask(), root=root, env=env)
    if path is None:
        print(
            "wrote the request to standard output; check it once saved with: curate check FILE",
            file=sys.stderr,
        )
    else:
        print(f"wrote {display_path(path)}; check it with: curate check {display_path(path)}")
    return 0


def new_request(
    fields: RequestFields, packages: Sequence[str], ask: Ask | None, *, root: Path, env: Mapping[str, str]
) -> Path | None:
    """Ask for what is missing, then write the request; return its path (None: printed, for ``-o -``)."""
    config = catalog_config(root)
    fields = complete(fields, root=root, env=env, ask=ask, verb="new", title=True)
    pkgs = list(packages) or _ask_packages(ask)
    fields = dataclasses.replace(
        fields,
        platforms=_choose(parse_platforms, fields.platforms, "Platforms", config, ask),
        python=_choose(parse_python, fields.python, "Python versions", config, ask),
    )
    while True:
        prepared = prepare(fields, [package_from_text(p) for p in pkgs], root=root, config=config)
        wrong = [_field(p) for p in prepared.problems]
        if not wrong or ask is None or None in wrong:
            return save(prepared)  # refused with every problem when any is left
        # on a terminal, ask again for exactly what is wrong instead of throwing the answers away
        for problem in prepared.problems:
            print(f"  {problem.message}" + (f" ({problem.hint})" if problem.hint else ""), file=sys.stderr)
        if "title" in wrong:
            fields = dataclasses.replace(fields, title=need(None, "--title", TITLE_PROMPT, ask, verb="new"))
        if "requested_by" in wrong:
            requested_by = need(None, "--requested-by", REQUESTER_PROMPT, ask, verb="new")
            fields = dataclasses.replace(fields, requested_by=requested_by)
        if "justification" in wrong:
            justification = need(None, "--justification", JUSTIFICATION_PROMPT, ask, verb="new")
            fields = dataclasses.replace(fields, justification=justification)
        for i in sorted({f for f in wrong if isinstance(f, int)}):
            pkgs[i] = ask(f"  replace package '{pkgs[i]}' with (empty: drop it): ").strip()
        pkgs = [p for p in pkgs if p]
        while not pkgs:
            pkgs = [line for line in [ask("  package: ").strip()] if line]


def _ask_packages(ask: Ask | None) -> list[str]:
    if ask is None:
        raise UsageError("--package is required at least once, e.g. --package 'pandas>=2.2'")
    print(
        "Packages, one per line as NAME[SPECIFIER] (e.g. pandas>=2.2); an empty line ends:", file=sys.stderr
    )
    pkgs: list[str] = []
    while True:
        line = ask("  package: ").strip()
        if line:
            pkgs.append(line)
        elif pkgs:
            return pkgs
        else:
            print("  at least one package is required", file=sys.stderr)


def _choose(
    parse: Callable[[Sequence[str], Config | None], tuple[str, ...]],
    given: Sequence[str],
    prompt: str,
    config: Config | None,
    ask: Ask | None,
) -> tuple[str, ...]:
    """The flag's values; on a terminal without them, asked for (the catalog's default offered)."""
    default = parse([], config)
    if given or ask is None or not default:
        return parse(given, config)
    while True:
        answer = ask(f"{prompt} [{', '.join(default)}]: ")
        try:
            return parse([answer], config)
        except UsageError as exc:
            print(f"  {exc}", file=sys.stderr)


def _field(problem: Problem) -> str | int | None:
    """The answer a problem is about: a field asked for by name, a package's index, or None."""
    m = re.match(r"^(?:(title|requested_by|justification)\b|packages\[(\d+)\])", problem.key)
    if m is None:
        return None
    return m[1] if m[1] else int(m[2])
