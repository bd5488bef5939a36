"""Resolve every change request for every target and write the locked catalog.

Each request in requests/ is resolved with uv, with all of its transitive dependencies, for each of its
targets (its platforms x Python versions; a package's own 'platforms' narrows it). For every pinned
version, exactly the upstream files some target needing it can install are kept, by filename with
sha256, size, upload time and requires-python, and no URL: curate fetch finds each file on whichever
upstream is configured then, so the catalog moves to a mirror without a re-lock. (Package files from
before, with url: lines, are rewritten without them by the next lock.) catalog/packages/<name>.yaml is
written for every project in the catalog; catalog/lock.json records what the catalog was locked from.

Build dependencies (with files.allow_sdist: true): for every sdist the catalog serves, what building it
needs (its pyproject.toml's [build-system] requires; when absent PEP 518's setuptools>=40.8.0 and the
wheel older pip installs too; and what
its backend asks for through get_requires_for_build_wheel, run with pypa build in a sandbox: bwrap or
unshare, no network) is resolved with uv for the targets that build it, wheels only, and locked as
catalog versions whose needed_by says to_build: NAME==VERSION; the sdist's version records them under
build_system. The sdist is downloaded into the cache to be read.

Additive: a version no request needs any more (an upgrade, an edited or deleted request) stays in the
catalog as superseded, still served and vetted. It leaves only through a request's remove: entry or the
retention rule of catalog/config.yaml (retention.superseded: keep | {drop-after: DAYS} |
{keep-latest: N}; default keep); the lock lists every version that leaves, and why. CURATE_TODAY
(YYYY-MM-DD) sets the day a newly superseded version is recorded with and drop-after counts to.

Stable: a request whose content is unchanged since the last lock is not resolved again, and new
resolutions prefer the versions already in the catalog. --upgrade re-resolves everything to the newest
versions; --upgrade-package NAME lets NAME move forward in the requests that use it.

Release cooldown: a version uploaded fewer than vetting.min_release_age_days days before the day a
request is resolved as of (today, or --as-of) is not taken; lock.json records that day for each
request, so a later re-lock resolves it the same way (--dates-from). An exact pin (==) of a newer
version needs a dated 'too-new' waiver in catalog/config.yaml (a security fix); without one it fails on
the request's line with the day it becomes eligible. The versions the cooldown held back are printed
under each request and recorded in lock.json for the review report.

--check uses neither uv nor the network: it exits 1, saying which request or file is out of date, when
catalog/ does not match requests/ and catalog/config.yaml (a changed or new request, a changed config,
a hand-edited package file, what a lock or vet killed while writing left). On any failure catalog/ is
left exactly as it was, and each failing request is named with the line of the package entry concerned
(path:line: message); under GitHub Actions (GITHUB_ACTIONS=true) each is also an ::error annotation on
that line. One curate lock or curate vet runs at a time on a catalog (a second one stops, naming the
first one's pid); a write a killed run left half done is completed first, and its temporary files
deleted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from curate.errors import Reporter, UsageError, terminal_text
from curate.lockstate import LockState, catalog_freshness

if TYPE_CHECKING:
    from curate.lock import LockEvent, LockOutcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if catalog/ is out of date with requests/ and the config (no uv, no network)",
    )
    parser.add_argument(
        "-U", "--upgrade", action="store_true", help="re-resolve every request to the newest versions"
    )
    parser.add_argument(
        "-P",
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME",
        help="let NAME move to its newest version in the requests that use it (repeatable)",
    )
    parser.add_argument(
        "--as-of",
        type=_day,
        metavar="YYYY-MM-DD",
        help="resolve as of this day (not after today): the release cooldown counts back from it",
    )
    parser.add_argument(
        "--dates-from",
        type=Path,
        metavar="LOCK_JSON",
        help="resolve each request as of the day this lock.json records for it (how `curate ci relock` "
        "reproduces a pull request's lock); requests it does not name: today or --as-of",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2026-11-30: {text!r}") from None


def recorded_days(path: Path) -> dict[str, dt.date]:
    """The day each request was resolved as of, as the lock state at ``path`` records it."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise UsageError(f"--dates-from {path}: cannot read it ({exc.strerror or exc})") from None
    state = LockState.loads(text)
    out = {}
    for rid, request in state.requests.items():
        day = request.as_of_date()
        if day is not None:
            out[rid] = day
    return out


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    if args.check:
        return check_up_to_date(root=root, env=env)
    from curate.lock import lock  # --check, a pre-commit hook, never imports the resolver

    outcome = lock(
        root=root,
        env=env,
        upgrade=args.upgrade,
        upgrade_packages=args.upgrade_package,
        on_event=None if args.quiet else _print_event,
        as_of=args.as_of,
        dates=recorded_days(args.dates_from) if args.dates_from is not None else None,
        today=_today(env),
    )
    for name, version in outcome.superseded:
        print(f"superseded: {name} {version} (no request needs it; it stays served)")
    for d in outcome.departures:
        print(f"leaves the catalog: {d.name} {d.version}: {d.describe()}")
    print(summary(outcome))
    return 0


def _today(env: Mapping[str, str]) -> dt.date | None:
    text = env.get("CURATE_TODAY", "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"CURATE_TODAY={text!r} is not a date like 2026-11-21") from None


def check_up_to_date(*, root: Path, env: Mapping[str, str]) -> int:
    """``--check``: exit 1 naming each stale request or file (in CI, each also as an annotation)."""
    fresh = catalog_freshness(root)
    if fresh.stale:
        reporter = Reporter(env)
        reporter.problems(s.problem() for s in fresh.stale)
        reporter.text("catalog/ is out of date: run `curate lock` and commit the result")
        return 1
    older = [f"{len(fresh.legacy)} package file(s) record upstream URLs"] if fresh.legacy else []
    if fresh.legacy_state:
        older.append("catalog/lock.json counts the upstream in its fingerprints")
    if older:
        print(
            f"note: {' and '.join(older)}, as older versions of curate wrote them; curate ignores that, and"
            " `curate lock` rewrites them without it (resolving nothing)",
            file=sys.stderr,
        )
    print(f"catalog/ is up to date with {fresh.locked} request(s)")
    return 0


def _print_event(event: LockEvent) -> None:
    from curate.lock import Note, RequestResolved

    if isinstance(event, RequestResolved):
        lines = [f"[{event.done}/{event.total}] {event.path} ({event.why}): {event.target_count} target(s)"]
        if event.failed:
            lines.append("    failed")
        lines += [f"    {label}: {count} package(s)" for label, count in event.targets]
        lines += [f"    held back by the release cooldown: {h.describe()}" for h in event.held_back]
        text = "\n".join(lines)
    else:
        text = f"note: {event.text}" if isinstance(event, Note) else event.text
    # request paths, project names and the resolver's own messages (which quote the upstream): data
    print(terminal_text(text), file=sys.stderr, flush=True)


def summary(outcome: LockOutcome) -> str:
    if not outcome.changed:
        return f"catalog/ is up to date ({outcome.projects} projects, {outcome.versions} versions)"
    return (
        f"locked: {len(outcome.resolved)} request(s) resolved; {outcome.projects} projects, "
        f"{outcome.versions} versions, {outcome.files} files; {len(outcome.written)} file(s) written, "
        f"{len(outcome.deleted)} deleted"
        + (
            ""
            if outcome.written or outcome.deleted or not outcome.state_written
            else "; catalog/lock.json updated"
        )
    )
