"""Version specifiers: PEP 440 parsing with friendly fixes for what people actually type."""

from __future__ import annotations

import dataclasses
import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

_BARE_VERSION = re.compile(
    r"^\s*v?\d+(\.\d+)*([._-]?(a|b|rc|alpha|beta|c|pre|preview|post|dev)\.?\d*)*\s*$", re.I
)
_LATEST = {"", "*", "latest", "any"}


_POETRY_OP = r"(?:\^|~=|~|===|==|!=|<=|>=|<|>|=)"
_POETRY_TOKEN = re.compile(rf"(?P<op>{_POETRY_OP})?\s*(?P<ver>[^\s,<>=!~^|]+)")
_POETRY_PART = re.compile(rf"\s*(?:{_POETRY_OP}?\s*[^\s,<>=!~^|]++\s*)+")
_WILDCARD = re.compile(r"^(?P<base>\d+(?:\.\d+)*)\.[*xX]$")


def _lower(v: Version) -> str:
    """The lower bound of ``^``/``~``: the version as given, release padded to three parts."""
    release = [*v.release, *[0] * (3 - len(v.release))]
    text = ".".join(str(p) for p in release)
    if v.pre is not None:
        text += f"{v.pre[0]}{v.pre[1]}"
    if v.post is not None:
        text += f".post{v.post}"
    if v.dev is not None:
        text += f".dev{v.dev}"
    return text


def _caret(v: Version) -> str:
    """Poetry ``^``: Poetry's ``next_breaking`` (poetry-core ``Version.next_breaking``).

    The upper bound bumps the major version, unless it is 0: then the minor (if given), unless that is 0
    too: then the patch (if given).
    """
    rel = v.release
    major = rel[0]
    minor = rel[1] if len(rel) >= 2 else None
    patch = rel[2] if len(rel) >= 3 else None
    if major > 0 or minor is None:
        upper = f"{major + 1}"
    elif minor > 0 or patch is None:
        upper = f"0.{minor + 1}"
    else:
        upper = f"0.0.{patch + 1}"
    return f">={_lower(v)},<{upper}"


def _tilde(v: Version) -> str:
    """Poetry ``~``: bump the minor version if one is given, the major otherwise."""
    rel = v.release
    upper = f"{rel[0] + 1}" if len(rel) == 1 else f"{rel[0]}.{rel[1] + 1}"
    return f">={_lower(v)},<{upper}"


def _poetry_single(op: str, ver: str) -> str:
    """One Poetry constraint (operator and version) as PEP 440; raises on anything else."""
    wild = _WILDCARD.match(ver)
    if wild:
        if op in ("", "=", "=="):
            return f"=={wild['base']}.*"
        if op == "!=":
            return f"!={wild['base']}.*"
        raise InvalidSpecifier(f"{op}{ver}")
    if ver in ("*", "x", "X"):
        if op in ("", "=", "==", ">="):
            return ""
        raise InvalidSpecifier(f"{op}{ver}")
    v = Version(ver)
    if op == "^":
        return _caret(v)
    if op == "~":
        return _tilde(v)
    if op in ("", "="):
        return f"=={v}"
    spec = f"{op}{v}"
    SpecifierSet(spec)
    return spec


def _poetry_alternative(text: str) -> str:
    out: list[str] = []
    for part in text.split(","):
        if not part.strip():
            raise InvalidSpecifier(text)
        if not _POETRY_PART.fullmatch(part):
            raise InvalidSpecifier(part)
        for m in _POETRY_TOKEN.finditer(part):
            got = _poetry_single(m["op"] or "", m["ver"])
            if got:
                out.append(got)
    return ",".join(out)


def poetry_to_pep440(constraint: str) -> str | None:
    """Translate a Poetry version constraint to a PEP 440 specifier (``""`` means any version).

    Handles ``^`` and ``~`` with Poetry's exact bounds (pre-releases and 4-part versions included),
    ``~=``, bare and ``=`` versions (``==``), ``*`` and ``1.*``/``1.x`` wildcards, comma- or
    space-separated conjunctions with any whitespace. PEP 440 has no ``||`` (or): it translates when
    the alternatives' ranges join up into one range, possibly minus single versions (see
    :func:`_union`), and otherwise returns None, as does any text this function does not understand.
    """
    if not constraint.strip():
        return ""
    alternatives = re.split(r"\|\|?", constraint)
    try:
        translated = [_poetry_alternative(alt) for alt in alternatives]
    except (InvalidVersion, InvalidSpecifier, IndexError):
        return None
    if len(translated) == 1:
        return translated[0]
    if any(t == "" for t in translated):
        return ""
    if all(SpecifierSet(t) == SpecifierSet(translated[0]) for t in translated):
        return translated[0]
    return _union(translated)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Interval:
    """The versions between two bounds (None: unbounded on that side)."""

    lo: Version | None
    lo_incl: bool
    hi: Version | None
    hi_incl: bool


