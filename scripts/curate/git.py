"""git, for everything curate asks of the repository: what to compare with, the catalog as committed at
a revision, what changed, when the catalog last changed, and who the user is.

Every function takes the environment the CLI was given (``env``) and runs git in ``root`` with it,
never prompting (``GIT_TERMINAL_PROMPT=0``). Failures that stop a command are :class:`GitError` with
git's own message; the helpers that only enrich output (:func:`last_commit_date`,
:func:`config_values`) return None or nothing instead.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from curate.errors import UsageError

MAIN_BRANCHES = ("main", "origin/main")  # a CI checkout has only the remote one


class GitError(UsageError):
    """git could not do what curate asked (no repository, an unknown revision, git missing)."""


def _run(
    root: Path,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    stdin: bytes | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args],
            input=stdin,
            capture_output=True,
            check=False,
            timeout=timeout,
            env={**env, "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitError(f"cannot run git: {exc}") from exc


def _failed(args: Sequence[str], proc: subprocess.CompletedProcess[bytes]) -> GitError:
    message = proc.stderr.decode("utf-8", "replace").strip() or f"exit {proc.returncode}"
    return GitError(f"git {' '.join(args)}: {message}")


def run(root: Path, *args: str, env: Mapping[str, str]) -> str:
    """git's standard output for ``args``; :class:`GitError` when it fails."""
    proc = _run(root, args, env=env)
    if proc.returncode != 0:
        raise _failed(args, proc)
    return proc.stdout.decode("utf-8", "surrogateescape")


def is_commit(root: Path, ref: str, *, env: Mapping[str, str]) -> bool:
    return _run(root, ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], env=env).returncode == 0


def head(root: Path, *, env: Mapping[str, str]) -> str:
    """The commit checked out (full sha)."""
    return run(root, "rev-parse", "HEAD", env=env).strip()


def main_branch(root: Path, *, env: Mapping[str, str]) -> str:
    """``main`` when the branch exists, else ``origin/main``; :class:`GitError` when neither does."""
    for ref in MAIN_BRANCHES:
        if is_commit(root, ref, env=env):
            return ref
    raise GitError("no 'main' or 'origin/main' to compare with: pass --base REF")


def merge_base(root: Path, ref: str, *, env: Mapping[str, str]) -> str:
    """The merge base of ``ref`` (default: :func:`main_branch`) and HEAD (full sha)."""
    return run(root, "merge-base", ref or main_branch(root, env=env), "HEAD", env=env).strip()


def fork_point(root: Path, *, env: Mapping[str, str]) -> str:
    """Where this branch left main (the merge base of HEAD with main, else origin/main), else HEAD
    itself when there is no main to compare with; abbreviated."""
    for branch in MAIN_BRANCHES:
        proc = _run(root, ["merge-base", "HEAD", branch], env=env)
        if proc.returncode == 0:
            return short(root, proc.stdout.decode().strip(), env=env)
    proc = _run(root, ["rev-parse", "--verify", "HEAD"], env=env)
    if proc.returncode == 0:
        return short(root, proc.stdout.decode().strip(), env=env)
    raise GitError("no git history to compare with: pass --base REF")


def short(root: Path, sha: str, *, env: Mapping[str, str]) -> str:
    proc = _run(root, ["rev-parse", "--short", sha], env=env)
    return proc.stdout.decode().strip() if proc.returncode == 0 else sha


def changed_files(root: Path, base: str, paths: Sequence[str], *, env: Mapping[str, str]) -> list[str]:
    """Files under ``paths`` that differ from ``base`` (committed, staged or not) or are new and not
    ignored, sorted."""
    changed = run(root, "diff", "--name-only", base, "--", *paths, env=env).split()
    new = run(root, "ls-files", "--others", "--exclude-standard", "--", *paths, env=env).split()
    return sorted(set(changed) | set(new))


def worktree_diff(root: Path, paths: Sequence[str], *, env: Mapping[str, str]) -> str:
    """``git diff`` of the working tree against the index, for ``paths``."""
    return run(root, "diff", "--", *paths, env=env)


def files_at(root: Path, ref: str, folder: str, *, env: Mapping[str, str]) -> dict[str, bytes]:
    """Every regular file under ``folder`` as committed at ``ref``, by its path below ``folder``; read
    with one ``git cat-file --batch``. Empty when ``folder`` is not there; :class:`GitError` for an
    unknown revision. Symbolic links and submodules are left out."""
    listing = _run(root, ["ls-tree", "-r", "-z", f"{ref}:{folder}"], env=env)
    if listing.returncode != 0:
        if not is_commit(root, ref, env=env):
            check = _run(root, ["rev-parse", "--verify", f"{ref}^{{commit}}"], env=env)
            raise GitError(f"unknown git revision '{ref}': {check.stderr.decode('utf-8', 'replace').strip()}")
        return {}
    entries: list[tuple[str, str]] = []
    for item in listing.stdout.split(b"\0"):
        if not item:
            continue
        meta, _, raw_path = item.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        if kind != "blob" or mode not in ("100644", "100755"):
            continue
        path = raw_path.decode("utf-8", "surrogateescape")
        if any(part in ("", ".", "..") for part in path.split("/")) or PurePosixPath(path).is_absolute():
            raise GitError(f"{ref}:{folder}: a path curate will not write: {path!r}")
        entries.append((path, sha))
    if not entries:
        return {}
    batch = _run(
        root, ["cat-file", "--batch"], env=env, stdin="".join(f"{sha}\n" for _, sha in entries).encode()
    )
    if batch.returncode != 0:
        raise _failed(["cat-file", "--batch"], batch)
    data = batch.stdout
    out: dict[str, bytes] = {}
    pos = 0
    for path, _ in entries:
        header_end = data.index(b"\n", pos)
        size = int(data[pos:header_end].rsplit(b" ", 1)[1])
        out[path] = data[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1
    return out


def file_at(root: Path, ref: str, path: str, *, env: Mapping[str, str]) -> bytes | None:
    """One file as committed at ``ref`` (a path from the repository's root); None when it is not there."""
    proc = _run(root, ["cat-file", "blob", f"{ref}:{path}"], env=env)
    return proc.stdout if proc.returncode == 0 else None


def last_commit_date(root: Path, paths: Sequence[str], *, env: Mapping[str, str]) -> str | None:
    """The date (YYYY-MM-DD) of the last commit touching ``paths``; None when git cannot tell."""
    try:
        proc = _run(root, ["log", "-1", "--format=%cs", "--", *paths], env=env, timeout=30)
    except GitError:
        return None
    date = proc.stdout.decode("utf-8", "replace").strip()
    return date if proc.returncode == 0 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) else None


def config_values(root: Path, pattern: str, *, env: Mapping[str, str]) -> dict[str, str]:
    """The git config keys matching ``pattern`` (``git config --get-regexp``) as read at ``root``,
    lower-cased, with their values (the last one set wins); empty when none is set or git cannot tell."""
    try:
        proc = _run(root, ["config", "--get-regexp", pattern], env=env, timeout=10)
    except GitError:
        return {}
    found: dict[str, str] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines() if proc.returncode == 0 else []:
        key, _, value = line.partition(" ")
        if value.strip():
            found[key.lower()] = value.strip()
    return found
