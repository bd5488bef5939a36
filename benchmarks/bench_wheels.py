"""How much `curate wheels` adds to building: 20 fixture sdists, against a bare `uv build --wheel` loop.

Makes 20 pure-Python sdists (setuptools, flit_core and hatchling in turn), serves them with the pinned
build backends (tests/data/build-backends.txt, downloaded by `make venv`) from a fixture upstream on
127.0.0.1, and runs curate lock, fetch and vet (not timed). Then times, back to back:

- bare loop: `uv build --wheel --no-index --find-links WHEELHOUSE` over the 20 sdists, one after another,
  one shared uv cache, no sandbox (what a person would type)
- curate wheels --no-recheck --jobs 1: one sandboxed build per sdist, in turn (the same work as the loop,
  plus the sandbox, one build environment prepared per build-dependency set and mounted read-only into
  each build, a fresh uv cache per build, checking and recording)
- curate wheels --jobs 1: the default, each sdist built twice (side by side) and compared
- curate wheels (default jobs: 2 versions at once, each built twice)
- again: nothing to build (the no-op path)

Targets: curate wheels --no-recheck --jobs 1 <= 1.2x the bare loop; a re-run with nothing to build < 1 s.
Each curate run starts from a catalog without built: records (a copy of the vetted repository). Each row
gives wall seconds and CPU seconds (user + system of every process the run started, sandboxed ones
included: this script makes itself their subreaper, as bwrap's PID namespace would otherwise hide them),
each against the bare loop's, and the load average before and after: on a shared machine compare runs
taken back to back, and trust the CPU ratio over the wall-clock one.

    .venv/bin/python benchmarks/bench_wheels.py [--count 20] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

from tests.lockutil import lock_repo, write_request  # noqa: E402
from tests.test_wheels import WHEELHOUSE, make_sdist  # noqa: E402
from tests.upstream import Upstream  # noqa: E402
from tests.wheels import Dist  # noqa: E402

from curate.cli import main as curate_main  # noqa: E402

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
BIN = Path(sys.executable).parent
UV = shutil.which("uv", path=str(BIN)) or "uv"


def sources(name: str, i: int) -> dict[str, str]:
    module = name.replace("-", "_")
    kind = i % 3
    if kind == 0:
        return {
            "pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
            f'[project]\nname = "{name}"\nversion = "1.0"\ndescription = "bench"\n',
            f"{module}.py": f"VALUE = {i}\n",
        }
    if kind == 1:
        return {
            "pyproject.toml": '[build-system]\nrequires = ["flit_core>=3.4"]\nbuild-backend = "flit_core.buildapi"\n'
            f'[project]\nname = "{name}"\nversion = "1.0"\ndescription = "bench"\n',
            f"{module}/__init__.py": f"VALUE = {i}\n",
        }
    return {
        "pyproject.toml": '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\ndescription = "bench"\n',
        f"{module}/__init__.py": f"VALUE = {i}\n",
    }


def quiet_curate(root: Path, *args: str) -> int:
    with open(os.devnull, "w") as null:
        proc = subprocess.run(
            [str(BIN / "curate"), "-C", str(root), *args], stdout=null, stderr=subprocess.PIPE, text=True
        )
    if proc.returncode not in (0, 1):
        print(proc.stderr, file=sys.stderr)
    return proc.returncode


def adopt_orphans() -> None:
    """Become the child subreaper (Linux): bwrap --unshare-pid does not reap the namespace's first
    process, whose CPU time would otherwise be lost to RUSAGE_CHILDREN; reparented to us, it is counted."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_orphans(wait: float = 5.0) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def timed(call: object) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of every process it started, sandboxed ones included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    call()  # type: ignore[operator]
    wall = time.perf_counter() - started
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (the vetted repository: to profile)"
    )
    args = parser.parse_args()
    wheels = sorted(WHEELHOUSE.glob("*.whl"))
    if not wheels:
        print(f"the build backends are not in {WHEELHOUSE}: run make venv", file=sys.stderr)
        return 2
    adopt_orphans()
    tmp = Path(tempfile.mkdtemp(prefix="bench-wheels-"))
    try:
        names = [f"benchbuild-{i:02d}" for i in range(args.count)]
        sdists = [make_sdist(tmp / "sdists", n, "1.0", sources(n, i)) for i, n in enumerate(names)]
        up = Upstream(tmp / "upstream")
        for n, path in zip(names, sdists, strict=True):
            up.add_file(Dist(name=n, version="1.0", wheel_tags=()), path)
        for wheel in wheels:
            name, version = wheel.name.split("-")[:2]
            up.add_file(Dist(name=name, version=version), wheel)
        os.environ["CURATE_CACHE_DIR"] = str(tmp / "cache")
        os.environ["UV_PYTHON_DOWNLOADS"] = "never"
        with up:
            root = lock_repo(tmp / "repo", up.index_url, allow_sdist=True)
            config = root / "catalog" / "config.yaml"
            config.write_text(
                config.read_text("utf-8").replace("min_release_age_days: 7", "min_release_age_days: 0"),
                "utf-8",
            )
            write_request(
                root,
                "bench",
                [(n, "==1.0") for n in names],  # their build backends: added by the lock
                platforms=("linux",),
                python=(PY,),
            )
            for step in (["lock"], ["fetch"], ["vet", "--no-advisories"]):
                if curate_main(["-C", str(root), *step]) != 0:
                    print(f"curate {step[0]} failed", file=sys.stderr)
                    return 1
        vetted = tmp / "vetted"
        shutil.copytree(root, vetted)

        def bare() -> None:
            out, cache = tmp / "bare-out", tmp / "bare-uv-cache"
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
            env = {**os.environ, "UV_CACHE_DIR": str(cache), "UV_NO_CONFIG": "1"}
            for sdist in sdists:
                subprocess.run(
                    [
                        UV,
                        "build",
                        "--wheel",
                        "--no-index",
                        "--find-links",
                        str(WHEELHOUSE),
                        "--python",
                        sys.executable,
                        "--out-dir",
                        str(out),
                        str(sdist),
                    ],
                    check=True,
                    capture_output=True,
                    env=env,
                )

        rows: list[tuple[str, tuple[float, float]]] = []
        load_before = os.getloadavg()[0]
        rows.append(("bare uv build --wheel loop", timed(bare)))

        def fresh(*flags: str) -> tuple[float, float]:
            shutil.rmtree(root)
            shutil.copytree(vetted, root)
            return timed(lambda: quiet_curate(root, "wheels", *flags))

        rows.append(("curate wheels --no-recheck --jobs 1", fresh("--no-recheck", "--jobs", "1")))
        rows.append(("curate wheels --jobs 1 (built twice)", fresh("--jobs", "1")))
        rows.append(("curate wheels (2 at once, built twice)", fresh()))
        rows.append(("again: nothing to build", timed(lambda: quiet_curate(root, "wheels"))))
        base, base_cpu = rows[0][1]
        print(
            f"\n{args.count} sdists, Python {PY}, {os.cpu_count()} CPUs (load: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)"
        )
        print(f"{'run':45} {'wall s':>8} {'x bare':>7} {'cpu s':>8} {'x bare':>7}")
        for label, (wall, cpu) in rows:
            print(f"{label:45} {wall:8.2f} {wall / base:7.2f} {cpu:8.2f} {cpu / base_cpu:7.2f}")
        return 0
    finally:
        if args.keep:
            print(f"kept: {tmp} (vetted repository: {tmp / 'vetted'}; cache: {tmp / 'cache'})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
