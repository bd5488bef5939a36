"""The vetting record's vocabulary: finding kinds, decisions, statuses, and what the policy does by default.

A new finding kind is one line in :data:`FindingKind` and one in :data:`DEFAULT_DECISION` (what the policy
does with it when ``catalog/config.yaml`` does not say); the config's ``vetting.block`` / ``vetting.warn``
accept it from then on.
"""

from __future__ import annotations

from typing import Literal, TypeGuard, get_args

FindingKind = Literal[
    "integrity",
    "metadata",
    "license-denied",
    "license-unknown",
    "vulnerability",
    "yanked",
    "sdist-only",
    "lookalike",
]
FINDING_KINDS: tuple[FindingKind, ...] = get_args(FindingKind)  # also the order findings are listed in

# What the policy does with a finding: block the version, warn about it, or accept it (a waiver).
Decision = Literal["block", "warn", "waived"]
DECISIONS: tuple[Decision, ...] = get_args(Decision)
PolicyDecision = Literal["block", "warn"]  # what vetting.block / vetting.warn assign to a kind

# A version's verdict: the worst decision among its findings ("waived" counts as a pass).
Status = Literal["pass", "warn", "block"]
STATUSES: tuple[Status, ...] = get_args(Status)

DEFAULT_DECISION: dict[FindingKind, PolicyDecision] = {
    "integrity": "block",
    "metadata": "block",
    "license-denied": "block",
    "license-unknown": "warn",
    "vulnerability": "block",
    "yanked": "warn",
    "sdist-only": "warn",
    "lookalike": "warn",
}


def is_finding_kind(value: object) -> TypeGuard[FindingKind]:
    return value in FINDING_KINDS


def default_kinds(decision: PolicyDecision) -> tuple[FindingKind, ...]:
    """The kinds the policy gives ``decision`` when the config does not list them."""
    return tuple(k for k in FINDING_KINDS if DEFAULT_DECISION[k] == decision)
