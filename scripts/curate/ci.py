"""The CI pipelines as data: the steps ``.github/workflows/*.yml`` run, in order, and a local runner.

Each workflow's checking job runs :data:`SETUP` and then exactly the ``run`` lines of its step list
(``tests/test_workflows.py`` parses the workflows and asserts it), so ``curate ci pr`` on a laptop runs
what CI will run, in the same order, with the same skip rules:

- A step runs only when every step it ``needs`` passed (in the workflow: ``if: !cancelled() &&
  steps.<need>.outcome == 'success'``); otherwise it is skipped and says which need failed.
- A failed step never stops the steps that do not need it: one run shows every problem.
- The job (and ``curate ci pr``) fails when any step failed.

``run`` lines are single commands (no pipes, redirections or ``&&``) whose only shell syntax is
``"$VAR"``, so the local runner can execute them without a shell: ``curate ...`` becomes
``python -m curate ...`` of the current interpreter, ``pre-commit ...`` becomes ``python -m pre_commit``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from curate import git
from curate.catalog import Project, load_catalog, load_project
from curate.config import Config
from curate.errors import UsageError, ValidationError
from curate.requests import Request

Outcome = Literal["success", "failure", "skipped"]

# The first run step of every job that calls curate: install the project (make venv) and put its
# virtualenv on PATH for the steps that follow.
SETUP = 'make venv && echo "$PWD/.venv/bin" >> "$GITHUB_PATH"'
# Builds run code from sdists in bubblewrap (curate.wheels; the lock asks sdists' backends what they need in
# it too: curate.builddeps): on a Linux runner, install it when the image lacks it. A lock made without it
# records `backend_asked: false`, and the re-resolution would then differ from the author's.
SANDBOX = (
    "command -v bwrap >/dev/null || { sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap; }"
)
# The checks job re-resolves the requests (curate ci relock): SETUP, then the sandbox.
LOCK_SETUP = f"{SETUP} && {{ {SANDBOX}; }}"

# The environment the workflow's steps get (job-level ``env:``); the local runner sets the same names.
BASE_VAR = "CURATE_BASE"  # the commit the PR is compared with (pull_request.base.sha in CI)
REPORT_VAR = "CURATE_REPORT_DIR"  # where the report (and the PR number) is written
STEPS_VAR = "CURATE_STEPS"  # JSON of the outcomes so far: the workflow's toJSON(steps)
SMOKE_DIR_VAR = "CURATE_SMOKE_DIR"  # where a smoke runner writes its results; where the report reads them
BUILT_DIR_VAR = "CURATE_BUILT_DIR"  # where a runner exports its built wheels; where the report reads them
BUILT_ARTIFACT = "curate-built-"  # + the platform: each runner's export, uploaded as this artifact

# Inputs whose change in a pull request asks for a full re-resolution.
LOCK_INPUTS = ("requests/", "catalog/config.yaml")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """One step of a pipeline: a workflow step with ``id``, ``name`` and ``run``."""

    id: str  # the workflow step id (letters, digits, underscores)
    name: str  # the workflow step name, shown in headers and the summary
    run: str  # the exact ``run:`` line of the workflow step
    needs: tuple[str, ...] = ()  # ids of earlier steps that must have passed
    always: bool = False  # runs whatever failed before it (the report); ignores ``needs``
    doc: str = ""  # what the step means, for the guide and --help

    def condition(self) -> str:
        """The step's ``if:`` expression in the workflow (without ``${{ }}``)."""
        parts = ["!cancelled()"] + [f"steps.{n}.outcome == 'success'" for n in self.needs]
        return " && ".join(parts)


