"""What the upstream-neutral catalog costs `curate fetch`: the project-page lookups for 1,000 projects.

The catalog records no URL, so before downloading, fetch reads each project's page on the upstream
(curate.locate) to find each file's URL. This builds 1,000 projects of one small wheel each, serves them
from the fixture upstream on 127.0.0.1 (tests/upstream.py), and times, from an empty cache each time:

- fetch with stored URLs: the catalog read, the missing files listed, and fetch.fetch_all given each
  file's URL up front (what fetch_catalog did when the catalog recorded URLs);
- the lookups alone: locate.locate over every file (one page per project, 8 at a time);
- `curate fetch` as it is now: fetch.fetch_catalog (lookups, then downloads), in-process;
- the same without upstream.index_url: uv is asked which index it resolves from (UV_DEFAULT_INDEX points
  it at the fixture), one `uv pip compile --no-deps` run, then as above.

Target: the lookups add well under the downloads' own time (one small page per project, read in
parallel). Figures from a shared 2-core machine are noisy: compare runs taken back to back.

    .venv/bin/python benchmarks/bench_locate.py
    .venv/bin/python benchmarks/bench_locate.py --projects 200 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from tests import upstream as upstream_module  # noqa: E402
from tests.catalogs import make_repo, write_catalog  # noqa: E402
from tests.upstream import Upstream  # noqa: E402
from tests.wheels import Dist  # noqa: E402

from curate.cache import missing_files, wanted_files  # noqa: E402
from curate.catalog import load_catalog, load_catalog_fast  # noqa: E402
from curate.fetch import RetryPolicy, fetch_all, fetch_catalog  # noqa: E402
from curate.httpclient import HttpClient  # noqa: E402
from curate.locate import Located, locate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind; the median is shown")
    args = parser.parse_args()
    upstream_module._Handler.disable_nagle_algorithm = True
    with tempfile.TemporaryDirectory(prefix="bench-locate-") as tmp:
        base = Path(tmp)
        dists = [Dist(name=f"locpkg-{i:04d}", version="1.0", sdist=False) for i in range(args.projects)]
        with Upstream(base / "up") as up:
            up.add(*dists)
            root = make_repo(base / "repo", index_url=up.index_url)
            write_catalog(root, up, {d.name: [d.version] for d in dists})
            wanted = wanted_files(load_catalog(root).values())
            stored = [Located(wanted=w, url=up.file_url(w.file.filename)) for w in wanted]
            total = sum(w.file.size for w in wanted)
            policy = RetryPolicy(backoff=0.05)
            print(
                f"{args.projects} projects, {len(wanted)} files, {total / 1024:.0f} KiB in all, from 127.0.0.1;"
                f" {args.jobs} parallel downloads, median of {args.repeat}\n"
            )

            def stored_urls(cache: Path) -> None:  # what fetch_catalog did when the catalog had URLs
                missing = missing_files(cache, wanted_files(load_catalog_fast(root).values()))
                url = {x.sha256: x.url for x in stored}
                located = [Located(wanted=w, url=url[w.sha256]) for w in missing]
                report = fetch_all(cache, located, jobs=args.jobs, policy=policy)
                assert not report.errors

            def lookups(cache: Path) -> None:
                with HttpClient({}) as client:
                    found = locate(up.index_url, wanted, client=client)
                assert not found.problems
                assert len(found.located) == len(wanted)

            def fetch_now(cache: Path) -> None:
                done = fetch_catalog(root, env={}, cache_dir=cache, jobs=args.jobs, policy=policy)
                assert done.report is not None
                assert not done.report.errors

            unset = make_repo(base / "repo-default")
            shutil.rmtree(unset / "catalog" / "packages")
            shutil.copytree(root / "catalog" / "packages", unset / "catalog" / "packages")
            config = unset / "catalog" / "config.yaml"
            config.write_text(re.sub(r"\nupstream:\n  index_url: .*\n", "\n", config.read_text()), "utf-8")
            env = {**os.environ, "UV_DEFAULT_INDEX": up.index_url, "UV_CACHE_DIR": str(base / "uv-cache")}

            def fetch_default(cache: Path) -> None:
                done = fetch_catalog(unset, env=env, cache_dir=cache, jobs=args.jobs, policy=policy)
                assert done.report is not None
                assert not done.report.errors

            runs: list[tuple[str, Callable[[Path], None]]] = [
                ("fetch, stored URLs", stored_urls),
                ("page lookups alone", lookups),
                ("curate fetch (lookups)", fetch_now),
                ("curate fetch, uv's index", fetch_default),
            ]
            times: dict[str, float] = {}
            print(f"{'run':<26} {'seconds':>8} {'ms/project':>11}")
            print("-" * 47)
            for label, run in runs:
                seconds = []
                for i in range(args.repeat):
                    cache = base / f"cache-{i}"
                    start = time.perf_counter()
                    run(cache)
                    seconds.append(time.perf_counter() - start)
                    shutil.rmtree(cache, ignore_errors=True)
                times[label] = statistics.median(seconds)
                print(f"{label:<26} {times[label]:>8.2f} {times[label] * 1000 / args.projects:>11.2f}")
            added = times["curate fetch (lookups)"] - times["fetch, stored URLs"]
            asking_uv = times["curate fetch, uv's index"] - times["curate fetch (lookups)"]
            print(
                f"\nadded by the lookups: {added:.2f} s for {args.projects} projects"
                f" ({added * 1000 / args.projects:.2f} ms per project,"
                f" {100 * added / times['fetch, stored URLs']:.0f}% of fetch with stored URLs);"
                f" asking uv for its index adds {asking_uv:.2f} s"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
