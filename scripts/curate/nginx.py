"""An nginx server block that serves ``public/`` the way ``curate serve`` does, from the static files.

Content negotiation compiled from :mod:`curate.accept` into ``map`` blocks (:func:`negotiation_maps`: the
same answer as ``curate serve`` for every ``Accept`` header, q-values, wildcards and ``q=0`` included;
``index.json`` or ``index.html``, ``Vary: Accept``, 406 when neither is acceptable), the PEP 691
content types, ``/simple/x`` redirected to ``/simple/x/``, a project name that is not normalized
redirected to the normalized one (``curate build`` writes one case-insensitive pattern per project into
:data:`PROJECTS_MAP`, :func:`projects_map`, which the block includes), 404 (never 403) for what is not
there, immutable caching of files, optional basic auth, and a per-client rate limit answering 429 with
``Retry-After`` (rejections logged at warn). :func:`add_user` writes the basic-auth password file.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

from curate.accept import FORMS, MATCHING, PREFERENCE, RANGES
from curate.errors import UsageError

DEFAULT_RATE = "2000r/5m"
PROJECTS_MAP = ".curate-nginx-projects.map"  # in public/, written by curate build (a dotfile: not served)
_RATE = re.compile(r"^\s*(\d+)\s*r\s*/\s*(\d*)\s*([smh])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}
_SAFE = re.compile(r"^[^\s;{}'\"\\#$]+$")  # nothing that could end or extend an nginx directive


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Rate:
    """N requests per window, as nginx's leaky bucket: a refill rate and a burst of N."""

    text: str
    nginx_rate: str  # r/s or r/m, what limit_req_zone accepts
    burst: int
    retry_after: int  # seconds until the bucket lets one more request through


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
    return Rate(
        text=text.strip(), nginx_rate=nginx_rate, burst=count, retry_after=max(1, math.ceil(window / count))
    )


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
    burst: int | None = None,
    realm: str = "Python packages",
) -> str:
    """The server block (with its ``limit_req_zone`` and ``map``, which live at the http level).

    ``burst``: the requests one address may make at once before the rate applies (default: the rate's
    whole window, e.g. 2000 for ``2000r/5m``)."""
    parsed = parse_rate(rate)
    if burst is not None and burst < 1:
        raise UsageError(f"--burst {burst}: must be at least 1")
    if not re.match(r"^[\w .:\[\]-]+$", listen):
        raise UsageError(f"--listen {listen!r}: expected a port or address:port, e.g. 8080 or 127.0.0.1:8080")
    names = " ".join(_check(n, "--server-name") for n in server_name.split())
    import jinja2  # here: curate.index (read by curate wheels and vet) imports this module for its map

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
        burst=parsed.burst if burst is None else burst,
        retry_after=parsed.retry_after,
        zone="curate",
        negotiation=negotiation_maps("curate").rstrip("\n"),
        projects_map=PROJECTS_MAP,
        projects_glob=PROJECTS_MAP.replace(".map", "*.map"),  # a glob: no error before the first build
    )


# -- content negotiation, compiled from curate.accept ----------------------------------------------------

_KEY_WIDTH = 6  # a form's key: its quality in thousandths (4 digits), specificity, preference


def greater_than(width: int) -> str:
    """A regex that matches ``A>B`` for two ``width``-digit strings when A is the greater: at the first
    position where they differ (the same prefix before it, a backreference), A's digit is the larger."""
    alternatives = []
    for i in range(width):
        rest = width - 1 - i
        digits = "|".join(f"{d}\\d{{{rest}}}>\\{i + 1}[0-{d - 1}]" for d in range(9, 0, -1))
        alternatives.append(f"(\\d{{{i}}})(?:{digits})")
    return "^(?:" + "|".join(alternatives) + ")"


