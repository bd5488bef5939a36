"""Run what the GitHub workflows run, locally and in CI.

curate ci pr       the pull-request checks of .github/workflows/pr.yml, same steps, same order:
                   pre-commit, curate check, curate lock --check, re-resolution of changed requests,
                   curate fetch, curate vet, and the review report. A step runs only when the steps
                   it needs passed; a failed step does not stop the others. Prints a summary table;
                   exits 1 when any step failed. --skip pre-commit where its hooks cannot run
                   (they run from .venv: a clone without one); the summary says what was skipped.
curate ci relock   when requests/, catalog/config.yaml or the locked part of catalog/ differ from
                   --base: lock again from the base branch's catalog (with --upgrade-package for the
                   projects a catalog-only change touches) and fail unless the result equals catalog/
                   byte for byte.
curate ci report   the review report (curate diff --format markdown, the step results and the
                   install-and-import test) into --output-dir/report.md, $GITHUB_STEP_SUMMARY, and
                   stdout. --smoke-dir DIR: the `curate smoke --json` files of this run's OS runners,
                   merged (without it: what catalog/smoke/ records, stale ones marked).
                   --built-dir DIR: the folders the runners exported with `curate wheels --export`:
                   their wheels, conflicts among them (a finding: exit 1) and the commands that
                   merge their records into the pull request (this run is read-only: it never pushes).
curate ci matrix   the OS matrix of pr.yml's smoke jobs, from the config's targets and the requests:
                   one entry per platform some request uses (its GitHub runner and the Pythons the
                   requests use there); --github-output FILE appends `matrix=` and `any=` to it.
                   --built: publish.yml's wheels jobs instead, one per platform whose builder must
                   reproduce a wheel catalog/ records as built.
curate ci rescan   curate vet on the whole catalog; writes the rescan issue body into
                   --output-dir/issue.md and whether anything blocks into --output-dir/blocking.
curate ci seal-cache --archive FILE
                   after a successful curate build in publish.yml: curate's derived caches (the
                   history's, the SBOMs' components, the pylock entries) as one tar archive in FILE,
                   headed by its HMAC keyed by $CURATE_CACHE_KEY (a repository secret); publish.yml
                   uploads it as the run's curate-cache artifact.
curate ci check-cache --archive FILE
                   before curate build: FILE is the last successful publish's curate-cache artifact
                   (its zip, or the sealed file); its HMAC is checked over the whole file before
                   anything in it is read, then only folders and regular files under those caches
                   are unpacked. Missing, forged or another key's: nothing is taken, the build runs
                   cold. Not Actions' cache: every job of the run (the wheels builds) can write that.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from curate import ci
from curate.errors import Problem, Reporter, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ci_command", metavar="COMMAND", required=True)
    base_help = "compare with the merge base of REF and HEAD (default: main, else origin/main)"

    pr = sub.add_parser("pr", help="run the pull-request checks of pr.yml locally")
    pr.add_argument("--base", default="", metavar="REF", help=base_help)
    pr.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="STEP",
        help="skip a step, e.g. pre-commit (repeatable); "
        f"steps: {', '.join(s.id.replace('_', '-') for s in ci.PR_STEPS)}",
    )
    pr.add_argument(
        "--report-dir", type=Path, metavar="DIR", help="where the report goes (default: a temporary dir)"
    )

    relock = sub.add_parser("relock", help="re-resolve when requests/, the config or catalog/ changed")
    relock.add_argument("--base", default="", metavar="REF", help=base_help)

    rep = sub.add_parser("report", help="write the review report (markdown)")
    rep.add_argument("--base", default="", metavar="REF", help=base_help)
    rep.add_argument("--output-dir", type=Path, metavar="DIR", help="write report.md (and pr-number) here")
    rep.add_argument(
        "--smoke-dir",
        type=Path,
        metavar="DIR",
        help="the `curate smoke --json` results of this run's runners (default: catalog/smoke/)",
    )
    rep.add_argument(
        "--built-dir",
        type=Path,
        metavar="DIR",
        help="the folders this run's runners exported with `curate wheels --export` (one each): the"
        " report lists their wheels, any conflict among them (exit 1) and the command that merges them",
    )

    matrix = sub.add_parser("matrix", help="the OS matrix of pr.yml's build-and-smoke jobs")
    matrix.add_argument(
        "--built",
        action="store_true",
        help="publish.yml's wheels jobs instead: the platforms whose builders reproduce the wheels the"
        " catalog records as built (a native wheel's own OS; Linux for pure-Python ones)",
    )
    matrix.add_argument(
        "--github-output",
        type=Path,
        metavar="FILE",
        help="append matrix= and any= here ($GITHUB_OUTPUT)",
    )

    rescan = sub.add_parser("rescan", help="re-vet the catalog and write the rescan issue body")
    rescan.add_argument("--output-dir", type=Path, metavar="DIR", help="write issue.md and blocking here")

    cache_help = "the file cache (default: the config's cache_dir, else $CURATE_CACHE_DIR, else the user's)"
    seal = sub.add_parser(
        "seal-cache",
        help="curate's derived caches into one archive sealed with $CURATE_CACHE_KEY (publish.yml)",
    )
    seal.add_argument(
        "--archive", type=Path, required=True, metavar="FILE", help="the sealed archive to write"
    )
    seal.add_argument("--cache-dir", type=Path, metavar="DIR", help=cache_help)
    check = sub.add_parser(
        "check-cache",
        help="take a sealed archive's caches into the file cache if its HMAC holds (publish.yml)",
    )
    check.add_argument(
        "--archive",
        type=Path,
        required=True,
        metavar="FILE",
        help="the last publish's curate-cache artifact (a zip of the sealed file, or the file); missing: cold",
    )
    check.add_argument("--cache-dir", type=Path, metavar="DIR", help=cache_help)


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    env = ci.environ(env)
    if args.ci_command == "pr":
        return pr(root=root, env=env, base=args.base, skip=args.skip, report_dir=args.report_dir)
    if args.ci_command == "relock":
        return relock(root=root, env=env, base=args.base)
    if args.ci_command == "report":
        return write_report(
            root=root,
            env=env,
            base=args.base,
            output_dir=_dir(args.output_dir),
            smoke_dir=_dir(args.smoke_dir),
            built_dir=_dir(args.built_dir),
        )
    if args.ci_command == "matrix":
        return matrix(root=root, env=env, github_output=args.github_output, built=args.built)
    if args.ci_command in ("seal-cache", "check-cache"):
        return cache_seal(
            root=root,
            env=env,
            cache_dir=args.cache_dir,
            archive=args.archive,
            sealing=args.ci_command == "seal-cache",
        )
    return rescan(root=root, env=env, output_dir=_dir(args.output_dir))


def matrix(*, root: Path, env: Mapping[str, str], github_output: Path | None, built: bool = False) -> int:
    from curate.catalog import load_catalog
    from curate.config import load_config
    from curate.lock import load_requests

    config = load_config(root)
    if built:
        result = ci.built_matrix(config, {str(k): v for k, v in load_catalog(root).items()})
    else:
        result = ci.smoke_matrix(config, load_requests(root))
    reporter = Reporter(env)
    for entry in result.entries:
        reporter.out(f"{entry.platform}: runner {entry.runner}, Python {', '.join(entry.pythons)}")
    for name in result.no_runner:
        what = "its built wheels cannot be reproduced" if built else "it is not tested"
        reporter.error(f"platform {name}: no GitHub runner for its OS and architecture; {what}")
    if not result.entries:
        print("no built wheel to reproduce" if built else "no request has a target: nothing to test")
    if github_output is not None:
        with github_output.open("a", encoding="utf-8") as fh:
            fh.write(result.github_output())
    return 0


def cache_seal(
    *, root: Path, env: Mapping[str, str], cache_dir: Path | None, archive: Path, sealing: bool
) -> int:
    from curate import cacheseal
    from curate.cache import cache_root
    from curate.config import load_config

    cache = cache_root(root, load_config(root), env, cache_dir)
    key = cacheseal.key_from(env)
    reporter = Reporter(env)
    if sealing:
        sealed = cacheseal.seal(cache, key, archive)
        if sealed.reason:
            reporter.text(f"notice: {sealed.reason}; the next publish builds cold")
        else:
            reporter.out(f"sealed {sealed.files} cached file(s), {sealed.size:,} bytes, into {sealed.path}")
        return 0
    opened = cacheseal.open_sealed(cache, key, archive)
    if opened.reason:
        what = "warning" if "HMAC" in opened.reason or "outside" in opened.reason else "notice"
        reporter.text(f"{what}: no cache taken: {opened.reason}; curate build computes everything (cold)")
    else:
        reporter.out(f"took {opened.files} cached file(s) from {archive} (sealed by the last publish)")
    return 0


def _dir(path: Path | None) -> Path | None:
    # An unset "$CURATE_REPORT_DIR" reaches us as "", which argparse makes Path(".").
    return None if path is None or str(path) in ("", ".") else path


def pr(*, root: Path, env: Mapping[str, str], base: str, skip: list[str], report_dir: Path | None) -> int:
    checks = ci.pr_checks(root, env=env, base=base, skip=skip, report_dir=report_dir)
    print("\n=== summary")
    print(ci.summary_table(checks.results))
    print(f"report: {checks.report_dir / 'report.md'}")
    return 1 if checks.failed else 0


def relock(*, root: Path, env: Mapping[str, str], base: str) -> int:
    result = ci.relock(root, base=base, env=env)
    if not result.changed:
        print("no request, config or catalog change: nothing to re-resolve")
        return 0
    print(f"re-resolved because these changed: {', '.join(result.changed)}")
    if result.lock_code:
        print(
            "curate lock failed for this pull request's requests (above: which request, target and why)",
            file=sys.stderr,
        )
        return 1
    if result.differences:
        print(
            "catalog/ is not what `curate lock` writes for these requests, starting from the base's catalog:",
            file=sys.stderr,
        )
        for path in result.differences:
            print(f"  {path}", file=sys.stderr)
        hint = "update your branch from main, run `curate lock`, and commit catalog/ as it writes it"
        print(f"hint: {hint}", file=sys.stderr)
        message = (
            "catalog/ is not what `curate lock` writes for the changed requests "
            f"({', '.join(result.differences)})"
        )
        reporter = Reporter(env)
        for path in [p for p in result.changed if (root / p).is_file()] or [""]:
            reporter.annotation(Problem(path=path, message=message, hint=hint))
        return 1
    print("the fresh resolution equals catalog/ byte for byte")
    return 0


def write_report(
    *,
    root: Path,
    env: Mapping[str, str],
    base: str,
    output_dir: Path | None,
    smoke_dir: Path | None = None,
    built_dir: Path | None = None,
) -> int:
    review = ci.review_report(
        root, env=env, base=base, output_dir=output_dir, smoke_dir=smoke_dir, built_dir=built_dir
    )
    reporter = Reporter(env)
    reporter.out(review.body)  # the Markdown is inert; in the log it must not be a workflow command either
    if review.diff_code != 0:
        reporter.text(review.diff_stderr.rstrip("\n"))
    if review.built_conflicts:
        reporter.text(
            f"{review.built_conflicts} conflict(s) among the wheels the runners built (see the report)"
        )
    return review.diff_code or (1 if review.built_conflicts else 0)


def rescan(*, root: Path, env: Mapping[str, str], output_dir: Path | None) -> int:
    result = ci.rescan(root, env=env, output_dir=output_dir)
    Reporter(env).out(result.vet_output)
    if result.vet_code not in (0, 1):
        raise UsageError(f"curate vet failed to run (exit {result.vet_code}): {result.vet_stderr.strip()}")
    return result.vet_code
