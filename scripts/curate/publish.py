"""The publish stage: put the built tree (``public/``) where clients get it.

Targets are chosen under ``publish:`` in ``catalog/config.yaml`` (several at once; ``pages`` when the
key is absent):

``pages``
    GitHub Pages, which is **public**. ``curate publish`` checks the tree (Pages takes at most 1 GB) and
    says so; the Publish workflow's ``upload-pages-artifact`` and ``deploy-pages`` steps deploy it, as one
    atomic switch of the whole site (a failed deployment leaves the previous one serving).
``s3``
    An S3-compatible bucket (:mod:`curate.s3`). Incremental: a manifest of every object's sha256, size,
    ``Content-Type`` and ``Cache-Control`` (``.curate-publish.json.gz`` in the bucket) says what is there,
    and only objects that differ are uploaded, phase after phase so that a client never sees a page that
    links a missing object: the files, then their ``.metadata``, then the project pages (and
    ``api/<project>.json``), then the root pages, then the site. The manifest is written again as uploads
    accumulate (every 30 s, or once they are a quarter of it) and at the end, so a publish that stops part way is resumed by the
    next (what it uploaded is not uploaded again), and what the bucket served before keeps serving:
    the root pages that would link the new objects are uploaded only after all of them. Objects that
    left the tree are deleted only after ``grace_period`` (the manifest remembers since when they are
    gone), and only after every upload succeeded.
``repository``
    A hosted PyPI repository of a repository manager (:mod:`curate.repository`, ``twine upload``). Reads
    what the repository already lists: a file with the same name and sha256 is skipped, the same name
    with other bytes is refused and reported, the rest is uploaded. It never deletes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

from curate.atomic import atomic_write
from curate.config import Config, PublishTargetName, RepositoryTarget, S3Target
from curate.errors import CurateError, UsageError

PAGES_LIMIT = 1_000_000_000  # GitHub Pages: "published sites may be no larger than 1 GB"
MANIFEST_KEY = ".curate-publish.json.gz"
MANIFEST_FORMAT = 1
# bump when content_type() or cache_control() changes what they give a key: a manifest written under
# other rules has every object compared (and re-uploaded) with its headers, not only its bytes
HEADER_RULES = 1
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
CHECKPOINT_EVERY = 250  # uploads before the bucket's manifest is written again (see _checkpoint_due)
CHECKPOINT_SECONDS = 30.0
PHASES = ("files", "metadata", "project pages", "root pages", "site")
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".xml": "application/xml",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".gz": "application/gzip",
}


class PublishError(CurateError):
    """A target could not be published; what was already there keeps serving."""


# -- the tree ---------------------------------------------------------------------------------------


ObjectState = list[Any]  # [sha256, size, content type, cache control], as the bucket's manifest has it
LocalFile = tuple[str, int, str]  # (path, size, sha256) of one file of the tree


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class TreeObject:
    """One object to publish: a file of the tree under its key (``/``-separated, relative to the tree)."""

    key: str
    path: Path
    size: int
    sha256: str
    content_type: str
    cache_control: str
    phase: int  # index into PHASES: the upload order

    @property
    def state(self) -> ObjectState:
        return [self.sha256, self.size, self.content_type, self.cache_control]


def content_type(key: str) -> str:
    """The ``Content-Type`` an object is served with (what ``curate serve`` and nginx send)."""
    if key.startswith("files/"):
        return "application/octet-stream"  # wheels, sdists and .metadata: bytes, never re-encoded
    if key.endswith("/"):
        return _TYPES[".html"]  # a directory object: a copy of its index.html
    if key.startswith("simple/") and key.endswith("/index.json"):
        return JSON_TYPE
    dot = key.rfind(".")
    return (
        _TYPES.get(key[dot:].lower(), "application/octet-stream")
        if dot > key.rfind("/")
        else ("application/octet-stream")
    )


def cache_control(key: str) -> str:
    """Files never change under their name (their sha256 is in the catalog); everything else does."""
    return IMMUTABLE if key.startswith("files/") else REVALIDATE


def phase_of(key: str) -> int:
    if key.startswith("files/"):
        return 1 if key.endswith(".metadata") else 0
    if key in ("simple/", "simple/index.html", "simple/index.json", "api/catalog.json"):
        return 3
    if key.startswith(("simple/", "api/")):
        return 2
    return 4


class HashCache:
    """sha256 of the tree's files by (size, mtime, inode), kept between runs: unchanged files (the build
    hard-links them from the previous tree) are not read again."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = {}
        self.changed = False
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_bytes())
                if isinstance(data, dict):
                    self.entries = data

    def sha256(self, rel: str, path: str, st: os.stat_result) -> str:
        entry = self.entries.get(rel)
        if (
            type(entry) is list
            and len(entry) == 4
            and entry[0] == st.st_size
            and entry[1] == st.st_mtime_ns
            and entry[2] == st.st_ino
        ):
            return str(entry[3])
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        value = digest.hexdigest()
        self.entries[rel] = [*stamp, value]
        self.changed = True
        return value

    def save(self, keep: Iterable[str]) -> None:
        if self.path is None:
            return
        wanted = set(keep)
        if not self.changed and wanted == set(self.entries):
            return
        data = {k: v for k, v in self.entries.items() if k in wanted}
        with contextlib.suppress(OSError):
            atomic_write(self.path, json.dumps(data, separators=(",", ":")))


