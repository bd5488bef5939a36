"""The real pre-commit runs this repository's curate-check hook on a throwaway git repository.

`pre-commit try-repo` clones this repository and pip-installs it into a hook environment. To stay offline
and fast the install uses no index, no build isolation (hatchling comes from the test venv) and no
dependencies: the hook finds them on PYTHONPATH, which points at the test venv's site-packages. The
pre-commit store is shared by the whole session, so the environment is built once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import REPO

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
GOOD = (REPO / "requests" / "2026-11-02-data-science.yaml").read_text("utf-8")
BAD = """\
title: Computer vision
requested_by: cv@example.com
justification: TBD
platforms: [linux, osx]
packages:
  - name: cv2
"""


@pytest.fixture(scope="session")
def pre_commit_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("pre-commit-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PRE_COMMIT", "GIT_"))}
    env.update(
        PRE_COMMIT_HOME=str(home),
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_NO_DEPS="1",
        PIP_NO_BUILD_ISOLATION="0",  # pip's negative option: "0" turns build isolation off
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONPATH=sysconfig.get_paths()["purelib"],
        UV_PYTHON_DOWNLOADS="never",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / "gitconfig"),
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    return env


@pytest.fixture
def project(tmp_path: Path, pre_commit_env: dict[str, str]) -> Path:
    (tmp_path / "catalog").mkdir()
    shutil.copy(REPO / "catalog" / "config.yaml", tmp_path / "catalog" / "config.yaml")
    (tmp_path / "requests").mkdir()
    (tmp_path / "requests" / "2026-11-02-data-science.yaml").write_text(GOOD)
    (tmp_path / "requests" / "2026-11-21-computer-vision.yaml").write_text(BAD)
    (tmp_path / "README.md").write_text("# a catalog\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=pre_commit_env)
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True, env=pre_commit_env)
    return tmp_path


def try_repo(project: Path, env: dict[str, str], *files: str) -> tuple[int, str]:
    proc = subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(REPO), "curate-check", "--color", "never", "--files", *files],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    return proc.returncode, output


def test_good_request_passes(project: Path, pre_commit_env: dict[str, str]) -> None:
    code, out = try_repo(
        project, pre_commit_env, "requests/2026-11-02-data-science.yaml", "catalog/config.yaml"
    )
    assert code == 0, out
    assert "curate check" in out
    assert "Passed" in out


def test_bad_request_fails_with_messages(project: Path, pre_commit_env: dict[str, str]) -> None:
    code, out = try_repo(
        project,
        pre_commit_env,
        "requests/2026-11-02-data-science.yaml",
        "requests/2026-11-21-computer-vision.yaml",
        "catalog/config.yaml",
    )
    assert code == 1, out
    assert "Failed" in out
    assert "- hook id: curate-check\n- exit code: 1\n" in out
    expected = (
        "requests/2026-11-21-computer-vision.yaml:3:1: justification 'TBD' is a placeholder\n"
        "    hint: say what the packages are for and why the catalog should carry them\n"
        "requests/2026-11-21-computer-vision.yaml:4:20: unknown platform 'osx'\n"
        "    hint: did you mean 'macos'?\n"
        "requests/2026-11-21-computer-vision.yaml:6:5: 'cv2' is the import name; the distribution is "
        "'opencv-python'\n"
        "    hint: write name: opencv-python\n"
        "3 problem(s) in 1 of 3 file(s)\n"
    )
    assert expected in out
    assert "data-science" not in out.split("- exit code: 1")[1]


def test_other_files_are_skipped(project: Path, pre_commit_env: dict[str, str]) -> None:
    code, out = try_repo(project, pre_commit_env, "README.md")
    assert code == 0, out
    assert "(no files to check)Skipped" in out


def _yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text("utf-8"))


def test_hook_manifest() -> None:
    hooks = {h["id"]: h for h in _yaml(REPO / ".pre-commit-hooks.yaml")}
    check = hooks["curate-check"]
    assert check["entry"] == "curate check"
    assert check["language"] == "python"
    assert check["files"] == r"^(requests/.*\.ya?ml|catalog/config\.yaml)$"


def test_own_config_runs_check_ruff_and_mypy() -> None:
    config = _yaml(REPO / ".pre-commit-config.yaml")
    ids = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {"curate-check", "ruff", "ruff-format", "mypy"} <= ids
    for tool in (PRE_COMMIT,):
        proc = subprocess.run(
            [str(tool), "validate-config", str(REPO / ".pre-commit-config.yaml")],
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        proc = subprocess.run(
            [str(tool), "validate-manifest", str(REPO / ".pre-commit-hooks.yaml")],
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
