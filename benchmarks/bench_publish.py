"""How fast `curate publish` to an S3 bucket is: 10,000 projects / 100,000 files, against moto's S3 server.

A synthetic built tree shaped like ``curate build``'s (10,000 projects x 5 versions x a wheel and an
sdist = 100,000 files under ``files/``, each project's ``simple/<p>/index.html`` and ``index.json`` and
``api/<p>.json``, the root pages) is published with :func:`curate.publish.publish_s3` to moto in server
mode on 127.0.0.1 (a real S3 API over HTTP; the same code path as against AWS, but a local server that
stores in memory, so upload times are moto's, not a network's). Three runs:

- ``first``: an empty bucket, everything uploaded;
- ``no-op``: the same tree again (target: 0 objects uploaded);
- ``one project``: one project gains a version (2 files) and its pages change, so do the root pages
  (target: fewer than 20 objects uploaded and under 5 s besides the uploads themselves).

"besides the uploads" is the wall time minus the time the upload phases took (from a phase's first
upload to its last): scanning the tree (with the hash cache of the previous run), reading and parsing the
bucket's manifest, planning, writing the manifest. "cpu s" is the publishing process's own CPU time
(threads included; moto's is not): on a machine shared with other work the wall times grow, this less.

    .venv/bin/python benchmarks/bench_publish.py                   # 10,000 projects
    .venv/bin/python benchmarks/bench_publish.py --projects 1000
    .venv/bin/python benchmarks/bench_publish.py --seed            # no-op and one project only

``--seed`` skips the object uploads of the first run (only its manifest goes to the bucket), so the
no-op and one-project runs can be measured at full size without the half hour that uploading 140,000
objects to moto takes on a loaded 2-core machine; they read and write the same manifest either way.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from tests.servers import S3_ENV, moto_server  # noqa: E402

from curate.config import S3Target  # noqa: E402
from curate.publish import MANIFEST_KEY, HashCache, TargetResult, publish_s3  # noqa: E402


def write_tree(root: Path, projects: int, versions: int) -> int:
    """The synthetic tree; returns the number of distribution files."""
    files = 0
    names = []
    for i in range(projects):
        name = f"proj-{i:05d}"
        names.append(name)
        files += write_project(root, name, versions)
    write_root(root, names, "")
    return files


def write_project(root: Path, name: str, versions: int) -> int:
    snake = name.replace("-", "_")
    folder = root / "files" / name
    folder.mkdir(parents=True, exist_ok=True)
    links, entries = [], []
    for j in range(versions):
        for filename in (f"{snake}-1.{j}.0-py3-none-any.whl", f"{snake}-1.{j}.0.tar.gz"):
            data = f"{filename}\n".encode() * 8
            (folder / filename).write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            links.append(f'<a href="../../files/{name}/{filename}#sha256={digest}">{filename}</a><br>')
            entries.append(
                {"filename": filename, "url": f"../../files/{name}/{filename}", "hashes": {"sha256": digest}}
            )
    page = root / "simple" / name
    page.mkdir(parents=True, exist_ok=True)
    (page / "index.html").write_text(
        f"<!DOCTYPE html><html><body><h1>{name}</h1>\n" + "\n".join(links) + "\n</body></html>\n"
    )
    (page / "index.json").write_text(
        json.dumps({"meta": {"api-version": "1.4"}, "name": name, "files": entries})
    )
    (root / "api").mkdir(exist_ok=True)
    (root / "api" / f"{name}.json").write_text(json.dumps({"name": name, "versions": versions}))
    return 2 * versions


def write_root(root: Path, names: list[str], salt: str) -> None:
    body = "\n".join(f'<a href="{n}/">{n}</a><br>' for n in names)
    (root / "simple" / "index.html").write_text(
        f"<!DOCTYPE html><html><body>{salt}\n{body}\n</body></html>\n"
    )
    (root / "simple" / "index.json").write_text(json.dumps({"projects": [{"name": n} for n in names]}))
    (root / "api" / "catalog.json").write_text(json.dumps({"projects": names, "salt": salt}))


class Timer:
    """Progress that records how long the upload phases took."""

    def __init__(self) -> None:
        self.upload_seconds = 0.0
        self._start: float | None = None
        self._last = 0.0

    def phase(self, target: str, name: str, objects: int, nbytes: int) -> None:
        self._flush()
        self._start = time.perf_counter()

    def advance(self, key: str, nbytes: int) -> None:
        self._last = time.perf_counter()

    def note(self, text: str) -> None:
        pass

    def _flush(self) -> None:
        if self._start is not None:
            self.upload_seconds += max(0.0, self._last - self._start)
        self._start = None

    def done(self) -> float:
        self._flush()
        return self.upload_seconds


class ManifestOnly:
    """A bucket that takes the manifest and drops every other upload (``--seed``)."""

    def __init__(self, target: S3Target, env: Mapping[str, str], jobs: int) -> None:
        from curate.s3 import Bucket

        self.bucket = Bucket(target, env, jobs=jobs)

    def where(self, key: str = "") -> str:
        return self.bucket.where(key)

    def get(self, key: str) -> bytes | None:
        return self.bucket.get(key)

    def put(self, key: str, **kw: Any) -> None:
        if key == MANIFEST_KEY:
            self.bucket.put(key, **kw)

    def delete(self, keys: Sequence[str]) -> None:
        self.bucket.delete(keys)


def run(
    tree: Path, target: S3Target, cache: Path, *, seed: bool = False
) -> tuple[TargetResult, float, float, float]:
    timer = Timer()
    cpu = time.process_time()
    started = time.perf_counter()
    result = publish_s3(
        tree,
        target,
        env=S3_ENV,
        hashes=HashCache(cache),
        jobs=16,
        progress=timer,
        store=ManifestOnly if seed else None,
    )
    total = time.perf_counter() - started
    return result, total, timer.done(), time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--seed", action="store_true", help="the first run sends the manifest only")
    args = parser.parse_args()
    import boto3

    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        base = Path(tmp)
        tree = base / "public"
        t = time.perf_counter()
        nfiles = write_tree(tree, args.projects, args.versions)
        print(
            f"tree: {args.projects} projects, {nfiles} files, written in {time.perf_counter() - t:.1f}s",
            flush=True,
        )
        with moto_server(base / "moto") as endpoint:
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            )
            s3.create_bucket(Bucket="bench-catalog")
            target = S3Target(bucket="bench-catalog", endpoint_url=endpoint)
            cache = base / "hashes.json"
            rows = []
            for label in ("first", "no-op", "one project"):
                if label == "one project":
                    write_project(tree, "proj-00042", args.versions + 1)
                    write_root(tree, [f"proj-{i:05d}" for i in range(args.projects)], "changed")
                seed = args.seed and label == "first"
                result, total, uploading, cpu = run(tree, target, cache, seed=seed)
                label = "first (seed)" if seed else label
                rows.append(
                    (label, len(result.uploaded), result.unchanged, total, uploading, total - uploading, cpu)
                )
                print(f"  {label}: done in {total:.1f}s", flush=True)
            # before the temporary tree (140,000 files) is deleted, which takes a while on a busy disk
            print()
            print(
                f"{'run':<14} {'uploaded':>9} {'unchanged':>10} {'total s':>9} {'uploads s':>10} {'besides s':>10}"
                f" {'cpu s':>7}"
            )
            for label, uploaded, unchanged, total, uploading, besides, cpu in rows:
                print(
                    f"{label:<14} {uploaded:>9} {unchanged:>10} {total:>9.2f} {uploading:>10.2f} {besides:>10.2f}"
                    f" {cpu:>7.2f}"
                )
            print(
                f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
