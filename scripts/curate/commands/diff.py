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
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

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
    base = args.base or default_base(root)
    head = load_catalog(root)
    report = compare(
        read_catalog_at(root, base),
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


def _git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, check=False)
    except OSError as exc:
        raise UsageError(f"cannot run git: {exc}") from exc


def default_base(root: Path) -> str:
    for branch in ("main", "origin/main"):
        proc = _git(root, "merge-base", "HEAD", branch)
        if proc.returncode == 0:
            return _short(root, proc.stdout.decode().strip())
    proc = _git(root, "rev-parse", "--verify", "HEAD")
    if proc.returncode == 0:
        return _short(root, proc.stdout.decode().strip())
    raise UsageError("no git history to compare with: pass --base REF")


def _short(root: Path, sha: str) -> str:
    proc = _git(root, "rev-parse", "--short", sha)
    return proc.stdout.decode().strip() if proc.returncode == 0 else sha


def read_catalog_at(root: Path, ref: str) -> dict[NormalizedName, Project]:
    """The catalog's projects as committed at ``ref`` (read with one ``git cat-file --batch``)."""
    folder = PACKAGES_DIR.as_posix()
    listing = _git(root, "ls-tree", "-z", "--name-only", f"{ref}:{folder}")
    if listing.returncode != 0:
        check = _git(root, "rev-parse", "--verify", f"{ref}^{{commit}}")
        if check.returncode != 0:
            raise UsageError(f"unknown git revision '{ref}': {check.stderr.decode().strip()}")
        return {}  # no catalog at that revision
    names = sorted(n for n in listing.stdout.decode().split("\0") if n.endswith(".yaml"))
    if not names:
        return {}
    batch = "".join(f"{ref}:{folder}/{n}\n" for n in names).encode()
    proc = _git(root, "cat-file", "--batch", stdin=batch)
    if proc.returncode != 0:
        raise UsageError(f"git cat-file failed: {proc.stderr.decode().strip()}")
    data = proc.stdout
    out: dict[NormalizedName, Project] = {}
    pos = 0
    for name in names:
        header_end = data.index(b"\n", pos)
        header = data[pos:header_end].decode()
        size = int(header.rsplit(" ", 1)[1])
        body = data[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1
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
