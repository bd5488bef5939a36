"""`curate ci`: the pipeline runner's rules, the report, and `curate ci pr` end to end on a temporary clone."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from curate import ci, report
from curate.advisories import ECOSYSTEM
from curate.cli import VERBS
from curate.errors import UsageError
from curate.lockstate import lock_part_hash
from tests.lockutil import lock_repo, write_request
from tests.upstream import Upstream, make_upstream

# -- the runner, with a fake step runner ---------------------------------------------------------


def fake(codes: Mapping[str, int], seen: list[tuple[list[str], dict[str, str]]]) -> ci.Runner:
    def runner(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> int:
        seen.append((list(argv), dict(env)))
        return next((code for word, code in codes.items() if word in argv), 0)

    return runner


def outcomes(results: Sequence[ci.StepResult]) -> dict[str, str]:
    return {r.step.id: r.outcome + (f" ({r.reason})" if r.reason else "") for r in results}


def test_a_failed_check_skips_what_needs_it_and_still_reports(tmp_path: Path) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []
    results = ci.run_pipeline(
        ci.PR_STEPS,
        root=tmp_path,
        env={ci.BASE_VAR: "base-sha"},
        skip=["pre-commit"],
        runner=fake({"check": 1}, seen),
        out=lambda _: None,
    )
    assert outcomes(results) == {
        "pre_commit": "skipped (--skip)",
        "check": "failure (exit 1)",
        "lock_check": "skipped (needs check)",
        "relock": "skipped (needs check)",
        "fetch": "skipped (needs lock_check, relock)",
        "vet": "skipped (needs fetch)",
        "report": "success",
    }
    check_argv, _ = seen[0]
    assert check_argv == [sys.executable, "-m", "curate", "check"]
    report_argv, report_env = seen[-1]
    assert report_argv[-8:] == [
        "--base",
        "base-sha",
        "--output-dir",
        "",
        "--smoke-dir",
        "",
        "--built-dir",
        "",
    ]
    assert report.parse_outcomes(report_env[ci.STEPS_VAR]) == {
        "pre_commit": "skipped",
        "check": "failure",
        "lock_check": "skipped",
        "relock": "skipped",
        "fetch": "skipped",
        "vet": "skipped",
    }
    table = ci.summary_table(results)
    assert "1 step(s) failed; skipped on request: pre-commit (CI runs them)" in table
    assert any(line.startswith("curate check ") and "FAILED (exit 1)" in line for line in table.splitlines())


def test_a_failed_vet_does_not_stop_the_report(tmp_path: Path) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []
    results = ci.run_pipeline(
        ci.PR_STEPS, root=tmp_path, env={}, runner=fake({"vet": 1}, seen), out=lambda _: None
    )
    assert [r.outcome for r in results] == ["success"] * 5 + ["failure", "success"]
    assert seen[0][0][:3] == [sys.executable, "-m", "pre_commit"]


def test_unknown_skip_names_the_steps(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--skip lint: no such step .*pre-commit, check, lock-check"):
        ci.run_pipeline(ci.PR_STEPS, root=tmp_path, env={}, skip=["lint"], runner=fake({}, []))


@pytest.mark.parametrize(
    ("run", "argv"),
    [
        ("curate check", ["py", "-m", "curate", "check"]),
        ('curate ci relock --base "$CURATE_BASE"', ["py", "-m", "curate", "ci", "relock", "--base", "b"]),
        ("pre-commit run --all-files", ["py", "-m", "pre_commit", "run", "--all-files"]),
        ("make site", ["make", "site"]),
    ],
)
def test_command(run: str, argv: list[str]) -> None:
    assert ci.command(run, {"CURATE_BASE": "b"}, python="py") == argv


@pytest.mark.parametrize("run", ["curate diff > x.md", "curate check && curate vet", 'echo "a$B"'])
def test_command_refuses_shell(run: str) -> None:
    with pytest.raises(UsageError, match="only simple commands"):
        ci.command(run, {})


# -- the report --------------------------------------------------------------------------------


def test_pr_report_starts_with_the_marker_and_names_failures() -> None:
    body = report.pr_report(
        outcomes={"check": "success", "vet": "failure"}, diff_markdown="## Catalog changes\n", commit="a" * 40
    )
    assert body.splitlines()[0] == report.PR_MARKER
    assert "**1 check(s) failed:** curate vet." in body
    assert "| curate vet | ❌ failed |" in body
    assert "Report for aaaaaaaaaaaa." in body


def test_the_report_names_who_asked_whatever_the_site_shows(tmp_path: Path) -> None:
    """site.show_requesters hides requesters on the site; the review report shows them to reviewers,
    as inert Markdown."""
    from curate.requests import read_request

    path = tmp_path / "requests" / "2026-11-21-x.yaml"
    path.parent.mkdir()
    path.write_text(
        "title: Forecasting *stack*\n"
        "requested_by: ana@example.com\n"
        'justification: "needed by @team/forecast for #12, see https://x.example/"\n'
        "compliance: [internal-use]\n"
        "platforms: [linux]\n"
        "packages:\n  - name: webapp\n",
        "utf-8",
    )
    request, problems = read_request(path, "requests/2026-11-21-x.yaml", None, root=tmp_path)
    assert request is not None, problems
    section = report.requests_section([request, "requests/2026-11-20-gone.yaml"])
    assert section.splitlines() == [
        "### Requests in this pull request",
        "",
        "- `requests/2026-11-21-x.yaml`: **Forecasting \\*stack\\***, requested by ana@&#8203;example.com",
        "  - justification: needed by @&#8203;team/forecast for #&#8203;12, see https:&#8203;//x.example/",
        "  - compliance: internal-use",
        "- `requests/2026-11-20-gone.yaml`: removed, or does not read (see `curate check`)",
    ]
    body = report.pr_report(outcomes={}, diff_markdown="### Catalog changes\n", requests=section)
    assert body.index("### Requests in this pull request") < body.index("### Catalog changes")
    assert report.requests_section([]) == ""


def test_pr_report_when_diff_fails_fences_the_error() -> None:
    body = report.pr_report(outcomes={}, diff_markdown="", diff_error="boom ``` <b>")
    assert "````text\nboom ``` <b>\n````" in body


def test_only_the_comment_is_cut_to_githubs_limit_the_summary_keeps_the_rest() -> None:
    full = report.pr_report(outcomes={}, diff_markdown="| x |\n" * 20_000)
    assert full.count("| x |") == 20_000  # the job summary and the log get all of it
    comment = report.pr_comment(full, run_url="https://github.example/o/r/actions/runs/7")
    assert len(comment) < 65_536
    assert (
        "the rest is in the job summary of [the checks run](https://github.example/o/r/actions/runs/7)"
        in comment
    )
    assert report.step_summary(full) == full
    huge = report.step_summary("| y |\n" * 300_000)
    assert len(huge) <= report.MAX_SUMMARY + 200
    assert "the rest is in the log of this step" in huge
    issue = report.rescan_issue_body(
        report.rescan_issue(vet_code=1, vet_output="x\n" * 40_000, evidence_diff="")
    )
    assert len(issue) < 65_536
    assert "the rest is in the job summary of the latest rescan run" in issue


def test_run_url() -> None:
    env = {"GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7"}
    assert report.run_url(env) == "https://github.example/o/r/actions/runs/7"
    assert report.run_url({}) == ""


def test_parse_outcomes_reads_the_workflows_steps_context() -> None:
    steps = {"check": {"outputs": {}, "outcome": "failure", "conclusion": "failure"}}
    assert report.parse_outcomes(json.dumps(steps)) == {"check": "failure"}
    assert report.parse_outcomes("") == report.parse_outcomes("not json") == {}


def test_rescan_issue() -> None:
    clean = report.rescan_issue(vet_code=0, vet_output="", evidence_diff="")
    assert clean.startswith(report.RESCAN_MARKER)
    assert "nothing in the catalog blocks" in clean
    blocked = report.rescan_issue(vet_code=1, vet_output="certy 2024.1: GHSA-x", evidence_diff="+ finding")
    assert "### What blocks" in blocked
    assert "GHSA-x" in blocked
    assert "```diff\n+ finding" in blocked


def test_pr_number_from_the_event(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42}}), "utf-8")
    assert ci.pr_number({"GITHUB_EVENT_PATH": str(event)}) == "42"
    event.write_text(json.dumps({"pull_request": {"number": "42; rm -rf /"}}), "utf-8")
    assert ci.pr_number({"GITHUB_EVENT_PATH": str(event)}) == ""
    assert ci.pr_number({}) == ""


def test_pr_head_from_the_event(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 4, "head": {"sha": "ab" * 20}}}), "utf-8")
    assert ci.pr_head({"GITHUB_EVENT_PATH": str(event)}) == "ab" * 20
    event.write_text(json.dumps({"pull_request": {"head": {"sha": "$(x)"}}}), "utf-8")
    assert ci.pr_head({"GITHUB_EVENT_PATH": str(event)}) == ""
    assert ci.pr_head({}) == ""


# -- end to end: a temporary catalog repository and the fixture upstream ------------------------

NEEDED = ("lock", "diff", "fetch", "vet")
needs_verbs = pytest.mark.skipif(
    any(v not in VERBS for v in NEEDED), reason=f"needs the verbs {', '.join(NEEDED)}"
)
GIT_ID = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *GIT_ID, *args], check=True, capture_output=True)


def run_ci(root: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "curate", "ci", *args],
        cwd=root,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # interleaved as in a CI log
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with make_upstream(tmp_path_factory.mktemp("upstream")) as up:
        yield up


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("ci-env")
    out = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CURATE_"))}
    out.update(
        UV_PYTHON_DOWNLOADS="never",
        CURATE_CACHE_DIR=str(tmp / "cache"),
        UV_CACHE_DIR=str(tmp / "uv-cache"),
        NO_COLOR="1",
    )
    return out


@pytest.fixture(scope="module")
def base_repo(upstream: Upstream, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: one locked request (webapp 1.0 and newpy 0.9) for Linux and Windows."""
    if any(v not in VERBS for v in NEEDED):
        pytest.skip(f"needs the verbs {', '.join(NEEDED)}")
    root = lock_repo(tmp_path_factory.mktemp("base") / "repo", upstream.index_url)
    write_request(root, "base", [("webapp", "==1.0"), ("newpy", "==0.9")], date="2026-01-01")
    git(root, "init", "-q", "-b", "main")
    subprocess.run(
        [sys.executable, "-m", "curate", "lock"], cwd=root, env=env, check=True, capture_output=True
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base catalog")
    return root


@pytest.fixture
def clone(base_repo: Path, tmp_path: Path) -> Path:
    """A clone of the base repository on a pull-request branch."""
    root = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(base_repo), str(root)], check=True, capture_output=True)
    git(root, "checkout", "-qb", "my-request")
    return root


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


