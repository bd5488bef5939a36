"""Vet every version in catalog/packages from the cached files, and record the findings there.

Checks each file (bytes match the catalog, archive opens, wheel RECORD hashes, metadata name and version
match the file name, twine check), extracts each wheel's METADATA into the cache (PEP 658), and judges
each version: licence (from the metadata and the licence files' texts) against vetting.licenses
allow/deny, suspicious code (GuardDog's rules and curate's own checks; vetting.code_rules decides per
rule), known vulnerabilities from OSV advisories (vetting.advisories), yanked releases, sdist-only
targets and look-alike names. vetting.block and vetting.warn decide what each kind of finding does;
vetting.waivers accept a finding for some versions until a date (an expired waiver blocks again).

Known vulnerabilities are looked up only when vetting.advisories.source is osv-dir or osv-api; vet
says which source and which day's data it used, and each record says where it looked ("advisories:
none" when it did not: the diff, the PR report, the site and api/ then say "known vulnerabilities: not
checked"). When osv-api cannot be reached, vet stops and writes nothing; --no-advisories vets without
them, on purpose and on the record.

The result goes into each version's `vetting` in catalog/packages/<name>.yaml (deterministic, so the pull
request shows it). A version whose inputs did not change is not vetted again. The files must be in the
cache (as their bytes: one altered since it was fetched is refused, listed as altered): run `curate
fetch` first. Exits 1 when any finding blocks, listing each with the waiver YAML that would accept it.

The results are written as one step (an interrupted run leaves catalog/ as it was; one killed between
its renames leaves a journal the next curate lock or curate vet completes). One curate lock or curate vet
runs at a time on a catalog: a second one stops, naming the first one's pid. Only a version whose
record covers exactly its files' sha256, under the current policy, is served by curate build.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

from curate.catalog import project_path
from curate.errors import Problem, Reporter, UsageError, display_path, one_line
from curate.vet import VersionFinding, VetReport, vet_repository, waiver_snippet
from curate.vetting import today_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help="the cache (default: as curate fetch)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--advisories",
        type=Path,
        metavar="DIR",
        help="a directory of OSV advisories to use (overrides vetting.advisories in the config)",
    )
    source.add_argument(
        "--no-advisories",
        action="store_true",
        help="do not look up known vulnerabilities (every record then says they were not checked)",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=None, metavar="N", help="worker processes (default: one per CPU)"
    )
    parser.add_argument("--force", action="store_true", help="vet every version again, even if unchanged")
    parser.add_argument(
        "--scan-base",
        metavar="REV",
        default=None,
        help="reuse the suspicious-code scans recorded in the catalog at git revision REV for versions with"
        " the same files and ruleset there, and scan only the others (CI: a pull request's base; the"
        " rescan: HEAD). Without it, --force scans every version",
    )
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="the date waivers' expiry is compared with (default: today, or $CURATE_TODAY)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only blocking findings")


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    return vet(
        root=root,
        env=env,
        cache_dir=args.cache_dir,
        advisories_dir=args.advisories,
        no_advisories=args.no_advisories,
        jobs=args.jobs,
        force=args.force,
        scan_base=args.scan_base,
        today=args.today,
        quiet=args.quiet,
    )


def vet(
    *,
    root: Path,
    env: Mapping[str, str],
    cache_dir: Path | None = None,
    advisories_dir: Path | None = None,
    no_advisories: bool = False,
    jobs: int | None = None,
    force: bool = False,
    scan_base: str | None = None,
    today: dt.date | None = None,
    quiet: bool = False,
) -> int:
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if today is None:
        today = _today(env)
    report = vet_repository(
        root=root,
        env=env,
        today=today,
        cache_dir=cache_dir,
        advisories_dir=advisories_dir,
        no_advisories=no_advisories,
        jobs=jobs,
        force=force,
        scan_base=scan_base,
    )
    print_report(root, report, today=today, quiet=quiet, env=env)
    return 1 if report.blockers else 0


def _today(env: Mapping[str, str]) -> dt.date:
    try:
        return today_from(env)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def print_report(
    root: Path, report: VetReport, *, today: dt.date, quiet: bool, env: Mapping[str, str]
) -> None:
    # a finding's text comes from the files, the upstream and the advisories, a waiver's from the
    # config: data, printed on one line each and made safe for the terminal and the CI log
    reporter = Reporter(env)
    if not quiet:
        for w in report.warnings:
            reporter.out(f"warn: {_line(w)}")
        for waiver in report.unused_waivers:
            reporter.out(
                one_line(
                    f"note: the waiver for {waiver.id} in {waiver.project} {waiver.versions or '(all versions)'}"
                    " matches no finding in the catalog: check its id, project and versions, or remove it"
                    " from vetting.waivers in catalog/config.yaml"
                )
            )
        c = report.counts
        print(
            f"vetted {report.versions} version(s) ({report.vetted} re-checked, {report.files_checked} file(s)):"
            f" {c.get('pass', 0)} pass, {c.get('warn', 0)} warn, {c.get('block', 0)} block;"
            f" {len(report.changed)} catalog file(s) updated"
        )
        reporter.out(f"known vulnerabilities: {report.advisories}")
        if report.not_checked and not report.advisories.startswith("not checked"):
            reporter.out(f"  ({report.not_checked} version(s) still say not checked)")
        if report.scanned or report.scans_reused:
            reporter.out(
                f"suspicious-code scan: {report.scanned} version(s) scanned,"
                f" {report.scans_reused} reused (same files and ruleset)"
            )
    if not report.blockers:
        return
    reporter.text(f"\n{len(report.blockers)} finding(s) block:")
    for b in report.blockers:
        reporter.text(f"\n  {_line(b)}")
        if b.finding.waiver is not None:  # blocked because its waiver expired: renew that one, not a second
            print(
                "    its waiver expired: to accept it again, renew that entry of vetting.waivers in"
                " catalog/config.yaml (a new justification and expiry):",
                file=sys.stderr,
            )
        else:
            print("    to accept it, add under vetting.waivers in catalog/config.yaml:", file=sys.stderr)
        reporter.text(textwrap.indent(waiver_snippet(b, today), "      ").rstrip("\n"))
        reporter.annotation(Problem(path=display_path(project_path(root, b.project), root), message=_line(b)))


def _line(b: VersionFinding) -> str:
    f = b.finding
    where = f" ({f.file}{', ' + f.location if f.location else ''})" if f.file else ""
    aliases = f" [{', '.join(f.aliases)}]" if f.aliases else ""
    what = f.kind if f.id == f.kind else f"{f.kind} {f.id}"
    return one_line(f"{b.project} {b.version}{where}: {what}{aliases}: {f.message}")