def _interval(spec: str) -> _Interval | None:
    """A translated alternative that is one exact pin, or at most one lower and one upper bound."""
    specs = list(SpecifierSet(spec))
    if any("*" in s.version or s.operator not in ("==", ">=", ">", "<=", "<") for s in specs):
        return None
    if any(s.operator == "==" for s in specs):
        if len(specs) != 1:
            return None  # a pin with bounds: leave such text to a human
        v = Version(specs[0].version)
        return _Interval(lo=v, lo_incl=True, hi=v, hi_incl=True)
    lows = [s for s in specs if s.operator in (">=", ">")]
    highs = [s for s in specs if s.operator in ("<=", "<")]
    if len(lows) > 1 or len(highs) > 1:
        return None  # two bounds on one side: leave such text to a human
    return _Interval(
        lo=Version(lows[0].version) if lows else None,
        lo_incl=bool(lows) and lows[0].operator == ">=",
        hi=Version(highs[0].version) if highs else None,
        hi_incl=bool(highs) and highs[0].operator == "<=",
    )


def _empty(iv: _Interval) -> bool:
    if iv.lo is None or iv.hi is None:
        return False
    return iv.lo > iv.hi or (iv.lo == iv.hi and not (iv.lo_incl and iv.hi_incl))


def _union(alternatives: list[str]) -> str | None:
    """Poetry ``A || B || ...`` as one PEP 440 specifier, when the alternatives' ranges join up.

    Ranges that overlap or touch merge (``^2.0 || ^3.0`` is ``>=2.0.0,<4``); a gap of exactly one
    version becomes ``!=`` (Poetry writes exclusions so: ``>=2.14,<2.18 || >2.18`` is
    ``>=2.14,!=2.18``). Any other gap cannot be written in PEP 440: None.
    """
    intervals: list[_Interval] = []
    for alt in alternatives:
        iv = _interval(alt)
        if iv is None:
            return None
        if _empty(iv):
            continue  # no version at all (>=2,<1 or >1,<=1): adds nothing
        intervals.append(iv)
    if not intervals:
        return None
    # lowest first; an unbounded lower end before any bound, an inclusive bound before an exclusive one
    intervals.sort(key=lambda i: (i.lo is not None, i.lo or Version("0"), not i.lo_incl))
    cur = intervals[0]
    excluded: list[Version] = []
    for nxt in intervals[1:]:
        if cur.hi is None:
            break  # cur reaches to the top: nothing later adds anything
        if nxt.lo is None or nxt.lo < cur.hi or (nxt.lo == cur.hi and (cur.hi_incl or nxt.lo_incl)):
            pass  # overlapping or touching
        elif nxt.lo == cur.hi:
            excluded.append(cur.hi)  # <X || >X: everything but X
        else:
            return None  # a gap PEP 440 cannot express
        if nxt.hi is None or nxt.hi > cur.hi:
            cur = dataclasses.replace(cur, hi=nxt.hi, hi_incl=nxt.hi_incl)
        elif nxt.hi == cur.hi:
            cur = dataclasses.replace(cur, hi_incl=cur.hi_incl or nxt.hi_incl)
    parts: list[str] = []
    if cur.lo is not None and cur.lo == cur.hi and cur.lo_incl and cur.hi_incl:
        return f"=={cur.lo}"
    if cur.lo is not None:
        parts.append(f"{'>=' if cur.lo_incl else '>'}{cur.lo}")
    parts += [f"!={v}" for v in excluded]
    if cur.hi is not None:
        parts.append(f"{'<=' if cur.hi_incl else '<'}{cur.hi}")
    return ",".join(parts)


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
    except InvalidSpecifier:
        return None, f"invalid version specifier '{t}'", _invalid_hint(t)


_GENERIC_HINT = "use PEP 440, e.g. '>=2.2', '==1.4.*', '~=3.1', '>=1,<2'"


def _invalid_hint(t: str) -> str:
    """The fix for the usual ways a specifier goes wrong, else the generic PEP 440 examples."""
    if "|" in t:
        pep = poetry_to_pep440(t)
        if pep:
            return f"'||' (or) is Poetry syntax, PEP 440 has no 'or': write '{pep}' (the same versions)"
        return (
            "'||' (or) is Poetry syntax and PEP 440 has no 'or': write the one range you need, e.g. '>=1,<3'"
        )
    if _WILDCARD.match(t):  # 1.2.* without an operator
        return f"write '=={t[:-1]}*' (a wildcard needs '==' or '!=')"
    m = re.fullmatch(r"=\s*([^=<>!~].*)", t)
    if m and _BARE_VERSION.match(m[1]):  # =1.0
        return f"write '=={m[1].strip()}' (PEP 440 compares with '==')"
    m = re.fullmatch(r"~=\s*v?(\d+)", t)
    if m:  # ~=1
        return f"'~=' needs two version parts: write '~={m[1]}.0' (that is >={m[1]}.0,<{int(m[1]) + 1})"
    if re.search(r"[<>!=]=?\s*\d[^,]*\.\*", t) and not re.search(r"(==|!=)\s*\d", t):
        return f"a wildcard goes only with '==' or '!=': {_GENERIC_HINT}"
    return _GENERIC_HINT
