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
    keys = ("lost", "corrupt", "unloadable_adapters", "orphans", "index_mismatch")
    assert {k: result[k] for k in keys} == dict.fromkeys(keys, 0), result
