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
curate ci report   the review report (curate diff --format markdown plus the step results) into
                   --output-dir/report.md, $GITHUB_STEP_SUMMARY, and stdout.
curate ci rescan   curate vet on the whole catalog; writes the rescan issue body into
                   --output-dir/issue.md and whether anything blocks into --output-dir/blocking.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from curate import ci, git, report
from curate.errors import Problem, UsageError, error_annotation, github_actions


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

    rescan = sub.add_parser("rescan", help="re-vet the catalog and write the rescan issue body")
    rescan.add_argument("--output-dir", type=Path, metavar="DIR", help="write issue.md and blocking here")


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    env = ci.environ(env)
    if args.ci_command == "pr":
        return pr(root=root, env=env, base=args.base, skip=args.skip, report_dir=args.report_dir)
    if args.ci_command == "relock":
        return relock(root=root, env=env, base=args.base)
    if args.ci_command == "report":
        return write_report(root=root, env=env, base=args.base, output_dir=_dir(args.output_dir))
    return rescan(root=root, env=env, output_dir=_dir(args.output_dir))


def _dir(path: Path | None) -> Path | None:
    # An unset "$CURATE_REPORT_DIR" reaches us as "", which argparse makes Path(".").
    return None if path is None or str(path) in ("", ".") else path


def pr(*, root: Path, env: Mapping[str, str], base: str, skip: list[str], report_dir: Path | None) -> int:
    step_env = dict(env)
    step_env[ci.BASE_VAR] = base or git.main_branch(root, env=env)
    out_dir = report_dir or Path(tempfile.mkdtemp(prefix="curate-ci-"))
    step_env[ci.REPORT_VAR] = str(out_dir.resolve())
    results = ci.run_pipeline(ci.PR_STEPS, root=root, env=step_env, skip=skip)
    print("\n=== summary")
    print(ci.summary_table(results))
    print(f"report: {out_dir / 'report.md'}")
    return 1 if any(r.outcome == "failure" for r in results) else 0


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
        if github_actions(env):
            message = (
                "catalog/ is not what `curate lock` writes for the changed requests "
                f"({', '.join(result.differences)})"
            )
            requests = [p for p in result.changed if (root / p).is_file()] or [""]
            for path in requests:
                print(
                    Problem(path=path, message=message, hint=hint).annotation()
                    if path
                    else error_annotation(message)
                )
        return 1
    print("the fresh resolution equals catalog/ byte for byte")
    return 0


def _curate(root: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "curate", *args], cwd=root, env=dict(env), capture_output=True, text=True
    )


def _pull_request(env: Mapping[str, str]) -> dict[str, object]:
    """The ``pull_request`` of the GitHub event payload, or {} outside a pull_request run."""
    path = env.get("GITHUB_EVENT_PATH", "")
    if not path:
        return {}
    try:
        event = json.loads(Path(path).read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    pull = event.get("pull_request") if isinstance(event, dict) else None
    return pull if isinstance(pull, dict) else {}


def pr_number(env: Mapping[str, str]) -> str:
    """The pull request's number from the GitHub event payload, or "" outside a pull_request run."""
    number = _pull_request(env).get("number")
    return str(number) if isinstance(number, int) else ""


def pr_head(env: Mapping[str, str]) -> str:
    """The pull request's head commit (CI checks out a merge commit the requester never saw), or ""."""
    head = _pull_request(env).get("head")
    sha = head.get("sha") if isinstance(head, dict) else None
    return sha if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{40}", sha) else ""


def write_report(*, root: Path, env: Mapping[str, str], base: str, output_dir: Path | None) -> int:
    base_commit = git.merge_base(root, base, env=env)
    diff = _curate(root, env, "diff", "--format", "markdown", "--base", base_commit)
    head = pr_head(env) or git.head(root, env=env)
    body = report.pr_report(
        outcomes=report.parse_outcomes(env.get(ci.STEPS_VAR, "")),
        diff_markdown=diff.stdout if diff.returncode == 0 else "",
        diff_error="" if diff.returncode == 0 else (diff.stderr or diff.stdout or f"exit {diff.returncode}"),
        commit=head,
    )
    print(body)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "report.md").write_text(report.pr_comment(body, run_url=report.run_url(env)), "utf-8")
        (output_dir / "pr-number").write_text(pr_number(env) + "\n", "utf-8")
    _append_summary(env, body)
    if diff.returncode != 0:
        print(diff.stderr, file=sys.stderr, end="")
    return diff.returncode


def _append_summary(env: Mapping[str, str], body: str) -> None:
    """Append ``body`` to the job summary (``$GITHUB_STEP_SUMMARY``), when there is one."""
    summary = env.get("GITHUB_STEP_SUMMARY", "")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(report.step_summary(body) + "\n")


def rescan(*, root: Path, env: Mapping[str, str], output_dir: Path | None) -> int:
    vet = _curate(root, env, "vet", "--force")  # every version from its files, not the stored results
    output = (vet.stdout + vet.stderr).strip()
    print(output)
    evidence = git.worktree_diff(root, ["catalog/packages/"], env=env)
    head = git.head(root, env=env)
    body = report.rescan_issue(
        vet_code=vet.returncode, vet_output=output, evidence_diff=evidence, commit=head
    )
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "issue.md").write_text(
            report.rescan_issue_body(body, run_url=report.run_url(env)), "utf-8"
        )
        (output_dir / "blocking").write_text("true\n" if vet.returncode else "false\n", "utf-8")
    _append_summary(env, body)
    if vet.returncode not in (0, 1):
        raise UsageError(f"curate vet failed to run (exit {vet.returncode}): {vet.stderr.strip()}")
    return vet.returncode