PR_STEPS: tuple[Step, ...] = (
    Step(
        id="pre_commit",
        name="pre-commit",
        run="pre-commit run --all-files --show-diff-on-failure",
        doc="every hook of .pre-commit-config.yaml on every file: curate check, ruff, mypy, actionlint, zizmor",
    ),
    Step(
        id="check",
        name="curate check",
        run="curate check",
        doc="the change requests and the config are valid (errors are annotations on the request's line)",
    ),
    Step(
        id="lock_check",
        name="curate lock --check",
        run="curate lock --check",
        needs=("check",),
        doc="catalog/ is what `curate lock` writes for requests/ and the config (no network)",
    ),
    Step(
        id="relock",
        name="re-resolve changed requests",
        run=f'curate ci relock --base "${BASE_VAR}"',
        needs=("check",),
        doc="when requests/, the config or the locked part of catalog/ changed: `curate lock` again from "
        "the base branch's catalog, against the upstream, and compare with the catalog in the pull request",
    ),
    Step(
        id="fetch",
        name="curate fetch",
        run="curate fetch",
        needs=("lock_check", "relock"),
        doc="download every catalog file into the cache, verifying sha256 and size",
    ),
    Step(
        id="vet",
        name="curate vet",
        # from the files: CI never keeps the evidence a pull request commits; the suspicious-code scans of
        # versions the base branch already holds (same files, same ruleset) are the base's
        run=f'curate vet --force --scan-base "${BASE_VAR}"',
        needs=("fetch",),
        doc="integrity, licences (with the licence files' texts), suspicious code in the versions the pull"
        " request adds, known vulnerabilities (from vetting.advisories; the report says whether they were"
        " checked), yanked releases, look-alike names; policy decides",
    ),
    Step(
        id="report",
        name="review report",
        run=f'curate ci report --base "${BASE_VAR}" --output-dir "${REPORT_VAR}" --smoke-dir "${SMOKE_DIR_VAR}"'
        f' --built-dir "${BUILT_DIR_VAR}"',
        always=True,
        doc="`curate diff --format markdown`, the step results, the OS runners' install-and-import "
        "results and the wheels they built (with the command that merges their records into the pull "
        "request, and any conflict among them): the job summary and the PR comment",
    ),
)

RESCAN_STEPS: tuple[Step, ...] = (
    Step(id="fetch", name="curate fetch", run="curate fetch", doc="the cache holds every catalog file"),
    Step(
        id="rescan",
        name="re-vet the catalog",
        run=f'curate ci rescan --output-dir "${REPORT_VAR}"',
        always=True,
        doc="`curate vet` against today's advisories; writes the issue body listing what blocks",
    ),
)

# publish.yml's "wheels" job rebuilds the wheels catalog/ records as built (`curate wheels --reproduce-only
# --export`), with a read-only token and no secret, and hands their bytes to the build job in this folder
BUILT_DIR = "built-wheels"
# where publish.yml's build job downloads the last publish's curate-cache artifact and writes the next
CACHE_ARCHIVE_VAR = "CURATE_CACHE_ARCHIVE"

PUBLISH_STEPS: tuple[Step, ...] = (
    Step(id="fetch", name="curate fetch", run="curate fetch"),
    Step(id="vet", name="curate vet", run="curate vet --force", needs=("fetch",)),
    # the recorded built wheels' bytes, as the "wheels" job (no secrets) rebuilt them: taken only with
    # their recorded sha256 (nothing is built in this job); curate build leaves out, and fails on, the rest
    Step(
        id="wheels", name="curate wheels --import", run=f"curate wheels --import {BUILT_DIR}", needs=("vet",)
    ),
    # the derived caches of the last successful publish, from its artifact, taken only when their HMAC
    # holds (curate.cacheseal: not Actions' cache, which the wheels jobs could write); sealed again after
    Step(
        id="cache_check",
        name="curate ci check-cache",
        run=f'curate ci check-cache --archive "${CACHE_ARCHIVE_VAR}"',
    ),
    Step(id="build", name="curate build", run="curate build", needs=("vet", "cache_check")),
    Step(
        id="cache_seal",
        name="curate ci seal-cache",
        run=f'curate ci seal-cache --archive "${CACHE_ARCHIVE_VAR}"',
        needs=("build",),
    ),
    Step(
        id="publish",
        name="curate publish",
        run="curate publish",
        needs=("build",),
        doc="to the targets under publish: in catalog/config.yaml (GitHub Pages, a bucket, a repository)",
    ),
)

# -- the OS matrix of pr.yml: build and smoke-test on a runner of each configured platform ------------

PLATFORM_VAR = "CURATE_PLATFORM"  # the matrix entry's platform (a target name of the config)
SANDBOX_VAR = "CURATE_SANDBOX"  # the matrix entry's `curate wheels --sandbox` (RUNNER_SANDBOX)
SMOKE_JSON_VAR = "CURATE_SMOKE_JSON"  # the file a runner writes its results to (in the uploaded folder)

