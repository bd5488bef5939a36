"""Look-alike project names: ``reqeusts`` next to ``requests``.

Names are compared as their PEP 503 normalized form with the separators removed (so ``python-dateutil``
and ``pythondateutil`` are a distance of 0 apart, yet different projects), using the Damerau-Levenshtein
distance (optimal string alignment: insertions, deletions, substitutions and swaps of two neighbours).
Candidates are found with a symmetric-deletion index (every name with up to ``distance`` characters
deleted), so checking a name against thousands costs a few dictionary look-ups.

Letters that look alike in most fonts are compared as one: both names are also folded (:func:`fold`:
``rn`` -> ``m``, ``vv`` -> ``w``, ``cl`` -> ``d``, ``0`` -> ``o``, ``1`` -> ``l``) and the
smaller of the two distances counts, so ``cljango``, ``pyyarnl``, ``reqvvests`` and ``rnatplotlib``
are as near ``django``, ``pyyaml``, ``requests`` and ``matplotlib`` as a one-letter typo.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from importlib import resources
from itertools import combinations

from curate.names import NormalizedName, normalize


@functools.cache
def popular_projects() -> frozenset[NormalizedName]:
    """The most downloaded projects (``data/popular_projects.txt``, from ``tools/gen_popular.py``)."""
    text = resources.files("curate").joinpath("data/popular_projects.txt").read_text("utf-8")
    return frozenset(normalize(line) for line in text.splitlines() if line and not line.startswith("#"))


def skeleton(name: str) -> str:
    return normalize(name).replace("-", "")


# Sequences that read as another letter in most fonts (a name is lower-case ASCII once normalized);
# the longer ones are folded first. Single letters that differ are a typo of distance 1 already.
CONFUSABLES: tuple[tuple[str, str], ...] = (
    ("rn", "m"),
    ("vv", "w"),
    ("cl", "d"),
    ("0", "o"),
    ("1", "l"),
)


def fold(text: str) -> str:
    """``text`` with every look-alike sequence replaced by the letter it passes for."""
    for seq, letter in CONFUSABLES:
        text = text.replace(seq, letter)
    return text


def distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions)."""
    if a == b:
        return 0
    la, lb = len(a), len(b)
    prev2: list[int] = []
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        for j in range(1, lb + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[lb]


def _deletions(word: str, depth: int) -> set[str]:
    out = {word}
    for k in range(1, min(depth, len(word)) + 1):
        for idx in combinations(range(len(word)), k):
            out.add("".join(c for i, c in enumerate(word) if i not in idx))
    return out


class NameIndex:
    """Names that are within ``max_distance`` of a query name."""

    def __init__(self, names: Iterable[str], max_distance: int) -> None:
        self.max_distance = max_distance
        self.names = sorted({normalize(n) for n in names})
        self._index: dict[str, set[NormalizedName]] = defaultdict(set)
        if max_distance <= 2:
            for name in self.names:
                sk = skeleton(name)
                for key in _deletions(sk, max_distance) | _deletions(fold(sk), max_distance):
                    self._index[key].add(name)

    def near(self, name: str) -> list[tuple[NormalizedName, int]]:
        """Other names within the distance of ``name`` as written or with look-alike letters folded
        (the smaller distance counts), closest first, then alphabetically."""
        norm = normalize(name)
        sk = skeleton(name)
        if self.max_distance <= 2:
            candidates: set[NormalizedName] = set()
            for key in _deletions(sk, self.max_distance) | _deletions(fold(sk), self.max_distance):
                candidates |= self._index.get(key, set())
        else:
            candidates = set(self.names)
        found = []
        for other in candidates:
            if other == norm:
                continue
            other_sk = skeleton(other)
            d = min(distance(sk, other_sk), distance(fold(sk), fold(other_sk)))
            if d <= self.max_distance:
                found.append((other, d))
        return sorted(found, key=lambda x: (x[1], x[0]))
