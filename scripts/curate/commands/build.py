"""Build public/: the package index (simple/, files/, api/) and the documentation site.

The site is built first (mkdocs empties its output directory), then the index is written into the
same tree. Everything is built in a staging directory beside the output and swapped in with a rename:
if anything fails, the previous public/ keeps serving untouched.

Rebuilds are incremental: a project whose catalog file did not change is not rendered again (its
pages and files are hard-linked from the live tree). With --index-only and an existing output, the
index is updated in place instead: only the changed projects' files and the root pages are replaced,
each one atomically by rename, new files before the pages that link to them, removals last.

Mirror mode (files.mode in catalog/config.yaml) copies every vetted file from the cache (curate fetch
fills it) into public/files/, hard-linking when the cache is on the same filesystem; link mode points
at files.base_url, or at the URL the upstream's project page gives for each file (looked up at build
time, as curate fetch does; a file the upstream does not list with the catalog's sha256 fails the
build). Output bytes are deterministic. The projects the previous build served and the catalog no
longer holds are named at the end.

Only vetted bytes are served: a version is in the index and shown as installable on the site only
when its vetting record (curate vet) covers exactly the sha256 of each of its files, was reached under
the vetting policy of catalog/config.yaml and passes it (no blocking finding, no waiver it relies on
expired: $CURATE_TODAY sets the day). Every other version is left out and listed with the reason;
--left-out says whether that fails the build (exit 1, the tree is still published without them) or
only warns. Default: fail under CI ($CI or $GITHUB_ACTIONS set), warn elsewhere. Every file served is
checked to be the bytes its sha256 names (a stamp recorded when it was hashed, else its hash): an
altered cache copy fails the build, and curate fetch replaces it. One build at a time on an output: a
second one stops at once, naming the first one's pid.

The site includes the catalog's history (the Changes pages, changes.xml and api/changes/: what each
merged change did, from the git history of catalog/ and requests/), read incrementally: only commits
the file cache's history/ has not seen are read from git. Without a git history, in a shallow clone
or after a rewrite of the history, the site still builds, and says (here and on its pages) what it
cannot show.

Each request's environment per target (the exact set it was resolved and vetted as) is written under
envs/REQUEST/TARGET/: pylock.toml, requirements.txt with hashes and a CycloneDX SBOM, listed in
api/requests/ and on the request's page (see curate env). An environment lists only what the index
serves: a target where some version of its resolution is left out (blocked, an expired waiver, not
vetted as these bytes or under this policy, not vetted yet) gets no files: the build warns and the page
says why.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from curate import build as building
from curate.errors import Reporter, one_line, terminal_text
from curate.history import History


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="DIR",
        help="where to publish, relative to the current directory like every verb's -o"
        " (default: public/ in the catalog repository)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, metavar="DIR", help="the file cache (default: see curate fetch)"
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--index-only", action="store_true", help="build the package index, not the site")
    only.add_argument("--site-only", action="store_true", help="build the site; keep the live index")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="render every project, environment file and request page again instead of reusing unchanged ones",
    )
    parser.add_argument(
        "--left-out",
        choices=("fail", "warn"),
        default=None,
        help="whether versions left out of the index (not vetted as the bytes served, vetted under another"
        " policy, blocked, an expired waiver) fail the build (exit 1) or only warn; default: fail under CI"
        " ($CI or $GITHUB_ACTIONS set), warn elsewhere",
    )


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    built = building.build(
        root=root,
        output=root / "public" if args.output is None else args.output,
        cache_dir=args.cache_dir,
        env=env,
        index=not args.site_only,
        site=not args.index_only,
        rebuild=args.rebuild,
    )
    reporter = Reporter(env)
    for warning in built.warnings:
        reporter.text(f"warning: {warning}")
    stats = built.stats
    reporter = Reporter(env)
    if built.history is not None:
        _history(built.history, reporter)
    if stats is None:
        print(f"{built.how} {built.output}: site only, in {built.seconds:.2f}s")
        return 0
    fail = (args.left_out or default_left_out(env)) == "fail"
    if stats.left_out:
        report_left_out(stats.left_out, fail=fail, env=env)
    print(
        f"{built.how} {built.output}: {stats.projects} project(s) in the index ({stats.rendered} pages rendered, "
        f"{stats.reused} unchanged, {stats.removed} removed), {stats.files} file(s) linked, "
        f"in {built.seconds:.2f}s; index: {built.simple_url}"
    )
    if stats.removed_names:
        print(terminal_text(f"no longer served (not in the catalog): {', '.join(stats.removed_names)}"))
    envs = built.environments
    if envs is not None:
        reporter = Reporter(env)
        for e in envs.unavailable:
            reporter.text(
                one_line(f"warning: request {e.request} has no environment for {e.target.id}: {e.reason}")
            )
        kept = (
            f"; {envs.kept} of the {envs.files} files of envs/ and api/requests/ unchanged, linked from the "
            "published tree"
            if envs.kept
            else ""
        )
        print(
            f"environments: {envs.ready} written for {envs.requests} request(s) (pylock.toml, requirements.txt, "
            f"SBOM each, under envs/{kept}), {len(envs.unavailable)} left out"
        )
    return 1 if fail and stats.left_out else 0


def default_left_out(env: Mapping[str, str]) -> str:
    """``fail`` under CI (``$CI`` or ``$GITHUB_ACTIONS`` set to anything but false/0), ``warn`` elsewhere."""
    ci = any(
        env.get(name, "").strip().lower() not in ("", "0", "false", "no") for name in ("CI", "GITHUB_ACTIONS")
    )
    return "fail" if ci else "warn"


def report_left_out(left_out: Sequence[tuple[str, str, str]], *, fail: bool, env: Mapping[str, str]) -> None:
    """Every version left out, with why (project names and reasons are data: made safe by the Reporter)."""
    reporter = Reporter(env)
    what = "error" if fail else "warning"
    reporter.text(
        f"{what}: {len(left_out)} version(s) left out of the index and the site (only vetted bytes are served):"
    )
    for name, version, why in sorted(left_out):
        reporter.text("  " + one_line(f"{name} {version}: {why}"))
    if fail:
        reporter.error(
            f"{len(left_out)} version(s) are not served; the index was published without them",
            hint="vet them (curate fetch && curate vet) and commit the catalog, or pass --left-out warn",
        )


def _history(history: History, reporter: Reporter) -> None:
    """One line on the Changes page's history, and what it cannot show."""
    if history.state != "none":
        print(
            f"history: {len(history.entries)} change(s) on the Changes page and in changes.xml "
            f"({history.computed} read from git, {history.reused} from the cache)"
        )
    for note in history.notes:
        reporter.text(one_line(f"history: {note}"))