def scan_tree(tree: Path, hashes: HashCache, *, directory_objects: bool) -> dict[str, LocalFile]:
    """Every file of ``tree`` (hidden ones left out) by its key, plus, with ``directory_objects``, a copy
    of each ``X/index.html`` under the key ``X/`` (a plain S3 endpoint has no index documents).

    Plain tuples, not records: a tree of 10,000 projects has 140,000 of them, and only the few that
    changed become :class:`TreeObject`."""
    out: dict[str, LocalFile] = {}
    stack = [(os.fspath(tree), "")]
    while stack:
        folder, rel = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name
                if name.startswith("."):
                    continue
                key = rel + name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, key + "/"))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue  # symlinks and the like are not published
                st = entry.stat(follow_symlinks=False)
                item = (entry.path, st.st_size, hashes.sha256(key, entry.path, st))
                out[key] = item
                if directory_objects and name == "index.html" and rel:
                    out[rel] = item
    return out


def tree_object(key: str, item: LocalFile) -> TreeObject:
    path, size, sha = item
    return TreeObject(
        key=key,
        path=Path(path),
        size=size,
        sha256=sha,
        content_type=content_type(key),
        cache_control=cache_control(key),
        phase=phase_of(key),
    )


def same(item: LocalFile, key: str, known: ObjectState | None, *, headers: bool = True) -> bool:
    """Whether the bucket's manifest says ``key`` already holds ``item`` as it would be uploaded
    (``headers``: its Content-Type and Cache-Control too; not needed when the manifest was written under
    the same :data:`HEADER_RULES`, as they follow from the key)."""
    return (
        known is not None
        and known[0] == item[2]
        and known[1] == item[1]
        and (not headers or (known[2] == content_type(key) and known[3] == cache_control(key)))
    )


def tree_size(tree: Path) -> tuple[int, int]:
    """(files, bytes) of the tree, hidden files included (a Pages artifact takes them)."""
    files = size = 0
    for folder, _, names in os.walk(tree):
        for name in names:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(folder, name)).st_size
                files += 1
    return files, size


# -- progress and results ---------------------------------------------------------------------------


class Progress(Protocol):
    def phase(self, target: str, name: str, objects: int, nbytes: int) -> None: ...

    def advance(self, key: str, nbytes: int) -> None: ...

    def note(self, text: str) -> None: ...