# The first run step of a smoke job: install curate into the runner's Python (setup-python's; the
# last one it set up is `python`). Not `make venv`: Windows runners have no make, and a venv's
# scripts live in .venv/Scripts there.
SMOKE_SETUP = f'python -m pip install --quiet . && if [ "$RUNNER_OS" = Linux ]; then {SANDBOX}; fi'
# The plan job's step after SETUP: the matrix, from the config's targets and the requests.
MATRIX_RUN = 'curate ci matrix --github-output "$GITHUB_OUTPUT"'

# GitHub-hosted runner per (os, normalised arch) of a configured target.
RUNNERS: dict[tuple[str, str], str] = {
    ("linux", "x86_64"): "ubuntu-24.04",
    ("linux", "aarch64"): "ubuntu-24.04-arm",
    ("windows", "x86_64"): "windows-2022",
    ("windows", "aarch64"): "windows-11-arm",
    ("macos", "aarch64"): "macos-14",
    ("macos", "x86_64"): "macos-13",
}

# What isolates the builds on a runner of each OS (curate wheels --sandbox; recorded as each built wheel's
# isolation): bubblewrap on Linux (SMOKE_SETUP installs it), macOS's own sandbox-exec, and on Windows, which
# has no such tool, the job itself (an ephemeral GitHub-hosted runner, a read-only token, no secrets).
RUNNER_SANDBOX: dict[str, str] = {"linux": "bwrap", "macos": "sandbox-exec", "windows": "runner"}

SMOKE_STEPS: tuple[Step, ...] = (
    Step(id="fetch", name="curate fetch", run="curate fetch", doc="the catalog's files, verified"),
    Step(
        id="vet", name="curate vet", run="curate vet --force", needs=("fetch",), doc="vetted as these bytes"
    ),
    Step(
        id="wheels",
        name="curate wheels",
        run=f'curate wheels --sandbox "${SANDBOX_VAR}" --export "${BUILT_DIR_VAR}"',
        needs=("vet",),
        doc="wheels built from the vetted sdists for this runner's targets, in the sandbox of its OS (a "
        "failed build does not stop the test of the rest: the install names what is missing); the built "
        "wheels and the catalog's built: records exported for the checks job (`curate wheels --merge`)",
    ),
    Step(
        id="build",
        name="curate build --index-only",
        run="curate build --index-only --left-out warn",
        needs=("vet",),
        doc="the index the test installs from (what is not served is left out, and the install says so)",
    ),
    Step(
        id="smoke",
        name="curate smoke",
        run=f'curate smoke --no-record --target "${PLATFORM_VAR}" --json "${SMOKE_JSON_VAR}"',
        needs=("build",),
        doc="each request's locked set installed from the built index and imported, on this runner's targets",
    ),
)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    """One job of a workflow: its id, what it needs, and the run steps after its setup step."""

    id: str
    name: str
    setup: str  # its first run step
    steps: tuple[Step, ...] = ()  # the pipeline steps after setup (with ids and if:)
    extra_runs: tuple[str, ...] = ()  # plain run steps after setup (no id rules)
    needs: tuple[str, ...] = ()
    matrix: bool = False  # one job per entry of the plan job's matrix


# pr.yml: the plan job derives the matrix; each smoke job builds and tests one platform on its own
# runner and uploads its results; the checks job (which waits for them) merges them into the report.
PR_JOBS: tuple[Job, ...] = (
    Job(id="plan", name="OS matrix", setup=SETUP, extra_runs=(MATRIX_RUN,)),
    Job(
        id="smoke",
        name="build and smoke test",
        setup=SMOKE_SETUP,
        steps=SMOKE_STEPS,
        needs=("plan",),
        matrix=True,
    ),
    Job(id="checks", name="checks", setup=LOCK_SETUP, steps=PR_STEPS, needs=("smoke",)),
)

PIPELINES: dict[str, tuple[Step, ...]] = {
    "pr": PR_STEPS,
    "rescan": RESCAN_STEPS,
    "publish": PUBLISH_STEPS,
    "smoke": SMOKE_STEPS,
}


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class MatrixEntry:
    platform: str  # the config's target name, e.g. linux-x86_64
    runner: str  # the GitHub runner label
    pythons: tuple[str, ...]  # the Pythons the requests use there
    sandbox: str  # what isolates the builds there (RUNNER_SANDBOX)

    def to_dict(self) -> dict[str, str]:
        # setup-python takes several versions one per line; the job sets up curate's own after them
        return {
            "platform": self.platform,
            "runner": self.runner,
            "pythons": "\n".join(self.pythons),
            "sandbox": self.sandbox,
        }


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Matrix:
    entries: tuple[MatrixEntry, ...]
    no_runner: tuple[str, ...] = ()  # platforms some request uses that no known runner runs

    def github_output(self) -> str:
        """``$GITHUB_OUTPUT`` lines: ``matrix`` (for ``fromJSON``) and ``any`` (whether to run it)."""
        matrix = json.dumps({"include": [e.to_dict() for e in self.entries]}, sort_keys=True)
        return f"matrix={matrix}\nany={'true' if self.entries else 'false'}\n"


