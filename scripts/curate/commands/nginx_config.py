"""Write an nginx server block that serves public/ like curate serve does.

The block negotiates HTML or JSON on Accept exactly as curate serve does (q-values, application/*,
text/*, */*, an explicit q=0; Vary: Accept and the PEP 691 content types; 406 when neither is
acceptable), redirects /simple/NAME to /simple/NAME/ and a project name spelt otherwise (/simple/Pillow/)
to the normalized one (from public/.curate-nginx-projects.map, which curate build writes: reload nginx
after a build that adds projects), answers 404 (never 403) for anything missing, caches files as
immutable, and limits each client to --rate requests (answering 429). With --htpasswd, every request
needs HTTP basic auth. Include the file inside nginx.conf's http {} block; it carries the
limit_req_zone and map directives that belong there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from curate.atomic import write_if_changed
from curate.nginx import DEFAULT_RATE, render_server


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
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of stdout")


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    public = args.tree if args.tree.is_absolute() else root / args.tree
    text = render_server(
        root=public, server_name=args.server_name, listen=args.listen, htpasswd=args.htpasswd, rate=args.rate
    )
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_if_changed(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
