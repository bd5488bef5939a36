"""Download every file in catalog/packages into the content-addressed cache.

The catalog records files by name and sha256, not by URL: each missing file is first looked up on its
project's page on the configured upstream.index_url (PEP 691 JSON, HTML as the fallback), or, when none
is configured, on the index uv resolves from (its default, UV_DEFAULT_INDEX, UV_INDEX_URL). A page that
lists other bytes under the file's name is refused, naming both hashes, and nothing is downloaded for
it. Before downloading, fetch says how many files and bytes it will fetch and from where.

A file enters the cache (sha256/ab/cdef...) only after its size and sha256 match the catalog; a
mismatch is an error naming the file, the expected and the received hash, and nothing of it is kept.
Downloads run in parallel, are retried with exponential backoff on connection errors, timeouts, 429
(honouring Retry-After) and 5xx, and resume an interrupted download where it stopped (partial files
live in the cache's partial/ folder, never where a complete file is expected). Progress (files and
bytes) goes to stderr. With --offline nothing is downloaded: the files missing from the cache are
listed and the exit code is 1 when there are any.

A cached file counts as there only while it still holds its sha256 (a stamp of its inode, size and
mtime recorded when it was hashed; else it is hashed again): one altered since is downloaded again. Two
fetches into one cache download a file once (the second waits for the first, saying so). Pages and
downloads are bounded by upstream.max_page_bytes, upstream.page_deadline, upstream.download_deadline and
upstream.min_speed in catalog/config.yaml: a server that trickles is given up (a download is retried
and resumed), and the error names the URL.

HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured. The cache is --cache-dir, else cache_dir in
catalog/config.yaml, else $CURATE_CACHE_DIR, else the user cache directory.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from curate.cache import format_missing
from curate.errors import FetchError, Reporter
from curate.fetch import Progress, RetryPolicy, fetch_catalog


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help="the cache (default: see above)")
    parser.add_argument(
        "--offline", action="store_true", help="download nothing; list the files missing from the cache"
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=8, metavar="N", help="parallel downloads (default: 8)"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=4,
        metavar="N",
        help="retries per file after the first try (default: 4)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    done = fetch_catalog(
        root,
        env=env,
        cache_dir=args.cache_dir,
        offline=args.offline,
        jobs=args.jobs,
        policy=RetryPolicy(attempts=max(1, args.retries + 1)),
        progress=None if args.quiet else Progress(),
    )
    if args.offline and done.missing:
        Reporter(env).text(
            format_missing(list(done.missing), done.cache)
        )  # file names from the catalog: data
        print("hint: run `curate fetch` online to download them", file=sys.stderr)
        return 1
    report = done.report
    if report is not None and report.errors:
        reporter = Reporter(env)
        for message in report.errors:
            reporter.error(message)
        raise FetchError(
            f"{len(report.errors)} of {len(done.missing)} download(s) failed; no unverified file entered the cache"
        )
    if args.quiet:
        return 0
    if args.offline:
        print(f"all {done.wanted} file(s) are in the cache ({done.cache})")
        return 0
    downloaded = report.downloaded if report is not None else []
    got = sum(o.bytes for o in downloaded)
    rate = len(downloaded) / report.seconds if report is not None and report.seconds > 0 else 0.0
    print(
        f"{done.wanted} file(s) in the cache ({done.cache}): {len(downloaded)} downloaded"
        f" ({got:,} bytes, {rate:.1f} files/s), {done.wanted - len(done.missing)} already there"
    )
    return 0
