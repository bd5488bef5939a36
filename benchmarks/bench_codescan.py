"""The time the suspicious-code scan adds per version, over a real catalog (GuardDog and curate's checks).

Scans every version of a catalog the way `curate vet` does (codescan.scan_version: the version's sdist
and wheels, each distinct file once) and prints, per version, the files and their size, the seconds
GuardDog took and the whole scan took, and the rules that matched; then the medians, and how often each
rule matched (what decides which rules are signal for a curated catalog: a rule that matches most
legitimate packages is noise).

The catalog must be locked and fetched. The example catalog (requests/) against the real upstream:

    rm -rf /tmp/example && mkdir /tmp/example && cp -r catalog requests /tmp/example/
    (cd /tmp/example && git init -q && ../path/to/.venv/bin/curate lock && curate fetch)
    .venv/bin/python benchmarks/bench_codescan.py --repo /tmp/example
    .venv/bin/python benchmarks/bench_codescan.py --repo /tmp/example --rules threats   # every threat rule

Without --repo it uses this repository's catalog (when catalog/packages holds one). GuardDog's one-off
load (about a second per process) is measured apart from the per-version figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from curate import codescan  # noqa: E402
from curate.cache import blob_path, cache_root, missing_files, wanted_files  # noqa: E402
from curate.catalog import load_catalog  # noqa: E402
from curate.config import load_config  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", type=Path, default=REPO, help="a catalog repository, locked and fetched")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument(
        "--rules",
        choices=("default", "threats"),
        default="default",
        help="the rules curate runs by default, or every GuardDog threat rule (to see which are noise)",
    )
    args = parser.parse_args(argv)
    root = args.repo.resolve()
    config = load_config(root)
    projects = load_catalog(root)
    if not projects:
        print(f"{root}: no catalog/packages: lock and fetch a catalog first (see --help)", file=sys.stderr)
        return 2
    import os

    cache = cache_root(root, config, dict(os.environ), args.cache_dir)
    missing = missing_files(cache, wanted_files(projects.values()))
    if missing:
        print(f"{len(missing)} file(s) missing from {cache}: run `curate fetch` first", file=sys.stderr)
        return 2
    if args.rules == "threats":
        rules = tuple(
            r for r in codescan.guarddog_rules() if r.startswith("threat-") and "npm" not in r
        ) + tuple(codescan.OWN_RULES)
    else:
        rules = codescan.rules_run(dict(config.vetting.code_rules))

    started = time.perf_counter()
    codescan._analyzer()
    load = time.perf_counter() - started
    print(
        f"GuardDog {codescan.guarddog_version()} loaded in {load:.2f} s (once per process); {len(rules)} rules"
    )
    print(
        f"{'project':<28} {'version':<12} {'files':>5} {'MB':>7} {'guarddog s':>10} {'scan s':>7}  rules matched"
    )
    guarddog_times: list[float] = []
    totals: list[float] = []
    matched: Counter[str] = Counter()
    for name in sorted(projects):
        for version in projects[name].sorted_versions():
            files = [(f.filename, blob_path(cache, f.sha256)) for f in version.files]
            size = sum(p.stat().st_size for _, p in files) / 1e6
            with tempfile.TemporaryDirectory(prefix="bench-scan-") as scratch:
                t0 = time.perf_counter()
                result = codescan.scan_version(name, files, rules, Path(scratch))
                total = time.perf_counter() - t0
            guarddog_times.append(result.seconds)
            totals.append(total)
            rules_hit = sorted({h.rule for h in result.hits})
            matched.update(rules_hit)
            print(
                f"{name:<28} {version.version:<12} {len(files):>5} {size:>7.1f} {result.seconds:>10.2f}"
                f" {total:>7.2f}  {', '.join(rules_hit) or '-'}"
            )
    n = len(totals)
    print(
        f"\n{n} versions: GuardDog median {statistics.median(guarddog_times):.2f} s per version"
        f" (max {max(guarddog_times):.2f}); whole scan median {statistics.median(totals):.2f} s"
        f" (max {max(totals):.2f}, total {sum(totals):.0f} s on one core)"
    )
    print("\nrule                                          versions matched")
    for rule in rules:
        print(f"{rule:<45} {matched.get(rule, 0):>3} / {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
