"""The vetting record's vocabulary and the record itself (curate.vetting)."""

from __future__ import annotations

from typing import get_args

from curate.config import Vetting
from curate.vetting import DEFAULT_DECISION, FINDING_KINDS, FindingKind, default_kinds, is_finding_kind


def test_every_finding_kind_has_a_policy_default_and_the_config_takes_it() -> None:
    assert FINDING_KINDS == get_args(FindingKind)
    assert list(DEFAULT_DECISION) == list(FINDING_KINDS)  # one line each, in the same order
    policy = Vetting()
    assert set(policy.block) | set(policy.warn) == set(FINDING_KINDS)
    assert (
        policy.block == default_kinds("block") == ("integrity", "metadata", "license-denied", "vulnerability")
    )
    assert policy.warn == ("license-unknown", "yanked", "sdist-only", "lookalike")


def test_is_finding_kind() -> None:
    assert is_finding_kind("yanked")
    assert not is_finding_kind("Yanked")
    assert not is_finding_kind(None)