def _matrix(config: Config, pythons: Mapping[str, set[str]]) -> Matrix:
    """One entry per configured platform in ``pythons`` (platform name -> its Pythons; none: 3.12), on
    its runner with its sandbox kind; the platforms no known runner runs, named."""
    from curate.smoke import normalised_arch

    entries: list[MatrixEntry] = []
    missing: list[str] = []
    for platform in config.platforms:
        if platform.name not in pythons:
            continue
        runner = RUNNERS.get((platform.os, normalised_arch(platform.arch)))
        if runner is None:
            missing.append(platform.name)
            continue
        versions = sorted(
            pythons[platform.name] or {"3.12"}, key=lambda v: tuple(int(x) for x in v.split("."))
        )
        entries.append(
            MatrixEntry(
                platform=platform.name,
                runner=runner,
                pythons=tuple(versions),
                sandbox=RUNNER_SANDBOX.get(platform.os, "auto"),
            )
        )
    return Matrix(entries=tuple(entries), no_runner=tuple(missing))


def smoke_matrix(config: Config, requests: Sequence[Request]) -> Matrix:
    """One entry per configured platform some request has a target on, with the Pythons used there."""
    from curate.smoke import request_targets

    pythons: dict[str, set[str]] = {}
    for request in requests:
        for target in request_targets(request, config):
            pythons.setdefault(target.platform.name, set()).add(target.python)
    return _matrix(config, pythons)


def built_matrix(config: Config, projects: Mapping[str, Project]) -> Matrix:
    """publish.yml's wheels jobs: one entry per platform whose builder must reproduce a wheel the catalog
    records as built (:func:`curate.wheels.reproducing_platforms`: a native wheel's own platforms, the
    first Linux one for a pure-Python wheel), with the Pythons those wheels were built with."""
    from curate.wheels import reproducing_platforms

    pythons: dict[str, set[str]] = {}
    for project in projects.values():
        for v in project.versions:
            for b in v.built:
                python = ".".join(b.python.split(".")[:2])
                for name in reproducing_platforms(config, b):
                    pythons.setdefault(name, set()).update({python} if python else set())
    return _matrix(config, pythons)


# publish.yml: the plan job's step after SETUP (the wheels jobs' matrix), and each wheels job's run steps
# after SMOKE_SETUP: rebuild only the recorded wheels whose bytes this runner lacks, keep a rebuild only
# when it reproduces the recorded sha256 (a native wheel of another OS is left to that OS's job), and
# hand the bytes to the build job, which takes them only by sha256 (curate wheels --import)
PUBLISH_MATRIX_RUN = 'curate ci matrix --built --github-output "$GITHUB_OUTPUT"'
PUBLISH_WHEELS_RUNS: tuple[str, ...] = (
    "curate fetch",
    f'curate wheels --reproduce-only --platform "${PLATFORM_VAR}" --sandbox "${SANDBOX_VAR}" --export {BUILT_DIR}',
)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class StepResult:
    step: Step
    outcome: Outcome
    seconds: float = 0.0
    reason: str = ""  # why it was skipped, or the exit code
    output: str = ""  # what it printed (stdout then stderr), when captured


# -- running ------------------------------------------------------------------------------------

_VAR = re.compile(r"^\$(?P<name>[A-Z_][A-Z0-9_]*)$")
_MODULES = {"curate": "curate", "pre-commit": "pre_commit"}


def command(run: str, env: Mapping[str, str], *, python: str = sys.executable) -> list[str]:
    """The argv of a ``run`` line: ``"$VAR"`` words expanded, known tools run by ``python -m``."""
    words = []
    for word in shlex.split(run):
        m = _VAR.match(word)
        if m is not None:
            word = env.get(m["name"], "")
        elif "$" in word or word in ("|", "||", "&&", ";", ">", ">>", "<"):
            raise UsageError(f'run line {run!r}: only simple commands with whole-word "$VAR" are supported')
        words.append(word)
    module = _MODULES.get(words[0])
    if module is not None:
        return [python, "-m", module, *words[1:]]
    return words


