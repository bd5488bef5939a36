"""A distribution's licence as an SPDX expression, and what the catalog's allow and deny lists say of it.

Pure functions: metadata and the identified licence files in (:mod:`curate.licensefiles`), data out.
The sources, in order of authority:

1. PEP 639 ``License-Expression``, normalised with ``packaging.licenses`` (PyPA's own normaliser). It
   decides; a licence file that is something the expression does not name is reported as a conflict.
2. The legacy ``License`` field and the ``License ::`` classifiers. The field is read as a licence name
   (with the common spellings of :data:`ALIASES`), as an expression written in prose (``BSD 3-Clause OR
   Apache-2.0``, ``Dual licensed under MIT or Apache 2.0``), by the first line of a whole licence text
   (``BSD 3-Clause License\n...``), or by the text itself when the matcher names it. Several classifiers
   are a choice (``A OR B``). A classifier or name that says only a family ("BSD License", "GPL")
   decides nothing on its own.
3. The licence files: each one named by its text. They confirm what the metadata says, settle a family
   ("BSD" + a BSD-3-Clause text), add the licences bundled beside the project's own (``A AND B``), or
   name the licence when the metadata names none.

When the sources disagree, the result says so (``conflict``: a ``license-conflict`` finding); when the
files do not settle a disagreement, or a file is a licence text the matcher cannot name, the licence
stays unknown ("needs review") rather than a guess.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from typing import Any, Literal

from license_expression import ExpressionError, Licensing, get_spdx_licensing
from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

from curate.licensefiles import LicenceFile, Match
from curate.vetting import LicenseSource

# Recorded in a version's vetting inputs: bump it when what is read of the licence files or how the
# sources combine changes, so that every version is vetted again (2: bundled software listed).
READING_VERSION = 2

# A licence file whose closest match scores this much (askalono's own CLI threshold), though under
# the one that names a licence on the file's word alone, backs a licence the metadata already names.
CORROBORATES = 0.8

Verdict = Literal["allowed", "denied", "unknown"]

# Trove classifiers that name one licence.
CLASSIFIERS: dict[str, str] = {
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "License :: OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "License :: OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "License :: OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "License :: OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "License :: OSI Approved :: Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "License :: OSI Approved :: zlib/libpng License": "Zlib",
    "License :: OSI Approved :: Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "License :: OSI Approved :: Universal Permissive License (UPL)": "UPL-1.0",
    "License :: OSI Approved :: Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "License :: OSI Approved :: Academic Free License (AFL)": "AFL-3.0",
    "License :: OSI Approved :: Artistic License": "Artistic-2.0",
    "License :: OSI Approved :: European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "License :: OSI Approved :: Server Side Public License (SSPL)": "SSPL-1.0",
    "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}

# A family of licences: which SPDX ids belong to it. A classifier or a ``License`` value that names only
# a family decides nothing; a licence file of that family settles it.
Family = Literal["BSD", "GPL", "LGPL", "AGPL"]
FAMILIES: dict[Family, tuple[str, ...]] = {
    "BSD": ("BSD-", "0BSD"),  # prefixes of the ids in the family
    "GPL": ("GPL-",),
    "LGPL": ("LGPL-",),
    "AGPL": ("AGPL-",),
}
_FAMILY_NAMES: dict[str, Family] = {f: f for f in FAMILIES}
FAMILY_CLASSIFIERS: dict[str, Family] = {
    "License :: OSI Approved :: BSD License": "BSD",
    "License :: OSI Approved :: GNU General Public License (GPL)": "GPL",
    "License :: OSI Approved :: GNU Library or Lesser General Public License (LGPL)": "LGPL",
    "License :: OSI Approved :: GNU Affero General Public License": "AGPL",
}

# Common spellings of a licence in the legacy ``License`` field, by their :func:`_name_key` ("the",
# "license", "version" and punctuation left out): an SPDX id, or a family.
ALIASES: dict[str, str] = {
    "mit": "MIT",
    "expat": "MIT",
    "mit-0": "MIT-0",
    "apache 2.0": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache2": "Apache-2.0",
    "apache-2.0": "Apache-2.0",
    "apache software": "Apache-2.0",
    "apache software 2.0": "Apache-2.0",
    "asl 2.0": "Apache-2.0",
    "asl2": "Apache-2.0",
    "bsd-3": "BSD-3-Clause",
    "bsd 3": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "bsd 3 clause": "BSD-3-Clause",
    "3-clause bsd": "BSD-3-Clause",
    "3 clause bsd": "BSD-3-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "new bsd": "BSD-3-Clause",
    "bsd new": "BSD-3-Clause",
    "modified bsd": "BSD-3-Clause",
    "revised bsd": "BSD-3-Clause",
    "bsd-2": "BSD-2-Clause",
    "bsd 2": "BSD-2-Clause",
    "bsd 2-clause": "BSD-2-Clause",
    "bsd 2 clause": "BSD-2-Clause",
    "2-clause bsd": "BSD-2-Clause",
    "2 clause bsd": "BSD-2-Clause",
    "simplified bsd": "BSD-2-Clause",
    "freebsd": "BSD-2-Clause",
    "mpl 2.0": "MPL-2.0",
    "mpl-2": "MPL-2.0",
    "mpl2": "MPL-2.0",
    "mozilla public 2.0": "MPL-2.0",
    "psf": "PSF-2.0",
    "psfl": "PSF-2.0",
    "python software foundation": "PSF-2.0",
    "isc": "ISC",
    "iscl": "ISC",
    "isc iscl": "ISC",
    "gplv2": "GPL-2.0-only",
    "gpl 2": "GPL-2.0-only",
    "gpl 2.0": "GPL-2.0-only",
    "gnu gplv2": "GPL-2.0-only",
    "gplv2+": "GPL-2.0-or-later",
    "gpl 2+": "GPL-2.0-or-later",
    "gpl 2.0 or later": "GPL-2.0-or-later",
    "gplv3": "GPL-3.0-only",
    "gpl 3": "GPL-3.0-only",
    "gpl 3.0": "GPL-3.0-only",
    "gnu gplv3": "GPL-3.0-only",
    "gnu gpl 3": "GPL-3.0-only",
    "gnu gpl 3.0": "GPL-3.0-only",
    "gnu general public 3": "GPL-3.0-only",
    "gplv3+": "GPL-3.0-or-later",
    "gpl 3+": "GPL-3.0-or-later",
    "gpl 3.0 or later": "GPL-3.0-or-later",
    "gnu gplv3+": "GPL-3.0-or-later",
    "lgplv2.1": "LGPL-2.1-only",
    "lgpl 2.1": "LGPL-2.1-only",
    "lgplv2.1+": "LGPL-2.1-or-later",
    "lgpl 2.1+": "LGPL-2.1-or-later",
    "lgpl 2.1 or later": "LGPL-2.1-or-later",
    "lgplv2+": "LGPL-2.0-or-later",
    "lgplv3": "LGPL-3.0-only",
    "lgpl 3": "LGPL-3.0-only",
    "lgpl 3.0": "LGPL-3.0-only",
    "gnu lgplv3": "LGPL-3.0-only",
    "lgplv3+": "LGPL-3.0-or-later",
    "lgpl 3+": "LGPL-3.0-or-later",
    "agplv3": "AGPL-3.0-only",
    "agpl 3": "AGPL-3.0-only",
    "agpl 3.0": "AGPL-3.0-only",
    "agpl-3.0": "AGPL-3.0-only",
    "gnu agplv3": "AGPL-3.0-only",
    "gnu affero gpl 3.0": "AGPL-3.0-only",
    "gnu affero gpl 3": "AGPL-3.0-only",
    "gnu affero general public 3": "AGPL-3.0-only",
    "agplv3+": "AGPL-3.0-or-later",
    "unlicense": "Unlicense",
    "zlib": "Zlib",
    "zlib/libpng": "Zlib",
    "boost software 1.0": "BSL-1.0",
    "cc0": "CC0-1.0",
    "cc0 1.0": "CC0-1.0",
    "cc0 1.0 universal": "CC0-1.0",
    "eclipse public 2.0": "EPL-2.0",
    "epl 2.0": "EPL-2.0",
    # families: a name that says which kind, not which licence
    "bsd": "BSD",
    "bsd-like": "BSD",
    "bsd style": "BSD",
    "bsd-style": "BSD",
    "gpl": "GPL",
    "gnu gpl": "GPL",
    "gnu general public": "GPL",
    "lgpl": "LGPL",
    "gnu lgpl": "LGPL",
    "gnu lesser general public": "LGPL",
    "agpl": "AGPL",
}
_NOT_A_LICENCE = ("proprietary", "commercial", "all rights reserved")  # the files do not override these


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class LicenseInfo:
    expression: str  # normalised SPDX expression; "" when unknown
    source: LicenseSource
    note: str = ""  # why it is unknown; how it was decided when the licence files took part
    conflict: str = ""  # what the field, the classifiers and the files each say, when they disagree


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Claim:
    """What one metadata source says: an SPDX expression, a family, or an unreadable text."""

    source: LicenseSource
    said: str  # as the source said it, for messages
    expression: str = ""
    family: Family | None = None


_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.\-]+", re.IGNORECASE)


@functools.cache
def _licensing() -> Licensing:
    return get_spdx_licensing()


@functools.lru_cache(maxsize=4096)
def normalize_expression(text: str) -> str | None:
    """The SPDX rendering of ``text`` (current ids: ``GPL-3.0+`` is ``GPL-3.0-or-later``), or None
    when it is not a valid SPDX expression."""
    text = text.strip()
    if not text:
        return None
    try:
        canonical = str(canonicalize_license_expression(text))
    except InvalidLicenseExpression:
        canonical = ""
    try:
        expr = _licensing().parse(canonical or text, validate=True, strict=False)
    except (ExpressionError, ValueError, TypeError):
        # PEP 639 and SPDX allow user-defined LicenseRef-<idstring> identifiers (a proprietary licence,
        # say): valid when they are the only keys the SPDX list does not know
        try:
            expr = _licensing().parse(text, validate=False, strict=False)
            unknown = _licensing().unknown_license_keys(expr) if expr is not None else ["?"]
        except (ExpressionError, ValueError, TypeError):
            return canonical or None
        if not all(_LICENSE_REF.fullmatch(str(k)) for k in unknown):
            return canonical or None
    if expr is None:
        return canonical or None
    rendered: str = expr.render()
    return rendered


def license_ids(expression: str) -> frozenset[str]:
    """The licence ids an expression names (``GPL-2.0-only WITH X`` names ``GPL-2.0-only``)."""
    try:
        expr = _licensing().parse(expression, validate=False)
    except (ExpressionError, ValueError, TypeError):
        return frozenset()
    if expr is None:
        return frozenset()
    return frozenset(str(k) for k in _licensing().license_keys(expr, unique=True))


def _name_key(text: str) -> str:
    t = text.lower().replace("licence", "license").strip().rstrip(".")
    t = re.sub(r"[()\[\],:;\"']", " ", t)
    t = re.sub(r"\b(the|license|licensed|version|software license)\b", " ", t)
    t = re.sub(r"\bv(?=\d)", " ", t)  # "v2" is "2"; "gplv3" stays a word of its own
    return " ".join(t.split())


def _alias(text: str) -> str | None:
    """A licence name as an SPDX id or a family name, or None."""
    key = _name_key(text)
    found = ALIASES.get(key) or ALIASES.get(key.replace(" ", ""))
    if found is not None:
        return found
    norm = normalize_expression(text.strip())
    if norm is not None and " " not in norm:
        return norm
    return None


_PROSE_PREFIX = re.compile(
    r"(?i)^\s*(dual[- ]licen[cs]ed|multi[- ]licen[cs]ed|licen[cs]ed|released|distributed|available)"
    r"(\s+(under|as))?(\s+(the\s+)?(terms\s+of\s+)?(either\s+)?)?[\s:-]*"
)
_OPERATOR = re.compile(r"(?i)\s+(or|and)\s+|\s*/\s*(?=[A-Za-z])")
_COMMERCIAL = re.compile(r"(?i)^(?:the\s+)?([a-z][a-z0-9]*)\s+commercial(?:\s+licen[cs]e)?$")


def _from_prose(text: str) -> str | None:
    """``BSD 3-Clause OR Apache-2.0``, ``Dual licensed under MIT or Apache 2.0``: an SPDX expression.

    A vendor's commercial licence offered beside an open one (``AGPL 3.0 or Artifex Commercial
    License``) is a ``LicenseRef-<Vendor>-Commercial``: the allow list decides on it like on any other."""
    body = _PROSE_PREFIX.sub("", text).strip().rstrip(".")
    parts = _OPERATOR.split(body)
    names = [p.strip() for p in parts[0::2]]
    operators = {(op or "or").upper() for op in parts[1::2]}
    if len(names) < 2 or len(operators) != 1:
        return None
    ids = []
    for name in names:
        found = _alias(name)
        commercial = _COMMERCIAL.match(name)
        if found is None and commercial is not None:
            found = f"LicenseRef-{commercial.group(1).capitalize()}-Commercial"
        if found is None or found in FAMILIES:
            return None
        ids.append(found)
    return normalize_expression(f" {operators.pop()} ".join(ids))


def _field_claim(license: str, field_match: Match | None) -> _Claim | None:
    """What the legacy ``License`` field says."""
    text = license.strip()
    if not text:
        return None
    first = text.splitlines()[0].strip()
    said = first[:60] + ("..." if len(first) > 60 or "\n" in text else "")
    for candidate in (text, first) if "\n" in text else (text,):
        if len(candidate) > 120:
            continue
        found = _alias(candidate)
        if found in FAMILIES:
            return _Claim(source="License", said=said, family=_FAMILY_NAMES[found])
        if found is not None:
            return _Claim(source="License", said=said, expression=found)
        expression = normalize_expression(candidate) if " " in candidate.strip() else None
        if expression is not None:  # an SPDX expression in the legacy field
            return _Claim(source="License", said=said, expression=expression)
        prose = _from_prose(candidate)
        if prose is not None:
            return _Claim(source="License", said=said, expression=prose)
    if field_match is not None and field_match.named:  # a whole licence text in the field
        return _Claim(source="License", said=said, expression=field_match.license)
    return _Claim(source="License", said=said)


def _classifier_claims(classifiers: Sequence[str]) -> tuple[_Claim | None, list[_Claim]]:
    """The classifiers' choice of specific licences (``A OR B``), and the families they name."""
    ids = sorted({CLASSIFIERS[c] for c in classifiers if c in CLASSIFIERS})
    specific = None
    if ids:
        expr = normalize_expression(" OR ".join(ids))
        if expr is not None:
            said = ", ".join(sorted(c.rsplit(" :: ", 1)[-1] for c in classifiers if c in CLASSIFIERS))
            specific = _Claim(source="classifiers", said=said, expression=expr)
    families = [
        _Claim(source="classifiers", said=c.rsplit(" :: ", 1)[-1], family=FAMILY_CLASSIFIERS[c])
        for c in sorted(set(classifiers))
        if c in FAMILY_CLASSIFIERS
    ]
    return specific, families


