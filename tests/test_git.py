"""The one git module: what to compare with, files at a revision, changes, dates and the user's email,
each run with the environment it is given."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from curate import git

ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_COMMITTER_DATE": "2025-03-04T05:06:07Z",
    "GIT_AUTHOR_DATE": "2025-03-04T05:06:07Z",
}


def sh(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], env=ENV, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    sh(root, "init", "-q", "-b", "main")
    (root / "catalog" / "packages" / "deep").mkdir(parents=True)
    (root / "catalog" / "packages" / "a.yaml").write_text("name: a\n", "utf-8")
    (root / "catalog" / "packages" / "deep" / "b.yaml").write_bytes(b"\x00binary\n")
    (root / "catalog" / "config.yaml").write_text("x: 1\n", "utf-8")
    os.symlink("/etc/passwd", root / "catalog" / "link")
    sh(root, "add", "-A")
    sh(root, "commit", "-q", "-m", "one")
    return root


def test_files_at_a_revision(repo: Path) -> None:
    files = git.files_at(repo, "main", "catalog", env=ENV)
    assert files == {
        "config.yaml": b"x: 1\n",
        "packages/a.yaml": b"name: a\n",
        "packages/deep/b.yaml": b"\x00binary\n",
    }  # the symlink is left out
    assert git.files_at(repo, "main", "requests", env=ENV) == {}
    with pytest.raises(git.GitError, match="unknown git revision 'nope'"):
        git.files_at(repo, "nope", "catalog", env=ENV)


def test_what_to_compare_with(repo: Path) -> None:
    first = git.head(repo, env=ENV)
    sh(repo, "checkout", "-q", "-b", "feature")
    (repo / "requests").mkdir()
    (repo / "requests" / "r.yaml").write_text("title: x\n", "utf-8")
    sh(repo, "add", "-A")
    sh(repo, "commit", "-q", "-m", "two")
    assert git.main_branch(repo, env=ENV) == "main"
    assert git.merge_base(repo, "", env=ENV) == first
    assert first.startswith(git.fork_point(repo, env=ENV))
    (repo / "catalog" / "config.yaml").write_text("x: 2\n", "utf-8")
    (repo / "requests" / "new.yaml").write_text("title: y\n", "utf-8")
    assert git.changed_files(repo, first, ["requests/", "catalog/config.yaml"], env=ENV) == [
        "catalog/config.yaml",
        "requests/new.yaml",
        "requests/r.yaml",
    ]
    assert "+x: 2" in git.worktree_diff(repo, ["catalog/"], env=ENV)
    assert git.last_commit_date(repo, ["requests"], env=ENV) == "2025-03-04"


def test_no_main_to_compare_with(tmp_path: Path) -> None:
    root = tmp_path / "solo"
    root.mkdir()
    sh(root, "init", "-q", "-b", "trunk")
    with pytest.raises(git.GitError, match="no 'main' or 'origin/main'"):
        git.main_branch(root, env=ENV)
    with pytest.raises(git.GitError, match="no git history"):
        git.fork_point(root, env=ENV)
    assert git.last_commit_date(root, ["catalog"], env=ENV) is None
    with pytest.raises(git.GitError, match=r"^git rev-parse HEAD: "):
        git.head(root, env=ENV)


def test_config_values_come_from_the_environment_given(repo: Path, tmp_path: Path) -> None:
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\temail = someone@example.org\n[author]\n\tEmail = me@example.org\n", "utf-8")
    pattern = r"^(author|user)\.email$"
    assert git.config_values(repo, pattern, env=ENV) == {}
    assert git.config_values(repo, pattern, env={**ENV, "GIT_CONFIG_GLOBAL": str(config)}) == {
        "user.email": "someone@example.org",
        "author.email": "me@example.org",
    }


def test_git_missing_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(git.GitError, match="cannot run git"):
        git.head(repo, env={"PATH": "/nonexistent"})
    assert git.config_values(repo, "user", env={"PATH": "/nonexistent"}) == {}
