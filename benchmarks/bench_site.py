"""How the catalog site scales: build it for synthetic catalogs of 100, 1,000 and 10,000 projects.

Each synthetic project has ~10 versions and ~10 files (a wheel per version, a few versions with
per-OS wheels), some dependencies, and findings on a few versions. For comparison, the same run
also builds a bare mkdocs-material site of the same number of plain pages (hidden from the navigation,
the cheapest way mkdocs can carry them). Prints a table: wall time, output size, and what a browser
downloads to search packages (the packages index JSON, gzip-compressed).

    .venv/bin/python benchmarks/bench_site.py            # 100, 1000, 10000
    .venv/bin/python benchmarks/bench_site.py 100 1000   # chosen sizes
    .venv/bin/python benchmarks/bench_site.py --no-bare 10000
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from curate.config import load_config  # noqa: E402
from curate.site import build_site  # noqa: E402

WORDS = [
    "fast",
    "simple",
    "async",
    "http",
    "client",
    "server",
    "data",
    "frame",
    "array",
    "numeric",
    "plot",
    "chart",
    "parser",
    "yaml",
    "json",
    "toml",
    "crypto",
    "hash",
    "cache",
    "queue",
    "task",
    "worker",
    "test",
    "mock",
    "lint",
    "format",
    "type",
    "stub",
    "schema",
    "model",
    "config",
    "cli",
    "terminal",
    "colour",
    "log",
    "trace",
    "metric",
    "graph",
    "tree",
    "table",
    "xml",
    "html",
    "template",
    "image",
    "audio",
    "video",
    "zip",
    "archive",
]
LICENSES = ("MIT", "BSD-3-Clause", "Apache-2.0", "MPL-2.0", "ISC", "")
PY = ("3.11", "3.12")
PLATFORMS = {
    "linux-x86_64": "manylinux_2_17_x86_64",
    "linux-aarch64": "manylinux_2_17_aarch64",
    "windows-amd64": "win_amd64",
    "macos-arm64": "macosx_11_0_arm64",
}
REQUESTS_EVERY = 100  # one synthetic request per this many projects


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# the policy of the config the catalog is written with: its records were judged by it (so it is served)
POLICY = load_config(REPO).vetting.digest()


def project_yaml(i: int, n: int, rng: random.Random) -> tuple[str, str]:
    """One catalog/packages file, written as text (fast), in the layout curate.catalog reads."""
    name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i}"
    request = f"2026-01-{1 + (i // REQUESTS_EVERY) % 28:02d}-batch-{i // REQUESTS_EVERY}"
    summary = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize()
    lic = rng.choice(LICENSES)
    deps = sorted({f"dep-{j}" for j in rng.sample(range(n), min(n, 3)) if j != i})
    out = [f"name: {name}", "versions:"]
    n_versions = 10
    for v in range(n_versions):
        version = f"1.{v}.0"
        all_py = [f"{p}-py{py}" for p in PLATFORMS for py in PY]
        out += [
            f"  - version: {version}",
            '    requires_python: ">=3.9"',
            "    yanked: null",
            "    needed_by:",
            f"      - request: {request}",
            f"        targets: [{', '.join(all_py)}]",
            f"        direct: {'true' if i % 3 else 'false'}",
            "        via: []" if i % 3 else f"        via: [dep-{(i + 1) % n}]",
            "    build_targets: []",
            "    files:",
        ]
        if v == n_versions - 1:
            wheels = [
                (f"{name.replace('-', '_')}-{version}-cp3{py[-2:]}-cp3{py[-2:]}-{tag}.whl", [f"{p}-py{py}"])
                for p, tag in PLATFORMS.items()
                for py in PY[:1]
            ]
        else:
            wheels = [(f"{name.replace('-', '_')}-{version}-py3-none-any.whl", all_py)]
        for filename, targets in wheels:
            out += [
                f"      - filename: {filename}",
                f"        url: https://upstream.example/files/{filename}",
                f"        sha256: {_sha(filename)}",
                f"        size: {rng.randint(10_000, 5_000_000)}",
                '        upload_time: "2025-01-01T00:00:00.000000Z"',
                '        requires_python: ">=3.9"',
                "        yanked: null",
                f"        targets: [{', '.join(targets)}]",
            ]
        out.append("    dependencies:" if deps else "    dependencies: []")
        out += [f"      - name: {d}\n        targets: [{', '.join(all_py)}]" for d in deps]
        findings = (
            f"""
        - id: GHSA-{i:04d}-{v:04d}-abcd
          kind: vulnerability
          severity: high
          file: ""
          message: "A synthetic advisory for version {version}"
          aliases: [CVE-2026-{i:05d}]
          fixed: ["1.{v + 1}.0"]
          decision: waived
          waiver:
            justification: "Not reachable from our use"
            expires: "2027-01-01"
