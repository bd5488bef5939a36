"""How fast `curate vet` is: 1,000 small real wheels in a cache and a catalog, vetted from scratch.

Generates PROJECTS x VERSIONS wheels with tests/wheels.py (a few with a licence to review, a yanked
release, a broken RECORD), puts them in a content-addressed cache and writes catalog/packages for them,
then times the `curate vet` command (a subprocess, start-up included):

- cold: every file checked (RECORD, metadata, twine check), METADATA extracted, findings written
- again: nothing changed, so every version is kept as it was (the no-op path)
- --force: every file checked again, catalog already written

Prints a table. Target: cold under 30 s on the 2-core machine.

    .venv/bin/python benchmarks/bench_vet.py                       # 250 projects x 4 versions
    .venv/bin/python benchmarks/bench_vet.py --projects 1000 --versions 1 --jobs 1 2
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from tests.catalogs import make_repo  # noqa: E402
from tests.wheels import Dist, build_wheel  # noqa: E402

from curate.cache import blob_path  # noqa: E402
from curate.catalog import FileEntry, Need, Project, VersionEntry, write_project  # noqa: E402

TARGETS = ("linux-x86_64-py3.12", "windows-amd64-py3.12")


def generate(root: Path, cache: Path, projects: int, versions: int) -> int:
    make_repo(root)
    work = root.parent / "wheels"
    count = 0
    for p in range(projects):
        name = f"benchpkg-{p:04d}"
        entries = []
        for v in range(versions):
            version = f"1.{v}"
            dist = Dist(
                name=name,
                version=version,
                summary=f"Benchmark package {p}",
                requires_dist=[f"benchpkg-{(p + 1) % projects:04d}>=1.0"],
                license_expression="EPL-2.0" if p % 50 == 0 else "MIT",
                broken_record=p % 200 == 7 and v == 0,
                description=f"# {name}\n\nA *benchmark* package.\n",
            )
            path = build_wheel(dist, "py3-none-any", work)
            data = path.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            target = blob_path(cache, sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            count += 1
            entries.append(
                VersionEntry(
                    version=version,
                    yanked="bad build" if p % 100 == 3 and v == 0 else None,
                    needed_by=(Need(request="2026-01-01-bench", targets=TARGETS, direct=True),),
                    files=(
                        FileEntry(
                            filename=path.name,
                            sha256=sha,
                            size=len(data),
                            targets=TARGETS,
                        ),
                    ),
                )
            )
        write_project(root, Project(name=name, versions=tuple(entries)))
    return count


def run_vet(root: Path, cache: Path, *extra: str) -> tuple[float, int]:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    cmd = [
        str(REPO / ".venv" / "bin" / "curate"),
        "-C",
        str(root),
        "vet",
        "-q",
        "--cache-dir",
        str(cache),
        *extra,
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=250)
    parser.add_argument("--versions", type=int, default=4)
    parser.add_argument("--jobs", type=int, nargs="*", default=[os.cpu_count() or 1])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-vet-") as tmp:
        base = Path(tmp)
        cache = base / "cache"
        start = time.perf_counter()
        n = generate(base / "repo", cache, args.projects, args.versions)
        gen = time.perf_counter() - start
        print(f"generated {n} wheels ({args.projects} projects x {args.versions} versions) in {gen:.1f} s")
        print(f"machine: {os.cpu_count()} CPU(s)\n")
        print(f"{'run':<28} {'jobs':>4} {'seconds':>8} {'files/s':>8} {'exit':>4}")
        print("-" * 56)
        pristine = base / "pristine"
        shutil.copytree(base / "repo", pristine)
        for jobs in args.jobs:
            repo = base / f"repo-j{jobs}"
            shutil.copytree(pristine, repo)
            shutil.rmtree(cache / "metadata", ignore_errors=True)
            for label, extra in (
                ("cold (all checked)", ()),
                ("again (no-op)", ()),
                ("--force", ("--force",)),
            ):
                seconds, code = run_vet(repo, cache, "-j", str(jobs), *extra)
                print(f"{label:<28} {jobs:>4} {seconds:>8.2f} {n / seconds:>8.0f} {code:>4}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
