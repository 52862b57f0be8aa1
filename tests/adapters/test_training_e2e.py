"""End to end with the real model: feedback -> training process -> verified GGUF -> hot swap.

The session's adapter was trained on ~20 corrections that start every answer with "Ahoy!".
On held-back prompts the style must show through llama.cpp with the adapter and not without,
and rolling back must give the base model's outputs exactly.
"""

from __future__ import annotations

import numpy as np

from app.core import Core
from tests.adapters.conftest import STEPS, STYLE, Trained, greedy


def test_training_passes_parity_and_gate(trained: Trained) -> None:
    outcome = trained.outcome
    assert outcome.status == "ready" and outcome.activated, outcome.reason
    assert outcome.parity["passed"]
    assert outcome.parity["probe_correlation"] >= 0.98
    assert min(outcome.parity["groups"].values()) >= 0.9 and len(outcome.parity["groups"]) == 3
    figures = outcome.figures
    assert figures["held_nll_adapter"] < figures["held_nll_base"]
    assert figures["neutral_ppl_ratio"] <= 1.05
    training = outcome.training
    assert training["steps"] == STEPS and 0 < training["kept_step"] <= training["steps_run"]
    assert np.isfinite(training["final_loss"])


def test_manifest_describes_the_adapter(trained: Trained) -> None:
    import json

    manifest = json.loads(trained.adapter.with_suffix(".json").read_text())
    assert manifest["architecture"] == "llama"
    assert manifest["rank"] == 8 and manifest["alpha"] == 16.0
    assert len(manifest["targets"]) == 30 * 7
    assert len(manifest["base"]["sha256"]) == 64
    assert manifest["dataset"]["train_examples"] + manifest["dataset"]["held_examples"] == 25
    assert manifest["evaluation"]["held_examples"] == manifest["dataset"]["held_examples"]
    assert manifest["parents"] == []
    assert manifest["gate"]["passed"] is True


def test_style_shows_with_adapter_only_and_rollback_is_exact(trained: Trained) -> None:
    core = Core.open(load_model=True, n_threads=1)
    try:
        core.engine.wait_loaded()
        service = core.adapters
        system = core.settings.system_prompt
        prompts = trained.held_prompts
        assert len(prompts) >= 4
        base = [greedy(core.engine, p, system) for p in prompts]
        adapter_id = service.import_file(trained.adapter)
        service.activate(adapter_id)
        assert core.engine.active_adapters == [(service.versions.get(adapter_id).path, 1.0)]
        styled = [greedy(core.engine, p, system) for p in prompts]
        service.rollback()
        assert core.engine.active_adapters == []
        after = [greedy(core.engine, p, system) for p in prompts]
    finally:
        core.close()
    with_style = sum(s.strip().startswith(STYLE) for s in styled)
    without = sum(b.strip().startswith(STYLE) for b in base)
    assert with_style >= len(prompts) - 1, styled
    assert without == 0, base
    assert after == base
