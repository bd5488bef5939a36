"""How fast `curate check` is, as whole processes (pre-commit runs it on every commit).

(a) one request file, median wall time of 10 runs (target: under 0.3 s);
(b) 10,000 request files in one run (target: under 10 s).

CPU is the run's user+sys time (steadier than wall time on a loaded machine). Start-up is mostly
imports; when PYTHONDONTWRITEBYTECODE is set and the venv holds no .pyc files, every run compiles
every module it imports, so (a) is also measured with a private bytecode cache (a temporary
PYTHONPYCACHEPREFIX), as on an installation where Python writes its .pyc files.

    .venv/bin/python benchmarks/bench_check.py
    .venv/bin/python benchmarks/bench_check.py --files 2000 --runs 5
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CURATE = Path(sys.executable).with_name("curate")
NAMES = [
    "numpy",
    "pandas",
    "scikit-learn",
    "matplotlib",
    "httpx",
    "fastapi",
    "uvicorn",
    "pydantic",
    "requests",
]


def request(i: int) -> str:
    pkgs = "".join(
        f'  - name: {NAMES[(i + k) % len(NAMES)]}\n    version: ">={k + 1}.{i % 10}"\n' for k in range(4)
    )
    return (
        "# yaml-language-server: $schema=../scripts/curate/data/request.schema.json\n"
        f"title: Request number {i}\n"
        "requested_by: someone@example.com\n"
        "justification: >-\n"
        "  The team needs these libraries for its reporting jobs on Linux and Windows.\n"
        "platforms: [linux, windows]\n"
        'python: ["3.11", "3.12"]\n'
        f"packages:\n{pkgs}"
    )


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, user+sys) seconds of one `curate check` process."""
    start, start_cpu = time.perf_counter(), cpu()
    proc = subprocess.run(
        [str(CURATE), "-C", str(root), "check", "-q", *args], capture_output=True, check=False, env=env
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"curate check failed:\n{proc.stderr.decode()}")
    return elapsed, cpu() - start_cpu


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=10)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "catalog").mkdir()
        shutil.copy(REPO / "catalog" / "config.yaml", root / "catalog" / "config.yaml")
        folder = root / "requests"
        folder.mkdir()
        one = folder / "2026-11-21-one.yaml"
        one.write_text(request(0))
        run(root, str(one))  # warm the file system cache (and .pyc files, where Python writes them)
        single = [run(root, str(one)) for _ in range(args.runs)]
        cached_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached_env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        run(root, str(one), env=cached_env)  # fill the private bytecode cache
        cached = [run(root, str(one), env=cached_env) for _ in range(args.runs)]
        one.unlink()
        for i in range(args.files):
            (folder / f"2026-11-21-request-{i:05d}.yaml").write_text(request(i))
        many, many_cpu = run(root)
    no_pyc = " (no .pyc)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    rows = [
        (f"one request{no_pyc}", *medians(single), "< 0.3 s", f"median of {args.runs} runs"),
        ("one request, .pyc cached", *medians(cached), "< 0.3 s", f"median of {args.runs} runs"),
        (
            f"{args.files:,} requests",
            f"{many:.2f} s",
            f"{many_cpu:.2f} s",
            "< 10 s",
            f"{many / args.files * 1000:.2f} ms/file",
        ),
    ]
    print(f"{'case':<28} {'wall':>9} {'cpu':>9} {'target':>8}  note")
    for case, wall, cpu_time, target, note in rows:
        print(f"{case:<28} {wall:>9} {cpu_time:>9} {target:>8}  {note}")
    return 0


def medians(runs: list[tuple[float, float]]) -> tuple[str, str]:
    wall = statistics.median(w for w, _ in runs)
    cpu_time = statistics.median(c for _, c in runs)
    return f"{wall:.3f} s", f"{cpu_time:.3f} s"


if __name__ == "__main__":
    raise SystemExit(main())
