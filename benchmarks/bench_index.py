"""How fast the index step is: 10,000 projects x 10 files, against dumb-pypi and a bare script.

A synthetic catalog (10,000 projects, 5 versions each, a wheel and an sdist per version: 100,000
files; some yanked, some with Requires-Python; link mode, so no file bytes are needed) is written by:

- ``curate``: :func:`curate.index.build_index` into a fresh tree (simple/ HTML + JSON, api/, manifest);
- ``bare``: a script of f-strings and ``json.dumps`` writing the same files with the same bytes (checked);
- ``bare-503``: the same kind of script writing only the 10,001 PEP 503 HTML pages (the floor);
- ``dumb-pypi``: dumb-pypi 1.x from its own venv (``uv venv`` + ``uv pip install dumb-pypi`` under the
  work dir), with and without its per-release JSON pages;
- ``incremental``: ``curate build --index-only`` after one project's catalog file changed, on a tree
  built from 10,000 catalog files (the real command path: reads every catalog file's bytes, parses and
  renders the changed one, swaps its files and the root pages in by rename).

Each is a child process (peak memory is its ru_maxrss); the median of 3 runs is reported.

    .venv/bin/python benchmarks/bench_index.py                 # 10,000 projects
    .venv/bin/python benchmarks/bench_index.py --projects 1000 --runs 1
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import html
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from curate.catalog import FileEntry, Need, Project, VersionEntry  # noqa: E402
from curate.config import Config, load_config  # noqa: E402
from curate.index import (  # noqa: E402
    MANIFEST,
    REPOSITORY_VERSION,
    Blobs,
    Source,
    build_index,
)
from curate.nginx import PROJECTS_MAP  # noqa: E402
from curate.vetting import FileEvidence, VettingRecord  # noqa: E402

FILES_URL = "https://files.example/pkgs/"
POLICY = load_config(REPO).vetting.digest()  # the records were judged by the config's policy: served
VETTED = datetime.date(2026, 1, 1)
TARGETS = ("linux-x86_64-py3.12", "windows-amd64-py3.12", "macos-arm64-py3.12")


def synthetic(n: int) -> list[Project]:
    projects = []
    for i in range(n):
        name = f"Proj_{i:05d}.Lib" if i % 3 == 0 else f"proj-{i:05d}"
        snake = name.lower().replace("-", "_").replace(".", "_")
        versions = []
        for j in range(5):
            version = f"1.{j}.0"
            rp = ">=3.8" if j % 2 else ""
            yanked = "broken build" if (i + j) % 97 == 0 else None
            files = []
            for fn in (f"{snake}-{version}-py3-none-any.whl", f"{snake}-{version}.tar.gz"):
                digest = hashlib.sha256(fn.encode()).hexdigest()
                files.append(
                    FileEntry(
                        filename=fn,
                        sha256=digest,
                        size=1000 + (i * 7 + j) % 5000,
                        upload_time=f"2024-01-{1 + j:02d}T00:00:00.000000Z",
                        requires_python=rp,
                        yanked=yanked,
                        targets=TARGETS,
                    )
                )
            versions.append(
                VersionEntry(
                    version=version,
                    requires_python=rp,
                    yanked=yanked,
                    needed_by=(Need(request="2026-01-01-bench", targets=TARGETS, direct=True),),
                    files=tuple(files),
                    vetting=VettingRecord(  # as curate vet writes it: covering each file, under the policy
                        summary=f"Synthetic project {i}",
                        status="pass",
                        vetted=VETTED,
                        policy=POLICY,
                        files=tuple(FileEvidence(filename=f.filename, sha256=f.sha256) for f in files),
                    ),
                )
            )
        projects.append(Project(name=name, versions=tuple(versions)))
    return projects


def make_repo(work: Path) -> Path:
    repo = work / "repo"
    (repo / "catalog" / "packages").mkdir(parents=True, exist_ok=True)
    text = (REPO / "catalog" / "config.yaml").read_text("utf-8")
    text = text.replace("  mode: mirror", f"  mode: link\n  base_url: {FILES_URL}")
    (repo / "catalog" / "config.yaml").write_text(text, "utf-8")
    return repo


def _sources(projects: list[Project]) -> list[Source]:
    return [
        Source(normalized=p.normalized, stamp=str(i), digest=_const(str(i)), load=_const(p))
        for i, p in enumerate(projects)
    ]


def _const(value: Any) -> Callable[[], Any]:
    return lambda: value


# -- the contenders (each runs in a child process) ----------------------------------------------------


def run_curate(config: Config, projects: list[Project], out: Path) -> None:
    build_index(out, _sources(projects), config=config, blobs=Blobs(None))


def _bare_files(config: Config, p: Project, norm: str) -> list[dict[str, Any]]:
    from urllib.parse import quote

    files: list[dict[str, Any]] = []
    for v in sorted(p.versions, key=lambda v: v.parsed):
        for f in v.files:
            rp = f.requires_python or v.requires_python
            y = f.yanked if f.yanked is not None else v.yanked
            files.append(
                {
                    "f": f,
                    "v": v,
                    "href": f"{FILES_URL}{norm}/{quote(f.filename)}",
                    "rp": rp,
                    "y": (y or "yanked") if y is not None else None,
                }
            )
    files.sort(key=lambda x: str(x["f"].filename))
    return files


def run_bare(config: Config, projects: list[Project], out: Path, *, html_only: bool) -> None:
    """What a hand-written generator does: f-strings, html.escape, json.dumps, open().write()."""
    esc = html.escape
    os_of = {t.id: t.platform.os for t in config.all_targets()}
    simple = out / "simple"
    simple.mkdir(parents=True)
    if not html_only:
        (out / "api").mkdir()
    entries = []
    for p in sorted(projects, key=lambda p: p.normalized):
        norm = p.normalized
        files = _bare_files(config, p, norm)
        links = "".join(
            f'<a href="{esc(x["href"])}#sha256={x["f"].sha256}"'
            + (f' data-requires-python="{esc(x["rp"])}"' if x["rp"] else "")
            + (f' data-yanked="{esc(x["y"])}"' if x["y"] is not None else "")
            + f">{esc(x['f'].filename)}</a><br>\n"
            for x in files
        )
        page = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="pypi:repository-version" content="{REPOSITORY_VERSION}">\n'
            '<meta name="pypi:project-status" content="active">\n'
            f"<title>Links for {esc(p.name)}</title>\n</head>\n<body>\n<h1>Links for {esc(p.name)}</h1>\n"
            f"{links}</body>\n</html>\n"
        )
        d = simple / norm
        d.mkdir()
        with open(d / "index.html", "w", encoding="utf-8") as fh:
            fh.write(page)
        versions = [v.version for v in sorted(p.versions, key=lambda v: v.parsed) if v.files]
        entries.append((p.name, norm, versions, p))
        if html_only:
            continue
        jfiles = []
        for x in files:
            f = x["f"]
            jf: dict[str, Any] = {"filename": f.filename, "url": x["href"], "hashes": {"sha256": f.sha256}}
            if x["rp"]:
                jf["requires-python"] = x["rp"]
            jf["size"] = f.size
            if f.upload_time:
                jf["upload-time"] = f.upload_time
            jf["yanked"] = x["y"] if x["y"] is not None else False
            jfiles.append(jf)
        doc = {
            "meta": {"api-version": REPOSITORY_VERSION},
            "name": norm,
            "project-status": {"status": "active"},
            "versions": versions,
            "files": jfiles,
        }
        with open(d / "index.json", "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
        api_versions = []
        for v in sorted(p.versions, key=lambda v: v.parsed):
            vf = [x for x in files if x["v"] is v]
            if not vf:
                continue
            targets = sorted({t for x in vf for t in x["f"].targets})
            api_versions.append(
                {
                    "version": v.version,
                    "requires_python": v.requires_python,
                    "yanked": v.yanked,
                    "superseded_since": v.superseded_since,
                    "targets": targets,
                    "os": _os(os_of, targets),
                    "build_targets": list(v.build_targets),
                    "requests": list(v.requests),
                    "dependencies": [],
                    "vetting": v.vetting.to_dict() if v.vetting is not None else {},
                    "files": [
                        {
                            "filename": x["f"].filename,
                            "url": x["href"],
                            "sha256": x["f"].sha256,
                            "size": x["f"].size,
                            "upload_time": x["f"].upload_time,
                            "requires_python": x["rp"],
                            "yanked": x["y"],
                            "metadata_sha256": None,
                            "targets": list(x["f"].targets),
                            "os": _os(os_of, x["f"].targets),
                        }
                        for x in vf
                    ],
                }
            )
        api = {
            "name": p.name,
            "normalized": norm,
            "status": "active",
            "status_reason": "",
            "index": f"{config.simple_url}{norm}/",
            "blocked_versions": [],
            "left_out": [],
            "versions": api_versions,
        }
        with open(out / "api" / f"{norm}.json", "w", encoding="utf-8") as fh:
            fh.write(json.dumps(api, ensure_ascii=False, separators=(",", ":")) + "\n")
    root = "".join(f'<a href="{norm}/">{esc(name)}</a><br>\n' for name, norm, _, _ in entries)
    with open(simple / "index.html", "w", encoding="utf-8") as fh:
        fh.write(
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="pypi:repository-version" content="{REPOSITORY_VERSION}">\n'
            "<title>Simple index</title>\n</head>\n<body>\n<h1>Simple index</h1>\n"
            f"{root}</body>\n</html>\n"
        )
    if html_only:
        return
    with open(simple / "index.json", "w", encoding="utf-8") as fh:
        fh.write(
            json.dumps(
                {"meta": {"api-version": REPOSITORY_VERSION}, "projects": [{"name": e[0]} for e in entries]},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
        )
    cat = []
    for name, norm, versions, p in entries:
        served = [v for v in sorted(p.versions, key=lambda v: v.parsed) if v.files]
        oses = sorted({os_of[t] for v in served for f in v.files for t in f.targets if t in os_of})
        cat.append(
            {
                "name": name,
                "normalized": norm,
                "status": "active",
                "summary": served[-1].vetting.summary if served and served[-1].vetting is not None else "",
                "latest": served[-1].version if served else "",
                "versions": versions,
                "os": oses,
            }
        )
    with open(out / "api" / "catalog.json", "w", encoding="utf-8") as fh:
        doc = {"name": config.site_name, "index": config.simple_url, "repository_version": REPOSITORY_VERSION}
        fh.write(json.dumps({**doc, "projects": cat}, ensure_ascii=False, separators=(",", ":")) + "\n")


def _os(os_of: Mapping[str, str], targets: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t in targets:
        if t in os_of:
            out.setdefault(os_of[t], []).append(t)
    return dict(sorted(out.items()))


def write_dumb_pypi_list(projects: list[Project], path: Path) -> None:
    with open(path, "w") as fh:
        for p in projects:
            for v in p.versions:
                for f in v.files:
                    fh.write(
                        json.dumps(
                            {
                                "filename": f.filename,
                                "hash": f"sha256={f.sha256}",
                                "requires_python": f.requires_python or None,
                                "upload_timestamp": 1704067200,
                                "uploaded_by": "bench",
                                "yanked_reason": f.yanked,
                            }
                        )
                        + "\n"
                    )


def write_catalog_files(repo: Path, projects: list[Project]) -> None:
    """Catalog files as JSON (a subset of YAML that curate's loader reads), fast to write for 10,000."""
    folder = repo / "catalog" / "packages"
    for p in projects:
        (folder / f"{p.normalized}.yaml").write_text(json.dumps(p.to_dict(), indent=1) + "\n", "utf-8")


# -- child entry point ---------------------------------------------------------------------------------


def child(what: str, work: Path, n: int) -> None:
    import resource

    repo = work / "repo"
    config = load_config(repo)
    out = work / "out" / what
    if what == "setup-incremental":
        from curate.build import catalog_sources

        shutil.rmtree(work / "live", ignore_errors=True)
        for p in (repo / "catalog" / "packages").glob("*.yaml"):
            p.unlink()
        write_catalog_files(repo, synthetic(n))
        build_index(work / "live", catalog_sources(repo), config=config, blobs=Blobs(None))
        print(json.dumps({"seconds": 0, "maxrss_kib": 0}))
        return
    if what == "dumb-pypi-list":
        write_dumb_pypi_list(synthetic(n), work / "dumb-pypi-packages.json")
        print(json.dumps({"seconds": 0, "maxrss_kib": 0}))
        return
    if what == "incremental":
        from curate.build import build

        started = time.perf_counter()
        built = build(root=repo, output=work / "live", cache_dir=work / "no-cache", env={}, site=False)
        elapsed = time.perf_counter() - started
        assert built.stats is not None
        print(f"{built.stats.projects} project(s) ({built.stats.rendered} rendered)")  # checked by main()
    else:
        projects = synthetic(n)
        started = time.perf_counter()
        if what == "curate":
            run_curate(config, projects, out)
        elif what == "bare":
            run_bare(config, projects, out, html_only=False)
        elif what == "bare-503":
            run_bare(config, projects, out, html_only=True)
        else:
            raise SystemExit(f"unknown contender {what}")
        elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "maxrss_kib": rss}))