Runner = Callable[[Sequence[str], Path, Mapping[str, str]], int]


def subprocess_runner(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> int:
    """Run a step with its output going straight to ours (what CI's log shows)."""
    sys.stdout.flush()
    sys.stderr.flush()
    return subprocess.run(list(argv), cwd=cwd, env=dict(env), check=False).returncode


def outcomes_json(results: Sequence[StepResult]) -> str:
    """The shape of the workflow's ``toJSON(steps)``: ``{id: {outcome, conclusion}}``."""
    return json.dumps(
        {r.step.id: {"outcome": r.outcome, "conclusion": r.outcome} for r in results}, sort_keys=True
    )


def run_pipeline(
    steps: Sequence[Step],
    *,
    root: Path,
    env: Mapping[str, str],
    skip: Sequence[str] = (),
    runner: Runner = subprocess_runner,
    out: Callable[[str], None] = print,
) -> list[StepResult]:
    """Run ``steps`` in order with the workflow's skip rules; print a header before each."""
    known = {s.id for s in steps} | {s.name for s in steps}
    unknown = [s for s in skip if s not in known and s.replace("-", "_") not in known]
    if unknown:
        choices = ", ".join(s.id.replace("_", "-") for s in steps)
        raise UsageError(f"--skip {unknown[0]}: no such step (steps: {choices})")
    skipped = {s.replace("-", "_") for s in skip} | set(skip)
    results: list[StepResult] = []
    by_id: dict[str, StepResult] = {}
    for n, step in enumerate(steps, 1):
        out(f"\n=== [{n}/{len(steps)}] {step.name}: {step.run}")
        if step.id in skipped or step.name in skipped:
            result = StepResult(step=step, outcome="skipped", reason="--skip")
        elif not step.always and (failed := [x for x in step.needs if by_id[x].outcome != "success"]):
            result = StepResult(step=step, outcome="skipped", reason=f"needs {', '.join(failed)}")
        else:
            step_env = dict(env)
            step_env[STEPS_VAR] = outcomes_json(results)
            start = time.perf_counter()
            code = runner(command(step.run, step_env), root, step_env)
            result = StepResult(
                step=step,
                outcome="success" if code == 0 else "failure",
                seconds=time.perf_counter() - start,
                reason="" if code == 0 else f"exit {code}",
            )
        if result.outcome == "skipped":
            out(f"--- skipped ({result.reason})")
        results.append(result)
        by_id[step.id] = result
    return results


_SYMBOL = {"success": "passed", "failure": "FAILED", "skipped": "skipped"}


def summary_table(results: Sequence[StepResult]) -> str:
    """A plain-text table of the results, one line per step."""
    rows = [("step", "result", "time", "command")]
    for r in results:
        result = _SYMBOL[r.outcome] + (f" ({r.reason})" if r.reason else "")
        seconds = f"{r.seconds:.1f}s" if r.outcome != "skipped" else "-"
        rows.append((r.step.name, result, seconds, r.step.run))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    ]
    failed = sum(r.outcome == "failure" for r in results)
    skipped = [r.step.name for r in results if r.reason == "--skip"]
    verdict = f"{failed} step(s) failed" if failed else "all steps passed"
    if skipped:
        verdict += f"; skipped on request: {', '.join(skipped)} (CI runs them)"
    return "\n".join([*lines, "", verdict])


# -- the pull request's checks, the review report and the rescan --------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PrChecks:
    results: tuple[StepResult, ...]
    report_dir: Path  # where the review report was written

    @property
    def failed(self) -> bool:
        return any(r.outcome == "failure" for r in self.results)


def pr_checks(
    root: Path,
    *,
    env: Mapping[str, str],
    base: str,
    skip: Sequence[str],
    report_dir: Path | None,
    runner: Runner = subprocess_runner,
    out: Callable[[str], None] = print,
) -> PrChecks:
    """Run :data:`PR_STEPS` as the pull-request workflow does (base: ``base``, else :func:`git.main_branch`)."""
    step_env = dict(env)
    step_env[BASE_VAR] = base or git.main_branch(root, env=env)
    out_dir = report_dir or Path(tempfile.mkdtemp(prefix="curate-ci-"))
    step_env[REPORT_VAR] = str(out_dir.resolve())
    results = run_pipeline(PR_STEPS, root=root, env=step_env, skip=skip, runner=runner, out=out)
    return PrChecks(results=tuple(results), report_dir=out_dir)


