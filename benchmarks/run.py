"""Run every benchmark in turn (``make bench``); each prints its own table.

    .venv/bin/python benchmarks/run.py                 # all of them (the index and site ones take minutes)
    .venv/bin/python benchmarks/run.py check import    # only bench_check.py and bench_import.py

Benchmarks measure; they never assert. The targets each one is judged against are in its docstring.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    chosen = set(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    unknown = chosen - {p.stem.removeprefix("bench_") for p in scripts}
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    failed = []
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        if chosen and name not in chosen:
            continue
        print(f"\n=== {script.name}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"=== {script.name}: exit {code} after {time.perf_counter() - started:.0f} s", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
