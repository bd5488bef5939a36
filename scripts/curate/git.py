"""git, for everything curate asks of the repository: what to compare with, the catalog as committed at
a revision, what changed, when the catalog last changed, who the user is, and the catalog's history (the
first-parent commits that changed it, the files each one changed, their blobs: :mod:`curate.history`).

Every function takes the environment the CLI was given (``env``) and runs git in ``root`` with it,
never prompting (``GIT_TERMINAL_PROMPT=0``). Failures that stop a command are :class:`GitError` with
git's own message; the helpers that only enrich output (:func:`last_commit_date`,
:func:`config_values`) return None or nothing instead.
"""

from __future__ import annotations

import dataclasses
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


# -- history (curate.history) ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Commit:
    """One commit of the first-parent history (a merged change on the main line)."""

    sha: str
    parent: str  # the first parent; "" for a root commit or where a shallow clone's history stops
    date: str  # the committer date, strict ISO 8601 (when it landed on this line)
    subject: str  # the first line of its message
    # the files under the log's paths it changed against its first parent (every file for a root
    # commit), as :func:`changed_files_of` gives them; None when not read with it (ask that function)
    files: tuple[Changed, ...] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Changed:
    """One file a commit changed against its first parent."""

    path: str  # from the directory git ran in (``--relative``)
    status: str  # git's letter: A (added), M (modified), D (deleted), T (type changed)
    old: str  # the blob before; "" when added
    new: str  # the blob after; "" when deleted


_NULL_SHA = re.compile(r"^0+$")


_LOG_FORMAT = "--format=%H%x1f%P%x1f%cI%x1f%s"
# with each commit, the files it changed against its first parent, as ``git diff-tree`` gives them: raw,
# full blob ids, renames as a deletion and an addition, a root commit's files as added, a merge against
# its first parent, paths from the directory git ran in (and only below it), in git's own order (no
# diff.orderFile)
_LOG_FILES = (
    "--raw",
    "--no-abbrev",
    "--no-renames",
    "--no-color",
    "--root",
    "--diff-merges=first-parent",
    "--relative",
    "-O/dev/null",
)


def first_parent_log(root: Path, paths: Sequence[str], *, env: Mapping[str, str]) -> list[Commit]:
    """The commits of HEAD's first-parent line that changed ``paths`` against their first parent, newest
    first: on a main line of merged pull requests, one per merge (squash and rebase merges: one per
    commit), each with the files under ``paths`` it changed (:attr:`Commit.files`). Empty when HEAD has
    no commit yet; :class:`GitError` when this is no repository.

    One walk of the line, each commit compared with its first parent once, and the commits that changed
    nothing under ``paths`` left out here: a path-limited walk (``git log -- paths``) compares each
    commit's trees twice, once to choose it (stopping at the first change) and once for its files, and
    costs twice as much; it chooses the same commits (with ``--first-parent`` a commit is chosen when
    it differs from its first parent under ``paths``)."""
    args = ["log", "--first-parent", "--no-show-signature", "-z", _LOG_FORMAT, *_LOG_FILES, "HEAD", "--"]
    proc = _run(root, args, env=env)
    if proc.returncode != 0:
        no_commit = not is_commit(root, "HEAD", env=env)
        if no_commit and _run(root, ["rev-parse", "--git-dir"], env=env).returncode == 0:
            return []  # a repository with no commit yet
        raise _failed(["log", "--first-parent", "HEAD"], proc)
    return _commits(proc.stdout, paths)


def first_parent_log_since(
    root: Path, base: str, paths: Sequence[str], *, env: Mapping[str, str]
) -> list[Commit] | None:
    """:func:`first_parent_log` from ``base`` (a commit of HEAD's first-parent line, not included) to
    HEAD: what a history read up to ``base`` lacks. None when ``base`` is not on that line (HEAD moved
    back or elsewhere, the history was rewritten, or this clone does not have it): read it all again.
    A walk of the new commits only: ``git log`` over a long history compares every commit's trees,
    which is the cost of a build that reads it all."""
    line = _run(root, ["rev-list", "--first-parent", "--parents", f"{base}..HEAD", "--"], env=env)
    if line.returncode != 0:
        return None
    shas = line.stdout.decode("ascii", "replace").split("\n")
    shas = [s for s in shas if s.strip()]
    if not shas:
        return [] if head_commit(root, env=env) == base else None
    oldest = shas[-1].split()
    if len(oldest) < 2 or oldest[1] != base:
        return None
    args = ["log", "--first-parent", "--no-show-signature", "-z", _LOG_FORMAT, *_LOG_FILES]
    args += [f"{base}..HEAD", "--"]
    proc = _run(root, args, env=env)
    if proc.returncode != 0:
        return None
    return _commits(proc.stdout, paths)


def head_commit(root: Path, *, env: Mapping[str, str]) -> str:
    """The commit HEAD names ("" when there is none)."""
    proc = _run(root, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], env=env)
    return proc.stdout.decode("ascii", "replace").strip() if proc.returncode == 0 else ""


