"""A distribution's licence files, and which SPDX licence each one's text is.

Which files: a wheel's ``License-File`` entries (PEP 639: under ``.dist-info/licenses/``; older wheels put
them at the top of ``.dist-info/``), every file under ``.dist-info/licenses/``, and ``LICENSE``-,
``COPYING``- or ``NOTICE``-like files at the top of ``.dist-info/``; an sdist's ``License-File`` entries
and its top-level ``LICENSE``/``COPYING``-like files. The texts are identified with askalono (through
``pyaskalono``), a maintained licence-text matcher that compares a text with every SPDX licence's and says
how close the best one is (its score, 0 to 1): a score of at least :data:`MATCH_THRESHOLD` names the
licence, a lower one names nothing. The score is kept as evidence.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

from curate.archive import ArchiveError, read_zip_member

# A text whose best match scores this much is that licence. askalono's own CLI names a licence from
# 0.8; over the licence files of 450 popular projects (benchmarks/bench_licenses.py), texts that are
# one licence with the project's own copyright and wording score 0.90 to 1.00, while a licence with
# others appended to it (a bundle), or one of its own that resembles a known one, score under 0.9.
MATCH_THRESHOLD = 0.9
# At most this many licence files of one distribution are read, each at most this long (a real one is
# a few kilobytes; a bundle of third-party licences a few hundred).
MAX_FILES = 32
MAX_TEXT_BYTES = 1 << 20

_LICENCE_NAME = re.compile(
    r"(?i)^(un)?(licen[cs]e|copying|copyright|notice|patents?|third[-_ ]?party[-_ ]?(notices?|licen[cs]es?))"
    r"([-_. ].*)?$"
)
# Files that accompany a licence without being one: they never name the licence and are never
# "unidentified" (an Apache-2.0 NOTICE, an AUTHORS list).
_INFORMATIONAL = re.compile(r"(?i)^(notice|authors?|contributors?|copyright)([-_. ].*)?$")


def is_informational(path: str) -> bool:
    return bool(_INFORMATIONAL.match(PurePosixPath(path).name))


def is_licence_path(member: str) -> bool:
    """Whether a wheel member is a licence file by where it is and what it is called."""
    parts = PurePosixPath(member).parts
    if len(parts) < 2 or not parts[0].endswith(".dist-info"):
        return False
    if parts[1] == "licenses" and len(parts) > 2:
        return True
    return len(parts) == 2 and bool(_LICENCE_NAME.match(parts[1]))


def wheel_licence_members(names: Iterable[str], license_files: Sequence[str]) -> list[str]:
    """The licence files of a wheel with these members, given METADATA's ``License-File`` entries."""
    members = set(names)
    found = {n for n in members if is_licence_path(n)}
    dist_infos = {n.split("/", 1)[0] for n in members if n.split("/", 1)[0].endswith(".dist-info")}
    for entry in license_files:
        for d in dist_infos:
            for candidate in (f"{d}/licenses/{entry}", f"{d}/{entry}"):
                if candidate in members:
                    found.add(candidate)
    return sorted(found)[:MAX_FILES]


def sdist_licence_members(names: Iterable[str], license_files: Sequence[str]) -> list[str]:
    """The licence files of an sdist: its ``License-File`` entries and top-level licence-like files."""
    members = set(names)
    tops = {n.split("/", 1)[0] for n in members if "/" in n}
    found = {n for n in members if n.count("/") == 1 and _LICENCE_NAME.match(n.split("/", 1)[1])}
    for entry in license_files:
        for top in tops:
            if f"{top}/{entry}" in members:
                found.add(f"{top}/{entry}")
    return sorted(found)[:MAX_FILES]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Match:
    """askalono's best match for a text: an SPDX id and how close it is (0 to 1)."""

    license: str
    score: float

    @property
    def named(self) -> bool:
        return self.score >= MATCH_THRESHOLD


def _matcher_version() -> str:
    try:
        return f"pyaskalono-{importlib.metadata.version('pyaskalono')}"
    except importlib.metadata.PackageNotFoundError:
        return "none"


MATCHER_VERSION = _matcher_version()  # recorded in a version's vetting inputs: a new matcher vets again