def _in_family(license_id: str, family: Family) -> bool:
    return license_id.startswith(FAMILIES[family])


def _agrees(claim: _Claim, ids: frozenset[str]) -> bool:
    """Whether licences ``ids`` are among what ``claim`` says (its expression's ids, or its family)."""
    if claim.family is not None:
        return any(_in_family(i, claim.family) for i in ids)
    return bool(ids & license_ids(claim.expression))


def _describe(files: Sequence[LicenceFile]) -> str:
    """What each licence file is (two files of one path with other texts, in different wheels, once)."""
    out: list[str] = []
    for f in files:
        if f.licenses and f.match is not None and f.match.named:
            out.append(f"{f.path} is {f.match.license} ({f.match.score:.2f})")
        elif f.licenses:
            parts = ", ".join(f"{m.license} ({m.score:.2f})" for m in f.sections if m.named)
            out.append(f"{f.path} is several licences: {parts}")
        elif f.bundled:
            if f.own is not None and f.own.named:
                own = f"its own text is {f.own.license} ({f.own.score:.2f})"
            elif f.own is not None:
                own = f"its own text names no licence (closest {f.own.license}, {f.own.score:.2f})"
            else:
                own = "it has no text of its own"
            listed = ", ".join(f"{b.name} ({b.license})" for b in f.bundled)
            out.append(
                f"{f.path} is no one licence: {own}, and it lists the software bundled with it: {listed}"
            )
        elif f.match is not None:
            out.append(f"{f.path} names no licence (closest {f.match.license}, {f.match.score:.2f})")
        else:
            out.append(f"{f.path} is not a licence text")
    return "; ".join(dict.fromkeys(out))