def run_child(args: list[str]) -> tuple[float, float, str]:
    """(seconds as the child measured them, its peak RSS in MiB, its stdout)."""
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return data["seconds"], data["maxrss_kib"] / 1024, proc.stdout


def run_external(args: list[str]) -> tuple[float, float]:
    """Wall time and peak RSS (MiB) of a child we do not control, from wait4's rusage."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        assert proc.stderr is not None
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def _compare_trees(a: Path, b: Path) -> int:
    """Number of files; raises when the two trees differ (the manifest and nginx's map are curate's own)."""
    own = (MANIFEST, PROJECTS_MAP)
    fa = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file() and p.name not in own)
    fb = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    if fa != fb:
        raise SystemExit(f"bare and curate wrote different files: {sorted(set(fa) ^ set(fb))[:5]}")
    for rel in fa:
        if (a / rel).read_bytes() != (b / rel).read_bytes():
            raise SystemExit(f"bare and curate differ in {rel}")
    return len(fa)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/curate-bench"))
    ap.add_argument("--no-dumb-pypi", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work: Path = args.work
    if args.child:
        child(args.child, work, args.projects)
        return 0

    work.mkdir(parents=True, exist_ok=True)
    repo = make_repo(work)
    me = [sys.executable, __file__, "--work", str(work), "--projects", str(args.projects)]
    results: dict[str, list[tuple[float, float]]] = {}

    def fresh_out() -> None:
        shutil.rmtree(work / "out", ignore_errors=True)
        (work / "out").mkdir()

    for what in ("curate", "bare", "bare-503"):
        for _ in range(args.runs):
            fresh_out()
            seconds, rss, _ = run_child([*me, "--child", what])
            results.setdefault(what, []).append((seconds, rss))
    # the same bytes: run once more each and compare the trees
    fresh_out()
    run_child([*me, "--child", "curate"])
    run_child([*me, "--child", "bare"])
    n_files = _compare_trees(work / "out" / "curate", work / "out" / "bare")
    print(f"curate and bare wrote the same {n_files:,} files, byte for byte", file=sys.stderr)

    if not args.no_dumb_pypi:
        venv = work / "dumb-venv"
        dumb = venv / "bin" / "dumb-pypi"
        if not dumb.exists():
            uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
            env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
            subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env)
            subprocess.run(
                [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "dumb-pypi"],
                check=True,
                env=env,
            )
        listing = work / "dumb-pypi-packages.json"
        run_child([*me, "--child", "dumb-pypi-list"])
        for label, extra in (
            ("dumb-pypi", []),
            ("dumb-pypi --no-per-release-json", ["--no-per-release-json"]),
        ):
            for _ in range(args.runs):
                fresh_out()
                results.setdefault(label, []).append(
                    run_external(
                        [
                            str(dumb),
                            "--package-list-json",
                            str(listing),
                            "--packages-url",
                            FILES_URL,
                            "--output-dir",
                            str(work / "out" / "dumb"),
                            "--no-generate-timestamp",
                            *extra,
                        ]
                    )
                )

    # incremental: a live tree built from catalog files, then one file changes
    run_child([*me, "--child", "setup-incremental"])
    target = repo / "catalog" / "packages" / f"{synthetic(1)[0].normalized}.yaml"
    for run in range(args.runs):
        data = json.loads(target.read_text())
        data["versions"][0]["vetting"]["summary"] = f"changed {run}"
        target.write_text(json.dumps(data, indent=1) + "\n")
        started = time.perf_counter()
        seconds, rss, out = run_child([*me, "--child", "incremental"])
        wall = time.perf_counter() - started
        if "(1 rendered" not in out:
            raise SystemExit(f"incremental build did not render exactly one project:\n{out}")
        results.setdefault("incremental (one project)", []).append((seconds, rss))
        results.setdefault("incremental, whole command incl. start-up", []).append((wall, rss))

    med = {k: (statistics.median(s for s, _ in v), max(r for _, r in v)) for k, v in results.items()}
    print(
        f"\nindex step for {args.projects:,} projects, {args.projects * 10:,} files (median of {args.runs})\n"
    )
    print(f"{'contender':44} {'seconds':>9} {'peak MiB':>9}")
    for k, (sec, mib) in med.items():
        print(f"{k:44} {sec:9.2f} {mib:9.0f}")
    c = med["curate"][0]
    print()
    print(f"curate vs bare (same files and bytes): {c / med['bare'][0]:.2f}x (target <= 1.5x)")
    print(f"curate vs bare-503 (HTML pages only):  {c / med['bare-503'][0]:.2f}x")
    for label in ("dumb-pypi", "dumb-pypi --no-per-release-json"):
        if label in med:
            print(f"{label} / curate: {med[label][0] / c:.1f}x faster (target >= 4x)")
    print(f"peak memory of the curate step: {med['curate'][1]:.0f} MiB (target < 300 MiB)")
    print(f"incremental one-project rebuild: {med['incremental (one project)'][0]:.3f} s (target < 0.5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
