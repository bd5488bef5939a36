"""What the per request x target environments add to ``curate build``: 1,000 requests x 6 targets.

A synthetic catalog: 1,000 requests on Linux x86_64, Windows and macOS arm64 with Python 3.11 and 3.12
(6 targets each), 25 packages per request drawn from 3,000 projects (a version 2.0 the requests need and
a superseded 1.0; 70% pure-Python wheels, 30% with one wheel per target), vetted (10% with a waived
advisory; 10 projects blocked, so the requests that need them get no files and a reason). Link mode
with ``files.base_url``, so no file bytes are needed (as in bench_index.py).

``curate build`` (site + index) runs in a child process into a fresh output, twice per run:

- ``without``: the environments switched off (no plan, no request pages, no envs/ or api/requests/);
- ``with``: as shipped: 6,000 environments planned, 3 files each written for the ready ones, a page per
  request.

The file cache starts empty, so run 1 is a cold build; later runs are rebuilds of the unchanged catalog
into the previous run's output, as ``curate build`` rebuilds a published ``public/``: they find the
cached parts (the SBOMs' components and pylock entries) and link the environment files the published
tree holds from the same inputs (``curate.reuse``). ``--fresh-output`` builds every run into a new output
instead (a CI runner's case: the file cache restored, no published tree). Each build's wall time and
CPU time (user + sys of the child and everything it waited for: worker processes included) are
printed, with the load average before and after (the machine may be shared). Each mode builds first in
every other run, and the disks are synced before each build, so that neither mode's figures carry what
the other left behind; the rebuilds' median (runs 2 to ``--runs``, each mode's own) is printed below
the runs: on a shared machine a single build's wall time varies by more than the environments add.

The target: ``with`` takes less than 20% more than ``without``. Also printed: the environment step on
its own (planning and writing envs/ + api/requests/, from the loaded catalog), files and bytes written.

    .venv/bin/python benchmarks/bench_env.py                      # 1,000 requests, 3,000 projects
    .venv/bin/python benchmarks/bench_env.py --runs 5             # a cold build and four rebuilds
    .venv/bin/python benchmarks/bench_env.py --requests 100 --projects 300 --runs 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

PLATFORMS = {
    "linux-x86_64": ("linux", "x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64"),
    "windows-amd64": ("windows", "AMD64", "win_amd64", "win_amd64"),
    "macos-arm64": ("macos", "arm64", "macosx_14_0_arm64", "macosx_11_0_arm64"),
}
PY = ("3.11", "3.12")
TARGETS = [f"{p}-py{py}" for p in PLATFORMS for py in PY]
LICENSES = ("MIT", "BSD-3-Clause", "Apache-2.0", "MPL-2.0", "ISC", "MIT AND BSD-3-Clause")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def config_text() -> str:
    text = (REPO / "catalog" / "config.yaml").read_text("utf-8")
    head, rest = text.split("targets:\n", 1)
    tail = rest[rest.index("\nretention:") :]
    targets = "".join(
        f"  {name}:\n    os: {os}\n    arch: {arch}\n    platform_tags: [{tag}]\n"
        for name, (os, arch, tag, _) in PLATFORMS.items()
    )
    text = head + "targets:\n" + targets + tail
    return text.replace("  mode: mirror", "  mode: link\n  base_url: https://files.example/pkgs/")


def make_catalog(root: Path, n_requests: int, n_projects: int, per_request: int) -> None:
    rng = random.Random(1)
    (root / "catalog" / "packages").mkdir(parents=True)
    (root / "requests").mkdir()
    (root / "catalog" / "config.yaml").write_text(config_text(), "utf-8")
    from curate.config import load_config

    policy = load_config(root).vetting.digest()  # the records were judged by it, so the index serves them
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "site", root / "site")
    names = [f"proj-{i:05d}" for i in range(n_projects)]
    wanted: dict[int, list[tuple[str, bool]]] = {i: [] for i in range(n_projects)}
    request_ids = []
    for r in range(n_requests):
        rid = f"2026-{1 + r % 12:02d}-{1 + r % 28:02d}-team-{r:04d}"
        request_ids.append(rid)
        picks = rng.sample(range(n_projects), per_request)
        direct = set(picks[: per_request // 3])
        for i in picks:
            wanted[i].append((rid, i in direct))
        lines = [
            f"title: Team {r} stack",
            "requested_by: team@example.com",
            "justification: A synthetic request for the environments benchmark, with enough words.",
            "platforms: [linux, windows, macos]",
            'python: ["3.11", "3.12"]',
            "packages:",
            *(f"  - name: {names[i]}" for i in sorted(direct)),
        ]
        (root / "requests" / f"{rid}.yaml").write_text("\n".join(lines) + "\n", "utf-8")
    blocked = set(rng.sample(range(n_projects), 10))
    for i, name in enumerate(names):
        snake = name.replace("-", "_")
        binary = i % 10 < 3
        deps = sorted({names[j] for j in rng.sample(range(n_projects), 2) if j != i})
        out = [f"name: {name}", "versions:"]
        for version in ("1.0", "2.0"):
            current = version == "2.0"
            if binary:
                files = [
                    (
                        f"{snake}-{version}-cp{py.replace('.', '')}-cp{py.replace('.', '')}-{tag}.whl",
                        [f"{p}-py{py}"],
                    )
                    for p, (_, _, _, tag) in PLATFORMS.items()
                    for py in PY
                ]
            else:
                files = [(f"{snake}-{version}-py3-none-any.whl", TARGETS)]
            out += [
                f"  - version: '{version}'",
                "    requires_python: '>=3.9'",
                "    yanked:",
            ]
            needs = wanted[i] if current else []
            if not current:
                out.append("    superseded_since: '2026-01-01'")
            out.append("    needed_by:" if needs else "    needed_by: []")
            for rid, asked in needs:
                out += [
                    f"      - request: {rid}",
                    f"        targets: [{', '.join(TARGETS)}]",
                    f"        direct: {'true' if asked else 'false'}",
                    "        via: []",
                ]
            out += ["    build_targets: []", "    files:"]
            for filename, targets in files:
                out += [
                    f"      - filename: {filename}",
                    f"        sha256: {_sha(filename)}",
                    f"        size: {rng.randint(10_000, 5_000_000)}",
                    "        upload_time: '2025-06-01T00:00:00Z'",
                    "        requires_python: '>=3.9'",
                    "        yanked:",
                    f"        targets: [{', '.join(targets)}]",
                ]
            out.append("    dependencies:" if deps else "    dependencies: []")
            out += [f"      - name: {d}\n        targets: [{', '.join(TARGETS)}]" for d in deps]
            vuln = i % 10 == 5
            status = "block" if i in blocked else "warn" if vuln else "pass"
            out += [
                "    vetting:",
                f"      summary: Synthetic project {i}",
                f"      license: {LICENSES[i % len(LICENSES)]}",
                "      license_source: License-Expression",
                f"      home_page: https://{name}.example/",
                "      requires_dist: []",
                f"      status: {status}",
                "      vetted: '2026-06-01'",
                f"      policy: {policy}",
                "      advisories: osv-dir",
                "      findings:" if (vuln or i in blocked) else "      findings: []",
            ]
            if vuln or i in blocked:
                out += [
                    f"        - id: GHSA-{i:04d}-abcd-efgh",
                    "          kind: vulnerability",
                    "          severity: HIGH",
                    "          file: ''",
                    "          message: A synthetic advisory",
                    f"          aliases: [CVE-2026-{i:05d}]",
                    "          fixed: ['3.0']",
                    f"          decision: {'block' if i in blocked else 'waived'}",
                ]
                if i in blocked:
                    out.append("          waiver:")
                else:
                    out += [
                        "          waiver:",
                        "            justification: not reachable",
                        "            expires: '2099-01-01'",
                    ]
            out.append("      files:")
            out += [f"        {f}: {{sha256: {_sha(f)}, metadata_sha256: }}" for f, _ in files]
        (root / "catalog" / "packages" / f"{name}.yaml").write_text("\n".join(out) + "\n", "utf-8")


def child(mode: str, root: Path, out: Path, cache: Path) -> None:
    import curate.build as building
    import curate.site as site
    from curate.environments import EnvStats

    if mode == "without":
        # the child exits after one build: the patches need no undoing
        mock.patch.object(building, "write_environment_files", return_value=EnvStats()).start()
        mock.patch.object(site, "write_request_pages", return_value=[]).start()
        mock.patch.object(site, "plan_environments", return_value={}).start()
        mock.patch.object(building.EnvWriter, "start", return_value=None).start()  # no process planning them
    started = time.perf_counter()
    built = building.build(root=root, output=out, cache_dir=cache, env={})
    seconds = time.perf_counter() - started
    envs = built.environments
    print(
        json.dumps(
            {"seconds": seconds, "ready": envs.ready if envs else 0, "files": envs.files if envs else 0}
        )
    )


def env_step(root: Path, out: Path) -> dict[str, float]:
    """The environment step alone, in this process: plan from the loaded catalog and requests, then
    write envs/ and api/requests/ (no file cache: every component is made)."""
    from curate.build import write_environment_files
    from curate.catalog import load_catalog_fast
    from curate.config import load_config
    from curate.environments import plan
    from curate.requests import read_request, request_files

    config = load_config(root)
    t0 = time.perf_counter()
    projects = load_catalog_fast(root)
    requests = [r for r, _ in (read_request(p, p.name, config, root=root) for p in request_files(root)) if r]
    t1 = time.perf_counter()
    plans = plan(projects, requests, config)
    t2 = time.perf_counter()
    out.mkdir(parents=True)
    stats = write_environment_files(out, root, config, env={}, plans=plans)
    t3 = time.perf_counter()
    size = sum(p.stat().st_size for p in (out / "envs").rglob("*") if p.is_file())
    return {
        "load": t1 - t0,
        "plan": t2 - t1,
        "write": t3 - t2,
        "ready": stats.ready,
        "left_out": len(stats.unavailable),
        "files": stats.files,
        "mb": size / 1e6,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--projects", type=int, default=3000)
    parser.add_argument("--per-request", type=int, default=25)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--fresh-output",
        action="store_true",
        help="build every run into a new output (the file cache kept, no published tree: CI's case)",
    )
    parser.add_argument("--child", nargs=4, metavar=("MODE", "ROOT", "OUT", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]), Path(args.child[3]))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-env-") as tmp:
        root = Path(tmp) / "repo"
        started = time.perf_counter()
        make_catalog(root, args.requests, args.projects, args.per_request)
        print(
            f"catalog: {args.requests} requests x {len(TARGETS)} targets, {args.projects} projects, "
            f"{args.per_request} packages per request (written in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        cache = Path(tmp) / "cache"  # empty: run 1 is cold
        times: dict[str, list[float]] = {"without": [], "with": []}
        cpu: dict[str, list[float]] = {"without": [], "with": []}
        result: dict[str, float] = {}
        load_before = os.getloadavg()
        for run in range(args.runs):
            # each mode goes first in every other run, so that neither always inherits what the other
            # left the machine (dirty pages being written back, a warm or evicted page cache)
            for mode in ("without", "with") if run % 2 == 0 else ("with", "without"):
                out = Path(tmp) / (f"public-{mode}-{run}" if args.fresh_output else f"public-{mode}")
                os.sync()  # the previous build's writes go to disk now, not during this one
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", mode, str(root), str(out), str(cache)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if proc.returncode != 0:
                    print(proc.stdout, proc.stderr, file=sys.stderr)
                    return 1
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                times[mode].append(result["seconds"])
                cpu[mode].append(used)
                print(
                    f"  run {run + 1} {mode}: {result['seconds']:.1f} s wall, {used:.1f} s CPU "
                    f"(load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
                if args.fresh_output or run == args.runs - 1:
                    shutil.rmtree(out)
        load_after = os.getloadavg()
        step = env_step(root, Path(tmp) / "envs-only")
        print()
        print(
            f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in load_before)} before, "
            f"{', '.join(f'{x:.1f}' for x in load_after)} after"
        )
        print()
        print("| run | without: wall s (CPU s) | with: wall s (CPU s) | added wall | added CPU |")
        print("|---|---|---|---|---|")
        for run in range(args.runs):
            w, x = times["without"][run], times["with"][run]
            cw, cx = cpu["without"][run], cpu["with"][run]
            again = "rebuild, fresh output" if args.fresh_output else "rebuild"
            label = "1 (cold)" if run == 0 else f"{run + 1} ({again})"
            print(
                f"| {label} | {w:.1f} ({cw:.1f}) | {x:.1f} ({cx:.1f}) | {x - w:+.1f} s ({(x - w) / w:+.0%}) "
                f"| {cx - cw:+.1f} s ({(cx - cw) / cw:+.0%}) |"
            )
        if args.runs > 1:  # the rebuilds' medians (each mode's own), the cold run left out
            w, x = statistics.median(times["without"][1:]), statistics.median(times["with"][1:])
            cw, cx = statistics.median(cpu["without"][1:]), statistics.median(cpu["with"][1:])
            print(
                f"| median of runs 2-{args.runs} | {w:.1f} ({cw:.1f}) | {x:.1f} ({cx:.1f}) "
                f"| {x - w:+.1f} s ({(x - w) / w:+.0%}; target < +20%) | {cx - cw:+.1f} s ({(cx - cw) / cw:+.0%}) |"
            )
        print()
        print(
            f"environment step alone: load catalog {step['load']:.1f} s (shared with the site), plan "
            f"{step['plan']:.1f} s, write {step['write']:.1f} s; {int(step['ready'])} environments written, "
            f"{int(step['left_out'])} left out (blocked), {int(step['files'])} files, {step['mb']:.0f} MB under envs/"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