def _say(claim: _Claim) -> str:
    says = {"License": "License says", "classifiers": "the classifiers say"}.get(claim.source, claim.source)
    if claim.family is not None:
        return f"{says} only '{claim.said}' (a {claim.family} licence: which one?)"
    return f"{says} {claim.expression or repr(claim.said)}"


def license_of(
    *,
    license_expression: str | None,
    license: str | None,
    classifiers: Sequence[str],
    files: Sequence[LicenceFile] = (),
    field_match: Match | None = None,
) -> LicenseInfo:
    """The licence of a distribution from its metadata and its identified licence files.

    ``field_match``: the matcher's reading of the ``License`` field when it holds a whole licence text.
    """
    named = [f for f in files if f.licenses]
    file_ids = frozenset(i for f in named for i in f.licenses)
    unnamed = [f for f in files if not f.licenses and not f.informational]
    # what the unnamed files are closest to, when close enough to back a licence the metadata names
    # (not a file listing bundled software: its whole text is several licences one after the other)
    near = {
        f.match.license
        for f in unnamed
        if f.match is not None and f.match.score >= CORROBORATES and not f.bundled
    }

    if license_expression and license_expression.strip():
        norm = normalize_expression(license_expression)
        if norm is None:
            return LicenseInfo(
                expression="",
                source="License-Expression",
                note=f"License-Expression '{license_expression.strip()}' is not a valid SPDX expression",
            )
        declared = license_ids(norm)
        outside = [f for f in named if not set(f.licenses) <= declared]
        if outside and not file_ids & declared:
            return LicenseInfo(
                expression=norm,
                source="License-Expression",
                conflict=f"License-Expression says {norm}, but {_describe(named)}",
            )
        # a file listing bundled software under licences the expression does not name (numpy's wheels
        # carry the GCC runtime): listed too, the expression still decides
        outside += [
            f
            for f in unnamed
            if any(not license_ids(b.license) or not license_ids(b.license) <= declared for b in f.bundled)
        ]
        note = f"licences bundled beside those it names: {_describe(outside)}" if outside else ""
        return LicenseInfo(expression=norm, source="License-Expression", note=note)

    field = _field_claim(license or "", field_match)
    specific, families = _classifier_claims(classifiers)
    claims = [c for c in (field, specific, *families) if c is not None and (c.expression or c.family)]
    precise = [c for c in claims if c.expression]
    # Two sources disagree when neither names anything the other does.
    disagree = [
        (a, b)
        for i, a in enumerate(claims)
        for b in claims[i + 1 :]
        if not (a.family and b.family)
        and not _agrees(a, license_ids(b.expression) if b.expression else frozenset())
        and not _agrees(b, license_ids(a.expression) if a.expression else frozenset())
    ]
    said = "; ".join(_say(c) for c in claims)
    files_said = _describe(files)

    if disagree:
        conflict = f"{said}; {files_said}" if files else f"{said}; no licence file settles it"
        settles = [c for c in precise if file_ids and file_ids <= license_ids(c.expression) and not unnamed]
        if len(settles) == 1:
            return LicenseInfo(
                expression=settles[0].expression,
                source="license-files",
                note=f"the licence files agree with {_say(settles[0])}",
                conflict=conflict,
            )
        return LicenseInfo(
            expression="", source="none", note="the metadata disagrees with itself", conflict=conflict
        )

    if precise:
        claim = precise[0]  # the License field when it names one, else the classifiers
        declared = license_ids(claim.expression)
        if not named:
            if unnamed and claim.source == "classifiers" and len(unnamed) == 1 and near <= declared and near:
                return LicenseInfo(
                    expression=claim.expression,
                    source=claim.source,
                    note=f"{_say(claim)}, and the licence file is closest to it: {files_said}",
                )
            if unnamed and claim.source == "classifiers":
                # a classifier is picked from a menu: a licence file it does not match may be the
                # project's own licence that merely resembles the one picked
                return LicenseInfo(
                    expression="",
                    source="none",
                    note=f"{_say(claim)}, which no licence file confirms: {files_said}",
                )
            note = f"{files_said}; the metadata decides" if unnamed else ""
            return LicenseInfo(expression=claim.expression, source=claim.source, note=note)
        if file_ids <= declared:
            return LicenseInfo(
                expression=claim.expression,
                source=claim.source,
                note=f"the licence files agree: {files_said}",
            )
        if declared & file_ids:  # the project's own licence, and others bundled beside it
            extra = sorted(file_ids - declared)
            expression = normalize_expression(f"({claim.expression}) AND " + " AND ".join(extra))
            assert expression is not None
            return LicenseInfo(
                expression=expression,
                source="license-files",
                note=f"{_say(claim)}, and the licence files bundle more: {files_said}",
            )
        return LicenseInfo(
            expression="",
            source="none",
            note="the licence files are not what the metadata says",
            conflict=f"{said}; {files_said}",
        )

    if families:
        family = families[0].family
        assert family is not None
        if not named and len(unnamed) == 1 and len(near) == 1 and _in_family(next(iter(near)), family):
            return LicenseInfo(
                expression=next(iter(near)),
                source="license-files",
                note=f"{_say(families[0])}; the licence file is closest to one of that family: {files_said}",
            )
        if named and any(_in_family(i, family) for i in file_ids):
            expression = normalize_expression(" AND ".join(sorted(file_ids)))
            assert expression is not None
            return LicenseInfo(
                expression=expression,
                source="license-files",
                note=f"{_say(families[0])}; the licence files settle it: {files_said}",
            )
        if named and not any(_in_family(i, family) for i in file_ids):
            return LicenseInfo(
                expression="",
                source="none",
                note="the licence files are not what the metadata says",
                conflict=f"{said}; {files_said}",
            )
        detail = f"; {files_said}" if files else "; no licence file settles it"
        return LicenseInfo(expression="", source="none", note=f"{_say(families[0])}{detail}")

    if field is not None and field.family is not None:
        if named and not unnamed and all(_in_family(i, field.family) for i in file_ids):
            expression = normalize_expression(" AND ".join(sorted(file_ids)))
            assert expression is not None
            return LicenseInfo(
                expression=expression, source="license-files", note=f"{_say(field)}; {files_said}"
            )
        detail = f"; {files_said}" if files else "; no licence file settles it"
        return LicenseInfo(expression="", source="none", note=f"{_say(field)}{detail}")

    # The metadata names no licence: the files alone, when every one of them is a licence named.
    refused = field is not None and any(w in field.said.lower() for w in _NOT_A_LICENCE)
    if named and not unnamed and not refused:
        expression = normalize_expression(" AND ".join(sorted(file_ids)))
        assert expression is not None
        prefix = f"License '{field.said}' is not a licence name; " if field is not None else ""
        return LicenseInfo(expression=expression, source="license-files", note=prefix + files_said)
    if field is not None:
        detail = f"; {files_said}" if files else ""
        return LicenseInfo(
            expression="", source="none", note=f"License '{field.said}' is not a known licence name{detail}"
        )
    vague = sorted(c for c in classifiers if c.startswith("License ::"))
    if vague:
        detail = f"; {files_said}" if files else ""
        return LicenseInfo(
            expression="", source="none", note=f"classifier '{vague[0]}' does not name one licence{detail}"
        )
    if files:
        return LicenseInfo(
            expression="", source="none", note=f"the metadata declares no licence; {files_said}"
        )
    return LicenseInfo(expression="", source="none", note="the metadata declares no licence")