def run_curate(root: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``curate ARGS`` in a process of its own, its output captured."""
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


def append_step_summary(env: Mapping[str, str], body: str) -> None:
    """Append ``body`` to the job summary (``$GITHUB_STEP_SUMMARY``), when there is one."""
    from curate import report

    summary = env.get("GITHUB_STEP_SUMMARY", "")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(report.step_summary(body) + "\n")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Review:
    body: str  # the review report (markdown)
    diff_code: int  # curate diff's exit code
    diff_stderr: str
    built_conflicts: int = 0  # the same version and target built to different bytes on two runners


def review_report(
    root: Path,
    *,
    env: Mapping[str, str],
    base: str,
    output_dir: Path | None,
    smoke_dir: Path | None = None,
    built_dir: Path | None = None,
) -> Review:
    """The review report: ``curate diff --format markdown`` against the merge base plus the step
    results (``$CURATE_STEPS``), the install-and-import test (:func:`smoke_report`) and the wheels the
    runners built (:func:`built_report`); written to ``output_dir`` (report.md, pr-number) and the job
    summary."""
    from curate import report

    base_commit = git.merge_base(root, base, env=env)
    diff = run_curate(root, env, "diff", "--format", "markdown", "--base", base_commit)
    head = pr_head(env) or git.head(root, env=env)
    smoke_md, smoke_blocking = smoke_report(root, smoke_dir)
    requests_md = report.requests_section(changed_requests(root, base_commit, env=env))
    built_md, conflicts = built_report(root, env, built_dir) if built_dir is not None else ("", 0)
    body = report.pr_report(
        outcomes=report.parse_outcomes(env.get(STEPS_VAR, "")),
        diff_markdown=diff.stdout if diff.returncode == 0 else "",
        diff_error="" if diff.returncode == 0 else (diff.stderr or diff.stdout or f"exit {diff.returncode}"),
        commit=head,
        smoke=smoke_md,
        smoke_blocking=smoke_blocking,
        requests=requests_md,
        built=built_md,
        built_blocking=bool(conflicts),
    )
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "report.md").write_text(report.pr_comment(body, run_url=report.run_url(env)), "utf-8")
        (output_dir / "pr-number").write_text(pr_number(env) + "\n", "utf-8")
    append_step_summary(env, body)
    return Review(body=body, diff_code=diff.returncode, diff_stderr=diff.stderr, built_conflicts=conflicts)


def merge_command(env: Mapping[str, str]) -> str:
    """The commands that bring the runners' built: records into the pull request's branch, in the
    author's clone: download this run's ``curate-built-*`` artifacts, ``curate wheels --merge``, commit."""
    run_id = env.get("GITHUB_RUN_ID", "")
    repo = env.get("GITHUB_REPOSITORY", "")
    if re.fullmatch(r"[0-9]+", run_id) and re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
        folder = f"built-{run_id}"
        download = f"gh run download {run_id} --repo {repo} --pattern '{BUILT_ARTIFACT}*' --dir {folder}"
    else:
        folder = "built"
        download = f"# download this run's {BUILT_ARTIFACT}* artifacts, one folder each, into {folder}/"
    return "\n".join(
        [
            download,
            f"curate wheels --merge {folder}/*",
            'git add catalog/ && git commit -m "catalog: the wheels built on the pull request\'s runners"',
        ]
    )


def built_report(root: Path, env: Mapping[str, str], built_dir: Path) -> tuple[str, int]:
    """The review report's section on the wheels the OS runners built (each runner's ``--export`` folder,
    downloaded under ``built_dir``), merged in memory only, and how many conflicts there are."""
    from curate import report
    from curate.errors import CurateError
    from curate.wheels import RECORDS_FILE, merge_built

    if (built_dir / RECORDS_FILE).is_file():
        dirs = [built_dir]
    else:
        dirs = sorted(d for d in built_dir.iterdir() if d.is_dir()) if built_dir.is_dir() else []
    try:
        merged = merge_built(root=root, env=env, dirs=dirs, write=False)
    except CurateError as exc:
        return report.built_section(None, command="", error=str(exc)), 0
    return report.built_section(merged, command=merge_command(env)), len(merged.conflicts)


def changed_requests(root: Path, base: str, *, env: Mapping[str, str]) -> list[Request | str]:
    """The request files that differ from ``base``, read (their path alone when removed or invalid:
    ``curate check`` reports why), for the review report's requests section."""
    from curate.requests import read_request

    out: list[Request | str] = []
    for rel in git.changed_files(root, base, ["requests"], env=env):
        path = root / rel
        if not rel.endswith((".yaml", ".yml")):
            continue
        request = read_request(path, rel, None, root=root)[0] if path.is_file() else None
        out.append(request if request is not None else rel)
    return out


