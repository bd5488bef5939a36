"""Writing a change request: the one way `curate new` and `curate import` make a request file.

Both verbs gather the same fields (from flags, prompts or requirements files) and hand them here:
who asks by default, what the file is called, how it is rendered, and the checks of `curate check` run
on the text before anything is written.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path


def default_requester(root: Path, env: Mapping[str, str]) -> str | None:
    """Who asks when --requested-by is not given: the e-mail address git would commit the request with.

    Git's own order: ``$GIT_AUTHOR_EMAIL``, then ``git config author.email`` and ``user.email`` (of the
    catalog repository at ``root``), then ``$EMAIL``. None when none of them is set (git's guess from
    the user and host names is not an address anyone reads).
    """
    if env.get("GIT_AUTHOR_EMAIL", "").strip():
        return env["GIT_AUTHOR_EMAIL"].strip()
    configured = _git_config_emails(root, env)
    for key in ("author.email", "user.email"):
        if configured.get(key):
            return configured[key]
    return env.get("EMAIL", "").strip() or None


def _git_config_emails(root: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``author.email`` and ``user.email`` as git config reads them at ``root`` (the last one set wins)."""
    try:
        out = subprocess.run(
            ["git", "config", "--get-regexp", r"^(author|user)\.email$"],
            cwd=root,
            env={**env, "GIT_TERMINAL_PROMPT": "0"},
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[str, str] = {}
    for line in out.stdout.splitlines() if out.returncode == 0 else []:
        key, _, value = line.partition(" ")
        if value.strip():
            found[key.lower()] = value.strip()
    return found