def verdict(expression: str, allow: Sequence[str], deny: Sequence[str]) -> Verdict:
    """``allowed`` when some choice uses only allowed licences; ``denied`` when every choice uses a
    denied one; otherwise ``unknown`` (a person must review it)."""
    if not expression:
        return "unknown"
    try:
        expr = _licensing().parse(expression, validate=False)
    except (ExpressionError, ValueError, TypeError):
        return "unknown"
    allow_keys = {_key(a) for a in allow}
    deny_keys = {_key(d) for d in deny}
    if _allowed(expr, allow_keys):
        return "allowed"
    if _denied(expr, deny_keys):
        return "denied"
    return "unknown"


def _key(text: str) -> str:
    return (normalize_expression(text) or text).lower()


def _symbol_keys(node: Any) -> list[str]:
    """The keys a leaf can match: ``GPL-2.0-only WITH X`` matches itself or ``GPL-2.0-only``."""
    if hasattr(node, "license_symbol"):
        return [str(node.render()).lower(), str(node.license_symbol.key).lower()]
    return [str(node.key).lower()]


def _allowed(node: Any, keys: set[str]) -> bool:
    """Whether the licences chosen can all be in ``keys`` (AND needs all, OR needs one)."""
    op = type(node).__name__
    if op == "AND":
        return all(_allowed(a, keys) for a in node.args)
    if op == "OR":
        return any(_allowed(a, keys) for a in node.args)
    return any(k in keys for k in _symbol_keys(node))


def _denied(node: Any, keys: set[str]) -> bool:
    """Whether every choice includes a denied licence (AND: any part denied; OR: every option)."""
    op = type(node).__name__
    if op == "AND":
        return any(_denied(a, keys) for a in node.args)
    if op == "OR":
        return all(_denied(a, keys) for a in node.args)
    return any(k in keys for k in _symbol_keys(node))
