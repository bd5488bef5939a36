"""Write an nginx server block that serves public/ like curate serve does.

The block negotiates HTML or JSON on Accept exactly as curate serve does (q-values, application/*,
text/*, */*, an explicit q=0; Vary: Accept and the PEP 691 content types; 406 when neither is
acceptable), redirects /simple/NAME to /simple/NAME/ and a project name spelt otherwise (/simple/Pillow/)
to the normalized one (from public/.curate-nginx-projects.map, which curate build writes: reload nginx
after a build that adds projects), answers 404 (never 403) for anything missing, caches files as
immutable, and limits each client address to --rate requests with a --burst (answering 429 with a
Retry-After header, logged at warn level). Size the burst as requests per cold install x parallel jobs
behind one address. With --htpasswd, every request needs HTTP basic auth. Include the file inside
nginx.conf's http {} block; it carries the limit_req_zone and map directives that belong there.

--add-user NAME --htpasswd FILE adds a user to the password file (or changes their password) and
writes no config: the password is read from standard input (one line) or asked for twice.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from curate.atomic import write_if_changed
from curate.errors import UsageError
from curate.nginx import DEFAULT_RATE, add_user, render_server


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        dest="tree",
        type=Path,
        default=Path("public"),
        metavar="DIR",
        help="the built tree nginx serves (default: public/)",
    )
    parser.add_argument("--server-name", default="_", help="server_name (default: _, any host)")
    parser.add_argument("--listen", default="80", help="listen address or port (default: 80)")
    parser.add_argument(
        "--htpasswd", type=Path, metavar="FILE", help="require basic auth against this htpasswd file"
    )
    parser.add_argument(
        "--rate", default=DEFAULT_RATE, help=f"per-client request limit, N r/WINDOW (default: {DEFAULT_RATE})"
    )
    parser.add_argument(
        "--burst",
        type=int,
        metavar="N",
        help="requests one address may make at once before the rate applies (default: the rate's N); "
        "size it as requests per cold install x parallel jobs behind one address",
    )
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--add-user",
        metavar="NAME",
        help="add NAME to the --htpasswd file (created if missing) or change its password, then exit",
    )
    parser.add_argument(
        "--bcrypt-cost",
        type=int,
        default=5,
        metavar="N",
        help="--add-user: bcrypt cost (default: 5, as htpasswd -B)",
    )


def _password(name: str) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    if args.add_user is not None:
        if args.htpasswd is None:
            raise UsageError("--add-user needs --htpasswd FILE: the password file to write")
        new = add_user(args.htpasswd, args.add_user, _password(args.add_user), cost=args.bcrypt_cost)
        print(
            f"{'added' if new else 'changed the password of'} {args.add_user} in {args.htpasswd}",
            file=sys.stderr,
        )
        return 0
    public = args.tree if args.tree.is_absolute() else root / args.tree
    text = render_server(
        root=public,
        server_name=args.server_name,
        listen=args.listen,
        htpasswd=args.htpasswd,
        rate=args.rate,
        burst=args.burst,
    )
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_if_changed(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
