"""The gate's strength search, on the real default model through llama.cpp.

The adapter is a real GGUF LoRA (random factors over the model's real shapes) big enough to
raise the neutral set's perplexity by about 12% at full strength; the held-back examples are
what that adapter itself prefers (its own greedy continuations), so it helps them. Nothing
is trained: the search, the gate and the activation are what is under test.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.adapters import dataset, evaluate, neutral
from app.adapters.lora_file import BaseModelInfo, write_lora
from app.adapters.scoring import LlamaScorer
from app.adapters.train import TrainOptions
from app.core import Core
from tests.adapters.test_merge_helpers import random_adapter

PROMPTS = ["The weather today is", "My favourite book is", "In the morning I usually"]


@pytest.fixture(scope="module")
def scorer(default_model: Path) -> Iterator[LlamaScorer]:
    opened = LlamaScorer(default_model, n_ctx=256)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def harmful(base: BaseModelInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("strength") / "adapter.gguf"
    write_lora(path, random_adapter(base, b_scale=0.05, seed=1))
    return path


def _preferred(scorer: LlamaScorer, adapter: Path, tokens: int = 10) -> list[Any]:
    """(ids, labels) of each prompt followed by the adapter's own greedy continuation."""
    scorer.use(adapter)
    held = []
    for prompt in PROMPTS:
        ids = list(scorer.llama.tokenize(prompt.encode(), add_bos=True))
        start = len(ids)
        for _ in range(tokens):
            ids.append(int(np.argmax(scorer.logits(ids)[-1])))
        held.append((ids, [dataset.IGNORE] * start + ids[start:]))
    scorer.use(None)
    return held


@pytest.fixture(scope="module")
def held(scorer: LlamaScorer, harmful: Path) -> list[Any]:
    return _preferred(scorer, harmful)


@pytest.fixture(scope="module")
def figures(scorer: LlamaScorer, harmful: Path, held: list[Any]) -> dict[str, Any]:
    return evaluate.measure(scorer, harmful, held)


# The cheaper tests score one neutral text (a job may name its own), not the whole set.
ONE_TEXT = {"neutral_text": neutral.neutral_set().texts[1]}


def test_over_budget_adapter_is_accepted_at_the_largest_strength_that_fits(
    figures: dict[str, Any],
) -> None:
    assert figures["neutral_ppl_ratio_full"] > 1.05  # over the budget at full strength
    strength = figures["strength"]
    assert strength is not None and 0.1 <= strength < 1.0
    assert figures["neutral_ppl_ratio"] <= 1.05
    # The largest that fits: every strength tried above it was over the budget.
    assert all(r > 1.05 for s, r in figures["strengths_tried"] if s > strength + 0.01)
    assert any(s >= strength and r > 1.04 for s, r in figures["strengths_tried"]), figures
    assert figures["held_nll_adapter"] < figures["held_nll_base"]
    passed, reason = evaluate.gate(figures)
    assert passed and reason.startswith(f"accepted at strength {strength:.2f}: "), reason
    # Harm is judged on the general texts; the plain questions' answers are reported beside.
    assert figures["neutral_items"] == len(neutral.neutral_set().texts)
    assert figures["neutral_tokens"] >= 300  # several hundred tokens, not one short text
    assert figures["plain_answers_ratio"] > 1.0


def test_an_adapter_within_budget_keeps_full_strength(scorer: LlamaScorer, harmful: Path) -> None:
    # A third of the same adapter (scale) is within the budget: no search, strength 1.
    held = _preferred(scorer, harmful)
    figures = evaluate.measure(scorer, harmful, held, scale=0.3)
    assert figures["strength"] == 1.0 and len(figures["strengths_tried"]) == 1
    passed, reason = evaluate.gate(figures)
    assert passed and reason.startswith("improves the held-back examples without harm")


def test_harm_at_every_strength_is_rejected(
    scorer: LlamaScorer, harmful: Path, held: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluate, "MAX_PERPLEXITY_RISE", -0.5)  # nothing can fit
    figures = evaluate.measure(scorer, harmful, held, ONE_TEXT)
    assert figures["strength"] is None
    passed, reason = evaluate.gate(figures)
    assert not passed and "at every strength down to 0.1" in reason


def test_gate_and_guard_score_the_same_tokens(scorer: LlamaScorer, default_model: Path) -> None:
    """The torch guard (Hugging Face tokenizer) and the gate (llama.cpp) measure the same ids."""
    from transformers import AutoTokenizer

    from app.adapters.merge.retention import LlamaTokenizer

    hf = AutoTokenizer.from_pretrained(str(default_model.parent), gguf_file=default_model.name)
    system = "You are Hearth, a helpful assistant."
    ours = neutral.neutral_set().sequences(hf, system)
    theirs = neutral.neutral_set().sequences(LlamaTokenizer(scorer.llama), system)
    assert ours == theirs
    ours = neutral.neutral_set().answer_sequences(hf, system)
    assert ours == neutral.neutral_set().answer_sequences(LlamaTokenizer(scorer.llama), system)


