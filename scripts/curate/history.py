"""The catalog's history: what each merged change did to the catalog, from the git history of
``catalog/`` and ``requests/``. The Changes pages, the Atom feed ``changes.xml``, ``api/changes/`` and
each package page's History section are drawn from it (:mod:`curate.site`).

- **One entry per merged change**: the commits of HEAD's first-parent line that changed ``catalog/`` or
  ``requests/`` (a merge commit of a pull request, or each commit of a squash or rebase merge), newest
  first, each compared with its first parent.
- **What it did**: the requests it added, edited or deleted (their titles and requesters, as the request
  files say at that commit) and, from :func:`curate.diff.compare` on the package files it changed, what
  entered the catalog, what a request newly needs, what was superseded and what left (with the reason);
  the targets of each.
- **Incremental**: an entry depends only on its commit (a commit's id fixes its content and its
  parents), so entries are kept in a cache file keyed by commit id (``history/`` in the file cache); a
  build computes only the commits it has not seen, and walks git only from the HEAD the cache was
  written at. A cold build reads each changed catalog file once per commit, only what the history
  shows (:data:`READ_KEYS`: a version's number, needs, files and superseded date; its vetting, most
  of the text, is never parsed), each key's text parsed once along the commits
  (:class:`curate.catalog.VersionMemo`), a few hundred commits at a time (:data:`BATCH`), in one
  process (a process per core read more in all, each starting with nothing read, and was no faster
  beside a build); a request file's title and requester are read line by
  line when it is in the layout requests are written in (the full parser reads any other); why a
  version left is looked up among the requests whose ``remove:`` names its project (kept up to date
  along the commits), not every request.
- **Honest about gaps**: no repository, no commit, or git failing gives a history with no entries and
  the reason; a shallow clone's history stops at the commits whose parents were not fetched (they are
  shown as where the history starts, with what is missing and how to fetch it); a catalog file that does
  not read at some commit (an older format, a hand edit) is named on that entry and its changes left
  out; when the newest change the previous build published is no longer in the history (it was
  rewritten, or another branch is checked out), the history says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args

from curate import git, parallel
from curate.atomic import atomic_write
from curate.catalog import NO_VALUE, LayoutLine, Project, VersionMemo, layout_tree
from curate.config import Retention, parse_config
from curate.diff import STATUSES, Change, Status, compare
from curate.errors import CurateError
from curate.names import NormalizedName
from curate.requests import Request, parse_request
from curate.yamlio import _IMPLICIT, REQUEST_LIMIT, loads

FORMAT = 2  # bump whenever what an entry records for the same commit changes (2: vetting not read)
PATHS = ("catalog", "requests")  # whose history
PACKAGES = "catalog/packages"
REQUESTS = "requests"
CONFIG_FILE = "catalog/config.yaml"
PER_PAGE = 50  # entries per Changes page and per api/changes/<page>.json
FEED_ENTRIES = 50  # the newest entries in changes.xml
BATCH = 500  # commits per git round on a cold build: bounds the memory the blobs take
CACHE_DIR = "history"  # under the file cache
# what a version's entry in the history is made of (curate.diff.compare, less what PackageChange drops):
# its vetting, dependencies and build records are not read
READ_KEYS = ("version", "superseded_since", "needed_by", "files")

RequestAction = Literal["added", "edited", "deleted"]
REQUEST_ACTIONS: tuple[RequestAction, ...] = get_args(RequestAction)
State = Literal["complete", "shallow", "none"]
STATES: tuple[State, ...] = get_args(State)


# -- the records ----------------------------------------------------------------------------------------


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(map(str, value)) if value else ()


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RequestChange:
    """A request file a change added, edited or deleted, as that file read at the change."""

    id: str  # the file's stem
    path: str  # requests/<id>.yaml
    action: RequestAction
    title: str  # "" when the file did not say (or did not read)
    requested_by: str

    def to_dict(self, *, requester: bool = True) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "action": self.action,
            "title": self.title,
            "requested_by": self.requested_by if requester else "",
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RequestChange:
        action = str(d["action"])
        if action not in REQUEST_ACTIONS:
            raise ValueError(f"unknown request action {action!r}")
        return cls(
            id=str(d["id"]),
            path=str(d["path"]),
            action=action,
            title=str(d.get("title") or ""),
            requested_by=str(d.get("requested_by") or ""),
        )


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class PackageChange:
    """One version a change added, newly needed, superseded or removed (a :class:`curate.diff.Change`,
    less what the history does not show: new files, findings, sdist builds)."""

    name: str
    normalized: NormalizedName
    version: str
    status: Status
    targets: tuple[str, ...]
    os: tuple[str, ...]
    python: tuple[str, ...]
    requests: tuple[str, ...]  # added/present: the requests that newly need it; else those that did
    direct: bool
    via: tuple[str, ...]
    reason: str  # superseded: what its requests moved to; removed: why it left

    @classmethod
    def of(cls, c: Change) -> PackageChange:
        gone = c.status in ("superseded", "removed")
        return cls(
            name=c.name,
            normalized=c.normalized,
            version=c.version,
            status=c.status,
            targets=c.targets,
            os=c.oses,
            python=c.pythons,
            requests=c.requests if gone else (c.new_requests or c.requests),
            direct=c.direct,
            via=c.via,
            reason=c.reason,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "normalized": self.normalized,
            "version": self.version,
            "status": self.status,
            "targets": list(self.targets),
            "os": list(self.os),
            "python": list(self.python),
            "requests": list(self.requests),
            "direct": self.direct,
            "via": list(self.via),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PackageChange:
        status = str(d["status"])
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return cls(
            name=str(d["name"]),
            normalized=NormalizedName(str(d["normalized"])),
            version=str(d["version"]),
            status=status,
            targets=_strs(d.get("targets")),
            os=_strs(d.get("os")),
            python=_strs(d.get("python")),
            requests=_strs(d.get("requests")),
            direct=bool(d.get("direct")),
            via=_strs(d.get("via")),
            reason=str(d.get("reason") or ""),
        )


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Entry:
    """One merged change and what it did to the catalog."""

    sha: str
    parent: str  # the first parent it is compared with; "" for the first commit
    date: str  # committer date, ISO 8601 with its offset
    subject: str
    requests: tuple[RequestChange, ...] = ()
    changes: tuple[PackageChange, ...] = ()
    files: int = 0  # catalog/ and requests/ files it changed
    notes: tuple[str, ...] = ()  # what could not be told about it, and why
    boundary: bool = False  # a shallow clone's history starts here: what it changed is unknown

    @property
    def day(self) -> str:
        return self.date[:10]

    def of(self, status: Status) -> list[PackageChange]:
        return [c for c in self.changes if c.status == status]

    def counts(self) -> dict[str, int]:
        return {s: len(self.of(s)) for s in STATUSES}

    def to_dict(self, *, requesters: bool = True) -> dict[str, Any]:
        """``requesters``: whether to give who asked for each request (``site.show_requesters``)."""
        return {
            "commit": self.sha,
            "parent": self.parent,
            "date": self.date,
            "subject": self.subject,
            "boundary": self.boundary,
            "files": self.files,
            "notes": list(self.notes),
            "requests": [r.to_dict(requester=requesters) for r in self.requests],
            "summary": self.counts(),
            "changes": [c.to_dict() for c in self.changes],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Entry:
        return cls(
            sha=str(d["commit"]),
            parent=str(d.get("parent") or ""),
            date=str(d["date"]),
            subject=str(d.get("subject") or ""),
            boundary=bool(d.get("boundary")),
            files=int(d.get("files") or 0),
            notes=_strs(d.get("notes")),
            requests=tuple(RequestChange.from_dict(r) for r in d.get("requests") or ()),
            changes=tuple(PackageChange.from_dict(c) for c in d.get("changes") or ()),
        )


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class History:
    """The catalog's history as far as this clone can tell, newest first, and what it cannot tell."""

    entries: tuple[Entry, ...]
    state: State  # complete; shallow (it stops where the clone stops); none (no history at all)
    notes: tuple[str, ...] = ()  # for the reader: why there is no history, where it stops, a rewrite
    computed: int = 0  # entries computed by this build
    reused: int = 0  # entries read from the cache
    fingerprint: str = ""  # what an entry depends on besides its commit (:func:`fingerprint`); "": unknown

    @property
    def head(self) -> str:
        """The newest change's commit ("" when there is none)."""
        return self.entries[0].sha if self.entries else ""

    @property
    def pages(self) -> int:
        """How many archive pages: numbered from the oldest, so an entry's page never changes."""
        return -(-len(self.entries) // PER_PAGE)

    def page_of(self, index: int) -> int:
        """The archive page of ``entries[index]`` (newest first)."""
        return (len(self.entries) - 1 - index) // PER_PAGE + 1

    def page(self, number: int) -> tuple[Entry, ...]:
        """Archive page ``number`` (1 = the oldest changes), newest first."""
        n = len(self.entries)
        start = max(0, n - number * PER_PAGE)
        return self.entries[start : n - (number - 1) * PER_PAGE]

    def latest(self, count: int | None = None) -> tuple[Entry, ...]:
        """The newest ``count`` entries (default: a page's worth)."""
        return self.entries[: count or PER_PAGE]

    def pages_of(self) -> dict[str, int]:
        """The archive page of every entry, by commit."""
        return {e.sha: self.page_of(i) for i, e in enumerate(self.entries)}

    def by_package(self) -> dict[NormalizedName, list[tuple[Entry, PackageChange]]]:
        """Each project's changes, newest first (projects no longer in the catalog too)."""
        out: dict[NormalizedName, list[tuple[Entry, PackageChange]]] = {}
        for entry in self.entries:
            for change in entry.changes:
                out.setdefault(change.normalized, []).append((entry, change))
        return out


def no_history(reason: str) -> History:
    return History(entries=(), state="none", notes=(reason,))


# -- JSON (api/changes/) ------------------------------------------------------------------------------


def index_json(history: History, *, requesters: bool) -> dict[str, Any]:
    """``api/changes/index.json``: the state, what is missing, and the newest page of changes;
    ``requesters``: whether to name who asked for each request (``site.show_requesters``)."""
    pages = history.pages_of()
    return {
        "version": 1,
        "state": history.state,
        "notes": list(history.notes),
        "head": history.head,
        "total": len(history.entries),
        "per_page": PER_PAGE,
        "pages": history.pages,
        "changes": [{**e.to_dict(requesters=requesters), "page": pages[e.sha]} for e in history.latest()],
    }


def page_json(history: History, number: int, *, requesters: bool) -> dict[str, Any]:
    """``api/changes/<number>.json``: one archive page (1 = the oldest), newest first."""
    return {
        "version": 1,
        "page": number,
        "pages": history.pages,
        "changes": [{**e.to_dict(requesters=requesters), "page": number} for e in history.page(number)],
    }


def package_json(
    name: str,
    normalized: str,
    items: Sequence[tuple[Entry, PackageChange]],
    pages: Mapping[str, int],
    *,
    requesters: bool,
) -> dict[str, Any]:
    """``api/changes/packages/<normalized>.json``: one project's changes, newest first."""
    return {
        "version": 1,
        "name": name,
        "normalized": normalized,
        "changes": [
            {
                "commit": e.sha,
                "date": e.date,
                "page": pages[e.sha],
                "requests": [r.to_dict(requester=requesters) for r in e.requests],
                **c.to_dict(),
            }
            for e, c in items
        ],
    }


def previous_head(published: Path | None) -> str:
    """The newest change a previous build published (its ``api/changes/index.json``); "" when none."""
    if published is None:
        return ""
    try:
        data = json.loads((published / "api" / "changes" / "index.json").read_bytes())
    except (OSError, ValueError):
        return ""
    head = data.get("head") if isinstance(data, dict) else None
    return head if isinstance(head, str) else ""


# -- computed beside the build ------------------------------------------------------------------------


class Background:
    """The history computed by a forked process while the build reads the catalog and renders the site
    (it depends only on git, the config and the cache, not on anything the build reads): started before
    the catalog is read, joined where the history is first needed (:meth:`result`). The process reads
    the commits by itself (:func:`curate.parallel.limit`: the build has the other cores), writes the
    cache and sends the history back, with what ``prepare`` made of it until the build waited (the
    pages that show it: ``curate.site.prepare_history``). It runs at a lower priority (``nice`` 10, its
    git too): the build's own work is what the history waits for at the end, so it goes first, and the
    history takes the idle core; once the build waits for it, it is given the build's priority again
    (where the system lets a process raise another's).

    Where forking is not safe or does not pay off (one core, another thread running, no ``fork``),
    nothing runs beside: :meth:`result` computes the history here, then. Either way the history is the
    same (an entry depends only on its commit).

    Failures are the build's, as when the history is computed in the build's process: git missing or
    failing, a shallow clone or a rewritten history are not failures (:func:`collect` says so in the
    history); what :func:`collect` raises otherwise is raised by :meth:`result`, and the process ending
    without an answer (killed, out of memory) raises a BuildError that says so: the build fails and
    nothing is published. :meth:`stop` ends the process when the build fails elsewhere (or no longer
    needs the history)."""

    def __init__(
        self,
        compute: Callable[[], History],
        process: Any = None,
        receive: Any = None,
        waiting: Any = None,
    ) -> None:
        self._compute = compute
        self._process = process
        self._receive = receive
        self._waiting = waiting  # set when the build waits: the process sends what it has
        self._result: History | None = None
        self._by_package: dict[NormalizedName, list[tuple[Entry, PackageChange]]] | None = None
        self._pages_of: dict[str, int] | None = None
        self._prepared: Any = None

    @classmethod
    def start(
        cls,
        root: Path,
        *,
        env: Mapping[str, str],
        os_of_platform: Mapping[str, str],
        cache_dir: Path | None,
        published_head: str = "",
        prepare: Prepare | None = None,
    ) -> Background:
        """Start computing :func:`collect`'s history of ``root`` (same arguments) beside this process;
        then ``prepare`` (what shows it: :data:`Prepare`), whose result :meth:`prepared` gives."""
        import functools
        import gc
        import multiprocessing

        compute = functools.partial(
            collect,
            root,
            env=dict(env),
            os_of_platform=dict(os_of_platform),
            cache_dir=cache_dir,
            published_head=published_head,
        )
        if not _may_fork():  # computed here, when needed
            return cls(compute)
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        waiting = context.Event()
        # a daemon: ended with this process whatever happens (it may not start workers of its own)
        process = context.Process(
            target=_beside, args=(send, compute, prepare, waiting), name="curate-history", daemon=True
        )
        # what this process holds already is left out of the child's garbage collections: they would
        # walk it, and copy every page they touch (a caller that built before, like the benchmark)
        gc.freeze()
        try:
            process.start()
        finally:
            gc.unfreeze()
        send.close()
        return cls(compute, process, receive, waiting)

    @classmethod
    def ready(
        cls,
        history: History,
        by_package: dict[NormalizedName, list[tuple[Entry, PackageChange]]] | None = None,
        pages_of: dict[str, int] | None = None,
    ) -> Background:
        """A history already at hand (with its maps, when made already)."""
        done = cls(lambda: history)
        done._result, done._by_package, done._pages_of = history, by_package, pages_of
        return done

    @property
    def beside(self) -> bool:
        """Whether a process computes it (or did)."""
        return self._process is not None

    def result(self) -> History:
        """The history: waited for (the first time), or computed here when nothing runs beside."""
        if self._result is not None:
            return self._result
        if self._process is None:
            self._result = self._compute()
            return self._result
        from curate.errors import BuildError

        if self._waiting is not None:
            self._waiting.set()  # what it has not prepared yet is made here
        with contextlib.suppress(OSError):  # the build waits for it now: it goes as fast as the build
            os.setpriority(os.PRIO_PROCESS, self._process.pid, os.getpriority(os.PRIO_PROCESS, 0))
        answer = parallel.answer_of(self._process, self._receive)
        if not (isinstance(answer, tuple) and len(answer) == 4 and isinstance(answer[0], History)):
            raise BuildError(
                "the process reading the catalog's history stopped without finishing "
                f"(exit code {self._process.exitcode}): {answer or 'no report'}"
            )
        self._result, self._by_package, self._pages_of, self._prepared = answer
        return self._result

    def prepared(self) -> Any:
        """What ``prepare`` made beside (None when it did not run there): after :meth:`result`."""
        self.result()
        return self._prepared

    def by_package(self) -> dict[NormalizedName, list[tuple[Entry, PackageChange]]]:
        """:meth:`History.by_package` of the history (made beside, with it, when it was computed there)."""
        if self._by_package is None:
            self._by_package = self.result().by_package()
        return self._by_package

    def pages_of(self) -> dict[str, int]:
        """:meth:`History.pages_of` of the history (made beside, with it, when it was computed there)."""
        if self._pages_of is None:
            self._pages_of = self.result().pages_of()
        return self._pages_of

    def stop(self) -> None:
        """End the process if it still runs (the build failed, or is done without the history)."""
        if self._process is None or self._result is not None or self._receive.closed:
            return
        self._process.terminate()
        self._process.join()
        self._receive.close()


def _may_fork() -> bool:
    """Whether a process beside this one pays off and is safe: two cores or more, no other thread
    running (forking a threaded process can deadlock), ``fork`` available."""
    return parallel.workers(2, 2) >= 2


# What shows the history, made beside the build once the history is computed (``curate.site``'s
# prepare_history): given the history (:meth:`Background.ready`, with its maps) and whether the build
# waits for it already (then it stops, and sends what it has); what it returns is sent to the build.
Prepare = Callable[["Background", Callable[[], bool]], Any]


def _beside(send: Any, compute: Callable[[], History], prepare: Prepare | None, waiting: Any) -> None:
    """The forked process: the history (with the maps the site draws from it, and what ``prepare``
    made), or what computing it raised, sent to the build."""
    parallel.limit(1)  # the build keeps the other core(s) busy; a daemon process has no workers either
    with contextlib.suppress(
        OSError
    ):  # the build's own work first: this one (and its git) takes what is left
        os.nice(10)

    def work() -> tuple[
        History, dict[NormalizedName, list[tuple[Entry, PackageChange]]], dict[str, int], Any
    ]:
        history = compute()
        by_package, pages_of = history.by_package(), history.pages_of()
        made = None
        if prepare is not None:
            try:
                made = prepare(Background.ready(history, by_package, pages_of), waiting.is_set)
            except Exception:  # only ever ahead of the build: it makes what was not made here
                made = None
        return history, by_package, pages_of, made

    parallel.send_answer(send, work)


# -- the cache ----------------------------------------------------------------------------------------


def fingerprint(os_of_platform: Mapping[str, str], where: str = "") -> str:
    """What, besides its commit, an entry depends on: this format, the OS of each platform name, and
    where the catalog is in its repository."""
    text = json.dumps([FORMAT, sorted(os_of_platform.items()), where])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_file(cache_dir: Path, fp: str) -> Path:
    """The entries, one JSON record a line, appended to (a build after one more merged change writes
    one line, not the whole file)."""
    return cache_dir / CACHE_DIR / f"entries-{fp}.jsonl"


def line_file(entries: Path) -> Path:
    """The HEAD the cache was written at and the history's commits then (rewritten each time)."""
    return entries.with_name(entries.name.replace("entries-", "line-", 1).replace(".jsonl", ".json"))


@dataclasses.dataclass(frozen=True, slots=True)
class _Cache:
    entries: dict[str, dict[str, Any]]  # commit -> its entry
    tip: str = ""  # HEAD when it was written
    line: tuple[str, ...] = ()  # the commits of the history then, newest first
    stored: int = 0  # the records in the file (a commit's entry appended again counts twice)
    clean: bool = False  # the file read whole: new records can be appended to it


_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
GARBAGE = 2  # the file is written whole again when it holds this many times the records in use


def _records(raw: bytes) -> tuple[list[Any], bool]:
    """The JSON records of an entries file, and whether every line read (a torn last line, from a build
    killed while appending, is left out)."""
    lines = raw.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    with contextlib.suppress(ValueError):
        return json.loads(b"[" + b",".join(lines) + b"]"), raw.endswith(b"\n") or not raw
    records = []
    for line in lines:
        with contextlib.suppress(ValueError):
            records.append(json.loads(line))
    return records, False


def _read_cache(path: Path | None) -> _Cache:
    if path is None:
        return _Cache({})
    try:
        records, clean = _records(path.read_bytes())
    except OSError:
        return _Cache({})
    entries = {r["commit"]: r for r in records if isinstance(r, dict) and isinstance(r.get("commit"), str)}
    clean = clean and len(entries) == len(records)
    cache = _Cache(entries, stored=len(records), clean=clean)
    try:
        data = json.loads(line_file(path).read_bytes())
    except (OSError, ValueError):
        return cache
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return cache
    tip, line = data.get("tip"), data.get("line")
    if (
        isinstance(tip, str)
        and _SHA.fullmatch(tip)
        and isinstance(line, list)
        and all(isinstance(sha, str) and sha in cache.entries for sha in line)
    ):
        return dataclasses.replace(cache, tip=tip, line=tuple(line))
    return cache


def _write_cache(
    path: Path,
    cache: _Cache,
    entries: Mapping[str, dict[str, Any]],
    new: Sequence[dict[str, Any]],
    tip: str,
    line: Sequence[str],
) -> None:
    """Best effort: a cache that cannot be written only makes the next build compute again. ``new``
    (the records of ``entries`` the file does not hold) is appended to a file that read whole and holds
    little besides ``entries`` (the entries of commits a rewrite left); else the file is written whole."""

    def lines(records: Iterable[dict[str, Any]]) -> bytes:
        return b"".join(
            json.dumps(r, separators=(",", ":"), sort_keys=True).encode() + b"\n" for r in records
        )

    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        if cache.clean and cache.stored + len(new) <= GARBAGE * len(entries) + 100:
            if new:
                with path.open("ab") as f:
                    f.write(lines(new))
        else:
            atomic_write(path, lines(entries.values()))
            path.with_suffix(".json").unlink(missing_ok=True)  # the file of an older curate
        data = json.dumps({"format": FORMAT, "tip": tip, "line": list(line)}, separators=(",", ":"))
        atomic_write(line_file(path), data.encode())


def _log(
    root: Path, env: Mapping[str, str], cache: _Cache, shallow: frozenset[str]
) -> tuple[str, list[git.Commit]]:
    """(HEAD, the commits of its first-parent line that changed the catalog, newest first): the line
    the cache holds and the commits since its tip when HEAD went on from there (a build after a merge
    walks only what the merge brought), else the whole line again."""
    tip = git.head_commit(root, env=env)
    if cache.tip and tip and not shallow:
        newer = git.first_parent_log_since(root, cache.tip, PATHS, env=env)
        if newer is not None:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                older = [_commit_of(cache.entries[sha]) for sha in cache.line]
                return tip, newer + older
    return tip, git.first_parent_log(root, PATHS, env=env)


def _commit_of(record: Mapping[str, Any]) -> git.Commit:
    return git.Commit(
        sha=str(record["commit"]),
        parent=str(record.get("parent") or ""),
        date=str(record["date"]),
        subject=str(record.get("subject") or ""),
    )


# -- reading the history ------------------------------------------------------------------------------


def _in(folder: str, path: str) -> bool:
    """Whether ``path`` (as git gives it: no ``.`` or empty parts) is a ``.yaml`` file right in ``folder``."""
    name = path[len(folder) + 1 :]
    return (
        path.startswith(folder)
        and path[len(folder) : len(folder) + 1] == "/"
        and "/" not in name
        and (len(name) > len(".yaml") and name.endswith(".yaml"))
    )


def _stem(path: str) -> str:
    """The file name of a path :func:`_in` took, less ``.yaml``."""
    return path.rpartition("/")[2][: -len(".yaml")]


def _is_package(path: str) -> bool:
    return _in(PACKAGES, path)


def _is_request(path: str) -> bool:
    return _in(REQUESTS, path)


def collect(
    root: Path,
    *,
    env: Mapping[str, str],
    os_of_platform: Mapping[str, str],
    cache_dir: Path | None,
    published_head: str = "",
) -> History:
    """The history of ``root``'s catalog (see the module). ``cache_dir``: the file cache (None: no
    cache); ``published_head``: the newest change the previous build published, to tell a rewrite."""
    try:
        shallow = git.shallow_boundary(root, env=env)
        fp = fingerprint(os_of_platform, git.prefix(root, env=env))
        path = cache_file(cache_dir, fp) if cache_dir is not None else None
        cached = _read_cache(path)
        tip, commits = _log(root, env, cached, shallow)
    except git.GitError as exc:
        return no_history(f"the catalog's git history is not available ({exc})")
    if not commits:
        return no_history("no commit has changed catalog/ or requests/ yet")
    try:
        entries: dict[str, Entry] = {}
        todo: list[git.Commit] = []
        keep: dict[str, dict[str, Any]] = {}  # the cache's records read back (what a rewrite left goes)
        for c in commits:
            if c.sha in shallow and not c.parent:
                entries[c.sha] = Entry(
                    sha=c.sha, parent="", date=c.date, subject=_text(c.subject), boundary=True
                )
                continue
            record = cached.entries.get(c.sha)
            if record is not None:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    entries[c.sha] = Entry.from_dict(record)
                    keep[c.sha] = record
                    continue
            todo.append(c)
        reused = len(keep)
        entries.update((e.sha, e) for e in _Compute(root, env, os_of_platform)(todo[::-1]))
        if (todo or tip != cached.tip) and path is not None:
            new = [e.to_dict() for e in entries.values() if e.sha not in keep and not e.boundary]
            keep.update((r["commit"], r) for r in new)
            line = [c.sha for c in commits] if not shallow else []
            _write_cache(path, cached, keep, new, tip if not shallow else "", line)
    except git.GitError as exc:
        return no_history(f"the catalog's git history could not be read ({exc})")
    ordered = tuple(entries[c.sha] for c in commits if c.sha in entries)
    notes: list[str] = []
    state: State = "complete"
    start = [e for e in ordered if e.boundary]
    if shallow:
        state = "shallow"
        since = f" before {start[-1].day}" if start else ""
        notes.append(
            f"This is a shallow clone: the catalog's history{since} was not fetched, so it is not shown "
            "(fetch it with: git fetch --unshallow; in GitHub Actions, actions/checkout with fetch-depth: 0)."
        )
    rewritten = published_head and published_head != ordered[0].sha
    if rewritten and not git.is_ancestor(root, published_head, ordered[0].sha, env=env):
        notes.append(
            f"The newest change the previous build published ({published_head[:12]}) is not in this "
            "history: the history was rewritten (or another branch is checked out). The changes are "
            "shown as the history is now; entries published before may have gone or come back with "
            "other commit ids."
        )
    return History(
        entries=ordered,
        state=state,
        notes=tuple(notes),
        computed=len(todo),
        reused=reused,
        fingerprint=fp,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Compute:
    """The entries of a run of commits, oldest first (an entry depends only on its commit, so runs are
    independent: a read can start anywhere in the history)."""

    root: Path
    env: Mapping[str, str]
    os_of_platform: Mapping[str, str]

    def __call__(self, commits: Sequence[git.Commit]) -> list[Entry]:
        reader = _Reader(self.root, self.env, self.os_of_platform)
        out: list[Entry] = []
        for i in range(0, len(commits), BATCH):
            out += reader.entries(commits[i : i + BATCH])
        return out


class _Reader:
    """Computes entries for commits, oldest first, a batch at a time: one ``git cat-file`` per batch for
    the files the commits changed (as :func:`curate.git.first_parent_log` read them; ``git diff-tree``
    for commits known from the cache only); each catalog file's latest parse is kept, since the blob a
    commit leaves is the one the next commit that changes the file starts from."""

    def __init__(self, root: Path, env: Mapping[str, str], os_of_platform: Mapping[str, str]) -> None:
        self.root = root
        self.env = env
        self.os_of_platform = dict(os_of_platform)
        self._latest: dict[str, tuple[str, Project | None, str]] = {}  # path -> (blob, project, problem)
        self._memos: dict[str, VersionMemo] = {}  # path -> its versions as read last (what the history needs)
        # the request files and the config as committed at self._state_at (kept up to date from each
        # commit's changes while the commits follow one another): why a version left
        self._state_at = ""
        self._files: dict[str, str] = {}  # path -> blob
        self._removers: set[str] = set()  # the request files among them that may have a remove: list
        self._raw: dict[str, bytes | None] = {}  # blob -> bytes, of such files
        self._requests: dict[str, Request | None] = {}  # blob -> the request with a remove: list
        # which of those files' remove: lists name each project, kept up to date with them: a change
        # where a version left looks up the requests naming it, not every request ever made
        self._naming: dict[NormalizedName, set[str]] = {}  # project -> paths
        self._indexed: dict[str, str] = {}  # path -> the blob _naming holds it as
        self._dirty: set[str] = set()  # paths whose blob may have changed since _naming was updated
        self._retention: dict[str, Retention | None] = {}  # config blob -> its retention rule
        self._said: dict[str, tuple[str, str]] = {}  # request blob -> its title and requester

    def entries(self, commits: Sequence[git.Commit]) -> list[Entry]:
        unread = [(c.sha, c.parent) for c in commits if c.files is None]  # those read from the cache
        changed = git.changed_files_of(self.root, unread, PATHS, env=self.env) if unread else {}
        changed.update((c.sha, list(c.files)) for c in commits if c.files is not None)
        # the blobs the entries read: a catalog file's blob before a commit is the one the previous
        # commit that changed it left, read then (:meth:`_project`); a request's, its title when deleted
        known = {path: latest[0] for path, latest in self._latest.items()}
        wanted: list[str] = []
        for c in commits:
            for f in changed.get(c.sha, ()):
                if _is_package(f.path):
                    if f.old and known.get(f.path) != f.old:
                        wanted.append(f.old)
                    if f.new:
                        wanted.append(f.new)
                    known[f.path] = f.new or f.old
                elif (_is_request(f.path) or f.path == CONFIG_FILE) and (f.new or f.old):
                    wanted.append(f.new or f.old)
        blobs = git.blobs(self.root, wanted, env=self.env)
        return [self._entry(c, changed.get(c.sha, []), blobs) for c in commits]

    def _blob(self, blob: str, blobs: Mapping[str, bytes | None]) -> bytes | None:
        """A blob of the batch, else read on its own (None: not in this clone)."""
        if blob in blobs:
            return blobs[blob]
        return git.blobs(self.root, [blob], env=self.env).get(blob)

    def _project(self, path: str, blob: str, blobs: Mapping[str, bytes | None]) -> tuple[Project | None, str]:
        latest = self._latest.get(path)
        if latest is not None and latest[0] == blob:
            return latest[1], latest[2]
        raw = self._blob(blob, blobs)
        project: Project | None = None
        problem = ""
        if raw is None:
            problem = f"{path}: not in this clone (blob {blob[:12]})"
        else:
            try:
                project = self._memos.setdefault(path, VersionMemo(READ_KEYS)).read(raw, path)
            except CurateError as exc:
                problem = f"{path} does not read as a catalog file here: {_first_line(str(exc))}"
            if project is not None and project.normalized != _stem(path):
                problem = f"{path} holds {project.name!r}, not the project it is named after"
                project = None
        self._latest[path] = (blob, project, problem)
        return project, problem

    def _track(
        self, commit: git.Commit, files: Sequence[git.Changed], blobs: Mapping[str, bytes | None]
    ) -> None:
        """Move the request files and config kept to ``commit`` when they were at its parent."""
        tracked = [f for f in files if _is_request(f.path) or f.path == CONFIG_FILE]
        self._raw.update((f.new, blobs.get(f.new)) for f in tracked if f.new)
        if commit.parent and self._state_at != commit.parent:
            self._state_at = ""  # not known: listed when needed
            return
        if not commit.parent:
            self._files, self._removers = {}, set()
            self._forget()
        for f in tracked:
            self._dirty.add(f.path)
            if f.new:
                self._files[f.path] = f.new
            else:
                self._files.pop(f.path, None)
            if f.new and f.path != CONFIG_FILE and _may_remove(self._raw.get(f.new)):
                self._removers.add(f.path)
            else:
                self._removers.discard(f.path)
        self._state_at = commit.sha

    def _entry(
        self, commit: git.Commit, files: Sequence[git.Changed], blobs: Mapping[str, bytes | None]
    ) -> Entry:
        self._track(commit, files, blobs)
        notes: list[str] = []
        base: dict[NormalizedName, Project] = {}
        head: dict[NormalizedName, Project] = {}
        for f in files:
            if not _is_package(f.path):
                continue
            old, old_problem = self._project(f.path, f.old, blobs) if f.old else (None, "")
            new, new_problem = self._project(f.path, f.new, blobs) if f.new else (None, "")
            if old_problem or new_problem:
                notes.append(f"{old_problem or new_problem}; what it changed is not shown")
                continue
            if old is not None:
                base[old.normalized] = old
            if new is not None:
                head[new.normalized] = new
        changes: tuple[PackageChange, ...] = ()
        try:
            left = {
                n
                for n, p in base.items()
                for v in p.versions
                if n not in head or v.version not in {x.version for x in head[n].versions}
            }
            requests, retention = self._leave_context(commit.sha, left) if left else ([], None)
            report = compare(
                base,
                head,
                base_ref=commit.parent,
                os_of_platform=self.os_of_platform,
                requests=requests,
                retention=retention,
            )
            changes = tuple(PackageChange.of(c) for c in report.changes)
        except (ValueError, TypeError, KeyError) as exc:  # a version that is not PEP 440, and the like
            notes.append(f"the catalog files of this change could not be compared: {_first_line(str(exc))}")
        return Entry(
            sha=commit.sha,
            parent=commit.parent,
            date=commit.date,
            subject=_text(commit.subject),
            requests=tuple(self._request(f, blobs) for f in files if _is_request(f.path)),
            changes=changes,
            files=len(files),
            notes=tuple(notes),
        )

    def _request(self, f: git.Changed, blobs: Mapping[str, bytes | None]) -> RequestChange:
        action: RequestAction = "added" if not f.old else "deleted" if not f.new else "edited"
        blob = f.new or f.old
        said = self._said.get(blob)
        if said is None:
            said = self._said[blob] = _title_and_requester(self._blob(blob, blobs), f.path)
        return RequestChange(
            id=_stem(f.path),
            path=f.path,
            action=action,
            title=said[0],
            requested_by=said[1],
        )

    def _leave_context(self, sha: str, left: set[NormalizedName]) -> tuple[list[Request], Retention | None]:
        """The requests with a ``remove:`` list naming a project in ``left`` and the retention rule, as
        committed at ``sha``: what :func:`curate.diff.leave_reason` needs to say why a version left.
        Each file is read once; the files are listed from git only when the commits did not follow one
        another (:meth:`_track` keeps them up to date otherwise)."""
        if self._state_at != sha:
            listed = git.tree_blobs(self.root, sha, [REQUESTS, CONFIG_FILE], env=self.env)
            self._files = {p: b for p, b in listed.items() if _is_request(p) or p == CONFIG_FILE}
            self._state_at = sha
            missing = [b for b in self._files.values() if b not in self._raw]
            self._raw.update(git.blobs(self.root, missing, env=self.env))
            self._removers = {
                p for p, b in self._files.items() if p != CONFIG_FILE and _may_remove(self._raw.get(b))
            }
            self._forget()
            self._dirty = set(self._removers)
        self._update_naming()
        requests: list[Request] = []
        for path in sorted({p for name in left for p in self._naming.get(name, ())}):
            request = self._requests[self._files[path]]
            assert request is not None  # named in _naming
            requests.append(request)
        retention: Retention | None = None
        config = self._files.get(CONFIG_FILE)
        if config is not None:
            if config not in self._retention:
                self._retention[config] = _retention(self._raw.get(config), CONFIG_FILE)
            retention = self._retention[config]
        return requests, retention

    def _forget(self) -> None:
        self._naming, self._indexed, self._dirty = {}, {}, set()

    def _update_naming(self) -> None:
        """Bring :attr:`_naming` to the files as now (each request file parsed once per blob)."""
        for path in self._dirty:
            old = self._indexed.pop(path, None)
            if old is not None:
                for name in self._names(old, path):
                    self._naming[name].discard(path)
            if path in self._removers:
                blob = self._files[path]
                self._indexed[path] = blob
                for name in self._names(blob, path):
                    self._naming.setdefault(name, set()).add(path)
        self._dirty.clear()

    def _names(self, blob: str, path: str) -> set[NormalizedName]:
        if blob not in self._requests:
            self._requests[blob] = _removing(self._raw.get(blob), path)
        request = self._requests[blob]
        return {r.normalized for r in request.remove} if request is not None else set()


def _may_remove(raw: bytes | None) -> bool:
    return raw is not None and b"remove" in raw


def _retention(raw: bytes | None, path: str) -> Retention | None:
    doc = loads(raw, path)[0] if raw is not None else None
    config = parse_config(doc)[0] if doc is not None else None
    return config.retention if config is not None else None


def _removing(raw: bytes | None, path: str) -> Request | None:
    """The request in a request file, when it has a ``remove:`` list (the others say nothing about why
    a version left)."""
    if raw is None or not _may_remove(raw):
        return None
    doc = loads(raw, path, limit=REQUEST_LIMIT)[0]
    if doc is None:
        return None
    request = parse_request(doc, None, filename=PurePosixPath(path).name)[0]
    return request if request is not None and request.remove else None


def _title_and_requester(raw: bytes | None, path: str) -> tuple[str, str]:
    """A request file's title and requester (as :func:`_text` gives them): read line by line when the
    file is in the layout requests are written in (:func:`_request_layout`), else parsed whole."""
    data = _request_layout(raw) if raw is not None else None
    if data is None:
        data = _mapping(raw, path)
    return _text(data.get("title")), _text(data.get("requested_by"))


# A request file read line by line, for its title and requester: block YAML whose lines are comments,
# blank, or a key and its value, a dash and a key, a dash and a value (curate.catalog.layout_tree puts
# them together, or says they are not in that layout); a value is a plain scalar of safe characters
# (printable ASCII but "#" and ":", single spaces within), a single- or double-quoted one of printable ASCII closed on its line (no
# escapes), a flow list of such scalars, {}, or a folded or literal block scalar (``>``, ``>-``, ``|``,
# ``|-``) whose lines are printable ASCII, indented past its key and not less than its first line.
# Anything else (a tab, another line break, a document marker, an anchor, a tag, a multi-line scalar, a
# duplicate key, a trailing comment, non-ASCII text, ...) goes to the full parser, as does a title or
# requester that is a block scalar or a plain scalar the YAML 1.2 schema may read as other than a
# string. tests/test_history_readers.py proves both give the same on crafted and mutated files.
_RQ_SAFE = rb"[!\"$-9;-~]"  # printable ASCII but space, "#" and ":"
_RQ_PLAIN = rb"[A-Za-z0-9_.(](?:" + _RQ_SAFE + rb"| (?=" + _RQ_SAFE + rb"))*+"
_RQ_WORD = rb"[A-Za-z0-9_.][A-Za-z0-9_.+=<>~/()@-]*+"  # in a flow list
_RQ_SINGLE = rb"'(?:[ -&(-~]|'')*+'"
_RQ_DOUBLE = rb'"[ !#-\[\]-~]*+"'
_RQ_ITEM = rb"(?:" + _RQ_WORD + rb"|" + _RQ_SINGLE + rb"|" + _RQ_DOUBLE + rb")"
_RQ_FLOW = rb"\[(?:" + _RQ_ITEM + rb"(?:, " + _RQ_ITEM + rb")*+)?\]"
_RQ_VALUE = rb"(?:" + _RQ_PLAIN + rb"|" + _RQ_SINGLE + rb"|" + _RQ_DOUBLE + rb"|" + _RQ_FLOW + rb"|\{\})"
_REQUEST_LINE = re.compile(
    rb"( *+)(- )?(?:([a-z_][a-z0-9_]*+):(?: (" + _RQ_VALUE + rb"|[|>]-?))?|(" + _RQ_VALUE + rb"))"
)
_RQ_SKIPPED = re.compile(rb" *+(?:#[ -~]*+)?")  # a blank line, a comment
_RQ_TEXT = re.compile(rb"( *+)[!-~][ -~]*+")  # a block scalar's line
_UNSURE: Any = object()  # a value only the full parser can tell


def _request_scalar(text: bytes) -> Any:
    first = text[:1]
    if first == b"'":
        return text[1:-1].decode("ascii").replace("''", "'")
    if first == b'"':
        return text[1:-1].decode("ascii")
    if first in (b"[", b"{"):
        return ()  # a collection: not text
    if first in (b"|", b">"):
        return _UNSURE
    value = text.decode("ascii")
    return _UNSURE if _IMPLICIT.match(value) else value


def _request_layout(raw: bytes) -> dict[Any, Any] | None:
    """The top-level mapping of a request file in the layout above (its title and requester strings or
    not text), or None for the full parser to read."""
    if len(raw) > REQUEST_LIMIT.max_bytes or not raw.endswith(b"\n"):
        return None
    lines: list[LayoutLine] = []
    block = -1  # in a block scalar: the column of its key
    indent = 0  # and the indentation of its first line (0: none yet)
    for line in raw[:-1].split(b"\n"):
        if block >= 0:
            if not line:
                continue
            text = _RQ_TEXT.fullmatch(line)
            if text is None and line.strip(b" "):
                return None
            at = len(text[1]) if text is not None else 0
            if text is not None and at > block:
                if at < indent:
                    return None
                indent = indent or at
                continue
            block = -1  # the first line not indented past the key ends it
        if _RQ_SKIPPED.fullmatch(line):
            continue
        m = _REQUEST_LINE.fullmatch(line)
        if m is None:
            return None
        value = m[4] if m[3] is not None else m[5]
        key = m[3].decode("ascii") if m[3] is not None else None
        lines.append(
            (len(m[1]), m[2] is not None, key, NO_VALUE if value is None else _request_scalar(value))
        )
        if value is not None and value[:1] in (b"|", b">"):
            block, indent = len(m[1]) + (2 if m[2] is not None else 0), 0
    data = layout_tree(lines)
    if not isinstance(data, dict) or any(data.get(k) is _UNSURE for k in ("title", "requested_by")):
        return None
    return data


def _mapping(raw: bytes | None, path: str) -> dict[str, Any]:
    if raw is None:
        return {}
    doc, _ = loads(raw, path, keep_going=True, limit=REQUEST_LIMIT)
    data = doc.data if doc is not None else None
    return data if isinstance(data, dict) else {}


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _text(value: Any) -> str:
    """One line of text from a request or a commit message: whitespace runs as one space, control and
    bidirectional-override characters as U+FFFD (a terminal escape or a reordering is never carried on)."""
    return _CONTROL.sub("\ufffd", " ".join(value.split())) if isinstance(value, str) else ""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