"""
            if v == 0 and i % 10 == 0
            else " []\n"
        )
        out.append(
            f"""    vetting:
      summary: "{summary}"
      license: "{lic}"
      license_source: License-Expression
      home_page: "https://{name}.upstream.example/"
      requires_dist: []
      status: {"warn" if v == 0 and i % 10 == 0 else "pass"}
      vetted: "2026-01-01"
      policy: {POLICY}
      findings:{findings.rstrip()}
      files:"""
            + "".join(
                f"\n        {filename}:\n          sha256: {_sha(filename)}\n          metadata_sha256: null"
                for filename, _ in wheels
            )
        )
    return name, "\n".join(out) + "\n"


def make_catalog(root: Path, n: int) -> None:
    rng = random.Random(n)
    (root / "catalog" / "packages").mkdir(parents=True)
    (root / "requests").mkdir()
    shutil.copy(REPO / "catalog" / "config.yaml", root / "catalog" / "config.yaml")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "site", root / "site")
    names_by_request: dict[int, list[str]] = {}
    for i in range(n):
        name, text = project_yaml(i, n, rng)
        norm = name  # already normalized
        (root / "catalog" / "packages" / f"{norm}.yaml").write_text(text, "utf-8")
        names_by_request.setdefault(i // REQUESTS_EVERY, []).append(name)
    for r, names in names_by_request.items():
        lines = [
            f"title: Synthetic batch {r}",
            "requested_by: bench@example.com",
            "justification: A synthetic request that brings in a batch of projects for the benchmark.",
            "platforms: [linux, windows, macos]",
            'python: ["3.11", "3.12"]',
            "packages:",
            *(f"  - name: {x}" for x in names),
        ]
        path = root / "requests" / f"2026-01-{1 + r % 28:02d}-batch-{r}.yaml"
        path.write_text("\n".join(lines) + "\n", "utf-8")


def make_bare(root: Path, n: int) -> None:
    """A plain mkdocs-material project with n pages hidden from the navigation."""
    docs = root / "docs"
    (docs / "p").mkdir(parents=True)
    (docs / "index.md").write_text("# Bare\n\nA bare site.\n", "utf-8")
    for i in range(n):
        body = "\n".join(f"| 1.{v}.0 | yes | yes | no |" for v in range(10))
        (docs / "p" / f"page-{i}.md").write_text(
            f"# Page {i}\n\nSome text about project {i}.\n\n| v | a | b | c |\n|---|---|---|---|\n{body}\n",
            "utf-8",
        )
    (root / "mkdocs.yml").write_text(
        "site_name: Bare\ndocs_dir: docs\nsite_dir: out\nnav: [index.md]\n"
        "theme:\n  name: material\n  font: false\nplugins: [search]\n",
        "utf-8",
    )


def tree_size(path: Path) -> tuple[int, int]:
    total = files = 0
    for dirpath, _, filenames in os.walk(path):
        for f in filenames:
            total += os.path.getsize(os.path.join(dirpath, f))
            files += 1
    return total, files


def gz_size(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 6)) if path.exists() else 0


def build_bare(root: Path) -> float:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config as mk_load

    cfg = mk_load(str(root / "mkdocs.yml"))
    start = time.perf_counter()
    build(cfg)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 10_000])
    parser.add_argument("--no-bare", action="store_true", help="skip the bare mkdocs-material build")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix=f"bench-site-{n}-") as tmp:
            root = Path(tmp) / "repo"
            root.mkdir()
            start = time.perf_counter()
            make_catalog(root, n)
            gen = time.perf_counter() - start
            out = Path(tmp) / "public"
            start = time.perf_counter()
            build_site(root, load_config(root), out, env=os.environ)
            took = time.perf_counter() - start
            size, files = tree_size(out)
            search = sum(gz_size(p) for p in (out / "packages").glob("*.json"))
            bare_t = bare_size = 0.0
            if not args.no_bare:
                bare = Path(tmp) / "bare"
                make_bare(bare, n)
                bare_t = build_bare(bare)
                bare_size = tree_size(bare / "out")[0]
            rows.append((n, gen, took, size, files, search, bare_t, bare_size))
            print(f"... {n} projects: {took:.1f} s", file=sys.stderr, flush=True)
    print()
    print(
        f"{'projects':>9} {'gen s':>7} {'site s':>8} {'output MB':>10} {'files':>8} "
        f"{'search JSON gz KB':>18} {'bare mkdocs s':>14} {'bare MB':>8}"
    )
    for n, gen, took, size, files, search, bare_t, bare_size in rows:
        print(
            f"{n:>9,} {gen:>7.1f} {took:>8.1f} {size / 1e6:>10.1f} {files:>8,} {search / 1e3:>18.0f} "
            f"{bare_t:>14.1f} {bare_size / 1e6:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
