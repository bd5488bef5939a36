"""Version specifiers: PEP 440 parsing with friendly fixes for what people actually type."""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

_BARE_VERSION = re.compile(
    r"^\s*v?\d+(\.\d+)*([._-]?(a|b|rc|alpha|beta|c|pre|preview|post|dev)\.?\d*)*\s*$", re.I
)
_LATEST = {"", "*", "latest", "any"}


def _release(text: str) -> list[int]:
    v = Version(text)
    return list(v.release)


def _lower(text: str) -> str:
    parts = text.split(".")
    return text if len(parts) >= 3 else ".".join([*parts, *["0"] * (3 - len(parts))])


def _caret(text: str) -> str:
    """Poetry ``^X.Y.Z``: allow changes that do not modify the left-most non-zero part."""
    rel = _release(text)
    given = len(text.split("."))
    idx = next((i for i, p in enumerate(rel[:given]) if p != 0), min(given, len(rel)) - 1)
    upper = rel[: idx + 1]
    upper[idx] += 1
    return f">={_lower(text)},<{'.'.join(str(p) for p in upper)}"


def _tilde(text: str) -> str:
    """Poetry ``~X.Y.Z``: patch-level changes if a minor version is given, minor-level otherwise."""
    rel = _release(text)
    upper = [rel[0] + 1] if len(rel) == 1 else [rel[0], rel[1] + 1]
    return f">={_lower(text)},<{'.'.join(str(p) for p in upper)}"


def poetry_to_pep440(constraint: str) -> str | None:
    """Translate a Poetry constraint (``^1.2``, ``~1.2``, ``1.2.3``, ``*``, with ``,``) to PEP 440.

    Returns None when the text is not a Poetry constraint this function understands. ``||`` (or) has
    no PEP 440 equivalent and returns None.
    """
    text = constraint.strip()
    if text in ("*", ""):
        return ""
    if "||" in text or "|" in text:
        return None
    out: list[str] = []
    for raw in text.split(","):
        part = re.sub(r"\s+", "", raw)
        try:
            if part.startswith("^"):
                out.append(_caret(part[1:]))
            elif part.startswith("~") and not part.startswith("~="):
                out.append(_tilde(part[1:]))
            elif part.startswith("==") or part[:1] in "<>!~":
                SpecifierSet(part)
                out.append(part)
            elif part.startswith("="):
                Version(part[1:])
                out.append("=" + part)
            elif part.endswith(".*"):
                out.append("==" + part)
            else:
                Version(part)
                out.append("==" + part)
        except (InvalidVersion, InvalidSpecifier, IndexError):
            return None
    return ",".join(out)


def parse_specifier(text: str) -> tuple[SpecifierSet | None, str, str]:
    """Parse a version field. Returns (specifier, error, hint); specifier is None on error.

    ``""``, ``*`` and ``latest`` mean no constraint (the latest release).
    """
    t = text.strip()
    if t.lower() in _LATEST:
        return SpecifierSet(), "", ""
    if _BARE_VERSION.match(t):
        return (
            None,
            f"'{t}' is a bare version, not a specifier",
            f"write '=={t.lstrip('vV')}' to pin it, or '>={t.lstrip('vV')}' for a minimum",
        )
    if t.startswith(("^", "~")) and not t.startswith("~="):
        pep = poetry_to_pep440(t)
        hint = (
            f"write '{pep}' (the PEP 440 equivalent)" if pep else "use a PEP 440 specifier such as '>=1.2,<2'"
        )
        return None, f"'{t}' is Poetry syntax, not a PEP 440 specifier", hint
    try:
        return SpecifierSet(t), "", ""
    except InvalidSpecifier as exc:
        return (
            None,
            f"invalid version specifier '{t}': {exc}",
            "use PEP 440, e.g. '>=2.2', '==1.4.*', '~=3.1', '>=1,<2'",
        )
