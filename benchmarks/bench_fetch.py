"""How fast `curate fetch` fills the cache: 200 files from the local fixture upstream on 127.0.0.1.

Builds 200 small wheels (tests/wheels.py, ~1-60 KiB each), serves them with tests/upstream.py, writes a
catalog pointing at them, and times `curate fetch` (fetch.fetch_catalog in-process, start-up excluded) with several
numbers of parallel downloads, from an empty cache each time; then once more with a few faults injected
(a 500, a dropped connection and a truncated body per 20 files) to show what retries cost.

    .venv/bin/python benchmarks/bench_fetch.py
    .venv/bin/python benchmarks/bench_fetch.py --files 500 --jobs 1 8 16
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from tests import upstream as upstream_module  # noqa: E402
from tests.catalogs import make_repo, write_catalog  # noqa: E402
from tests.upstream import Fault, Upstream  # noqa: E402
from tests.wheels import Dist  # noqa: E402

from curate.fetch import RetryPolicy, fetch_catalog  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 4, 8])
    parser.add_argument(
        "--nagle",
        action="store_true",
        help="leave Nagle's algorithm on in the fixture server (headers and body then go out as two "
        "segments, and each response waits ~40 ms for a delayed ACK: a test-server artefact)",
    )
    args = parser.parse_args()
    upstream_module._Handler.disable_nagle_algorithm = not args.nagle
    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as tmp:
        base = Path(tmp)
        dists = [
            Dist(name=f"fetchpkg-{i:04d}", version="1.0", sdist=False, description="x" * (1000 * (i % 60)))
            for i in range(args.files)
        ]
        with Upstream(base / "up") as up:
            up.add(*dists)
            root = make_repo(base / "repo", index_url=up.index_url)
            write_catalog(root, up, {d.name: [d.version] for d in dists})
            total = sum(f.size for files in up.files.values() for f in files)
            print(f"{args.files} files, {total / 1024:.0f} KiB in all, served from 127.0.0.1\n")
            print(f"{'run':<22} {'jobs':>4} {'seconds':>8} {'files/s':>8} {'MiB/s':>7}")
            print("-" * 53)
            runs: list[tuple[str, int, bool]] = [("clean", j, False) for j in args.jobs]
            runs.append(("with faults", max(args.jobs), True))
            for label, jobs, faults in runs:
                cache = base / f"cache-{label}-{jobs}"
                if faults:
                    names = sorted(f.filename for files in up.files.values() for f in files)
                    for i, name in enumerate(names):
                        kind = {0: "500", 7: "drop", 14: "truncate"}.get(i % 20)
                        if kind:
                            up.fault(name, Fault(kind))  # type: ignore[arg-type]
                start = time.perf_counter()
                done = fetch_catalog(
                    root, env={}, cache_dir=cache, jobs=jobs, policy=RetryPolicy(backoff=0.05)
                )
                seconds = time.perf_counter() - start
                assert done.report is not None
                assert not done.report.errors
                print(
                    f"{label:<22} {jobs:>4} {seconds:>8.2f} {args.files / seconds:>8.0f}"
                    f" {total / seconds / 2**20:>7.1f}"
                )
                shutil.rmtree(cache)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
