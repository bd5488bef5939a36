"""Publish the built tree (curate build's public/) to the targets under 'publish:' in catalog/config.yaml.

  pages       GitHub Pages, which is PUBLIC. Checks the tree (at most 1 GB) and tells the Publish
              workflow to deploy it (the step output pages=true); the deployment switches the whole site
              at once, and a failed one leaves the previous site serving.
  s3          An S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Ceph). Uploads only the objects whose
              bytes changed (a manifest of sha256s is kept in the bucket): files, then .metadata, then
              project pages, then the root pages and the site, so no page ever links a missing object.
              Objects that left the tree are deleted after publish.s3.grace_period. Re-running after a
              failure resumes; until then the bucket keeps serving the previous state.
  repository  A hosted PyPI repository (Nexus, Artifactory, devpi) with twine upload: files the
              repository has with the same sha256 are skipped, the same filename with other bytes is
              refused (exit 1), nothing is ever deleted.

Credentials are never read from the config: AWS_* variables or boto3's own chain for s3; TWINE_USERNAME
and TWINE_PASSWORD, else the netrc entry for the repository's host, for repository.

While it publishes, it holds the tree's build lock: a curate build of the same tree stops at once (and
a publish started during a build stops, naming it).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, cast

from curate.config import PUBLISH_TARGETS, PublishTargetName, load_config
from curate.errors import Reporter, github_actions
from curate.publish import Published, TargetResult, publish

SHOWN = 20  # keys listed per kind before "... and N more"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tree",
        type=Path,
        default=None,
        metavar="DIR",
        help="the built tree to publish, relative to the current directory like every verb's paths "
        "(default: public/ in the catalog repository)",
    )
    parser.add_argument(
        "-t",
        "--target",
        action="append",
        choices=PUBLISH_TARGETS,
        dest="targets",
        help="publish to this configured target only (repeatable; default: every configured target)",
    )
    parser.add_argument(
        "-n", "--dry-run", action="store_true", help="list what would be uploaded and deleted; change nothing"
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=16, metavar="N", help="parallel uploads to a bucket (default: 16)"
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="s3: upload every object again, whatever the bucket's manifest says (after objects were "
        "changed or deleted by hand)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, metavar="DIR", help="the file cache (default: see curate fetch)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


class Progress:
    """Objects and bytes per phase on stderr: one redrawn line on a terminal, a line every few seconds
    (and at the end of each phase) otherwise."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._lock = threading.Lock()
        self._label = ""
        self._total = self._total_bytes = self._done = self._bytes = 0
        self._last = 0.0

    def phase(self, target: str, name: str, objects: int, nbytes: int) -> None:
        with self._lock:
            self._end()
            self._label = f"{target}: {name}"
            self._total, self._total_bytes, self._done, self._bytes = objects, nbytes, 0, 0
            self._draw(force=True)

    def advance(self, key: str, nbytes: int) -> None:
        with self._lock:
            self._done += 1
            self._bytes += nbytes
            self._draw(force=self._done == self._total)

    def note(self, text: str) -> None:
        with self._lock:
            self._end()
            print(text, file=self.stream)

    def close(self) -> None:
        with self._lock:
            self._end()

    def _end(self) -> None:
        if self.tty and self._label:
            self.stream.write("\n")
        self._label = ""

    def _draw(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last < (0.1 if self.tty else 5.0):
            return
        self._last = now
        line = (
            f"{self._label}: {self._done}/{self._total} uploaded "
            f"({_size(self._bytes)} of {_size(self._total_bytes)})"
        )
        if self.tty:
            self.stream.write(f"\r{line}\x1b[K")
            self.stream.flush()
        else:
            print(line, file=self.stream)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


def _listed(reporter: Reporter, kind: str, items: tuple[str, ...]) -> None:
    for item in items[:SHOWN]:
        reporter.out(f"  {kind} {item}")
    if len(items) > SHOWN:
        reporter.out(f"  ... and {len(items) - SHOWN} more {kind}")


def _print(reporter: Reporter, result: TargetResult, dry: bool) -> None:
    for note in result.notes:
        reporter.text(f"note: {note}")
    if dry:
        _listed(reporter, "upload", result.uploaded)
        _listed(reporter, "delete", result.deleted)
    for item in result.skipped:
        reporter.out(f"  skipped {item}")
    for item in result.refused:
        reporter.error(item)
    if result.target == "pages":
        reporter.out(
            f"pages: {result.unchanged} file(s), {_size(result.uploaded_bytes)}, ready for GitHub Pages at "
            f"{result.where} (the Publish workflow deploys it)"
        )
        return
    verb = "would upload" if dry else "uploaded"
    gone = "would delete" if dry else "deleted"
    line = (
        f"{result.target} {result.where}: {verb} {len(result.uploaded)} ({_size(result.uploaded_bytes)}), "
        f"{result.unchanged} unchanged"
    )
    if result.target == "s3":
        line += f", {gone} {len(result.deleted)}, {len(result.pending)} waiting for the grace period"
    else:
        line += f", {len(result.refused)} refused, {len(result.skipped)} skipped"
    reporter.out(line + f" in {result.seconds:.2f}s")
    if result.pending and not dry:
        first = min(when for _, when in result.pending)
        reporter.out(
            f"  {len(result.pending)} removed object(s) stay until the grace period ends (first: {first:%Y-%m-%d %H:%M} UTC)"
        )


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    config = load_config(root)
    progress = None if args.quiet else Progress()
    try:
        done: Published = publish(
            root=root,
            tree=root / "public" if args.tree is None else args.tree,
            config=config,
            env=env,
            targets=[cast(PublishTargetName, t) for t in args.targets or ()],
            dry_run=args.dry_run,
            jobs=max(1, args.jobs),
            full=args.full,
            cache_dir=args.cache_dir,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()
    reporter = Reporter(env)
    for result in done.results:
        _print(reporter, result, args.dry_run)
    outputs = [pair for r in done.results for pair in r.outputs]
    if outputs and not args.dry_run and github_actions(env) and env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as fh:
            for key, value in outputs:
                fh.write(f"{key}={value}\n")
    return 1 if done.refused else 0
