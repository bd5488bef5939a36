"""The build stage: public/ from the catalog, the package index and the site, swapped in atomically.

The site is built first (mkdocs empties its output directory), then the index is written into the
same tree. Everything is built in a staging directory beside the output and swapped in with a rename
(:mod:`curate.staging`): if anything fails, the previous public/ keeps serving untouched. With the
index only and an existing output, the index is updated in place instead (:func:`curate.index.build_index`).

In link mode without ``files.base_url`` the index links each file where the upstream serves it, looked
up on its project pages at build time (:func:`upstream_links`, :mod:`curate.locate`), as ``curate fetch``
does: the catalog records no URL.

The requests' environments are planned and their files (``envs/``, ``api/requests/``) written into the
staging tree by a forked process (:class:`EnvWriter`), started as soon as the site has read the catalog
and the requests, where that is safe and pays off (two cores, no other thread, many requests, and file
URLs that do not come from the index just written): they need nothing from the index, and the site
needs only each environment's status (for the requests list), sent back once mkdocs has emptied the
output. The process writes the files then (mkdocs renders the site and this process writes the index
meanwhile), then the request pages (``requests/<id>/``, made from the same plan), once mkdocs
has rendered their shell and the site sent it over. A failure there fails the build like one here;
nothing is swapped in.

The catalog's history (:mod:`curate.history`) depends only on git and the config, so a build with the
site starts computing it in another forked process first, before the catalog is read
(:class:`curate.history.Background`), and waits for it only after the index and the site's other
pages are written: the pages that show it (each project's page, the Changes pages, ``changes.xml``,
``api/changes/``) are written last (:func:`curate.site.finish_site`). A failure there fails the build;
a failure elsewhere stops it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from curate import parallel
from curate.atomic import atomic_write
from curate.cache import Wanted, cache_root
from curate.catalog import PACKAGES_DIR, Project, load_project
from curate.config import Config, load_config
from curate.environments import (
    API_DIR,
    ENVS_DIR,
    EnvRenderer,
    EnvStats,
    Locations,
    RequestEnvironments,
    Reuse,
)
from curate.errors import BuildError
from curate.history import Background, History
from curate.index import MANIFEST, Blobs, Links, Source, Stats, build_index, unserved
from curate.names import normalize
from curate.staging import Staging, build_lock, keep_unchanged, publishing, spare_path
from curate.vetting import today_from

if TYPE_CHECKING:
    from curate.site import RequestPages, SiteData, Statuses  # mkdocs is imported only with the site

INDEX_PARTS = ("simple", "files", "api", ENVS_DIR, MANIFEST)
# below this many requests the environments are written here, after the index (a fork costs more)
ENV_FORK_MINIMUM = 50


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Built:
    """What a build did."""

    output: Path
    how: Literal["published", "updated in place"]
    stats: Stats | None  # None when only the site was built
    history: History | None  # None when the site was not built
    simple_url: str  # where clients find the index
    seconds: float
    warnings: tuple[str, ...] = ()
    environments: EnvStats | None = None  # None when only the site was built


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


def upstream_links(
    config: Config, env: Mapping[str, str], index_url: str, today: dt.date | None = None
) -> Links:
    """Link mode without ``files.base_url``: the upstream's URL of every served file, from its project
    pages on ``index_url``; a file the upstream does not list with the catalog's sha256 fails the build
    (every such file named), since the index would send clients to bytes that were not vetted."""

    def links(projects: Sequence[Project]) -> Mapping[str, str]:
        from curate.httpclient import HttpClient
        from curate.locate import locate

        wanted = [
            Wanted(project=p.name, version=v.version, file=f)
            for p in projects
            for v in p.versions
            if unserved(v, config.vetting, today or dt.date.today()) is None
            for f in v.files
        ]
        with HttpClient(env, limits=config.http_limits()) as client:
            found = locate(index_url, wanted, client=client)
        if found.problems:
            raise BuildError(
                f"link mode: {len(found.problems)} file(s) not found as vetted on the upstream:\n"
                + "\n".join(found.problems)
            )
        return {x.wanted.sha256: x.url for x in found.located}

    return links


def build(
    *,
    root: Path,
    output: Path,
    cache_dir: Path | None,
    env: Mapping[str, str],
    index: bool = True,
    site: bool = True,
    rebuild: bool = False,
    today: dt.date | None = None,
) -> Built:
    """Build ``output`` from ``root``'s catalog: the index, the site, or both (see the module).

    Only vetted bytes are served: a version whose vetting record does not cover exactly the sha256 of
    each of its files, was judged by another policy, blocks, or relies on a waiver expired by ``today``
    (default: ``$CURATE_TODAY``, else today) is left out of the index and the site, and listed in
    ``Built.stats.left_out`` for the caller to report.

    One build at a time on ``output``: a second one stops at once naming the first's pid
    (:func:`staging.build_lock`); the staging trees of builds that were killed are removed then."""
    started = time.perf_counter()
    config = load_config(root)
    try:
        day = today if today is not None else today_from(env)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    with build_lock(output):
        return _build(
            root=root,
            output=output,
            config=config,
            cache_dir=cache_dir,
            env=env,
            index=index,
            site=site,
            rebuild=rebuild,
            started=started,
            today=day,
        )


def _build(
    *,
    root: Path,
    output: Path,
    config: Config,
    cache_dir: Path | None,
    env: Mapping[str, str],
    index: bool,
    site: bool,
    rebuild: bool,
    started: float,
    today: dt.date,
) -> Built:
    # the catalog's history depends only on git and the config: computed beside the rest of the build,
    # from now on (before the catalog is read), and waited for only where the site first shows it
    job: Background | None = None
    if site:
        from curate.site import start_history  # the site's templates: only when asked

        job = start_history(
            root,
            config,
            env=env,
            cache_dir=cache_root(root, config, env, cache_dir),
            published=output if output.is_dir() else None,
        )
    try:
        return _build_with(
            root=root,
            output=output,
            config=config,
            cache_dir=cache_dir,
            env=env,
            index=index,
            site=site,
            rebuild=rebuild,
            started=started,
            today=today,
            job=job,
        )
    finally:
        if job is not None:  # the build failed (or did not wait for it): stop computing it
            job.stop()


def _build_with(
    *,
    root: Path,
    output: Path,
    config: Config,
    cache_dir: Path | None,
    env: Mapping[str, str],
    index: bool,
    site: bool,
    rebuild: bool,
    started: float,
    today: dt.date,
    job: Background | None,
) -> Built:
    blobs = Blobs(cache_root(root, config, env, cache_dir))
    live = output if (output / MANIFEST).is_file() else None
    sources = catalog_sources(root) if index else []
    links: Links | None = None
    upstream = ""
    if index and sources and config.files_mode == "link" and not config.files_base_url:
        from curate.locate import index_url_for

        upstream = index_url_for(config, env, [s.normalized for s in sources])
        links = upstream_links(config, env, upstream, today)
    stats: Stats | None = None
    history: History | None = None
    envs: EnvStats | None = None
    how: Literal["published", "updated in place"]
    if index and not site and output.is_dir():
        stats = build_index(
            output,
            sources,
            config=config,
            blobs=blobs,
            previous=output,
            in_place=True,
            reuse=not rebuild,
            links=links,
            upstream=upstream,
            today=today,
        )
        envs = write_environment_files(
            output,
            root,
            config,
            env=env,
            in_place=True,
            today=today,
            cache_dir=cache_root(root, config, env, cache_dir),
        )
        how = "updated in place"
    else:
        with publishing(output, keep=(ENVS_DIR,)) as staging:
            plans: Mapping[str, RequestEnvironments] | None = None
            beside: EnvWriter | None = None
            data: SiteData | None = None
            if site:
                from curate.site import build_site  # mkdocs and the site's templates: only when asked

                def plan_beside(read: SiteData) -> Callable[[], Statuses] | None:
                    """As soon as the site has read the catalog and the requests, a forked process plans
                    the environments (the site waits for their statuses only when it shows them)."""
                    nonlocal beside
                    if index:
                        beside = EnvWriter.start(
                            staging,
                            config,
                            read,
                            cache_dir=cache_root(root, config, env, cache_dir),
                            published=live,
                            rebuild=rebuild,
                        )
                    return beside.statuses if beside is not None else None

                def start_writing(planned: SiteData) -> RequestPages | None:
                    """Once mkdocs has emptied the output, it writes the environments' files while mkdocs
                    renders the site and this process the index; and the request pages, once the site
                    sends it their shell. Without it, the site writes them here, as it would, and they
                    are reused the same way (:func:`request_pages_here`)."""
                    if beside is None:
                        cache = cache_root(root, config, env, cache_dir)
                        return lambda before, after: request_pages_here(
                            planned, staging, before, after, cache_dir=cache, published=live, rebuild=rebuild
                        )
                    beside.write(planned)
                    return beside.request_pages

                try:
                    data = build_site(
                        root,
                        config,
                        staging,
                        env=env,
                        today=today,
                        cache_dir=cache_root(root, config, env, cache_dir),
                        published=output if output.is_dir() else None,
                        on_planned=start_writing,
                        history=job,
                        later=True,  # what shows the history: after the index, below
                        plan_beside=plan_beside,
                    )
                except BaseException:
                    if beside is not None:  # the site failed: stop writing them
                        beside.abort()
                    raise
                if beside is None:
                    plans = data.environments  # the site planned them; used again here
            if index:
                finished = False
                try:
                    stats = build_index(
                        staging,
                        sources,
                        config=config,
                        blobs=blobs,
                        previous=live,
                        reuse=not rebuild,
                        links=links,
                        upstream=upstream,
                        today=today,
                    )
                    if beside is None:
                        envs = write_environment_files(
                            staging,
                            root,
                            config,
                            env=env,
                            plans=plans,
                            today=today,
                            cache_dir=cache_root(root, config, env, cache_dir),
                            published=live,
                            rebuild=rebuild,
                        )
                    if data is not None:  # the history is waited for here, as late as can be
                        _finish_site(data)
                    finished = True
                finally:
                    if beside is not None and not finished:  # the index or the site failed: stop them
                        beside.abort()
                if beside is not None:
                    envs = beside.result()
            elif data is not None:
                _finish_site(data)
            if not index and output.is_dir():
                _link_tree_parts(output, staging, INDEX_PARTS)
            if data is not None:
                history = data.history
            if output.is_dir():  # a rebuild that changed nothing changes no file's ETag
                keep_unchanged(staging, output, beside.kept if beside is not None else ())
        how = "published"
    warnings = []
    if site and config.show_requesters and config.publish.pages:
        warnings.append(
            f"{config.path}: site.show_requesters is true and publish.pages is a target: every requester's "
            "address will be on a public GitHub Pages site (set site.show_requesters: false)"
        )
    return Built(
        output=output,
        how=how,
        stats=stats,
        history=history,
        simple_url=config.simple_url,
        seconds=time.perf_counter() - started,
        warnings=tuple(warnings),
        environments=envs,
    )


def _finish_site(data: SiteData) -> None:
    from curate.site import finish_site

    finish_site(data)


def load_plans(
    root: Path,
    config: Config,
    env: Mapping[str, str],
    today: dt.date | None = None,
    cache_dir: Path | None = None,
) -> Mapping[str, RequestEnvironments]:
    """Every request's environments, read from ``root`` (when the site did not read them already);
    ``today`` as the index takes it (waivers' expiry); ``cache_dir``: the file cache, where the wheels
    ``curate wheels`` built are (served, and so named, only while it holds their bytes)."""
    from curate.catalog import load_catalog_fast
    from curate.environments import plan
    from curate.errors import Problem, ValidationError, display_path
    from curate.requests import Request, read_request, request_files

    requests: list[Request] = []
    problems: list[Problem] = []
    for path in request_files(root):
        request, found = read_request(path, display_path(path, root), config, root=root)
        problems.extend(found)
        if request is not None:
            requests.append(request)
    if problems:
        raise ValidationError(problems)
    return plan(
        load_catalog_fast(root), requests, config, today=today, built=Blobs(cache_dir).built_check(config)
    )


def index_locations(tree: Path, config: Config, plans: Mapping[str, RequestEnvironments]) -> Locations:
    """Where the environments' files are: the catalog's own layout, or (link mode without
    ``files.base_url``) the URL the index just written links for each file (its PEP 691 page)."""
    loc = Locations.of(config)
    if config.files_mode != "link" or loc.files_base_url is not None:
        return loc
    names = {p.normalized for envs in plans.values() for e in envs.environments for p in e.packages}
    by_sha: dict[str, str] = {}
    for name in sorted(names):
        try:
            page = json.loads((tree / "simple" / name / "index.json").read_bytes())
        except (OSError, ValueError) as exc:
            raise BuildError(
                f"{name}: the index page the environments link files from does not read: {exc}"
            ) from exc
        for f in page.get("files", []):
            sha = f.get("hashes", {}).get("sha256")
            if isinstance(sha, str) and isinstance(f.get("url"), str):
                by_sha[sha] = f["url"]
    return dataclasses.replace(loc, by_sha256=by_sha)


def write_environment_files(
    tree: Path,
    root: Path,
    config: Config,
    *,
    env: Mapping[str, str],
    plans: Mapping[str, RequestEnvironments] | None = None,
    in_place: bool = False,
    today: dt.date | None = None,
    cache_dir: Path | None = None,
    published: Path | None = None,
    rebuild: bool = False,
) -> EnvStats:
    """Each request's environment files (``envs/``) and their ``api/requests/`` JSON, into ``tree``
    (``plans``: as the site planned them, else read from ``root`` with ``today``, as the index judged;
    ``cache_dir``: curate's file cache, where the SBOMs' components are kept between builds).

    A fresh (staging) tree is written plainly, but for the environments whose files ``published`` (the
    live tree) holds from the same inputs: hard-linked from there (:func:`env_reuse`; not with
    ``rebuild``); the live tree
    (``in_place``) gets only the files whose bytes changed, each swapped in by rename, and loses the
    ones no environment has any more."""
    from curate.environments import write_environments

    if plans is None:
        plans = load_plans(root, config, env, today, cache_dir)
    renderer = EnvRenderer(config, index_locations(tree, config, plans), cache=cache_dir)
    if not in_place:
        staging = Staging(tree)
        return write_environments(
            plans,
            renderer,
            staging.write,
            reuse=env_reuse(tree, published, cache_dir, rebuild=rebuild),
            link=staging.link,
        )
    written: set[str] = set()

    def write(rel: str, data: bytes) -> None:
        written.add(rel)
        path = tree / rel
        try:
            if path.read_bytes() == data:
                return
        except OSError:
            path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)

    stats = write_environments(plans, renderer, write)
    for part in (ENVS_DIR, API_DIR):
        folder = tree / part
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*"), reverse=True):  # files before their folders
            rel = path.relative_to(tree).as_posix()
            if path.is_dir():
                with contextlib.suppress(OSError):
                    path.rmdir()  # only when emptied
            elif rel not in written:
                path.unlink()
    return stats


def request_pages_here(
    data: SiteData,
    tree: Path,
    before: str,
    after: str,
    *,
    cache_dir: Path | None,
    published: Path | None,
    rebuild: bool = False,
) -> None:
    """The request pages written in the site's own process, into their shell (``before``, ``after``),
    when no forked writer writes them (:class:`EnvWriter`: one core, few requests): as that writer
    does, each page the published tree holds from the same key is linked, its bytes checked
    (:class:`curate.site.PageReuse`; none with ``rebuild``), and the others are rendered."""
    from curate.site import PageReuse, SiteRenderer, fill_request_pages

    renderer = SiteRenderer(data)
    reuse = PageReuse.of(renderer, tree, None if rebuild else published, cache_dir)
    fill_request_pages(data, renderer, tree, before, after, live=published, reuse=reuse)


ENV_RECORD = "envs.json"  # under the file cache's curate.reuse.RECORD_DIR (and api-requests.json)


def env_reuse(
    tree: Path, published: Path | None, cache_dir: Path | None, *, rebuild: bool = False
) -> Reuse | None:
    """What the published tree's ``envs/`` and ``api/requests/`` hold that this build may link instead
    of writing (:class:`curate.reuse.LinkReuse`, each file's sha256 verified); None without a file
    cache. ``rebuild``: nothing (each file is made, and recorded)."""
    from curate.reuse import RECORD_DIR, LinkReuse

    if cache_dir is None:
        return None
    records = cache_dir / RECORD_DIR

    def folder(part: str, record: str, spare: Path | None = None) -> LinkReuse:
        live = published / part if published is not None and not rebuild else None
        return LinkReuse(records / record, live, tree / part, verify=True, spare=spare)

    # the envs/ folder the last build replaced, kept beside the output (curate.staging.swap): taken over
    spare = spare_path(published, ENVS_DIR) if published is not None else None
    return Reuse(
        envs=folder(ENVS_DIR, ENV_RECORD, spare if spare is not None and os.path.lexists(spare) else None),
        api=folder(API_DIR, ENV_RECORD.replace("envs", "api-requests")),
    )


class EnvWriter:
    """The environments planned and their files written into a fresh staging tree by a forked process,
    beside this one, from what the site read; then the request pages (:func:`curate.site.fill_request_pages`,
    from the same plans), once :meth:`request_pages` sends it their shell. It writes nothing before
    :meth:`write` says mkdocs has emptied the tree, and sends each environment's status then
    (:meth:`statuses`). Each file it writes that the published tree holds with the same bytes is that file,
    hard-linked (:meth:`kept`)."""

    def __init__(
        self, process: Any, receive: Any, control: Any, requests: Sequence[str], published: Path | None
    ) -> None:
        self._process = process
        self._receive = receive  # its statuses, then its answer (the stats, or what it raised)
        self._control = control  # the pipe end its go-ahead, then the request pages' shell, are sent on
        self._requests = requests
        self._published = published
        self._statuses: Statuses | None = None
        self._went = False  # whether it was let write (write()); it sends the statuses then
        self._pages = False  # whether it was sent the shell: it writes the request pages

    @classmethod
    def start(
        cls,
        tree: Path,
        config: Config,
        read: SiteData,
        *,
        cache_dir: Path | None,
        published: Path | None = None,
        rebuild: bool = False,
    ) -> EnvWriter | None:
        """Start planning the environments of ``read`` (what the site read; none planned yet), to write
        their files into ``tree``; None where it is better done here: few requests, one core, another
        thread running (forking a threaded process can deadlock), no ``fork``, or file URLs read from
        the index being written (link mode without ``files.base_url``). ``rebuild``: every file and
        request page is made again (none linked from ``published`` by its record)."""
        import gc
        import multiprocessing

        from curate.parallel import workers

        if workers(len(read.requests), ENV_FORK_MINIMUM) < 2:
            return None
        if config.files_mode == "link" and not config.files_base_url:
            return None
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        control_receive, control_send = context.Pipe(duplex=False)
        process = context.Process(
            target=_write_beside,
            args=(
                send,
                tree,
                config,
                read,
                cache_dir,
                published,
                rebuild,
                control_receive,
                (receive, control_send),
            ),
            name="curate-envs",
            daemon=True,
        )
        # what this process holds (the catalog) is left out of the child's garbage collections: they
        # would walk it, and copy every page they touch (as curate.history.Background)
        gc.freeze()
        try:
            process.start()
        finally:
            gc.unfreeze()
        send.close()
        control_receive.close()
        return cls(process, receive, control_send, tuple(read.requests), published)

    @property
    def kept(self) -> tuple[str, ...]:
        """The folders (of the tree) whose files it kept from the published tree where they were the
        same bytes (:func:`curate.staging.keep_unchanged` need not look at them again)."""
        if self._published is None:
            return ()
        pages = [f"requests/{rid}" for rid in self._requests] if self._pages else []
        return (ENVS_DIR, API_DIR, *pages)

    def statuses(self) -> Statuses:
        """Each request's environments' (target id, status), by id (:attr:`curate.site.SiteData.env_statuses`):
        waited for; what it raised planning them, if it did."""
        if self._statuses is None:
            if not self._went:  # it sends them once it is let go: waiting here would never end
                raise BuildError("the environments' statuses were asked for before they could be written")
            try:
                message = self._receive.recv()
            except (EOFError, OSError):
                message = None
            if isinstance(message, BaseException):
                self._process.join()  # it ends once it has sent what it raised
                raise message
            if not (isinstance(message, tuple) and len(message) == 2 and message[0] == "statuses"):
                self._process.join()
                raise BuildError(
                    "the process planning the environments stopped without finishing "
                    f"(exit code {self._process.exitcode}): {message or 'no report'}"
                )
            self._statuses = message[1]
        return self._statuses

    def write(self, data: SiteData) -> None:
        """Let it write the files: mkdocs has emptied the tree; ``data``: what the site read in all
        (it is sent what the site read after it was started: :func:`curate.site.read_later`)."""
        from curate.site import read_later

        self._send(read_later(data))

    def request_pages(self, before: str, after: str) -> None:
        """Have it write the request pages into this shell (:func:`curate.site.write_request_pages`)."""
        self._send((before, after))

    def _send(self, message: object) -> None:
        """The go-ahead (a dict: :meth:`write`), then the shell (a tuple) or None (no request pages)."""
        if self._control is None:
            return
        last = not isinstance(message, dict)
        self._went = True
        try:
            self._control.send(message)
            self._pages = isinstance(message, tuple)
        except OSError:  # it is gone: result() says why
            last = True
        if last:
            self._control.close()
            self._control = None

    def result(self) -> EnvStats:
        """Wait for the files; the stats, or the error the process raised (a BuildError when it died)."""
        self._send(None)  # no request pages from it (when the site did not send their shell)
        self.statuses()
        answer = parallel.answer_of(self._process, self._receive)
        if not isinstance(answer, EnvStats):
            raise BuildError(
                "the process writing the environment files stopped without finishing "
                f"(exit code {self._process.exitcode}): {answer or 'no report'}"
            )
        return answer

    def abort(self) -> None:
        """Stop it (the build failed); the caller deletes the staging tree."""
        self._process.terminate()
        self._process.join()
        self._receive.close()
        if self._control is not None:
            self._control.close()


def _write_beside(
    send: Any,
    tree: Path,
    config: Config,
    read: SiteData,
    cache_dir: Path | None,
    published: Path | None,
    rebuild: bool,
    control: Any,
    parents: tuple[Any, ...],
) -> None:
    """The forked process: plans the environments of what the site read; once told to (``control``, with
    what the site read since), sends their statuses (from a thread: the site reads them only when it
    shows them, and they may be more than a pipe holds) and writes every environment's files into
    ``tree``; then the request pages when their shell comes; sends the stats, or what it raised.
    ``parents``: the build's ends of the pipes, closed here first (so that this process sees the end
    of the pipe, and stops, if the build is gone). It runs at the build's priority: at ``nice`` 10 (as
    :class:`curate.history.Background`) it was no faster on this 2-core machine under a load of 2 to 5,
    and a busy machine starved it while the build waited for it (8 and 13 s); at the same priority the
    build never waited for it there."""
    import threading

    from curate.environments import write_environments
    from curate.site import PageReuse, SiteRenderer, fill_request_pages, plan_of, statuses_of

    for end in parents:
        end.close()
    sender: threading.Thread | None = None

    def work() -> EnvStats:
        nonlocal sender
        plans = plan_of(read)
        # mkdocs has emptied the tree: what the site read since the fork. Received before the statuses
        # are sent (a send waits while the pipe is full: this process does not send while the build does)
        later = control.recv()
        if not isinstance(later, dict):  # the site did not get that far (the build stops)
            raise BuildError("the environments were not written: the site did not get that far")
        # sent while this process writes (no process is forked from here, so a thread is safe)
        sender = threading.Thread(target=_send_quietly, args=(send, ("statuses", statuses_of(plans))))
        sender.start()
        renderer = EnvRenderer(config, Locations.of(config), cache=cache_dir)
        staging = Staging(tree)
        reuse = env_reuse(tree, published, cache_dir, rebuild=rebuild)

        def write(rel: str, data: bytes) -> None:  # the published file where it is these bytes
            staging.write_or_keep(rel, data, published)

        stats = write_environments(plans, renderer, write, reuse=reuse, link=staging.link)
        # rendered while mkdocs renders the site (a core is free then), put in their shell once it
        # comes (while this build's process writes the index and the package pages, on every core)
        pages = dataclasses.replace(read, environments=plans, **later)
        site = SiteRenderer(pages)
        # the published pages made from the same keys are linked, not rendered (their bytes checked)
        reuse_pages = PageReuse.of(site, tree, None if rebuild else published, cache_dir)
        ahead = reuse_pages.to_render() if reuse_pages is not None else sorted(pages.requests)
        bodies = {rid: site.request(pages.requests[rid]) for rid in ahead}
        cut = control.recv()  # (before, after), or None: the site wrote them
        control.close()
        if cut is not None:
            fill_request_pages(pages, site, tree, *cut, live=published, bodies=bodies, reuse=reuse_pages)
        return stats

    def answer() -> EnvStats:
        try:
            return work()
        finally:  # the statuses are sent before the answer (the build reads them first)
            if sender is not None:
                sender.join()

    parallel.send_answer(send, answer)


def _send_quietly(pipe: Any, message: object) -> None:
    """``message`` on ``pipe``; nothing when the other end is gone (the build stopped: it says why)."""
    with contextlib.suppress(OSError):
        pipe.send(message)


def _link_tree_parts(src: Path, dst: Path, parts: tuple[str, ...]) -> None:
    """The index's parts of the live tree, hard-linked into a staging tree where the site was just built
    (``api/changes/`` is the site's: the catalog's history, written with it)."""
    api = str(src / "api")
    for part in parts:
        s = src / part
        if s.is_dir():
            shutil.copytree(
                s,
                dst / part,
                copy_function=os.link,
                dirs_exist_ok=True,
                ignore=lambda folder, names: {"changes"} & set(names) if folder == api else set(),
            )
        elif s.is_file():
            os.link(s, dst / part)
