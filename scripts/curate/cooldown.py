"""The release cooldown: a version the upstream received fewer than ``vetting.min_release_age_days``
days ago is not taken (most compromised releases are found and yanked within days).

A lock resolves each request *as of* a day (:class:`Cooldown`): uv is given ``--exclude-newer`` at
midnight UTC of that day minus the cooldown, so only files uploaded before that instant are candidates,
and the day is recorded in ``catalog/lock.json`` so that a re-lock of the same request (``curate ci
relock``) resolves exactly the same way. A version uploaded on day ``U`` (at any time) is therefore
taken by locks as of ``U + days + 1`` and later: :meth:`Cooldown.eligible_on`.

A request may still pin a newer version exactly (``==``) when a dated waiver with id ``too-new``
(``vetting.waivers``) names it: a security fix. Without one, the lock refuses the pin with a ``too-new``
problem giving the day it becomes eligible. The versions a lock would have taken without the cooldown
are recorded per request as :class:`HeldBack` entries, which ``curate lock`` prints and the pull-request
report lists. Files without an upload time cannot be dated, so the cooldown leaves them out (as uv
does): an upstream that gives no upload times (PEP 700) needs ``min_release_age_days: 0``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from curate.names import NormalizedName
from curate.vetting import FindingKind

if TYPE_CHECKING:
    from curate.config import Waiver
    from curate.resolve import Pin

TOO_NEW: FindingKind = "too-new"
DAY = dt.timedelta(days=1)


def midnight(day: dt.date) -> dt.datetime:
    """The first instant of ``day``, in UTC."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def rfc3339(moment: dt.datetime) -> str:
    """``2026-11-23T00:00:00Z``: the form uv's ``--exclude-newer`` takes."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_upload_time(text: str) -> dt.datetime | None:
    """An upstream's ``upload-time`` (ISO 8601, ``Z`` or an offset; UTC when it names none), or None."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


class Dated(Protocol):
    """A file with an upload time: an upstream's :class:`curate.upstream.ListedFile` or a catalog entry."""

    @property
    def filename(self) -> str: ...
    @property
    def upload_time(self) -> str: ...


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Cooldown:
    """The cooldown of ``days`` days, for a resolution as of ``as_of`` (0 days: no cooldown)."""

    days: int
    as_of: dt.date

    @property
    def active(self) -> bool:
        return self.days > 0

    @property
    def cutoff(self) -> dt.datetime:
        """Files uploaded at or after this instant are too new."""
        return midnight(self.as_of) - self.days * DAY

    def exclude_newer(self) -> str | None:
        """uv's ``--exclude-newer`` value; None without a cooldown."""
        return rfc3339(self.cutoff) if self.active else None

    def horizon(self) -> str:
        """What the upstream held when the day began: the limit of the comparison run that finds the
        versions the cooldown held back (reproducible on any later day)."""
        return rfc3339(midnight(self.as_of))

    def lifted(self) -> str:
        """The limit for a waived exact pin: anything uploaded up to the end of the day."""
        return rfc3339(midnight(self.as_of + DAY))

    def admits(self, upload_time: str) -> bool:
        """Whether a file uploaded at ``upload_time`` may be taken (one without a time may not)."""
        if not self.active:
            return True
        moment = parse_upload_time(upload_time)
        return moment is not None and moment < self.cutoff

    def eligible_on(self, uploaded: dt.datetime) -> dt.date:
        """The first day a lock takes a version uploaded at ``uploaded``."""
        return (uploaded.astimezone(dt.UTC) + self.days * DAY).date() + DAY


def released(files: Iterable[Dated]) -> dt.datetime | None:
    """When a version was released: its earliest file's upload time (None when no file gives one)."""
    times = [t for t in (parse_upload_time(f.upload_time) for f in files) if t is not None]
    return min(times) if times else None


def exact_version(specifier: str) -> str | None:
    """The version a specifier pins exactly (``==1.2``, ``===1.2``), or None (ranges, ``==1.*``)."""
    try:
        specs = list(SpecifierSet(specifier))
    except InvalidSpecifier:
        return None
    if len(specs) != 1 or specs[0].operator not in ("==", "===") or specs[0].version.endswith(".*"):
        return None
    return specs[0].version


