"""The lock state: ``catalog/lock.json``, and the fingerprints it records.

``curate lock`` writes :class:`LockState` last, after the package files: the fingerprint of the config
(:func:`config_fingerprint`: defaults, sdist policy, targets and their tags, the release cooldown and
its ``too-new`` waivers; not the upstream, since a catalog moves between upstreams serving the same files
without a re-lock), and per request the sha256 of its file, the fingerprint of what it asks for
(:func:`request_fingerprint`, not its title or justification), its pins, the day it was resolved as of
(``as_of``: the release cooldown counts back from it, so a re-lock of the same request on a later day
resolves the same way) and the versions the cooldown held back; per package file, a hash of its locked
part
(:func:`lock_part_hash`, everything but ``curate vet``'s ``vetting`` blocks). A request whose
fingerprint is unchanged is not resolved again, and :func:`freshness` (``curate lock --check``)
compares the catalog with the state without uv or the network, giving each difference as a typed
:class:`Staleness`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from curate.catalog import PACKAGES_DIR, interrupted_writes, iter_project_files
from curate.config import CONFIG_PATH, Config, load_config
from curate.cooldown import TOO_NEW, HeldBack
from curate.errors import Problem
from curate.names import NormalizedName, normalize
from curate.requests import REQUESTS_DIR, Request, read_request, request_files
from curate.yamlio import REQUEST_LIMIT, UnreadableFile, read_regular

STATE_PATH = Path("catalog") / "lock.json"
STATE_VERSION = 1
# How versions are resolved and which files are kept; a lock made under another one is stale (resolved
# again): 2 = uv's fewest fork strategy, and each version served wherever its project is wanted.
SERVING = 2
# How an sdist's build dependencies are locked; a catalog allowing sdists locked under another one (or
# before they were part of the catalog) is stale, and `curate lock` locks them again (nothing is resolved
# again for the requests). 1 = [build-system].requires plus the backend's get_requires_for_build_wheel.
BUILDS = 1


def _sha(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# -- fingerprints ----------------------------------------------------------------------------------


def config_fingerprint(config: Config, *, legacy: bool = False) -> str:
    """What of the config changes a lock: defaults, sdist policy, targets and their tags, the release
    cooldown and the ``too-new`` waivers (they let an exact pin through it), and :data:`SERVING` (how
    curate itself resolves and selects files).

    Not the upstream: the catalog records files by name and sha256, so pointing ``upstream.index_url``
    at a mirror changes nothing locked. ``legacy``: the fingerprint as locks made before recorded it
    (with the configured index URL, and before the release cooldown existed); a state holding it is up
    to date (:func:`config_matches`)."""
    upstream = {"index_url": config.index_url} if legacy else {"serving": SERVING}
    cooldown = {} if legacy else {"cooldown": _cooldown(config)}
    # build.from_source: pure keeps each pure wheel's sdist too (only then: older lock states stay current)
    pure = {"from_source": "pure"} if config.build.from_source == "pure" else {}
    return _sha(
        {
            **upstream,
            **cooldown,
            **pure,
            "allow_sdist": config.allow_sdist,
            "defaults": [list(config.platforms_default), list(config.python_default)],
            "platforms": [
                {"name": p.name, "os": p.os, "arch": p.arch, "tags": list(p.platform_tags)}
                for p in config.platforms
            ],
        }
    )


def _cooldown(config: Config) -> dict[str, Any]:
    return {
        "days": config.vetting.min_release_age_days,
        "waivers": sorted(
            [normalize(w.project), w.versions, w.expires.isoformat()]
            for w in config.vetting.waivers
            if w.id == TOO_NEW
        ),
    }


def config_matches(recorded: str, config: Config) -> bool:
    """Whether a lock state's config fingerprint is that of ``config`` (or its legacy form: a lock made
    before the release cooldown existed keeps its pins, which the cooldown does not judge again)."""
    return recorded in (config_fingerprint(config), config_fingerprint(config, legacy=True))


def request_fingerprint(request: Request, config: Config, *, legacy: bool = False) -> str:
    """What a request asks for, for which targets, under which config; not its title or justification."""
    return _sha(
        {
            "config": config_fingerprint(config, legacy=legacy),
            "targets": [t.id for t in request.targets(config)],
            "packages": sorted(
                [
                    {
                        "name": spec.normalized,
                        "extras": list(spec.extras),
                        "specifier": spec.specifier,
                        "targets": [t.id for t in request.package_targets(spec, config)],
                    }
                    for spec in request.packages
                ],
                key=lambda d: (str(d["name"]), str(d["targets"])),
            ),
        }
    )


def request_matches(recorded: str, request: Request, config: Config) -> bool:
    """Whether a recorded request fingerprint is that of ``request`` under ``config`` (or its legacy form)."""
    return recorded in (
        request_fingerprint(request, config),
        request_fingerprint(request, config, legacy=True),
    )


def is_legacy(state: LockState, config: Config) -> bool:
    """Whether ``state`` records fingerprints in their legacy form (``curate lock`` rewrites it)."""
    return state.config != config_fingerprint(config) and state.config == config_fingerprint(
        config, legacy=True
    )


def removals_fingerprint(request: Request) -> str:
    """What a request's ``remove:`` entries take out ("" when it has none: older lock states stay current)."""
    if not request.remove:
        return ""
    return _sha(sorted([r.normalized, r.specifier] for r in request.remove))


