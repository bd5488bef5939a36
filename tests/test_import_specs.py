"""Poetry constraints to PEP 440: every line of the migrate-to-uv fixture, and the exact strings."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from curate.specs import parse_specifier, poetry_to_pep440

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "requirements"
FIXTURE = (
    CORPUS / "pyproject-toml" / "mkniewallner__migrate-to-uv__tests__fixtures__poetry__full__pyproject.toml"
)
LINE = re.compile(r'^(?P<name>[\w-]+) = "(?P<constraint>[^"]*)"\s*#\s*(?P<expected>.*)$')


def _fixture_lines() -> list[tuple[str, str, str]]:
    if not FIXTURE.exists():
        return []
    out = []
    for line in FIXTURE.read_text("utf-8").splitlines():
        m = LINE.match(line)
        if m:
            out.append((m["name"], m["constraint"], m["expected"]))
    return out


def _grid(*specs: SpecifierSet) -> list[str]:
    """Versions around every boundary the specifiers mention, pre-releases and 4-part included."""
    versions = {"0", "0.0.1", "1", "5", "99"}
    for spec in specs:
        for s in spec:
            try:
                v = Version(s.version.removesuffix(".*"))
            except InvalidVersion:
                continue
            rel = list(v.release)
            for i in range(len(rel)):
                for delta in (-1, 0, 1):
                    r = [*rel[:i], max(rel[i] + delta, 0)]
                    base = ".".join(map(str, r))
                    versions |= {base, base + ".0", base + ".1", base + "a1", base + "b1", base + ".dev0"}
                    versions |= {base + ".post1", base + ".0.0", base + ".9"}
            versions.add(str(v))
    return sorted(versions, key=Version)


def _same_versions(a: str, b: str) -> bool:
    sa, sb = SpecifierSet(a), SpecifierSet(b)
    return all(sa.contains(v, prereleases=True) == sb.contains(v, prereleases=True) for v in _grid(sa, sb))


def test_fixture_has_the_expected_lines() -> None:
    if not FIXTURE.exists():
        pytest.skip("the shared corpus is not available")
    assert len(_fixture_lines()) == 34  # python, 16 caret, 11 tilde, 5 almost-PEP 440, 1 PEP 440


@pytest.mark.parametrize(("name", "constraint", "expected"), _fixture_lines())
def test_migrate_to_uv_fixture_line(name: str, constraint: str, expected: str) -> None:
    """The translation means exactly the versions of the comment's (first) translation."""
    got = poetry_to_pep440(constraint)
    assert got is not None, name
    primary = expected.split(" or ")[0].split(" (")[0].strip()
    if primary == "(no version specifier)":
        primary = ""
    assert _same_versions(got, primary), (name, got, primary)


