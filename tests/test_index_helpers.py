"""Shared by the index, serve, nginx and client tests: a catalog from the fixture upstream, built."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from curate.build import build
from curate.cache import blob_path
from tests.catalogs import make_repo, write_catalog
from tests.upstream import Upstream, make_upstream, standard_dists
from tests.wheels import Dist

PICKS: dict[str, list[str]] = {
    "webapp": ["1.0", "2.0"],
    "httpish": ["1.1", "1.2"],
    "certy": ["2024.1"],
    "wincolor": ["0.4"],
    "newpy": ["0.9", "1.0"],
    "fastmath": ["1.5"],
    "linuxonly": ["1.0"],
    "Plus.Ver": ["1.0+local"],
}
EXTRA_DISTS = [
    Dist(name="Plus.Ver", version="1.0+local", summary="A local version label: '+' in the filename")
]


@dataclasses.dataclass(frozen=True)
class Built:
    root: Path
    public: Path
    cache: Path
    upstream: Upstream


def fill_cache(upstream: Upstream, cache: Path) -> None:
    """What ``curate fetch`` does, minus the network: every upstream file at its sha256."""
    for files in upstream.files.values():
        for f in files:
            dst = blob_path(cache, f.sha256)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f.path, dst)


def make_built(
    base: Path,
    *,
    picks: Mapping[str, Sequence[str]] = PICKS,
    extra_config: str = "",
    config_replace: tuple[str, str] | None = None,
    keep_serving: bool = False,
    extra_dists: Sequence[Dist] = (),
) -> Built:
    """A repository with a catalog, a filled cache and ``public/`` built with ``--index-only``."""
    up = make_upstream(base / "upstream", [*standard_dists(), *EXTRA_DISTS, *extra_dists])
    up.start()
    try:
        root = make_repo(base / "repo", index_url=up.index_url, extra_config=extra_config)
        if config_replace is not None:
            path = root / "catalog" / "config.yaml"
            text = path.read_text("utf-8")
            assert config_replace[0] in text
            path.write_text(text.replace(*config_replace), "utf-8")
        write_catalog(root, up, picks, vetted=True)
        cache = base / "cache"
        fill_cache(up, cache)
        public = root / "public"
        build(root=root, output=public, cache_dir=cache, env={}, site=False)
    finally:
        if not keep_serving:
            up.stop()
    return Built(root=root, public=public, cache=cache, upstream=up)
