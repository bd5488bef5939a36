"""A distribution's licence as an SPDX expression, and what the catalog's allow and deny lists say of it.

The expression comes from PEP 639 ``License-Expression`` when there is one, else from the legacy
``License`` field when it is a short licence name (a whole licence text is not a name), else from the
``License ::`` classifiers (several classifiers are read as a choice: ``A OR B``). Normalisation uses the
``license-expression`` library's SPDX licence list. Pure functions: metadata in, data out.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from typing import Any, Literal

from license_expression import ExpressionError, Licensing, get_spdx_licensing

from curate.vetting import LicenseSource

Verdict = Literal["allowed", "denied", "unknown"]

# Trove classifiers that name one licence (the ones naming a family, like "BSD License", do not).
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
    "License :: OSI Approved :: BSD License": "",  # which BSD? needs review
    "License :: OSI Approved :: GNU General Public License (GPL)": "",
    "License :: OSI Approved :: GNU Library or Lesser General Public License (LGPL)": "",
}

# Common spellings of the legacy ``License`` field that are not SPDX identifiers.
ALIASES: dict[str, str] = {
    "mit license": "MIT",
    "the mit license": "MIT",
    "mit licence": "MIT",
    "apache 2.0": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "apache software license 2.0": "Apache-2.0",
    "asl 2.0": "Apache-2.0",
    "bsd-3": "BSD-3-Clause",
    "3-clause bsd": "BSD-3-Clause",
    "new bsd": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause",
    "modified bsd": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "bsd-2": "BSD-2-Clause",
    "simplified bsd": "BSD-2-Clause",
    "bsd 2-clause": "BSD-2-Clause",
    "mpl 2.0": "MPL-2.0",
    "mpl2": "MPL-2.0",
    "psf": "PSF-2.0",
    "psf license": "PSF-2.0",
    "python software foundation license": "PSF-2.0",
    "isc license": "ISC",
    "gplv2": "GPL-2.0-only",
    "gplv2+": "GPL-2.0-or-later",
    "gplv3": "GPL-3.0-only",
    "gplv3+": "GPL-3.0-or-later",
    "gpl v3": "GPL-3.0-only",
    "lgplv3": "LGPL-3.0-only",
    "lgplv3+": "LGPL-3.0-or-later",
    "lgplv2+": "LGPL-2.0-or-later",
    "agplv3": "AGPL-3.0-only",
    "public domain": "",
    "unlicense": "Unlicense",
}


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class LicenseInfo:
    expression: str  # normalised SPDX expression; "" when unknown
    source: LicenseSource
    note: str = ""  # why it is unknown, when it is


_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.\-]+", re.IGNORECASE)


@functools.cache
def _licensing() -> Licensing:
    return get_spdx_licensing()


@functools.lru_cache(maxsize=4096)
def normalize_expression(text: str) -> str | None:
    """The SPDX rendering of ``text``, or None when it is not a valid SPDX expression."""
    text = text.strip()
    if not text:
        return None
    try:
        expr = _licensing().parse(text, validate=True, strict=False)
    except (ExpressionError, ValueError, TypeError):
        # PEP 639 and SPDX allow user-defined LicenseRef-<idstring> identifiers (a proprietary licence,
        # say): valid when they are the only keys the SPDX list does not know
        try:
            expr = _licensing().parse(text, validate=False, strict=False)
            unknown = _licensing().unknown_license_keys(expr) if expr is not None else ["?"]
        except (ExpressionError, ValueError, TypeError):
            return None
        if not all(_LICENSE_REF.fullmatch(str(k)) for k in unknown):
            return None
    if expr is None:
        return None
    rendered: str = expr.render()
    return rendered


def _from_name(text: str) -> str | None:
    """A short legacy ``License`` value as SPDX, or None."""
    text = text.strip()
    if not text or "\n" in text or len(text) > 80:
        return None  # a whole licence text, not a name
    alias = ALIASES.get(text.lower().rstrip("."))
    if alias is not None:
        return alias or None
    return normalize_expression(text)


def license_of(
    *, license_expression: str | None, license: str | None, classifiers: Sequence[str]
) -> LicenseInfo:
    if license_expression and license_expression.strip():
        norm = normalize_expression(license_expression)
        if norm is None:
            return LicenseInfo(
                expression="",
                source="License-Expression",
                note=f"License-Expression '{license_expression.strip()}' is not a valid SPDX expression",
            )
        return LicenseInfo(expression=norm, source="License-Expression")
    if license:
        norm = _from_name(license)
        if norm is not None:
            return LicenseInfo(expression=norm, source="License")
    ids = sorted({CLASSIFIERS[c] for c in classifiers if CLASSIFIERS.get(c)})
    if ids:
        norm = normalize_expression(" OR ".join(ids))
        if norm is not None:
            return LicenseInfo(expression=norm, source="classifiers")
    if license and license.strip():
        first = license.strip().splitlines()[0][:60]
        return LicenseInfo(
            expression="", source="none", note=f"License '{first}' is not a known licence name"
        )
    vague = sorted(c for c in classifiers if c.startswith("License ::"))
    if vague:
        return LicenseInfo(
            expression="", source="none", note=f"classifier '{vague[0]}' does not name one licence"
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