class NoProgress:
    def phase(self, target: str, name: str, objects: int, nbytes: int) -> None:
        pass

    def advance(self, key: str, nbytes: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class TargetResult:
    """What publishing to one target did (or, in a dry run, would do)."""

    target: PublishTargetName
    where: str
    dry_run: bool
    uploaded: tuple[str, ...] = ()  # keys (s3) or filenames (repository)
    uploaded_bytes: int = 0
    unchanged: int = 0
    deleted: tuple[str, ...] = ()
    pending: tuple[tuple[str, dt.datetime], ...] = ()  # gone from the tree; deleted from this time on
    refused: tuple[str, ...] = ()  # the repository has the filename with other bytes
    skipped: tuple[str, ...] = ()  # not pushed, with the reason
    notes: tuple[str, ...] = ()
    outputs: tuple[tuple[str, str], ...] = ()  # GitHub step outputs (pages=true)
    seconds: float = 0.0


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Published:
    results: tuple[TargetResult, ...]

    @property
    def refused(self) -> int:
        return sum(len(r.refused) for r in self.results)


def publish(
    *,
    root: Path,
    tree: Path,
    config: Config,
    env: Mapping[str, str],
    targets: Sequence[PublishTargetName] = (),
    dry_run: bool = False,
    jobs: int = 16,
    full: bool = False,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> Published:
    """Publish ``tree`` to ``targets`` (default: every target the config names), in the config's order."""
    chosen = list(targets) or list(config.publish.targets)
    if not chosen:
        raise UsageError(
            f"{config.path}: 'publish' names no target; add pages, s3 or repository (see the config reference)"
        )
    missing = [t for t in chosen if t not in config.publish.targets]
    if missing:
        raise UsageError(
            f"{config.path}: publish.{missing[0]} is not configured; the config names: "
            + (", ".join(config.publish.targets) or "nothing")
        )
    if not (tree / "simple" / "index.html").is_file():
        raise UsageError(f"{tree}: no built index here (no simple/index.html); run: curate build")
    from curate.cache import cache_root

    cache = cache_root(root, config, env, cache_dir)
    report = progress or NoProgress()
    when = now or dt.datetime.now(dt.UTC)
    results = []
    with _tree_lock(tree):
        for name in chosen:
            results.append(_publish_one(name, tree, config, env, cache, dry_run, jobs, full, report, when))
    return Published(results=tuple(results))


def _tree_lock(tree: Path) -> contextlib.AbstractContextManager[object]:
    """The tree's build lock, held while publishing it (:func:`curate.staging.build_lock`): a build that
    swapped a new tree in meanwhile would have objects planned from one tree uploaded from the other. A
    build already running stops the publish at once, naming it (and a build started meanwhile stops,
    naming the publish). A tree whose folder cannot hold a lock file (read-only) is published without
    one: no build can replace it either."""
    from curate.staging import build_lock, lock_path

    try:
        with open(lock_path(tree.absolute()), "ab"):
            pass
    except OSError:
        return contextlib.nullcontext()
    return build_lock(tree, "curate publish")


def _publish_one(
    name: PublishTargetName,
    tree: Path,
    config: Config,
    env: Mapping[str, str],
    cache: Path,
    dry_run: bool,
    jobs: int,
    full: bool,
    report: Progress,
    when: dt.datetime,
) -> TargetResult:
    if name == "pages":
        return publish_pages(tree, config, env=env)
    if name == "s3":
        assert config.publish.s3 is not None
        hashes = HashCache(
            cache / "publish" / f"{hashlib.sha256(str(tree.resolve()).encode()).hexdigest()[:16]}.json"
        )
        return publish_s3(
            tree,
            config.publish.s3,
            env=env,
            hashes=hashes,
            dry_run=dry_run,
            jobs=jobs,
            full=full,
            progress=report,
            now=when,
        )
    assert config.publish.repository is not None
    return publish_repository(
        tree, config.publish.repository, env=env, cache=cache, dry_run=dry_run, progress=report
    )


# -- pages ------------------------------------------------------------------------------------------


def publish_pages(tree: Path, config: Config, *, env: Mapping[str, str]) -> TargetResult:
    """Check the tree for GitHub Pages; the workflow's deploy steps do the deployment."""
    started = time.perf_counter()
    files, size = tree_size(tree)
    if size > PAGES_LIMIT:
        raise PublishError(
            f"{tree} is {size / 1e9:.2f} GB; GitHub Pages publishes at most 1 GB\n"
            "    hint: publish to an object store (publish.s3) or a repository manager (publish.repository) "
            "instead, or serve the files from elsewhere (files.mode: link)"
        )
    notes = [
        "GitHub Pages sites are public: anyone on the internet can read the index and the site "
        "(access control needs GitHub Enterprise Cloud)"
    ]
    if config.show_requesters:
        notes.append(
            "site.show_requesters is true: every requester's address is on the public site; "
            "set it to false in catalog/config.yaml"
        )
    where = config.base_url
    return TargetResult(
        target="pages",
        where=where,
        dry_run=False,
        unchanged=files,
        uploaded_bytes=size,
        notes=tuple(notes),
        outputs=(("pages", "true"),),
        seconds=time.perf_counter() - started,
    )


# -- s3 ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True, slots=True)
class BucketManifest:
    """``.curate-publish.json.gz``: what the bucket holds (as the last publish left it) and since when
    objects that left the tree are gone from it."""

    objects: dict[str, ObjectState]
    removed: dict[str, str]  # key -> ISO time it was first found gone
    header_rules: int = HEADER_RULES

    @classmethod
    def parse(cls, data: bytes | None, where: str) -> BucketManifest:
        if data is None:
            return cls(objects={}, removed={})
        header_rules = 0
        try:
            doc = json.loads(gzip.decompress(data))
            if doc.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {MANIFEST_FORMAT}")
            objects = doc["objects"]
            removed = doc.get("removed", {})
            if not isinstance(objects, dict) or not isinstance(removed, dict):
                raise ValueError("objects and removed must be mappings")
            if not all(type(v) is list and len(v) == 4 for v in objects.values()):
                raise ValueError("an object's entry is not [sha256, size, content type, cache control]")
            header_rules = doc.get("header_rules", 0)
        except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise PublishError(
                f"{where}: the publish manifest does not read ({exc})\n"
                "    hint: run curate publish --full to upload everything and write it again"
            ) from exc
        return cls(
            objects=objects, removed={str(k): str(v) for k, v in removed.items()}, header_rules=header_rules
        )

    def dumps(self) -> bytes:
        text = json.dumps(
            {
                "format": MANIFEST_FORMAT,
                "header_rules": HEADER_RULES,
                "objects": dict(sorted(self.objects.items())),
                "removed": dict(sorted(self.removed.items())),
            },
            separators=(",", ":"),
        )
        return gzip.compress(text.encode(), compresslevel=1, mtime=0)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str, default: dt.datetime) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return default


class _Store(Protocol):
    def where(self, key: str = "") -> str: ...

    def get(self, key: str) -> bytes | None: ...

    def put(
        self,
        key: str,
        *,
        path: Path | None = None,
        data: bytes | None = None,
        sha256: str,
        size: int,
        content_type: str,
        cache_control: str,
    ) -> None: ...

    def delete(self, keys: Sequence[str]) -> None: ...


def publish_s3(
    tree: Path,
    target: S3Target,
    *,
    env: Mapping[str, str],
    hashes: HashCache,
    dry_run: bool = False,
    jobs: int = 16,
    full: bool = False,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    store: Callable[[S3Target, Mapping[str, str], int], _Store] | None = None,
) -> TargetResult:
    """Make the bucket hold ``tree``: upload what differs in a safe order, delete what left long ago."""
    started = time.perf_counter()
    report = progress or NoProgress()
    when = now or dt.datetime.now(dt.UTC)
    local = scan_tree(tree, hashes, directory_objects=target.directory_objects)
    hashes.save(k for k in local if not k.endswith("/"))
    if store is None:
        from curate.s3 import Bucket

        bucket: _Store = Bucket(target, env, jobs=jobs)
    else:
        bucket = store(target, env, jobs)
    manifest = BucketManifest.parse(bucket.get(MANIFEST_KEY), bucket.where(MANIFEST_KEY))
    known: dict[str, ObjectState] = {} if full else manifest.objects
    headers = manifest.header_rules != HEADER_RULES
    changed = sorted(
        (
            tree_object(key, item)
            for key, item in local.items()
            if not same(item, key, known.get(key), headers=headers)
        ),
        key=lambda o: (o.phase, o.key),
    )
    removed: dict[str, str] = {}
    due: list[str] = []
    pending: list[tuple[str, dt.datetime]] = []
    for key in sorted(manifest.objects):
        if key in local:
            continue
        since = manifest.removed.get(key, _iso(when))
        removed[key] = since
        delete_at = _parse_iso(since, when) + target.grace_period
        if delete_at <= when:
            due.append(key)
        else:
            pending.append((key, delete_at))
    common = {
        "target": "s3",
        "where": bucket.where(),
        "unchanged": len(local) - len(changed),
        "pending": tuple(pending),
    }
    if dry_run:
        return TargetResult(
            dry_run=True,
            uploaded=tuple(o.key for o in changed),
            uploaded_bytes=sum(o.size for o in changed),
            deleted=tuple(due),
            seconds=time.perf_counter() - started,
            **common,  # type: ignore[arg-type]
        )
    state = BucketManifest(objects=dict(manifest.objects), removed=removed)
    dirty = state.removed != manifest.removed
    uploaded: list[str] = []
    since_write = time.monotonic()
    for phase, name in enumerate(PHASES):
        batch = [o for o in changed if o.phase == phase]
        if not batch:
            continue
        report.phase("s3", name, len(batch), sum(o.size for o in batch))
        unrecorded = _upload_phase(bucket, batch, state, jobs=jobs, progress=report, done=uploaded)
        dirty = True
        if _checkpoint_due(unrecorded, len(state.objects), time.monotonic() - since_write):
            bucket.put(MANIFEST_KEY, **_manifest_object(state))  # a big phase is recorded before the next
            dirty, since_write = False, time.monotonic()
    if due:
        report.note(f"deleting {len(due)} object(s) gone from the tree for longer than the grace period")
        bucket.delete(due)
        for key in due:
            state.objects.pop(key, None)
            state.removed.pop(key, None)
        dirty = True
    if dirty:
        bucket.put(MANIFEST_KEY, **_manifest_object(state))
    return TargetResult(
        dry_run=False,
        uploaded=tuple(uploaded),
        uploaded_bytes=sum(local[k][1] for k in uploaded),
        deleted=tuple(due),
        seconds=time.perf_counter() - started,
        **common,  # type: ignore[arg-type]
    )


def _manifest_object(state: BucketManifest) -> dict[str, Any]:
    data = state.dumps()
    return {
        "data": data,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content_type": "application/gzip",
        "cache_control": "no-store",
    }


def _checkpoint_due(unrecorded: int, objects: int, seconds: float) -> bool:
    """Whether to write the manifest again: after :data:`CHECKPOINT_SECONDS` with uploads to record, or
    once the uploads not yet recorded are a quarter of the manifest (at least :data:`CHECKPOINT_EVERY`):
    a first publish of 140,000 objects writes its growing manifest a few dozen times, not 560."""
    if unrecorded <= 0:
        return False
    return seconds > CHECKPOINT_SECONDS or unrecorded >= max(CHECKPOINT_EVERY, objects // 4)


def _upload_phase(
    bucket: _Store,
    batch: Sequence[TreeObject],
    state: BucketManifest,
    *,
    jobs: int,
    progress: Progress,
    done: list[str],
) -> int:
    """Upload ``batch`` in parallel; record each success in ``state`` and write the manifest every
    :data:`CHECKPOINT_EVERY` uploads or :data:`CHECKPOINT_SECONDS`. On the first failure, stop: what
    finished is recorded (so a re-run resumes after it), and the error is raised. Returns the uploads
    not yet recorded in the bucket's manifest."""

    def put(o: TreeObject) -> TreeObject:
        bucket.put(
            o.key,
            path=o.path,
            sha256=o.sha256,
            size=o.size,
            content_type=o.content_type,
            cache_control=o.cache_control,
        )
        return o

    since_checkpoint, last = 0, time.monotonic()
    failure: BaseException | None = None
    todo = iter(batch)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        running: set[Future[TreeObject]] = set()
        while True:
            while failure is None and len(running) < jobs * 2:
                o = next(todo, None)
                if o is None:
                    break
                running.add(pool.submit(put, o))
            if not running:
                break
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    o = future.result()
                except BaseException as exc:
                    failure = failure or exc
                    continue
                state.objects[o.key] = o.state
                state.removed.pop(o.key, None)
                done.append(o.key)
                since_checkpoint += 1
                progress.advance(o.key, o.size)
            if failure is None and _checkpoint_due(
                since_checkpoint, len(state.objects), time.monotonic() - last
            ):
                bucket.put(MANIFEST_KEY, **_manifest_object(state))
                since_checkpoint, last = 0, time.monotonic()
    if failure is not None:
        if since_checkpoint:
            with contextlib.suppress(Exception):
                bucket.put(MANIFEST_KEY, **_manifest_object(state))
        raise failure
    return since_checkpoint


# -- repository -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Dist:
    """A file the built index serves, to push into a repository."""

    project: str  # normalized
    filename: str
    sha256: str
    size: int
    path: Path
    yanked: bool


def served_dists(tree: Path, cache: Path | None) -> list[Dist]:
    """Every distribution file the built index serves, from its ``api/<project>.json``; the bytes are in
    ``files/`` (mirror mode) or the cache (link mode)."""
    from curate.cache import blob_path

    out = []
    api = tree / "api"
    for path in sorted(api.glob("*.json")):
        if path.name == "catalog.json":
            continue
        try:
            doc = json.loads(path.read_bytes())
            project = str(doc["normalized"])
            files = [f for v in doc["versions"] for f in v["files"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PublishError(f"{path}: not a curate api/ project file ({exc}); run: curate build") from exc
        for f in files:
            filename = str(f["filename"])
            local = tree / "files" / project / filename
            if not local.is_file():
                if cache is None:
                    raise PublishError(f"{filename}: not in {tree / 'files'} and no cache to read it from")
                local = blob_path(cache, str(f["sha256"]))
            out.append(
                Dist(
                    project=project,
                    filename=filename,
                    sha256=str(f["sha256"]),
                    size=int(f["size"]),
                    path=local,
                    yanked=f.get("yanked") is not None,
                )
            )
    return out


def publish_repository(
    tree: Path,
    target: RepositoryTarget,
    *,
    env: Mapping[str, str],
    cache: Path | None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> TargetResult:
    """Push every served file the repository lacks; skip those it has with the same sha256; refuse and
    report those it has with other bytes. Nothing is ever deleted from the repository."""
    from curate import repository

    started = time.perf_counter()
    report = progress or NoProgress()
    dists = served_dists(tree, cache)
    skipped = tuple(
        f"{d.filename}: yanked in the catalog (twine cannot mark a file yanked; not pushed)"
        for d in dists
        if d.yanked
    )
    wanted = [d for d in dists if not d.yanked]
    with repository.Repository(target, env) as repo:
        listed = repo.listed({d.project for d in wanted})
        todo: list[Dist] = []
        refused: list[str] = []
        unchanged = 0
        for d in wanted:
            there = listed.get(d.project, {}).get(d.filename)
            if there is None:
                todo.append(d)
            elif there == d.sha256:
                unchanged += 1
            else:
                refused.append(
                    f"{d.filename}: the repository has this filename with other bytes "
                    f"(sha256 {there}, the catalog's is {d.sha256}); not pushed"
                )
        if not dry_run and todo:
            for d in todo:
                _verify_bytes(d)
            report.phase("repository", "files", len(todo), sum(d.size for d in todo))
            repo.upload(todo, progress=report)
            after = repo.listed({d.project for d in todo})
            lost = [d.filename for d in todo if after.get(d.project, {}).get(d.filename) != d.sha256]
            if lost:
                raise PublishError(
                    f"{target.index_url}: twine uploaded, but the repository does not list "
                    f"{', '.join(lost[:5])}{' ...' if len(lost) > 5 else ''} with the catalog's sha256"
                )
    return TargetResult(
        target="repository",
        where=target.url,
        dry_run=dry_run,
        uploaded=tuple(d.filename for d in todo),
        uploaded_bytes=sum(d.size for d in todo),
        unchanged=unchanged,
        refused=tuple(refused),
        skipped=skipped,
        seconds=time.perf_counter() - started,
    )


def _verify_bytes(d: Dist) -> None:
    """Only vetted bytes leave: the file to push must still be what the catalog says."""
    digest = hashlib.sha256()
    try:
        with d.path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise PublishError(f"{d.filename}: cannot read {d.path}: {exc.strerror or exc}") from exc
    if digest.hexdigest() != d.sha256:
        raise PublishError(
            f"{d.path}: sha256 {digest.hexdigest()} is not the catalog's {d.sha256} for {d.filename}; "
            "run curate fetch and curate build again"
        )
