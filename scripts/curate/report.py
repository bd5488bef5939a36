"""Markdown for people: the sticky pull-request comment and the rescan issue.

Both start with an HTML comment marker (:data:`PR_MARKER`, :data:`RESCAN_MARKER`) that the workflows
search for, so one comment (one issue) is updated instead of a new one being added on every run.
Pure functions: text in, text out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from curate.ci import PR_STEPS, Step
from curate.markup import code, fence, inline

if TYPE_CHECKING:
    from curate.requests import Request
    from curate.smoke import Shown
    from curate.wheels import Merged

PR_MARKER = "<!-- curate-report -->"
RESCAN_MARKER = "<!-- curate-rescan -->"
# GitHub refuses comment and issue bodies over 65,536 characters; keep room for the footer.
MAX_BODY = 60_000
# and drops a job summary ($GITHUB_STEP_SUMMARY) over 1 MiB per step.
MAX_SUMMARY = 1_000_000

_ICON = {"success": "✅ passed", "failure": "❌ failed", "skipped": "⏭️ skipped"}


def parse_outcomes(text: str) -> dict[str, str]:
    """Step outcomes from the workflow's ``toJSON(steps)`` (or ours): ``{id: outcome}``."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(value.get("outcome"), str):
            out[str(key)] = value["outcome"]
    return out


def truncate(body: str, limit: int = MAX_BODY, *, where: str = "the job summary") -> str:
    if len(body) <= limit:
        return body
    cut = body.rfind("\n", 0, limit)
    cut = cut if cut > 0 else limit
    return body[:cut] + f"\n\n… the report is {len(body):,} characters; the rest is in {where}.\n"


def steps_table(outcomes: Mapping[str, str], steps: Sequence[Step] = PR_STEPS) -> str:
    rows = ["| check | result | what it means |", "| --- | --- | --- |"]
    for step in steps:
        if step.id not in outcomes:
            continue
        icon = _ICON.get(outcomes[step.id], outcomes[step.id])
        rows.append(f"| {step.name} | {icon} | {step.doc} |")
    return "\n".join(rows)


_SMOKE_ICON = {
    "pass": "✅ pass",
    "fail": "❌ FAIL",
    "not-run": "⏭️ not run",
    "stale": "⚠️ stale",
    "untested": "⚪ not tested",
}


def smoke_section(rows: Mapping[str, Sequence[Shown]], *, source: str, error: str = "") -> str:
    """The install-and-import test (``curate smoke``) per request and target, as Markdown."""
    parts = ["### Install-and-import test", ""]
    if error:
        return "\n".join([*parts, "The results could not be read:", "", fence(error), ""])
    parts += [source, ""]
    shown = [s for items in rows.values() for s in items]
    if not shown:
        return "\n".join([*parts, "_No request has a target to test._", ""])
    blocking = [s for s in shown if s.blocking]
    if blocking:
        parts += [f"**{len(blocking)} target(s) fail and block** (`smoke.failing_import: block`).", ""]
    parts += ["| request | target | result |", "| --- | --- | --- |"]
    for s in shown:
        icon = _SMOKE_ICON.get(s.status, s.status)
        text = s.text.removeprefix("pass ").removeprefix("FAIL: ").removeprefix("not run here: ")
        parts.append(
            f"| {code(s.request, table=True)} | {code(s.target, table=True)} | {icon}: {inline(text)} |"
        )
    return "\n".join([*parts, ""])


_MERGE_STATUS = {
    "new": "new: not in this pull request yet",
    "known": "already recorded",
    "conflict": "❌ conflict: not merged",
    "stale": "stale: built from another sdist",
    "missing": "❌ bytes missing: not merged",
    "foreign": "❌ targets that runner cannot build: not merged",
    "refused": "refused: not merged",
}