# A section of a licence file whose best match scores under this is prose around the licences (a
# heading, "About Kiwi", "the following parts are copied from ..."), not a licence text of its own.
PROSE_THRESHOLD = 0.4


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Bundled:
    """One piece of software a licence file says the distribution bundles, and the licence it declares
    for it: the ``Name:`` ... ``License:`` blocks that numpy, scipy and others append to their wheels'
    licence file for the libraries the wheel carries (OpenBLAS, the GCC runtime, ...)."""

    name: str
    license: str  # as declared: the SPDX rendering when it is a valid expression, else as written


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class LicenceFile:
    """One licence file of one distribution file, and what its text is."""

    path: str  # inside the distribution, without the top folder (``LICENSE``, ``licenses/NOTICE``)
    sha256: str  # of its bytes
    match: Match | None  # the whole text's; None: empty, binary or too long to be one licence
    # When the whole text is no one licence: its sections' (cut at separator lines such as "-----"),
    # for a file that holds the project's licence and then the licences of code it bundles.
    sections: tuple[Match, ...] = ()
    # When the text lists bundled software (:func:`bundle`): the match of its own part (the text before
    # the list), and the list. Such a file names no licence by itself: what it bundles is reported.
    own: Match | None = None
    bundled: tuple[Bundled, ...] = ()

    @property
    def licenses(self) -> tuple[str, ...]:
        """The SPDX ids its text is (sorted), or () when it names none.

        One id when the whole text is one licence; several when every section of it is either a
        licence named or prose (and at least one is a licence)."""
        if self.match is not None and self.match.named:
            return (self.match.license,)
        named = {m.license for m in self.sections if m.named}
        if named and all(m.named or m.score < PROSE_THRESHOLD for m in self.sections):
            return tuple(sorted(named))
        return ()

    @property
    def informational(self) -> bool:
        return is_informational(self.path)


def identify(text: str) -> Match | None:
    """The SPDX licence ``text`` is, by askalono's best match; None for an empty text."""
    if not text.strip():
        return None
    return _identify(hashlib.sha256(text.encode()).hexdigest(), text)


@functools.lru_cache(maxsize=1024)
def _identify(_digest: str, text: str) -> Match:
    import askalono

    found = askalono.identify(text)
    name = str(found.name)
    if name == "Pixar" and "pixar" not in text.lower():
        # Pixar's licence is Apache-2.0 with one sentence changed (it names Pixar's trademarks), and
        # askalono's best match for the Apache-2.0 text with its appendix is Pixar (0.98): a text that
        # never says "Pixar" is the Apache licence
        name = "Apache-2.0"
    return Match(license=name, score=round(float(found.score), 4))


_SEPARATOR = re.compile(r"^\s*([-=*_#~+])\1{4,}\s*$", re.MULTILINE)
MAX_SECTIONS = 12


def sections(text: str) -> list[str]:
    """The parts of a text between separator lines (five or more of ``-=*_#~+``), non-empty ones."""
    parts = [p.strip() for p in _SEPARATOR.split(text)[0::2]]
    return [p for p in parts if len(p) >= 40]


