"""Serve public/ locally, the way a production web server would.

Content negotiation between the PEP 503 HTML and the PEP 691 JSON index (with Vary: Accept; q-values,
wildcards and q=0 count; 406 when the Accept header takes neither; the same answers as the block
curate nginx-config writes), exact content types, /simple/NAME redirected to /simple/NAME/ and a
project name spelt otherwise (/simple/Pillow/) to the normalized one, 404 for unknown projects, HEAD, Range and
conditional requests on files, caching headers, and the documentation site. A connection silent for
--timeout seconds is closed, and at most --max-connections are served at once (the next wait to be
accepted). For previews and tests; in production use a real web server (curate nginx-config) or a
static host. The pages and the environments' lock files name site.base_url: serve says when this server
is not there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from curate.config import CONFIG_PATH, load_config
from curate.errors import CurateError, redact_credentials, terminal_text
from curate.serve import MAX_THREADS, TIMEOUT, elsewhere, open_server, url_of


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--directory",
        type=Path,
        default=Path("public"),
        metavar="DIR",
        help="the built tree (default: public/)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT,
        metavar="SECONDS",
        help=f"close a connection silent this long (default: {TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=MAX_THREADS,
        metavar="N",
        help=f"connections served at once; the next wait to be accepted (default: {MAX_THREADS})",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print the access log")


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    directory = args.directory if args.directory.is_absolute() else root / args.directory
    server = open_server(
        directory,
        host=args.host,
        port=args.port,
        quiet=args.quiet,
        timeout=args.timeout,
        max_threads=args.max_connections,
    )
    url = url_of(server)
    print(f"serving {directory} at {url}/ (index: {url}/simple/); Ctrl-C stops", flush=True)
    try:
        base_url = load_config(root).base_url
    except CurateError:  # not a catalog: nothing to compare with
        base_url = ""
    if base_url and elsewhere(base_url, url):
        shown = terminal_text(redact_credentials(base_url))
        port = server.server_address[1]
        # an address listening on all of them is not one a client can use
        here = (
            f"the address clients reach this server at (port {port})"
            if args.host in ("0.0.0.0", "::")
            else f"{url}/"
        )
        print(
            f"note: the site was built for site.base_url {shown} ({CONFIG_PATH}): its install commands "
            f"and the environments' lock files point there, not at this server. Serve it there, or set "
            f"site.base_url to {here} and run curate build again.",
            file=sys.stderr,
            flush=True,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
