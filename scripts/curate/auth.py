"""Credentials for an upstream that asks for them: the URL's own ``user:password@``, else netrc.

An upstream behind a login (Artifactory, Nexus, a private index) is configured without credentials
(``upstream.index_url`` is committed); the machines that lock and fetch put them in ``~/.netrc``, or the
file ``$NETRC`` names, as uv and pip read them too (``$NETRC`` and ``$HOME`` from the environment the
CLI passes in). A URL's own ``user:password@`` is honoured as well, and is also used for other URLs on
the same scheme, host and port (the files an index links to). Credentials are sent as HTTP basic auth
(by :mod:`curate.httpclient`) and never written anywhere: the URLs curate records carry none.
"""

from __future__ import annotations

import base64
import functools
import netrc
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from curate.errors import CurateError

Credentials = tuple[str, str]


def split_credentials(url: str) -> tuple[str, Credentials | None]:
    """``https://user:pw@host/x`` -> (``https://host/x``, (user, pw)); other URLs unchanged."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, (unquote(parts.username), unquote(parts.password or ""))


def netrc_path(env: Mapping[str, str]) -> Path | None:
    """``$NETRC``, else ``.netrc`` in the home directory the environment names (none without one)."""
    if env.get("NETRC"):
        return Path(env["NETRC"])
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) / ".netrc" if home else None


@functools.cache
def _netrc(path: Path, mtime_ns: int) -> netrc.netrc:
    try:
        return netrc.netrc(path)
    except netrc.NetrcParseError as exc:
        raise CurateError(
            f"{exc.filename}:{exc.lineno}: cannot read the netrc file: {exc.msg}\n"
            "    hint: each entry is 'machine HOST login USER password SECRET'; the file must not be "
            "readable by other users (chmod 600)"
        ) from None


def netrc_credentials(host: str, env: Mapping[str, str]) -> Credentials | None:
    """The netrc entry for ``host`` (or its ``default`` entry), if there is a netrc file."""
    path = netrc_path(env)
    if path is None:
        return None
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    entry = _netrc(path, mtime).authenticators(host)
    if entry is None:
        return None
    login, _, password = entry
    return login, password or ""


def credentials_for(url: str, *, env: Mapping[str, str], also: tuple[str, ...] = ()) -> Credentials | None:
    """What to log in to ``url`` with: its own ``user:pw@``, else that of a URL in ``also`` on the same
    scheme, host and port (the configured index), else netrc for its host."""
    _, own = split_credentials(url)
    if own is not None:
        return own
    target = urlsplit(url)
    for other in also:
        _, creds = split_credentials(other)
        o = urlsplit(other)
        if creds is not None and (o.scheme, o.hostname, o.port) == (
            target.scheme,
            target.hostname,
            target.port,
        ):
            return creds
    return netrc_credentials(target.hostname or "", env) if target.hostname else None


def basic_auth(creds: Credentials) -> str:
    user, password = creds
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


LOGIN_HINT = (
    "the upstream wants credentials: put them in ~/.netrc (or the file $NETRC names) as "
    "'machine HOST login USER password TOKEN' on the machines that lock and fetch (uv reads it too); "
    "in GitHub Actions, write that file from a secret"
)


def refused_hint(logged_in: bool) -> str:
    """What to do about a 401 or 403, depending on whether curate sent credentials."""
    return "the credentials curate sent were refused: check them" if logged_in else LOGIN_HINT
