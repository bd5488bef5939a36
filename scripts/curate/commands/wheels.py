"""Build wheels from the catalog's vetted sdists, hermetically, and record them in catalog/.

For every served version with targets no upstream wheel serves (build_targets in catalog/packages), the
vetted sdist is built with `uv build --wheel` in a sandbox with no network (bwrap; unshare -n without
bubblewrap; sandbox-exec on macOS; on a GitHub-hosted Windows runner, which has no sandbox tool,
--sandbox runner makes the CI job the isolation; --no-sandbox only on a throwaway machine), from no
package source but the catalog's own served files in the cache (--no-index --find-links; with bwrap,
the builds of one build-dependency set share an environment prepared once from those files, mounted
read-only, so that none of them can change it), with SOURCE_DATE_EPOCH from the sdist, a clean temporary directory and environment (no token or secret is
passed in) and build.time_limit. A wheel with native code is repaired by the tool of this machine's OS:
auditwheel on Linux (a manylinux tag), delocate-wheel on macOS, delvewheel on Windows (installed with
curate on that OS); its tags must be accepted by each target's platform_tags. A target of another OS or
architecture needs a builder of its own (a CI runner of that OS), unless the wheel is pure Python. Each
sdist is built twice and the two wheels compared (reproducible: identical, or the files that differ);
the wheel is checked as curate vet checks upstream files.

The wheel's bytes go into the cache under their sha256 (like fetched files); catalog/ records its hashes
and provenance in the version's `built:` (origin: built) and the targets that failed in `build_failures:`.
curate build serves a built wheel only while the cache holds exactly those bytes; on a machine without
them, curate wheels rebuilds it and keeps it only when the rebuild reproduces the recorded sha256
(--reproduce-only does only that: the publish job, which must not build anything not reviewed).

With build.from_source: pure, every pure-Python version with an sdist is rebuilt too and compared with
the upstream wheel file by file; curate vet then reports wheel-differs-from-sdist, and build.serve says
which of the two wheels is served.

pr.yml's OS matrix runs curate wheels --export on each runner (the wheels, SHA256SUMS and
built-records.json: this catalog's built: and build_failures:); curate wheels --merge DIR... brings those
records into this catalog: each wheel only with its bytes at the recorded sha256 (into the cache, checked
again here), only for targets its runner could build, and never when two runners built the same version
and target, or the same wheel file name, to different bytes (a conflict: merged from neither side, exit
1). The runner is the platform its folder's name says (curate-built-<platform>, pr.yml's artifact), not
what its records say: a folder named for no configured platform, or whose records say another OS or
architecture, is refused; a record's isolation is at most that OS's runner sandbox. A comparison with the
upstream wheel (compared_with:) is never taken from a runner.

A failing build names the package, version, targets and the last lines of its log, and the others go
on; the exit status is 1 when any build failed or a recorded wheel could not be reproduced. Run curate
vet first (only vetted sdists are built), and curate build after.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from curate.errors import Reporter, UsageError, one_line
from curate.names import normalize
from curate.vetting import today_from
from curate.wheels import (
    SANDBOX_KINDS,
    Failed,
    Job,
    Merged,
    WheelsReport,
    build_wheels,
    export_built,
    import_built,
    merge_built,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "projects", nargs="*", metavar="PROJECT", help="build only these projects (default: all)"
    )
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help="the cache (default: as curate fetch)")
    parser.add_argument(
        "-j", "--jobs", type=int, default=None, metavar="N", help="versions built at once (default: 2)"
    )
    parser.add_argument(
        "--retry-failed", action="store_true", help="build again the targets recorded in build_failures"
    )
    parser.add_argument(
        "--reproduce-only",
        action="store_true",
        help="build nothing new: only rebuild recorded wheels whose bytes the cache lacks, keeping a rebuild"
        " only when it reproduces the recorded sha256 (the publish job)",
    )
    parser.add_argument(
        "--platform",
        default="",
        metavar="NAME",
        help="with --reproduce-only: only the recorded wheels this configured platform's builder rebuilds"
        " (a native wheel's own platform; the first Linux one for pure-Python wheels): publish.yml's"
        " wheels job of that platform",
    )
    parser.add_argument(
        "--export",
        type=Path,
        metavar="DIR",
        help="after building, copy the bytes of every wheel catalog/ records as built into DIR (a build job"
        " hands them on; the receiver checks each against its sha256)",
    )
    parser.add_argument(
        "--import",
        dest="import_dir",
        type=Path,
        metavar="DIR",
        help="build nothing: take into the cache each recorded built wheel DIR (or a folder in it: one per"
        " artifact) holds with exactly its recorded sha256 (the publishing job, which holds secrets and runs no"
        " build); exit 1 when one is missing",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="build nothing: merge the built: records (and wheels) other runners exported with --export"
        " (pr.yml's OS matrix: the report says how to download them) into catalog/, each wheel only with"
        " its bytes at the recorded sha256; each DIR must be named curate-built-PLATFORM (the artifact's"
        " name: the runner is that configured platform, whatever its records say); the same version and"
        " target, or the same wheel file name, with different bytes is a conflict, merged from neither"
        " side; records of a comparison with the upstream wheel are refused; exit 1 on a conflict or a"
        " folder that does not read or is refused",
    )
    parser.add_argument(
        "--no-recheck",
        action="store_true",
        help="build once instead of twice (the record then says reproducible: not checked)",
    )
    parser.add_argument(
        "--sandbox",
        choices=("auto", *SANDBOX_KINDS),
        default="auto",
        help="what isolates each build (recorded in built: as isolation). auto (default): the strongest"
        " here: bwrap, else unshare -n (Linux), else sandbox-exec (macOS). runner: none around the build,"
        " the CI job is the isolation (an ephemeral GitHub-hosted runner with a read-only token and no"
        " secrets: Windows, which has no sandbox tool); refused elsewhere without --force-runner",
    )
    parser.add_argument(
        "--force-runner",
        action="store_true",
        help="accept --sandbox runner outside a GitHub-hosted runner (a machine thrown away after the build)",
    )
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="build without a sandbox when auto finds none (the build can reach the network); same as"
        " --sandbox none then",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.platform and not args.reproduce_only:
        raise UsageError("--platform goes with --reproduce-only")
    try:
        today = today_from(env)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    reporter = Reporter(env)
    if args.merge:
        merged = merge_built(root=root, env=env, dirs=args.merge, cache_dir=args.cache_dir)
        print_merged(merged, reporter)
        return 1 if merged.conflicts or merged.problems else 0
    if args.import_dir is not None:
        handed = import_built(root=root, env=env, src=args.import_dir, cache_dir=args.cache_dir)
        for name in handed.missing:
            reporter.text(
                one_line(
                    f"not had: {name} (no file with its recorded sha256 in {args.import_dir}): not served"
                )
            )
        print(
            f"curate wheels --import: {len(handed.files)} built wheel(s) in the cache, {len(handed.missing)} missing"
        )
        return 1 if handed.missing else 0

    def progress(job: Job, result: object) -> None:
        if not args.quiet:
            reporter.out(f"  {job.name} {job.version} ({job.kind}): done")

    report = build_wheels(
        root=root,
        env=env,
        today=today,
        cache_dir=args.cache_dir,
        jobs=args.jobs,
        no_sandbox=args.no_sandbox,
        sandbox=args.sandbox,
        force_runner=args.force_runner,
        retry_failed=args.retry_failed,
        recheck=not args.no_recheck,
        only=tuple(normalize(p) for p in args.projects),
        reproduce_only=args.reproduce_only,
        platform=args.platform,
        on_progress=progress,
    )
    print_report(report, reporter, quiet=args.quiet)
    if args.export is not None:
        handed = export_built(root=root, env=env, dest=args.export, cache_dir=args.cache_dir)
        print(
            f"exported {len(handed.files)} built wheel(s) to {args.export} ({len(handed.missing)} not in the cache)"
        )
    return 1 if report.failed or report.unreproduced else 0


def print_report(report: WheelsReport, reporter: Reporter, *, quiet: bool = False) -> None:
    if report.jobs and not quiet:
        reporter.out(f"sandbox: {report.sandbox}")
        reporter.out(f"builder: {report.builder}")
        if report.environments:
            reporter.out(
                f"build environments: {report.environments} prepared (one per build-dependency set and"
                " Python), mounted read-only into the builds"
            )
    for m in report.built:
        if quiet and not m.file.problems and not m.file.upstream_differs:
            continue
        f = m.file
        line = f"built {m.name} {m.version}: {f.filename} (reproducible: {f.reproducible}"
        line += f"; {', '.join(f.differs)})" if f.differs else ")"
        if f.compared_with:
            line += f"; compared with {f.compared_with}: " + (
                "identical" if not f.upstream_differs else f"added {list(f.added)}, changed {list(f.changed)}"
            )
        if f.problems:
            line += f"; checking it found: {'; '.join(f.problems)}"
        reporter.out(one_line(line))
    for m in report.reproduced:
        reporter.out(one_line(f"reproduced {m.name} {m.version}: {m.file.filename} (sha256 {m.file.sha256})"))
    for failed in report.failed:
        _print_failure(reporter, "failed", failed)
    for failed in report.unreproduced:
        _print_failure(reporter, "not reproduced", failed)
    for left in report.elsewhere:
        reporter.out(one_line(f"left to another builder: {left.name} {left.version}: {left.reason}"))
    print(
        f"curate wheels: {report.jobs} build job(s), {len(report.built)} wheel(s) built,"
        f" {len(report.failed)} failure(s), {len(report.reproduced)} reproduced,"
        f" {len(report.unreproduced)} not reproducible,"
        + (f" {len(report.elsewhere)} left to another builder," if report.elsewhere else "")
        + f" {report.up_to_date} version(s) up to date;"
        f" {len(report.changed)} catalog file(s) updated ({report.seconds:.1f} s)",
        file=sys.stderr if quiet else sys.stdout,
    )


def _print_failure(reporter: Reporter, what: str, f: Failed) -> None:
    reporter.text(one_line(f"{what}: {f.name} {f.version} for {', '.join(f.targets)}: {f.reason}"))
    for line in f.log:
        reporter.text("    | " + one_line(line))


_MERGED = {
    "new": "merged",
    "known": "already recorded",
    "conflict": "CONFLICT (not merged)",
    "stale": "stale (not merged)",
    "missing": "bytes missing (not merged)",
    "foreign": "not this runner's targets (not merged)",
    "refused": "refused (not merged)",
}


def print_merged(merged: Merged, reporter: Reporter) -> None:
    for problem in merged.problems:
        reporter.text(one_line(f"cannot read: {problem}"))
    for o in merged.offered:
        why = f": {o.why}" if o.why else ""
        reporter.out(
            one_line(
                f"{_MERGED[o.status]}: {o.name} {o.version} {o.file.filename} from {o.source}"
                f" ({', '.join(o.file.targets)}){why}"
            )
        )
    for c in merged.conflicts:
        sides = "; ".join(f"{where}: {filename} sha256 {sha[:16]}..." for where, filename, sha in c.wheels)
        reporter.text(
            one_line(
                f"conflict: {c.name} {c.version} {f'file {c.filename}' if c.filename else f'for {c.target}'}"
                f" built to different bytes: {sides}"
            )
        )
    for f in merged.failures:
        reporter.out(one_line(f"still failing: {f.name} {f.version} for {', '.join(f.targets)}: {f.reason}"))
    runners = ", ".join(f"{r.source} ({r.os} {r.arch})" for r in merged.runners) or "none"
    print(
        f"curate wheels --merge: {len(merged.runners)} runner(s) ({runners}); {len(merged.new)} wheel(s)"
        f" merged, {len(merged.conflicts)} conflict(s); {len(merged.changed)} catalog file(s) updated"
    )
