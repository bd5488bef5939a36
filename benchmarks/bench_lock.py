"""How fast `curate lock` is: 50 requests x 6 targets against a local fixture upstream.

The upstream (served on 127.0.0.1) holds 120 synthetic projects, each with three releases of pure-Python
wheels, a third of them with per-OS wheels, most depending on one or two others (some only on Windows).
Each of the 50 requests asks for 4 to 6 of them on linux, windows and macOS (arm64) for Python 3.11 and
3.12: 6 targets. Measured:

- cold: the first lock, with an empty uv cache (one uv run per request, every project page read once);
- re-lock, nothing changed: a whole `curate lock` process (target: under 1 s);
- re-lock, one request changed: only that request is resolved again;
- `curate lock --check` as a whole process (target: under 0.5 s).

    .venv/bin/python benchmarks/bench_lock.py
    .venv/bin/python benchmarks/bench_lock.py --requests 20 --projects 60
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from tests.catalogs import make_repo  # noqa: E402
from tests.lockutil import write_request  # noqa: E402
from tests.upstream import LINUX, MAC, WIN, Upstream  # noqa: E402
from tests.wheels import Dist  # noqa: E402

from curate.cli import main  # noqa: E402

CURATE = str(REPO / ".venv" / "bin" / "curate")


def synthetic_dists(n: int, rng: random.Random) -> list[Dist]:
    dists = []
    for i in range(n):
        name = f"proj{i:03d}"
        for minor in range(3):
            deps = []
            for j in (
                rng.sample(range(i + 1, n), k=min(2, n - i - 1)) if i < n - 1 and rng.random() < 0.7 else []
            ):
                marker = ' ; sys_platform == "win32"' if rng.random() < 0.2 else ""
                deps.append(f"proj{j:03d}>=1.0{marker}")
            tags = [LINUX, WIN, MAC] if i % 3 == 0 else ["py3-none-any"]
            dists.append(
                Dist(name=name, version=f"1.{minor}", requires_dist=deps, wheel_tags=tags, sdist=False)
            )
    return dists


def timed(fn: Callable[..., int], *args: Any) -> tuple[float, int]:
    start = time.perf_counter()
    code = fn(*args)
    return time.perf_counter() - start, code


def best_of(n: int, root: Path, *args: str) -> tuple[float, int]:
    """Fastest of ``n`` whole-process runs (the machine may be busy with other work)."""
    runs = [timed(run_process, root, *args) for _ in range(n)]
    return min(t for t, _ in runs), max(code for _, code in runs)


def run_process(root: Path, *args: str) -> int:
    return subprocess.run(
        [CURATE, "-C", str(root), *args], capture_output=True, check=False, env=os.environ.copy()
    ).returncode


def main_(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--projects", type=int, default=120)
    args = parser.parse_args(argv)
    rng = random.Random(42)
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as tmp:
        base = Path(tmp)
        os.environ["UV_CACHE_DIR"] = str(base / "uv-cache")
        os.environ["UV_PYTHON_DOWNLOADS"] = "never"
        up = Upstream(base / "upstream")
        print(f"building {args.projects} projects x 3 releases ...", file=sys.stderr)
        up.add(*synthetic_dists(args.projects, rng))
        with up:
            root = make_repo(base / "repo", index_url=up.index_url)
            config = root / "catalog" / "config.yaml"
            text = re.sub(r"  (linux-aarch64|macos-x86_64):\n(?:    .*\n)+", "", config.read_text("utf-8"))
            config.write_text(text, "utf-8")
            for r in range(args.requests):
                picks = rng.sample(range(args.projects), k=rng.randint(4, 6))
                write_request(
                    root,
                    f"team-{r:02d}",
                    [(f"proj{i:03d}", "") for i in picks],
                    platforms=("linux", "windows", "macos"),
                    python=("3.11", "3.12"),
                )
            rows = []
            t, code = timed(main, ["-C", str(root), "lock", "-q"])
            assert code == 0, "cold lock failed"
            n_files = len(list((root / "catalog" / "packages").glob("*.yaml")))
            rows.append((f"cold lock ({args.requests} requests x 6 targets, empty uv cache)", t, ""))
            up.log.clear()
            t, code = best_of(5, root, "lock", "-q")
            assert code == 0
            rows.append(("re-lock, nothing changed (whole process, best of 5)", t, "< 1 s"))
            assert not up.log, "an unchanged re-lock talked to the upstream"
            write_request(
                root,
                "team-00",
                [("proj000", ""), ("proj001", ""), ("proj002", "")],
                platforms=("linux", "windows", "macos"),
                python=("3.11", "3.12"),
            )
            t, code = timed(run_process, root, "lock", "-q")
            assert code == 0
            rows.append(("re-lock, one request changed (whole process)", t, ""))
            t, code = best_of(5, root, "lock", "--check")
            assert code == 0
            rows.append(("lock --check (whole process, best of 5)", t, "< 0.5 s"))
            py = str(REPO / ".venv" / "bin" / "python")
            runs = [
                timed(subprocess.call, [py, "-c", "import curate.catalog, curate.config"]) for _ in range(5)
            ]
            rows.append(
                ("baseline: python + importing the YAML and config readers", min(t for t, _ in runs), "")
            )
    print(f"\n{args.requests} requests, {args.projects} projects upstream, {n_files} projects locked\n")
    print(f"| {'measurement':<64} | {'seconds':>8} | target  |")
    print(f"|{'-' * 66}|{'-' * 10}|---------|")
    for label, seconds, target in rows:
        print(f"| {label:<64} | {seconds:8.2f} | {target:<7} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_())