@needs_verbs
def test_a_good_request_passes_every_step(clone: Path, env: dict[str, str], tmp_path: Path) -> None:
    write_request(clone, "base", [("webapp", "==1.0")], date="2026-01-01")  # drops newpy
    write_request(
        clone,
        "reporting",
        [("httpish", ">=1.0"), ("fastmath", ""), ("webapp", ">=2")],
        remove=[("newpy", "==0.9")],
    )
    for verb in ("lock", "fetch", "vet"):  # the requester commits vet's evidence too (relock ignores it)
        subprocess.run(
            [sys.executable, "-m", "curate", verb], cwd=clone, env=env, check=True, capture_output=True
        )
    commit_all(clone, "reporting request")
    summary = tmp_path / "step-summary.md"
    proc = run_ci(
        clone,
        {**env, "GITHUB_STEP_SUMMARY": str(summary)},
        "pr",
        "--skip",
        "pre-commit",
        "--report-dir",
        str(tmp_path / "report"),
    )
    out = proc.stdout
    assert proc.returncode == 0, out
    # `curate ci pr` runs pr.yml's steps (test_workflows.py: the workflow runs ci.PR_STEPS), in order.
    headers = [line for line in out.splitlines() if line.startswith("=== [")]
    n = len(ci.PR_STEPS)
    assert headers == [f"=== [{i}/{n}] {s.name}: {s.run}" for i, s in enumerate(ci.PR_STEPS, 1)]
    table = out.split("=== summary", 1)[1]
    for step in ci.PR_STEPS[1:]:
        assert any(line.startswith(step.name) and " passed " in line for line in table.splitlines()), table
    assert "all steps passed; skipped on request: pre-commit (CI runs them)" in table
    assert (
        "re-resolved because these changed: requests/2026-01-01-base.yaml, requests/2026-11-21-reporting.yaml"
        in out
    )

    body = (tmp_path / "report" / "report.md").read_text("utf-8")
    assert body.splitlines()[0] == report.PR_MARKER
    assert summary.read_text("utf-8") == body + "\n"
    assert "**All checks passed.**" in body
    asked = body.split("### Requests in this pull request", 1)[1].split("###", 1)[0]
    assert (
        "- `requests/2026-01-01-base.yaml`: **Request base**, requested by someone@&#8203;example.com"
        in asked
    )
    assert "- `requests/2026-11-21-reporting.yaml`: **Request reporting**, requested by someone@" in asked
    sections = body.split("### ")
    added = next(s for s in sections if s.startswith("Added"))
    present = next(s for s in sections if s.startswith("Already present"))
    removed = next(s for s in sections if s.startswith("Removed"))
    assert "`fastmath`" in added
    assert "`webapp` | 2.0" in added
    assert "`wincolor` | 0.4 | Windows |" in added  # a Windows-only dependency of webapp 2.0
    assert "`httpish`" in present
    assert "`certy`" in present
    assert (
        "`newpy` | 0.9 | Linux, Windows | removed by requests/2026-11-21-reporting.yaml: superseded |"
        in removed
    )
    assert "| Linux | 2 | 2 | 0 | 1 |" in body
    assert "| Windows | 3 | 2 | 0 | 1 |" in body