def too_new_waiver(
    waivers: Iterable[Waiver], project: str, version: str, *, on: dt.date
) -> tuple[Waiver | None, Waiver | None]:
    """The ``too-new`` waiver naming this project and version that holds on ``on`` (the latest-expiring),
    and else the expired one that did, to say so."""
    matching = [w for w in waivers if w.covers(TOO_NEW, project, version)]
    valid = [w for w in matching if w.expires >= on]
    expired = [w for w in matching if w.expires < on]
    pick = max(valid, key=lambda w: w.expires) if valid else None
    return pick, (max(expired, key=lambda w: w.expires) if expired and pick is None else None)


# -- what the cooldown held back ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True, order=True)
class HeldBack:
    """A version a request would have locked without the cooldown, and what it locked instead."""

    name: str  # as the upstream spells it
    version: str  # the newer version held back
    locked: str  # the version locked instead ("" when the package is not locked at all)
    uploaded: str  # YYYY-MM-DD (UTC) of its release; "" when unknown
    eligible: str  # YYYY-MM-DD: the first day a lock takes it; "" when unknown

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "version": self.version,
            "locked": self.locked,
            "uploaded": self.uploaded,
            "eligible": self.eligible,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HeldBack:
        return cls(**{k: str(d.get(k) or "") for k in ("name", "version", "locked", "uploaded", "eligible")})

    def describe(self) -> str:
        """``foo 2.1 (uploaded 2026-11-27, eligible on 2026-12-05); locked 2.0``."""
        when = []
        if self.uploaded:
            when.append(f"uploaded {self.uploaded}")
        if self.eligible:
            when.append(f"eligible on {self.eligible}")
        text = f"{self.name} {self.version}" + (f" ({', '.join(when)})" if when else "")
        return text + (f"; locked {self.locked}" if self.locked else "; not locked")


def _newest(versions: Iterable[str]) -> Version | None:
    parsed = []
    for v in versions:
        try:
            parsed.append(Version(v))
        except InvalidVersion:
            continue
    return max(parsed) if parsed else None


def newer_without(cooled: Sequence[Pin], uncooled: Sequence[Pin]) -> dict[NormalizedName, tuple[str, str]]:
    """Packages the run without the cooldown pins newer than the run with it: name -> (the newest
    version it took, the newest locked; "" when the cooled run has none)."""
    locked: dict[NormalizedName, list[str]] = {}
    for pin in cooled:
        locked.setdefault(pin.name, []).append(pin.version)
    wanted: dict[NormalizedName, list[str]] = {}
    for pin in uncooled:
        wanted.setdefault(pin.name, []).append(pin.version)
    out: dict[NormalizedName, tuple[str, str]] = {}
    for name, versions in sorted(wanted.items()):
        newest, have = _newest(versions), _newest(locked.get(name, ()))
        if newest is not None and (have is None or newest > have):
            out[name] = (str(newest), str(have) if have is not None else "")
    return out


def held_back(
    newer: Mapping[NormalizedName, tuple[str, str]],
    names: Mapping[NormalizedName, str],
    files: Mapping[NormalizedName, Sequence[Dated]],
    cooldown: Cooldown,
) -> tuple[HeldBack, ...]:
    """The :class:`HeldBack` records, dated from the upstream's files of each held-back version."""
    from curate.selection import file_version

    out = []
    for name, (version, locked) in sorted(newer.items()):
        mine = [f for f in files.get(name, ()) if (fv := file_version(f.filename)) and fv == (name, version)]
        when = released(mine)
        out.append(
            HeldBack(
                name=names.get(name, name),
                version=version,
                locked=locked,
                uploaded=when.date().isoformat() if when else "",
                eligible=cooldown.eligible_on(when).isoformat() if when else "",
            )
        )
    return tuple(out)


def too_new_text(files: Iterable[Dated], cooldown: Cooldown) -> str | None:
    """Why a version's files are too new on ``cooldown.as_of`` (None when every one is old enough or
    none is dated): what vetting records as a ``too-new`` finding. The text is the same on every day
    until the version is eligible, so a waived version's record does not change from day to day."""
    dated = [(f, parse_upload_time(f.upload_time)) for f in files]
    recent = sorted((t, f.filename) for f, t in dated if t is not None and t >= cooldown.cutoff)
    if not cooldown.active or not recent:
        return None
    newest, filename = recent[-1]
    text = (
        f"uploaded {newest.date().isoformat()}, within the {cooldown.days}-day release cooldown "
        f"(vetting.min_release_age_days); eligible on {cooldown.eligible_on(newest).isoformat()}"
    )
    if len(recent) < len(dated):
        text += f" ({len(recent)} of its {len(dated)} files are that new, the newest {filename})"
    return text