def negotiation_maps(zone: str) -> str:
    """The ``map`` blocks that set ``$<zone>_variant`` to ``json``, ``v1html``, ``html`` or ``none``
    (406) from ``Accept``, exactly as :func:`curate.accept.negotiate` decides.

    nginx has no arithmetic, so the maps work on text: (1) the parameters of the first element naming
    each media range of :data:`curate.accept.RANGES`; (2) its quality as four digits (``q=0.5`` is
    ``0500``; no ``q`` is ``1000``; an invalid one ``0000``); (3) each form's key, the quality of the most
    specific range naming it, that range's specificity and the tie-break preference; (4) which of two
    keys is greater (:func:`greater_than`); (5) the winner, or ``none`` when its quality is 0."""
    out: list[str] = []
    first_q = "^=(?:;(?!\\s*q\\s*=)[^;]*)*;\\s*q\\s*=\\s*"  # the first q parameter
    end = "\\s*(?:;|$)"
    for r in RANGES:
        media = re.escape(r.media)
        element = f"\\s*{media}\\s*(?:;|,|$)"
        lines = ['    default "";']
        if r.media == "*/*":
            lines += [
                '    "" "=";  # no Accept header counts as */*',
                '    "~^\\s*$" "=";  # and an empty one',
            ]
        lines.append(
            f'    "~*^(?:(?!{element})[^,]*,)*\\s*{media}\\s*(?<{zone}_p>(?:;[^,]*)?)(?:,|$)" "=${{{zone}_p}}";'
        )
        out.append(
            f'# {r.media}: "" when Accept does not name it, else "=" and its parameters\n'
            f"map $http_accept ${zone}_p_{r.key} {{\n" + "\n".join(lines) + "\n}"
        )
    for r in RANGES:
        d = f"{zone}_d"
        out.append(
            f"map ${zone}_p_{r.key} ${zone}_q_{r.key} {{\n"
            '    default "";\n'
            f'    "~*{first_q}1(?:\\.0{{0,3}})?{end}" 1000;\n'
            f'    "~*{first_q}0\\.(?<{d}>\\d{{3}}){end}" "0${{{d}}}";\n'
            f'    "~*{first_q}0\\.(?<{d}>\\d{{2}}){end}" "0${{{d}}}0";\n'
            f'    "~*{first_q}0\\.(?<{d}>\\d){end}" "0${{{d}}}00";\n'
            f'    "~*{first_q}" 0000;  # q=0, or not a quality value\n'
            '    "~^=" 1000;  # no q\n'
            "}"
        )
    specificity = {r.key: r.specificity for r in RANGES}
    for form in FORMS:
        slots = MATCHING[form]
        lines = [f'    default "00000{PREFERENCE[0][form]}";']
        for i, key in enumerate(slots):
            spec = specificity[key]
            tail = "\\|" if i < len(slots) - 1 else "$"
            k, pipes = f"{zone}_k", "\\|" * i  # the slots before it are empty
            lines.append(f'    "~^{pipes}(?<{k}>\\d{{4}}){tail}" "${{{k}}}{spec}{PREFERENCE[spec][form]}";')
        source = "|".join(f"${{{zone}_q_{key}}}" for key in slots)
        out.append(
            f'# {form}: quality, specificity, preference\nmap "{source}" ${zone}_k_{form} {{\n'
            + "\n".join(lines)
            + "\n}"
        )
    gt = greater_than(_KEY_WIDTH)
    for a, b in (("json", "v1html"), ("json", "html"), ("v1html", "html")):
        out.append(
            f'map "${{{zone}_k_{a}}}>${{{zone}_k_{b}}}" ${zone}_{a}_over_{b} {{\n    default 0;\n    "~{gt}" 1;\n}}'
        )
    source = (
        f'"${{{zone}_json_over_v1html}}${{{zone}_json_over_html}}${{{zone}_v1html_over_html}}'
        f':${{{zone}_k_json}}:${{{zone}_k_v1html}}:${{{zone}_k_html}}"'
    )
    out.append(
        f"# the form with the greatest key, unless its quality is 0\nmap {source} ${zone}_variant {{\n"
        '    "~^11.:0000" none;\n'
        '    "~^11." json;\n'
        '    "~^0.1:\\d{6}:0000" none;\n'
        '    "~^0.1" v1html;\n'
        '    "~^...:\\d{6}:\\d{6}:0000" none;\n'
        "    default html;\n"
        "}"
    )
    return "\n".join(out) + "\n"


# -- project names that are not normalized ------------------------------------------------------------


def projects_map(names: list[str]) -> str:
    """Entries of the ``map $uri`` that redirects a project's URL spelt otherwise (``/simple/Pillow/``,
    ``/simple/zope.interface``, ``/simple/ruamel_yaml/``) to its normalized one: per project (normalized
    names), one pattern: not its own spelling (a case-sensitive lookahead, as nginx matches a map's plain
    strings ignoring case), then, ignoring case, the name's parts with ``[-_.]+`` between them: every
    spelling PEP 503 normalizes to it."""
    lines = [
        "# Written by `curate build`; `curate nginx-config`'s server block includes it. Reload nginx after",
        "# a build that adds projects.",
    ]
    for name in sorted(names):
        pattern = "[-_.]+".join(re.escape(part) for part in name.split("-"))
        lines.append(f'"~^/simple/(?!{re.escape(name)}/?$)(?i){pattern}/?$" /simple/{name}/;')
    return "\n".join(lines) + "\n"


_USER = re.compile(r"^[^:\s]{1,255}$")


def add_user(path: Path, name: str, password: str, *, cost: int = 5) -> bool:
    """Add ``name`` to the htpasswd file at ``path`` (created 0640 when missing), or change its password.

    The entry is bcrypt (``$2b$``, what ``htpasswd -B`` writes), which nginx checks through the system's
    crypt(3) (libxcrypt, as on Debian, Ubuntu, Fedora and RHEL, and musl both have it). nginx checks it on
    every request, so the default cost is htpasswd's own, 5 (a few milliseconds). Returns whether the user
    was new."""
    import bcrypt  # only for this

    from curate.atomic import atomic_write

    if not _USER.match(name):
        raise UsageError(f"--add-user {name!r}: a user name has no ':' or spaces")
    if not password:
        raise UsageError("the password is empty")
    if not 4 <= cost <= 31:
        raise UsageError(f"--bcrypt-cost {cost}: must be from 4 to 31")
    entry = f"{name}:{bcrypt.hashpw(password.encode('utf-8'), bcrypt.gensalt(rounds=cost)).decode('ascii')}"
    try:
        lines = path.read_text("utf-8").splitlines()
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        lines, mode = [], 0o640
    new = True
    out = []
    for line in lines:
        if line.split(":", 1)[0] == name:
            if new:
                out.append(entry)
            new = False
        elif line.strip():
            out.append(line)
    if new:
        out.append(entry)
    atomic_write(path, "\n".join(out) + "\n")
    path.chmod(mode)
    return new