@needs_verbs
def test_three_mistakes_give_three_annotations(clone: Path, env: dict[str, str]) -> None:
    (clone / "requests" / "2026-11-21-broken.yaml").write_text(
        "title: Broken request\n"
        "requested_by: someone@example.com\n"
        "justification: TBD\n"  # 1: a placeholder
        "platforms: [linux, plan9]\n"  # 2: no such platform
        "packages:\n"
        "  - name: webapp\n"
        '    version: ">=1.0,<<2"\n',  # 3: not a PEP 440 range
        "utf-8",
    )
    commit_all(clone, "broken request")
    proc = run_ci(clone, {**env, "GITHUB_ACTIONS": "true"}, "pr", "--skip", "pre-commit")
    assert proc.returncode == 1
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 3, proc.stdout
    lines = sorted(int(a.split("line=")[1].split(",")[0].split(":")[0]) for a in annotations)
    assert lines == [3, 4, 7]
    assert all(a.startswith("::error file=requests/2026-11-21-broken.yaml,line=") for a in annotations)
    table = proc.stdout.split("=== summary", 1)[1]
    assert "curate check                 FAILED (exit 1)" in table
    assert "curate vet                   skipped (needs fetch)" in table


ANY_VERSION = {"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}


def watch_advisory(root: Path, ghsa: str, project: str, summary: str) -> None:
    """An OSV advisory against every version of ``project``, and the config reading advisories/."""
    advisories = root / "advisories"
    advisories.mkdir()
    affected = {"package": {"ecosystem": ECOSYSTEM, "name": project}, "ranges": [ANY_VERSION]}
    advisory = {"id": ghsa, "summary": summary, "affected": [affected]}
    (advisories / f"{ghsa}.json").write_text(json.dumps(advisory), "utf-8")
    config = root / "catalog" / "config.yaml"
    config.write_text(
        config.read_text("utf-8").replace("    source: none", "    source: osv-dir\n    path: advisories"),
        "utf-8",
    )


FORGED_VET = """
import sys
from curate import vet
real = vet.findings_for
def no_findings(version, results, ctx):  # what a requester could run to commit a clean-looking result
    _, info = real(version, results, ctx)
    return [], info
vet.findings_for = no_findings
from curate.cli import main
sys.exit(main(["vet", "--force"]))
"""


@needs_verbs
def test_ci_vets_from_the_files_not_from_the_evidence_a_pull_request_commits(
    clone: Path, env: dict[str, str]
) -> None:
    watch_advisory(clone, "GHSA-weba-0000-0001", "webapp", "webapp runs whatever it is sent")
    subprocess.run(
        [sys.executable, "-m", "curate", "fetch"], cwd=clone, env=env, check=True, capture_output=True
    )
    honest = subprocess.run([sys.executable, "-m", "curate", "vet"], cwd=clone, env=env, capture_output=True)
    assert honest.returncode == 1  # webapp blocks
    forged = subprocess.run([sys.executable, "-c", FORGED_VET], cwd=clone, env=env, capture_output=True)
    assert forged.returncode == 0, forged.stderr
    assert "GHSA-weba" not in (clone / "catalog" / "packages" / "webapp.yaml").read_text("utf-8")
    commit_all(clone, "watch webapp's advisories (and a forged vetting result)")
    proc = run_ci(clone, env, "pr", "--skip", "pre-commit")
    assert proc.returncode == 1, proc.stdout
    assert "GHSA-weba-0000-0001" in proc.stdout
    table = proc.stdout.split("=== summary", 1)[1]
    (vet_line,) = [line for line in table.splitlines() if line.startswith("curate vet ")]
    assert "FAILED (exit 1)" in vet_line


@needs_verbs
def test_a_request_that_cannot_resolve_for_windows_names_package_and_os(
    clone: Path, env: dict[str, str]
) -> None:
    write_request(clone, "linux-tool", [("linuxonly", "")], platforms=("linux", "windows"))
    commit_all(clone, "a linux-only package for windows too")  # `curate lock` fails, so no catalog
    proc = run_ci(clone, {**env, "GITHUB_ACTIONS": "true"}, "pr", "--skip", "pre-commit")
    out = proc.stdout
    assert proc.returncode == 1
    relock = out.split("=== [4/7]", 1)[1].split("=== [5/7]", 1)[0]
    assert "linuxonly" in relock, relock
    assert "windows" in relock, relock
    # Under GitHub Actions the failure is an annotation on the request file, not a file-less error.
    (annotation,) = [line for line in relock.splitlines() if line.startswith("::error")]
    assert annotation.startswith(
        "::error file=requests/2026-11-21-linux-tool.yaml,line=7::linuxonly 1.0 has no wheel"
    )
    assert "windows-amd64" in annotation
    table = out.split("=== summary", 1)[1]
    assert "re-resolve changed requests  FAILED (exit 1)" in table
    assert "curate lock --check          FAILED (exit 1)" in table


@needs_verbs
def test_relock_catches_a_hand_edited_catalog(clone: Path, env: dict[str, str]) -> None:
    write_request(clone, "tools", [("fastmath", "")])
    subprocess.run(
        [sys.executable, "-m", "curate", "lock"], cwd=clone, env=env, check=True, capture_output=True
    )
    path = clone / "catalog" / "packages" / "fastmath.yaml"
    text = path.read_text("utf-8")
    path.write_text(re.sub(r"sha256: [0-9a-f]{64}", "sha256: " + "0" * 64, text, count=1), "utf-8")
    proc = run_ci(clone, {**env, "GITHUB_ACTIONS": "true"}, "relock", "--base", "main")
    assert proc.returncode == 1
    assert "catalog/packages/fastmath.yaml" in proc.stdout
    assert "run `curate lock`" in proc.stdout
    (annotation,) = [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert annotation.startswith("::error file=requests/2026-11-21-tools.yaml::catalog/ is not what")
    assert "catalog/packages/fastmath.yaml" in annotation


@needs_verbs
def test_relock_checks_a_pull_request_that_changes_only_the_catalog(clone: Path, env: dict[str, str]) -> None:
    """An upgrade (only catalog/ changes) passes; a hand edit with lock.json made to match does not."""
    write_request(clone, "tools", [("httpish", "==1.0")])
    lock = [sys.executable, "-m", "curate", "lock"]
    subprocess.run(lock, cwd=clone, env=env, check=True, capture_output=True)
    write_request(clone, "tools", [("httpish", ">=1.0")])  # the pin stays 1.0: lock prefers it
    subprocess.run(lock, cwd=clone, env=env, check=True, capture_output=True)
    commit_all(clone, "tools")
    git(clone, "branch", "tools-base")

    subprocess.run(
        [*lock, "--upgrade-package", "httpish"], cwd=clone, env=env, check=True, capture_output=True
    )
    assert "version: '1.1'" in (clone / "catalog" / "packages" / "httpish.yaml").read_text("utf-8")
    commit_all(clone, "upgrade httpish")
    proc = run_ci(clone, env, "relock", "--base", "tools-base")
    assert proc.returncode == 0, proc.stdout
    assert (
        "re-resolved because these changed: catalog/lock.json, catalog/packages/httpish.yaml" in proc.stdout
    )

    # a consistent hand edit: another file's sha256, and lock.json's hash of the file to match
    path = clone / "catalog" / "packages" / "httpish.yaml"
    text = re.sub(r"sha256: [0-9a-f]{64}", "sha256: " + "0" * 64, path.read_text("utf-8"), count=1)
    path.write_text(text, "utf-8")
    state = json.loads((clone / "catalog" / "lock.json").read_text("utf-8"))
    state["files"]["httpish.yaml"] = lock_part_hash(text)
    (clone / "catalog" / "lock.json").write_text(json.dumps(state, indent=2) + "\n", "utf-8")
    assert subprocess.run([*lock, "--check"], cwd=clone, env=env, capture_output=True).returncode == 0
    commit_all(clone, "a file of my own")
    proc = run_ci(clone, env, "relock", "--base", "tools-base")
    assert proc.returncode == 1, proc.stdout
    assert "catalog/ is not what `curate lock` writes" in proc.stdout
    assert "  catalog/packages/httpish.yaml" in proc.stdout


@needs_verbs
def test_relock_resolves_as_of_the_day_the_pull_request_recorded(clone: Path, env: dict[str, str]) -> None:
    """lock.json records the day each request was resolved as of; CI's re-lock reproduces it on a later
    day (and refuses a day after today, which would shorten the release cooldown)."""
    write_request(clone, "tools", [("fastmath", "")])
    lock = [sys.executable, "-m", "curate", "lock"]
    subprocess.run([*lock, "--as-of", "2026-11-20"], cwd=clone, env=env, check=True, capture_output=True)
    state = json.loads((clone / "catalog" / "lock.json").read_text("utf-8"))
    assert state["requests"]["2026-11-21-tools"]["as_of"] == "2026-11-20"
    commit_all(clone, "tools")
    proc = run_ci(clone, env, "relock", "--base", "main")
    assert proc.returncode == 0, proc.stdout

    state["requests"]["2026-11-21-tools"]["as_of"] = "2999-01-01"
    (clone / "catalog" / "lock.json").write_text(json.dumps(state, indent=1) + "\n", "utf-8")
    commit_all(clone, "a day to come")
    proc = run_ci(clone, env, "relock", "--base", "main")
    assert proc.returncode != 0
    assert "cannot resolve as of a day after today" in proc.stdout


@needs_verbs
def test_relock_does_nothing_without_request_changes(base_repo: Path, env: dict[str, str]) -> None:
    proc = run_ci(base_repo, env, "relock", "--base", "main")
    assert proc.returncode == 0
    assert "nothing to re-resolve" in proc.stdout


@needs_verbs
def test_rescan_writes_the_issue_body(base_repo: Path, env: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(base_repo, work)
    subprocess.run(
        [sys.executable, "-m", "curate", "fetch"], cwd=work, env=env, check=True, capture_output=True
    )
    proc = run_ci(work, env, "rescan", "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout
    assert (tmp_path / "out" / "blocking").read_text("utf-8") == "false\n"
    assert (tmp_path / "out" / "issue.md").read_text("utf-8").startswith(report.RESCAN_MARKER)


@needs_verbs
def test_rescan_lists_what_a_new_advisory_blocks(
    base_repo: Path, env: dict[str, str], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    shutil.copytree(base_repo, work)
    watch_advisory(work, "GHSA-cert-0000-0001", "certy", "certy trusts every certificate")
    subprocess.run(
        [sys.executable, "-m", "curate", "fetch"], cwd=work, env=env, check=True, capture_output=True
    )
    proc = run_ci(work, env, "rescan", "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stdout
    assert (tmp_path / "out" / "blocking").read_text("utf-8") == "true\n"
    issue = (tmp_path / "out" / "issue.md").read_text("utf-8")
    assert issue.startswith(report.RESCAN_MARKER)
    blocks = issue.split("### What blocks", 1)[1].split("###", 1)[0]
    assert "certy" in blocks
    assert "GHSA-cert-0000-0001" in blocks
    assert "### Vetting evidence that changed since the last merge" in issue


# -- the OS matrix of the smoke jobs ---------------------------------------------------------------


def test_the_smoke_matrix_follows_the_configured_targets(tmp_path: Path) -> None:
    from curate.config import load_config
    from curate.lock import load_requests
    from tests.catalogs import make_repo

    extra = "  riscv:\n    os: linux\n    arch: riscv64\n    platform_tags: [linux_riscv64]\n"
    root = make_repo(tmp_path)
    config_path = root / "catalog" / "config.yaml"
    last = "    platform_tags: [macosx_12_0_x86_64]\n"
    text = config_path.read_text("utf-8").replace(last, last + extra, 1)
    config_path.write_text(text, "utf-8")
    write_request(root, "win", [("certy", "")], platforms=("windows",), python=("3.13", "3.11"))
    write_request(
        root, "mac", [("certy", "")], platforms=("macos", "linux"), python=("3.12",), date="2026-11-22"
    )
    config = load_config(root)
    matrix = ci.smoke_matrix(config, load_requests(root))
    got = {e.platform: (e.runner, e.pythons) for e in matrix.entries}
    # every platform some request has a target on, with the Pythons the requests use there
    assert got == {
        "linux-x86_64": ("ubuntu-24.04", ("3.12",)),
        "linux-aarch64": ("ubuntu-24.04-arm", ("3.12",)),
        "windows-amd64": ("windows-2022", ("3.11", "3.13")),
        "macos-arm64": ("macos-14", ("3.12",)),
        "macos-x86_64": ("macos-13", ("3.12",)),
    }
    assert matrix.no_runner == ("riscv",)  # a platform no GitHub runner runs is named, not dropped silently
    lines = matrix.github_output().splitlines()
    assert lines[1] == "any=true"
    include = json.loads(lines[0].removeprefix("matrix="))["include"]
    assert include[2] == {
        "platform": "windows-amd64",
        "runner": "windows-2022",
        "pythons": "3.11\n3.13",
        "sandbox": "runner",  # Windows has no sandbox tool: the job is the isolation, and says so
    }
    assert [e["sandbox"] for e in include] == ["bwrap", "bwrap", "runner", "sandbox-exec", "sandbox-exec"]
    assert ci.smoke_matrix(config, []).github_output() == 'matrix={"include": []}\nany=false\n'