# -- the lock state ------------------------------------------------------------------------------------

# curate vet's ``vetting`` and curate wheels' ``built`` / ``build_failures`` blocks: not the lock's part
_VETTING = re.compile(r"^    (?:vetting|built|build_failures):.*\n(?:(?: {5,}.*)?\n)*", re.MULTILINE)
_LEGACY_URL = re.compile(
    r"^        url: ", re.MULTILINE
)  # a file's upstream URL, as catalogs once recorded it


def records_urls(text: str) -> bool:
    """Whether a package file still records upstream URLs (``url:``, read and ignored since catalogs are
    upstream-neutral; ``curate lock`` rewrites such a file without them)."""
    return _LEGACY_URL.search(text) is not None


def lock_part_hash(text: str) -> str:
    """sha256 of a package file without its ``vetting`` blocks (``curate vet`` owns those) and its
    ``built`` / ``build_failures`` blocks (``curate wheels`` owns those)."""
    return hashlib.sha256(_VETTING.sub("", text).encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RequestState:
    path: str
    sha256: str  # of the file's bytes: unchanged bytes need no parsing to know nothing changed
    fingerprint: str  # of what it asks for (request_fingerprint)
    pins: tuple[str, ...]  # name==version, sorted
    as_of: str = ""  # YYYY-MM-DD: the day it was resolved as of ("" in a lock state from before)
    held_back: tuple[HeldBack, ...] = ()  # what the release cooldown kept it from taking
    removals: str = ""  # of its remove: entries (removals_fingerprint); "" when it has none

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "sha256": self.sha256,
            "fingerprint": self.fingerprint,
            "as_of": self.as_of,
            "pins": list(self.pins),
            "held_back": [h.to_dict() for h in sorted(self.held_back)],
        }
        if self.removals:
            out["removals"] = self.removals
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RequestState:
        held = d.get("held_back") or ()
        return cls(
            path=str(d["path"]),
            sha256=str(d.get("sha256") or ""),
            fingerprint=str(d["fingerprint"]),
            pins=tuple(str(p) for p in d.get("pins") or ()),
            as_of=str(d.get("as_of") or ""),
            held_back=tuple(HeldBack.from_dict(h) for h in held if isinstance(h, Mapping)),
            removals=str(d.get("removals") or ""),
        )

    def as_of_date(self) -> dt.date | None:
        try:
            return dt.date.fromisoformat(self.as_of)
        except ValueError:
            return None

    def pinned(self) -> dict[NormalizedName, list[str]]:
        out: dict[NormalizedName, list[str]] = defaultdict(list)
        for pin in self.pins:
            name, _, version = pin.partition("==")
            out[normalize(name)].append(version)
        return out


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class LockState:
    """``catalog/lock.json``: what the catalog was locked from, to tell whether it is up to date."""

    config: str = ""
    requests: dict[str, RequestState] = dataclasses.field(default_factory=dict)
    files: dict[str, str] = dataclasses.field(default_factory=dict)  # package file name -> lock-part sha256
    retention: str = ""  # the retention rule applied (Retention.fingerprint); "" = keep
    retention_due: str = ""  # YYYY-MM-DD: the first day a drop-after rule takes a version out; "" = none
    builds: int = 0  # BUILDS, when the config allows sdists: how their build dependencies were locked

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": STATE_VERSION,
            "comment": "Written by `curate lock`; do not edit. `curate lock --check` compares the catalog with it.",
            "config": self.config,
        }
        if self.retention:
            out["retention"] = self.retention
        if self.retention_due:
            out["retention_due"] = self.retention_due
        if self.builds:
            out["builds"] = self.builds
        out["requests"] = {k: self.requests[k].to_dict() for k in sorted(self.requests)}
        out["files"] = {k: self.files[k] for k in sorted(self.files)}
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LockState:
        if d.get("version") != STATE_VERSION:
            return cls()
        return cls(
            config=str(d.get("config") or ""),
            requests={str(k): RequestState.from_dict(v) for k, v in (d.get("requests") or {}).items()},
            files={str(k): str(v) for k, v in (d.get("files") or {}).items()},
            retention=str(d.get("retention") or ""),
            retention_due=str(d.get("retention_due") or ""),
            builds=int(d.get("builds") or 0) if str(d.get("builds") or "0").isdigit() else 0,
        )

    @classmethod
    def loads(cls, text: str) -> LockState:
        try:
            data = json.loads(text)
        except ValueError:
            return cls()
        return cls.from_dict(data) if isinstance(data, dict) else cls()