EXACT = [
    ("^3.11", ">=3.11.0,<4"),
    ("^1.2.3", ">=1.2.3,<2"),
    ("^1.2", ">=1.2.0,<2"),
    ("^1", ">=1.0.0,<2"),
    ("^0.2.3", ">=0.2.3,<0.3"),
    ("^0.0.3", ">=0.0.3,<0.0.4"),
    ("^0.0", ">=0.0.0,<0.1"),
    ("^0", ">=0.0.0,<1"),
    ("^1.2.3.4", ">=1.2.3.4,<2"),
    ("^0.1.2.3", ">=0.1.2.3,<0.2"),
    ("^1.2.3b1", ">=1.2.3b1,<2"),
    ("^18.3-alpha.0", ">=18.3.0a0,<19"),
    ("^0.0.0.3", ">=0.0.0.3,<0.0.1"),
    ("^1.0,<1.3", ">=1.0.0,<2,<1.3"),
    ("  ^1.0 ,   >=   1.1 ,   >=  1.2   ,  !=   1.2.2   ,  < 1.3", ">=1.0.0,<2,>=1.1,>=1.2,!=1.2.2,<1.3"),
    ("~1.2.3", ">=1.2.3,<1.3"),
    ("~1.2", ">=1.2.0,<1.3"),
    ("~1", ">=1.0.0,<2"),
    ("~1.2.3.4", ">=1.2.3.4,<1.3"),
    ("~1.2.3b1", ">=1.2.3b1,<1.3"),
    ("~1.0,~1.0.1,<1.2", ">=1.0.0,<1.1,>=1.0.1,<1.1,<1.2"),
    ("~=1.4.5", "~=1.4.5"),
    ("1.2.3", "==1.2.3"),
    ("=1.2.3", "==1.2.3"),
    ("==1.2.3", "==1.2.3"),
    ("*", ""),
    ("", ""),
    ("1.*", "==1.*"),
    ("1.2.x", "==1.2.*"),
    ("!=1.*", "!=1.*"),
    (">=1.2 <1.5", ">=1.2,<1.5"),
    ("    ^   3.2   ", ">=3.2.0,<4"),
    ("     >   3.11,     <=     3.13    ", ">3.11,<=3.13"),
    (">=1 || >=1", ">=1"),
    ("^1.0 || *", ""),
    ("~2.7 || ^3.4", None),
    (">=1.11 || <1.0", None),
    # ranges that join up are one PEP 440 range; a gap of one version is Poetry's way to exclude it
    ("^2.0 || ^3.0", ">=2.0.0,<4"),
    ("^1.0 || ^3.0", None),
    ("1.0 || 2.0", None),
    ("1.0 || >=1.0,<2", ">=1.0,<2"),
    ("<2 || >=1", ""),
    ("<=1.0 || >1.0", ""),
    (">=1,<2 || >=1.5,<1.8", ">=1,<2"),
    (">=2.14.2,<2.18.0 || >2.18.0", ">=2.14.2,!=2.18.0"),
    (">=1.21.1,<1.25.0 || >1.25.0,<1.25.1 || >1.25.1,<1.26", ">=1.21.1,!=1.25.0,!=1.25.1,<1.26"),
    (">=1,!=1.5,<2 || >=3", None),
    ("^", None),
    ("banana", None),
    ("1,,2", None),
    ("1" * 40 + "~", None),
]


@pytest.mark.parametrize(("constraint", "expected"), EXACT)
def test_poetry_to_pep440_exact(constraint: str, expected: str | None) -> None:
    assert poetry_to_pep440(constraint) == expected


def test_caret_matches_poetry_next_breaking() -> None:
    """Every ^X[.Y[.Z]] over small numbers has the upper bound Poetry computes."""
    for parts in itertools.chain.from_iterable(itertools.product(range(3), repeat=n) for n in (1, 2, 3)):
        text = ".".join(map(str, parts))
        got = poetry_to_pep440("^" + text)
        assert got is not None
        major = parts[0]
        minor = parts[1] if len(parts) > 1 else None
        patch = parts[2] if len(parts) > 2 else None
        if major > 0 or minor is None:
            upper = f"{major + 1}"
        elif minor > 0 or patch is None:
            upper = f"0.{minor + 1}"
        else:
            upper = f"0.0.{patch + 1}"
        assert got.endswith(f",<{upper}"), (text, got)


def test_parse_specifier_still_rejects_poetry_syntax_with_the_translation() -> None:
    spec, error, hint = parse_specifier("^1.2")
    assert spec is None
    assert error == "'^1.2' is Poetry syntax, not a PEP 440 specifier"
    assert hint == "write '>=1.2.0,<2' (the PEP 440 equivalent)"


def test_or_translations_hold_exactly_the_versions_of_either_side() -> None:
    """Every `A || B` over small ranges: when it translates, the result admits a final release exactly
    when A or B does (pre- and post-releases at a bound follow PEP 440's own rules, as for one range)."""
    bounds = [
        "",
        ">=1.0",
        ">1.0",
        "<1.0",
        "<=1.0",
        ">=2.0",
        ">2.0",
        "<2.0",
        "<=2.0",
        "1.0",
        "2.0",
        "^1.0",
        "~1.5",
    ]
    ranges = [
        ",".join(p for p in (a, b) if p) for a in bounds for b in bounds if not (a and b and a[0] == b[0])
    ]
    translated = 0
    for a, b in itertools.product([r for r in ranges if r], repeat=2):
        got = poetry_to_pep440(f"{a} || {b}")
        sa, sb = poetry_to_pep440(a), poetry_to_pep440(b)
        if got is None or sa is None or sb is None:
            continue
        translated += 1
        union, left, right = SpecifierSet(got), SpecifierSet(sa), SpecifierSet(sb)
        for v in _grid(union, left, right):
            if Version(v).is_prerelease or Version(v).is_postrelease:
                continue
            assert union.contains(v) == (left.contains(v) or right.contains(v)), (a, b, got, v)
    assert translated > 100