def smoke_report(root: Path, smoke_dir: Path | None) -> tuple[str, bool]:
    """The review report's install-and-import section, and whether a target in it blocks.

    With ``smoke_dir`` (CI: the ``--json`` files of the OS runners, downloaded into one folder), this
    run's results merged, a target no runner ran saying why; without it, what ``catalog/smoke/``
    records, stale where the set was locked again since."""
    from curate import report, smoke
    from curate.config import load_config
    from curate.errors import CurateError
    from curate.lock import load_requests

    try:
        config = load_config(root)
        requests = load_requests(root)
        projects = load_catalog(root)
        if smoke_dir is not None:
            files = sorted(smoke_dir.rglob("*.json")) if smoke_dir.is_dir() else []
            fresh = smoke.merge_json(files)
            ran = sorted({t for (_, t), r in fresh.items() if r.ran})
            source = (
                f"From this run: {len(files)} runner(s) tested {len(ran)} target(s) "
                "(a target no runner could run says why)."
            )
            rows = smoke.recorded(root, requests, config, projects, fresh=fresh, only_fresh=True)
        else:
            source = "As recorded in `catalog/smoke/` by `curate smoke` (this run did not test)."
            rows = smoke.recorded(root, requests, config, projects)
    except CurateError as exc:
        return report.smoke_section({}, source="", error=exc.summary() if exc.problems else str(exc)), False
    blocking = any(s.blocking for items in rows.values() for s in items)
    return report.smoke_section(rows, source=source), blocking


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Rescan:
    vet_output: str  # what curate vet printed (stdout then stderr)
    vet_code: int
    vet_stderr: str
    body: str  # the rescan issue's body


def rescan(root: Path, *, env: Mapping[str, str], output_dir: Path | None) -> Rescan:
    """``curate vet --force --scan-base HEAD`` on the whole catalog; the rescan issue body (with the evidence it
    changed) written to ``output_dir`` (issue.md, blocking) and the job summary."""
    from curate import report

    # every version from its files, not the stored results; the suspicious-code scans recorded in the
    # catalog are kept where the files and the ruleset are the same (a new GuardDog scans everything again)
    vet = run_curate(root, env, "vet", "--force", "--scan-base", "HEAD")
    output = (vet.stdout + vet.stderr).strip()
    evidence = git.worktree_diff(root, ["catalog/packages/"], env=env)
    body = report.rescan_issue(
        vet_code=vet.returncode, vet_output=output, evidence_diff=evidence, commit=git.head(root, env=env)
    )
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "issue.md").write_text(
            report.rescan_issue_body(body, run_url=report.run_url(env)), "utf-8"
        )
        (output_dir / "blocking").write_text("true\n" if vet.returncode else "false\n", "utf-8")
    append_step_summary(env, body)
    return Rescan(vet_output=output, vet_code=vet.returncode, vet_stderr=vet.stderr, body=body)


# -- the base branch's side ----------------------------------------------------------------------


def changed_inputs(root: Path, base_commit: str, *, env: Mapping[str, str]) -> list[str]:
    """Request and config files that differ from ``base_commit`` (committed, staged, or new)."""
    return git.changed_files(root, base_commit, LOCK_INPUTS, env=env)