def test_service_activates_at_the_chosen_strength(
    core: Core, harmful: Path, figures: dict[str, Any], tmp_path: Path
) -> None:
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    shutil.copy(harmful, job_dir / "adapter.gguf")
    core.adapters.set_scale(1.0)
    result = {
        "architecture": "llama",
        "rank": 4,
        "alpha": 8.0,
        "targets": [],
        "training": {"steps": 1},
        "parity": {"passed": True, "reason": "agrees"},
        "evaluation": json.loads(json.dumps(figures)),
        "export_s": 0.1,
    }
    split = dataset.Split([dataset.Example("p", "t", 1)], [])
    outcome = core.adapters._register(
        "personal-x", job_dir, result, split, core.adapters.base_model(), TrainOptions()
    )
    strength = figures["strength"]
    assert outcome.activated and outcome.reason.startswith(f"accepted at strength {strength:.2f}")
    version, scale = core.adapters.active()
    assert version is not None and version.id == outcome.adapter_id
    assert scale == pytest.approx(strength)
    assert version.manifest["evaluation"]["strength"] == pytest.approx(strength)
    assert core.adapters.versions.history()[-1][-1] == pytest.approx(strength)
    # Activating it again later (after a rollback) comes back at its strength too.
    core.adapters.deactivate()
    core.adapters.set_scale(1.0)
    core.adapters.activate(outcome.adapter_id)
    assert core.adapters.active()[1] == pytest.approx(strength)


def test_the_strength_an_adapter_is_activated_at() -> None:
    assert evaluate.strength_of({"evaluation": {"strength": 0.62}}) == 0.62
    assert evaluate.strength_of({"evaluation": {"strength": None}}) is None
    # A merge was judged at full strength by its own gate: it is used at full strength.
    assert evaluate.strength_of({"kind": "merged", "evaluation": {}}) == 1.0
    assert evaluate.strength_of({"kind": "imported"}) is None
    imported = {"source": "/elsewhere/a.gguf", "evaluation": {"strength": 0.5}}
    assert evaluate.strength_of(imported) is None  # the user's strength applies


class _Curve:
    """A scorer whose harm grows with strength as log-ratio = 0.12 * s**1.5 (no model)."""

    def __init__(self) -> None:
        self.strength: float | None = None
        self.passes = 0

    def use(self, adapter: object, scale: float = 1.0) -> None:
        self.strength = None if adapter is None else scale

    def mean_nll(self, sequences: object) -> float:
        self.passes += 1
        return 3.0 + (0.0 if self.strength is None else 0.12 * self.strength**1.5)


def test_the_search_stops_once_a_strength_is_close_under_the_budget() -> None:
    import math

    curve = _Curve()
    tried = [(1.0, math.exp(0.12))]
    strength, tried = evaluate._largest_within(curve, Path("a.gguf"), [], 3.0, 1.0, tried)
    exact = (math.log(1.05) / 0.12) ** (2 / 3)  # where the curve meets the budget
    assert strength is not None and exact - 0.03 <= strength <= exact
    last = tried[-1][1]
    assert 1.05 - evaluate.CLOSE_ENOUGH <= last <= 1.05  # it stopped on a close one ...
    assert len(tried) - 1 < evaluate.SEARCH_STEPS  # ... before spending every pass


def test_llama_cpp_confirms_the_strength_or_lowers_it_until_it_fits(
    scorer: LlamaScorer, harmful: Path, held: list[Any], figures: dict[str, Any]
) -> None:
    """The figures come from torch; llama.cpp measures the harm again at the chosen strength.
    A strength that fits is kept; one that does not (here: full strength, as if torch had
    understated the harm) is lowered until llama.cpp measures it within the budget."""
    spec: dict[str, Any] = {}
    kept = evaluate.confirm(scorer, harmful, figures, held, spec)
    assert kept["strength"] == figures["strength"]
    assert len(kept["llama_cpp_checks"]) == 1 and kept["llama_cpp_checks"][0][1] <= 1.05

    overstated = {**figures, "strength": 1.0}
    lowered = evaluate.confirm(scorer, harmful, overstated, held, spec)
    strength = lowered["strength"]
    assert strength is not None and 0.1 <= strength < 1.0
    checks = lowered["llama_cpp_checks"]
    assert checks[0][0] == 1.0 and checks[0][1] > 1.05  # llama.cpp saw the harm at full
    assert checks[-1] == [strength, pytest.approx(lowered["neutral_ppl_ratio"], abs=1e-5)]
    assert lowered["neutral_ppl_ratio"] <= 1.05
    assert lowered["held_nll_adapter"] < lowered["held_nll_base"]  # still helps, llama.cpp's
    assert evaluate.gate(lowered)[0]

    # Over the budget in llama.cpp at every strength it tried: refused, and the reason says so.
    refused = {**lowered, "strength": None, "llama_cpp_checks": [[1.0, 1.08], [0.8, 1.06]]}
    passed, reason = evaluate.gate(refused)
    assert not passed and "llama.cpp" in reason and "1.00: +8.0%" in reason