def read_state(root: Path) -> LockState | None:
    """The lock state of the catalog under ``root``; None when it was never locked (or is unreadable)."""
    try:
        return LockState.loads((root / STATE_PATH).read_text("utf-8"))
    except OSError:
        return None


# -- staleness -----------------------------------------------------------------------------------------

StaleKind = Literal[
    "config-changed",  # catalog/config.yaml: what of it a lock depends on changed
    "retention-changed",  # catalog/config.yaml: the retention rule for superseded versions changed
    "builds-changed",  # sdists are allowed, and their build dependencies were locked otherwise (or not)
    "not-locked",  # a request never locked
    "invalid",  # a changed request that does not validate
    "changed",  # a request that asks for something else than when it was locked
    "removals-changed",  # a request whose remove: entries changed (nothing to resolve again)
    "deleted",  # a locked request whose file is gone
    "foreign",  # a package file curate lock did not write
    "missing",  # a package file curate lock wrote that is gone
    "edited",  # a package file whose locked part was edited by hand
    "interrupted",  # a temporary file or journal of a curate lock or vet killed while writing
]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Staleness:
    """One way ``catalog/`` does not match ``requests/`` and the config: which file, and what of it."""

    kind: StaleKind
    path: str  # repository-relative, as a user types it: requests/x.yaml, catalog/packages/y.yaml
    message: str

    def problem(self) -> Problem:
        return Problem(path=self.path, message=self.message)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Freshness:
    """How ``catalog/`` compares with ``requests/``, the config and the lock state."""

    stale: tuple[Staleness, ...]  # empty: up to date
    drift: bool  # some request file's recorded sha256 is out of date, though nothing it asks for changed
    locked: int  # requests the lock state records
    legacy: tuple[str, ...] = ()  # package file names still recording upstream URLs (rewritten by a lock)
    legacy_state: bool = False  # lock.json records its fingerprints as older locks did (rewritten by a lock)

    @property
    def files_edited(self) -> bool:
        """Whether a package file was edited by hand or deleted (every request is resolved again)."""
        return any(s.kind in ("edited", "missing") for s in self.stale)