def identify_file(text: str, memo: Path | None = None) -> tuple[Match | None, tuple[Match, ...]]:
    """A licence file's whole-text match, and its sections' when the whole is no one licence.

    ``memo``: a folder keeping the answers by the text's sha256 (askalono takes about 0.1 s a text, and
    the same licence files come back in every wheel and every run)."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    kept = memo / digest[:2] / digest[2:] if memo is not None else None
    if kept is not None:
        try:
            doc = json.loads(kept.read_text("utf-8"))
            return (
                Match(license=doc["whole"][0], score=doc["whole"][1]) if doc["whole"] else None,
                tuple(Match(license=m[0], score=m[1]) for m in doc["sections"]),
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass
    found = _identify_file(text)
    if kept is not None:
        whole, parts = found
        doc = {
            "whole": [whole.license, whole.score] if whole else None,
            "sections": [[m.license, m.score] for m in parts],
        }
        kept.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=kept.parent, prefix=f".{kept.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, kept)
    return found


def _identify_file(text: str) -> tuple[Match | None, tuple[Match, ...]]:
    whole = identify(text)
    if whole is None or whole.named:
        return whole, ()
    parts = sections(text)
    if not 2 <= len(parts) <= MAX_SECTIONS:
        return whole, ()
    return whole, tuple(m for m in (identify(p) for p in parts) if m is not None)


_BUNDLE_NAME = re.compile(r"^Name:[ \t]*(\S[^\n]*?)[ \t]*$", re.MULTILINE)
_BUNDLE_LICENSE = re.compile(r"^License:[ \t]*(\S[^\n]*?)[ \t]*$", re.MULTILINE)
MAX_BUNDLED = 64
_BLOCK_HEADER_LINES = 8  # a block's License: line comes within this many lines of its Name: line


def bundle(text: str) -> tuple[str, tuple[Bundled, ...]]:
    """The part of a licence file before the software it says is bundled, and that list.

    The list is the ``Name: ...`` blocks with a ``License: ...`` line among their header lines (numpy's
    and scipy's ``tools/wheels/LICENSE_*.txt`` convention); no such block: ``(text, ())``."""
    found: list[Bundled] = []
    head_end: int | None = None
    for m in _BUNDLE_NAME.finditer(text):
        header = "\n".join(text[m.end() :].split("\n", _BLOCK_HEADER_LINES + 1)[: _BLOCK_HEADER_LINES + 1])
        declared = _BUNDLE_LICENSE.search(header)
        if declared is None:
            continue
        if head_end is None:
            head_end = m.start()
        raw = declared.group(1)[:100]
        try:
            declared_as = str(canonicalize_license_expression(raw))
        except InvalidLicenseExpression:
            declared_as = raw
        found.append(Bundled(name=m.group(1)[:100], license=declared_as))
        if len(found) == MAX_BUNDLED:
            break
    if head_end is None:
        return text, ()
    return text[:head_end], tuple(found)


Identify = Callable[[str], tuple[Match | None, tuple[Match, ...]]]


def licence_file(path: str, data: bytes, identify_text: Identify) -> LicenceFile:
    """One licence file (``path`` as recorded, its bytes), its text named with ``identify_text``
    (:func:`identify_file`, with or without a memo)."""
    digest = hashlib.sha256(data).hexdigest()
    if b"\0" in data[:8192]:
        return LicenceFile(path=path, sha256=digest, match=None)
    text = data.decode("utf-8", "replace")
    whole, parts = identify_text(text)
    if whole is not None and whole.named:
        return LicenceFile(path=path, sha256=digest, match=whole, sections=parts)
    head, bundled = bundle(text)
    own = identify_text(head)[0] if bundled and head.strip() else None
    return LicenceFile(path=path, sha256=digest, match=whole, sections=parts, own=own, bundled=bundled)


def _short(member: str) -> str:
    """A member's path without the wheel's ``x.dist-info/`` or the sdist's ``x-1.0/`` folder."""
    parts = PurePosixPath(member).parts
    rest = parts[1:] if len(parts) > 1 else parts
    return "/".join(rest)


def _licence_file(member: str, data: bytes, memo: Path | None) -> LicenceFile:
    return licence_file(_short(member), data, lambda text: identify_file(text, memo))


def read_licence_files(
    path: Path, filename: str, license_files: Sequence[str], memo: Path | None = None
) -> tuple[LicenceFile, ...]:
    """The licence files of the distribution at ``path`` (a wheel or an sdist named ``filename``),
    identified. ``license_files``: its metadata's ``License-File`` entries; ``memo``: see
    :func:`identify_file`."""
    out: list[LicenceFile] = []
    try:
        if filename.endswith((".whl", ".zip")):
            with zipfile.ZipFile(path) as zf:
                names = [i.filename for i in zf.infolist() if not i.is_dir()]
                members = (
                    wheel_licence_members(names, license_files)
                    if filename.endswith(".whl")
                    else sdist_licence_members(names, license_files)
                )
                for member in members:
                    try:
                        out.append(_licence_file(member, read_zip_member(zf, member, MAX_TEXT_BYTES), memo))
                    except ArchiveError:
                        out.append(LicenceFile(path=_short(member), sha256="", match=None))
        else:
            with tarfile.open(path, "r:*") as tf:
                regular = {m.name: m for m in tf.getmembers() if m.isfile()}
                for member in sdist_licence_members(regular, license_files):
                    info = regular[member]
                    fh = tf.extractfile(info) if info.size <= MAX_TEXT_BYTES else None
                    if fh is None:
                        out.append(LicenceFile(path=_short(member), sha256="", match=None))
                        continue
                    out.append(_licence_file(member, fh.read(MAX_TEXT_BYTES), memo))
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"{filename}: cannot read its licence files: {exc}") from exc
    return tuple(sorted(out, key=lambda f: f.path))
