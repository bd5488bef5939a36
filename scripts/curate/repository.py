"""A hosted PyPI repository of a repository manager (Nexus hosted, Artifactory local, devpi): what it
lists, read from its simple index through :mod:`curate.httpclient`, and uploads with ``twine upload``.

Credentials never come from ``catalog/config.yaml``: ``TWINE_USERNAME`` / ``TWINE_PASSWORD`` from the
environment the CLI passes in, else the netrc entry for the upload URL's host (``$NETRC`` or
``~/.netrc``). They reach twine through its environment, never its command line (which other users of
the machine can read), and are sent to the index as basic auth by the HTTP client.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from curate.auth import netrc_credentials, split_credentials
from curate.config import RepositoryTarget
from curate.errors import CurateError, redact_credentials
from curate.httpclient import HttpClient, StatusError
from curate.names import NormalizedName
from curate.upstream import project_files

if TYPE_CHECKING:
    from curate.publish import Dist, Progress

UPLOAD_BATCH = 20  # files per twine run: progress between runs, one failure loses little
TWINE_TIMEOUT = 3600.0


class RepositoryError(CurateError):
    """The repository could not be read, or twine failed."""


class Repository:
    def __init__(self, target: RepositoryTarget, env: Mapping[str, str], *, workers: int = 8) -> None:
        self.target = target
        self.env = env
        self.workers = workers
        self.http = HttpClient(env)
        self.credentials = self._credentials()
        if self.credentials is not None:
            # the index is read with the same login (a URL's own user:password@ is how HttpClient takes it)
            scheme, rest = target.index_url.split("://", 1)
            user, password = (_quote(p) for p in self.credentials)
            self._login = (f"{scheme}://{user}:{password}@{rest}",)
        else:
            self._login = (target.index_url,)

    def __enter__(self) -> Repository:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.http.close()

    def _credentials(self) -> tuple[str, str] | None:
        user, password = self.env.get("TWINE_USERNAME"), self.env.get("TWINE_PASSWORD")
        if user and password is not None:
            return user, password
        host = urlsplit(self.target.url).hostname or ""
        return netrc_credentials(host, self.env) if host else None

    def listed(self, projects: Collection[str]) -> dict[str, dict[str, str]]:
        """filename -> sha256 of every file the repository lists, per project ({} when it has none)."""

        def one(name: str) -> dict[str, str]:
            try:
                files = project_files(self._login[0], NormalizedName(name), client=self.http)
            except StatusError as exc:
                if exc.status == 404:
                    return {}
                raise RepositoryError(str(exc)) from exc
            except CurateError as exc:
                raise RepositoryError(redact_credentials(str(exc))) from exc
            return {f.filename: f.sha256 for f in files}

        names = sorted(projects)
        if not names:
            return {}
        with ThreadPoolExecutor(max_workers=min(self.workers, len(names))) as pool:
            return dict(zip(names, pool.map(one, names), strict=True))

    def upload(self, dists: Sequence[Dist], *, progress: Progress) -> None:
        """``twine upload`` the files, a batch at a time; raise on the first batch that fails."""
        for start in range(0, len(dists), UPLOAD_BATCH):
            batch = dists[start : start + UPLOAD_BATCH]
            self._twine([str(d.path) for d in batch], [d.filename for d in batch])
            for d in batch:
                progress.advance(d.filename, d.size)

    def _twine(self, paths: Sequence[str], names: Sequence[str]) -> None:
        env = {k: v for k, v in self.env.items() if not k.startswith("TWINE_")}
        for name in ("TWINE_CERT", "TWINE_CLIENT_CERT"):
            if self.env.get(name):
                env[name] = self.env[name]
        if self.credentials is not None:
            env["TWINE_USERNAME"], env["TWINE_PASSWORD"] = self.credentials
        else:
            # twine asks for a username even when the repository wants none; an empty one sends none
            env["TWINE_USERNAME"], env["TWINE_PASSWORD"] = "", ""
        env["PYTHONIOENCODING"] = "utf-8"
        linked = self._linked(paths, names)
        cmd = [
            sys.executable,
            "-m",
            "twine",
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            split_credentials(self.target.url)[0],
            *linked,
        ]
        try:
            proc = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=TWINE_TIMEOUT, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RepositoryError(f"twine upload to {self.target.url} did not run: {exc}") from exc
        finally:
            self._unlink(linked, paths)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
            raise RepositoryError(
                f"twine upload to {self.target.url} failed (exit {proc.returncode}):\n"
                + redact_credentials(tail)
                + "\n    hint: credentials come from TWINE_USERNAME/TWINE_PASSWORD or the netrc entry for "
                f"{urlsplit(self.target.url).hostname}"
            )

    def _linked(self, paths: Sequence[str], names: Sequence[str]) -> list[str]:
        """twine reads the filename to know what it uploads; a cached blob (link mode) has none, so it is
        given one through a hard link (or a copy) in a temporary folder."""
        out = []
        for path, name in zip(paths, names, strict=True):
            if os.path.basename(path) == name:
                out.append(path)
                continue
            import tempfile

            from curate.staging import link_or_copy

            folder = tempfile.mkdtemp(prefix="curate-twine-")
            dst = os.path.join(folder, name)
            link_or_copy(path, dst)
            out.append(dst)
        return out

    @staticmethod
    def _unlink(linked: Sequence[str], paths: Sequence[str]) -> None:
        for made, path in zip(linked, paths, strict=True):
            if made != path:
                os.unlink(made)
                os.rmdir(os.path.dirname(made))


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
