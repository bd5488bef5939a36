"""Install and import each request's locked set on every target this machine can run.

For each request (or those named with --request) and each of its targets whose OS and architecture
are this machine's and whose Python is installed here (found by uv with UV_PYTHON_DOWNLOADS=never, or
under pyenv; nothing is downloaded): a fresh virtual environment, the request's locked set for that
target installed from the BUILT index only (public/, from `curate build`, served on 127.0.0.1; or
--index-url) with `uv pip install --require-hashes` (every file's sha256 from catalog/), no other
index, no config file, no proxy and an empty cache; then each top-level module of each package the
request names (the wheel's top_level.txt, else its RECORD) is imported, in a fresh `python -I` per
package.

Targets this machine cannot run are listed as "not run here" with the reason; they are never passes.
Results of the targets that ran are recorded in catalog/smoke/REQUEST.yaml (pass/fail, the failing
package, module and error, and the sha256 of the installed set, so a result for a set locked since
shows as stale on the site and in the review report); results other machines recorded for other
targets are kept. --json FILE writes this run's results for `curate ci report --smoke-dir` (CI runs
one runner per OS and merges them into one report).

Policy: smoke.failing_import in catalog/config.yaml: block (default; a failed target makes the exit
code 1) or warn (reported, exit 0).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from curate import smoke
from curate.config import load_config
from curate.errors import Reporter, UsageError
from curate.lock import load_requests
from curate.requests import Request


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-r",
        "--request",
        action="append",
        default=[],
        metavar="REQUEST",
        help="test only this request (its file stem or slug; repeatable; default: every request)",
    )
    parser.add_argument(
        "-t",
        "--target",
        action="append",
        default=[],
        metavar="TARGET",
        help="test only this target (e.g. linux-x86_64-py3.12) or platform (linux-x86_64); repeatable",
    )
    parser.add_argument(
        "--public",
        type=Path,
        metavar="DIR",
        help="the built tree to serve on 127.0.0.1 (default: public/ in the catalog repository)",
    )
    parser.add_argument(
        "--index-url",
        default="",
        metavar="URL",
        help="install from this index instead (it must serve public/)",
    )
    parser.add_argument(
        "--no-record", action="store_true", help="do not write catalog/smoke/ (only print the results)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="also write this run's results as JSON (for curate ci report)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    config = load_config(root)
    requests = load_requests(root)
    if args.request:
        chosen: list[Request] = []
        for ref in args.request:
            match = [r for r in requests if ref in (r.id, r.slug, f"{r.id}.yaml", r.path)]
            if not match:
                names = ", ".join(r.id for r in requests) or "none"
                raise UsageError(f"--request {ref}: no such request (requests: {names})")
            chosen.extend(m for m in match if m not in chosen)
        requests = chosen
    reporter = Reporter(env)

    def progress(line: str) -> None:
        if not args.quiet:
            reporter.text(line)  # package names and errors are data

    outcome = smoke.smoke(
        root,
        config=config,
        requests=requests,
        env=env,
        public=args.public,
        index_url=args.index_url,
        targets=args.target,
        record=not args.no_record,
        progress=progress,
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(smoke.results_json(outcome) + "\n", "utf-8")
    width = max((len(f"{r.request} {r.target}") for r in outcome.results), default=0)
    for r in outcome.results:
        reporter.out(f"{f'{r.request} {r.target}':<{width}}  {r.summary()}")
        for failure in r.failures[1:]:
            reporter.out(f"{'':<{width}}    also: {failure.describe()}")
    ran = [r for r in outcome.results if r.ran]
    passed = sum(r.status == "pass" for r in ran)
    print(
        f"\n{len(outcome.results)} request x target(s): {passed} passed, {len(outcome.failed)} failed, "
        f"{len(outcome.results) - len(ran)} not run here"
    )
    for path in outcome.written:
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        print(f"recorded {shown}" if path.exists() else f"removed {shown} (its request is gone)")
    if not outcome.failed:
        return 0
    for r in outcome.failed:
        what = r.failures[0].describe() if r.failures else "failed"
        reporter.error(
            f"smoke test failed: request {r.request}, target {r.target}: {what}",
            path=f"requests/{r.request}.yaml",
        )
    if outcome.blocking:
        print("a failed install-and-import test blocks (smoke.failing_import: block)", file=sys.stderr)
        return 1
    print("smoke.failing_import: warn: the failures above do not block", file=sys.stderr)
    return 0