def _under(path: str, paths: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``paths`` or below one (as a pathspec of plain paths matches)."""
    return any(path == p or path.startswith(f"{p.rstrip('/')}/") for p in paths)


def _commits(out: bytes, paths: Sequence[str]) -> list[Commit]:
    """The commits of ``git log -z`` with :data:`_LOG_FORMAT` and :data:`_LOG_FILES` that changed files
    under ``paths``, with those files: each commit's record, then (after a newline) its files' raw
    records, each ``:<modes> <blobs> <status>`` and its path, every field ended by a NUL."""
    commits: list[Commit] = []
    tokens = out.split(b"\0")
    n = len(tokens)
    i = 0
    header: list[str] | None = None
    files: list[Changed] = []

    def done() -> None:
        if header is not None and files:
            sha, parents, date, subject = header
            commits.append(
                Commit(
                    sha=sha,
                    parent=parents.split()[0] if parents else "",
                    date=date,
                    subject=subject,
                    files=tuple(files),
                )
            )

    while i < n:
        token = tokens[i]
        i += 1
        if token.startswith(b"\n"):
            token = token[1:]
        if not token.strip():
            continue
        if token.startswith(b":") and header is not None and i < n:
            path = tokens[i].decode("utf-8", "surrogateescape")
            i += 1
            if _under(path, paths):
                files.append(_changed(token.decode("ascii"), path))
            continue
        done()
        fields = token.decode("utf-8", "replace").strip("\n").split("\x1f", 3)
        if len(fields) != 4:
            raise GitError(f"git log: unexpected output {token[:80]!r}")
        header, files = fields, []
    done()
    return commits


def _changed(meta: str, path: str) -> Changed:
    """A file of a raw diff record (``:<mode> <mode> <blob> <blob> <status>``) and its path."""
    _, _, old, new, status = meta[1:].split(" ", 4)
    return Changed(
        path=path,
        status=status[:1],
        old="" if _NULL_SHA.match(old) else old,
        new="" if _NULL_SHA.match(new) else new,
    )


def changed_files_of(
    root: Path, commits: Sequence[tuple[str, str]], paths: Sequence[str], *, env: Mapping[str, str]
) -> dict[str, list[Changed]]:
    """For each ``(commit, parent)`` (parent "" for a root commit: every file is added), the files under
    ``paths`` it changed, by commit; one ``git diff-tree --stdin``, renames as a deletion and an addition."""
    if not commits:
        return {}
    stdin = "".join(f"{sha} {parent}\n" if parent else f"{sha}\n" for sha, parent in commits).encode()
    args = ["diff-tree", "--stdin", "-r", "-z", "--no-renames", "--root", "--relative", "--no-abbrev"]
    args += ["--", *paths]
    proc = _run(root, args, env=env, stdin=stdin)
    if proc.returncode != 0:
        raise _failed(args[:2], proc)
    out: dict[str, list[Changed]] = {sha: [] for sha, _ in commits}
    tokens = proc.stdout.split(b"\0")
    current: list[Changed] | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i].decode("utf-8", "surrogateescape").strip("\n")
        i += 1
        if not token:
            continue
        if token.startswith(":"):
            path = tokens[i].decode("utf-8", "surrogateescape")
            i += 1
            if current is not None:
                current.append(_changed(token, path))
        else:
            current = out.setdefault(token.split()[0], [])
    return out


def blobs(root: Path, shas: Sequence[str], *, env: Mapping[str, str]) -> dict[str, bytes | None]:
    """The bytes of each blob (one ``git cat-file --batch``); None for one this clone does not have (a
    partial clone is not asked to fetch it: ``GIT_NO_LAZY_FETCH``)."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return {}
    proc = _run(
        root,
        ["cat-file", "--batch"],
        env={**env, "GIT_NO_LAZY_FETCH": "1"},
        stdin="".join(f"{sha}\n" for sha in wanted).encode(),
    )
    if proc.returncode != 0:
        raise _failed(["cat-file", "--batch"], proc)
    data = proc.stdout
    out: dict[str, bytes | None] = {}
    pos = 0
    for sha in wanted:
        header_end = data.index(b"\n", pos)
        header = data[pos:header_end].split()
        pos = header_end + 1
        if len(header) != 3:  # "<sha> missing" (or ambiguous)
            out[sha] = None
            continue
        size = int(header[2])
        out[sha] = data[pos : pos + size]
        pos += size + 1
    return out


def tree_blobs(root: Path, rev: str, paths: Sequence[str], *, env: Mapping[str, str]) -> dict[str, str]:
    """The regular files under ``paths`` at ``rev``, path (from the directory git ran in) -> blob."""
    proc = _run(root, ["ls-tree", "-r", "-z", rev, "--", *paths], env=env)
    if proc.returncode != 0:
        raise _failed(["ls-tree", rev], proc)
    out: dict[str, str] = {}
    for item in proc.stdout.split(b"\0"):
        if not item:
            continue
        meta, _, raw_path = item.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        if kind == "blob" and mode in ("100644", "100755"):
            out[raw_path.decode("utf-8", "surrogateescape")] = sha
    return out


def shallow_boundary(root: Path, *, env: Mapping[str, str]) -> frozenset[str]:
    """The commits where a shallow clone's history stops (their parents were not fetched); empty for a
    complete clone."""
    proc = _run(root, ["rev-parse", "--is-shallow-repository"], env=env)
    if proc.returncode != 0 or proc.stdout.strip() != b"true":
        return frozenset()
    where = _run(root, ["rev-parse", "--path-format=absolute", "--git-path", "shallow"], env=env)
    if where.returncode != 0:
        return frozenset()
    try:
        text = Path(where.stdout.decode("utf-8", "surrogateescape").strip()).read_text("ascii")
    except (OSError, UnicodeDecodeError):
        return frozenset()
    return frozenset(text.split())


def prefix(root: Path, *, env: Mapping[str, str]) -> str:
    """Where ``root`` is inside its repository ("" at the top; ``sub/dir/`` below it)."""
    return run(root, "rev-parse", "--show-prefix", env=env).strip()


def is_ancestor(root: Path, ancestor: str, rev: str, *, env: Mapping[str, str]) -> bool:
    """Whether ``ancestor`` is in ``rev``'s history (False, too, when this clone does not know it)."""
    return _run(root, ["merge-base", "--is-ancestor", ancestor, rev], env=env).returncode == 0
