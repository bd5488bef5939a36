"""How fast `curate check` is, as whole processes (pre-commit runs it on every commit).

(a) one request file, median wall time of 10 runs (target: under 0.3 s);
(b) 10,000 request files in one run (target: under 10 s).

    .venv/bin/python benchmarks/bench_check.py
    .venv/bin/python benchmarks/bench_check.py --files 2000 --runs 5
"""

from __future__ import annotations

import argparse
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


def run(root: Path, *args: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(CURATE), "-C", str(root), "check", "-q", *args], capture_output=True, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"curate check failed:\n{proc.stderr.decode()}")
    return elapsed


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
        run(root, str(one))  # warm the file system cache and .pyc files
        single = [run(root, str(one)) for _ in range(args.runs)]
        one.unlink()
        for i in range(args.files):
            (folder / f"2026-11-21-request-{i:05d}.yaml").write_text(request(i))
        many = run(root)
    rows = [
        ("one request (median)", f"{statistics.median(single):.3f} s", "< 0.3 s", f"{args.runs} runs"),
        (f"{args.files:,} requests", f"{many:.2f} s", "< 10 s", f"{many / args.files * 1000:.2f} ms/file"),
    ]
    print(f"{'case':<24} {'wall':>9} {'target':>8}  note")
    for case, wall, target, note in rows:
        print(f"{case:<24} {wall:>9} {target:>8}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
