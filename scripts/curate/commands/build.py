"""Build public/: the package index (simple/, files/, api/) and the documentation site.

The site is built first (mkdocs empties its output directory), then the index is written into the
same tree. Everything is built in a staging directory beside the output and swapped in with a rename:
if anything fails, the previous public/ keeps serving untouched.

Rebuilds are incremental: a project whose catalog file did not change is not rendered again (its
pages and files are hard-linked from the live tree). With --index-only and an existing output, the
index is updated in place instead: only the changed projects' files and the root pages are replaced,
each one atomically by rename, new files before the pages that link to them, removals last.

Mirror mode (files.mode in catalog/config.yaml) copies every vetted file from the cache (curate fetch
fills it) into public/files/, hard-linking when the cache is on the same filesystem; link mode points
at files.base_url or the upstream URL instead. Output bytes are deterministic.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from curate.cache import cache_root
from curate.catalog import PACKAGES_DIR, Project, load_project
from curate.config import load_config
from curate.index import MANIFEST, Blobs, Source, Stats, build_index
from curate.names import normalize
from curate.publish import publishing

INDEX_PARTS = ("simple", "files", "api", MANIFEST)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("public"),
        metavar="DIR",
        help="where to publish (default: public/)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, metavar="DIR", help="the file cache (default: see curate fetch)"
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--index-only", action="store_true", help="build the package index, not the site")
    only.add_argument("--site-only", action="store_true", help="build the site; keep the live index")
    parser.add_argument(
        "--rebuild", action="store_true", help="render every project again instead of reusing unchanged ones"
    )


def run(args: argparse.Namespace, *, root: Path, env: Mapping[str, str]) -> int:
    return build(
        root=root,
        output=args.output if args.output.is_absolute() else root / args.output,
        cache_dir=args.cache_dir,
        env=env,
        index=not args.site_only,
        site=not args.index_only,
        rebuild=args.rebuild,
    )


def catalog_sources(root: Path) -> list[Source]:
    """Every catalog file: stamped by size/mtime/inode, digested (sha256 of its bytes) only when needed."""
    folder = root / PACKAGES_DIR
    if not folder.is_dir():
        return []
    out = []
    with os.scandir(folder) as it:
        for entry in it:
            if not entry.name.endswith(".yaml") or not entry.is_file():
                continue
            st = entry.stat()
            path = Path(entry.path)
            out.append(
                Source(
                    normalized=normalize(path.stem),
                    stamp=f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}",
                    digest=_digester(path),
                    load=_loader(path),
                )
            )
    out.sort(key=lambda s: s.normalized)
    return out


def _digester(path: Path) -> Callable[[], str]:
    return lambda: hashlib.sha256(path.read_bytes()).hexdigest()


def _loader(path: Path) -> Callable[[], Project]:
    return lambda: load_project(path)


def build(
    *,
    root: Path,
    output: Path,
    cache_dir: Path | None,
    env: Mapping[str, str],
    index: bool = True,
    site: bool = True,
    rebuild: bool = False,
) -> int:
    started = time.perf_counter()
    config = load_config(root)
    blobs = Blobs(cache_root(root, config, env, cache_dir))
    live = output if (output / MANIFEST).is_file() else None
    stats: Stats | None = None
    if index and not site and output.is_dir():
        stats = build_index(
            output,
            catalog_sources(root),
            config=config,
            blobs=blobs,
            previous=output,
            in_place=True,
            reuse=not rebuild,
        )
        how = "updated in place"
    else:
        with publishing(output) as staging:
            if site:
                from curate.site import build_site  # mkdocs and the site's templates: only when asked

                build_site(root, config, staging, env=env)
            if index:
                stats = build_index(
                    staging,
                    catalog_sources(root),
                    config=config,
                    blobs=blobs,
                    previous=live,
                    reuse=not rebuild,
                )
            elif output.is_dir():
                _link_tree_parts(output, staging, INDEX_PARTS)
        how = "published"
    elapsed = time.perf_counter() - started
    if stats is not None:
        for item in stats.blocked:
            print(f"warning: {item} is blocked by vetting and left out of the index", file=sys.stderr)
        print(
            f"{how} {output}: {stats.projects} project(s) ({stats.rendered} rendered, {stats.reused} unchanged, "
            f"{stats.removed} removed), {stats.files} file(s) linked, in {elapsed:.2f}s; "
            f"index: {config.simple_url}"
        )
    else:
        print(f"{how} {output}: site only, in {elapsed:.2f}s")
    return 0


def _link_tree_parts(src: Path, dst: Path, parts: tuple[str, ...]) -> None:
    for part in parts:
        s = src / part
        if s.is_dir():
            shutil.copytree(s, dst / part, copy_function=os.link, dirs_exist_ok=True)
        elif s.is_file():
            os.link(s, dst / part)
