"""The crash test's short version: a few rounds of real work killed at random moments
(`make reliability` runs 100)."""

from __future__ import annotations

import sys

import pytest

from tests.reliability.kill_test import run


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="looks for orphans in /proc")
def test_killed_at_random_moments_nothing_is_lost() -> None:
    result = run(rounds=3, seed=1)
    assert result["rounds"] == 3 and result["acknowledged"] > 0, result
    assert {k: result[k] for k in ("lost", "corrupt", "unloadable_adapters", "orphans")} == {
        "lost": 0,
        "corrupt": 0,
        "unloadable_adapters": 0,
        "orphans": 0,
    }, result