def tree_files(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def export_base_catalog(root: Path, base_commit: str, dest: Path, *, env: Mapping[str, str]) -> None:
    """Write ``catalog/`` as it is at ``base_commit`` under ``dest`` (nothing when it had none)."""
    for rel, data in git.files_at(root, base_commit, "catalog", env=env).items():
        path = dest / "catalog" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RelockResult:
    changed: tuple[str, ...]  # the request/config/catalog files that asked for it; () = nothing to do
    differences: tuple[str, ...] = ()  # catalog files that differ from the fresh lock
    lock_code: int = 0


def relock(
    root: Path,
    *,
    base: str,
    env: Mapping[str, str],
    python: str = sys.executable,
    workdir: Path | None = None,
) -> RelockResult:
    """Lock the pull request's requests and config again, starting from the base branch's catalog.

    ``curate lock`` is stable, so starting from the base's catalog it resolves exactly the requests
    the pull request added or changed (and the config, when that changed) against the upstream, each
    as of the day the pull request's lock.json records for it (never after today: a later day would
    let the release cooldown admit newer versions). The result must be the catalog the pull request
    carries, byte for byte: that proves the committed catalog is a real resolution and was not edited
    by hand. The working tree is never modified.
    """
    base_commit = git.merge_base(root, base, env=env)
    changed = changed_inputs(root, base_commit, env=env)
    with tempfile.TemporaryDirectory(prefix="curate-relock-", dir=workdir) as tmp:
        scratch = Path(tmp) / "repo"
        scratch.mkdir()
        export_base_catalog(root, base_commit, scratch, env=env)
        # the catalog is an input too: a pull request that changes only catalog/ (an upgrade, or a hand
        # edit with lock.json's hashes made to match) is re-resolved for the projects it changes
        edited = _locked_part_changes(scratch / "catalog", root / "catalog")
        if not changed and not edited:
            return RelockResult(changed=())
        projects = [
            p.removeprefix("packages/").removesuffix(".yaml") for p in edited if p.startswith("packages/")
        ]
        upgrades = [] if changed else projects
        (scratch / "catalog").mkdir(exist_ok=True)
        shutil.copy2(root / "catalog" / "config.yaml", scratch / "catalog" / "config.yaml")
        if (root / "requests").is_dir():
            shutil.rmtree(scratch / "requests", ignore_errors=True)
            shutil.copytree(root / "requests", scratch / "requests")
        sys.stdout.flush()
        args = ["lock", *(f"--upgrade-package={name}" for name in upgrades)]
        if (root / "catalog" / "lock.json").is_file():  # each request as of the day the pull request says
            args.append(f"--dates-from={root / 'catalog' / 'lock.json'}")
        code = subprocess.run(
            [python, "-m", "curate", "-C", str(scratch), *args], env=dict(env), check=False
        ).returncode
        changed = changed or [f"catalog/{p}" for p in edited]
        if code != 0:
            return RelockResult(changed=tuple(changed), lock_code=code)
        differences = _locked_part_changes(scratch / "catalog", root / "catalog")  # the config is a copy
    return RelockResult(changed=tuple(changed), differences=tuple(f"catalog/{d}" for d in differences))


def _locked_part_changes(base: Path, mine: Path) -> list[str]:
    """The files of ``catalog/`` (but the config) whose locked part differs between two trees
    (``packages/x.yaml``, ``lock.json``); ``vetting:`` evidence alone is no change."""
    old, new = tree_files(base), tree_files(mine)
    return [
        k
        for k in sorted(set(old) | set(new))
        if k != "config.yaml"
        and not k.startswith("smoke/")  # curate smoke's results: evidence, like vetting
        and old.get(k) != new.get(k)
        and not _same_lock(base / k, mine / k)
    ]


def _same_lock(a: Path, b: Path) -> bool:
    """Whether two project files say the same once ``curate vet``'s evidence is left out.

    ``vetting:`` belongs to ``curate vet``, which recomputes it from the files in a later step (and
    the review report is made after that), so a requester may commit it or not.
    """
    if not (a.is_file() and b.is_file() and a.parent.name == "packages" and a.suffix == ".yaml"):
        return False
    try:
        left, right = load_project(a), load_project(b)
    except ValidationError:
        return False
    return _without_vetting(left).to_dict() == _without_vetting(right).to_dict()


def _without_vetting(project: Project) -> Project:
    return dataclasses.replace(
        project, versions=tuple(dataclasses.replace(v, vetting=None) for v in project.versions)
    )


def environ(env: Mapping[str, str]) -> dict[str, str]:
    """The environment steps run in: the CLI's, with uv never downloading an interpreter."""
    out = dict(env)
    out["UV_PYTHON_DOWNLOADS"] = "never"
    return out
