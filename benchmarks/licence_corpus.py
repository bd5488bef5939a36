"""Collect, for the most popular projects, the newest wheel's METADATA and licence files (online).

Used by ``bench_licenses.py``. Reads only what it needs of each wheel with HTTP Range requests (the zip's
central directory, then METADATA and the licence files), so 400 projects cost a few megabytes, not the
gigabytes of their wheels. The upstream is the index uv resolves from (``--index-url`` to choose one);
results are kept under ``--cache`` (default ``~/.cache/curate-bench/licences``) so a re-run is offline.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import urllib3
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from curate.licensefiles import is_licence_path  # noqa: E402
from curate.resolve import default_index  # noqa: E402
from curate.upstream import ACCEPT, parse_json  # noqa: E402

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "curate-bench" / "licences"


def default_index_url() -> str:
    """The index uv resolves from (its ``# from`` annotation): no host is written down here."""
    return default_index(["packaging", "pip"], env=dict(os.environ))


class RangeFile(io.RawIOBase):
    """A remote file read with HTTP Range requests (enough for :class:`zipfile.ZipFile`)."""

    def __init__(self, http: urllib3.PoolManager, url: str, size: int) -> None:
        self.http, self.url, self.size, self.pos = http, url, size, 0
        self.requests = 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self.size - self.pos)
        if want <= 0:
            return 0
        r = self.http.request(
            "GET", self.url, headers={"Range": f"bytes={self.pos}-{self.pos + want - 1}"}, timeout=60.0
        )
        self.requests += 1
        if r.status != 206:
            raise OSError(f"{self.url}: HTTP {r.status} to a Range request")
        data = r.data[:want]
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


@dataclasses.dataclass(frozen=True)
class Sample:
    project: str
    wheel: str
    metadata: str
    licence_files: dict[str, str]  # path in the wheel -> text


def _wheel_rank(filename: str) -> tuple[int, str]:
    """Prefer a pure wheel, then Linux x86_64, then anything."""
    if filename.endswith("-none-any.whl"):
        return (0, filename)
    if "manylinux" in filename and "x86_64" in filename:
        return (1, filename)
    return (2, filename)


def newest_wheel(http: urllib3.PoolManager, index_url: str, project: str) -> tuple[str, str, int] | None:
    r = http.request("GET", f"{index_url.rstrip('/')}/{project}/", headers={"Accept": ACCEPT}, timeout=60.0)
    if r.status != 200:
        return None
    files = parse_json(r.data, f"{index_url.rstrip('/')}/{project}/")
    best: dict[Version, list[tuple[str, str, int]]] = {}
    for f in files:
        if not f.filename.endswith(".whl") or f.yanked is not None:
            continue
        try:
            _, version, _, _ = parse_wheel_filename(f.filename)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        if version.is_prerelease or version.is_devrelease:
            continue
        best.setdefault(version, []).append((f.filename, f.url, f.size))
    if not best:
        return None
    wheels = best[max(best)]
    return min(wheels, key=lambda w: _wheel_rank(w[0]))


MAX_TEXT = 512 * 1024


def read_sample(http: urllib3.PoolManager, project: str, wheel: tuple[str, str, int]) -> Sample:
    filename, url, size = wheel
    raw = RangeFile(http, url, size)
    with zipfile.ZipFile(io.BufferedReader(raw, buffer_size=256 * 1024)) as zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
        meta_name = next(n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        metadata = zf.read(meta_name).decode("utf-8", "replace")
        texts = {}
        for name in names:
            if is_licence_path(name) and zf.getinfo(name).file_size <= MAX_TEXT:
                texts[name] = zf.read(name).decode("utf-8", "replace")
    return Sample(project=project, wheel=filename, metadata=metadata, licence_files=texts)


def collect(projects: list[str], cache: Path, index_url: str | None, workers: int = 8) -> Iterator[Sample]:
    """Every project's sample, from ``cache`` when it is there (the upstream only for the rest)."""
    cache.mkdir(parents=True, exist_ok=True)
    http = urllib3.PoolManager(maxsize=workers, retries=urllib3.Retry(total=4, backoff_factor=0.5))
    if index_url is None and not all((cache / f"{p}.json").exists() for p in projects):
        index_url = default_index_url()

    def one(project: str) -> Sample | None:
        path = cache / f"{project}.json"
        if path.exists():
            doc = json.loads(path.read_text("utf-8"))
            return Sample(**doc) if doc else None
        assert index_url is not None
        wheel = newest_wheel(http, index_url, project)
        sample = read_sample(http, project, wheel) if wheel is not None else None
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(sample) if sample else {}), "utf-8")
        os.replace(tmp, path)
        return sample

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for sample in pool.map(one, projects):
            if sample is not None:
                yield sample