def freshness(root: Path, config: Config, state: LockState | None) -> Freshness:
    """Why catalog/ does not match requests/ and the config (nothing when it does), and whether the lock
    state's record of some request file's bytes is out of date (an edit that changes nothing locked).

    A request file whose bytes are as recorded is not even parsed; one whose bytes differ is parsed and
    its fingerprint compared, so editing a title or a justification does not make the catalog stale.
    """
    stale: list[Staleness] = []
    if (
        state is not None
        and state.requests
        and config_matches(state.config, config)
        and builds_stale(state, config)
    ):
        message = (
            "files.allow_sdist is on, and the sdists' build dependencies were locked "
            + ("otherwise" if state.builds else "before they were part of the catalog")
            + " (curate lock locks them; nothing is resolved again)"
        )
        stale.append(Staleness(kind="builds-changed", path=CONFIG_PATH.as_posix(), message=message))
    if state is None:  # never locked: every request is new, every package file foreign
        state = LockState(config=config_fingerprint(config))
    drift = False
    if not config_matches(state.config, config):
        message = "the defaults, sdist policy, targets or release cooldown changed since the last lock"
        stale.append(Staleness(kind="config-changed", path=CONFIG_PATH.as_posix(), message=message))
    if state.retention != config.retention.fingerprint():
        message = f"the retention rule changed since the last lock (now {config.retention.describe()})"
        stale.append(Staleness(kind="retention-changed", path=CONFIG_PATH.as_posix(), message=message))
    ids = set()
    for path in request_files(root):
        rid = path.stem
        ids.add(rid)
        display = (REQUESTS_DIR / path.name).as_posix()
        previous = state.requests.get(rid)
        if previous is None:
            stale.append(Staleness(kind="not-locked", path=display, message="not locked yet"))
            continue
        try:
            raw = read_regular(path, limit=REQUEST_LIMIT, root=root)
        except UnreadableFile:
            raw = None  # read_request says why
        if raw is not None and previous.sha256 == hashlib.sha256(raw).hexdigest():
            continue
        request, _ = read_request(path, display, config, root=root)
        if request is None:
            message = f"not valid (see: curate check {display})"
            stale.append(Staleness(kind="invalid", path=display, message=message))
        elif not request_matches(previous.fingerprint, request, config):
            stale.append(Staleness(kind="changed", path=display, message="changed since the last lock"))
        elif previous.removals != removals_fingerprint(request):
            message = "its remove: entries changed since the last lock"
            stale.append(Staleness(kind="removals-changed", path=display, message=message))
        else:
            drift = True
    for rid in sorted(set(state.requests) - ids):
        message = "deleted, but the catalog still holds what it asked for"
        stale.append(Staleness(kind="deleted", path=state.requests[rid].path, message=message))
    on_disk = {p.name: p for p in iter_project_files(root)}
    folder = PACKAGES_DIR.as_posix()
    legacy = []
    for name in sorted(set(on_disk) | set(state.files)):
        where = f"{folder}/{name}"
        if name not in state.files:
            stale.append(Staleness(kind="foreign", path=where, message="not written by curate lock"))
        elif name not in on_disk:
            stale.append(Staleness(kind="missing", path=where, message="missing"))
        else:
            text = on_disk[name].read_text("utf-8")
            if lock_part_hash(text) != state.files[name]:
                message = "edited by hand (its locked part differs from the last lock)"
                stale.append(Staleness(kind="edited", path=where, message=message))
            elif records_urls(text):
                legacy.append(name)
    for leftover in interrupted_writes(root):
        message = (
            "left by a curate lock or curate vet killed while writing catalog/ (never commit it);"
            " the next curate lock or curate vet completes or removes it"
        )
        where = leftover.relative_to(root).as_posix()
        stale.append(Staleness(kind="interrupted", path=where, message=message))
    return Freshness(
        stale=tuple(stale),
        drift=drift,
        locked=len(state.requests),
        legacy=tuple(legacy),
        legacy_state=is_legacy(state, config),
    )


def builds_stale(state: LockState, config: Config) -> bool:
    """Whether the sdists' build dependencies must be locked again (sdists allowed, another BUILDS)."""
    return config.allow_sdist and state.builds != BUILDS


def catalog_freshness(root: Path) -> Freshness:
    """``curate lock --check``: how the catalog under ``root`` compares with its requests and config."""
    return freshness(root, load_config(root), read_state(root))
