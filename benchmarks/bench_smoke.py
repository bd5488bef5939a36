"""How long `curate smoke` takes for the example data-science request on this machine.

The committed example catalog (catalog/, requests/) is copied to a temporary repository; its files
must be in the cache (`curate fetch` once, online). Then, as whole processes:

(a) `curate build --index-only` (the index the test installs from);
(b) `curate smoke -r data-science --no-record`: every target of the request this machine runs
    (a fresh venv, the locked set installed from the built index with hashes required, each
    requested package's top-level modules imported in a fresh process per package), per target and
    in total;
(c) the bare baseline for each target that ran: `uv venv` + `uv pip install --require-hashes` of the
    same requirements from the same served index + one `python -c "import ..."` of the same modules.

No target: the figure is what it is (a fresh environment of numpy, pandas, scipy, scikit-learn and
matplotlib); (b) against (c) is curate's overhead (its own server, a process per package,
the per-run uv cache).
Timings on a shared machine are noisy: run it when the machine is idle, and compare runs taken back
to back.

    .venv/bin/python benchmarks/bench_smoke.py [--request data-science]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from curate import smoke  # noqa: E402
from curate.catalog import load_catalog  # noqa: E402
from curate.resolve import find_uv  # noqa: E402
from curate.serve import make_server, serve_in_thread, url_of  # noqa: E402

CURATE = [sys.executable, "-m", "curate"]


def timed(argv: list[str], **kw: object) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - start, proc


def baseline(root: Path, result: dict[str, object], index_url: str, work: Path) -> float:
    """uv venv + uv pip install --require-hashes + one python importing the same modules."""
    uv = find_uv(os.environ)
    entries = smoke.locked_set(load_catalog(root), str(result["request"]), str(result["target"]))
    assert entries, result
    reqs = work / "requirements.txt"
    reqs.write_text(smoke.requirements_text(entries), "utf-8")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_CACHE_DIR": str(work / "uv-cache")}
    venv = work / "venv"
    start = time.perf_counter()
    subprocess.run([uv, "venv", "-q", "--python", str(result["python_path"]), str(venv)], env=env, check=True)
    python = smoke.venv_python(venv)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "--require-hashes",
            "--index-url",
            index_url,
            "-r",
            str(reqs),
        ],
        env=env,
        check=True,
    )
    modules = list(result["modules"])  # type: ignore[call-overload]
    subprocess.run([str(python), "-c", "; ".join(f"import {m}" for m in modules)], check=True, cwd=work)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--request", default="data-science")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        for part in ("catalog", "requests"):
            shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("smoke"))
        offline = subprocess.run(
            [*CURATE, "-C", str(root), "fetch", "--offline"], capture_output=True, text=True
        )
        if offline.returncode != 0:
            print("the example catalog's files are not all in the cache: run `curate fetch` once (online)")
            print(offline.stdout + offline.stderr)
            return 1
        build_s, built = timed([*CURATE, "-C", str(root), "build", "--index-only", "--left-out", "warn"])
        if built.returncode != 0:
            print(built.stdout + built.stderr)
            return 1
        out = Path(tmp) / "smoke.json"
        smoke_s, ran = timed(
            [*CURATE, "-C", str(root), "smoke", "-q", "-r", args.request, "--no-record", "--json", str(out)]
        )
        if not out.is_file():
            print(ran.stdout + ran.stderr)
            return 1
        results = json.loads(out.read_text("utf-8"))["results"]
        server = make_server(root / "public", port=0, quiet=True)
        stop = serve_in_thread(server)
        rows = [("step", "seconds", "bare uv", "detail")]
        rows.append(("curate build --index-only", f"{build_s:.1f}", "", "40 projects"))
        try:
            for r in results:
                if r["status"] == "not-run":
                    rows.append((r["target"], "-", "-", "not run here: " + r["reason"]))
                    continue
                found = smoke.python_finder(find_uv(os.environ), os.environ)(r["target"].rsplit("py", 1)[1])
                bare = "-"
                if isinstance(found, smoke.Interpreter):
                    work = Path(tmp) / f"bare-{r['target']}"
                    work.mkdir()
                    bare = f"{baseline(root, {**r, 'python_path': found.path}, url_of(server) + '/simple/', work):.1f}"
                detail = f"{r['status']}: {r['packages']} packages, {len(r['modules'])} modules"
                rows.append((r["target"], f"{r['seconds']:.1f}", bare, detail))
        finally:
            stop()
        ran_n = sum(r["status"] != "not-run" for r in results)
        rows.append(
            (f"curate smoke -r {args.request} (total)", f"{smoke_s:.1f}", "", f"{ran_n} target(s) run")
        )
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
        print(f"\nexit code of curate smoke: {ran.returncode}; load average: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
