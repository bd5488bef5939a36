"""An nginx server block that serves ``public/`` the way ``curate serve`` does, from the static files.

Content negotiation with a ``map`` on ``Accept`` (``index.json`` or ``index.html``, ``Vary: Accept``),
the PEP 691 content types, ``/simple/x`` redirected to ``/simple/x/``, 404 (never 403) for what is not
there, immutable caching of files, optional basic auth, and a per-client rate limit answering 429.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import jinja2

from curate.errors import UsageError

DEFAULT_RATE = "2000r/5m"
_RATE = re.compile(r"^\s*(\d+)\s*r\s*/\s*(\d*)\s*([smh])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}
_SAFE = re.compile(r"^[^\s;{}'\"\\#$]+$")  # nothing that could end or extend an nginx directive


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Rate:
    """N requests per window, as nginx's leaky bucket: a refill rate and a burst of N."""

    text: str
    nginx_rate: str  # r/s or r/m, what limit_req_zone accepts
    burst: int


def parse_rate(text: str) -> Rate:
    """``2000r/5m`` -> 400r/m with a burst of 2000 (nginx only knows r/s and r/m)."""
    m = _RATE.match(text)
    if m is None or int(m[1]) <= 0:
        raise UsageError(f"--rate {text!r}: expected requests per window like 2000r/5m, 10r/s or 600r/1h")
    count, window = int(m[1]), (int(m[2]) if m[2] else 1) * _SECONDS[m[3]]
    if window <= 0:
        raise UsageError(f"--rate {text!r}: the window must be longer than 0")
    per_second = count / window
    nginx_rate = (
        f"{int(per_second)}r/s"
        if per_second >= 1 and per_second.is_integer()
        else (f"{max(1, math.ceil(count * 60 / window))}r/m")
    )
    return Rate(text=text.strip(), nginx_rate=nginx_rate, burst=count)


def _check(value: str, what: str) -> str:
    if not _SAFE.match(value):
        raise UsageError(f"{what} {value!r} may not contain spaces, quotes, ';', '{{', '}}', '#' or '$'")
    return value


def render_server(
    *,
    root: Path,
    server_name: str = "_",
    listen: str = "80",
    htpasswd: Path | None = None,
    rate: str = DEFAULT_RATE,
    realm: str = "Python packages",
) -> str:
    """The server block (with its ``limit_req_zone`` and ``map``, which live at the http level)."""
    parsed = parse_rate(rate)
    if not re.match(r"^[\w .:\[\]-]+$", listen):
        raise UsageError(f"--listen {listen!r}: expected a port or address:port, e.g. 8080 or 127.0.0.1:8080")
    names = " ".join(_check(n, "--server-name") for n in server_name.split())
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("curate", "templates/nginx"),
        autoescape=False,  # nginx syntax, not HTML; every value is checked by _check instead
        keep_trailing_newline=True,
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("server.conf").render(
        root=_check(str(root.absolute()).rstrip("/"), "--root"),
        server_name=names or "_",
        listen=listen,
        htpasswd=_check(str(htpasswd.absolute()), "--htpasswd") if htpasswd else "",
        realm=realm.replace('"', "'"),
        rate=parsed.nginx_rate,
        rate_text=parsed.text,
        burst=parsed.burst,
        zone="curate",
    )