def built_section(merged: Merged | None, *, command: str, error: str = "") -> str:
    """The wheels the OS runners built (``curate wheels --export`` on each, merged by
    :func:`curate.wheels.merge_built` without writing), the conflicts among them, and the command that
    brings the new records into the pull request (the checks run has a read-only token: it never pushes).
    Every value that came from a runner's records is data."""
    parts = ["### Wheels built on the runners", ""]
    if error or merged is None:
        return "\n".join([*parts, "The runners' records could not be read:", "", fence(error), ""])
    runners = ", ".join(f"{code(r.source)} ({code(f'{r.os} {r.arch}')})" for r in merged.runners)
    parts += [
        f"From this run: {len(merged.runners)} runner(s) exported their records{': ' + runners if runners else ''}.",
        "",
    ]
    for problem in merged.problems:
        parts += [f"- could not be read: {inline(problem)}"]
    if merged.problems:
        parts += [""]
    if merged.conflicts:
        parts += [
            f"**{len(merged.conflicts)} conflict(s)**: the same version and target (or the same wheel file name) "
            "built to different bytes "
            "(not reproducible across runners, or tampered with); neither side is merged. To take one side, "
            "merge only that runner's folder, and say why in the pull request.",
            "",
        ]
        for c in merged.conflicts:
            sides = "; ".join(f"{code(w)}: {code(f)} sha256 {code(sha[:16])}" for w, f, sha in c.wheels)
            what = f"file {code(c.filename)}" if c.filename else f"for {code(c.target)}"
            parts.append(f"- {code(f'{c.name} {c.version}')} {what}: {sides}")
        parts += [""]
    if not merged.offered:
        return "\n".join([*parts, "_No runner recorded a built wheel._", ""])
    parts += [
        "| project | wheel | targets | runner | isolation | result |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for o in merged.offered:
        targets = ", ".join(o.file.targets)
        result = _MERGE_STATUS.get(o.status, o.status) + (f" ({inline(o.why)})" if o.why else "")
        parts.append(
            f"| {code(f'{o.name} {o.version}', table=True)} | {code(o.file.filename, table=True)}"
            f" | {code(targets, table=True)} | {code(o.source, table=True)}"
            f" | {code(o.file.isolation or '?', table=True)} | {result} |"
        )
    parts += [""]
    if merged.failures:
        parts += ["Targets still without a wheel after the merge:", ""]
        for f in merged.failures:
            parts.append(
                f"- {code(f'{f.name} {f.version}')} for {code(', '.join(f.targets))}: {inline(f.reason)}"
            )
        parts += [""]
    new = merged.new
    if new:
        parts += [
            f"To bring the {len(new)} new record(s) into this pull request (this workflow has a read-only "
            "token and does not push), in your clone of its branch:",
            "",
            fence(command),
            "",
        ]
    else:
        parts += ["_Nothing to merge: the pull request records every wheel the runners built._", ""]
    return "\n".join(parts)


def requests_section(changed: Sequence[Request | str]) -> str:
    """Who asked, for what and why, for each request file the pull request adds or changes (a path
    alone: removed, or it does not read). For reviewers: the site names requesters only with
    ``site.show_requesters``, this report always does. Every value is data (:func:`inline`)."""
    if not changed:
        return ""
    lines = ["### Requests in this pull request", ""]
    for r in changed:
        if isinstance(r, str):
            lines.append(f"- {code(r)}: removed, or does not read (see `curate check`)")
            continue
        lines.append(f"- {code(r.path)}: **{inline(r.title)}**, requested by {inline(r.requested_by)}")
        lines.append(f"  - justification: {inline(r.justification)}")
        if r.compliance:
            lines.append(f"  - compliance: {', '.join(inline(c) for c in r.compliance)}")
    return "\n".join(lines) + "\n"


def pr_report(
    *,
    outcomes: Mapping[str, str],
    diff_markdown: str,
    diff_error: str = "",
    commit: str = "",
    smoke: str = "",
    smoke_blocking: bool = False,
    requests: str = "",
    built: str = "",
    built_blocking: bool = False,
) -> str:
    """The whole review report: the job summary and the log get it all; :func:`pr_comment` cuts it.
    ``smoke``: :func:`smoke_section`; ``smoke_blocking``: a target in it fails and blocks;
    ``requests``: :func:`requests_section`."""
    failed = [s.name for s in PR_STEPS if outcomes.get(s.id) == "failure"]
    if smoke_blocking:
        failed.append("install-and-import test")
    if built_blocking:
        failed.append("wheels built on the runners (conflict)")
    if failed:
        verdict = f"**{len(failed)} check(s) failed:** {', '.join(failed)}. See the job log for the details."
    elif outcomes:
        verdict = "**All checks passed.** A reviewer can approve once the change below is what was asked for."
    else:
        verdict = ""
    parts = [PR_MARKER, "## Catalog review report", ""]
    if verdict:
        parts += [verdict, ""]
    if outcomes:
        parts += [steps_table(outcomes), ""]
    if requests:
        parts += [requests.strip(), ""]
    # curate diff's markdown brings its own heading ("Catalog changes since ...").
    if diff_error:
        parts += ["### Catalog changes", "", "`curate diff` could not compare the catalogs:", ""]
        parts += [fence(diff_error), ""]
    else:
        parts += [diff_markdown.strip() or "### Catalog changes\n\n_No change to the catalog._", ""]
    if smoke:
        parts += [smoke.strip(), ""]
    if built:
        parts += [built.strip(), ""]
    footer = "Run `curate ci pr` in your clone to see the same checks locally."
    if commit:
        footer = f"Report for {commit[:12]}. " + footer
    parts += [f"<sub>{footer}</sub>", ""]
    return "\n".join(parts)


def pr_comment(report: str, *, run_url: str = "") -> str:
    """The report as the sticky comment: cut to GitHub's limit, pointing to the job summary."""
    return truncate(
        report,
        where=f"the job summary of [the checks run]({run_url})"
        if run_url
        else "the job summary of the checks run",
    )


def step_summary(body: str) -> str:
    """A report as the job summary: cut to GitHub's limit, pointing to the step's log."""
    return truncate(body, MAX_SUMMARY, where="the log of this step")


def rescan_issue(*, vet_code: int, vet_output: str, evidence_diff: str, commit: str = "") -> str:
    """The whole rescan report (job summary, log); :func:`rescan_issue_body` cuts it for the issue."""
    parts = [RESCAN_MARKER, "## Catalog rescan", ""]
    at = f" at {commit[:12]}" if commit else ""
    if vet_code == 0:
        parts += [f"`curate vet`{at} passes: nothing in the catalog blocks.", ""]
    else:
        parts += [
            f"`curate vet`{at} **blocks** (exit {vet_code}): something in the published catalog fails the "
            "policy against today's advisories and upstream state. Fix it with a change request that "
            "removes or upgrades the version, or a waiver in `catalog/config.yaml` with a justification "
            "and an expiry date.",
            "",
            "### What blocks",
            "",
            fence(vet_output or "(no output)"),
            "",
        ]
    if evidence_diff.strip():
        parts += [
            "### Vetting evidence that changed since the last merge",
            "",
            fence(evidence_diff, "diff"),
            "",
        ]
    parts += ["<sub>Written by `curate ci rescan` (.github/workflows/rescan.yml).</sub>", ""]
    return "\n".join(parts)


def rescan_issue_body(report: str, *, run_url: str = "") -> str:
    """The rescan report as the issue body: cut to GitHub's limit, pointing to the run's summary."""
    return truncate(
        report,
        where=f"the job summary of [the rescan run]({run_url})"
        if run_url
        else "the job summary of the latest rescan run",
    )


def run_url(env: Mapping[str, str]) -> str:
    """The web page of the current GitHub Actions run, or "" outside one."""
    parts = [env.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else ""
